//! Field-by-field comparison of a generated CRD with upstream's, for the compatibility tests
//! of every API crate: every upstream field path must exist in ours with the same type, format,
//! enum, bounds, pattern, default, required set and list/map markers, and no field of ours may be
//! missing upstream. Descriptions must exist and be our own. Pure: the caller reads the files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

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

/// A deliberate deviation from upstream: `(kind, path, attribute, why)`.
pub type Deviation<'a> = (&'a str, &'a str, &'a str, &'a str);

struct Diff<'a> {
    kind: &'a str,
    allowed: &'a [Deviation<'a>],
    problems: Vec<String>,
}

impl Diff<'_> {
    fn report(&mut self, path: &str, attribute: &str, message: String) {
        let allowed = self
            .allowed
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

/// The deviations in `allowed` whose reason is too short to explain anything.
pub fn unexplained(allowed: &[Deviation<'_>]) -> Vec<String> {
    allowed
        .iter()
        .filter(|(_, _, _, why)| why.len() <= 20)
        .map(|(kind, path, attribute, _)| {
            format!("deviation {kind} {path} [{attribute}] needs a real reason")
        })
        .collect()
}

/// Every difference between our CRD and upstream's (both as JSON), one line each, except the
/// `allowed` deviations: names, scope, versions (served, storage, deprecated, subresources,
/// printer columns) and every schema path under `spec` and `status`.
pub fn compare_crd(ours: &Value, theirs: &Value, allowed: &[Deviation<'_>]) -> Vec<String> {
    let kind = theirs["spec"]["names"]["kind"].as_str().unwrap_or("?");
    let mut diff = Diff {
        kind,
        allowed,
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
        for key in ["served", "storage", "deprecated", "subresources"] {
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

/// The read-only `shared/` directory beside the checkout (`METAL3_SHARED_DIR` overrides it),
/// given a crate's manifest directory (`crates/<name>`).
pub fn shared_dir(manifest_dir: &Path) -> PathBuf {
    std::env::var_os("METAL3_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../../../shared"))
}

/// Reads upstream CRD `file_name` of `component` (a directory of `reference/crds/`) as JSON.
pub fn read_upstream(shared: &Path, component: &str, file_name: &str) -> Result<Value, String> {
    let dir = shared.join("reference/crds").join(component);
    if !dir.is_dir() {
        return Err(format!(
            "upstream CRDs not found under {}: check out the project with shared/ beside it, or \
             set METAL3_SHARED_DIR to the shared/ directory",
            dir.display()
        ));
    }
    let path = dir.join(file_name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no upstream CRD {} ({e}): check group and plural",
            path.display()
        )
    })?;
    serde_saphyr::from_str(&text)
        .map_err(|e| format!("cannot parse upstream CRD {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deviation_needs_a_reason() {
        let allowed = [
            ("Kind", "spec.a", "enum", "short"),
            (
                "Kind",
                "spec.b",
                "type",
                "a reason long enough to explain it",
            ),
        ];
        assert_eq!(
            unexplained(&allowed),
            vec!["deviation Kind spec.a [enum] needs a real reason".to_string()]
        );
    }

    #[test]
    fn comparator_catches_a_changed_type() {
        let theirs =
            serde_json::json!({"properties": {"online": {"type": "boolean", "description": "x"}}});
        let ours =
            serde_json::json!({"properties": {"online": {"type": "string", "description": "y"}}});
        let mut diff = Diff {
            kind: "Test",
            allowed: &[],
            problems: Vec::new(),
        };
        compare_schema(&mut diff, "spec", &ours, &theirs);
        assert_eq!(diff.problems.len(), 1, "{:?}", diff.problems);
        assert!(diff.problems[0].contains("spec.online [type]"));
    }

    #[test]
    fn an_allowed_deviation_is_not_reported() {
        let theirs = serde_json::json!({"properties": {"a": {"type": "boolean"}}});
        let ours = serde_json::json!({"properties": {"a": {"type": "string"}}});
        let allowed = [("Test", "spec.a", "type", "a reason long enough to explain")];
        let mut diff = Diff {
            kind: "Test",
            allowed: &allowed,
            problems: Vec::new(),
        };
        compare_schema(&mut diff, "spec", &ours, &theirs);
        assert!(diff.problems.is_empty(), "{:?}", diff.problems);
    }
}
