//! HostFirmwareSettings: desired and current BIOS/UEFI settings of a host.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, conditions_list_map, no_default};

/// Firmware settings to apply to the host with the same name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostFirmwareSettings",
    derive = "PartialEq",
    plural = "hostfirmwaresettings",
    singular = "hostfirmwaresettings",
    namespaced,
    status = "HostFirmwareSettingsStatus",
    shortname = "hfs",
    doc = "BIOS/UEFI settings of the BareMetalHost with the same name: what should be set, and what is."
)]
pub struct HostFirmwareSettingsSpec {
    /// Settings to apply, by name; values are strings or integers.
    pub settings: BTreeMap<String, IntOrString>,
}

/// Settings as read from the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["settings"]))]
pub struct HostFirmwareSettingsStatus {
    /// ChangeDetected and Valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Vec<Condition>,
    /// When the settings were last read from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The FirmwareSchema the settings are checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaReference>,
    /// Current settings by name (passwords are never listed).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub settings: BTreeMap<String, String>,
}

/// Reference to a FirmwareSchema.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SchemaReference {
    /// Name of the FirmwareSchema.
    pub name: String,
    /// Namespace of the FirmwareSchema.
    pub namespace: String,
}
