//! What an Ironic port carries for the networking service (pure): the switch and port the NIC
//! is cabled to in `local_link_connection` (`switch_id`, `port_id`; from
//! `spec.networkInterfaces[].switchPort`, else LLDP from inspection fills it), and the port's
//! configuration in `extra.switchport` (`mode`, `native_vlan`, `allowed_vlans` as a list of
//! IDs, `mtu`; from the HostNetworkAttachment), as Metal³'s design for Ironic networking
//! describes and Ironic's `ironic-networking` interface validates. Upstream's operator does not
//! send these yet; this follows the design and Ironic's schema.

use metal3_api::v1alpha1::{HostNetworkAttachmentSpec, NetworkInterface, SwitchPortMode};
use serde_json::{Map, Value, json};

/// Most VLAN IDs Ironic accepts in a port's `allowed_vlans`.
pub const MAX_ALLOWED_VLANS: usize = 100;

/// The VLAN IDs of `allowedVLANs` entries (`"100"`, `"100-200"`), ascending, each once. Ironic
/// takes at most [`MAX_ALLOWED_VLANS`].
pub fn allowed_vlan_ids(entries: &[String]) -> Result<Vec<u16>, String> {
    let mut ids = std::collections::BTreeSet::new();
    for entry in entries {
        let bad = || format!("allowedVLANs entry {entry:?} is not a VLAN ID or range");
        let (first, last) = entry.split_once('-').unwrap_or((entry, entry));
        let first: u16 = first.parse().map_err(|_| bad())?;
        let last: u16 = last.parse().map_err(|_| bad())?;
        if first == 0 || last > 4094 || first > last {
            return Err(bad());
        }
        ids.extend(first..=last);
        if ids.len() > MAX_ALLOWED_VLANS {
            return Err(format!(
                "allowedVLANs name more than {MAX_ALLOWED_VLANS} VLANs, more than Ironic's \
                 networking accepts on one port"
            ));
        }
    }
    Ok(ids.into_iter().collect())
}

/// The port's `extra.switchport` for an attachment.
pub fn switchport(spec: &HostNetworkAttachmentSpec) -> Result<Value, String> {
    let mut out = json!({"mode": spec.mode.as_str(), "native_vlan": spec.native_vlan});
    match spec.mode {
        SwitchPortMode::Access => {}
        SwitchPortMode::Trunk | SwitchPortMode::Hybrid => {
            let ids = allowed_vlan_ids(&spec.allowed_vlans)?;
            if ids.is_empty() {
                return Err(format!(
                    "a {} port needs at least one allowed VLAN",
                    spec.mode.as_str()
                ));
            }
            out["allowed_vlans"] = json!(ids);
        }
    }
    if let Some(mtu) = spec.mtu {
        out["mtu"] = json!(mtu);
    }
    Ok(out)
}

/// The switch fields of the port of `iface`: `local_link_connection` when the interface names
/// its switch port, `extra.switchport` when it has an attachment (`attachment`, resolved by the
/// caller). Empty when neither.
pub fn port_fields(
    iface: &NetworkInterface,
    attachment: Option<&HostNetworkAttachmentSpec>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    if let Some(port) = &iface.switch_port {
        out.insert(
            "local_link_connection".into(),
            json!({"switch_id": port.switch_id.to_ascii_lowercase(), "port_id": port.port_id}),
        );
    }
    if let Some(spec) = attachment {
        out.insert("extra".into(), json!({"switchport": switchport(spec)?}));
    }
    Ok(out)
}

/// The `add` operations, as `(path, value)`, bringing the port `current` (as Ironic returns
/// it) to `wanted` (from [`port_fields`]); only what differs, and `extra` keys other than
/// `switchport` untouched.
pub fn port_patch(current: &Value, wanted: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut ops = Vec::new();
    if let Some(link) = wanted.get("local_link_connection") {
        let have = &current["local_link_connection"];
        let same = ["switch_id", "port_id"]
            .iter()
            .all(|k| have.get(*k) == link.get(*k));
        if !same {
            ops.push(("/local_link_connection".to_string(), link.clone()));
        }
    }
    if let Some(switchport) = wanted.get("extra").and_then(|e| e.get("switchport"))
        && current["extra"].get("switchport") != Some(switchport)
    {
        ops.push(("/extra/switchport".to_string(), switchport.clone()));
    }
    ops
}

