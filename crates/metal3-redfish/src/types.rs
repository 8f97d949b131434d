//! The Redfish resources the provisioner reads, typed leniently: every property is optional,
//! since BMCs differ in what they fill in, and unknown properties are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A link: `{"@odata.id": "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Link {
    #[serde(rename = "@odata.id")]
    pub id: String,
}

/// A resource collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Collection {
    pub members: Vec<Link>,
}

/// `Status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Status {
    pub state: Option<String>,
    pub health: Option<String>,
}

/// `ProtocolFeaturesSupported.ExpandQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExpandQuery {
    pub expand_all: bool,
    pub levels: bool,
    pub links: bool,
    pub no_links: bool,
    pub max_levels: Option<u32>,
}

/// `ProtocolFeaturesSupported`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ProtocolFeatures {
    pub expand_query: Option<ExpandQuery>,
    pub select_query: bool,
}

/// The service root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceRoot {
    pub redfish_version: Option<String>,
    pub systems: Option<Link>,
    pub managers: Option<Link>,
    pub session_service: Option<Link>,
    pub update_service: Option<Link>,
    pub event_service: Option<Link>,
    pub registries: Option<Link>,
    pub protocol_features_supported: Option<ProtocolFeatures>,
    pub links: Option<RootLinks>,
}

/// `ServiceRoot.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RootLinks {
    pub sessions: Option<Link>,
}

/// `ComputerSystem.Boot`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Boot {
    pub boot_source_override_target: Option<String>,
    pub boot_source_override_enabled: Option<String>,
    pub boot_source_override_mode: Option<String>,
    #[serde(rename = "BootSourceOverrideTarget@Redfish.AllowableValues")]
    pub allowed_targets: Vec<String>,
    pub http_boot_uri: Option<String>,
}

/// `ProcessorSummary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ProcessorSummary {
    pub count: Option<u32>,
    pub model: Option<String>,
}

/// `MemorySummary`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MemorySummary {
    pub total_system_memory_gi_b: Option<f64>,
}

/// `ComputerSystem.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SystemLinks {
    pub managed_by: Vec<Link>,
    pub chassis: Vec<Link>,
}

/// A `ComputerSystem`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ComputerSystem {
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "UUID")]
    pub uuid: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub power_state: Option<String>,
    pub bios_version: Option<String>,
    pub status: Status,
    pub boot: Boot,
    pub processor_summary: ProcessorSummary,
    pub memory_summary: MemorySummary,
    pub processors: Option<Link>,
    pub memory: Option<Link>,
    pub ethernet_interfaces: Option<Link>,
    pub simple_storage: Option<Link>,
    pub storage: Option<Link>,
    pub bios: Option<Link>,
    pub secure_boot: Option<Link>,
    pub links: SystemLinks,
}

/// `SecureBoot`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SecureBoot {
    pub secure_boot_enable: Option<bool>,
    pub secure_boot_current_boot: Option<String>,
}

/// A `Processor`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Processor {
    pub id: String,
    pub model: Option<String>,
    pub processor_architecture: Option<String>,
    pub instruction_set: Option<String>,
    pub max_speed_m_hz: Option<u32>,
    pub total_cores: Option<u32>,
    pub total_threads: Option<u32>,
}

/// A `Memory` module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Memory {
    pub id: String,
    pub capacity_mi_b: Option<u64>,
}

/// An `EthernetInterface`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EthernetInterface {
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "MACAddress")]
    pub mac_address: Option<String>,
    #[serde(rename = "PermanentMACAddress")]
    pub permanent_mac_address: Option<String>,
    pub speed_mbps: Option<u64>,
    pub link_status: Option<String>,
}

/// A `Storage` subsystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Storage {
    pub id: String,
    pub drives: Vec<Link>,
    pub volumes: Option<Link>,
    pub storage_controllers: Vec<StorageController>,
}

/// One entry of `Storage.StorageControllers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StorageController {
    pub name: Option<String>,
    #[serde(rename = "SupportedRAIDTypes")]
    pub supported_raid_types: Vec<String>,
}

