//! What every reconcile shares: how the provider runs ([`Config`]), the clients and locks of a
//! running provider ([`Context`]), the reconcile [`Error`], and the plumbing all controllers use
//! (the scoped watch, the retry after an error, reading the object fresh).

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource};
use tracing::warn;

use crate::workload;

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
    /// How often a consumed host's labels are synced to its Node again (besides on changes):
    /// 60 s, as upstream.
    pub label_sync_interval: Duration,
    /// Objects of one kind reconciled at once.
    pub concurrency: u16,
    /// `CAPM3_FAST_TRACK`: keep released hosts powered on (unless cleaning is disabled).
    pub fast_track: bool,
    /// Remediate with the `out-of-service` Node taint (true) or by deleting the Node (false);
    /// `None` decides from the server version (taint from Kubernetes 1.28).
    pub out_of_service_taint: Option<bool>,
    /// `--use-hostclaims`: each Metal3Machine claims its host through a HostClaim in its own
    /// namespace instead of writing a BareMetalHost; `None` (the default) writes hosts directly.
    pub hostclaims: Option<crate::hostclaim::HostClaimMode>,
    /// `--enable-bmh-name-based-preallocation`: a Metal3Data's IPClaims are named
    /// `<host>-<pool>` instead of `<data>-<pool>`, so an IPPool's `preAllocations` keyed by that
    /// name give a host its address whichever machine gets it.
    pub bmh_name_based_preallocation: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            watch_filter: None,
            requeue: Duration::from_secs(30),
            error_retry: Duration::from_secs(10),
            remediation_poll: Duration::from_secs(5),
            label_sync_interval: Duration::from_secs(60),
            concurrency: 10,
            fast_track: false,
            out_of_service_taint: None,
            hostclaims: None,
            bmh_name_based_preallocation: false,
        }
    }
}

/// What every reconcile gets.
pub struct Context {
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

impl Context {
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

    /// An API of kind `K` over the configured namespace (or all of them).
    pub(crate) fn scoped<K>(&self) -> Api<K>
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

/// After a failed reconcile: log it, and look again after [`Config::error_retry`].
pub(crate) fn error_policy<K>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action
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

/// A controller of `K` over the configured namespace and watch filter.
pub(crate) fn controller_for<K>(ctx: &Context) -> Controller<K>
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
pub(crate) async fn fresh<K>(ctx: &Context, obj: &K) -> Result<Option<K>, Error>
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
