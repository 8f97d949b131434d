//! The contract between the Bare Metal Operator and a provisioning backend.
//!
//! One [`Provisioner`] value serves every host of an operator replica: each call names the host
//! through [`HostData`]. Calls are idempotent and non-blocking: a long operation (inspection,
//! deployment, cleaning) is started by the first call and observed by the following ones, which
//! answer [`Outcome::InProgress`] until it ends with [`Outcome::Done`] or [`Outcome::Failed`].
//!
//! A returned `Err` is a transient fault (the backend could not be asked): the operator retries
//! with rate limiting and does not touch the host's status. A *host* failure (the BMC refused,
//! the deployment failed) is an `Ok(Outcome::Failed { .. })` and lands in `status.errorMessage`.
//!
//! [`actor`] names, task-locally, on whose behalf a call is made.

pub mod actor;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, CustomDeploy, FirmwareComponentStatus, FirmwareConfig,
    FirmwareUpdate, HardwareDetails, Image, InspectionMode, OperationalStatus, ProvisioningState,
    RaidConfig, RootDeviceHints, SettingSchema,
};

/// What a host-level call achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The operation is complete; the host may move on.
    Done,
    /// The operation is under way; call again after the given delay (zero: at once).
    InProgress { after: Duration },
    /// The operation failed; the message goes to `status.errorMessage` (never a credential).
    Failed { message: String },
}

impl Outcome {
    /// In progress, call again after `after`.
    pub fn wait(after: Duration) -> Self {
        Self::InProgress { after }
    }

    /// Failed with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
        }
    }

    /// Whether the operation is complete.
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }
}

/// Transient faults: the backend could not answer. The host status is left alone.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProvisionerError {
    /// The backend (e.g. Ironic) is not up yet; try again in a while.
    #[error("the provisioner is not ready")]
    NotReady,
    /// The backend does not know the host (any more); it must be registered again.
    #[error("the host must be registered with the provisioner")]
    NeedsRegistration,
    /// Registration needs a preprovisioning image that is not built yet.
    #[error("the host needs a preprovisioning image that is not ready")]
    NeedsPreprovisioningImage,
    /// The backend is busy with the host (locked node); try again shortly.
    #[error("the host is busy in the provisioner")]
    NodeIsBusy,
    /// Any other transient fault, e.g. a timeout talking to the backend; the message says what
    /// could not be reached (`cannot reach the BMC at …`, `cannot reach the provisioner …`).
    #[error("{0}")]
    Transient(String),
}

/// Result of a provisioner call.
pub type ProvResult<T> = Result<T, ProvisionerError>;

/// BMC credentials, read from the host's Secret. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// The Secret's `username`.
    pub username: String,
    /// The Secret's `password`; never logged, shown or written into status.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Identity of the host a call is about, and how to reach its BMC.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostData {
    /// The BareMetalHost's namespace.
    pub namespace: String,
    /// The BareMetalHost's name.
    pub name: String,
    /// The BareMetalHost's UID.
    pub uid: String,
    /// The host's annotations (some backends read settings from them, e.g. the fixture).
    pub annotations: BTreeMap<String, String>,
    /// `spec.bmc.address`, as written (each backend parses it with `metal3-bmc`).
    pub bmc_address: String,
    /// `spec.bmc.disableCertificateVerification`: accept any certificate from the BMC.
    pub disable_certificate_verification: bool,
    /// The BMC credentials from the Secret `spec.bmc.credentialsName` names.
    pub credentials: Credentials,
    /// `spec.bootMACAddress`: the NIC the host boots from (empty when not given).
    pub boot_mac_address: String,
    /// The backend's identifier of the host (`status.provisioning.ID`), empty before registration.
    pub provisioner_id: String,
    /// `spec.networkInterfaces`: NICs whose switch ports are to be configured (only Ironic's
    /// networking service can; the native Redfish backend refuses to provision such a host).
    pub network_interfaces: Vec<metal3_api::v1alpha1::NetworkInterface>,
    /// The specs of the HostNetworkAttachments those interfaces name, by `namespace/name`
    /// (the host's namespace when the reference has none); missing ones are left out.
    pub network_attachments: BTreeMap<String, metal3_api::v1alpha1::HostNetworkAttachmentSpec>,
}

