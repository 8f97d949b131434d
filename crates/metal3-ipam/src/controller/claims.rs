//! Writing to claims of both kinds: the manager's finalizer while a claim holds an address,
//! the answer (`status.address` of an IPClaim; `status.addressRef` and a true `Ready`
//! condition of an IPAddressClaim), the failure (`status.errorMessage`; a false `Ready` with
//! reason `PoolExhausted` or `AllocationFailed`), and letting a deleted claim go. Every write
//! carries the resourceVersion read.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use metal3_api::v1alpha1::{Condition, ConditionStatus};
use metal3_ipam_api::consts::{
    CAPI_ALLOCATION_FAILED_REASON, CAPI_POOL_EXHAUSTED_REASON, CAPI_READY_CONDITION,
    CAPI_READY_REASON,
};
use metal3_ipam_api::v1alpha1::{IPClaim, IPPool};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::addresses::{self, Created};
use super::observe::Observed;
use crate::capi;
use crate::context::{Context, Error, is_not_found};
use crate::facts::{ClaimKey, ClaimKind};
use crate::plan::Answer;

/// `obj` with `finalizer` added (as written), or `None` when the claim is gone.
async fn finalized<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<Option<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match metal3_kube::meta::set_finalizer(api, obj, finalizer, true).await {
        Ok(updated) => Ok(Some(updated.unwrap_or_else(|| obj.clone()))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Merge-patches the status of `obj` with `status`, carrying its resourceVersion.
async fn patch_status<K>(api: &Api<K>, obj: &K, status: Value) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({"metadata": {"resourceVersion": obj.resource_version()}, "status": status});
    match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `conditions` with `Ready` set as given (its transition time kept when the status stays).
pub fn with_ready(
    conditions: &[Condition],
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Vec<Condition> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut out: Vec<Condition> = conditions
        .iter()
        .filter(|c| c.r#type != CAPI_READY_CONDITION)
        .cloned()
        .collect();
    let previous = conditions.iter().find(|c| c.r#type == CAPI_READY_CONDITION);
    out.push(Condition {
        r#type: CAPI_READY_CONDITION.into(),
        status,
        observed_generation: generation,
        last_transition_time: previous
            .filter(|p| p.status == status)
            .map(|p| p.last_transition_time.clone())
            .unwrap_or(now),
        reason: reason.into(),
        message: message.into(),
    });
    out
}

fn capi_status(claim: &capi::IPAddressClaim) -> capi::IPAddressClaimStatus {
    claim.status.clone().unwrap_or_default()
}

/// Gives `answer` to its claim: finalizer, address object, status.
pub async fn answer(
    ctx: &Context,
    pool: &IPPool,
    observed: &Observed,
    answer: &Answer,
) -> Result<(), Error> {
    let ns = pool.namespace().unwrap_or_default();
    let key = &answer.claim;
    let created = match key.kind {
        ClaimKind::Metal3 => {
            let api = ctx.api::<IPClaim>(&ns);
            let Some(claim) = observed
                .metal3_claims
                .iter()
                .find(|c| c.name_any() == key.name)
            else {
                return Ok(());
            };
            let Some(claim) = finalized(&api, claim, key.kind.claim_finalizer()).await? else {
                return Ok(());
            };
            if answer.create
                && let Created::Clash(message) =
                    addresses::create_metal3(ctx, pool, &claim, answer).await?
            {
                return fail_metal3(&api, &claim, &message).await;
            }
            let status = claim.status.clone().unwrap_or_default();
            if status.address.as_ref().map(|a| a.name.as_str()) != Some(answer.object.as_str())
                || status.error_message.is_some()
            {
                let address = json!({"name": answer.object, "namespace": ns});
                patch_status(
                    &api,
                    &claim,
                    json!({"address": address, "errorMessage": null}),
                )
                .await?;
            }
            answer.create
        }
        ClaimKind::Capi => {
            let api = ctx.api::<capi::IPAddressClaim>(&ns);
            let Some(claim) = observed
                .capi_claims
                .iter()
                .find(|c| c.name_any() == key.name)
            else {
                return Ok(());
            };
            let Some(claim) = finalized(&api, claim, key.kind.claim_finalizer()).await? else {
                return Ok(());
            };
            if answer.create
                && let Created::Clash(message) =
                    addresses::create_capi(ctx, pool, &claim, answer).await?
            {
                return fail_capi(&api, &claim, &message, false).await;
            }
            let status = capi_status(&claim);
            let ready = status
                .conditions
                .iter()
                .any(|c| c.r#type == CAPI_READY_CONDITION && c.status == ConditionStatus::True);
            if status.address_ref.as_ref().map(|a| a.name.as_str()) != Some(answer.object.as_str())
                || !ready
            {
                let conditions = with_ready(
                    &status.conditions,
                    ConditionStatus::True,
                    CAPI_READY_REASON,
                    "",
                    claim.metadata.generation,
                );
                let patch =
                    json!({"addressRef": {"name": answer.object}, "conditions": conditions});
                patch_status(&api, &claim, patch).await?;
            }
            answer.create
        }
    };
    if created {
        info!(namespace = %ns, claim = %key, address = %answer.allocation.address, "address allocated");
    }
    if answer.new {
        ctx.metrics.allocated(key.kind);
    }
    Ok(())
}

async fn fail_metal3(api: &Api<IPClaim>, claim: &IPClaim, message: &str) -> Result<(), Error> {
    patch_status(api, claim, json!({"errorMessage": message})).await
}

async fn fail_capi(
    api: &Api<capi::IPAddressClaim>,
    claim: &capi::IPAddressClaim,
    message: &str,
    exhausted: bool,
) -> Result<(), Error> {
    let reason = if exhausted {
        CAPI_POOL_EXHAUSTED_REASON
    } else {
        CAPI_ALLOCATION_FAILED_REASON
    };
    let conditions = with_ready(
        &capi_status(claim).conditions,
        ConditionStatus::False,
        reason,
        message,
        claim.metadata.generation,
    );
    patch_status(api, claim, json!({"conditions": conditions})).await
}

/// Tells claim `key` why it gets no address.
pub async fn fail(
    ctx: &Context,
    ns: &str,
    observed: &Observed,
    key: &ClaimKey,
    failure: &crate::alloc::Failure,
) -> Result<(), Error> {
    let message = failure.to_string();
    warn!(namespace = ns, claim = %key, reason = %message, "no address for the claim");
    ctx.metrics.failed(failure.is_exhausted());
    match key.kind {
        ClaimKind::Metal3 => match observed
            .metal3_claims
            .iter()
            .find(|c| c.name_any() == key.name)
        {
            Some(claim) => fail_metal3(&ctx.api(ns), claim, &message).await,
            None => Ok(()),
        },
        ClaimKind::Capi => match observed
            .capi_claims
            .iter()
            .find(|c| c.name_any() == key.name)
        {
            Some(claim) => fail_capi(&ctx.api(ns), claim, &message, failure.is_exhausted()).await,
            None => Ok(()),
        },
    }
}

async fn let_go<K>(api: &Api<K>, claim: Option<&K>, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(claim) = claim else { return Ok(()) };
    match metal3_kube::meta::set_finalizer(api, claim, finalizer, false).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the manager's finalizer from the deleted claims `released` (their addresses are
/// back in the pool).
pub async fn release(
    ctx: &Context,
    ns: &str,
    observed: &Observed,
    released: &BTreeSet<ClaimKey>,
) -> Result<(), Error> {
    for key in released {
        let finalizer = key.kind.claim_finalizer();
        match key.kind {
            ClaimKind::Metal3 => {
                let claim = observed
                    .metal3_claims
                    .iter()
                    .find(|c| c.name_any() == key.name);
                let_go(&ctx.api::<IPClaim>(ns), claim, finalizer).await?;
            }
            ClaimKind::Capi => {
                let claim = observed
                    .capi_claims
                    .iter()
                    .find(|c| c.name_any() == key.name);
                let_go(&ctx.api::<capi::IPAddressClaim>(ns), claim, finalizer).await?;
            }
        }
        info!(namespace = ns, claim = %key, "claim released");
        ctx.metrics.released(key.kind);
    }
    Ok(())
}
