//! Small metadata operations: finalizers, owner references, idempotent creation.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Adds (`present`) or removes the finalizer `name` on `obj`. The patch carries the object's
/// resourceVersion, so a concurrent change makes it fail (and the reconcile retry) instead of
/// losing someone else's finalizer. Nothing is sent (and `None` returned) when nothing
/// changes; otherwise the patched object is returned.
pub async fn set_finalizer<K>(
    api: &Api<K>,
    obj: &K,
    name: &str,
    present: bool,
) -> Result<Option<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(patch) = finalizer_patch(obj.meta(), name, present) else {
        return Ok(None);
    };
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(Some)
}

/// [`set_finalizer`] for an object known by its metadata only (a metadata watch); returns
/// the patched object's metadata.
pub async fn set_finalizer_meta<K>(
    api: &Api<K>,
    obj: &PartialObjectMeta<K>,
    name: &str,
    present: bool,
) -> Result<Option<PartialObjectMeta<K>>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(patch) = finalizer_patch(&obj.metadata, name, present) else {
        return Ok(None);
    };
    api.patch_metadata(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(Some)
}

/// The merge patch that adds or removes finalizer `name` (guarded by the resourceVersion), or
/// `None` when it is already as asked.
fn finalizer_patch(meta: &ObjectMeta, name: &str, present: bool) -> Option<serde_json::Value> {
    let current = meta.finalizers.as_deref().unwrap_or_default();
    let has = current.iter().any(|f| f == name);
    if has == present {
        return None;
    }
    let mut finalizers: Vec<String> = current.iter().filter(|f| *f != name).cloned().collect();
    if present {
        finalizers.push(name.to_string());
    }
    Some(json!({"metadata": {
        "resourceVersion": meta.resource_version,
        "finalizers": finalizers,
    }}))
}

/// A reference from an object to `owner`; a `controller` reference also blocks the owner's
/// deletion until the object is gone. `None` when the owner has no name or uid yet.
pub fn owner_reference<K>(owner: &K, controller: bool) -> Option<OwnerReference>
where
    K: Resource<DynamicType = ()>,
{
    Some(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone()?,
        uid: owner.meta().uid.clone()?,
        controller: controller.then_some(true),
        block_owner_deletion: controller.then_some(true),
    })
}

/// Creates `obj`; one that already exists (made by a concurrent reconcile, or another host of
/// the same model) is fine.
pub async fn create_unless_exists<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
