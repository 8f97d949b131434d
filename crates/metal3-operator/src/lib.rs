//! The Bare Metal Operator: kube-runtime controllers that drive BareMetalHosts through a
//! [`Provisioner`](metal3_provisioner::Provisioner).
//!
//! The host controller watches BareMetalHosts (waking on changes to spec, annotations,
//! finalizers or deletion, not on its own status writes) and the credentials Secrets it has
//! labelled and owns, so rotating a password wakes the host at once. Each reconcile gathers
//! the host's inputs from watch-fed caches (see [`cache`]: a pass at rest asks the API server
//! nothing), runs one pass of the pure state machine in `metal3-hoststate`, and writes
//! the result with optimistic concurrency: a conflicting write is retried with the newer object.
//!
//! With [`OperatorConfig::shards`] (`metal3 operator --shards N`) a replica acts only on the
//! hosts of the shards it holds on Leases (`metal3_kube::shards`): each pass holds a tenure of
//! the host's shard, checked again before the backend is asked and before writes, and a shard
//! gained has its hosts reconciled at once.
//!
//! Modules:
//! - [`controllers`]: the watches, caches and controllers wired together ([`run`]).
//! - [`context`]: the host controller's [`Context`] and the reconcile [`Error`].
//! - [`host`]: the BareMetalHost controller (inputs, one state machine pass, writes).
//! - `host_data`: the host as the provisioners see it.
//! - `credentials`: reading the BMC credentials Secret and marking it as ours.
//! - [`cache`]: watch-fed caches of the host's companion objects, aware of our own writes.
//! - [`firmware`]: HostFirmwareSettings, FirmwareSchema and HostFirmwareComponents read-back.
//! - `dataimage`: the host's DataImage, read for the state machine and updated with outcomes.
//! - [`preprov`]: PreprovisioningImages: the host's request and the controller answering it.
//! - [`subscription`]: the BMCEventSubscription controller.
//! - [`hostclaim`]: the HostClaim controller (`--hostclaims`): binding, syncing, releasing.
//! - [`events`]: Kubernetes Events with bounded memory and series.
//! - `steps`: the host's step log (the states it entered and its errors, with when).
//! - [`metrics`]: the operator's Prometheus metrics.
//! - [`webhook`]: the BareMetalHost validating webhook.
//! - [`ui`]: the fleet page (`--ui-addr`), from the hosts' cache.
//! - [`switch`] (with pure [`switch_config`]): the BareMetalSwitch controller writing the switch
//!   configuration Secrets, run with `IRONIC_NETWORKING_ENABLED`.
//! - [`attachment_webhook`]: HostNetworkAttachment admission with the reference lookup.

pub mod cache;
pub mod context;
pub mod controllers;
mod credentials;
mod dataimage;
pub mod events;
pub mod firmware;
pub mod host;
mod host_data;
pub mod hostclaim;
pub mod metrics;
pub mod preprov;
mod steps;
pub mod subscription;
pub mod ui;
pub mod webhook;

// Switch port configuration (Ironic networking): the BareMetalSwitch controller, its pure
// rendering, and the HostNetworkAttachment webhook that needs the cluster.
pub mod attachment_webhook;
pub mod switch;
pub mod switch_config;

pub use cache::{Cached, Caches};
pub use context::{Context, Error};
pub use controllers::run;
pub use metrics::Metrics;

/// Name the operator reports in Events.
pub const REPORTING_CONTROLLER: &str = "metal3.io/baremetal-controller";

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Watch only this namespace; `None` watches the whole cluster.
    pub namespace: Option<String>,
    /// Timing and limits of the host state machine.
    pub machine: metal3_hoststate::Config,
    /// Hosts reconciled at once (0 = unlimited).
    pub concurrency: u16,
    /// This replica's name in Events (e.g. the pod name).
    pub instance: Option<String>,
    /// How often firmware settings are read back from hosts at rest.
    pub firmware_poll: firmware::FirmwarePoll,
    /// Retry delay of objects waiting for another one (a BMCEventSubscription for its host, a
    /// PreprovisioningImage for its network data Secret): 10 min.
    pub dependency_retry: std::time::Duration,
    /// Deploy images for PreprovisioningImages (`--build-preprov-image`); `None`: hosts get
    /// no PreprovisioningImage.
    pub preprovisioning_images: Option<metal3_hoststate::preprov::ImageSources>,
    /// Where to serve the fleet page (`--ui-addr`); `None`: no page.
    pub ui: Option<ui::Listener>,
    /// Run the HostClaim controller (`--hostclaims`); `None`: HostClaims are not served.
    pub hostclaims: Option<hostclaim::HostClaimConfig>,
    /// The shards this replica holds (`--shards N`, N > 1): it acts only on hosts (and their
    /// companions, subscriptions, images and claims) of those. `None`: every host.
    pub shards: Option<metal3_kube::shards::Shards>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            machine: metal3_hoststate::Config::default(),
            concurrency: 8,
            instance: None,
            firmware_poll: firmware::FirmwarePoll::default(),
            dependency_retry: std::time::Duration::from_secs(600),
            preprovisioning_images: None,
            ui: None,
            hostclaims: None,
            shards: None,
        }
    }
}
