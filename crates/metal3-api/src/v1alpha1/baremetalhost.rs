//! BareMetalHost: one physical server, its BMC, desired power and image, and what the operator
//! knows about it.
//!
//! Field presence follows upstream's Go encoding, so documents written by upstream round-trip
//! unchanged: zero-valued optional scalars and empty lists are left out, records that upstream
//! embeds by value (`spec.bmc`, `status.goodCredentials`, `status.operationHistory`,
//! `status.provisioning.image`, ...) are always written, and the two RAID volume lists and the
//! operation timestamps are written as `null` when unset.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::{
    Condition, ObjectReference, SecretReference, conditions_list_map, is_false, no_default,
    plain_integer,
};
use super::hardwaredata::{HardwareDetails, wire_enum};

/// Schema transform for the status: the two counters have a server-side default of 0 and are
/// still required, as upstream declares them.
fn require_counters(schema: &mut schemars::Schema) {
    let required = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = required.as_array_mut() {
        for name in ["errorCount", "provisioningFailCount"] {
            if !list.iter().any(|v| v == name) {
                list.push(name.into());
            }
        }
    }
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// Schema of `spec.taints[]`. The field itself is a `k8s_openapi` [`Taint`]; this mirror only
/// describes it, in our own words.
#[allow(dead_code)]
mod core_schema {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use schemars::JsonSchema;

    /// A node taint.
    #[derive(JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Taint {
        /// What happens to pods that do not tolerate the taint: `NoSchedule`,
        /// `PreferNoSchedule` or `NoExecute`.
        effect: String,
        /// Taint key.
        key: String,
        /// When a `NoExecute` taint was added.
        time_added: Option<Time>,
        /// Taint value.
        value: Option<String>,
    }
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

wire_enum! {
    /// Firmware boot mode used to boot the host.
    #[derive(Default)]
    pub enum BootMode {
        /// UEFI boot (the default when none is set).
        #[default]
        Uefi => "UEFI",
        /// UEFI boot with Secure Boot enforced.
        UefiSecureBoot => "UEFISecureBoot",
        /// Legacy BIOS boot.
        Legacy => "legacy",
    }
}

wire_enum! {
    /// Whether disks are wiped when a host is deprovisioned or first made available.
    #[derive(Default)]
    pub enum AutomatedCleaningMode {
        /// Clean disk metadata (partition tables, file system signatures). The default.
        #[default]
        Metadata => "metadata",
        /// Skip cleaning.
        Disabled => "disabled",
    }
}

wire_enum! {
    /// How hardware inspection is done (unset means `agent`).
    #[derive(Default)]
    pub enum InspectionMode {
        /// Do not inspect; the host's HardwareData, if any, must come from elsewhere.
        Disabled => "disabled",
        /// Boot the inspection ramdisk on the host and collect a full inventory.
        #[default]
        Agent => "agent",
        /// Ask the BMC only (out-of-band, e.g. Redfish); quicker but less detailed.
        Fast => "fast",
    }
}

wire_enum! {
    /// Hash algorithm of an image checksum.
    pub enum ChecksumType {
        /// MD5.
        Md5 => "md5",
        /// SHA-256.
        Sha256 => "sha256",
        /// SHA-512.
        Sha512 => "sha512",
        /// Detect the algorithm from the checksum's length.
        Auto => "auto",
    }
}

wire_enum! {
    /// On-disk format of an image.
    pub enum ImageFormat {
        /// Raw disk image.
        Raw => "raw",
        /// QEMU copy-on-write v2.
        Qcow2 => "qcow2",
        /// VirtualBox disk image.
        Vdi => "vdi",
        /// VMware disk image.
        Vmdk => "vmdk",
        /// Bootable ISO attached as virtual media and booted as is, without writing to disk.
        LiveIso => "live-iso",
    }
}

wire_enum! {
    /// RAID level of a hardware RAID volume.
    pub enum HardwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        Raid1 => "1",
        /// Bit-level striping with Hamming-code parity.
        Raid2 => "2",
        /// Striping with distributed parity.
        Raid5 => "5",
        /// Striping with double distributed parity.
        Raid6 => "6",
        /// Stripe of mirrors.
        Raid10 => "1+0",
        /// Stripe of RAID-5 sets.
        Raid50 => "5+0",
        /// Stripe of RAID-6 sets.
        Raid60 => "6+0",
    }
}

