//! What a reconcile pass reads and what it decides: the controller fills [`Inputs`] (and the
//! machine's [`Config`]), and applies the returned [`Decision`] with its [`Effect`]s and
//! [`Event`]s. Plain data, no logic beyond comparing statuses.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use metal3_api::v1alpha1::{
    BareMetalHostStatus, FirmwareUpdate, HardwareDetails, ProvisioningState, SecretReference,
};
use metal3_provisioner::{HostConfig, HostData, PreprovisioningImage, ProvisionerError};

/// Timing and limits of the machine. The defaults are upstream's.
#[derive(Clone, Debug)]
pub struct Config {
    /// Provisioning attempts before the host stops retrying (0 = unlimited).
    pub max_provisioning_retries: i64,
    /// Unit of the exponential backoff after errors (one minute).
    pub backoff_unit: Duration,
    /// Retry delay when the credentials Secret is missing (10 s).
    pub missing_secret_retry: Duration,
    /// Poll interval of unmanaged and detached hosts (10 min).
    pub idle_poll: Duration,
    /// Power state poll interval of hosts at rest (60 s).
    pub power_poll: Duration,
    /// Poll interval while waiting for a preprovisioning image (5 min).
    pub preprovisioning_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_provisioning_retries: 5,
            backoff_unit: Duration::from_secs(60),
            missing_secret_retry: Duration::from_secs(10),
            idle_poll: Duration::from_secs(600),
            power_poll: Duration::from_secs(60),
            preprovisioning_wait: Duration::from_secs(300),
        }
    }
}

/// The host's BMC credentials as the controller found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialsInput {
    /// The host has no BMC details (unmanaged); nothing to read.
    NotNeeded,
    /// `spec.bmc.credentialsName` names a Secret that does not exist.
    Missing { secret: String },
    /// The BMC details are unusable (empty address, unknown scheme, Secret without username or
    /// password); `message` says which and how to fix it.
    Invalid { message: String },
    /// Usable credentials (already in [`Inputs::host_data`]), from `secret` at `version`.
    Valid {
        secret: SecretReference,
        version: String,
    },
}

/// What the controller read for this pass.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The time of this pass (all backoff and history timestamps are measured against it).
    pub now: Timestamp,
    /// The host as the provisioner sees it, credentials included when valid.
    pub host_data: HostData,
    /// What the controller found of the BMC credentials.
    pub credentials: CredentialsInput,
    /// User data, network data and meta data for provisioning.
    pub host_config: HostConfig,
    /// The `spec.hardware` of the host's HardwareData, when it exists.
    pub hardware_data: Option<HardwareDetails>,
    /// Firmware settings to apply, from the host's HostFirmwareSettings.
    pub firmware: FirmwareInputs,
    /// The host's DataImage, when it has one.
    pub data_image: Option<DataImageInput>,
    /// The preprovisioning image registration needs, when the backend uses one.
    pub preprovisioning: PreprovisioningInput,
    /// `networkData` of the Secret `spec.preprovisioningNetworkDataName` names (empty when
    /// there is none), for backends that hand it to the agent's ramdisk themselves.
    pub preprovisioning_network_data: String,
}

/// Whether registration must wait for a preprovisioning image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PreprovisioningInput {
    /// The backend boots no preprovisioning image (or building them is off).
    #[default]
    NotUsed,
    /// The host's PreprovisioningImage is not ready; the reason says why.
    Waiting(String),
    /// The image to boot.
    Ready(PreprovisioningImage),
}

/// What the host's DataImage asks for and what is attached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataImageInput {
    /// URL to attach; `None` while the DataImage is being deleted.
    pub wanted: Option<String>,
    /// URL attached now, as the DataImage status says.
    pub attached: Option<String>,
}

/// Firmware settings of the host, as its HostFirmwareSettings says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FirmwareInputs {
    /// Valid requested settings that differ from the current ones (empty when the request is
    /// invalid: an invalid request is reported on the HostFirmwareSettings, never applied).
    pub pending: BTreeMap<String, IntOrString>,
    /// Settings currently on the host.
    pub current: BTreeMap<String, String>,
    /// Firmware updates requested (HostFirmwareComponents) and not applied yet.
    pub pending_updates: Vec<FirmwareUpdate>,
    /// HostUpdatePolicy `firmwareSettings: onReboot`: apply settings to a provisioned host when
    /// it reboots (servicing).
    pub settings_on_reboot: bool,
    /// HostUpdatePolicy `firmwareUpdates: onReboot`.
    pub updates_on_reboot: bool,
}

/// When to look at the host again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// At once (the state advanced).
    Now,
    /// After this delay.
    After(Duration),
    /// Only when something changes.
    Never,
}

/// Kubernetes event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Routine progress.
    Normal,
    /// A failure or a rejected request.
    Warning,
}

/// An event to publish on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Normal or warning.
    pub event_type: EventType,
    /// The event's reason, a CamelCase word (e.g. `ProvisioningStarted`).
    pub reason: &'static str,
    /// What happened, for people.
    pub message: String,
}

/// A change to objects other than the host's status.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Create or update the host's HardwareData with this inventory.
    SaveHardwareData(Box<HardwareDetails>),
    /// Remove this annotation from the host.
    RemoveAnnotation(String),
    /// The provisioner has forgotten the host: release the credentials Secret and the
    /// HardwareData, and remove the host's finalizer.
    Released,
    /// Firmware settings were applied: read them back into the HostFirmwareSettings now.
    FirmwareApplied,
    /// The data image now attached (`None`: detached); record it on the DataImage.
    DataImageAttached(Option<String>),
    /// Attaching or detaching the data image failed; record it on the DataImage.
    DataImageFailed(String),
}

/// The outcome of one pass.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The host's new status (saved when it differs from the old one, `lastUpdated` aside).
    pub status: BareMetalHostStatus,
    /// When to run the next pass.
    pub requeue: Requeue,
    /// Events to publish on the host.
    pub events: Vec<Event>,
    /// Changes to other objects, in order.
    pub effects: Vec<Effect>,
    /// The provisioner could not be asked; retry with rate limiting, status unchanged.
    pub transient: Option<ProvisionerError>,
    /// `(from, to)` when the provisioning state changed.
    pub state_change: Option<(ProvisioningState, ProvisioningState)>,
}

impl Decision {
    /// Whether the status differs from `old`, ignoring `lastUpdated`.
    pub fn status_changed(&self, old: Option<&BareMetalHostStatus>) -> bool {
        let Some(old) = old else { return true };
        let mut a = self.status.clone();
        a.last_updated = None;
        let mut b = old.clone();
        b.last_updated = None;
        a != b
    }
}