/// The MAC address of `iface`: its own, else that of the inspected NIC of its name.
pub fn interface_mac(iface: &NetworkInterface, nics: &[(String, String)]) -> Option<String> {
    if !iface.mac_address.is_empty() {
        return Some(iface.mac_address.to_ascii_lowercase());
    }
    nics.iter()
        .find(|(name, _)| *name == iface.name)
        .map(|(_, mac)| mac.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(spec: Value) -> HostNetworkAttachmentSpec {
        serde_json::from_value(spec).expect("attachment")
    }

    fn iface(value: Value) -> NetworkInterface {
        serde_json::from_value(value).expect("interface")
    }

    #[test]
    fn vlan_ranges_become_ids() {
        let ids = allowed_vlan_ids(&["300-303".into(), "200".into(), "301".into()]);
        assert_eq!(ids, Ok(vec![200, 300, 301, 302, 303]));
        assert!(
            allowed_vlan_ids(&["1-101".into()])
                .expect_err("too many")
                .contains("100")
        );
        assert!(allowed_vlan_ids(&["5-1".into()]).is_err());
        assert!(allowed_vlan_ids(&["0".into()]).is_err());
    }

    #[test]
    fn the_port_body_for_a_trunk_with_its_switch_port() {
        let nic = iface(json!({
            "name": "eno2", "hostNetworkAttachment": {"name": "storage"},
            "switchPort": {"switchID": "AA:BB:CC:DD:EE:FF", "portID": "Ethernet1/12"}
        }));
        let spec = attachment(json!({"mode": "trunk", "nativeVLAN": 200,
                                     "allowedVLANs": ["201", "300-302"], "mtu": 9000}));
        let fields = port_fields(&nic, Some(&spec)).expect("fields");
        assert_eq!(
            Value::Object(fields.clone()),
            json!({
                "local_link_connection": {"switch_id": "aa:bb:cc:dd:ee:ff", "port_id": "Ethernet1/12"},
                "extra": {"switchport": {"mode": "trunk", "native_vlan": 200,
                                          "allowed_vlans": [201, 300, 301, 302], "mtu": 9000}}
            })
        );
        // A fresh port gets both; a port already so configured gets nothing; other extra keys stay.
        let fresh = json!({"uuid": "p", "extra": {"metal3": "x"}, "local_link_connection": {}});
        let ops = port_patch(&fresh, &fields);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[1].0, "/extra/switchport");
        let done = json!({"local_link_connection": fields["local_link_connection"],
                          "extra": {"metal3": "x", "switchport": fields["extra"]["switchport"]}});
        assert!(port_patch(&done, &fields).is_empty());
    }

    #[test]
    fn access_ports_carry_no_allowed_vlans_and_trunks_need_some() {
        let access = switchport(&attachment(json!({"mode": "access", "nativeVLAN": 100})));
        assert_eq!(access, Ok(json!({"mode": "access", "native_vlan": 100})));
        let bare_trunk = switchport(&attachment(json!({"mode": "hybrid", "nativeVLAN": 100})));
        assert!(
            bare_trunk
                .expect_err("needs VLANs")
                .contains("at least one")
        );
        let nothing = port_fields(&iface(json!({"name": "eno1"})), None).expect("fields");
        assert!(nothing.is_empty());
        let nics = [("eno1".to_string(), "AA:00:00:00:00:01".to_string())];
        assert_eq!(
            interface_mac(&iface(json!({"name": "eno1"})), &nics).as_deref(),
            Some("aa:00:00:00:00:01")
        );
        assert_eq!(interface_mac(&iface(json!({"name": "eno9"})), &nics), None);
    }
}