wire_enum! {
    /// RAID level of a software (Linux md) RAID volume.
    pub enum SoftwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        Raid1 => "1",
        /// Stripe of mirrors.
        Raid10 => "1+0",
    }
}

wire_enum! {
    /// Overall health of a host as the operator sees it.
    #[derive(Default)]
    pub enum OperationalStatus {
        /// Not determined yet.
        #[default]
        None => "",
        /// Working as expected.
        Ok => "OK",
        /// Found, but its BMC details are missing or incomplete.
        Discovered => "discovered",
        /// The last operation failed; see `errorType` and `errorMessage`.
        Error => "error",
        /// Provisioning is held back, e.g. by a concurrency limit.
        Delayed => "delayed",
        /// Detached from the provisioner; the operator leaves it alone.
        Detached => "detached",
        /// Undergoing servicing (firmware settings or updates) while provisioned.
        Servicing => "servicing",
    }
}

wire_enum! {
    /// Category of the most recent failure.
    pub enum ErrorType {
        /// A host created as already provisioned could not be registered.
        ProvisionedRegistration => "provisioned registration error",
        /// Registering the host with the provisioner failed (often bad BMC credentials or an
        /// unreachable BMC).
        Registration => "registration error",
        /// Hardware inspection failed.
        Inspection => "inspection error",
        /// Preparing (cleaning, RAID, firmware settings) failed.
        Preparation => "preparation error",
        /// Writing the image or deploying failed.
        Provisioning => "provisioning error",
        /// Powering the host on or off failed.
        PowerManagement => "power management error",
        /// Detaching the host from the provisioner failed.
        Detach => "detach error",
        /// Servicing a provisioned host failed.
        Servicing => "servicing error",
    }
}

/// Where a host is in its lifecycle (`status.provisioning.state`).
///
/// The schema leaves this a free string, so a value this version does not know decodes as
/// [`ProvisioningState::Other`] instead of failing and round-trips unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProvisioningState {
    /// No state yet: the host was just created.
    #[default]
    None,
    /// No BMC details, so the host cannot be managed.
    Unmanaged,
    /// Being registered with the provisioner and its BMC credentials checked.
    Registering,
    /// Legacy state, from when hosts were matched to hardware profiles.
    MatchProfile,
    /// Being cleaned and configured (RAID, firmware settings) before use.
    Preparing,
    /// Older name for `available`.
    Ready,
    /// Ready to be provisioned.
    Available,
    /// An image is being written.
    Provisioning,
    /// An image has been written and the host is in use.
    Provisioned,
    /// Provisioned by something else; only power is managed.
    ExternallyProvisioned,
    /// The image is being removed.
    Deprovisioning,
    /// Hardware is being inspected.
    Inspecting,
    /// Being powered off before deletion.
    PoweringOffBeforeDelete,
    /// Being deleted.
    Deleting,
    /// A state this version does not know, kept verbatim.
    Other(String),
}

impl ProvisioningState {
    /// Every state this version knows, in declaration order.
    pub const KNOWN: &'static [Self] = &[
        Self::None,
        Self::Unmanaged,
        Self::Registering,
        Self::MatchProfile,
        Self::Preparing,
        Self::Ready,
        Self::Available,
        Self::Provisioning,
        Self::Provisioned,
        Self::ExternallyProvisioned,
        Self::Deprovisioning,
        Self::Inspecting,
        Self::PoweringOffBeforeDelete,
        Self::Deleting,
    ];

    /// The state as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "",
            Self::Unmanaged => "unmanaged",
            Self::Registering => "registering",
            Self::MatchProfile => "match profile",
            Self::Preparing => "preparing",
            Self::Ready => "ready",
            Self::Available => "available",
            Self::Provisioning => "provisioning",
            Self::Provisioned => "provisioned",
            Self::ExternallyProvisioned => "externally provisioned",
            Self::Deprovisioning => "deprovisioning",
            Self::Inspecting => "inspecting",
            Self::PoweringOffBeforeDelete => "powering off before delete",
            Self::Deleting => "deleting",
            Self::Other(s) => s,
        }
    }

    /// Whether this is one of [`Self::KNOWN`].
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl From<&str> for ProvisioningState {
    fn from(value: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|s| s.as_str() == value)
            .cloned()
            .unwrap_or_else(|| Self::Other(value.to_string()))
    }
}

