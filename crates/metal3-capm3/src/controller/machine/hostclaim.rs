//! HostClaim mode (`--use-hostclaims`): the machine's pass asks for its host through a
//! HostClaim of the same name in its own namespace (built in [`crate::hostclaim`]), and learns
//! about the host only from the claim's status — the provider never reads or writes a
//! BareMetalHost, so it needs no rights in the hosts' namespace. On deletion the claim is
//! deleted and the machine waits until it is gone (the operator deprovisions and releases the
//! host first).

use kube::ResourceExt;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action;
use metal3_api::v1alpha1::{ConditionStatus, HostClaim};
use metal3_capm3_api::consts::conditions as c;
use tracing::info;

use super::provider_id::{Target, set_provider_id};
use super::{Pass, World, claim, release, spec};
use crate::context::Error;
use crate::hostclaim::{Bound, HostClaimMode, bound, claim_for, owned_by};

/// The pass of a machine in HostClaim mode, after its finalizer is saved.
pub(super) async fn normal(
    pass: &mut Pass<'_>,
    world: &World,
    mode: &HostClaimMode,
) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    if !world.machine.bootstrap_ready() && pass.status().user_data.is_none() {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_BOOTSTRAP_DATA,
            "waiting for the Machine's bootstrap data",
        );
        return Ok(None);
    }
    if !claim::choose_user_data(pass, world) {
        return Ok(None);
    }
    if let Err(message) = spec::associate_metadata(pass).await? {
        pass.fail(
            c::ASSOCIATE_METADATA,
            c::ASSOCIATE_METADATA_FAILED,
            &message,
        );
        return Ok(None);
    }
    if let Some(action) = spec::wait_for_data(pass).await? {
        return Ok(Some(action));
    }
    let wanted = match claim_for(&pass.new, &world.cluster.name_any(), mode) {
        Ok(claim) => claim,
        Err(message) => {
            pass.fail(c::ASSOCIATE_BMH, c::ASSOCIATE_BMH_FAILED, &message);
            return Ok(None);
        }
    };
    let Some(claim) = write_claim(pass, wanted).await? else {
        return Ok(None);
    };
    let (namespace, name, provisioned) = match bound(&claim) {
        Bound::Waiting(message) => {
            let message = match message.is_empty() {
                true => format!("waiting for HostClaim {} to be bound", pass.name),
                false => format!("HostClaim {}: {message}", pass.name),
            };
            pass.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                &message,
            );
            // The claim's status changes wake the machine; look again now and then anyway.
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
        Bound::Host {
            namespace,
            name,
            provisioned,
        } => (namespace, name, provisioned),
    };
    pass.associated();
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::True,
        c::ASSOCIATE_METADATA_SUCCESS,
        "",
    );
    let status = pass.new.status.clone().unwrap_or_default();
    let joined = !pass.new.spec.provider_id.is_empty()
        && status.initialization.is_provisioned()
        && world.machine.node_name().is_some();
    if !provisioned || joined {
        return Ok(None);
    }
    let target = Target {
        namespace,
        name,
        uid: None,
    };
    set_provider_id(pass, world, &target).await
}

/// Creates the machine's claim or brings its spec and labels in line; `None` (the machine
/// failed) when a claim of that name belongs to someone else.
async fn write_claim(pass: &mut Pass<'_>, wanted: HostClaim) -> Result<Option<HostClaim>, Error> {
    let claims = pass.ctx.api::<HostClaim>(&pass.ns);
    let Some(current) = claims.get_opt(&pass.name).await? else {
        let created = claims.create(&PostParams::default(), &wanted).await?;
        info!(machine = %pass.name, namespace = %pass.ns, "created a HostClaim");
        return Ok(Some(created));
    };
    if !owned_by(&current, &pass.old) {
        pass.fail(
            c::ASSOCIATE_BMH,
            c::ASSOCIATE_BMH_FAILED,
            &format!(
                "HostClaim {} exists and is not this Metal3Machine's",
                pass.name
            ),
        );
        return Ok(None);
    }
    let mut updated = current.clone();
    updated.spec = wanted.spec;
    updated
        .labels_mut()
        .extend(wanted.metadata.labels.unwrap_or_default());
    if crate::patch::write(&claims, &current, &updated).await? {
        return Ok(Some(claims.get(&pass.name).await?));
    }
    Ok(Some(current))
}

/// The pass of a machine being deleted in HostClaim mode: delete the claim, wait until the
/// operator has released its host and the claim is gone, then finish as in direct mode.
pub(super) async fn delete(pass: &mut Pass<'_>) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::False,
        c::DELETING_REASON,
        "",
    );
    let claims = ctx.api::<HostClaim>(&pass.ns);
    if let Some(claim) = claims.get_opt(&pass.name).await?
        && owned_by(&claim, &pass.old)
    {
        if claim.metadata.deletion_timestamp.is_none() {
            match claims.delete(&pass.name, &DeleteParams::default()).await {
                Ok(_) => {
                    info!(machine = %pass.name, namespace = %pass.ns, "deleted the HostClaim");
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The claim's deletion wakes the machine.
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    release::forget_data(pass).await
}
