//! Validation of untyped objects: decode by kind, then apply that kind's rules.
//!
//! This is the entry point for manifests (`metal3 validate`) and for admission reviews, where
//! objects arrive as JSON. Decoding catches what the CRD schema would (unknown enum values,
//! wrong types) and names the field; the rules catch the rest.

use metal3_api::v1alpha1::{
    FirmwareSchema, HardwareData, HostFirmwareSettings, HostUpdatePolicy, PreprovisioningImage,
};
use serde_json::Value;

use crate::verdict::{FieldError, Findings, Verdict, check};
use crate::{
    validate_baremetalhost, validate_bmceventsubscription, validate_dataimage,
    validate_hostfirmwarecomponents,
};

/// API version of every kind this crate knows.
pub const API_VERSION: &str = "metal3.io/v1alpha1";

/// Validates `new` (and, on update, against `old`), dispatching on `apiVersion` and `kind`.
pub fn validate_value(new: &Value, old: Option<&Value>) -> Verdict {
    let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(group) = api_version
        .split('/')
        .next()
        .filter(|_| api_version.contains('/'))
    else {
        return Verdict::NotOurs;
    };
    if group != "metal3.io" {
        return Verdict::NotOurs;
    }
    if api_version != API_VERSION {
        return Verdict::Checked(Findings::from_errors(vec![FieldError::new(
            "apiVersion",
            format!("unsupported version {api_version:?}; use {API_VERSION:?}"),
        )]));
    }
    let findings = match kind {
        "BareMetalHost" => check(new, old, validate_baremetalhost),
        "BMCEventSubscription" => check(new, old, validate_bmceventsubscription),
        "DataImage" => check(new, old, validate_dataimage),
        "HostFirmwareComponents" => check(new, old, validate_hostfirmwarecomponents),
        "HardwareData" => check::<HardwareData, _>(new, old, no_rules),
        "HostFirmwareSettings" => check::<HostFirmwareSettings, _>(new, old, no_rules),
        "FirmwareSchema" => check::<FirmwareSchema, _>(new, old, no_rules),
        "HostUpdatePolicy" => check::<HostUpdatePolicy, _>(new, old, no_rules),
        "PreprovisioningImage" => check::<PreprovisioningImage, _>(new, old, no_rules),
        "HostClaim" => check(new, old, crate::validate_hostclaim),
        "HostDeployPolicy" => check(new, old, crate::validate_hostdeploypolicy),
        "BareMetalSwitch" => check(new, old, crate::validate_baremetalswitch),
        "HostNetworkAttachment" => check(new, old, crate::validate_hostnetworkattachment),
        other => Findings::from_errors(vec![FieldError::new(
            "kind",
            format!("unknown kind {other:?} in {API_VERSION}"),
        )]),
    };
    Verdict::Checked(findings)
}

fn no_rules<T>(_new: &T, _old: Option<&T>) -> Vec<FieldError> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn foreign_objects_are_not_ours() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert_eq!(validate_value(&cm, None), Verdict::NotOurs);
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(validate_value(&dep, None), Verdict::NotOurs);
    }

    #[test]
    fn unknown_version_and_kind_are_reported() {
        let v = json!({"apiVersion": "metal3.io/v1beta9", "kind": "BareMetalHost"});
        let Verdict::Checked(Findings { errors, .. }) = validate_value(&v, None) else {
            panic!("metal3.io objects are ours");
        };
        assert_eq!(errors[0].field, "apiVersion");
        let k = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitchboard"});
        let Verdict::Checked(Findings { errors, .. }) = validate_value(&k, None) else {
            panic!("metal3.io objects are ours");
        };
        assert_eq!(errors[0].field, "kind");
    }

    #[test]
    fn decoding_errors_name_the_field() {
        let v = json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "DataImage",
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"url": 42}
        });
        let Verdict::Checked(Findings { errors, .. }) = validate_value(&v, None) else {
            panic!("metal3.io objects are ours");
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.url");
    }
}