impl HostData {
    /// The attachment spec `iface` names, if it names one that exists.
    pub fn attachment_of(
        &self,
        iface: &metal3_api::v1alpha1::NetworkInterface,
    ) -> Option<&metal3_api::v1alpha1::HostNetworkAttachmentSpec> {
        let reference = &iface.host_network_attachment;
        if reference.name.is_empty() {
            return None;
        }
        let ns = match reference.namespace.as_str() {
            "" => &self.namespace,
            ns => ns,
        };
        self.network_attachments
            .get(&format!("{ns}/{}", reference.name))
    }
}

impl HostData {
    /// `namespace/name`, for logs and keys.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A bootable image that lets the backend talk to the host before provisioning.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PreprovisioningImage {
    /// Where the backend fetches the image (ISO or initrd) from.
    pub image_url: String,
    /// The kernel to boot with an initrd image; empty for an ISO.
    pub kernel_url: String,
    /// Kernel command line additions the image needs.
    pub extra_kernel_params: String,
    /// The image's format (`iso`, `initrd`).
    pub format: String,
}

/// Everything registration needs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ManagementAccessData {
    /// `spec.bootMode`.
    pub boot_mode: BootMode,
    /// `spec.automatedCleaningMode`.
    pub automated_cleaning_mode: AutomatedCleaningMode,
    /// The host's provisioning state when it is (re)registered.
    pub state: ProvisioningState,
    /// The host's operational status (a detached host is registered differently).
    pub operational_status: OperationalStatus,
    /// The image the host runs (`status.provisioning.image`), for a host registered while
    /// provisioned.
    pub current_image: Option<Image>,
    /// The ramdisk image to boot for inspection and cleaning, when the backend needs one and
    /// the PreprovisioningImage is ready.
    pub preprovisioning_image: Option<PreprovisioningImage>,
    /// Network data (`spec.preprovisioningNetworkDataName`'s Secret) for the ramdisk.
    pub preprovisioning_network_data: String,
    /// `spec.customDeploy` is set: deployment runs a custom step instead of writing an image.
    pub has_custom_deploy: bool,
    /// `spec.disablePowerOff`: the host must never be powered off (reboots only).
    pub disable_power_off: bool,
    /// `spec.architecture`, else the inspected one.
    pub cpu_architecture: String,
    /// The inventory found by an earlier inspection, if any.
    pub hardware_details: Option<HardwareDetails>,
    /// `spec.inspectionMode`.
    pub inspection_mode: InspectionMode,
}

/// How a registration call treats what happened before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RegisterOptions {
    /// The credentials Secret changed since the backend last took it: hand over the new ones.
    pub credentials_changed: bool,
    /// The previous registration failed: start it again instead of reporting that failure.
    pub restart: bool,
}

/// How an inspection call treats what happened before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InspectOptions {
    /// The previous inspection failed: start it again instead of reporting that failure.
    pub restart: bool,
    /// Inspect again even though an inspection completed before (the `inspect.metal3.io`
    /// annotation asked for it).
    pub refresh: bool,
    /// Abort an inspection that waits for a ramdisk to call back, and reboot into a new one.
    pub force_reboot: bool,
}

/// How a prepare or service call treats what happened before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PrepareOptions {
    /// The spec changed since the last successful preparation: the steps must run again.
    pub unprepared: bool,
    /// The previous attempt failed: start it again instead of reporting that failure.
    pub restart: bool,
}

/// Inputs of an inspection.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InspectData {
    /// `spec.bootMode`, to boot an inspection ramdisk in.
    pub boot_mode: BootMode,
    /// `spec.inspectionMode`: out of band (`fast`), with an agent, or none.
    pub inspection_mode: InspectionMode,
}

/// What an inspection call reports.
#[derive(Clone, Debug, PartialEq)]
pub struct InspectOutcome {
    pub outcome: Outcome,
    /// Whether this call started the inspection.
    pub started: bool,
    /// The inventory, once inspection is done.
    pub details: Option<HardwareDetails>,
}

/// Observed hardware state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HardwareState {
    /// `None` when the power state cannot be read right now.
    pub powered_on: Option<bool>,
}

