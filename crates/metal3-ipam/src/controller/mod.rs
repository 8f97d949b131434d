//! The IPPool controller: one pass per pool ([`pool::reconcile`]) serves every claim of the
//! pool, of both kinds, so the passes of one pool never run at once within a process; between
//! processes the pool's resourceVersion decides. Woken by the pool, its claims and its
//! addresses. [`run`] starts it.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use tracing::{debug, info, warn};

use crate::capi;
use crate::context::{Config, Context, Error, is_not_found};
use crate::facts::is_our_pool;
use crate::metrics::Metrics;

pub mod addresses;
pub mod claims;
pub mod observe;
pub mod pool;

/// Whether the API server serves Cluster API IPAddressClaims (asked in the watched namespace,
/// so that a manager with rights in that namespace only can tell).
async fn capi_served(client: &Client, namespace: Option<&str>) -> bool {
    let api: kube::Api<capi::IPAddressClaim> = match namespace {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    match api.list(&kube::api::ListParams::default().limit(1)).await {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => {
            warn!(error = %e, "cannot tell whether Cluster API IPAM is installed; assuming it is");
            true
        }
    }
}

fn pool_ref<K: Resource>(obj: &K, name: &str) -> Option<ObjectRef<IPPool>> {
    let ns = obj.meta().namespace.as_deref()?;
    (!name.is_empty()).then(|| ObjectRef::new(name).within(ns))
}

/// The controller, woken by pools, and by claims and addresses naming a pool.
fn controller(ctx: &Context) -> Controller<IPPool> {
    let mut controller = Controller::new(ctx.scoped::<IPPool>(), ctx.watch_config())
        .watches(ctx.scoped::<IPClaim>(), ctx.watch_config(), |c: IPClaim| {
            let own = c.spec.pool.namespace.is_empty()
                || Some(c.spec.pool.namespace.as_str()) == c.metadata.namespace.as_deref();
            pool_ref(&c, &c.spec.pool.name).filter(|_| own)
        })
        .watches(
            ctx.scoped::<IPAddress>(),
            watcher::Config::default(),
            |a: IPAddress| pool_ref(&a, &a.spec.pool.name),
        );
    if ctx.capi {
        controller = controller
            .watches(
                ctx.scoped::<capi::IPAddressClaim>(),
                ctx.watch_config(),
                |c: capi::IPAddressClaim| {
                    pool_ref(&c, &c.spec.pool_ref.name).filter(|_| is_our_pool(&c.spec.pool_ref))
                },
            )
            .watches(
                ctx.scoped::<capi::IPAddress>(),
                watcher::Config::default(),
                |a: capi::IPAddress| {
                    pool_ref(&a, &a.spec.pool_ref.name).filter(|_| is_our_pool(&a.spec.pool_ref))
                },
            );
    }
    controller
}

/// After a failed pass: log it, count it, and look again after [`Config::error_retry`].
fn error_policy(pool: Arc<IPPool>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.inc();
    let pool = format!(
        "{}/{}",
        pool.namespace().unwrap_or_default(),
        pool.name_any()
    );
    if error.is_conflict() {
        // Another manager (or pass) wrote first, again and again: nothing is wrong.
        info!(%pool, "kept losing races on the pool or its claims; retrying");
    } else {
        warn!(%pool, error = %error, "reconcile failed; retrying");
    }
    Action::requeue(ctx.config.error_retry)
}

/// Runs the IP address manager until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let capi = match config.capi {
        Some(v) => v,
        None => capi_served(&client, config.namespace.as_deref()).await,
    };
    let ctx = Arc::new(Context {
        client,
        config,
        metrics,
        capi,
    });
    info!(
        namespace = ctx.config.namespace.as_deref().unwrap_or("<all>"),
        cluster_api_claims = capi,
        "starting the IP address manager"
    );
    if !capi {
        info!("Cluster API IPAM (ipam.cluster.x-k8s.io) is not served: answering IPClaims only");
    }
    let concurrency =
        kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency);
    controller(&ctx)
        .with_config(concurrency)
        .graceful_shutdown_on(shutdown)
        .run(pool::reconcile, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Ok((obj, _)) = r {
                debug!(object = %obj, "reconciled");
            }
        })
        .await;
    info!("IP address manager stopped");
}
