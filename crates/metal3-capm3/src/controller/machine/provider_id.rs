//! The providerID: once the host is provisioned, the machine and the workload Node agree on
//! `metal3://<namespace>/<host>/<machine>` (see [`crate::provider_id`]); the Node is found by
//! its providerID, by the host's UID label, or by host name.

use std::ops::ControlFlow;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus};
use metal3_capm3_api::consts::conditions as c;
use serde_json::json;

use super::{Pass, World};
use crate::context::Error;
use crate::provider_id::ProviderId;

/// Node label carrying the BareMetalHost's UID (set by the kubelet from the metadata).
pub const NODE_UUID_LABEL: &str = "metal3.io/uuid";

/// The host a providerID names: its namespace and name, and its UID when the provider can
/// read the host (a workload Node labelled with it is then the host's Node).
pub(super) struct Target {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

impl Target {
    /// A host the provider reads directly.
    pub fn of(host: &BareMetalHost) -> Self {
        Self {
            namespace: host.namespace().unwrap_or_default(),
            name: host.name_any(),
            uid: host.metadata.uid.clone(),
        }
    }
}

fn mark_provisioned(pass: &mut Pass<'_>, provider_id: &ProviderId) {
    pass.new.spec.provider_id = provider_id.to_string();
    pass.status().initialization.provisioned = Some(true);
    let conditions = pass.status().conditions.clone();
    if !crate::conditions::is_true(&conditions, c::METAL3_DATA_READY) {
        pass.condition(
            c::METAL3_DATA_READY,
            ConditionStatus::True,
            c::SECRETS_SET_EXTERNALLY,
            "",
        );
    }
}

/// Finds the workload Node of the host and agrees on the providerID with it (see the module
/// documentation of [`crate::provider_id`]).
pub(super) async fn set_provider_id(
    pass: &mut Pass<'_>,
    world: &World,
    host: &Target,
) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let pid = ProviderId::new(&host.namespace, &host.name, &pass.name);
    let Some(nodes_api) = workload_nodes(pass, world).await? else {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    let nodes = nodes_api.list(&ListParams::default()).await?.items;
    let wanted = pid.to_string();
    let same: Vec<&Node> = nodes.iter().filter(|n| provider_of(n) == wanted).collect();
    let of_host = nodes
        .iter()
        .filter(|n| provider_of(n).starts_with(&pid.host_prefix()))
        .count();
    if same.len() > 1 || of_host > 1 {
        pass.fail(
            c::ASSOCIATE_METADATA,
            c::CREATE_ERROR,
            &format!(
                "more than one Node has a providerID of host {}; remove the stale Node",
                host.name
            ),
        );
        return Ok(None);
    }
    if !pass.new.spec.provider_id.is_empty() && same.len() == 1 {
        mark_provisioned(pass, &pid);
        return Ok(None);
    }
    if world.m3c.spec.cloud_provider_enabled == Some(true) {
        return Ok(wait_for_cloud_provider(pass, &pid, !same.is_empty()));
    }
    if let Some(uid) = &host.uid
        && let ControlFlow::Break(action) =
            by_uid_label(pass, world, uid, &nodes_api, &nodes, &pid).await?
    {
        return Ok(action);
    }
    // No Node tells us yet: the providerID is ours to give; a Node found by host name gets it.
    mark_provisioned(pass, &pid);
    by_host_name(pass, &nodes_api, &nodes, &wanted).await
}

/// The providerID a Node has, empty when none.
fn provider_of(node: &Node) -> String {
    node.spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default()
}

/// The Nodes of the machine's workload cluster; `None` (with the condition saying why) when the
/// cluster cannot be reached yet.
async fn workload_nodes(pass: &mut Pass<'_>, world: &World) -> Result<Option<Api<Node>>, Error> {
    let ctx = pass.ctx;
    match ctx
        .workloads
        .client(&ctx.client, &pass.ns, &world.cluster.name_any())
        .await
    {
        Ok(client) => Ok(Some(Api::all(client))),
        Err(e) => {
            pass.condition(
                c::ASSOCIATE_METADATA,
                ConditionStatus::False,
                c::CREATE_ERROR,
                &e.to_string(),
            );
            Ok(None)
        }
    }
}

/// With a cloud provider, the Node's providerID is the cloud provider's to set: provisioned
/// once a Node has the wanted one, waiting until then.
fn wait_for_cloud_provider(pass: &mut Pass<'_>, pid: &ProviderId, found: bool) -> Option<Action> {
    if found {
        mark_provisioned(pass, pid);
        return None;
    }
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::False,
        c::CREATE_ERROR,
        "waiting for the cloud provider to set the Node's providerID",
    );
    Some(Action::requeue(pass.ctx.config.requeue))
}

