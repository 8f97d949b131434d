//! One pass over an IPPool: honour its Cluster (pause, ownership, labels), let go of deleted
//! claims, decide ([`crate::plan`]), commit the allocations to the pool's status with the
//! resourceVersion read — the step that makes them the pool's, or loses a race and starts
//! over — and only then answer the claims.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use metal3_ipam_api::consts::{CLUSTER_NAME_LABEL, POOL_FINALIZER, PROVIDER_LABEL, PROVIDER_NAME};
use metal3_ipam_api::v1alpha1::{IPPool, IpAddressStr};
use serde_json::{Value, json};
use tracing::{debug, info};

use super::{addresses, claims, observe};
use crate::capi;
use crate::context::{Context, Error};
use crate::facts::ClaimKey;
use crate::plan::{self, Observed, Plan};

/// Passes tried at once when the pool's write loses a race.
const CONFLICT_ATTEMPTS: u32 = 5;

/// One pass over `pool`, started over (from a fresh read) when a write finds the pool or a
/// claim changed since it was read.
pub async fn reconcile(pool: Arc<IPPool>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut attempt = 1;
    loop {
        match pass(&pool, &ctx).await {
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                ctx.metrics.conflicts.inc();
                debug!(pool = %pool.name_any(), attempt, "lost a race; starting over");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Why a pool waits before its claims are served.
enum Wait {
    /// The pool or its Cluster is paused.
    Paused,
    /// The Cluster it names does not exist (yet).
    NoCluster,
}

/// The Cluster of `pool`, if it names one, or why the pool waits.
async fn cluster(
    ctx: &Context,
    ns: &str,
    pool: &IPPool,
) -> Result<Result<Option<capi::Cluster>, Wait>, Error> {
    if capi::is_paused(pool.metadata.annotations.as_ref()) {
        return Ok(Err(Wait::Paused));
    }
    let Some(name) = pool.spec.cluster_name.as_deref() else {
        return Ok(Ok(None));
    };
    // A missing Cluster kind reads as a missing Cluster.
    let cluster = match ctx.api::<capi::Cluster>(ns).get_opt(name).await {
        Ok(c) => c,
        Err(e) if crate::context::is_not_found(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let deleting = pool.metadata.deletion_timestamp.is_some();
    Ok(match cluster {
        Some(c) if c.paused() => Err(Wait::Paused),
        None if !deleting => Err(Wait::NoCluster),
        c => Ok(c),
    })
}

async fn pass(pool: &IPPool, ctx: &Context) -> Result<Action, Error> {
    let ns = pool.namespace().unwrap_or_default();
    let api = ctx.api::<IPPool>(&ns);
    if !ctx.watched(pool) {
        return Ok(Action::await_change());
    }
    // What the pass may act on is read before the pool and its Cluster, so a claim made after
    // either was paused is never served by a pass that read "not paused".
    let mut observed = observe::observe(ctx, &ns, pool).await?;
    let Some(pool) = api.get_opt(&pool.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if !ctx.watched(&pool) {
        return Ok(Action::await_change());
    }
    let cluster = match cluster(ctx, &ns, &pool).await? {
        Ok(c) => c,
        Err(Wait::Paused) => {
            debug!(pool = %pool.name_any(), "paused: pool left alone");
            return Ok(Action::requeue(ctx.config.requeue));
        }
        Err(Wait::NoCluster) => {
            info!(pool = %pool.name_any(), namespace = %ns, cluster = ?pool.spec.cluster_name,
                  "waiting for the pool's Cluster");
            return Ok(Action::requeue(ctx.config.requeue));
        }
    };
    let deleting = pool.metadata.deletion_timestamp.is_some();

    // Deleted claims let go: their address objects first.
    let releases = plan::releases(&observed.claims, &observed.addresses);
    let gone = addresses::delete_all(ctx, &ns, &releases.objects).await?;
    observed.without(&gone);
    let released: BTreeSet<ClaimKey> = releases
        .claims
        .into_iter()
        .filter(|c| {
            !observed
                .addresses
                .iter()
                .any(|a| a.kind == c.kind && a.claim == c.name)
        })
        .collect();

    let indexes = pool.status.clone().unwrap_or_default().allocations;
    let decided = plan::plan(
        &Observed {
            pool: &pool.spec,
            deleting,
            indexes: &indexes,
            claims: &observed.claims,
            addresses: &observed.addresses,
            released: &released,
        },
        &mut |span| fastrand::u128(0..=span),
    );
    let pool = commit(ctx, &pool, &decided, cluster.as_ref()).await?;

    claims::release(ctx, &ns, &observed, &released).await?;
    for answer in &decided.answers {
        claims::answer(ctx, &pool, &observed, answer).await?;
    }
    for (key, failure) in &decided.failures {
        claims::fail(ctx, &ns, &observed, key, failure).await?;
    }
    if decided.finished {
        info!(pool = %pool.name_any(), namespace = %ns, "pool released");
    }
    Ok(if decided.waiting || (deleting && !decided.finished) {
        Action::requeue(ctx.config.requeue)
    } else {
        Action::await_change()
    })
}

/// The owner references of `pool` with one to `cluster` (never controlling), replacing one to
/// a Cluster of the same name (its UID changes when it is moved).
fn owners(pool: &IPPool, cluster: Option<&capi::Cluster>) -> Vec<OwnerReference> {
    let mut refs = pool.owner_references().to_vec();
    let Some(reference) = cluster.and_then(|c| metal3_kube::meta::owner_reference(c, false)) else {
        return refs;
    };
    let group = |api_version: &str| {
        api_version
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    refs.retain(|r| {
        !(r.kind == reference.kind
            && r.name == reference.name
            && group(&r.api_version) == group(&reference.api_version))
    });
    refs.push(reference);
    refs
}

/// The metadata patch of `pool` (finalizer, Cluster labels and owner), if anything changes.
fn metadata_patch(pool: &IPPool, finished: bool, cluster: Option<&capi::Cluster>) -> Option<Value> {
    let mut finalizers: Vec<String> = pool
        .finalizers()
        .iter()
        .filter(|f| *f != POOL_FINALIZER)
        .cloned()
        .collect();
    if !finished {
        finalizers.push(POOL_FINALIZER.into());
    }
    let mut labels = BTreeMap::new();
    if let Some(name) = &pool.spec.cluster_name {
        labels.insert(CLUSTER_NAME_LABEL.to_string(), name.clone());
        labels.insert(PROVIDER_LABEL.to_string(), PROVIDER_NAME.to_string());
    }
    let owners = owners(pool, cluster);
    let same_finalizers = {
        let mut a = finalizers.clone();
        let mut b = pool.finalizers().to_vec();
        a.sort();
        b.sort();
        a == b
    };
    let same_labels = labels.iter().all(|(k, v)| pool.labels().get(k) == Some(v));
    if same_finalizers && same_labels && owners == pool.owner_references() {
        return None;
    }
    Some(json!({"metadata": {
        "resourceVersion": pool.resource_version(),
        "finalizers": finalizers,
        "labels": labels,
        "ownerReferences": owners,
    }}))
}

/// The status patch of `pool` for allocations `indexes`, if they change (`lastUpdated` then
/// moves; a pool that never had one starts from its creation time, as upstream's).
fn status_patch(pool: &IPPool, indexes: &BTreeMap<String, IpAddressStr>) -> Option<Value> {
    let status = pool.status.clone().unwrap_or_default();
    let last_updated = if status.allocations != *indexes {
        Some(Time(k8s_openapi::jiff::Timestamp::now()))
    } else if status.last_updated.is_none() {
        pool.metadata.creation_timestamp.clone()
    } else {
        return None;
    };
    // A merge patch removes a key by setting it to null.
    let mut map: serde_json::Map<String, Value> = status
        .allocations
        .keys()
        .map(|k| (k.clone(), Value::Null))
        .collect();
    for (k, v) in indexes {
        map.insert(k.clone(), json!(v));
    }
    Some(json!({
        "metadata": {"resourceVersion": pool.resource_version()},
        "status": {"indexes": map, "lastUpdated": last_updated},
    }))
}

/// Writes the pool's metadata and status, each carrying the resourceVersion read (the status
/// write is what makes the plan's reservations the pool's). The finalizer is added before the
/// first allocation is written, and removed after the last one is gone.
async fn commit(
    ctx: &Context,
    pool: &IPPool,
    decided: &Plan,
    cluster: Option<&capi::Cluster>,
) -> Result<IPPool, Error> {
    let api = ctx.api::<IPPool>(&pool.namespace().unwrap_or_default());
    let name = pool.name_any();
    let params = PatchParams::default();
    let mut current = pool.clone();
    let write_metadata = |current: &IPPool| metadata_patch(current, decided.finished, cluster);
    if !decided.finished
        && let Some(patch) = write_metadata(&current)
    {
        current = api.patch(&name, &params, &Patch::Merge(&patch)).await?;
    }
    if let Some(patch) = status_patch(&current, &decided.indexes) {
        current = api
            .patch_status(&name, &params, &Patch::Merge(&patch))
            .await?;
    }
    if decided.finished
        && let Some(patch) = write_metadata(&current)
    {
        match api.patch(&name, &params, &Patch::Merge(&patch)).await {
            Ok(updated) => current = updated,
            Err(e) if crate::context::is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(current)
}
