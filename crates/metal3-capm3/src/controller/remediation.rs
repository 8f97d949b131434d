//! The Metal3Remediation controller: observes the remediated machine's host and Node, asks
//! [`crate::remediation::next`] what to do, and does it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::api::storage::v1::VolumeAttachment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus};
use metal3_capm3_api::common::{RemediationPhase, RemediationType, V1Beta1Condition};
use metal3_capm3_api::consts::{
    HOST_ANNOTATION, NODE_ANNOTATIONS_BACKUP_ANNOTATION, NODE_LABELS_BACKUP_ANNOTATION,
    REMEDIATION_FINALIZER, REMEDIATION_REBOOT_PREFIX, UNHEALTHY_ANNOTATION, UNHEALTHY_VALUE,
};
use metal3_capm3_api::v1beta2::{Metal3Machine, Metal3Remediation};
use serde_json::json;
use tracing::info;

use crate::capi::{self, Machine};
use crate::context::{Context, Error};
use crate::remediation::{Facts, NodeFacts, Step, next};
use metal3_admission::capm3::DEFAULT_TIMEOUT_SECONDS;

/// The Node taint that takes a powered-off node out of service.
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// The Machine condition that tells its owner the Machine is to be replaced.
const OWNER_REMEDIATED: &str = "OwnerRemediated";
/// Its reason while the owner has not yet replaced the Machine.
const WAITING_FOR_REMEDIATION: &str = "WaitingForRemediation";

/// The controller; a running remediation looks at its host every
/// [`crate::Config::remediation_poll`].
pub fn controller(ctx: &Context) -> Controller<Metal3Remediation> {
    crate::context::controller_for::<Metal3Remediation>(ctx)
}

fn reboot_key(m3r: &Metal3Remediation) -> String {
    format!(
        "{REMEDIATION_REBOOT_PREFIX}{}",
        m3r.metadata.uid.clone().unwrap_or_default()
    )
}

fn tainted(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT))
}

async fn drained(client: &Client, node: &str) -> Result<bool, Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    if on_node
        .items
        .iter()
        .any(|p| p.metadata.deletion_timestamp.is_some())
    {
        return Ok(false);
    }
    let attachments: Api<VolumeAttachment> = Api::all(client.clone());
    let attached = attachments.list(&ListParams::default()).await?;
    Ok(!attached.items.iter().any(|a| a.spec.node_name == node))
}

