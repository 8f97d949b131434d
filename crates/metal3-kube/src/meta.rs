//! Small metadata operations: finalizers, owner references, idempotent creation.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams, PostParams};
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
    let has = obj.finalizers().iter().any(|f| f == name);
    if has == present {
        return Ok(None);
    }
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != name)
        .cloned()
        .collect();
    if present {
        finalizers.push(name.to_string());
    }
    let patch = json!({"metadata": {
        "resourceVersion": obj.resource_version(),
        "finalizers": finalizers,
    }});
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(Some)
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