/// Inputs of preparation (and, minus RAID, of servicing).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PrepareData {
    /// `spec.raid`: the RAID layout wanted.
    pub target_raid: Option<RaidConfig>,
    /// `status.provisioning.raid`: the layout the last preparation applied.
    pub actual_raid: Option<RaidConfig>,
    /// `spec.rootDeviceHints`: which disk the image goes to.
    pub root_device_hints: Option<RootDeviceHints>,
    /// `spec.firmware`: the legacy firmware (BIOS) switches.
    pub firmware_config: Option<FirmwareConfig>,
    /// The HostFirmwareSettings spec: settings to apply.
    pub target_firmware_settings: BTreeMap<String, IntOrString>,
    /// The HostFirmwareSettings status: settings as last read from the host.
    pub actual_firmware_settings: BTreeMap<String, String>,
    /// The HostFirmwareComponents spec: firmware images to flash.
    pub target_firmware_components: Vec<FirmwareUpdate>,
    /// Whether a HostFirmwareSettings object exists for the host (its absence is not a
    /// request to reset every setting).
    pub has_firmware_spec: bool,
}

/// What a prepare or service call reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareOutcome {
    pub outcome: Outcome,
    /// Whether this call started the operation.
    pub started: bool,
}

/// User data, network data and meta data, already read from their Secrets.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HostConfig {
    /// The content of `spec.userData`'s Secret (`userData` or `value` key).
    pub user_data: Option<String>,
    /// The content of `spec.networkData`'s Secret (`networkData` or `value` key).
    pub network_data: Option<String>,
    /// The content of `spec.metaData`'s Secret (`metaData` or `value` key).
    pub meta_data: Option<String>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // User data routinely carries secrets: show only what is present.
        f.debug_struct("HostConfig")
            .field("user_data", &self.user_data.as_ref().map(|_| "<set>"))
            .field("network_data", &self.network_data.as_ref().map(|_| "<set>"))
            .field("meta_data", &self.meta_data.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Inputs of provisioning.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ProvisionData {
    /// `spec.image`: what to write or boot.
    pub image: Image,
    /// User data, network data and meta data for the config drive.
    pub host_config: HostConfig,
    /// `spec.bootMode`.
    pub boot_mode: BootMode,
    /// `spec.hardwareProfile` (kept for compatibility with upstream).
    pub hardware_profile: String,
    /// `spec.rootDeviceHints`: which disk the image goes to.
    pub root_device_hints: Option<RootDeviceHints>,
    /// `spec.customDeploy`: a deploy step to run instead of writing `image`.
    pub custom_deploy: Option<CustomDeploy>,
    /// `spec.architecture`, else the inspected one.
    pub cpu_architecture: String,
}

/// How to power a host off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RebootMode {
    /// Ask the operating system to shut down (ACPI), falling back to a hard power-off.
    #[default]
    Soft,
    /// Cut the power at once.
    Hard,
}

/// Firmware settings and, when asked for, their schema.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FirmwareSettings {
    /// Every setting by name, with its current value as text.
    pub settings: BTreeMap<String, String>,
    /// The settings' schema (type, limits, allowed values, read-only), when asked for.
    pub schema: Option<BTreeMap<String, SettingSchema>>,
}

/// A BMC event subscription to create.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct EventSubscription {
    /// Where the BMC posts events (`spec.destination`).
    pub destination: String,
    /// Free text the BMC sends back with each event (`spec.context`).
    pub context: String,
    /// Headers the BMC adds to each post, from `spec.httpHeadersRef`'s Secret; often a token,
    /// so `Debug` shows only their names.
    pub http_headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for EventSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSubscription")
            .field("destination", &self.destination)
            .field("context", &self.context)
            .field(
                "http_headers",
                &self.http_headers.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The data image currently attached to a host.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DataImageStatus {
    /// The URL of the image in the host's virtual media, `None` when none is inserted.
    pub attached_url: Option<String>,
}

/// Health reported by the BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Health {
    /// The BMC reports the system healthy.
    Ok,
    /// The BMC reports a condition that needs attention.
    Warning,
    /// The BMC reports a critical condition.
    Critical,
    /// The BMC could not be asked, or does not say.
    #[default]
    Unknown,
}

