//! Metal3Machine and Metal3MachineTemplate.

use super::{ConversionError, Kind, NoStatus, non_empty, object_ref, object_reference};
use crate::{v1beta1 as old, v1beta2 as new};

pub(crate) struct Machine;
pub(crate) struct MachineTemplate;

fn selector_up(s: &old::HostSelector) -> Option<new::HostSelector> {
    (s != &old::HostSelector::default()).then(|| new::HostSelector {
        match_labels: s.match_labels.clone(),
        match_expressions: s
            .match_expressions
            .iter()
            .map(|r| new::HostSelectorRequirement {
                key: r.key.clone(),
                operator: r.operator.clone(),
                values: r.values.clone(),
            })
            .collect(),
    })
}

fn selector_down(s: Option<&new::HostSelector>) -> old::HostSelector {
    let Some(s) = s else {
        return old::HostSelector::default();
    };
    old::HostSelector {
        match_labels: s.match_labels.clone(),
        match_expressions: s
            .match_expressions
            .iter()
            .map(|r| old::HostSelectorRequirement {
                key: r.key.clone(),
                operator: r.operator.clone(),
                values: r.values.clone(),
            })
            .collect(),
    }
}

pub(crate) fn spec_up(s: &old::Metal3MachineSpec) -> new::Metal3MachineSpec {
    new::Metal3MachineSpec {
        provider_id: s.provider_id.clone().unwrap_or_default(),
        image: new::Image {
            url: s.image.url.clone(),
            checksum: non_empty(&s.image.checksum),
            checksum_type: s.image.checksum_type,
            disk_format: s.image.disk_format,
        },
        custom_deploy: new::CustomDeploy {
            method: s
                .custom_deploy
                .as_ref()
                .map(|c| c.method.clone())
                .unwrap_or_default(),
        },
        user_data: s.user_data.clone(),
        host_selector: selector_up(&s.host_selector),
        data_template: s.data_template.as_ref().map(object_ref),
        meta_data: s.meta_data.clone(),
        network_data: s.network_data.clone(),
        automated_cleaning_mode: s.automated_cleaning_mode,
        failure_domain: s.failure_domain.clone(),
    }
}

pub(crate) fn spec_down(s: &new::Metal3MachineSpec) -> old::Metal3MachineSpec {
    old::Metal3MachineSpec {
        provider_id: non_empty(&s.provider_id),
        image: old::Image {
            url: s.image.url.clone(),
            checksum: s.image.checksum.clone().unwrap_or_default(),
            checksum_type: s.image.checksum_type,
            disk_format: s.image.disk_format,
        },
        custom_deploy: (s.custom_deploy != new::CustomDeploy::default()).then(|| {
            old::CustomDeploy {
                method: s.custom_deploy.method.clone(),
            }
        }),
        user_data: s.user_data.clone(),
        host_selector: selector_down(s.host_selector.as_ref()),
        data_template: s.data_template.as_ref().map(object_reference),
        meta_data: s.meta_data.clone(),
        network_data: s.network_data.clone(),
        automated_cleaning_mode: s.automated_cleaning_mode,
        failure_domain: s.failure_domain.clone(),
    }
}

impl Kind for Machine {
    const KIND: &'static str = "Metal3Machine";
    type SpokeSpec = old::Metal3MachineSpec;
    type HubSpec = new::Metal3MachineSpec;
    type SpokeStatus = old::Metal3MachineStatus;
    type HubStatus = new::Metal3MachineStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(spec_up(s))
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        spec_down(s)
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        let deprecated =
            (!s.conditions.is_empty() || s.failure_reason.is_some() || s.failure_message.is_some())
                .then(|| new::MachineDeprecatedStatus {
                    v1beta1: Some(new::MachineV1Beta1Status {
                        conditions: s.conditions.clone(),
                        failure_reason: s.failure_reason.clone(),
                        failure_message: s.failure_message.clone(),
                    }),
                });
        Ok(new::Metal3MachineStatus {
            conditions: s
                .v1beta2
                .as_ref()
                .map(|v| v.conditions.clone())
                .unwrap_or_default(),
            last_updated: s.last_updated.clone(),
            addresses: s.addresses.clone(),
            initialization: new::Initialization {
                provisioned: s.ready.then_some(true),
            },
            // v1beta1 has no such field; a v1beta2 value comes back from the kept annotation.
            failure_domain: None,
            user_data: s.user_data.clone(),
            rendered_data: s.rendered_data.as_ref().map(object_ref),
            meta_data: s.meta_data.clone(),
            network_data: s.network_data.clone(),
            deprecated,
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        let v1 = s
            .deprecated
            .as_ref()
            .and_then(|d| d.v1beta1.clone())
            .unwrap_or_default();
        old::Metal3MachineStatus {
            last_updated: s.last_updated.clone(),
            failure_reason: v1.failure_reason,
            failure_message: v1.failure_message,
            addresses: s.addresses.clone(),
            phase: String::new(),
            ready: s.initialization.is_provisioned(),
            user_data: s.user_data.clone(),
            rendered_data: s.rendered_data.as_ref().map(object_reference),
            meta_data: s.meta_data.clone(),
            network_data: s.network_data.clone(),
            conditions: v1.conditions,
            v1beta2: (!s.conditions.is_empty()).then(|| old::V1Beta2Status {
                conditions: s.conditions.clone(),
            }),
        }
    }
}

impl Kind for MachineTemplate {
    const KIND: &'static str = "Metal3MachineTemplate";
    type SpokeSpec = old::Metal3MachineTemplateSpec;
    type HubSpec = new::Metal3MachineTemplateSpec;
    type SpokeStatus = NoStatus;
    type HubStatus = NoStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3MachineTemplateSpec {
            template: new::Metal3MachineTemplateResource {
                metadata: Default::default(),
                spec: spec_up(&s.template.spec),
            },
            node_reuse: Some(s.node_reuse),
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3MachineTemplateSpec {
            template: old::Metal3MachineTemplateResource {
                spec: spec_down(&s.template.spec),
            },
            node_reuse: s.node_reuse.unwrap_or(false),
        }
    }

    fn keep(spec: &mut Self::HubSpec, restored: &Self::HubSpec) {
        spec.template.metadata = restored.template.metadata.clone();
    }
}
