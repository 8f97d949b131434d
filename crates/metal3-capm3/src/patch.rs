//! Merge patches (RFC 7386) computed from the object read and the object wanted, so a write
//! sends only what changed, with `null` for what went away.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The JSON merge patch (RFC 7386) turning `old` into `new`: changed keys, `null` for removed
/// ones, recursively for objects; `None` when they are equal.
pub fn merge_diff(old: Option<&Value>, new: Option<&Value>) -> Option<Value> {
    match (old, new) {
        (a, b) if a == b => None,
        (_, None) => Some(Value::Null),
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut out = Map::new();
            for (k, v) in b {
                if let Some(d) = merge_diff(a.get(k), Some(v)) {
                    out.insert(k.clone(), d);
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(out))
        }
        (_, Some(v)) => Some(v.clone()),
    }
}

/// The parts of an object a controller changes through the main resource.
fn main_part(object: &Value) -> Value {
    json!({
        "metadata": {
            "labels": object["metadata"]["labels"],
            "annotations": object["metadata"]["annotations"],
            "finalizers": object["metadata"]["finalizers"],
        },
        "spec": object["spec"],
    })
}

/// Writes what changed from `old` (as read) to `new`: the status through the status
/// subresource first, then labels, annotations, finalizers and spec. A change of finalizers is
/// pinned to `old`'s resourceVersion, so a concurrent change fails the write (and the reconcile
/// retries) instead of losing someone's finalizer. Returns whether anything was written.
pub async fn write<K>(api: &Api<K>, old: &K, new: &K) -> Result<bool, kube::Error>
where
    K: Resource + Serialize + Clone + DeserializeOwned + Debug,
{
    let (o, n) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    );
    let name = old.name_any();
    let mut wrote = false;
    if let Some(diff) = merge_diff(o.get("status"), n.get("status")) {
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": diff})),
        )
        .await?;
        wrote = true;
    }
    if let Some(mut diff) = merge_diff(Some(&main_part(&o)), Some(&main_part(&n))) {
        if diff["metadata"].get("finalizers").is_some() {
            diff["metadata"]["resourceVersion"] = json!(old.resource_version());
        }
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&diff))
            .await?;
        wrote = true;
    }
    Ok(wrote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_recursively_with_nulls_for_removals() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        let new = json!({"a": 1, "b": {"c": 5}, "e": [1, 2], "f": "x"});
        assert_eq!(
            merge_diff(Some(&old), Some(&new)),
            Some(json!({"b": {"c": 5, "d": null}, "e": [1, 2], "f": "x"}))
        );
        assert_eq!(merge_diff(Some(&old), Some(&old)), None);
        assert_eq!(merge_diff(Some(&old), None), Some(Value::Null));
        // Applying the diff gives the new document.
        let mut patched = old.clone();
        json_patch::merge(
            &mut patched,
            &merge_diff(Some(&old), Some(&new)).expect("diff"),
        );
        assert_eq!(patched, new);
    }
}
