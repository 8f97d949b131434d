//! Firmware settings: what the HostFirmwareSettings controller derives from the settings and
//! schema a host reports and the settings its owner asks for.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::v1alpha1::{ConditionStatus, FirmwareSchemaSpec, SettingSchema, setting_text};
use sha2::{Digest, Sha256};

use crate::conditions::Want;

pub const CHANGE_DETECTED: &str = "ChangeDetected";
pub const VALID: &str = "Valid";

/// Name of the FirmwareSchema holding `schema`: `schema-` and 8 hex digits of a SHA-256 over
/// the sorted settings and their limits, so hosts of one model share one schema object.
pub fn schema_name(schema: &BTreeMap<String, SettingSchema>) -> String {
    let mut hasher = Sha256::new();
    for (name, s) in schema {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        // The JSON of a SettingSchema is deterministic (fixed field order, sorted map).
        hasher.update(serde_json::to_vec(s).unwrap_or_default());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("schema-{hex}")
}

/// Settings safe to show in status: never anything whose name mentions a password.
pub fn visible_settings(settings: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    settings
        .iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().contains("password"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Desired settings that differ from the current ones.
pub fn changes(
    desired: &BTreeMap<String, IntOrString>,
    current: &BTreeMap<String, String>,
) -> BTreeMap<String, IntOrString> {
    desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(&setting_text(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Problems with the desired settings, one message per setting.
pub fn validate(
    desired: &BTreeMap<String, IntOrString>,
    schema: Option<&FirmwareSchemaSpec>,
) -> Vec<String> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    desired
        .iter()
        .filter_map(|(name, value)| schema.validate_setting(name, value).err())
        .collect()
}

/// The ChangeDetected and Valid conditions of a HostFirmwareSettings.
pub fn conditions(
    desired: &BTreeMap<String, IntOrString>,
    current: &BTreeMap<String, String>,
    schema: Option<&FirmwareSchemaSpec>,
) -> [Want; 2] {
    let pending = changes(desired, current);
    let change = if pending.is_empty() {
        Want {
            r#type: CHANGE_DETECTED,
            status: ConditionStatus::False,
            reason: "Success",
            message: "the host runs the requested settings".into(),
        }
    } else {
        Want {
            r#type: CHANGE_DETECTED,
            status: ConditionStatus::True,
            reason: "Success",
            message: format!(
                "settings to apply: {}",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    };
    let errors = validate(desired, schema);
    let valid = if errors.is_empty() {
        Want {
            r#type: VALID,
            status: ConditionStatus::True,
            reason: "Success",
            message: "the requested settings are valid".into(),
        }
    } else {
        Want {
            r#type: VALID,
            status: ConditionStatus::False,
            reason: "ConfigurationError",
            message: errors.join("; "),
        }
    };
    [change, valid]
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::AttributeType;

    fn schema() -> FirmwareSchemaSpec {
        let mut s = BTreeMap::new();
        s.insert(
            "ProcVirtualization".to_string(),
            SettingSchema {
                attribute_type: Some(AttributeType::Enumeration),
                allowable_values: vec!["Enabled".into(), "Disabled".into()],
                ..SettingSchema::default()
            },
        );
        s.insert(
            "AssetTag".to_string(),
            SettingSchema {
                attribute_type: Some(AttributeType::String),
                min_length: Some(1),
                max_length: Some(16),
                ..SettingSchema::default()
            },
        );
        FirmwareSchemaSpec {
            schema: s,
            ..FirmwareSchemaSpec::default()
        }
    }

    fn desired(pairs: &[(&str, &str)]) -> BTreeMap<String, IntOrString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), IntOrString::String(v.to_string())))
            .collect()
    }

    fn current(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn schema_names_are_stable_and_content_addressed() {
        let a = schema_name(&schema().schema);
        assert_eq!(a, schema_name(&schema().schema));
        assert!(
            a.starts_with("schema-") && a.len() == "schema-".len() + 8,
            "{a}"
        );
        let mut other = schema().schema;
        other.remove("AssetTag");
        assert_ne!(a, schema_name(&other));
    }

    #[test]
    fn passwords_are_never_shown() {
        let shown = visible_settings(&current(&[
            ("AdminPassword", "x"),
            ("SysPassword", "y"),
            ("BootMode", "Uefi"),
        ]));
        assert_eq!(shown, current(&[("BootMode", "Uefi")]));
    }

    #[test]
    fn changes_compare_as_text() {
        let mut want = desired(&[("ProcVirtualization", "Disabled"), ("BootMode", "Uefi")]);
        want.insert("Cores".into(), IntOrString::Int(8));
        let now = current(&[
            ("ProcVirtualization", "Enabled"),
            ("BootMode", "Uefi"),
            ("Cores", "8"),
        ]);
        assert_eq!(
            changes(&want, &now).keys().collect::<Vec<_>>(),
            ["ProcVirtualization"]
        );
    }

    #[test]
    fn conditions_say_what_changes_and_what_is_wrong() {
        let s = schema();
        let [change, valid] = conditions(
            &desired(&[("ProcVirtualization", "Disabled")]),
            &current(&[("ProcVirtualization", "Enabled")]),
            Some(&s),
        );
        assert_eq!(change.status, ConditionStatus::True);
        assert!(change.message.contains("ProcVirtualization"));
        assert_eq!(
            (valid.status, valid.reason),
            (ConditionStatus::True, "Success")
        );

        let [change, valid] = conditions(
            &desired(&[("ProcVirtualization", "Foo"), ("Turbo", "On")]),
            &current(&[]),
            Some(&s),
        );
        assert_eq!(change.status, ConditionStatus::True);
        assert_eq!(
            (valid.status, valid.reason),
            (ConditionStatus::False, "ConfigurationError")
        );
        assert!(
            valid
                .message
                .contains("Setting ProcVirtualization is invalid, unknown enumeration value - Foo"),
            "{}",
            valid.message
        );
        assert!(
            valid
                .message
                .contains("Setting Turbo is invalid, it is not in the associated schema"),
            "{}",
            valid.message
        );

        let [change, _] = conditions(&desired(&[]), &current(&[("A", "b")]), None);
        assert_eq!(change.status, ConditionStatus::False);
    }
}
