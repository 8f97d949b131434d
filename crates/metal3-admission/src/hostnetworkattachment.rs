//! Admission rules for HostNetworkAttachment, and the pure half of "no change while a host
//! refers to it": which host interfaces refer to an attachment, and the refusal naming them.
//!
//! The schema bounds (VLAN 1–4094, MTU 68–9216, the `allowedVLANs` item pattern) are checked
//! here too, so `metal3 validate` refuses what the API server would. The reference lookup needs
//! the cluster; the operator's webhook lists the hosts and calls [`attachment_references`].

use metal3_api::v1alpha1::{BareMetalHost, HostNetworkAttachment, SwitchPortMode};

use crate::FieldError;

/// Lowest and highest VLAN ID a port may carry.
pub const VLAN_RANGE: (i64, i64) = (1, 4094);
/// Smallest and largest MTU a port may be given.
pub const MTU_RANGE: (i64, i64) = (68, 9216);

/// Validates a HostNetworkAttachment on create (`old` is `None`) or update. An update that
/// leaves the spec as it was is accepted as it is (status or metadata only), as upstream does.
pub fn validate_hostnetworkattachment(
    new: &HostNetworkAttachment,
    old: Option<&HostNetworkAttachment>,
) -> Vec<FieldError> {
    if old.is_some_and(|old| old.spec == new.spec) {
        return Vec::new();
    }
    let spec = &new.spec;
    let mut errors = Vec::new();
    bounded(&mut errors, "spec.nativeVLAN", spec.native_vlan, VLAN_RANGE);
    if let Some(mtu) = spec.mtu {
        bounded(&mut errors, "spec.mtu", mtu, MTU_RANGE);
    }
    if spec.mode == SwitchPortMode::Access && !spec.allowed_vlans.is_empty() {
        errors.push(FieldError::new(
            "spec.allowedVLANs",
            "allowedVLANs cannot be specified for access mode (use mode trunk or hybrid, or \
             leave allowedVLANs out)",
        ));
    }
    for (i, entry) in spec.allowed_vlans.iter().enumerate() {
        if let Err(e) = vlan_entry(entry) {
            errors.push(FieldError::new(
                format!("spec.allowedVLANs[{i}]"),
                format!("{entry:?}: {e}"),
            ));
        }
    }
    errors
}

/// Whether an update changes the spec, so that the hosts referring to the attachment must be
/// looked up before it is admitted (a create or an unchanged spec needs no lookup).
pub fn spec_changed(new: &HostNetworkAttachment, old: Option<&HostNetworkAttachment>) -> bool {
    old.is_some_and(|old| old.spec != new.spec)
}

fn bounded(errors: &mut Vec<FieldError>, field: &str, value: i64, (low, high): (i64, i64)) {
    if value < low {
        errors.push(FieldError::new(
            field,
            format!("{value} should be greater than or equal to {low}"),
        ));
    } else if value > high {
        errors.push(FieldError::new(
            field,
            format!("{value} should be less than or equal to {high}"),
        ));
    }
}

/// Checks one `allowedVLANs` entry: a VLAN ID (`"100"`) or an ascending range (`"100-200"`),
/// every ID within [`VLAN_RANGE`].
pub fn vlan_entry(entry: &str) -> Result<(), String> {
    let (first, last) = match entry.split_once('-') {
        Some((first, last)) => (first, Some(last)),
        None => (entry, None),
    };
    let id = |text: &str, what: &str| -> Result<i64, String> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{what} {text:?} is not a number (write an ID like \"100\" or a range like \
                 \"100-200\")"
            ));
        }
        let value: i64 = text
            .parse()
            .map_err(|_| format!("{what} {text} is out of range 1-4094"))?;
        if !(VLAN_RANGE.0..=VLAN_RANGE.1).contains(&value) {
            return Err(format!("VLAN ID {value} out of range 1-4094"));
        }
        Ok(value)
    };
    let start = id(first, "VLAN ID")?;
    if let Some(last) = last {
        let end = id(last, "range end")?;
        if start >= end {
            return Err(format!(
                "range start ({start}) must be less than end ({end})"
            ));
        }
    }
    Ok(())
}

/// The interfaces of `hosts` that refer to the attachment `namespace`/`name`, as
/// `hostNamespace/hostName[interface]` (the interface by name, else by MAC address). A
/// reference without a namespace means the host's own.
pub fn attachment_references(namespace: &str, name: &str, hosts: &[BareMetalHost]) -> Vec<String> {
    let mut found = Vec::new();
    for host in hosts {
        let host_ns = host.metadata.namespace.as_deref().unwrap_or("");
        let host_name = host.metadata.name.as_deref().unwrap_or("");
        for iface in &host.spec.network_interfaces {
            let reference = &iface.host_network_attachment;
            let ref_ns = match reference.namespace.as_str() {
                "" => host_ns,
                ns => ns,
            };
            if reference.name == name && ref_ns == namespace {
                let id = if iface.name.is_empty() {
                    &iface.mac_address
                } else {
                    &iface.name
                };
                found.push(format!("{host_ns}/{host_name}[{id}]"));
            }
        }
    }
    found
}