impl From<String> for ProvisioningState {
    fn from(value: String) -> Self {
        match Self::from(value.as_str()) {
            Self::Other(_) => Self::Other(value),
            known => known,
        }
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProvisioningState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProvisioningState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

impl JsonSchema for ProvisioningState {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ProvisioningState".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

// ---------------------------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------------------------

/// Desired state of a bare metal host: how to reach its BMC, whether it should be powered on,
/// and what to deploy on it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "BareMetalHost",
    namespaced,
    status = "BareMetalHostStatus",
    derive = "PartialEq",
    shortname = "bmh",
    shortname = "bmhost",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.operationalStatus",
        description = "Operational health of the host",
        priority = 1
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.provisioning.state",
        description = "Lifecycle state"
    ),
    printcolumn(
        name = "Consumer",
        type_ = "string",
        json_path = ".spec.consumerRef.name",
        description = "Object that has claimed the host"
    ),
    printcolumn(
        name = "BMC",
        type_ = "string",
        json_path = ".spec.bmc.address",
        description = "BMC address",
        priority = 1
    ),
    printcolumn(
        name = "Online",
        type_ = "string",
        json_path = ".spec.online",
        description = "Desired power state"
    ),
    printcolumn(
        name = "Error",
        type_ = "string",
        json_path = ".status.errorType",
        description = "Category of the last error"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the host was created"
    ),
    doc = "A physical server managed through its baseboard management controller (BMC): \
           registered, inspected, cleaned, provisioned with an image and deprovisioned by the \
           operator."
)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalHostSpec {
    /// Deprecated and ignored: taints meant for the node running on this host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<core_schema::Taint>")]
    pub taints: Vec<Taint>,
    /// How to reach the host's BMC. Without an address the host stays unmanaged.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub bmc: BmcDetails,
    /// RAID volumes to build while the host is being prepared. Needs a BMC driver that
    /// supports RAID for hardware volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated BIOS settings; rejected by the webhook. Use HostFirmwareSettings instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Deprecated: name of a built-in hardware profile, which only supplies default root
    /// device hints.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hardware_profile: String,
    /// Hints for choosing the disk the image is written to. With several hints, a disk must
    /// match all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Boot mode to use; UEFI when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// MAC address of the NIC the host network-boots from. Required by BMC drivers that
    /// PXE-boot; cannot be changed once set.
    #[serde(
        rename = "bootMACAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    #[schemars(regex(pattern = r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}"))]
    pub boot_mac_address: String,
    /// Whether the host should be powered on.
    pub online: bool,
    /// The object (typically a cluster-api Metal3Machine) that has claimed this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_ref: Option<ObjectReference>,
    /// Image to write to the host. Setting it starts provisioning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Secret (in the host's namespace) with user data for the config drive, e.g. cloud-init.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// Name of a Secret with the network configuration for the deployment ramdisk. Also used
    /// for the provisioned host when `networkData` is unset.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preprovisioning_network_data_name: String,
    /// Secret (in the host's namespace) with network configuration for the config drive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Secret (in the host's namespace) with extra metadata for the config drive; defaults
    /// are generated when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Free text to help people recognise the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The host already runs an operating system installed by other means: manage power only,
    /// and never inspect, clean or provision it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub externally_provisioned: bool,
    /// Disk cleaning before first use and after deprovisioning.
    #[serde(default)]
    pub automated_cleaning_mode: AutomatedCleaningMode,
    /// Deploy with a custom ramdisk deploy step instead of writing `image`. Setting it starts
    /// provisioning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// CPU architecture of the host, e.g. `x86_64` or `aarch64`; filled in from the
    /// inspection data when unset.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    /// Never power the host off: reboot where a power cycle would be used, and refuse power-off
    /// requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_power_off: bool,
    /// How to inspect the hardware; agent-based when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection_mode: Option<InspectionMode>,
    /// Network interfaces of the host and the switch ports they connect to, for network
    /// configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
}

