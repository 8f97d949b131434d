//! HostNetworkAttachment: how a switch port is configured (mode, VLANs, MTU) for the host
//! interfaces that reference it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::plain_integer;

/// Switch port configuration shared by host interfaces; fixed while any host references it.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostNetworkAttachment",
    plural = "hostnetworkattachments",
    singular = "hostnetworkattachment",
    namespaced,
    doc = "Switch port settings for BareMetalHost interfaces; the spec may change only while no \
           host interface refers to it.",
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".spec.mode",
        description = "Switchport mode"
    ),
    printcolumn(
        name = "Native VLAN",
        type_ = "integer",
        json_path = ".spec.nativeVLAN",
        description = "Native VLAN ID"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time duration since creation"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = mode_required)]
pub struct HostNetworkAttachmentSpec {
    /// Switch port mode; the API server fills in `access` when it is left out.
    #[serde(default)]
    pub mode: SwitchPortMode,
    /// Untagged VLAN of the port (1–4094).
    #[serde(rename = "nativeVLAN")]
    #[schemars(range(min = 1, max = 4094), transform = plain_integer)]
    pub native_vlan: i64,
    /// Tagged VLANs carried by a trunk or hybrid port: IDs (`"100"`) or ranges (`"100-200"`).
    #[serde(
        rename = "allowedVLANs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(inner(regex(pattern = r"^\d+(-\d+)?$")))]
    pub allowed_vlans: Vec<String>,
    /// MTU of the port (68–9216); the network's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9216), transform = plain_integer)]
    pub mtu: Option<i64>,
}

/// Schema transform: `mode` is required although the API server defaults it (as upstream).
fn mode_required(schema: &mut schemars::Schema) {
    let required = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = required.as_array_mut()
        && !list.iter().any(|v| v == "mode")
    {
        list.push("mode".into());
    }
}

/// Mode of a switch port.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchPortMode {
    /// One untagged VLAN.
    #[default]
    Access,
    /// Tagged VLANs, with the native VLAN untagged.
    Trunk,
    /// Access and trunk at once.
    Hybrid,
}

impl SwitchPortMode {
    /// The mode as written in the CRD and sent to Ironic.
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchPortMode::Access => "access",
            SwitchPortMode::Trunk => "trunk",
            SwitchPortMode::Hybrid => "hybrid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstream_sample_round_trips_and_mode_defaults() {
        let doc =
            json!({"mode": "trunk", "nativeVLAN": 200, "allowedVLANs": ["200-203"], "mtu": 9000});
        let spec: HostNetworkAttachmentSpec = serde_json::from_value(doc.clone()).expect("decodes");
        assert_eq!(spec.mode, SwitchPortMode::Trunk);
        assert_eq!(serde_json::to_value(&spec).expect("encodes"), doc);
        let bare: HostNetworkAttachmentSpec =
            serde_json::from_value(json!({"nativeVLAN": 100})).expect("decodes");
        assert_eq!(bare.mode.as_str(), "access");
    }
}
