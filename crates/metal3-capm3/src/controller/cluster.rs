//! The Metal3Cluster controller: mirrors the failure domains into the status, and reports the
//! infrastructure provisioned once the control-plane endpoint is known. Deletion waits for the
//! cluster's Metal3Machines to be gone.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::ListParams;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use metal3_api::v1alpha1::ConditionStatus;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLUSTER_FINALIZER, CLUSTER_NAME_LABEL, MANAGED_BY_LABEL,
    conditions as c,
};
use metal3_capm3_api::v1beta2::{
    ClusterDeprecatedStatus, ClusterV1Beta1Status, Metal3Cluster, Metal3Machine,
};

use crate::capi::{self, Cluster};
use crate::conditions::{set, summarize};
use crate::context::{Context, Error};

/// The controller, woken by its Cluster's changes too.
pub fn controller(ctx: &Context) -> Controller<Metal3Cluster> {
    crate::context::controller_for::<Metal3Cluster>(ctx).watches(
        ctx.scoped::<Cluster>(),
        kube::runtime::watcher::Config::default(),
        |cluster: Cluster| {
            let name = cluster.spec.infrastructure_ref.as_ref()?.name.clone();
            Some(ObjectRef::new(&name).within(&cluster.namespace()?))
        },
    )
}

/// One pass over a Metal3Cluster.
pub async fn reconcile(m3c: Arc<Metal3Cluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(m3c) = crate::context::fresh(&ctx, &*m3c).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let ns = m3c.namespace().unwrap_or_default();
    if m3c.labels().contains_key(MANAGED_BY_LABEL) {
        // Managed by something else: not ours to touch.
        return Ok(Action::await_change());
    }
    let api = ctx.api::<Metal3Cluster>(&ns);
    let mut new = (*m3c).clone();
    let generation = m3c.metadata.generation;
    let status = new.status.get_or_insert_with(Default::default);
    status.failure_domains = new.spec.failure_domains.clone();

    let owner = capi::owner(m3c.owner_references(), capi::GROUP, Some("Cluster")).cloned();
    let Some(owner) = owner else {
        // The Cluster controller has not adopted it yet.
        return Ok(Action::await_change());
    };
    let Some(cluster) = ctx.api::<Cluster>(&ns).get_opt(&owner.name).await? else {
        let status = new.status.get_or_insert_with(Default::default);
        set(
            &mut status.conditions,
            c::READY,
            ConditionStatus::False,
            c::FAILED_TO_GET_OWNER_CLUSTER,
            &format!("the owner Cluster {} does not exist", owner.name),
            generation,
        );
        write(&api, &m3c, &mut new).await?;
        return Ok(Action::requeue(ctx.config.requeue));
    };

    let paused = cluster.paused() || m3c.annotations().contains_key(CAPI_PAUSED_ANNOTATION);
    let status = new.status.get_or_insert_with(Default::default);
    if paused {
        set(
            &mut status.conditions,
            c::PAUSED,
            ConditionStatus::True,
            c::PAUSED_REASON,
            "",
            generation,
        );
        write(&api, &m3c, &mut new).await?;
        return Ok(Action::requeue(ctx.config.requeue));
    }
    set(
        &mut status.conditions,
        c::PAUSED,
        ConditionStatus::False,
        c::NOT_PAUSED_REASON,
        "",
        generation,
    );

    if m3c.metadata.deletion_timestamp.is_some() {
        return delete(&ctx, &m3c, new, &cluster).await;
    }

    if !m3c.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
        new.metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(CLUSTER_FINALIZER.into());
    }
    record_endpoint(&mut new, generation);
    if new.status != m3c.status {
        new.status.get_or_insert_with(Default::default).last_updated =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
    }
    write(&api, &m3c, &mut new).await?;
    Ok(Action::await_change())
}

/// Writes `new` over `old`, with the v1beta1 condition mirrors of `new`'s conditions.
async fn write(
    api: &kube::Api<Metal3Cluster>,
    old: &Metal3Cluster,
    new: &mut Metal3Cluster,
) -> Result<(), Error> {
    if let Some(status) = new.status.as_mut() {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        );
        crate::v1beta1conditions::set_cluster(status, old.status.as_ref(), &now);
    }
    crate::patch::write(api, old, new).await?;
    Ok(())
}

/// Records whether the control-plane endpoint is known (the infrastructure is provisioned
/// once it is) in the status and its conditions.
fn record_endpoint(new: &mut Metal3Cluster, generation: Option<i64>) {
    let valid = new.spec.control_plane_endpoint.is_valid();
    let status = new.status.get_or_insert_with(Default::default);
    if valid {
        status.initialization.provisioned = Some(true);
        set(
            &mut status.conditions,
            c::BAREMETAL_INFRASTRUCTURE_READY,
            ConditionStatus::True,
            c::READY_REASON,
            "",
            generation,
        );
        if let Some(v1) = status.deprecated.as_mut().and_then(|d| d.v1beta1.as_mut()) {
            v1.failure_reason = None;
            v1.failure_message = None;
        }
    } else {
        status.initialization.provisioned = Some(false);
        let message = "spec.controlPlaneEndpoint needs both host and port";
        set(
            &mut status.conditions,
            c::BAREMETAL_INFRASTRUCTURE_READY,
            ConditionStatus::False,
            c::CONTROL_PLANE_ENDPOINT_FAILED,
            message,
            generation,
        );
        status.deprecated = Some(ClusterDeprecatedStatus {
            v1beta1: Some(ClusterV1Beta1Status {
                failure_reason: Some(c::INVALID_CONFIGURATION.into()),
                failure_message: Some("Invalid ControlPlaneEndpoint values".into()),
                ..Default::default()
            }),
        });
    }
    summarize(
        &mut status.conditions,
        &[c::BAREMETAL_INFRASTRUCTURE_READY],
        generation,
    );
}

/// The pass of a Metal3Cluster being deleted: it waits for the cluster's Metal3Machines to be
/// gone, then drops its finalizer.
async fn delete(
    ctx: &Context,
    m3c: &Metal3Cluster,
    mut new: Metal3Cluster,
    cluster: &Cluster,
) -> Result<Action, Error> {
    let ns = m3c.namespace().unwrap_or_default();
    let api = ctx.api::<Metal3Cluster>(&ns);
    let status = new.status.get_or_insert_with(Default::default);
    set(
        &mut status.conditions,
        c::READY,
        ConditionStatus::False,
        c::DELETING_REASON,
        "",
        m3c.metadata.generation,
    );
    let machines = ctx
        .api::<Metal3Machine>(&ns)
        .list_metadata(
            &ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={}", cluster.name_any())),
        )
        .await?;
    if !machines.items.is_empty() {
        write(&api, m3c, &mut new).await?;
        return Ok(Action::requeue(ctx.config.requeue));
    }
    new.metadata.finalizers = Some(
        m3c.finalizers()
            .iter()
            .filter(|f| *f != CLUSTER_FINALIZER)
            .cloned()
            .collect(),
    );
    write(&api, m3c, &mut new).await?;
    Ok(Action::await_change())
}
