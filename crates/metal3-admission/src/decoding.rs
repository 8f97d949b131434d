//! Decoding objects as the two decoders upstream users meet: Go's `encoding/json` in upstream's
//! webhooks ([`decode_like_go`]: an absent field takes its zero value, `null` counts as absent)
//! and the API server for a manifest ([`decode_like_api_server`]: `null`s of non-nullable
//! fields pruned, schema defaults applied, fields the schema does not know reported).
//!
//! Both are guided by the schema the API server holds for the kind — our CRDs, generated from
//! the Rust types ([`schema_of`]) — so no field needs a hand-written `#[serde(default)]` to be
//! decoded as Go decodes it.

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::verdict::FieldError;

/// What to put in place of an absent field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Absent {
    /// Go's zero value, for a field the schema requires (as `encoding/json` leaves it).
    ZeroValue,
    /// The schema's `default`, as the API server defaults an object it decodes.
    SchemaDefault,
}

/// What the API server holds for one kind and version.
struct Served {
    /// `openAPIV3Schema`, as JSON.
    schema: Value,
    /// Whether `status` is a subresource, so that writes to the object itself ignore it.
    status_subresource: bool,
}

fn served(api_version: &str, kind: &str) -> Option<&'static Served> {
    static SERVED: OnceLock<HashMap<(String, String), Served>> = OnceLock::new();
    SERVED
        .get_or_init(|| {
            let crds = metal3_api::crds::all()
                .into_iter()
                .chain(metal3_capm3_api::crds::all())
                .chain(metal3_ipam_api::crds::all());
            crds.flat_map(versions).collect()
        })
        .get(&(api_version.to_string(), kind.to_string()))
}

/// The OpenAPI schema (`openAPIV3Schema`, as JSON) the API server holds for `kind` in
/// `api_version`: every metal3.io, Cluster API provider and IP address manager kind and version.
pub fn schema_of(api_version: &str, kind: &str) -> Option<&'static Value> {
    served(api_version, kind).map(|s| &s.schema)
}

/// Each version's `((apiVersion, kind), what is served)` of one CRD.
fn versions(crd: CustomResourceDefinition) -> Vec<((String, String), Served)> {
    let (group, kind) = (crd.spec.group, crd.spec.names.kind);
    crd.spec
        .versions
        .into_iter()
        .filter_map(|v| {
            let status_subresource = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
            let schema = serde_json::to_value(v.schema?.open_api_v3_schema?).ok()?;
            let served = Served {
                schema,
                status_subresource,
            };
            Some(((format!("{group}/{}", v.name), kind.clone()), served))
        })
        .collect()
}

fn type_of(object: &Value) -> (&str, &str) {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or("");
    (text("apiVersion"), text("kind"))
}

/// The schema of `object`'s own kind (by its `apiVersion` and `kind`), if it is one we serve.
pub fn schema_of_object(object: &Value) -> Option<&'static Value> {
    let (api_version, kind) = type_of(object);
    schema_of(api_version, kind)
}

/// Whether the API server ignores `object`'s `status` when the object itself is written (its
/// kind has a status subresource): it checks no type or value there, only unknown fields.
pub fn status_is_subresource(object: &Value) -> bool {
    let (api_version, kind) = type_of(object);
    served(api_version, kind).is_some_and(|s| s.status_subresource)
}

/// Decodes `value` as Go's `encoding/json` decodes it into upstream's types: a field that is
/// absent or `null` takes its zero value (`""`, `0`, `false`, empty list, map or struct), so
/// only a wrong JSON type or a value the Rust type cannot hold is refused. Without a schema,
/// `value` is decoded as it is.
pub fn decode_like_go<T: DeserializeOwned>(
    value: &Value,
    schema: Option<&Value>,
) -> Result<T, FieldError> {
    match schema {
        Some(schema) => crate::verdict::decode(&as_go_decodes(value, schema)),
        None => crate::verdict::decode(value),
    }
}

