//! Ironic resources, typed leniently: fields we do not use are ignored, maps that belong to
//! Ironic and its drivers stay JSON.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Decodes an answer of Ironic's as a `T`; an error names the member that did not fit, as a
/// path from the top (`nodes[2].maintenance: invalid type: …`).
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        if at == "." {
            e.inner().to_string()
        } else {
            format!("{at}: {}", e.inner())
        }
    })
}

/// A node (one bare-metal server).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Node {
    pub uuid: String,
    pub name: Option<String>,
    pub driver: String,
    pub provision_state: String,
    pub target_provision_state: Option<String>,
    pub power_state: Option<String>,
    pub target_power_state: Option<String>,
    pub last_error: Option<String>,
    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    pub fault: Option<String>,
    pub reservation: Option<String>,
    pub instance_uuid: Option<String>,
    pub automated_clean: Option<bool>,
    pub disable_power_off: Option<bool>,
    pub boot_interface: Option<String>,
    pub deploy_interface: Option<String>,
    pub inspect_interface: Option<String>,
    pub raid_interface: Option<String>,
    pub firmware_interface: Option<String>,
    pub bios_interface: Option<String>,
    pub health: Option<String>,
    pub driver_info: Map<String, Value>,
    pub instance_info: Map<String, Value>,
    pub properties: Map<String, Value>,
    pub extra: Map<String, Value>,
    /// Network configuration for the agent's ramdisk (OpenStack network_data format).
    pub network_data: Value,
    pub inspection_started_at: Option<String>,
    pub inspection_finished_at: Option<String>,
}

impl Node {
    /// Whether an operation is under way (a target state is set).
    pub fn in_transition(&self) -> bool {
        self.target_provision_state
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    }
}

/// `GET /v1/nodes` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeList {
    pub nodes: Vec<Node>,
}

/// A NIC port of a node.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Port {
    pub uuid: String,
    pub address: String,
    pub node_uuid: String,
    pub pxe_enabled: Option<bool>,
    /// The switch and switch port the NIC is cabled to (`switch_id`, `port_id`, ...).
    pub local_link_connection: serde_json::Value,
    /// Free-form data; `switchport` holds the port's configuration for the networking service.
    pub extra: serde_json::Value,
}

/// `GET /v1/ports` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PortList {
    pub ports: Vec<Port>,
}

/// One enabled driver.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Driver {
    pub name: String,
}

/// `GET /v1/drivers` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct DriverList {
    pub drivers: Vec<Driver>,
}

/// The result of one interface's validation.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InterfaceValidation {
    pub result: Option<bool>,
    pub reason: Option<String>,
}

/// `GET /v1/nodes/{id}/validate` answer (interfaces we check).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Validation {
    pub boot: InterfaceValidation,
    pub deploy: InterfaceValidation,
    pub power: InterfaceValidation,
    pub management: InterfaceValidation,
}

/// One BIOS setting (`GET .../bios?detail=true`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BiosSetting {
    pub name: String,
    pub value: Option<Value>,
    pub attribute_type: Option<String>,
    pub allowable_values: Option<Vec<String>>,
    pub lower_bound: Option<i64>,
    pub upper_bound: Option<i64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub read_only: Option<bool>,
    pub unique: Option<bool>,
}

/// `GET .../bios` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BiosSettings {
    pub bios: Vec<BiosSetting>,
}

/// One firmware component (`GET .../firmware`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FirmwareComponent {
    pub component: String,
    pub initial_version: Option<String>,
    pub current_version: Option<String>,
    pub last_version_flashed: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// `GET .../firmware` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FirmwareComponents {
    pub firmware: Vec<FirmwareComponent>,
}

/// `GET .../inventory` answer: the inspection data.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InventoryData {
    pub inventory: Value,
    pub plugin_data: Value,
}

/// One event of a node's history.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HistoryEvent {
    pub event: String,
    pub severity: String,
    pub created_at: Option<String>,
}

/// `GET /v1/nodes/{id}/history` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct History {
    pub history: Vec<HistoryEvent>,
}

/// A clean, deploy or service step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub interface: String,
    pub step: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// The body of `PUT .../states/provision`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProvisionRequest {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configdrive: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_steps: Option<Vec<Step>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_steps: Option<Vec<Step>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_steps: Option<Vec<Step>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_ramdisk: Option<bool>,
}

impl ProvisionRequest {
    /// Just a target (`manage`, `provide`, `inspect`, `deleted`, `adopt`, `abort`, …).
    pub fn to(target: &str) -> Self {
        Self {
            target: target.into(),
            ..Self::default()
        }
    }
}

/// Provision states (`provision_state` values).
pub mod state {
    pub const ENROLL: &str = "enroll";
    pub const VERIFYING: &str = "verifying";
    pub const MANAGEABLE: &str = "manageable";
    pub const AVAILABLE: &str = "available";
    pub const ACTIVE: &str = "active";
    pub const DEPLOYING: &str = "deploying";
    pub const DEPLOY_WAIT: &str = "wait call-back";
    pub const DEPLOY_FAIL: &str = "deploy failed";
    pub const DEPLOY_HOLD: &str = "deploy hold";
    pub const DELETING: &str = "deleting";
    pub const CLEANING: &str = "cleaning";
    pub const CLEAN_WAIT: &str = "clean wait";
    pub const CLEAN_FAIL: &str = "clean failed";
    pub const CLEAN_HOLD: &str = "clean hold";
    pub const INSPECTING: &str = "inspecting";
    pub const INSPECT_WAIT: &str = "inspect wait";
    pub const INSPECT_FAIL: &str = "inspect failed";
    pub const ADOPTING: &str = "adopting";
    pub const ADOPT_FAIL: &str = "adopt failed";
    pub const RESCUE: &str = "rescue";
    pub const SERVICING: &str = "servicing";
    pub const SERVICE_WAIT: &str = "service wait";
    pub const SERVICE_FAIL: &str = "service failed";
    pub const SERVICE_HOLD: &str = "service hold";
    pub const ERROR: &str = "error";
}

/// Power states (`power_state` values).
pub mod power {
    pub const ON: &str = "power on";
    pub const OFF: &str = "power off";
    pub const SOFT_OFF: &str = "soft power off";
    pub const REBOOT: &str = "rebooting";
    pub const SOFT_REBOOT: &str = "soft rebooting";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_read_leniently() {
        let node: Node = serde_json::from_value(json!({
            "uuid": "u1",
            "name": "ns~host",
            "driver": "redfish",
            "provision_state": "available",
            "target_provision_state": null,
            "power_state": "power off",
            "maintenance": false,
            "driver_info": {"redfish_address": "https://bmc"},
            "something_new": 1,
            "links": [],
        }))
        .expect("node");
        assert_eq!(node.name.as_deref(), Some("ns~host"));
        assert!(!node.in_transition());
        assert_eq!(node.driver_info["redfish_address"], "https://bmc");
    }

    #[test]
    fn provision_requests_leave_out_what_is_not_set() {
        let body = serde_json::to_value(ProvisionRequest::to("manage")).expect("json");
        assert_eq!(body, json!({"target": "manage"}));
        let body = serde_json::to_value(ProvisionRequest {
            clean_steps: Some(vec![Step {
                interface: "bios".into(),
                step: "apply_configuration".into(),
                args: [("settings".to_string(), json!([]))].into_iter().collect(),
                priority: None,
            }]),
            ..ProvisionRequest::to("clean")
        })
        .expect("json");
        assert_eq!(
            body,
            json!({"target": "clean", "clean_steps": [{"interface": "bios", "step": "apply_configuration", "args": {"settings": []}}]})
        );
    }
}
