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

mod enums;
mod spec_types;
mod status;

pub use enums::*;
pub use spec_types::*;
pub use status::*;

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
