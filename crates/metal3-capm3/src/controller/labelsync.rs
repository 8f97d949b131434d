//! The label-sync controller: for a BareMetalHost consumed by a Metal3Machine whose Machine has
//! a workload Node, makes the Node's labels under the prefixes of the Metal3Cluster's
//! `metal3.io/metal3-label-sync-prefixes` annotation mirror the host's (see
//! [`crate::labelsync`]). Woken by the host, its Machine, its Cluster and Metal3Cluster, and
//! every [`Config::label_sync_interval`](crate::Config::label_sync_interval) (Node labels can
//! change in the workload cluster, which is not watched); nothing is synced while the Cluster or
//! the Metal3Machine is paused.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLUSTER_NAME_LABEL, LABEL_SYNC_PREFIXES_ANNOTATION,
};
use metal3_capm3_api::v1beta2::{Metal3Cluster, Metal3Machine};
use tracing::debug;

use crate::capi::{self, Cluster, Machine};
use crate::context::{Context, Error};
use crate::labelsync;

/// The Metal3Machine consuming `host`: its namespace and name.
fn consumer(host: &BareMetalHost) -> Option<(String, String)> {
    let c = host.spec.consumer_ref.as_ref()?;
    let group = c.api_version.as_deref()?.split_once('/')?.0;
    if c.kind.as_deref() != Some("Metal3Machine") || group != GROUP {
        return None;
    }
    let namespace = c.namespace.clone().or_else(|| host.namespace())?;
    Some((namespace, c.name.clone()?))
}

/// The controller, woken by hosts, and by the Machines, Clusters and Metal3Clusters of the
/// hosts' consumers.
pub fn controller(ctx: &Context) -> Controller<BareMetalHost> {
    let base = crate::context::controller_for::<BareMetalHost>(ctx);
    let store = base.store();
    let hosts_where = move |pred: &dyn Fn(&BareMetalHost) -> bool| {
        store
            .state()
            .into_iter()
            .filter(|h| pred(h))
            .map(|h| ObjectRef::from_obj(&*h))
            .collect::<Vec<_>>()
    };
    let of_cluster = {
        let hosts_where = hosts_where.clone();
        move |namespace: Option<String>, cluster: String| {
            hosts_where(&|h: &BareMetalHost| {
                h.namespace() == namespace && h.labels().get(CLUSTER_NAME_LABEL) == Some(&cluster)
            })
        }
    };
    let of_cluster_too = of_cluster.clone();
    base.watches(
        ctx.scoped::<Machine>(),
        watcher::Config::default(),
        move |m: Machine| {
            let r = &m.spec.infrastructure_ref;
            if r.kind != "Metal3Machine" || r.api_group != GROUP {
                return Vec::new();
            }
            let wanted = (m.namespace().unwrap_or_default(), r.name.clone());
            hosts_where(&|h: &BareMetalHost| consumer(h).as_ref() == Some(&wanted))
        },
    )
    .watches(
        ctx.scoped::<Cluster>(),
        watcher::Config::default(),
        move |cl: Cluster| of_cluster(cl.namespace(), cl.name_any()),
    )
    .watches(
        ctx.scoped::<Metal3Cluster>(),
        watcher::Config::default(),
        move |m3c: Metal3Cluster| match m3c.labels().get(CLUSTER_NAME_LABEL) {
            Some(cluster) => of_cluster_too(m3c.namespace(), cluster.clone()),
            None => Vec::new(),
        },
    )
}

/// One pass over a host: find its Node through its Metal3Machine, Machine and Cluster, and
/// patch the Node's synced labels when they differ from the host's.
pub async fn reconcile(host: Arc<BareMetalHost>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(host) = crate::context::fresh(&ctx, &*host).await? else {
        return Ok(Action::await_change());
    };
    let again = Action::requeue(ctx.config.label_sync_interval);
    let Some((ns, m3m_name)) = consumer(&host) else {
        return Ok(Action::await_change());
    };
    if host.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(m3m) = ctx.api::<Metal3Machine>(&ns).get_opt(&m3m_name).await? else {
        return Ok(Action::await_change());
    };
    let Some(owner) = capi::owner(m3m.owner_references(), capi::GROUP, Some("Machine")) else {
        return Ok(again);
    };
    let Some(machine) = ctx.api::<Machine>(&ns).get_opt(&owner.name).await? else {
        return Ok(again);
    };
    let Some(cluster) = ctx
        .api::<Cluster>(&ns)
        .get_opt(&machine.spec.cluster_name)
        .await?
    else {
        return Ok(again);
    };
    if cluster.paused() || m3m.annotations().contains_key(CAPI_PAUSED_ANNOTATION) {
        debug!(host = %host.name_any(), "paused: labels not synced");
        return Ok(again);
    }
    let Some(m3c_ref) = cluster
        .spec
        .infrastructure_ref
        .as_ref()
        .filter(|r| r.kind == "Metal3Cluster" && r.api_group == GROUP)
    else {
        return Ok(Action::await_change());
    };
    let Some(m3c) = ctx.api::<Metal3Cluster>(&ns).get_opt(&m3c_ref.name).await? else {
        return Ok(again);
    };
    let Some(annotation) = m3c.annotations().get(LABEL_SYNC_PREFIXES_ANNOTATION) else {
        // Nothing to sync; the Metal3Cluster's change wakes the host when that changes.
        return Ok(Action::await_change());
    };
    let prefixes = labelsync::parse_prefixes(annotation)
        .map_err(|e| Error::Other(format!("Metal3Cluster {}: {e}", m3c.name_any())))?;
    if prefixes.is_empty() {
        return Ok(Action::await_change());
    }
    let Some(node_name) = machine.node_name() else {
        return Ok(again);
    };
    let workload = ctx
        .workloads
        .client(&ctx.client, &ns, &cluster.name_any())
        .await?;
    let nodes: Api<Node> = Api::all(workload);
    let Some(node) = nodes.get_opt(&node_name).await? else {
        return Ok(again);
    };
    let changes = labelsync::node_label_changes(
        &prefixes,
        &capi::labels(&host.metadata),
        &capi::labels(&node.metadata),
    );
    if let Some(patch) = labelsync::merge_patch(&changes) {
        nodes
            .patch(&node_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        debug!(host = %host.name_any(), node = %node_name, changed = changes.len(), "labels synced");
    }
    Ok(again)
}
