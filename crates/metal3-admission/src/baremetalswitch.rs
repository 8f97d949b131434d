//! Admission rules for BareMetalSwitch. Upstream has no webhook for the kind; these are the
//! schema's own bounds (management MAC address pattern, port 1–65535), so `metal3 validate`
//! refuses what the API server would, and warnings for a switch that would be left out of the
//! switch configuration.

use metal3_api::v1alpha1::BareMetalSwitch;

use crate::syntax::is_colon_mac;
use crate::{FieldError, Findings};

/// Validates a BareMetalSwitch on create or update.
pub fn validate_baremetalswitch(new: &BareMetalSwitch, _old: Option<&BareMetalSwitch>) -> Findings {
    let spec = &new.spec;
    let mut errors = Vec::new();
    if !is_colon_mac(&spec.mac_address) {
        errors.push(FieldError::new(
            "spec.macAddress",
            format!(
                "{:?} is not a MAC address written as six colon-separated hex pairs \
                 (aa:bb:cc:dd:ee:ff)",
                spec.mac_address
            ),
        ));
    }
    if let Some(port) = spec.port
        && !(1..=65535).contains(&port)
    {
        errors.push(FieldError::new(
            "spec.port",
            format!("{port} is not a port number (1-65535)"),
        ));
    }
    let mut warnings = Vec::new();
    if spec
        .credentials
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .unwrap_or("")
        .is_empty()
    {
        warnings.push(
            "spec.credentials: no credentials Secret is named, so the switch is left out of the \
             switch configuration until one is"
                .to_string(),
        );
    }
    Findings {
        errors,
        warnings,
        ..Findings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn switch(spec: serde_json::Value) -> BareMetalSwitch {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitch",
            "metadata": {"name": "tor", "namespace": "ns"}, "spec": spec,
        }))
        .expect("switch")
    }

    #[test]
    fn mac_and_port() {
        let ok = switch(json!({
            "address": "192.168.1.10", "macAddress": "aa:bb:cc:DD:ee:ff",
            "deviceType": "netmiko_cisco_ios", "port": 22, "credentials": {"name": "c"}
        }));
        assert_eq!(validate_baremetalswitch(&ok, None), Findings::default());
        let bad = switch(json!({
            "address": "a", "macAddress": "aa-bb-cc-dd-ee-ff", "deviceType": "d", "port": 0
        }));
        let found = validate_baremetalswitch(&bad, None);
        let fields: Vec<_> = found.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.macAddress", "spec.port"]);
        assert_eq!(found.warnings.len(), 1, "{found:?}");
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:f",
            "aa:bb:cc:dd:ee:gg",
            "aa:bb:cc:dd:ee:ff:00",
        ] {
            assert!(!is_colon_mac(bad), "{bad}");
        }
    }
}