/// The Node labelled with the host's UID, when there is exactly one, gets the providerID (or
/// must already have it). `Break` with the pass's answer when the label decides; `Continue`
/// when no Node has the label and the machine need not wait for one.
async fn by_uid_label(
    pass: &mut Pass<'_>,
    world: &World,
    uid: &str,
    nodes_api: &Api<Node>,
    nodes: &[Node],
    pid: &ProviderId,
) -> Result<ControlFlow<Option<Action>>, Error> {
    let wanted = pid.to_string();
    let uid = uid.to_string();
    let labelled: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.labels().get(NODE_UUID_LABEL) == Some(&uid))
        .collect();
    match labelled.as_slice() {
        [node] => {
            let current = provider_of(node);
            if current.is_empty() {
                set_node_provider_id(nodes_api, node, &wanted).await?;
            } else if current != wanted {
                pass.fail(
                    c::ASSOCIATE_METADATA,
                    c::CREATE_ERROR,
                    &format!(
                        "Node {} has providerID {current:?}, not {wanted:?}",
                        node.name_any()
                    ),
                );
                return Ok(ControlFlow::Break(None));
            }
            mark_provisioned(pass, pid);
            Ok(ControlFlow::Break(None))
        }
        [] if world.machine.spec.bootstrap.config_ref.is_some() => {
            pass.condition(
                c::ASSOCIATE_METADATA,
                ConditionStatus::False,
                c::CREATE_ERROR,
                &format!("waiting for a Node labelled {NODE_UUID_LABEL}={uid}"),
            );
            Ok(ControlFlow::Break(Some(Action::requeue(
                pass.ctx.config.requeue,
            ))))
        }
        [] => Ok(ControlFlow::Continue(())),
        _ => {
            pass.fail(
                c::ASSOCIATE_METADATA,
                c::CREATE_ERROR,
                &format!("more than one Node is labelled {NODE_UUID_LABEL}={uid}"),
            );
            Ok(ControlFlow::Break(None))
        }
    }
}

/// The one Node named like the machine's host name, without a providerID yet, gets it; until
/// then the machine looks again.
async fn by_host_name(
    pass: &mut Pass<'_>,
    nodes_api: &Api<Node>,
    nodes: &[Node],
    wanted: &str,
) -> Result<Option<Action>, Error> {
    let hostnames: Vec<String> = pass
        .status()
        .addresses
        .iter()
        .filter(|a| a.r#type == metal3_capm3_api::common::MachineAddressType::Hostname)
        .map(|a| a.address.clone())
        .collect();
    let by_name: Vec<&Node> = nodes
        .iter()
        .filter(|n| {
            n.labels()
                .get("kubernetes.io/hostname")
                .is_some_and(|h| hostnames.contains(h))
        })
        .collect();
    if let [node] = by_name.as_slice()
        && provider_of(node).is_empty()
    {
        set_node_provider_id(nodes_api, node, wanted).await?;
        return Ok(None);
    }
    Ok(Some(Action::requeue(pass.ctx.config.requeue)))
}

async fn set_node_provider_id(
    nodes: &Api<Node>,
    node: &Node,
    provider_id: &str,
) -> Result<(), Error> {
    nodes
        .patch(
            &node.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"providerID": provider_id}})),
        )
        .await?;
    Ok(())
}
