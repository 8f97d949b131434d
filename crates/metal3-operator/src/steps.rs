//! Writes a host's step log (`metal3_fleet::steps`): after a pass that changed the host's
//! state or recorded a new error, the step waits [`GATHER`] for others of the same host, then
//! they are appended together to the `<host>.steps` ConfigMap (read, appended, applied) by the
//! log's writer ([`StepLog::run`], [`WRITERS`] logs at a time). A host going registering →
//! inspecting → preparing → available costs one write instead of four, and no pass waits for
//! the log. Only the steps not yet written are held; the writer writes them all once the
//! controllers have stopped, a crash loses those of the last [`GATHER`] and [`TICK`]. A failed
//! write is only logged: the log tells the story, the host's status is the record.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, BareMetalHostStatus, ConditionStatus};
use metal3_fleet::steps::{self, DATA_KEY, HOST_LABEL, Step};
use metal3_hoststate::Decision;
use metal3_provisioner::HostData;
use tracing::{debug, warn};

use crate::context::Context;

/// How long a host's first unwritten step waits for more before they are written together.
pub(crate) const GATHER: Duration = Duration::from_secs(5);

/// How often the writer looks for steps that have waited long enough.
const TICK: Duration = Duration::from_secs(1);

/// Step logs written at once.
const WRITERS: usize = 16;

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

/// The steps not written yet, per host (`namespace`, `name`).
#[derive(Default)]
pub(crate) struct StepLog {
    pending: Mutex<HashMap<(String, String), Pending>>,
}

/// A host's steps waiting to be written, the owner its log gets, and when they are due.
struct Pending {
    steps: Vec<Step>,
    owner: Option<OwnerReference>,
    due: Instant,
}

type Due = Vec<((String, String), Pending)>;

impl StepLog {
    fn pending(&self) -> MutexGuard<'_, HashMap<(String, String), Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `added` to the host's unwritten steps; the first of them makes them due
    /// [`GATHER`] after `now`.
    fn add(
        &self,
        ns: &str,
        name: &str,
        added: Vec<Step>,
        owner: Option<OwnerReference>,
        now: Instant,
    ) {
        let mut pending = self.pending();
        let p = pending
            .entry((ns.to_string(), name.to_string()))
            .or_insert_with(|| Pending {
                steps: Vec::new(),
                owner: None,
                due: now + GATHER,
            });
        p.steps.extend(added);
        p.owner = owner;
    }

    /// Takes the steps due at `now` (all of them with `None`).
    fn take(&self, now: Option<Instant>) -> Due {
        let mut pending = self.pending();
        match now {
            None => pending.drain().collect(),
            Some(now) => {
                let due: Vec<(String, String)> = pending
                    .iter()
                    .filter(|(_, p)| p.due <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                due.into_iter()
                    .filter_map(|k| pending.remove_entry(&k))
                    .collect()
            }
        }
    }

    /// Writes the steps as they fall due until `stop` completes, then all that are left (stop
    /// it once the controllers have stopped, so their last steps are written too).
    pub(crate) async fn run(&self, client: &Client, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {}
            }
            write_all(client, self.take(Some(Instant::now()))).await;
        }
        let left = self.take(None);
        if !left.is_empty() {
            debug!(hosts = left.len(), "writing the step logs not written yet");
        }
        write_all(client, left).await;
    }
}

/// Writes `due`, [`WRITERS`] step logs at a time.
async fn write_all(client: &Client, due: Due) {
    futures::stream::iter(due)
        .for_each_concurrent(WRITERS, |((ns, name), p)| async move {
            append(client, &ns, &name, p).await;
        })
        .await;
}

/// Adds what the pass did to the host's step log: written [`GATHER`] after its first step not
/// written yet, with those that came meanwhile.
pub(crate) fn record(
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
    let owner = metal3_kube::meta::owner_reference(host, false);
    ctx.steps
        .add(ns, &host.name_any(), added, owner, Instant::now());
}

/// Appends `pending` to the step log of host `ns/name`: read, appended, applied.
async fn append(client: &Client, ns: &str, name: &str, pending: Pending) {
    let Some(cm_name) = steps::config_map_name(name) else {
        debug!(host = %name, "host name too long for a step log");
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut log = match api.get_opt(&cm_name).await {
        Ok(cm) => cm.as_ref().map(steps::of_config_map).unwrap_or_default(),
        Err(e) => {
            warn!(host = %name, error = %e, "cannot read the step log");
            return;
        }
    };
    for step in pending.steps {
        steps::push(&mut log, step);
    }
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(cm_name.clone());
    cm.metadata.namespace = Some(ns.to_string());
    if name.len() <= 63 {
        cm.metadata.labels = Some(BTreeMap::from([(HOST_LABEL.to_string(), name.to_string())]));
    }
    cm.metadata.owner_references = pending.owner.map(|o| vec![o]);
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

    #[test]
    fn steps_of_a_host_gather_until_due() {
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let step = |state: &str| Step {
            at: now,
            state: state.into(),
            error: String::new(),
            progress: String::new(),
            requests: None,
        };
        let key = |ns: &str, name: &str| (ns.to_string(), name.to_string());
        let t0 = Instant::now();
        let log = StepLog::default();
        log.add("ns", "a", vec![step("registering")], None, t0);
        // Later steps join the first; they do not put the write off.
        log.add("ns", "a", vec![step("inspecting")], None, t0 + GATHER / 2);
        // Another host, or the same name elsewhere, gathers apart.
        log.add("ns", "b", vec![step("registering")], None, t0 + GATHER / 2);
        log.add(
            "other",
            "a",
            vec![step("registering")],
            None,
            t0 + GATHER / 2,
        );
        assert!(log.take(Some(t0 + GATHER / 2)).is_empty());

        let due = log.take(Some(t0 + GATHER));
        assert_eq!(due.len(), 1);
        let (k, p) = &due[0];
        assert_eq!(*k, key("ns", "a"));
        let states: Vec<&str> = p.steps.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states, ["registering", "inspecting"]);

        // Once taken, the host's next step starts a new gathering.
        log.add("ns", "a", vec![step("available")], None, t0 + GATHER);
        assert_eq!(log.take(Some(t0 + GATHER + GATHER / 2)).len(), 2);
        // At a stop everything left is taken.
        let left = log.take(None);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, key("ns", "a"));
        assert!(log.take(None).is_empty());
    }
}
