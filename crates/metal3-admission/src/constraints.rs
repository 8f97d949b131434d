//! The value constraints of a CRD schema that the API server checks before any webhook and a
//! typed decoding cannot see: `minimum`/`maximum`, `minLength`/`maxLength`,
//! `minItems`/`maxItems` and `pattern`, at every depth ([`violations`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use crate::verdict::FieldError;

/// Every constraint of `schema` that `value` breaks, each at its field (`spec.a[0].b`), with
/// the API server's wording.
pub fn violations(value: &Value, schema: &Value) -> Vec<FieldError> {
    let mut found = Vec::new();
    walk(value, schema, "", &mut found);
    found
}

fn walk(value: &Value, schema: &Value, path: &str, found: &mut Vec<FieldError>) {
    check(value, schema, path, found);
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let values = schema.get("additionalProperties").filter(|s| s.is_object());
            for (name, v) in map {
                let field = match path {
                    "" => name.clone(),
                    p => format!("{p}.{name}"),
                };
                if let Some(s) = properties.and_then(|p| p.get(name)).or(values) {
                    walk(v, s, &field, found);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item, &format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

fn check(value: &Value, schema: &Value, path: &str, found: &mut Vec<FieldError>) {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    let mut add = |message: String| found.push(FieldError::new(path, message));
    match value {
        Value::Number(n) => {
            let Some(n) = n.as_f64() else { return };
            if let Some(min) = bound("minimum").filter(|m| n < *m) {
                add(format!("should be greater than or equal to {min}"));
            }
            if let Some(max) = bound("maximum").filter(|m| n > *m) {
                add(format!("should be less than or equal to {max}"));
            }
        }
        Value::String(s) => {
            let length = s.chars().count() as u64;
            if let Some(min) = count("minLength").filter(|m| length < *m) {
                add(format!("should be at least {min} chars long"));
            }
            if let Some(max) = count("maxLength").filter(|m| length > *m) {
                add(format!("may not be more than {max} bytes"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && !matches(pattern, s)
            {
                add(format!("should match '{pattern}'"));
            }
        }
        Value::Array(items) => {
            let length = items.len() as u64;
            if let Some(min) = count("minItems").filter(|m| length < *m) {
                add(format!("should have at least {min} items"));
            }
            if let Some(max) = count("maxItems").filter(|m| length > *m) {
                add(format!("must have at most {max} items"));
            }
        }
        _ => {}
    }
}

/// Whether `text` matches `pattern` somewhere, as Go's `regexp.MatchString` (which the API
/// server uses) does; a pattern that does not compile matches everything (the API server
/// refused the CRD already). Compiled patterns are kept.
fn matches(pattern: &str, text: &str) -> bool {
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .as_ref()
        .is_none_or(|re| re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_broken_constraint_is_reported_at_its_field() {
        let schema = json!({"type": "object", "properties": {
            "size": {"type": "integer", "minimum": 0, "maximum": 10},
            "name": {"type": "string", "maxLength": 3, "minLength": 1},
            "mac": {"type": "string", "pattern": "^[0-9a-f]{2}$"},
            "disks": {"type": "array", "minItems": 2, "maxItems": 3,
                      "items": {"type": "object", "properties": {"gb": {"minimum": 1}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 2}},
        }});
        let fine = json!({"size": 10, "name": "abc", "mac": "0a", "disks": [{"gb": 1}, {}],
                          "labels": {"a": "bb"}});
        assert_eq!(violations(&fine, &schema), Vec::new());
        let broken = json!({"size": -1, "name": "", "mac": "zz", "disks": [{"gb": 0}],
                            "labels": {"a": "ccc"}});
        let mut fields: Vec<_> = violations(&broken, &schema)
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["disks", "disks[0].gb", "labels.a", "mac", "name", "size"]
        );
        let too_big = violations(&json!({"size": 11}), &schema);
        assert_eq!(too_big[0].message, "should be less than or equal to 10");
    }

    #[test]
    fn a_pattern_matches_anywhere_as_in_go() {
        assert!(matches("[0-9]{2}", "ab12cd"));
        assert!(!matches("^[0-9]{2}$", "ab12cd"));
        assert!(matches("(unclosed", "anything"));
    }
}
