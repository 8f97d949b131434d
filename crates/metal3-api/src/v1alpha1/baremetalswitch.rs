//! BareMetalSwitch: a top-of-rack switch whose ports Ironic's networking service configures.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, SecretReference, conditions_list_map, is_false};

/// The `Valid` condition type: whether the switch made it into the switch configuration Secret.
pub const SWITCH_CONDITION_VALID: &str = "Valid";

/// A switch the Ironic networking service may log in to.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "BareMetalSwitch",
    plural = "baremetalswitches",
    singular = "baremetalswitch",
    namespaced,
    status = "BareMetalSwitchStatus",
    shortname = "bms",
    doc = "A top-of-rack switch whose ports are configured for the hosts cabled to it.",
    printcolumn(
        name = "Driver",
        type_ = "string",
        json_path = ".spec.driver",
        description = "Switch driver type"
    ),
    printcolumn(
        name = "Device Type",
        type_ = "string",
        json_path = ".spec.deviceType",
        description = "Switch device type"
    ),
    printcolumn(
        name = "Address",
        type_ = "string",
        json_path = ".spec.address",
        description = "Switch address"
    ),
    printcolumn(
        name = "Valid",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Valid\")].status",
        description = "Valid"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BareMetalSwitchSpec {
    /// Management address of the switch: an IP address or a host name.
    pub address: String,
    /// MAC address of the switch's management interface; LLDP data from hosts names the switch
    /// by it.
    #[serde(rename = "macAddress")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"))]
    pub mac_address: String,
    /// Switch driver of the networking service; only `generic-switch` exists.
    #[serde(default)]
    pub driver: SwitchDriver,
    /// networking-generic-switch device type, e.g. `netmiko_cisco_ios` or `netmiko_dell_os10`.
    pub device_type: String,
    /// Secret with `username` and `password` or `ssh-privatekey` (and optionally
    /// `admin-password` to enter privileged mode); the switch's namespace when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretReference>,
    /// Management port (SSH, HTTPS); the driver's default for the device type when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Accept the switch's TLS certificate unverified (self-signed certificates; insecure).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_certificate_verification: bool,
}

/// Switch driver of the networking service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum SwitchDriver {
    /// networking-generic-switch.
    #[default]
    #[serde(rename = "generic-switch")]
    GenericSwitch,
}

impl SwitchDriver {
    /// The name as written in the CRD and in the switch configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchDriver::GenericSwitch => "generic-switch",
        }
    }
}

/// Observed state of a BareMetalSwitch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct BareMetalSwitchStatus {
    /// Conditions of the switch; `Valid` says whether it is in the switch configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstream_sample_round_trips() {
        let doc = json!({
            "address": "192.168.1.10",
            "macAddress": "aa:bb:cc:dd:ee:ff",
            "driver": "generic-switch",
            "deviceType": "netmiko_cisco_ios",
            "credentials": {"name": "tor-switch-1-credentials"},
            "port": 22,
        });
        let spec: BareMetalSwitchSpec = serde_json::from_value(doc.clone()).expect("decodes");
        assert_eq!(spec.port, Some(22));
        assert_eq!(serde_json::to_value(&spec).expect("encodes"), doc);
    }

    #[test]
    fn driver_defaults_to_generic_switch() {
        let spec: BareMetalSwitchSpec = serde_json::from_value(json!({
            "address": "a", "macAddress": "aa:bb:cc:dd:ee:ff", "deviceType": "d"
        }))
        .expect("decodes");
        assert_eq!(spec.driver.as_str(), "generic-switch");
        let bad: Result<BareMetalSwitchSpec, _> = serde_json::from_value(json!({
            "address": "a", "macAddress": "m", "deviceType": "d", "driver": "other"
        }));
        assert!(bad.is_err());
    }
}
