//! Deleting a machine: its host is deprovisioned and released (or kept for node reuse), its
//! BMC Secret unlabelled, its data claim deleted, and then its finalizer removed.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use metal3_api::v1alpha1::ConditionStatus;
use metal3_capm3_api::consts::{CLUSTER_NAME_LABEL, MACHINE_FINALIZER, conditions as c};
use metal3_capm3_api::v1beta2::Metal3DataClaim;
use tracing::info;

use super::claim::label_bmc_secret;
use super::{Pass, World, reuse};
use crate::context::Error;
use crate::hosts::consumer_is;
use crate::hostspec::{self, Reservation};

/// The pass of a machine being deleted: release the host, forget the rendered data, delete
/// the data claim, then drop the finalizer. `Some` while the host is still busy.
pub(super) async fn delete(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::False,
        c::DELETING_REASON,
        "",
    );
    // The host first, while the status still names the Secrets the machine gave it.
    if let Some(action) = release_host(pass, world).await? {
        return Ok(Some(action));
    }
    forget_data(pass).await
}

/// The end of a deletion, once the host is let go: the rendered data forgotten, the data
/// claim deleted, the finalizer dropped.
pub(super) async fn forget_data(pass: &mut Pass<'_>) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    // The rendered data (the user's own Secrets stay named).
    if pass.new.spec.meta_data.is_none() {
        pass.status().meta_data = None;
    }
    if pass.new.spec.network_data.is_none() {
        pass.status().network_data = None;
    }
    pass.status().rendered_data = None;
    let claims = ctx.api::<Metal3DataClaim>(&pass.ns);
    if let Some(claim) = claims.get_opt(&pass.name).await? {
        metal3_kube::meta::set_finalizer(&claims, &claim, MACHINE_FINALIZER, false).await?;
        if claim.metadata.deletion_timestamp.is_none() {
            match claims.delete(&pass.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    pass.new.metadata.finalizers = Some(
        pass.old
            .finalizers()
            .iter()
            .filter(|f| *f != MACHINE_FINALIZER)
            .cloned()
            .collect(),
    );
    Ok(None)
}

/// Deprovisions and lets go of the host; `Some` while the host is still busy.
async fn release_host(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let Some(host) = pass.host().await? else {
        return Ok(None);
    };
    if !consumer_is(host.spec.consumer_ref.as_ref(), &pass.name, &pass.ns) {
        // Already released, or someone else's.
        return Ok(None);
    }
    let cluster = world.machine.spec.cluster_name.clone();
    if !host.spec.bmc.credentials_name.is_empty() {
        let secrets = ctx.api::<Secret>(&pass.ns);
        if let Some(secret) = secrets.get_opt(&host.spec.bmc.credentials_name).await?
            && secret.labels().get(CLUSTER_NAME_LABEL) == Some(&cluster)
        {
            label_bmc_secret(ctx, &pass.ns, &host, None).await?;
        }
    }
    let machine = pass.new.clone();
    let fast_track = ctx.config.fast_track;
    if pass
        .edit_host(&host, |h| hostspec::unprovision(h, &machine, fast_track))
        .await?
        .is_some()
    {
        info!(machine = %pass.name, host = %host.name_any(), "deprovisioning the BareMetalHost");
        return Ok(Some(Action::requeue(std::time::Duration::ZERO)));
    }
    if hostspec::still_busy(&host) {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let reservation = if world.cluster.metadata.deletion_timestamp.is_none()
        && reuse::node_reuse_enabled(ctx, &world.machine).await?
    {
        reuse::reuse_label(ctx, &world.machine)
            .await?
            .map(|label| Reservation {
                label,
                cluster_namespace: world.cluster.namespace().unwrap_or_default(),
                cluster_name: world.cluster.name_any(),
            })
    } else {
        None
    };
    match pass
        .edit_host(&host, |h| {
            hostspec::let_go(h, &cluster, reservation.as_ref())
        })
        .await
    {
        Ok(_) => {}
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => {}
        Err(e) => return Err(e),
    }
    info!(machine = %pass.name, host = %host.name_any(), reserved = reservation.is_some(), "released the BareMetalHost");
    Ok(None)
}
