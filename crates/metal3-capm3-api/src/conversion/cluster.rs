//! Metal3Cluster and Metal3ClusterTemplate.

use std::collections::BTreeMap;

use super::{ConversionError, Kind, NoStatus, narrow};
use crate::{v1beta1 as old, v1beta2 as new};

pub(crate) struct Cluster;
pub(crate) struct ClusterTemplate;

fn domains_up(map: &BTreeMap<String, old::FailureDomainSpec>) -> Vec<new::FailureDomain> {
    map.iter()
        .map(|(name, fd)| new::FailureDomain {
            name: name.clone(),
            control_plane: fd.control_plane.then_some(true),
            attributes: fd.attributes.clone(),
        })
        .collect()
}

fn domains_down(list: &[new::FailureDomain]) -> BTreeMap<String, old::FailureDomainSpec> {
    list.iter()
        .map(|fd| {
            let spec = old::FailureDomainSpec {
                control_plane: fd.control_plane.unwrap_or(false),
                attributes: fd.attributes.clone(),
            };
            (fd.name.clone(), spec)
        })
        .collect()
}

pub(crate) fn spec_up(
    s: &old::Metal3ClusterSpec,
) -> Result<new::Metal3ClusterSpec, ConversionError> {
    Ok(new::Metal3ClusterSpec {
        control_plane_endpoint: new::ApiEndpoint {
            host: s.control_plane_endpoint.host.clone(),
            port: narrow(
                s.control_plane_endpoint.port,
                "spec.controlPlaneEndpoint.port",
            )?,
        },
        // `noCloudProvider` is the older, inverted spelling.
        cloud_provider_enabled: s.cloud_provider_enabled.or(s.no_cloud_provider.map(|b| !b)),
        failure_domains: domains_up(&s.failure_domains),
    })
}

pub(crate) fn spec_down(s: &new::Metal3ClusterSpec) -> old::Metal3ClusterSpec {
    old::Metal3ClusterSpec {
        control_plane_endpoint: old::ApiEndpoint {
            host: s.control_plane_endpoint.host.clone(),
            port: s.control_plane_endpoint.port.into(),
        },
        no_cloud_provider: s.cloud_provider_enabled.map(|b| !b),
        cloud_provider_enabled: s.cloud_provider_enabled,
        failure_domains: domains_down(&s.failure_domains),
    }
}

impl Kind for Cluster {
    const KIND: &'static str = "Metal3Cluster";
    type SpokeSpec = old::Metal3ClusterSpec;
    type HubSpec = new::Metal3ClusterSpec;
    type SpokeStatus = old::Metal3ClusterStatus;
    type HubStatus = new::Metal3ClusterStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        spec_up(s)
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        spec_down(s)
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        let deprecated =
            (!s.conditions.is_empty() || s.failure_reason.is_some() || s.failure_message.is_some())
                .then(|| new::ClusterDeprecatedStatus {
                    v1beta1: Some(new::ClusterV1Beta1Status {
                        conditions: s.conditions.clone(),
                        failure_reason: s.failure_reason.clone(),
                        failure_message: s.failure_message.clone(),
                    }),
                });
        Ok(new::Metal3ClusterStatus {
            conditions: s
                .v1beta2
                .as_ref()
                .map(|v| v.conditions.clone())
                .unwrap_or_default(),
            last_updated: s.last_updated.clone(),
            initialization: new::Initialization {
                provisioned: s.ready.then_some(true),
            },
            deprecated,
            failure_domains: domains_up(&s.failure_domains),
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        let v1 = s
            .deprecated
            .as_ref()
            .and_then(|d| d.v1beta1.clone())
            .unwrap_or_default();
        old::Metal3ClusterStatus {
            last_updated: s.last_updated.clone(),
            failure_reason: v1.failure_reason,
            failure_message: v1.failure_message,
            ready: s.initialization.is_provisioned(),
            conditions: v1.conditions,
            v1beta2: (!s.conditions.is_empty()).then(|| old::V1Beta2Status {
                conditions: s.conditions.clone(),
            }),
            failure_domains: domains_down(&s.failure_domains),
        }
    }
}

impl Kind for ClusterTemplate {
    const KIND: &'static str = "Metal3ClusterTemplate";
    type SpokeSpec = old::Metal3ClusterTemplateSpec;
    type HubSpec = new::Metal3ClusterTemplateSpec;
    type SpokeStatus = NoStatus;
    type HubStatus = NoStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3ClusterTemplateSpec {
            template: new::Metal3ClusterTemplateResource {
                metadata: Default::default(),
                spec: spec_up(&s.template.spec)?,
            },
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3ClusterTemplateSpec {
            template: old::Metal3ClusterTemplateResource {
                spec: spec_down(&s.template.spec),
            },
        }
    }

    fn keep(spec: &mut Self::HubSpec, restored: &Self::HubSpec) {
        spec.template.metadata = restored.template.metadata.clone();
    }
}
