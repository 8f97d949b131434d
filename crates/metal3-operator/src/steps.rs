//! Writes a host's step log (`metal3_fleet::steps`): after a pass that changed the host's
//! state or recorded a new error, the step is appended to the `<host>.steps` ConfigMap (read,
//! appended, applied). Nothing is held in memory, and a failed write is only logged: the log
//! tells the story, the host's status is the record.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, BareMetalHostStatus, ConditionStatus};
use metal3_fleet::steps::{self, DATA_KEY, HOST_LABEL, Step};
use metal3_hoststate::Decision;
use metal3_provisioner::HostData;
use tracing::{debug, warn};

use crate::context::Context;

/// The field manager of the step log's writes.
const MANAGER: &str = "metal3-operator-steps";

/// The step the backend reports in the host's `Progressing` condition (while it is true),
/// without its counts; empty when none.
fn progress(status: &BareMetalHostStatus) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.r#type == "Progressing" && c.status == ConditionStatus::True)
        .map(|c| steps::progress_step(&c.message))
        .unwrap_or_default()
}

/// The steps a pass adds: the state entered, a step the backend reports, and a new error.
pub(crate) fn new_steps(
    host: &BareMetalHost,
    decision: &Decision,
    requests: Option<u64>,
    now: Timestamp,
) -> Vec<Step> {
    let mut out = Vec::new();
    let state = decision.status.provisioning.state.as_str().to_string();
    if let Some((_, to)) = &decision.state_change {
        out.push(Step {
            at: now,
            state: to.as_str().to_string(),
            error: String::new(),
            progress: String::new(),
            requests,
        });
    }
    let reported = progress(&decision.status);
    if !reported.is_empty() && host.status.as_ref().map(progress) != Some(reported.clone()) {
        out.push(Step {
            at: now,
            state: state.clone(),
            error: String::new(),
            progress: reported,
            requests,
        });
    }
    let old_count = host.status.as_ref().map_or(0, |s| s.error_count);
    let status = &decision.status;
    if status.error_count > old_count && !status.error_message.is_empty() {
        let kind = status.error_type.map(|t| t.as_str()).unwrap_or("error");
        out.push(Step {
            at: now,
            state,
            error: format!("{kind}: {}", status.error_message),
            progress: String::new(),
            requests,
        });
    }
    out
}

/// Appends what the pass did to the host's step log.
pub(crate) async fn record(
    ctx: &Context,
    host: &BareMetalHost,
    host_data: &HostData,
    ns: &str,
    decision: &Decision,
) {
    let mut added = new_steps(host, decision, None, Timestamp::now());
    // Most passes change nothing the log records: ask nothing of the backend for them.
    if added.is_empty() {
        return;
    }
    let requests = ctx.provisioner.host_requests(host_data);
    for step in &mut added {
        step.requests = requests;
    }
    let name = host.name_any();
    let Some(cm_name) = steps::config_map_name(&name) else {
        debug!(host = %name, "host name too long for a step log");
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let mut log = match api.get_opt(&cm_name).await {
        Ok(cm) => cm.as_ref().map(steps::of_config_map).unwrap_or_default(),
        Err(e) => {
            warn!(host = %name, error = %e, "cannot read the step log");
            return;
        }
    };
    for step in added {
        steps::push(&mut log, step);
    }
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(cm_name.clone());
    cm.metadata.namespace = Some(ns.to_string());
    if name.len() <= 63 {
        cm.metadata.labels = Some(BTreeMap::from([(HOST_LABEL.to_string(), name.clone())]));
    }
    cm.metadata.owner_references = metal3_kube::meta::owner_reference(host, false).map(|o| vec![o]);
    cm.data = Some(BTreeMap::from([(
        DATA_KEY.to_string(),
        steps::render(&log),
    )]));
    let mut value = match serde_json::to_value(&cm) {
        Ok(v) => v,
        Err(e) => {
            warn!(host = %name, error = %e, "cannot encode the step log");
            return;
        }
    };
    value["apiVersion"] = "v1".into();
    value["kind"] = ConfigMap::kind(&()).into();
    let params = PatchParams::apply(MANAGER).force();
    if let Err(e) = api.patch(&cm_name, &params, &Patch::Apply(&value)).await {
        warn!(host = %name, error = %e, "cannot write the step log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{Condition, ErrorType, ProvisioningState};
    use metal3_hoststate::Requeue;

    fn decision(status: BareMetalHostStatus) -> Decision {
        Decision {
            status,
            requeue: Requeue::Never,
            effects: Vec::new(),
            events: Vec::new(),
            state_change: None,
            transient: None,
        }
    }

    #[test]
    fn a_pass_adds_the_state_entered_and_a_new_error_only() {
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let host = BareMetalHost::new("h", Default::default());
        let mut status = BareMetalHostStatus::default();
        status.provisioning.state = ProvisioningState::Provisioning;
        let mut d = decision(status.clone());
        assert!(new_steps(&host, &d, Some(7), now).is_empty());

        d.state_change = Some((
            ProvisioningState::Available,
            ProvisioningState::Provisioning,
        ));
        let steps = new_steps(&host, &d, Some(7), now);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].state, "provisioning");
        assert!(steps[0].error.is_empty());
        assert_eq!(steps[0].requests, Some(7));

        let mut failed = status.clone();
        failed.error_type = Some(ErrorType::Provisioning);
        failed.error_message = "image 404".into();
        failed.error_count = 1;
        let steps = new_steps(&host, &decision(failed.clone()), None, now);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].error, "provisioning error: image 404");
        assert_eq!(steps[0].state, "provisioning");

        // A step the backend reports is one step, whatever its counts say meanwhile.
        let progressing = |message: &str| {
            let mut st = status.clone();
            st.conditions = vec![Condition {
                r#type: "Progressing".into(),
                status: ConditionStatus::True,
                observed_generation: None,
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
                reason: "Provisioning".into(),
                message: message.into(),
            }];
            st
        };
        let writing = progressing("writing the image: writing, 1.0 GiB of 4.0 GiB (25%)");
        let steps = new_steps(&host, &decision(writing.clone()), None, now);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].progress, "writing the image: writing");
        let mut was_writing = host.clone();
        was_writing.status = Some(writing);
        let later = progressing("writing the image: writing, 2.0 GiB of 4.0 GiB (50%)");
        assert!(new_steps(&was_writing, &decision(later), None, now).is_empty());
        let next = progressing("writing the image: configuration drive");
        assert_eq!(new_steps(&was_writing, &decision(next), None, now).len(), 1);

        // The same error seen again (the count unchanged) is not a new step.
        let mut again = host.clone();
        again.status = Some(failed.clone());
        assert!(new_steps(&again, &decision(failed), None, now).is_empty());
    }
}