/// One pass over a Metal3Remediation: observe, ask [`next`] for the step, apply it, write.
pub async fn reconcile(m3r: Arc<Metal3Remediation>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(m3r) = crate::context::fresh(&ctx, &*m3r).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let ns = m3r.namespace().unwrap_or_default();
    let observed = observe(&ctx, &ns, &m3r).await?;
    let step = next(&facts(&ctx, &m3r, &observed));
    let api = ctx.api::<Metal3Remediation>(&ns);
    let mut new = (*m3r).clone();
    let after = apply(&ctx, &ns, &m3r, &mut new, &observed, step).await?;
    match crate::patch::write(&api, &m3r, &new).await {
        Ok(_) => Ok(after),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

/// The objects around a remediation: the remediated Machine, its host and its Node.
struct Observed {
    machine: Machine,
    host: BareMetalHost,
    host_name: String,
    hosts: Api<BareMetalHost>,
    /// The workload cluster's Nodes.
    nodes: Api<Node>,
    /// The Machine's Node: `None` when absent, `Err` when reading it is forbidden.
    node: Option<Result<Node, ()>>,
    /// Whether the Node (when there is one) has the out-of-service taint and is drained.
    node_facts: NodeFacts,
}

impl Observed {
    /// The Node, when it exists and could be read.
    fn node(&self) -> Option<&Node> {
        self.node.as_ref().and_then(|n| n.as_ref().ok())
    }

    /// Merge-patches the host.
    async fn patch_host(&self, patch: serde_json::Value) -> Result<BareMetalHost, kube::Error> {
        self.hosts
            .patch(
                &self.host_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
    }
}

/// Reads the Machine owning the remediation, its Metal3Machine's host, and the Machine's Node
/// in the workload cluster. A missing owner, machine or host is an error (retried).
async fn observe(ctx: &Context, ns: &str, m3r: &Metal3Remediation) -> Result<Observed, Error> {
    let Some(owner) = capi::owner(m3r.owner_references(), capi::GROUP, Some("Machine")).cloned()
    else {
        return Err(Error::Other(
            "the Metal3Remediation has no owner Machine".into(),
        ));
    };
    let Some(machine) = ctx.api::<Machine>(ns).get_opt(&owner.name).await? else {
        return Err(Error::Other(format!("Machine {} not found", owner.name)));
    };
    let m3m_name = machine.spec.infrastructure_ref.name.clone();
    let Some(m3m) = ctx.api::<Metal3Machine>(ns).get_opt(&m3m_name).await? else {
        return Err(Error::Other(format!("Metal3Machine {m3m_name} not found")));
    };
    let Some(host_name) = m3m
        .annotations()
        .get(HOST_ANNOTATION)
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
    else {
        return Err(Error::Other(format!(
            "Metal3Machine {m3m_name} has no BareMetalHost"
        )));
    };
    let hosts = ctx.api::<BareMetalHost>(ns);
    let Some(host) = hosts.get_opt(&host_name).await? else {
        return Err(Error::Other(format!("BareMetalHost {host_name} not found")));
    };
    let workload = ctx
        .workloads
        .client(&ctx.client, ns, &machine.spec.cluster_name)
        .await?;
    let nodes: Api<Node> = Api::all(workload.clone());
    let node = match machine.node_name() {
        Some(name) => match nodes.get_opt(&name).await {
            Ok(node) => node.map(Ok),
            Err(kube::Error::Api(s)) if s.code == 403 => Some(Err(())),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let node_facts = match &node {
        None => NodeFacts::Absent,
        Some(Err(())) => NodeFacts::Forbidden,
        Some(Ok(n)) => NodeFacts::Present {
            tainted: tainted(n),
            drained: !ctx.out_of_service_taint || drained(&workload, &n.name_any()).await?,
        },
    };
    Ok(Observed {
        machine,
        host,
        host_name,
        hosts,
        nodes,
        node,
        node_facts,
    })
}

/// What [`next`] decides from: the remediation's state and strategy, and what was observed.
fn facts(ctx: &Context, m3r: &Metal3Remediation, observed: &Observed) -> Facts {
    let strategy = m3r.spec.strategy.clone().unwrap_or_default();
    let status = m3r.status.clone().unwrap_or_default();
    let since = status.last_remediated.as_ref().map(|t| {
        let elapsed = k8s_openapi::jiff::Timestamp::now().duration_since(t.0);
        Duration::try_from(elapsed).unwrap_or_default()
    });
    let timeout = if strategy.timeout_seconds > 0 {
        strategy.timeout_seconds
    } else {
        DEFAULT_TIMEOUT_SECONDS
    };
    let host = &observed.host;
    Facts {
        phase: status.phase,
        reboot_strategy: strategy.r#type == Some(RemediationType::Reboot),
        has_finalizer: m3r.finalizers().iter().any(|f| f == REMEDIATION_FINALIZER),
        host_online: host.spec.online,
        reboot_requested: host.annotations().contains_key(&reboot_key(m3r)),
        powered_on: host.status.as_ref().is_some_and(|s| s.powered_on),
        node: observed.node_facts,
        node_backed_up: m3r
            .annotations()
            .contains_key(NODE_LABELS_BACKUP_ANNOTATION)
            || m3r
                .annotations()
                .contains_key(NODE_ANNOTATIONS_BACKUP_ANNOTATION),
        taint_mode: ctx.out_of_service_taint,
        since_attempt: since,
        timeout: Duration::from_secs(u64::try_from(timeout).unwrap_or(600)),
        retry_limit: strategy.retry_limit,
        retry_count: status.retry_count,
    }
}

fn now() -> Option<Time> {
    Some(Time(k8s_openapi::jiff::Timestamp::now()))
}

/// Carries out `step`: on the host, the Node, the Machine, or in `new` (the remediation as it
/// is to be written). Returns when to look again.
async fn apply(
    ctx: &Context,
    ns: &str,
    m3r: &Metal3Remediation,
    new: &mut Metal3Remediation,
    observed: &Observed,
    step: Step,
) -> Result<Action, Error> {
    let host_name = &observed.host_name;
    let key = reboot_key(m3r);
    let poll = ctx.config.remediation_poll;
    let mut after = Action::requeue(poll);
    match step {
        Step::Nothing => after = Action::await_change(),
        Step::Fail => {
            new.status.get_or_insert_with(Default::default).phase = Some(RemediationPhase::Failed)
        }
        Step::Start => {
            let s = new.status.get_or_insert_with(Default::default);
            s.phase = Some(RemediationPhase::Running);
            s.last_remediated = now();
        }
        Step::AddFinalizer => new
            .metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(REMEDIATION_FINALIZER.into()),
        Step::PowerOff => {
            info!(host = %host_name, "remediation: powering the host off");
            observed
                .patch_host(json!({"metadata": {"annotations": {key: r#"{"mode":"hard"}"#}}}))
                .await?;
        }
        Step::PowerOn => {
            info!(host = %host_name, "remediation: powering the host on again");
            observed
                .patch_host(json!({"metadata": {"annotations": {key: null}}}))
                .await?;
        }
        Step::WaitPoweredOff | Step::WaitPoweredOn | Step::WaitDrained => {}
        Step::TaintNode => {
            if let Some(n) = observed.node() {
                let mut taints = taints_of(n);
                taints.push(Taint {
                    key: OUT_OF_SERVICE_TAINT.into(),
                    value: Some("nodeshutdown".into()),
                    effect: "NoExecute".into(),
                    time_added: None,
                });
                write_taints(&observed.nodes, n, taints).await?;
            }
        }
        Step::UntaintNode => {
            if let Some(n) = observed.node() {
                let mut taints = taints_of(n);
                taints.retain(|t| t.key != OUT_OF_SERVICE_TAINT);
                write_taints(&observed.nodes, n, taints).await?;
            }
        }
        Step::BackupNode => {
            if let Some(n) = observed.node() {
                back_up_node(new, n);
            }
        }
        Step::DeleteNode => {
            if let Some(n) = observed.node() {
                delete_node(&observed.nodes, n).await?;
            }
        }
        Step::RestoreNode => {
            if let Some(n) = observed.node() {
                restore_node(&observed.nodes, n, m3r, new).await?;
            }
        }
        Step::EnterWaiting => {
            new.status.get_or_insert_with(Default::default).phase = Some(RemediationPhase::Waiting)
        }
        Step::Finish => {
            info!(host = %host_name, "remediation done: the node is back");
            forget_node_backup(new);
            new.metadata.finalizers = Some(
                m3r.finalizers()
                    .iter()
                    .filter(|f| *f != REMEDIATION_FINALIZER)
                    .cloned()
                    .collect(),
            );
        }
        Step::WaitHealthy(left) => after = Action::requeue(left.min(ctx.config.requeue).max(poll)),
        Step::Retry => {
            info!(host = %host_name, "remediation timed out; trying again");
            let s = new.status.get_or_insert_with(Default::default);
            s.phase = Some(RemediationPhase::Running);
            s.last_remediated = now();
            s.retry_count += 1;
        }
        Step::GiveUp => {
            let machine = &observed.machine;
            info!(host = %host_name, machine = %machine.name_any(), "remediation failed; the Machine is to be replaced");
            owner_remediated_false(ctx, ns, machine).await?;
            observed
                .patch_host(
                    json!({"metadata": {"annotations": {UNHEALTHY_ANNOTATION: UNHEALTHY_VALUE}}}),
                )
                .await?;
            new.status.get_or_insert_with(Default::default).phase =
                Some(RemediationPhase::DeletingMachine);
        }
    }
    Ok(after)
}

/// The Node's taints.
fn taints_of(node: &Node) -> Vec<Taint> {
    node.spec
        .clone()
        .unwrap_or_default()
        .taints
        .unwrap_or_default()
}

/// Replaces the Node's taints, pinned to the version read.
async fn write_taints(nodes: &Api<Node>, node: &Node, taints: Vec<Taint>) -> Result<(), Error> {
    let p = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": taints}});
    nodes
        .patch(&node.name_any(), &PatchParams::default(), &Patch::Merge(&p))
        .await?;
    Ok(())
}

/// Keeps the Node's labels and annotations in the remediation's annotations, to restore them
/// on the Node that comes back.
fn back_up_node(new: &mut Metal3Remediation, node: &Node) {
    let a = new.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(
        NODE_LABELS_BACKUP_ANNOTATION.into(),
        serde_json::to_string(&node.labels()).unwrap_or_default(),
    );
    a.insert(
        NODE_ANNOTATIONS_BACKUP_ANNOTATION.into(),
        serde_json::to_string(&node.annotations()).unwrap_or_default(),
    );
}

/// Drops the Node backup from the remediation's annotations.
fn forget_node_backup(new: &mut Metal3Remediation) {
    if let Some(a) = new.metadata.annotations.as_mut() {
        a.remove(NODE_LABELS_BACKUP_ANNOTATION);
        a.remove(NODE_ANNOTATIONS_BACKUP_ANNOTATION);
    }
}

/// Deletes the Node (gone already is fine).
async fn delete_node(nodes: &Api<Node>, node: &Node) -> Result<(), Error> {
    match nodes
        .delete(&node.name_any(), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Puts the backed-up labels and annotations on the Node that came back, then drops the backup.
async fn restore_node(
    nodes: &Api<Node>,
    node: &Node,
    m3r: &Metal3Remediation,
    new: &mut Metal3Remediation,
) -> Result<(), Error> {
    let read = |k: &str| -> BTreeMap<String, String> {
        m3r.annotations()
            .get(k)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    };
    let p = json!({"metadata": {"labels": read(NODE_LABELS_BACKUP_ANNOTATION), "annotations": read(NODE_ANNOTATIONS_BACKUP_ANNOTATION)}});
    nodes
        .patch(&node.name_any(), &PatchParams::default(), &Patch::Merge(&p))
        .await?;
    forget_node_backup(new);
    Ok(())
}

/// Marks the Machine's `OwnerRemediated` condition false (`WaitingForRemediation`), in its
/// conditions (which Cluster API v1beta2 controllers read) and in their v1beta1 copy: the signal
/// for its owner (a MachineSet or control plane) to delete and replace it.
async fn owner_remediated_false(ctx: &Context, ns: &str, machine: &Machine) -> Result<(), Error> {
    let status = machine.status.clone().unwrap_or_default();
    let mut conditions = status.conditions;
    crate::conditions::set(
        &mut conditions,
        OWNER_REMEDIATED,
        ConditionStatus::False,
        WAITING_FOR_REMEDIATION,
        "",
        machine.metadata.generation,
    );
    let mut v1beta1 = status
        .deprecated
        .and_then(|d| d.v1beta1)
        .map(|v| v.conditions)
        .unwrap_or_default();
    v1beta1.retain(|c| c.r#type != OWNER_REMEDIATED);
    v1beta1.push(V1Beta1Condition {
        r#type: OWNER_REMEDIATED.into(),
        status: "False".into(),
        severity: "Warning".into(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        reason: WAITING_FOR_REMEDIATION.into(),
        message: String::new(),
    });
    let p = json!({
        "metadata": {"resourceVersion": machine.metadata.resource_version},
        "status": {
            "conditions": conditions,
            "deprecated": {"v1beta1": {"conditions": v1beta1}},
        },
    });
    ctx.api::<Machine>(ns)
        .patch_status(
            &machine.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&p),
        )
        .await?;
    Ok(())
}
