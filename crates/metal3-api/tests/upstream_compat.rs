//! Wire compatibility of our generated CRDs with upstream Metal³'s.
//!
//! The upstream CRDs live in the read-only `shared/reference/crds/` beside the checkout (CI has
//! them there too; `METAL3_SHARED_DIR` overrides the location). They are data for comparison
//! only: this test walks both schemas and requires every upstream field path to exist in ours
//! with the same type, format, enum, bounds, pattern, default, required set and list/map
//! markers, and no field of ours that upstream lacks. Descriptions must exist and be our own.

use std::collections::BTreeSet;
use std::path::PathBuf;

use metal3_api::crds;
use serde_json::Value;

/// Deliberate deviations from upstream: `(kind, path, attribute, why)`.
const ALLOWED: &[(&str, &str, &str, &str)] = &[(
    "BareMetalHost",
    "status.errorType",
    "enum",
    "upstream's controller writes `detach error` but its CRD enum lacks it, so such status \
     writes fail there; we accept it",
)];

/// Schema attributes that must match upstream exactly.
const EXACT_KEYS: &[&str] = &[
    "type",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "default",
    "nullable",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-validations",
];

/// Attributes compared as sets (order carries no meaning).
const SET_KEYS: &[&str] = &["enum", "required"];

fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("METAL3_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("reference/crds/baremetal-operator").is_dir(),
        "upstream CRDs not found under {}: check out the project with shared/ beside it, or set \
         METAL3_SHARED_DIR to the shared/ directory",
        dir.display()
    );
    dir
}

fn upstream_crd(file_name: &str) -> Result<Value, String> {
    let path = shared_dir()
        .join("reference/crds/baremetal-operator")
        .join(file_name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no upstream CRD {} ({e}): check group and plural",
            path.display()
        )
    })?;
    serde_saphyr::from_str(&text)
        .map_err(|e| format!("cannot parse upstream CRD {}: {e}", path.display()))
}

struct Diff<'a> {
    kind: &'a str,
    problems: Vec<String>,
}

impl Diff<'_> {
    fn report(&mut self, path: &str, attribute: &str, message: String) {
        let allowed = ALLOWED
            .iter()
            .any(|(k, p, a, _)| *k == self.kind && *p == path && *a == attribute);
        if !allowed {
            self.problems
                .push(format!("{} {path} [{attribute}]: {message}", self.kind));
        }
    }
}

/// Drops attributes whose value equals the absent default, so `false` and absent compare equal.
fn attribute(schema: &Value, key: &str) -> Option<Value> {
    match schema.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        // YAML integers and Rust f64 bounds compare by value.
        Some(Value::Number(n)) => n.as_f64().map(|f| serde_json::json!(f)),
        Some(v) => Some(v.clone()),
    }
}

fn as_set(value: Option<&Value>) -> BTreeSet<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.to_string()).collect())
        .unwrap_or_default()
}