/// A `Drive`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Drive {
    pub id: String,
    pub name: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub capacity_bytes: Option<u64>,
    pub media_type: Option<String>,
    pub protocol: Option<String>,
    #[serde(rename = "RotationSpeedRPM")]
    pub rotation_speed_rpm: Option<f64>,
}

/// A `Volume`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Volume {
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "RAIDType")]
    pub raid_type: Option<String>,
    pub capacity_bytes: Option<u64>,
    pub links: VolumeLinks,
}

/// `Volume.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeLinks {
    pub drives: Vec<Link>,
}

/// `@Redfish.Settings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Settings {
    pub settings_object: Option<Link>,
}

/// `Bios`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Bios {
    pub attribute_registry: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    #[serde(rename = "@Redfish.Settings")]
    pub settings: Option<Settings>,
}

/// One attribute of an attribute registry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryAttribute {
    pub attribute_name: String,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub read_only: bool,
    pub reset_required: Option<bool>,
    pub lower_bound: Option<i64>,
    pub upper_bound: Option<i64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub value: Vec<RegistryValue>,
}

/// An allowed value of an enumeration attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryValue {
    pub value_name: String,
}

/// `RegistryEntries`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryEntries {
    pub attributes: Vec<RegistryAttribute>,
}

/// An `AttributeRegistry`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AttributeRegistry {
    pub id: String,
    pub registry_entries: RegistryEntries,
}

/// A `MessageRegistryFile` (how to find a registry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryFile {
    pub id: String,
    pub registry: Option<String>,
    pub location: Vec<RegistryLocation>,
}

/// One `Location` of a registry file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryLocation {
    pub language: Option<String>,
    pub uri: Option<String>,
}

/// A `Manager`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Manager {
    pub id: String,
    pub firmware_version: Option<String>,
    pub virtual_media: Option<Link>,
}

/// A `VirtualMedia` device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VirtualMedia {
    pub id: String,
    pub media_types: Vec<String>,
    pub image: Option<String>,
    pub inserted: Option<bool>,
}

/// A `SoftwareInventory` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SoftwareInventory {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub software_id: Option<String>,
    pub updateable: Option<bool>,
}

/// A `Task`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Task {
    pub id: String,
    pub task_state: Option<String>,
    pub task_status: Option<String>,
    pub percent_complete: Option<u32>,
    pub messages: Vec<TaskMessage>,
}

/// One of a task's messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskMessage {
    pub message: Option<String>,
}

impl Task {
    /// Whether the task has finished, one way or another.
    pub fn finished(&self) -> bool {
        matches!(
            self.task_state.as_deref(),
            Some("Completed" | "Exception" | "Killed" | "Cancelled" | "Interrupted")
        )
    }

    /// Whether it finished badly.
    pub fn failed(&self) -> bool {
        matches!(
            self.task_state.as_deref(),
            Some("Exception" | "Killed" | "Cancelled" | "Interrupted")
        ) || matches!(self.task_status.as_deref(), Some("Critical"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_about_what_bmcs_leave_out() {
        let s: ComputerSystem = serde_json::from_value(json!({"Id": "1"})).expect("minimal");
        assert_eq!(s.id, "1");
        assert!(s.power_state.is_none());
        let s: ComputerSystem = serde_json::from_value(json!({
            "Id": "1", "PowerState": "On", "UUID": "u",
            "MemorySummary": {"TotalSystemMemoryGiB": 64},
            "Boot": {"BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Cd"]},
            "Links": {"ManagedBy": [{"@odata.id": "/redfish/v1/Managers/1"}]},
            "Oem": {"Vendor": {"Anything": true}},
        }))
        .expect("full");
        assert_eq!(s.memory_summary.total_system_memory_gi_b, Some(64.0));
        assert_eq!(s.boot.allowed_targets, ["Pxe", "Cd"]);
        assert_eq!(s.links.managed_by[0].id, "/redfish/v1/Managers/1");
        assert_eq!(s.uuid.as_deref(), Some("u"));
    }

    #[test]
    fn task_states() {
        let t = |state: &str| Task {
            task_state: Some(state.into()),
            ..Task::default()
        };
        assert!(!t("Running").finished());
        assert!(t("Completed").finished() && !t("Completed").failed());
        assert!(t("Exception").failed());
    }
}
