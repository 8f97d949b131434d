//! The records a BareMetalHost's spec is made of: BMC details, root device hints, RAID and
//! firmware configuration, the image, custom deploy and network interfaces.

use super::*;

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