/// Connection details of a BMC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BmcDetails {
    /// BMC URL; its scheme selects the driver, e.g. `ipmi://10.0.0.5` or
    /// `redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1`.
    pub address: String,
    /// Name of the Secret, in the host's namespace, holding `username` and `password`.
    pub credentials_name: String,
    /// Accept the BMC's TLS certificate without verifying it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_certificate_verification: bool,
}

/// Criteria for the root disk. Empty fields are ignored.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootDeviceHints {
    /// Device path: `/dev/sda` style, or a `/dev/disk/by-path/` link.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_name: String,
    /// SCSI address as Host:Channel:Target:Lun, e.g. `0:0:0:0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hctl: String,
    /// Substring of the device model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Substring of the device vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// Exact serial number of the device.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
    /// Smallest acceptable size, in GB.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    #[schemars(range(min = 0), transform = plain_integer)]
    pub min_size_gigabytes: i64,
    /// Exact World Wide Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn: String,
    /// Exact World Wide Name including the vendor extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_with_extension: String,
    /// Exact vendor extension of the World Wide Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_vendor_extension: String,
    /// True for spinning disks only, false for solid-state only; either when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
}

/// RAID layout. Hardware and software volumes are mutually exclusive.
///
/// Both lists are written as `null` when unset: `null` leaves any existing configuration
/// alone, while an empty list removes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RaidConfig {
    /// Volumes for the hardware RAID controller; an empty list deletes existing volumes.
    #[serde(rename = "hardwareRAIDVolumes")]
    pub hardware_raid_volumes: Option<Vec<HardwareRaidVolume>>,
    /// Linux software RAID volumes (at most two); the first one must be RAID-1.
    #[serde(rename = "softwareRAIDVolumes")]
    #[schemars(length(max = 2))]
    pub software_raid_volumes: Option<Vec<SoftwareRaidVolume>>,
}

/// One volume built by the hardware RAID controller.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareRaidVolume {
    /// Size in GiB; 0 or unset uses all the space available.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), transform = plain_integer)]
    pub size_gibibytes: Option<i64>,
    /// RAID level.
    pub level: HardwareRaidLevel,
    /// Volume name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 64))]
    pub name: String,
    /// Use only rotating (true) or only solid-state (false) disks; any when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// How many disks to build the volume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), transform = plain_integer)]
    pub number_of_physical_disks: Option<i64>,
    /// RAID controller to use, by the name the BMC gives it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub controller: String,
    /// Disks to use, by the names the BMC gives them; requires `controller`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub physical_disks: Vec<String>,
}

/// One Linux software RAID volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareRaidVolume {
    /// Deprecated: whether this volume holds the root file system (only the first may).
    #[serde(default)]
    pub root_volume: bool,
    /// Size in GiB; 0 or unset uses all the space available.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), transform = plain_integer)]
    pub size_gibibytes: Option<i64>,
    /// RAID level.
    pub level: SoftwareRaidLevel,
    /// Member disks, each chosen by root-device-style hints; at least two when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 2))]
    pub physical_disks: Vec<RootDeviceHints>,
}

/// Deprecated BIOS switches.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareConfig {
    /// CPU virtualization extensions (VT-x, AMD-V).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [true, false]))]
    pub virtualization_enabled: Option<bool>,
    /// Simultaneous multithreading (Hyper-Threading).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [true, false]))]
    pub simultaneous_multithreading_enabled: Option<bool>,
    /// SR-IOV support.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [true, false]))]
    pub sriov_enabled: Option<bool>,
}

/// Image to deploy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Where to download the image: `http(s)://`, `file://` or `oci://`.
    pub url: String,
    /// Checksum of the image, or a URL to a file of checksums. Required except for `live-iso`
    /// and `oci://` images; must be empty for `oci://` images.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    /// Algorithm of `checksum`; guessed from its length when unset or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<ChecksumType>,
    /// Image format; `live-iso` boots the ISO instead of writing it to disk.
    #[serde(rename = "format", skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<ImageFormat>,
    /// Name of a pull secret (`kubernetes.io/dockerconfigjson` or `dockercfg`) in the host's
    /// namespace for `oci://` images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci_auth_secret_name: Option<String>,
}

