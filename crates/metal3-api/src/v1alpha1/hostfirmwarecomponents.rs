//! HostFirmwareComponents: firmware versions of a host and the updates to flash.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, conditions_list_map};

/// Firmware updates for the host with the same name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostFirmwareComponents",
    derive = "PartialEq",
    plural = "hostfirmwarecomponents",
    singular = "hostfirmwarecomponents",
    namespaced,
    status = "HostFirmwareComponentsStatus",
    doc = "Firmware of the BareMetalHost with the same name: updates to apply and versions found."
)]
pub struct HostFirmwareComponentsSpec {
    /// Firmware images to flash.
    pub updates: Vec<FirmwareUpdate>,
}

/// One firmware image to flash onto a component.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FirmwareUpdate {
    /// Component to update: `bios`, `bmc` or `nic:<id>`.
    pub component: String,
    /// Where to download the firmware image.
    pub url: String,
}

/// Firmware versions found on the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostFirmwareComponentsStatus {
    /// Firmware components and their versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<FirmwareComponentStatus>,
    /// ChangeDetected and Valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Vec<Condition>,
    /// When the versions were last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Updates last applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<FirmwareUpdate>,
}

/// Versions of one firmware component.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareComponentStatus {
    /// Component name: `bios`, `bmc` or `nic:<id>`.
    pub component: String,
    /// Version now running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Version found when the host was first seen.
    pub initial_version: String,
    /// Version last flashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version_flashed: Option<String>,
    /// When it was last flashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
}
