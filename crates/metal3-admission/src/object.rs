//! Validation of untyped objects: decode by kind, then apply that kind's rules.
//!
//! This is the entry point for manifests (`metal3 validate`) and for admission reviews, where
//! objects arrive as JSON. Decoding catches what the CRD schema would (unknown enum values,
//! wrong types) and names the field; the rules catch the rest.

use metal3_api::v1alpha1::{
    FirmwareSchema, HardwareData, HostFirmwareSettings, HostUpdatePolicy, PreprovisioningImage,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    FieldError, validate_baremetalhost, validate_bmceventsubscription, validate_dataimage,
    validate_hostfirmwarecomponents,
};

/// API version of every kind this crate knows.
pub const API_VERSION: &str = "metal3.io/v1alpha1";

/// What validating one object found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a metal3.io object: nothing to say about it.
    NotOurs,
    /// A metal3.io object, with every problem found (empty when valid).
    Checked(Vec<FieldError>),
}

/// Validates `new` (and, on update, against `old`), dispatching on `apiVersion` and `kind`.
pub fn validate_value(new: &Value, old: Option<&Value>) -> Outcome {
    let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(group) = api_version
        .split('/')
        .next()
        .filter(|_| api_version.contains('/'))
    else {
        return Outcome::NotOurs;
    };
    if group != "metal3.io" {
        return Outcome::NotOurs;
    }
    if api_version != API_VERSION {
        return Outcome::Checked(vec![FieldError::new(
            "apiVersion",
            format!("unsupported version {api_version:?}; use {API_VERSION:?}"),
        )]);
    }
    let errors = match kind {
        "BareMetalHost" => check(new, old, validate_baremetalhost),
        "BMCEventSubscription" => check(new, old, validate_bmceventsubscription),
        "DataImage" => check(new, old, validate_dataimage),
        "HostFirmwareComponents" => check(new, old, validate_hostfirmwarecomponents),
        "HardwareData" => check::<HardwareData>(new, old, no_rules),
        "HostFirmwareSettings" => check::<HostFirmwareSettings>(new, old, no_rules),
        "FirmwareSchema" => check::<FirmwareSchema>(new, old, no_rules),
        "HostUpdatePolicy" => check::<HostUpdatePolicy>(new, old, no_rules),
        "PreprovisioningImage" => check::<PreprovisioningImage>(new, old, no_rules),
        other => vec![FieldError::new(
            "kind",
            format!("unknown kind {other:?} in {API_VERSION}"),
        )],
    };
    Outcome::Checked(errors)
}

fn no_rules<T>(_new: &T, _old: Option<&T>) -> Vec<FieldError> {
    Vec::new()
}

/// Decodes `new` (and `old`) as `T` and applies `rules`; decoding failures are field errors.
fn check<T: DeserializeOwned>(
    new: &Value,
    old: Option<&Value>,
    rules: fn(&T, Option<&T>) -> Vec<FieldError>,
) -> Vec<FieldError> {
    let new = match decode::<T>(new) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let old = match old.map(decode::<T>).transpose() {
        Ok(v) => v,
        Err(e) => {
            return vec![FieldError::new(
                format!("(old object) {}", e.field),
                e.message,
            )];
        }
    };
    rules(&new, old.as_ref())
}

/// Decodes a JSON object into `T`, naming the field that does not fit.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(object)".to_string()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn foreign_objects_are_not_ours() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert_eq!(validate_value(&cm, None), Outcome::NotOurs);
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(validate_value(&dep, None), Outcome::NotOurs);
    }

    #[test]
    fn unknown_version_and_kind_are_reported() {
        let v = json!({"apiVersion": "metal3.io/v1beta9", "kind": "BareMetalHost"});
        let Outcome::Checked(errors) = validate_value(&v, None) else {
            panic!("metal3.io objects are ours");
        };
        assert_eq!(errors[0].field, "apiVersion");
        let k = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitchboard"});
        let Outcome::Checked(errors) = validate_value(&k, None) else {
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
        let Outcome::Checked(errors) = validate_value(&v, None) else {
            panic!("metal3.io objects are ours");
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.url");
    }
}