impl Image {
    /// Whether the image is booted as a live ISO rather than written to disk.
    pub fn is_live_iso(&self) -> bool {
        self.disk_format == Some(ImageFormat::LiveIso)
    }

    /// Whether the image comes from an OCI registry (`oci://`, any case).
    pub fn is_oci(&self) -> bool {
        is_oci_url(&self.url)
    }
}

/// Whether an image URL names an OCI registry (`oci://`, any case).
pub fn is_oci_url(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("oci://"))
}

/// Deployment by a custom deploy step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CustomDeploy {
    /// Name of the deploy step the ramdisk runs.
    pub method: String,
}

/// A host NIC and where it is plugged in.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// Interface name, e.g. `eno1`. Set this or `macAddress`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: String,
    /// Interface MAC address. Set this or `name`.
    #[serde(
        rename = "macAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"))]
    pub mac_address: String,
    /// HostNetworkAttachment describing the network configuration of the port.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub host_network_attachment: HostNetworkAttachmentRef,
    /// Switch and port the interface is cabled to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_port: Option<SwitchPort>,
}

impl NetworkInterface {
    /// The key identifying the interface: its MAC address when set, else its name.
    pub fn key(&self) -> &str {
        if self.mac_address.is_empty() {
            &self.name
        } else {
            &self.mac_address
        }
    }
}

/// Reference to a HostNetworkAttachment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostNetworkAttachmentRef {
    /// Name of the HostNetworkAttachment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Its namespace; the host's namespace when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 63))]
    pub namespace: String,
}

/// A port on a switch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SwitchPort {
    /// The switch, by its MAC address (as in LLDP chassis IDs).
    #[serde(rename = "switchID")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"))]
    pub switch_id: String,
    /// Port identifier on the switch, e.g. `Ethernet1/5`.
    #[serde(rename = "portID")]
    pub port_id: String,
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// Observed state of a bare metal host, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_counters)]
pub struct BareMetalHostStatus {
    /// Overall health of the host.
    pub operational_status: OperationalStatus,
    /// Category of the last failure; unset while there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
    /// When the status was last written. A status without it counts as never written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Deprecated: the hardware profile in use.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hardware_profile: String,
    /// Deprecated copy of the inspection results; read the HardwareData object instead.
    #[serde(rename = "hardware", skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareDetails>,
    /// What the provisioner has done with the host.
    pub provisioning: ProvisionStatus,
    /// The BMC credentials that last worked.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub good_credentials: CredentialsStatus,
    /// The BMC credentials last tried.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub tried_credentials: CredentialsStatus,
    /// Details of the last failure; empty while there is none.
    pub error_message: String,
    /// Whether the host was last seen powered on.
    pub powered_on: bool,
    /// When the main lifecycle operations last started and finished.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub operation_history: OperationHistory,
    /// Consecutive failures; drives the retry back-off. Reset on success.
    #[serde(default)]
    #[schemars(transform = plain_integer)]
    pub error_count: i64,
    /// Consecutive failed provisioning attempts.
    #[serde(default)]
    #[schemars(transform = plain_integer)]
    pub provisioning_fail_count: i64,
    /// The image of the last provisioning attempt, successful or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempted_image: Option<Image>,
    /// Conditions summarising the host (Manageable, AvailableForProvisioning, Provisioned,
    /// Ready, Progressing, Healthy), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), transform = conditions_list_map)]
    pub conditions: Vec<Condition>,
}

/// The provisioner's view of a host, including the settings it last applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionStatus {
    /// Lifecycle state.
    pub state: ProvisioningState,
    /// The provisioner's identifier for the host (the Ironic node UUID); empty before
    /// registration.
    #[serde(rename = "ID")]
    pub id: String,
    /// The image written to the host; its `url` is empty when none is.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub image: Image,
    /// Root device hints used for the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    /// Boot mode used for the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// RAID layout last applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raid: Option<RaidConfig>,
    /// Deprecated BIOS switches last applied (always empty now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareConfig>,
    /// Custom deploy method used for the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
}

