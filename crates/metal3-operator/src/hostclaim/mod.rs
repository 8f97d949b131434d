//! The HostClaim controller (`metal3 operator --hostclaims`): binds each claim to a free host
//! that a HostDeployPolicy of the host's namespace admits it to, copies the claim's deployment
//! and Secrets to the host, mirrors the host back into the claim's status, and on deletion
//! deprovisions the host and gives it back.
//!
//! Binding is atomic: the host's `consumerRef` is written with the resourceVersion the choice
//! was made on, so of two claims choosing one host only the first write succeeds; the other
//! gets a conflict and chooses again. The decisions are in [`binding`]; this module does the
//! reading and writing.

pub mod binding;
mod secrets;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::{
    ASSOCIATED_CONDITION, BareMetalHost, BoundObjectReference, CONFIGURATION_SYNCED_REASON,
    HOST_ASSOCIATED_REASON, HOST_NOT_SYNCHRONIZED_REASON, HOSTCLAIM_DELETING_REASON,
    HOSTCLAIM_FINALIZER, HardwareData, HostClaim, HostClaimStatus, HostDeployPolicy,
    MISSING_HOST_REASON, NO_HOST_REASON, SYNCHRONIZED_CONDITION,
};
use metal3_kube::meta::set_finalizer;
use serde_json::json;
use tracing::{info, warn};

use crate::context::Error;
use binding::{Candidates, DataRole, Deployment, Selector};

/// How the HostClaim controller runs.
#[derive(Clone, Debug)]
pub struct HostClaimConfig {
    /// Namespaces whose HostClaims are served; empty: those the operator watches (all, or its
    /// `--namespace`).
    pub namespaces: Vec<String>,
    /// How soon a claim that found no host (or whose Secret is missing) looks again (30 s).
    pub retry: Duration,
}

impl Default for HostClaimConfig {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            retry: Duration::from_secs(30),
        }
    }
}

/// What a HostClaim reconcile needs.
pub struct ClaimContext {
    /// The Kubernetes client.
    pub client: Client,
    /// Namespace of the hosts this operator manages; `None`: every namespace.
    pub host_namespace: Option<String>,
    /// Retry delay while no host fits or a Secret is missing.
    pub retry: Duration,
    /// The shards this replica holds: a claim is served by the replica holding the shard of
    /// its own namespace/name (binding stays atomic whoever binds). `None`: every claim.
    pub shards: Option<metal3_kube::shards::Shards>,
}

impl ClaimContext {
    fn hosts(&self, ns: Option<&str>) -> Api<BareMetalHost> {
        match ns.or(self.host_namespace.as_deref()) {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }
}

/// Runs one HostClaim controller per served namespace (one for the whole scope when none are
/// listed), each also woken by changes to the hosts bound to its claims. With `shards`, only
/// the claims of the shards held.
pub async fn run(
    client: Client,
    host_namespace: Option<String>,
    config: HostClaimConfig,
    shards: Option<metal3_kube::shards::Shards>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![host_namespace.clone()]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let ctx = Arc::new(ClaimContext {
        client: client.clone(),
        host_namespace,
        retry: config.retry,
        shards,
    });
    info!(namespaces = ?scopes, "starting the HostClaim controller");
    let controllers = scopes.into_iter().map(|scope| {
        let claims: Api<HostClaim> = match &scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        Controller::new(claims, watcher::Config::default())
            .watches(ctx.hosts(None), watcher::Config::default(), claim_of_host)
            .reconcile_all_on(crate::controllers::shards_gained(ctx.shards.clone()))
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {})
    });
    futures::future::join_all(controllers).await;
}

