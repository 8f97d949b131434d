//! What the operator reports on a BareMetalHost: its status, the provisioning record, the
//! credentials it validated and the history of operations.

use super::*;

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