/// A BMC credentials Secret at a given version.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// The Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretReference>,
    /// The Secret's `resourceVersion` when it was used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_version: String,
}

/// Start and end times of the main operations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OperationHistory {
    /// Registration.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub register: OperationMetric,
    /// Inspection.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub inspect: OperationMetric,
    /// Provisioning.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub provision: OperationMetric,
    /// Deprovisioning.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub deprovision: OperationMetric,
}

/// When an operation started and finished; `null` when it has not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OperationMetric {
    /// When the operation started.
    pub start: Option<Time>,
    /// When the operation finished.
    pub end: Option<Time>,
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

impl BareMetalHost {
    /// The lifecycle state; [`ProvisioningState::None`] when there is no status yet.
    pub fn provisioning_state(&self) -> ProvisioningState {
        self.status
            .as_ref()
            .map(|s| s.provisioning.state.clone())
            .unwrap_or_default()
    }

    /// The operational status; [`OperationalStatus::None`] when there is no status yet.
    pub fn operational_status(&self) -> OperationalStatus {
        self.status
            .as_ref()
            .map(|s| s.operational_status)
            .unwrap_or_default()
    }

    /// The boot mode to use: the spec's, else UEFI.
    pub fn boot_mode(&self) -> BootMode {
        self.spec.boot_mode.unwrap_or_default()
    }
}