/// `value` with what Go's decoder would leave in absent (or `null`) fields of `schema` filled
/// in: each required field's zero value, at every depth.
pub fn as_go_decodes(value: &Value, schema: &Value) -> Value {
    let mut filled = value.clone();
    // A kind's `spec` is a struct in every type (upstream's and ours), though the schema kube
    // generates leaves it out of `required`.
    if let Some(object) = filled.as_object_mut()
        && object.get("spec").is_none_or(Value::is_null)
        && object.contains_key("apiVersion")
        && schema["properties"]["spec"]["type"] == "object"
    {
        object.insert("spec".into(), Value::Object(Map::new()));
    }
    normalise(&mut filled, schema, Absent::ZeroValue);
    filled
}

/// `value` as the API server stores it before admission: `null`s of fields the schema does
/// not mark `nullable` pruned, and absent fields given the schema's `default`.
pub fn as_api_server_stores(value: &Value, schema: Option<&Value>) -> Value {
    let mut stored = value.clone();
    if let Some(schema) = schema {
        normalise(&mut stored, schema, Absent::SchemaDefault);
    }
    stored
}

/// Decodes `value` strictly, as the API server's schema checks do: a missing required field or
/// a wrong type is the error; fields that `T` does not know are returned beside the result,
/// each as a [`FieldError`] `unknown field "<path>"`.
pub fn decode_like_api_server<T: DeserializeOwned>(
    value: &Value,
) -> (Result<T, FieldError>, Vec<FieldError>) {
    let mut unknown = Vec::new();
    let mut collect = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    let wrapped = serde_ignored::Deserializer::new(value, &mut collect);
    let decoded = serde_path_to_error::deserialize(wrapped).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(object)".to_string()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    });
    let unknown = unknown
        .into_iter()
        .map(|path| FieldError::new(path.clone(), format!("unknown field \"{path}\"")))
        .collect();
    (decoded, unknown)
}

/// A path as the API server writes it: `spec.items[0].name`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// Walks `value` beside `schema`: drops `null`s of non-nullable known fields and fills absent
/// fields as `absent` says, in every nested object, list item and map value.
fn normalise(value: &mut Value, schema: &Value, absent: Absent) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                normalise_fields(map, schema, properties, absent);
            } else if let Some(values) =
                schema.get("additionalProperties").filter(|s| s.is_object())
            {
                for v in map.values_mut() {
                    normalise(v, values, absent);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for v in items {
                    normalise(v, item, absent);
                }
            }
        }
        _ => {}
    }
}