/// The claim a host is bound to, from its `consumerRef`.
fn claim_of_host(host: BareMetalHost) -> Option<ObjectRef<HostClaim>> {
    let (ns, name) = binding::claim_of(&host)?;
    Some(ObjectRef::new(&name).within(&ns))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// One reconcile of one claim.
pub async fn reconcile(claim: Arc<HostClaim>, ctx: Arc<ClaimContext>) -> Result<Action, Error> {
    let ns = claim.namespace().ok_or(Error::Incomplete("namespace"))?;
    let _tenure = match &ctx.shards {
        None => None,
        Some(shards) => match shards.enter(&ns, &claim.name_any()) {
            Some(t) => Some(t),
            None => return Ok(Action::await_change()),
        },
    };
    let claims: Api<HostClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let ours = claim.finalizers().iter().any(|f| f == HOSTCLAIM_FINALIZER);
    if claim.metadata.deletion_timestamp.is_some() {
        if !ours {
            return Ok(Action::await_change());
        }
        return release(&claim, &claims, &ctx).await;
    }
    if !ours {
        set_finalizer(&claims, &claim, HOSTCLAIM_FINALIZER, true).await?;
        return Ok(Action::await_change());
    }
    let mut status = claim.status.clone().unwrap_or_default();
    let generation = claim.metadata.generation;
    let bound = match status.bare_metal_host.clone() {
        Some(bound) => bound,
        None => match associate(&claim, &ns, &ctx).await? {
            Ok(bound) => bound,
            Err(why) => {
                binding::set_condition(
                    &mut status.conditions,
                    ASSOCIATED_CONDITION,
                    false,
                    NO_HOST_REASON,
                    &why,
                    &now(),
                    generation,
                );
                write_status(&claims, &claim, status).await?;
                return Ok(Action::requeue(ctx.retry));
            }
        },
    };
    status.bare_metal_host = Some(bound.clone());
    let action = synchronise(&claim, &ns, &bound, &mut status, &ctx).await?;
    write_status(&claims, &claim, status).await?;
    Ok(action)
}

/// Finds the claim's host, binding a free one; `Err` says why none could be bound.
async fn associate(
    claim: &HostClaim,
    ns: &str,
    ctx: &ClaimContext,
) -> Result<Result<BoundObjectReference, String>, Error> {
    let in_namespace = claim.spec.host_selector.in_namespace.as_str();
    if let (Some(managed), false) = (&ctx.host_namespace, in_namespace.is_empty())
        && managed != in_namespace
    {
        return Ok(Err(format!(
            "hostSelector.inNamespace {in_namespace:?} is not a namespace this operator manages"
        )));
    }
    let scope = (!in_namespace.is_empty()).then_some(in_namespace);
    let policies: Api<HostDeployPolicy> = match scope.or(ctx.host_namespace.as_deref()) {
        Some(n) => Api::namespaced(ctx.client.clone(), n),
        None => Api::all(ctx.client.clone()),
    };
    let policies = policies.list(&ListParams::default()).await?.items;
    let namespace = Api::<Namespace>::all(ctx.client.clone()).get(ns).await?;
    let labels = namespace.labels().clone();
    let admitted = binding::admitted_namespaces(&policies, ns, &labels, in_namespace);
    if admitted.is_empty() {
        return Ok(Err(format!(
            "no HostDeployPolicy admits HostClaims of namespace {ns:?}"
        )));
    }
    let selector = match Selector::parse(&claim.spec.host_selector) {
        Ok(s) => s,
        Err(why) => return Ok(Err(format!("hostSelector: {why}"))),
    };
    let mut hosts = Vec::new();
    for host_ns in &admitted {
        let api = ctx.hosts(Some(host_ns));
        hosts.extend(api.list(&ListParams::default()).await?.items);
    }
    let name = claim.name_any();
    let host = match binding::candidates(&hosts, &admitted, &selector, ns, &name) {
        Candidates::Bound(host) => host,
        Candidates::Free(free) => {
            let seed = claim.uid().unwrap_or_default();
            let Some(host) = binding::choose(&free, &claim.spec.failure_domain, &seed) else {
                return Ok(Err(format!(
                    "no available BareMetalHost matches in {}",
                    admitted.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            };
            let api = ctx.hosts(host.namespace().as_deref());
            bind(&api, host, claim).await?;
            info!(claim = %format!("{ns}/{name}"), host = %host.name_any(), "bound HostClaim");
            host
        }
    };
    Ok(Ok(BoundObjectReference {
        namespace: host.namespace().unwrap_or_default(),
        name: host.name_any(),
    }))
}

/// Makes `host` (as read) the claim's, atomically: the write carries the host's
/// resourceVersion, so it fails with a conflict if anyone changed the host since, and two
/// claims can never both take it.
pub async fn bind(
    hosts: &Api<BareMetalHost>,
    host: &BareMetalHost,
    claim: &HostClaim,
) -> Result<BareMetalHost, Error> {
    let patch = json!({
        "metadata": {"resourceVersion": host.resource_version()},
        "spec": {"consumerRef": binding::consumer_ref(claim)},
    });
    Ok(hosts
        .patch(
            &host.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// Brings the bound host in line with the claim and the claim's status in line with the host.
async fn synchronise(
    claim: &HostClaim,
    ns: &str,
    bound: &BoundObjectReference,
    status: &mut HostClaimStatus,
    ctx: &ClaimContext,
) -> Result<Action, Error> {
    let at = now();
    let generation = claim.metadata.generation;
    let hosts = ctx.hosts(Some(&bound.namespace));
    let host = hosts
        .get_opt(&bound.name)
        .await?
        .filter(|h| binding::claimed_by(h, ns, &claim.name_any()));
    let Some(host) = host else {
        status.bare_metal_host = None;
        status.hardware_data = None;
        let message = format!("BareMetalHost {}/{} is gone", bound.namespace, bound.name);
        let c = &mut status.conditions;
        binding::set_condition(
            c,
            ASSOCIATED_CONDITION,
            false,
            MISSING_HOST_REASON,
            &message,
            &at,
            generation,
        );
        return Ok(Action::requeue(ctx.retry));
    };
    let c = &mut status.conditions;
    binding::set_condition(
        c,
        ASSOCIATED_CONDITION,
        true,
        HOST_ASSOCIATED_REASON,
        "",
        &at,
        generation,
    );
    let mut problem = None;
    for role in DataRole::ALL {
        if let Some(reference) = role.of(claim)
            && let Err(why) = secrets::copy(&ctx.client, ns, &host, role, reference).await?
        {
            problem.get_or_insert((role.failure_reason(), why));
        }
    }
    let wanted = Deployment::wanted(claim, &host.name_any(), &bound.namespace);
    if problem.is_none() && Deployment::of(&host) != wanted {
        let patch = json!({
            "metadata": {"resourceVersion": host.resource_version()},
            "spec": wanted.spec_patch(),
        });
        if let Err(e) = hosts
            .patch(&bound.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            warn!(host = %bound.name, error = %e, "cannot update the claimed host");
            problem = Some((
                HOST_NOT_SYNCHRONIZED_REASON,
                "cannot update the BareMetalHost".into(),
            ));
        }
        secrets::remove_unused(&ctx.client, &host, &wanted).await?;
    }
    let c = &mut status.conditions;
    match &problem {
        None => binding::set_condition(
            c,
            SYNCHRONIZED_CONDITION,
            true,
            CONFIGURATION_SYNCED_REASON,
            "",
            &at,
            generation,
        ),
        Some((reason, why)) => binding::set_condition(
            c,
            SYNCHRONIZED_CONDITION,
            false,
            reason,
            why,
            &at,
            generation,
        ),
    }
    let hardware: Api<HardwareData> = Api::namespaced(ctx.client.clone(), &bound.namespace);
    status.hardware_data = hardware.get_opt(&bound.name).await?.map(|_| bound.clone());
    status.powered_on = host.status.as_ref().is_some_and(|s| s.powered_on);
    Ok(match problem {
        None => Action::await_change(),
        Some(_) => Action::requeue(ctx.retry),
    })
}

/// Gives the claim's host back: removes what was deployed (the host deprovisions), waits until
/// it is no longer busy, clears its `consumerRef` and the copied Secrets, then lets the claim go.
async fn release(
    claim: &HostClaim,
    claims: &Api<HostClaim>,
    ctx: &ClaimContext,
) -> Result<Action, Error> {
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let host = match claim.bound_host() {
        Some(bound) => {
            ctx.hosts(Some(&bound.namespace))
                .get_opt(&bound.name)
                .await?
        }
        None => ctx
            .hosts(None)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|h| binding::claimed_by(h, &ns, &name)),
    };
    if let Some(host) = host.filter(|h| binding::claimed_by(h, &ns, &name)) {
        let hosts = ctx.hosts(host.namespace().as_deref());
        let released = Deployment::released();
        if Deployment::of(&host) != released {
            let patch = json!({
                "metadata": {"resourceVersion": host.resource_version()},
                "spec": released.spec_patch(),
            });
            hosts
                .patch(
                    &host.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            return deleting(claims, claim, &host, ctx).await;
        }
        if binding::busy(&host) {
            return deleting(claims, claim, &host, ctx).await;
        }
        let patch = json!({
            "metadata": {"resourceVersion": host.resource_version()},
            "spec": {"consumerRef": null},
        });
        hosts
            .patch(
                &host.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        secrets::remove_unused(&ctx.client, &host, &released).await?;
        info!(claim = %format!("{ns}/{name}"), host = %host.name_any(), "released HostClaim's host");
    }
    set_finalizer(claims, claim, HOSTCLAIM_FINALIZER, false).await?;
    Ok(Action::await_change())
}

/// Reports that the claim waits for its host to deprovision.
async fn deleting(
    claims: &Api<HostClaim>,
    claim: &HostClaim,
    host: &BareMetalHost,
    ctx: &ClaimContext,
) -> Result<Action, Error> {
    let mut status = claim.status.clone().unwrap_or_default();
    let message = format!(
        "waiting for BareMetalHost {} to deprovision ({})",
        host.name_any(),
        host.provisioning_state().as_str()
    );
    binding::set_condition(
        &mut status.conditions,
        ASSOCIATED_CONDITION,
        false,
        HOSTCLAIM_DELETING_REASON,
        &message,
        &now(),
        claim.metadata.generation,
    );
    write_status(claims, claim, status).await?;
    Ok(Action::requeue(ctx.retry))
}

/// Writes `status` unless only its timestamps would change.
async fn write_status(
    claims: &Api<HostClaim>,
    claim: &HostClaim,
    mut status: HostClaimStatus,
) -> Result<(), Error> {
    let old = claim.status.clone().unwrap_or_default();
    status.last_updated = old.last_updated.clone();
    if status == old {
        return Ok(());
    }
    status.last_updated = Some(now());
    let patch = json!({"status": {
        "lastUpdated": status.last_updated,
        "conditions": status.conditions,
        "bareMetalHost": status.bare_metal_host,
        "hardwareData": status.hardware_data,
        "poweredOn": status.powered_on,
    }});
    claims
        .patch_status(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// Retry policy after a failed reconcile: soon after a conflict (another claim or writer got
/// there first), with a spread so racing claims do not collide again; 5 s otherwise.
pub fn error_policy(claim: Arc<HostClaim>, error: &Error, _ctx: Arc<ClaimContext>) -> Action {
    if error.is_conflict() {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        claim.uid().hash(&mut hasher);
        std::time::SystemTime::now().hash(&mut hasher);
        return Action::requeue(Duration::from_millis(100 + hasher.finish() % 900));
    }
    warn!(%error, claim = %claim.name_any(), "HostClaim reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
