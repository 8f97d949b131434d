//! Firmware settings: BIOS attributes as HostFirmwareSettings strings, the attribute registry
//! as a FirmwareSchema, and requested settings as typed Redfish values.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::{AttributeType, SettingSchema};
use metal3_redfish::types::{AttributeRegistry, RegistryAttribute};
use serde_json::Value;

/// A BIOS value as the settings map shows it.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn attribute_type(a: &RegistryAttribute) -> Option<AttributeType> {
    match a.kind.as_deref()? {
        "Enumeration" => Some(AttributeType::Enumeration),
        "String" => Some(AttributeType::String),
        "Integer" => Some(AttributeType::Integer),
        "Boolean" => Some(AttributeType::Boolean),
        "Password" => Some(AttributeType::Password),
        _ => None,
    }
}

/// The schema of every attribute in `registry`.
pub fn schema(registry: &AttributeRegistry) -> BTreeMap<String, SettingSchema> {
    registry
        .registry_entries
        .attributes
        .iter()
        .map(|a| {
            (
                a.attribute_name.clone(),
                SettingSchema {
                    allowable_values: a.value.iter().map(|v| v.value_name.clone()).collect(),
                    attribute_type: attribute_type(a),
                    lower_bound: a.lower_bound,
                    upper_bound: a.upper_bound,
                    max_length: a.max_length,
                    min_length: a.min_length,
                    read_only: Some(a.read_only),
                    ..SettingSchema::default()
                },
            )
        })
        .collect()
}

/// A requested setting as the value the BMC expects: typed by the current value's JSON type
/// (or the schema's), so `"3"` goes out as `3` for an integer attribute.
pub fn typed(wanted: &str, current: Option<&Value>, kind: Option<AttributeType>) -> Value {
    let integer = matches!(current, Some(Value::Number(_))) || kind == Some(AttributeType::Integer);
    let boolean = matches!(current, Some(Value::Bool(_))) || kind == Some(AttributeType::Boolean);
    if integer && let Ok(n) = wanted.trim().parse::<i64>() {
        return Value::from(n);
    }
    if boolean {
        match wanted.trim().to_ascii_lowercase().as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::from(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_to_schema() {
        let registry: AttributeRegistry = serde_json::from_value(json!({
            "Id": "R",
            "RegistryEntries": {"Attributes": [
                {"AttributeName": "Mode", "Type": "Enumeration", "Value": [{"ValueName": "A"}, {"ValueName": "B"}], "ReadOnly": false},
                {"AttributeName": "Count", "Type": "Integer", "LowerBound": 0, "UpperBound": 9},
                {"AttributeName": "Serial", "Type": "String", "ReadOnly": true, "MaxLength": 32},
                {"AttributeName": "Odd", "Type": "Something"},
            ]},
        }))
        .expect("registry");
        let s = schema(&registry);
        assert_eq!(s["Mode"].allowable_values, ["A", "B"]);
        assert_eq!(s["Mode"].attribute_type, Some(AttributeType::Enumeration));
        assert_eq!(
            (s["Count"].lower_bound, s["Count"].upper_bound),
            (Some(0), Some(9))
        );
        assert_eq!(s["Serial"].read_only, Some(true));
        assert_eq!(s["Odd"].attribute_type, None);
    }

    #[test]
    fn values_keep_their_types() {
        assert_eq!(text(&json!("Enabled")), "Enabled");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(typed("3", Some(&json!(1)), None), json!(3));
        assert_eq!(typed("3", None, Some(AttributeType::Integer)), json!(3));
        assert_eq!(
            typed("x", Some(&json!(1)), None),
            json!("x"),
            "left for the BMC to refuse"
        );
        assert_eq!(typed("True", Some(&json!(false)), None), json!(true));
        assert_eq!(
            typed("Enabled", Some(&json!("Disabled")), None),
            json!("Enabled")
        );
    }
}