fn normalise_fields(
    map: &mut Map<String, Value>,
    schema: &Value,
    properties: &Map<String, Value>,
    absent: Absent,
) {
    map.retain(|name, v| !(v.is_null() && properties.get(name).is_some_and(|s| !nullable(s))));
    for (name, v) in map.iter_mut() {
        if let Some(field) = properties.get(name) {
            normalise(v, field, absent);
        }
    }
    let missing: Vec<(&String, &Value)> = match absent {
        Absent::ZeroValue => schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|name| properties.get_key_value(name))
            .collect(),
        Absent::SchemaDefault => properties
            .iter()
            .filter(|(_, s)| s.get("default").is_some())
            .collect(),
    };
    for (name, field) in missing {
        if map.contains_key(name) {
            continue;
        }
        let filled = match absent {
            Absent::ZeroValue => zero_value(field),
            Absent::SchemaDefault => field.get("default").cloned(),
        };
        if let Some(mut filled) = filled {
            normalise(&mut filled, field, absent);
            map.insert(name.clone(), filled);
        }
    }
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// Go's zero value for a field of `schema`'s type; `None` where the Rust type has no zero
/// (a timestamp) or the schema does not say.
fn zero_value(schema: &Value) -> Option<Value> {
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Some(Value::from(0));
    }
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    match schema.get("type").and_then(Value::as_str)? {
        "string" if matches!(format, "date-time" | "date") => None,
        "string" => Some(Value::from("")),
        "integer" | "number" => Some(Value::from(0)),
        "boolean" => Some(Value::from(false)),
        "array" => Some(Value::Array(Vec::new())),
        "object" => Some(Value::Object(Map::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["name", "inner"],
            "properties": {
                "name": {"type": "string"},
                "count": {"type": "integer", "default": 3},
                "maybe": {"type": "string", "nullable": true},
                "when": {"type": "string", "format": "date-time"},
                "inner": {
                    "type": "object",
                    "required": ["ID", "on", "list", "size"],
                    "properties": {
                        "ID": {"type": "string"},
                        "on": {"type": "boolean"},
                        "list": {"type": "array", "items": {"type": "string"}},
                        "size": {"x-kubernetes-int-or-string": true},
                    },
                },
                "byName": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["a"],
                        "properties": {"a": {"type": "integer"}},
                    },
                },
                "items": {
                    "type": "array",
                    "items": {"type": "object", "required": ["b"], "properties": {"b": {"type": "string"}}},
                },
            },
        })
    }

    #[test]
    fn absent_and_null_fields_take_go_zero_values_at_every_depth() {
        let mut v = json!({"name": null, "byName": {"x": {}}, "items": [{}], "maybe": null});
        normalise(&mut v, &schema(), Absent::ZeroValue);
        assert_eq!(
            v,
            json!({
                "name": "",
                "inner": {"ID": "", "on": false, "list": [], "size": 0},
                "byName": {"x": {"a": 0}},
                "items": [{"b": ""}],
                "maybe": null,
            })
        );
    }

    #[test]
    fn the_api_server_prunes_nulls_and_applies_defaults_but_fills_no_required_field() {
        let mut v = json!({"count": null, "maybe": null, "when": null});
        normalise(&mut v, &schema(), Absent::SchemaDefault);
        assert_eq!(v, json!({"count": 3, "maybe": null}));
    }

    #[test]
    fn a_timestamp_has_no_zero_value_to_fill() {
        let required_time = json!({"type": "object", "required": ["when"],
            "properties": {"when": {"type": "string", "format": "date-time"}}});
        let mut v = json!({});
        normalise(&mut v, &required_time, Absent::ZeroValue);
        assert_eq!(v, json!({}));
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(rename = "ID")]
        id: String,
        on: bool,
    }

    #[test]
    fn go_decoding_accepts_partial_objects_and_refuses_wrong_types() {
        let schema = schema();
        let partial: Outer = decode_like_go(&json!({"inner": {"on": true}}), Some(&schema))
            .expect("a partial object decodes");
        assert_eq!(partial.inner.id, "");
        assert!(partial.inner.on);
        let wrong = decode_like_go::<Outer>(&json!({"name": 7}), Some(&schema))
            .expect_err("a number is not a string");
        assert_eq!(wrong.field, "name");
        let no_schema = decode_like_go::<Outer>(&json!({"name": "x"}), None)
            .expect_err("without a schema nothing is filled");
        assert_eq!(no_schema.field, "(object)");
    }

    #[test]
    fn strict_decoding_reports_unknown_fields_with_their_paths() {
        let v = json!({"name": "n", "extra": 1, "inner": {"ID": "i", "on": false, "deep": [1]}});
        let (decoded, unknown) = decode_like_api_server::<Outer>(&v);
        assert!(decoded.is_ok(), "{decoded:?}");
        let fields: Vec<_> = unknown.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["extra", "inner.deep"]);
        assert_eq!(unknown[0].message, "unknown field \"extra\"");
        let (missing, _) = decode_like_api_server::<Outer>(&json!({"name": "n"}));
        let missing = missing.expect_err("inner is required");
        assert!(missing.message.contains("inner"), "{missing}");
    }

    #[test]
    fn every_served_kind_has_a_schema() {
        let host = schema_of("metal3.io/v1alpha1", "BareMetalHost").expect("BareMetalHost");
        assert!(host["properties"]["status"]["properties"]["provisioning"].is_object());
        assert!(schema_of("infrastructure.cluster.x-k8s.io/v1beta2", "Metal3Machine").is_some());
        assert!(schema_of("infrastructure.cluster.x-k8s.io/v1beta1", "Metal3Machine").is_some());
        assert!(schema_of("ipam.metal3.io/v1alpha1", "IPPool").is_some());
        assert!(schema_of("v1", "ConfigMap").is_none());
        let object = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "DataImage"});
        assert!(schema_of_object(&object).is_some());
    }
}
