//! The Cluster API provider Metal3 (CAPM3): the controllers that give Cluster API Machines
//! BareMetalHosts, render their metadata and network data, remediate unhealthy ones, and the
//! webhooks (conversion, defaulting, validation) of the `infrastructure.cluster.x-k8s.io`
//! kinds.
//!
//! Pure logic lives in its own modules ([`selector`], [`hosts`], [`hostspec`],
//! [`provider_id`], [`render`], [`remediation`], [`webhooks`]) and is tested without
//! Kubernetes; the controllers ([`cluster`], [`machine`], [`datatemplate`], [`data`],
//! [`remediation_controller`], [`machinetemplate`]) gather what it needs, call it and write the
//! result with optimistic concurrency.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource};
use tracing::{debug, info, warn};

pub mod admission;
pub mod capi;
pub mod cluster;
pub mod conditions;
pub mod data;
pub mod datatemplate;
pub mod hosts;
pub mod hostspec;
pub mod machine;
pub mod machinetemplate;
pub mod patch;
pub mod provider_id;
pub mod remediation;
pub mod remediation_controller;
pub mod render;
pub mod selector;
pub mod webhooks;
pub mod workload;

/// How the provider runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch only this namespace; `None` watches the whole cluster.
    pub namespace: Option<String>,
    /// Only objects with label `cluster.x-k8s.io/watch-filter=<value>` (`--watch-filter`).
    pub watch_filter: Option<String>,
    /// How long a wait (for a host, for data, for deprovisioning) lasts before another look:
    /// 30 s, as upstream.
    pub requeue: Duration,
    /// Delay before retrying after an error.
    pub error_retry: Duration,
    /// How often a running remediation looks at its host.
    pub remediation_poll: Duration,
    /// Objects of one kind reconciled at once.
    pub concurrency: u16,
    /// `CAPM3_FAST_TRACK`: keep released hosts powered on (unless cleaning is disabled).
    pub fast_track: bool,
    /// Remediate with the `out-of-service` Node taint (true) or by deleting the Node (false);
    /// `None` decides from the server version (taint from Kubernetes 1.28).
    pub out_of_service_taint: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            watch_filter: None,
            requeue: Duration::from_secs(30),
            error_retry: Duration::from_secs(10),
            remediation_poll: Duration::from_secs(5),
            concurrency: 10,
            fast_track: false,
            out_of_service_taint: None,
        }
    }
}

/// What every reconcile gets.
pub struct Ctx {
    /// Client of the management cluster.
    pub client: Client,
    /// Configuration.
    pub config: Config,
    /// Workload cluster clients.
    pub workloads: workload::Workloads,
    /// Whether remediation uses the out-of-service taint (decided at start).
    pub out_of_service_taint: bool,
    /// Serialises this instance's host claims, so its own reconciles never pick the same host
    /// at once; between instances (or processes) the claim's optimistic concurrency decides.
    pub claims: tokio::sync::Mutex<()>,
}

/// Errors of a reconcile; the object is looked at again after [`Config::error_retry`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// A workload cluster cannot be reached.
    #[error(transparent)]
    Workload(#[from] workload::WorkloadError),
    /// Anything else, in words that say what to fix.
    #[error("{0}")]
    Other(String),
}

impl Ctx {
    /// A namespaced API of kind `K`.
    pub fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn watch_config(&self) -> watcher::Config {
        match &self.config.watch_filter {
            Some(value) => {
                watcher::Config::default().labels(&format!("cluster.x-k8s.io/watch-filter={value}"))
            }
            None => watcher::Config::default(),
        }
    }

    fn scoped<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        match &self.config.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }
}

fn error_policy<K>(obj: Arc<K>, error: &Error, ctx: Arc<Ctx>) -> Action
where
    K: Resource,
{
    let meta = obj.meta();
    warn!(
        kind = %std::any::type_name::<K>().rsplit("::").next().unwrap_or("object"),
        name = %format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default()),
        error = %error,
        "reconcile failed; retrying"
    );
    Action::requeue(ctx.config.error_retry)
}

/// Whether the API server is Kubernetes 1.28 or newer (the out-of-service taint is GA there).
async fn taint_supported(client: &Client) -> bool {
    match client.apiserver_version().await {
        Ok(v) => {
            let major: u32 = v.major.trim_end_matches('+').parse().unwrap_or(0);
            let minor: u32 = v.minor.trim_end_matches('+').parse().unwrap_or(0);
            major > 1 || (major == 1 && minor >= 28)
        }
        Err(e) => {
            warn!(error = %e, "cannot read the server version; remediating by deleting Nodes");
            false
        }
    }
}

/// Runs every CAPM3 controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let out_of_service_taint = match config.out_of_service_taint {
        Some(v) => v,
        None => taint_supported(&client).await,
    };
    let ctx = Arc::new(Ctx {
        client,
        config,
        workloads: workload::Workloads::default(),
        out_of_service_taint,
        claims: tokio::sync::Mutex::new(()),
    });
    info!(
        namespace = ctx.config.namespace.as_deref().unwrap_or("<all>"),
        out_of_service_taint, "starting the Cluster API provider controllers"
    );
    let concurrency =
        kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency);
    macro_rules! drive {
        ($controller:expr, $module:ident) => {
            $controller
                .with_config(concurrency.clone())
                .graceful_shutdown_on(shutdown.clone())
                .run($module::reconcile, error_policy, ctx.clone())
                .for_each(|r| async move {
                    if let Ok((obj, _)) = r {
                        debug!(object = %obj, "reconciled");
                    }
                })
        };
    }
    let clusters = drive!(cluster::controller(&ctx), cluster);
    let machines = drive!(machine::controller(&ctx), machine);
    let templates = drive!(datatemplate::controller(&ctx), datatemplate);
    let datas = drive!(data::controller(&ctx), data);
    let remediations = drive!(
        remediation_controller::controller(&ctx),
        remediation_controller
    );
    let machine_templates = drive!(machinetemplate::controller(&ctx), machinetemplate);
    futures::join!(
        clusters,
        machines,
        templates,
        datas,
        remediations,
        machine_templates
    );
    info!("Cluster API provider controllers stopped");
}

/// A controller of `K` over the configured namespace and watch filter.
fn controller_for<K>(ctx: &Ctx) -> Controller<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    Controller::new(ctx.scoped::<K>(), ctx.watch_config())
}

/// The object as the API server has it now: a pass starts from this, not from the controller's
/// cache, which can still show the object our previous pass wrote over. `None` when it is gone.
pub(crate) async fn fresh<K>(ctx: &Ctx, obj: &K) -> Result<Option<K>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(ctx.api::<K>(&ns).get_opt(&name).await?)
}
