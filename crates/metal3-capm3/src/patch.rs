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

/// Writes what changed from `old` (as read) to `new`: labels, annotations, finalizers and spec
/// through the main resource, and the status through its subresource. The spec goes first, so
/// no reader sees a status (say, `ready`) before the spec it speaks of; but when finalizers are
/// removed the status goes first, as the object may be gone right after. A change of
/// finalizers is pinned to `old`'s resourceVersion, so a concurrent change fails the write (and
/// the reconcile retries) instead of losing someone's finalizer. Returns whether anything was
/// written.
pub async fn write<K>(api: &Api<K>, old: &K, new: &K) -> Result<bool, kube::Error>
where
    K: Resource + Serialize + Clone + DeserializeOwned + Debug,
{
    let (o, n) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    );
    let name = old.name_any();
    let status = merge_diff(o.get("status"), n.get("status"));
    let mut main = merge_diff(Some(&main_part(&o)), Some(&main_part(&n)));
    if let Some(diff) = main.as_mut()
        && diff["metadata"].get("finalizers").is_some()
    {
        diff["metadata"]["resourceVersion"] = json!(old.resource_version());
    }
    let removes_finalizers = new.meta().finalizers.as_ref().map_or(0, Vec::len)
        < old.meta().finalizers.as_ref().map_or(0, Vec::len);
    let write_status = async |diff: Value| {
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": diff})),
        )
        .await
        .map(|_| ())
    };
    let wrote = status.is_some() || main.is_some();
    if removes_finalizers && let Some(diff) = status.clone() {
        write_status(diff).await?;
    }
    if let Some(diff) = main {
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&diff))
            .await?;
    }
    if !removes_finalizers && let Some(diff) = status {
        write_status(diff).await?;
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