fn compare_schema(diff: &mut Diff<'_>, path: &str, ours: &Value, theirs: &Value) {
    for key in EXACT_KEYS {
        let (o, t) = (attribute(ours, key), attribute(theirs, key));
        if o != t {
            diff.report(path, key, format!("ours {o:?}, upstream {t:?}"));
        }
    }
    for key in SET_KEYS {
        let (o, t) = (as_set(ours.get(key)), as_set(theirs.get(key)));
        if o != t {
            diff.report(path, key, format!("ours {o:?}, upstream {t:?}"));
        }
    }
    if let Some(upstream_text) = theirs.get("description").and_then(Value::as_str) {
        match ours.get("description").and_then(Value::as_str) {
            None => diff.report(path, "description", "missing".into()),
            Some(text) if text.trim() == upstream_text.trim() && text.len() > 40 => {
                diff.report(path, "description", "copied from upstream".into())
            }
            Some(_) => {}
        }
    }
    let empty = serde_json::Map::new();
    let our_props = ours
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let their_props = theirs
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, their_child) in their_props {
        let child_path = join(path, name);
        match our_props.get(name) {
            Some(our_child) => compare_schema(diff, &child_path, our_child, their_child),
            None => diff.report(&child_path, "field", "missing in ours".into()),
        }
    }
    for name in our_props.keys() {
        if !their_props.contains_key(name) {
            diff.report(&join(path, name), "field", "not in upstream".into());
        }
    }
    for (key, suffix) in [("items", "[]"), ("additionalProperties", "{}")] {
        match (ours.get(key), theirs.get(key)) {
            (Some(o), Some(t)) if o.is_object() || t.is_object() => {
                compare_schema(diff, &format!("{path}{suffix}"), o, t)
            }
            (o, t) if o != t => diff.report(path, key, format!("ours {o:?}, upstream {t:?}")),
            _ => {}
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn printer_columns(version: &Value) -> Vec<(String, String, String, i64, String)> {
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let priority = c.get("priority").and_then(Value::as_i64).unwrap_or(0);
                    (s("name"), s("type"), s("jsonPath"), priority, s("format"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn compare_crd(ours: &Value, theirs: &Value) -> Vec<String> {
    let kind = theirs["spec"]["names"]["kind"].as_str().unwrap_or("?");
    let mut diff = Diff {
        kind,
        problems: Vec::new(),
    };
    if ours["metadata"]["name"] != theirs["metadata"]["name"] {
        diff.report("", "metadata.name", "differs".into());
    }
    for key in ["group", "scope"] {
        if ours["spec"][key] != theirs["spec"][key] {
            diff.report(
                "",
                key,
                format!(
                    "ours {}, upstream {}",
                    ours["spec"][key], theirs["spec"][key]
                ),
            );
        }
    }
    for key in ["kind", "listKind", "plural", "singular"] {
        let (o, t) = (&ours["spec"]["names"][key], &theirs["spec"]["names"][key]);
        if o != t {
            diff.report(
                "",
                &format!("names.{key}"),
                format!("ours {o}, upstream {t}"),
            );
        }
    }
    for key in ["shortNames", "categories"] {
        let (o, t) = (
            as_set(ours["spec"]["names"].get(key)),
            as_set(theirs["spec"]["names"].get(key)),
        );
        if o != t {
            diff.report(
                "",
                &format!("names.{key}"),
                format!("ours {o:?}, upstream {t:?}"),
            );
        }
    }
    let empty = Vec::new();
    let our_versions = ours["spec"]["versions"].as_array().unwrap_or(&empty);
    for their_version in theirs["spec"]["versions"].as_array().unwrap_or(&empty) {
        let name = their_version["name"].as_str().unwrap_or("?");
        let Some(our_version) = our_versions
            .iter()
            .find(|v| v["name"] == their_version["name"])
        else {
            diff.report("", "versions", format!("version {name} missing"));
            continue;
        };
        for key in ["served", "storage", "subresources"] {
            if our_version[key] != their_version[key] {
                diff.report(
                    "",
                    &format!("{name}.{key}"),
                    format!("ours {}, upstream {}", our_version[key], their_version[key]),
                );
            }
        }
        let (o, t) = (printer_columns(our_version), printer_columns(their_version));
        if o != t {
            diff.report(
                "",
                &format!("{name}.printerColumns"),
                format!("ours {o:?}, upstream {t:?}"),
            );
        }
        let our_schema = &our_version["schema"]["openAPIV3Schema"];
        let their_schema = &their_version["schema"]["openAPIV3Schema"];
        // apiVersion, kind and metadata are Kubernetes' own; only the presence matters.
        for root in ["spec", "status"] {
            match (
                &our_schema["properties"][root],
                &their_schema["properties"][root],
            ) {
                (Value::Null, Value::Null) => {}
                (o, t) => compare_schema(&mut diff, root, o, t),
            }
        }
        let (o, t) = (
            as_set(our_schema.get("required")),
            as_set(their_schema.get("required")),
        );
        if o != t {
            diff.report("", "required", format!("ours {o:?}, upstream {t:?}"));
        }
    }
    diff.problems
}

#[test]
fn every_kind_matches_upstream_crd() {
    let mut problems = Vec::new();
    for crd in crds::all() {
        let ours = serde_json::to_value(&crd).expect("CRD serialises to JSON");
        match upstream_crd(&crds::file_name(&crd)) {
            Ok(theirs) => problems.extend(compare_crd(&ours, &theirs)),
            Err(e) => problems.push(e),
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from upstream:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn allowed_deviations_are_explained() {
    for (kind, path, attribute, why) in ALLOWED {
        assert!(
            why.len() > 20,
            "deviation {kind} {path} [{attribute}] needs a real reason"
        );
    }
}

#[test]
fn comparator_catches_a_changed_type() {
    let theirs =
        serde_json::json!({"properties": {"online": {"type": "boolean", "description": "x"}}});
    let ours =
        serde_json::json!({"properties": {"online": {"type": "string", "description": "y"}}});
    let mut diff = Diff {
        kind: "Test",
        problems: Vec::new(),
    };
    compare_schema(&mut diff, "spec", &ours, &theirs);
    assert_eq!(diff.problems.len(), 1, "{:?}", diff.problems);
    assert!(diff.problems[0].contains("spec.online [type]"));
}