/// The refusal of a spec change while `references` (from [`attachment_references`]) exist;
/// `None` when there are none.
pub fn refuse_change_while_referenced(references: &[String]) -> Option<FieldError> {
    (!references.is_empty()).then(|| {
        FieldError::new(
            "spec",
            format!(
                "HostNetworkAttachment spec is immutable while referenced by BMH interfaces: {} \
                 (remove the references, or create a new attachment and point the hosts at it)",
                references.join(", ")
            ),
        )
    })
}

/// The refusal of a delete while `references` exist; `None` when there are none.
pub fn refuse_delete_while_referenced(references: &[String]) -> Option<FieldError> {
    (!references.is_empty()).then(|| {
        FieldError::new(
            "metadata.name",
            format!(
                "cannot delete attachment while referenced by BMH interfaces: {}",
                references.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attachment(spec: serde_json::Value) -> HostNetworkAttachment {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostNetworkAttachment",
            "metadata": {"name": "storage", "namespace": "hosts"},
            "spec": spec,
        }))
        .expect("attachment")
    }

    #[test]
    fn vlan_entries() {
        for ok in ["1", "4094", "100-200", "0100", "1-4094"] {
            assert_eq!(vlan_entry(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("0", "out of range"),
            ("4095", "out of range"),
            ("100-4095", "out of range"),
            ("200-100", "must be less than end"),
            ("100-100", "must be less than end"),
            ("abc", "not a number"),
            ("", "not a number"),
            ("-5", "not a number"),
            ("1-2-3", "not a number"),
            ("99999999999999999999", "out of range"),
        ] {
            let e = vlan_entry(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ranges_and_modes() {
        let ok = attachment(
            json!({"mode": "trunk", "nativeVLAN": 200, "allowedVLANs": ["200-203"], "mtu": 9000}),
        );
        assert_eq!(validate_hostnetworkattachment(&ok, None), vec![]);
        let bad = attachment(json!({
            "mode": "access", "nativeVLAN": 4095, "allowedVLANs": ["7", "9-8"], "mtu": 67
        }));
        let fields: Vec<_> = validate_hostnetworkattachment(&bad, None)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.nativeVLAN",
                "spec.mtu",
                "spec.allowedVLANs",
                "spec.allowedVLANs[1]"
            ]
        );
        // An update that leaves the spec alone is not judged again.
        assert_eq!(validate_hostnetworkattachment(&bad, Some(&bad)), vec![]);
        assert!(!spec_changed(&bad, Some(&bad)));
        assert!(spec_changed(&ok, Some(&bad)));
        assert!(!spec_changed(&ok, None));
    }

    #[test]
    fn references_by_namespace_and_interface() {
        let host = |ns: &str, name: &str, ifaces: serde_json::Value| -> BareMetalHost {
            serde_json::from_value(json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"online": true, "networkInterfaces": ifaces},
            }))
            .expect("host")
        };
        let hosts = [
            host(
                "hosts",
                "a",
                json!([
                    {"name": "eno1", "hostNetworkAttachment": {"name": "storage"}},
                    {"macAddress": "aa:bb:cc:dd:ee:01", "hostNetworkAttachment": {"name": "storage", "namespace": "hosts"}},
                    {"name": "eno3", "hostNetworkAttachment": {"name": "other"}},
                ]),
            ),
            host(
                "tenant",
                "b",
                json!([
                    {"name": "eno1", "hostNetworkAttachment": {"name": "storage"}},
                    {"name": "eno2", "hostNetworkAttachment": {"name": "storage", "namespace": "hosts"}},
                ]),
            ),
        ];
        let refs = attachment_references("hosts", "storage", &hosts);
        assert_eq!(
            refs,
            [
                "hosts/a[eno1]",
                "hosts/a[aa:bb:cc:dd:ee:01]",
                "tenant/b[eno2]"
            ]
        );
        let refusal = refuse_change_while_referenced(&refs).expect("refused");
        assert!(refusal.message.contains("tenant/b[eno2]"), "{refusal}");
        assert_eq!(refuse_change_while_referenced(&[]), None);
        assert!(refuse_delete_while_referenced(&refs).is_some());
        assert!(attachment_references("hosts", "none", &hosts).is_empty());
    }
}
