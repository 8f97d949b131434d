//! Pause: a Metal3Machine's host has moves blocked while it is claimed and not paused, and
//! follows the Cluster's pause (paused with its status kept, and unpaused again).

use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus};
use metal3_capm3_api::consts::{CAPI_PAUSED_ANNOTATION, conditions as c};

use super::Pass;
use crate::capi::Cluster;
use crate::context::Error;
use crate::hostspec;

/// Blocks moves of the host while it is ours and not paused, follows the Cluster's pause on the
/// host, and sets the machine's `Paused` condition. `true` when the machine is paused (by its
/// Cluster or its own annotation) and the pass stops here.
pub(super) async fn follow(pass: &mut Pass<'_>, cluster: &Cluster) -> Result<bool, Error> {
    let host = pass.host().await?;
    if let Some(host) = &host {
        pass.edit_host(host, |h| hostspec::ensure_block_move(h, &pass.old))
            .await?;
        if let Some(host) = pass.host().await? {
            propagate_pause(pass, cluster, host).await?;
        }
    }
    if !cluster.paused() {
        pass.condition(c::PAUSED, ConditionStatus::False, c::NOT_PAUSED_REASON, "");
    }
    let paused = cluster.paused() || pass.old.annotations().contains_key(CAPI_PAUSED_ANNOTATION);
    if paused {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::PAUSED_REASON,
            "",
        );
        pass.condition(c::PAUSED, ConditionStatus::True, c::PAUSED_REASON, "");
    }
    Ok(paused)
}

async fn propagate_pause(
    pass: &Pass<'_>,
    cluster: &Cluster,
    host: BareMetalHost,
) -> Result<(), Error> {
    if cluster.paused() {
        // Each step is written before the next: block moves, pause with status, allow moves.
        let mut current = host;
        loop {
            let mut next = current.clone();
            if !hostspec::pause_step(&mut next) {
                return Ok(());
            }
            match pass.edit_host(&current, |h| *h = next).await? {
                Some(written) => current = written,
                None => return Ok(()),
            }
        }
    }
    pass.edit_host(&host, |h| hostspec::unpause(h, &cluster.name_any()))
        .await?;
    Ok(())
}