/// A provisioning backend. See the crate documentation for the calling conventions.
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// The backend's name (`fixture`, `ironic`, `redfish`).
    fn name(&self) -> &'static str;

    /// HTTP requests sent to BMCs or to Ironic so far, for the operator's rates; `None` when
    /// the backend does not count them.
    fn backend_requests(&self) -> Option<u64> {
        None
    }

    /// HTTP requests sent so far to `host`'s BMC on its behalf (by this process), for the
    /// requests per phase in the host's step log; `None` when the backend does not count them.
    fn host_requests(&self, host: &HostData) -> Option<u64> {
        let _ = host;
        None
    }

    /// Makes the host known to the backend and checks BMC access. Returns the backend's host
    /// identifier once known. See [`RegisterOptions`] for new credentials and retries.
    async fn register(
        &self,
        host: &HostData,
        data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)>;

    /// Image formats the backend can boot for preprovisioning, `None` when it needs none.
    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>>;

    /// Inspects the hardware. See [`InspectOptions`] for retries, refreshes and forced reboots.
    async fn inspect_hardware(
        &self,
        host: &HostData,
        data: &InspectData,
        options: InspectOptions,
    ) -> ProvResult<InspectOutcome>;

    /// Reads the host's current power state.
    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState>;

    /// Takes over a host that is already provisioned (externally or by a previous registration).
    async fn adopt(
        &self,
        host: &HostData,
        state: &ProvisioningState,
        restart: bool,
    ) -> ProvResult<Outcome>;

    /// Applies RAID, root device hints, firmware settings and components before provisioning.
    async fn prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome>;

    /// Applies firmware settings or components to a provisioned host (servicing).
    async fn service(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome>;

    /// Writes the image (or boots the live ISO / runs the custom deploy) and boots the host.
    async fn provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force_reboot: bool,
    ) -> ProvResult<Outcome>;

    /// Removes the image, cleaning disks as `cleaning_mode` says.
    async fn deprovision(
        &self,
        host: &HostData,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome>;

    /// Forgets the host entirely.
    async fn delete(&self, host: &HostData) -> ProvResult<Outcome>;

    /// Forgets the host without touching it (it keeps running whatever it runs).
    async fn detach(&self, host: &HostData, force: bool) -> ProvResult<Outcome>;

    /// Powers the host on.
    async fn power_on(&self, host: &HostData, force: bool) -> ProvResult<Outcome>;

    /// Powers the host off.
    async fn power_off(
        &self,
        host: &HostData,
        mode: RebootMode,
        force: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome>;

    /// Whether the backend can take one more host into a capacity-limited state (inspecting,
    /// provisioning, deprovisioning).
    async fn has_capacity(&self, host: &HostData) -> ProvResult<bool>;

    /// Current firmware (BIOS) settings and, with `include_schema`, their schema.
    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings>;

    /// Firmware components (bmc, bios, nic:*) with their versions.
    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>>;

    /// Subscribes to BMC events; returns the subscription's identifier.
    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)>;

    /// Removes a BMC event subscription.
    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome>;

    /// Which data image is attached.
    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus>;

    /// Attaches a data image as virtual media.
    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome>;

    /// Detaches the data image.
    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome>;

    /// Whether the last power change failed at the BMC.
    async fn has_power_failure(&self, host: &HostData) -> ProvResult<bool>;

    /// Health reported by the BMC.
    async fn health(&self, host: &HostData) -> ProvResult<Health>;

    /// What a long operation on the host (inspecting, preparing, provisioning,
    /// deprovisioning) is doing now, in a few words for the host's `Progressing` condition,
    /// e.g. how much of the image is written; `None` when the backend has nothing to add. It
    /// should change at most every few seconds (each change is a status write) and never show
    /// user data or credentials.
    fn progress(&self, _host: &HostData) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let creds = Credentials {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        let host = HostData {
            credentials: creds,
            ..HostData::default()
        };
        let shown = format!("{host:?}");
        assert!(shown.contains("admin"));
        assert!(!shown.contains("hunter2"), "{shown}");

        let config = HostConfig {
            user_data: Some("#cloud-config\npassword: hunter2".into()),
            ..HostConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<set>"));

        let sub = EventSubscription {
            destination: "https://events.example".into(),
            context: String::new(),
            http_headers: [("Authorization".to_string(), "Bearer hunter2".to_string())].into(),
        };
        let shown = format!("{sub:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Authorization"));
    }

    #[test]
    fn outcome_helpers() {
        assert!(Outcome::Done.is_done());
        assert!(!Outcome::wait(Duration::from_secs(1)).is_done());
        assert_eq!(
            Outcome::failed("boom"),
            Outcome::Failed {
                message: "boom".into()
            }
        );
    }
}
