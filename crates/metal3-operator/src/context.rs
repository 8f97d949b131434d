//! What the operator's controllers share: the host controller's [`Context`] and the [`Error`]
//! every reconcile returns. Controller modules depend on this one, never on each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::jiff::Timestamp;
use kube::Client;
use metal3_provisioner::{Provisioner, ProvisionerError};

use crate::cache::{Caches, NotReady};
use crate::events::Recorder;
use crate::firmware::FirmwarePoll;
use crate::metrics::Metrics;

/// A host, by namespace and name.
type HostKey = (String, String);

fn key(ns: &str, name: &str) -> HostKey {
    (ns.to_string(), name.to_string())
}

/// Everything a reconcile of a BareMetalHost needs.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The backend that talks to the hosts' BMCs.
    pub provisioner: Arc<dyn Provisioner>,
    /// Timing and limits of the host state machine.
    pub machine: metal3_hoststate::Config,
    /// Publishes the hosts' Events.
    pub recorder: Recorder,
    /// The operator's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// How often firmware settings are read back.
    pub firmware_poll: FirmwarePoll,
    /// Whether hosts get PreprovisioningImages (`--build-preprov-image`).
    pub build_preprovisioning_images: bool,
    /// The host's companion objects, read from watches.
    pub caches: Caches,
    /// The shards this replica holds; `None`: it acts on every host.
    pub shards: Option<metal3_kube::shards::Shards>,
    /// The hosts' steps not written to their step logs yet.
    pub(crate) steps: Arc<crate::steps::StepLog>,
    /// Per host: the resourceVersion our last status write replaced. A cached object still at
    /// that version is older than what we wrote.
    written: Mutex<HashMap<HostKey, String>>,
    /// Per host: when its firmware was last read back. A reading that changes nothing is not
    /// written (10,000 hosts polled every 5 minutes would otherwise write 67 statuses a
    /// second), so the status's `lastUpdated` says when the content last changed and this
    /// says when it was last checked.
    firmware_read: Mutex<HashMap<HostKey, Timestamp>>,
}

impl Context {
    /// A context with the default firmware poll and no PreprovisioningImages.
    pub fn new(
        client: Client,
        provisioner: Arc<dyn Provisioner>,
        machine: metal3_hoststate::Config,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        caches: Caches,
    ) -> Self {
        Self {
            client,
            provisioner,
            machine,
            recorder,
            metrics,
            firmware_poll: FirmwarePoll::default(),
            build_preprovisioning_images: false,
            caches,
            shards: None,
            steps: Arc::default(),
            written: Mutex::new(HashMap::new()),
            firmware_read: Mutex::new(HashMap::new()),
        }
    }

    fn written(&self) -> MutexGuard<'_, HashMap<HostKey, String>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the cached host, at `resource_version`, is still the object our last status
    /// write replaced (the cache has not caught up with that write yet). Once the cache shows
    /// any other version, the record of the write is dropped.
    pub(crate) fn behind_our_write(&self, ns: &str, name: &str, resource_version: &str) -> bool {
        let key = key(ns, name);
        let mut written = self.written();
        match written.get(&key) {
            Some(old) if *old == resource_version => true,
            Some(_) => {
                written.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Records that our status write replaced the host at `resource_version`.
    pub(crate) fn wrote_status(&self, ns: &str, name: &str, resource_version: String) {
        self.written().insert(key(ns, name), resource_version);
    }

    /// When the host's firmware was last read back by this process, if it was.
    pub(crate) fn firmware_read(&self, ns: &str, name: &str) -> Option<Timestamp> {
        let read = self.firmware_read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(&key(ns, name)).copied()
    }

    /// Records that the host's firmware was read back at `at`.
    pub(crate) fn firmware_was_read(&self, ns: &str, name: &str, at: Timestamp) {
        let mut read = self.firmware_read.lock().unwrap_or_else(|e| e.into_inner());
        read.insert(key(ns, name), at);
    }
}

/// Why a reconcile failed; the controller retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The provisioner failed for a reason worth a retry.
    #[error("provisioner: {0}")]
    Provisioner(#[from] ProvisionerError),
    /// The object lacks a field the controller needs (e.g. its namespace).
    #[error("object has no {0}")]
    Incomplete(&'static str),
    /// A watch cache has not delivered its first list yet.
    #[error(transparent)]
    Cache(#[from] NotReady),
}

impl Error {
    /// Whether the error is an optimistic-concurrency conflict (a newer object exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}