impl BareMetalHostSpec {
    /// Whether any BMC detail (address or credentials) is set.
    pub fn has_bmc_details(&self) -> bool {
        !self.bmc.address.is_empty() || !self.bmc.credentials_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire<T: Serialize>(v: T) -> serde_json::Value {
        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
    }

    #[test]
    fn provisioning_state_wire_strings() {
        let expected = [
            (ProvisioningState::None, ""),
            (ProvisioningState::Unmanaged, "unmanaged"),
            (ProvisioningState::Registering, "registering"),
            (ProvisioningState::MatchProfile, "match profile"),
            (ProvisioningState::Preparing, "preparing"),
            (ProvisioningState::Ready, "ready"),
            (ProvisioningState::Available, "available"),
            (ProvisioningState::Provisioning, "provisioning"),
            (ProvisioningState::Provisioned, "provisioned"),
            (
                ProvisioningState::ExternallyProvisioned,
                "externally provisioned",
            ),
            (ProvisioningState::Deprovisioning, "deprovisioning"),
            (ProvisioningState::Inspecting, "inspecting"),
            (
                ProvisioningState::PoweringOffBeforeDelete,
                "powering off before delete",
            ),
            (ProvisioningState::Deleting, "deleting"),
        ];
        assert_eq!(expected.len(), ProvisioningState::KNOWN.len());
        for (state, s) in expected {
            assert_eq!(state.as_str(), s);
            assert_eq!(state.to_string(), s);
            assert_eq!(ProvisioningState::from(s), state);
            assert_eq!(wire(&state), json!(s));
            let back: Result<ProvisioningState, _> = serde_json::from_value(json!(s));
            assert_eq!(back.ok(), Some(state.clone()));
            assert!(state.is_known());
        }
        assert_eq!(ProvisioningState::default(), ProvisioningState::None);
    }

    #[test]
    fn unknown_provisioning_state_round_trips() {
        let state: Result<ProvisioningState, _> = serde_json::from_value(json!("servicing"));
        let state = state.ok();
        assert_eq!(
            state,
            Some(ProvisioningState::Other("servicing".to_string()))
        );
        assert!(!state.as_ref().is_some_and(ProvisioningState::is_known));
        assert_eq!(wire(state), json!("servicing"));
        assert_eq!(
            ProvisioningState::from("Ready".to_string()),
            ProvisioningState::Other("Ready".to_string())
        );
    }

    #[test]
    fn operational_status_wire_strings() {
        let expected = [
            (OperationalStatus::None, ""),
            (OperationalStatus::Ok, "OK"),
            (OperationalStatus::Discovered, "discovered"),
            (OperationalStatus::Error, "error"),
            (OperationalStatus::Delayed, "delayed"),
            (OperationalStatus::Detached, "detached"),
            (OperationalStatus::Servicing, "servicing"),
        ];
        assert_eq!(expected.len(), OperationalStatus::ALL.len());
        for (status, s) in expected {
            assert_eq!(status.as_str(), s);
            assert_eq!(status.to_string(), s);
            assert_eq!(OperationalStatus::from_wire(s), Some(status));
            assert_eq!(wire(status), json!(s));
        }
        assert_eq!(OperationalStatus::default(), OperationalStatus::None);
        assert_eq!(OperationalStatus::from_wire("NotOK"), None);
    }

    #[test]
    fn error_type_wire_strings() {
        let expected = [
            (
                ErrorType::ProvisionedRegistration,
                "provisioned registration error",
            ),
            (ErrorType::Registration, "registration error"),
            (ErrorType::Inspection, "inspection error"),
            (ErrorType::Preparation, "preparation error"),
            (ErrorType::Provisioning, "provisioning error"),
            (ErrorType::PowerManagement, "power management error"),
            (ErrorType::Detach, "detach error"),
            (ErrorType::Servicing, "servicing error"),
        ];
        assert_eq!(expected.len(), ErrorType::ALL.len());
        for (t, s) in expected {
            assert_eq!(t.as_str(), s);
            assert_eq!(ErrorType::from_wire(s), Some(t));
            assert_eq!(wire(t), json!(s));
        }
    }

    #[test]
    fn small_enum_wire_strings() {
        for (v, s) in [
            (BootMode::Uefi, "UEFI"),
            (BootMode::UefiSecureBoot, "UEFISecureBoot"),
            (BootMode::Legacy, "legacy"),
        ] {
            assert_eq!(wire(v), json!(s));
            assert_eq!(BootMode::from_wire(s), Some(v));
        }
        assert_eq!(BootMode::default(), BootMode::Uefi);
        for (v, s) in [
            (AutomatedCleaningMode::Metadata, "metadata"),
            (AutomatedCleaningMode::Disabled, "disabled"),
        ] {
            assert_eq!(wire(v), json!(s));
        }
        assert_eq!(
            AutomatedCleaningMode::default(),
            AutomatedCleaningMode::Metadata
        );
        for (v, s) in [
            (InspectionMode::Disabled, "disabled"),
            (InspectionMode::Agent, "agent"),
            (InspectionMode::Fast, "fast"),
        ] {
            assert_eq!(wire(v), json!(s));
        }
        for (v, s) in [
            (ChecksumType::Md5, "md5"),
            (ChecksumType::Sha256, "sha256"),
            (ChecksumType::Sha512, "sha512"),
            (ChecksumType::Auto, "auto"),
        ] {
            assert_eq!(wire(v), json!(s));
        }
        for (v, s) in [
            (ImageFormat::Raw, "raw"),
            (ImageFormat::Qcow2, "qcow2"),
            (ImageFormat::Vdi, "vdi"),
            (ImageFormat::Vmdk, "vmdk"),
            (ImageFormat::LiveIso, "live-iso"),
        ] {
            assert_eq!(wire(v), json!(s));
        }
        let hw: Vec<_> = HardwareRaidLevel::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(hw, ["0", "1", "2", "5", "6", "1+0", "5+0", "6+0"]);
        let sw: Vec<_> = SoftwareRaidLevel::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(sw, ["0", "1", "1+0"]);
        assert_eq!(wire(HardwareRaidLevel::Raid50), json!("5+0"));
    }

    #[test]
    fn unknown_enum_value_is_a_decoding_error() {
        let bad: Result<BootMode, _> = serde_json::from_value(json!("bogus"));
        assert!(bad.is_err_and(|e| e.to_string().contains("bogus")));
        let bad: Result<ChecksumType, _> = serde_json::from_value(json!("SHA42"));
        assert!(bad.is_err());
    }

    #[test]
    fn image_helpers() {
        let mut image = Image {
            url: "OCI://quay.io/os:1".into(),
            ..Default::default()
        };
        assert!(image.is_oci());
        assert!(!image.is_live_iso());
        image.url = "http://x/os.iso".into();
        image.disk_format = Some(ImageFormat::LiveIso);
        assert!(!image.is_oci());
        assert!(image.is_live_iso());
        image.url = "oci".into();
        assert!(!image.is_oci());
    }
}
