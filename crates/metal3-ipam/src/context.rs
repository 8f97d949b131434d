//! What every pass shares: how the manager runs ([`Config`]), the client, metrics and
//! discovered capabilities of a running manager ([`Context`]), and the pass's [`Error`].

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use metal3_ipam_api::consts::WATCH_FILTER_LABEL;

use crate::metrics::Metrics;

/// How the manager runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch only this namespace; `None` watches the whole cluster.
    pub namespace: Option<String>,
    /// Only pools (and claims) labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
    /// How long a wait (a paused or missing Cluster, a pool being deleted) lasts before
    /// another look: 30 s, as upstream.
    pub requeue: Duration,
    /// Delay before retrying after an error.
    pub error_retry: Duration,
    /// Pools reconciled at once.
    pub concurrency: u16,
    /// Answer Cluster API IPAddressClaims: `None` decides from whether the API server serves
    /// them.
    pub capi: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            watch_filter: None,
            requeue: Duration::from_secs(30),
            error_retry: Duration::from_secs(10),
            concurrency: 10,
            capi: None,
        }
    }
}

/// What every pass gets.
pub struct Context {
    /// Client of the cluster.
    pub client: Client,
    /// Configuration.
    pub config: Config,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Whether Cluster API IPAddressClaims are answered (decided at start).
    pub capi: bool,
}

/// Errors of a pass; the pool is looked at again after [`Config::error_retry`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

impl Error {
    /// Whether the API server refused a write made with a resourceVersion that is no longer
    /// current (someone else wrote first).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

/// Whether `e` says the object (or its kind) does not exist.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
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

    /// The watch of pools and claims: every object, or those with the watch-filter label.
    pub(crate) fn watch_config(&self) -> watcher::Config {
        match &self.config.watch_filter {
            Some(value) => {
                watcher::Config::default().labels(&format!("{WATCH_FILTER_LABEL}={value}"))
            }
            None => watcher::Config::default(),
        }
    }

    /// Whether `obj` passes the watch filter (always, without one).
    pub(crate) fn watched<K: Resource>(&self, obj: &K) -> bool {
        match &self.config.watch_filter {
            None => true,
            Some(value) => {
                obj.meta()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(WATCH_FILTER_LABEL))
                    == Some(value)
            }
        }
    }
}
