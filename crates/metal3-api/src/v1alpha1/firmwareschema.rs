//! FirmwareSchema: which firmware settings a model of server has and which values they take.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::plain_integer;

/// The settings a vendor's model supports, shared by the hosts of that model.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "FirmwareSchema",
    derive = "PartialEq",
    plural = "firmwareschemas",
    singular = "firmwareschema",
    namespaced,
    doc = "The firmware settings of one hardware model and the values each accepts."
)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareSchemaSpec {
    /// Model the schema was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_model: Option<String>,
    /// Vendor the schema was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_vendor: Option<String>,
    /// Each setting's type and limits, by name.
    pub schema: BTreeMap<String, SettingSchema>,
}

/// Type and limits of one firmware setting.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SettingSchema {
    /// Values an enumeration accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowable_values: Vec<String>,
    /// Kind of value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_type: Option<AttributeType>,
    /// Smallest integer accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = plain_integer)]
    pub lower_bound: Option<i64>,
    /// Longest string accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = plain_integer)]
    pub max_length: Option<i64>,
    /// Shortest string accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = plain_integer)]
    pub min_length: Option<i64>,
    /// The setting cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The value must be unique among hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// Largest integer accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = plain_integer)]
    pub upper_bound: Option<i64>,
}

/// Kind of value of a firmware setting.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AttributeType {
    // One of `allowable_values`.
    Enumeration,
    // Free text within the length limits.
    String,
    // An integer within the bounds.
    Integer,
    // `true` or `false`.
    Boolean,
    // A password (never read back).
    Password,
}

/// A firmware setting's value as the firmware reports it: text (integers in decimal).
pub fn setting_text(value: &IntOrString) -> String {
    match value {
        IntOrString::String(s) => s.clone(),
        IntOrString::Int(i) => i.to_string(),
    }
}

impl FirmwareSchemaSpec {
    /// Checks one desired setting against the schema, with upstream's messages
    /// (`Setting <name> is invalid, …`).
    pub fn validate_setting(&self, name: &str, value: &IntOrString) -> Result<(), String> {
        let invalid = |why: String| Err(format!("Setting {name} is invalid, {why}"));
        let Some(schema) = self.schema.get(name) else {
            return invalid("it is not in the associated schema".into());
        };
        if schema.read_only == Some(true) {
            return invalid("it is ReadOnly".into());
        }
        let text = setting_text(value);
        match schema.attribute_type {
            Some(AttributeType::Enumeration) => {
                if !schema.allowable_values.contains(&text) {
                    return invalid(format!("unknown enumeration value - {text}"));
                }
            }
            Some(AttributeType::Integer) => {
                let Ok(n) = text.trim().parse::<i64>() else {
                    return invalid(format!("{text} is not an integer"));
                };
                if let Some(lower) = schema.lower_bound
                    && n < lower
                {
                    return invalid(format!("integer {n} is below minimum value {lower}"));
                }
                if let Some(upper) = schema.upper_bound
                    && n > upper
                {
                    return invalid(format!("integer {n} is above maximum value {upper}"));
                }
            }
            Some(AttributeType::String) => {
                let len = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
                if let Some(min) = schema.min_length
                    && len < min
                {
                    return invalid(format!(
                        "string {text} length is below minimum length {min}"
                    ));
                }
                if let Some(max) = schema.max_length
                    && len > max
                {
                    return invalid(format!(
                        "string {text} length is above maximum length {max}"
                    ));
                }
            }
            Some(AttributeType::Boolean) => {
                if !text.eq_ignore_ascii_case("true") && !text.eq_ignore_ascii_case("false") {
                    return invalid(format!("{text} is not a boolean"));
                }
            }
            Some(AttributeType::Password) | None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FirmwareSchemaSpec {
        let s = |t: AttributeType| SettingSchema {
            attribute_type: Some(t),
            ..SettingSchema::default()
        };
        let mut schema = BTreeMap::new();
        schema.insert(
            "AssetTag".into(),
            SettingSchema {
                min_length: Some(1),
                max_length: Some(16),
                ..s(AttributeType::String)
            },
        );
        schema.insert(
            "ProcVirtualization".into(),
            SettingSchema {
                allowable_values: vec!["Enabled".into(), "Disabled".into()],
                ..s(AttributeType::Enumeration)
            },
        );
        schema.insert(
            "NetworkBootRetryCount".into(),
            SettingSchema {
                lower_bound: Some(1),
                upper_bound: Some(20),
                ..s(AttributeType::Integer)
            },
        );
        schema.insert("QuietBoot".into(), s(AttributeType::Boolean));
        schema.insert(
            "SerialNumber".into(),
            SettingSchema {
                read_only: Some(true),
                ..s(AttributeType::String)
            },
        );
        schema.insert("Untyped".into(), SettingSchema::default());
        FirmwareSchemaSpec {
            hardware_model: None,
            hardware_vendor: None,
            schema,
        }
    }

    #[test]
    fn settings_are_checked_against_the_schema() {
        let str_ = |s: &str| IntOrString::String(s.into());
        let cases: Vec<(&str, IntOrString, Option<&str>)> = vec![
            ("AssetTag", str_("NewServer"), None),
            (
                "AssetTag",
                str_("NewServerPutInServiceIn2021"),
                Some("length is above maximum length 16"),
            ),
            (
                "AssetTag",
                str_(""),
                Some("length is below minimum length 1"),
            ),
            ("ProcVirtualization", str_("Disabled"), None),
            (
                "ProcVirtualization",
                str_("Foo"),
                Some("unknown enumeration value - Foo"),
            ),
            ("NetworkBootRetryCount", str_("10"), None),
            ("NetworkBootRetryCount", IntOrString::Int(10), None),
            (
                "NetworkBootRetryCount",
                IntOrString::Int(42),
                Some("above maximum value 20"),
            ),
            (
                "NetworkBootRetryCount",
                IntOrString::Int(0),
                Some("below minimum value 1"),
            ),
            (
                "NetworkBootRetryCount",
                str_("many"),
                Some("many is not an integer"),
            ),
            ("QuietBoot", str_("true"), None),
            (
                "QuietBoot",
                str_("Enabled"),
                Some("Enabled is not a boolean"),
            ),
            ("SerialNumber", str_("42"), Some("it is ReadOnly")),
            (
                "NoSuchSetting",
                str_("1"),
                Some("it is not in the associated schema"),
            ),
            ("Untyped", str_("anything"), None),
        ];
        let schema = schema();
        for (name, value, expected) in cases {
            match (schema.validate_setting(name, &value), expected) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => {
                    assert!(
                        e.starts_with(&format!("Setting {name} is invalid, ")),
                        "{e}"
                    );
                    assert!(e.contains(part), "{name}: {e}");
                }
                (got, want) => panic!("{name} {value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
