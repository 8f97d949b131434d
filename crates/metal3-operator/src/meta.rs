//! Small metadata operations shared by the controllers.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_provisioner::{Credentials, HostData};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Adds (`present`) or removes the finalizer `name` on `obj`. The patch carries the object's
/// resourceVersion, so a concurrent change makes it fail (and the reconcile retry) instead of
/// losing someone else's finalizer. Nothing is sent when nothing changes.
pub(crate) async fn set_finalizer<K>(
    api: &Api<K>,
    obj: &K,
    name: &str,
    present: bool,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let has = obj.finalizers().iter().any(|f| f == name);
    if has == present {
        return Ok(());
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
    .await?;
    Ok(())
}

/// The host as a provisioner sees it.
pub(crate) fn host_data(host: &BareMetalHost, credentials: Credentials) -> HostData {
    HostData {
        namespace: host.namespace().unwrap_or_default(),
        name: host.name_any(),
        uid: host.metadata.uid.clone().unwrap_or_default(),
        annotations: host.annotations().clone(),
        bmc_address: host.spec.bmc.address.clone(),
        disable_certificate_verification: host.spec.bmc.disable_certificate_verification,
        credentials,
        boot_mac_address: host.spec.boot_mac_address.clone(),
        provisioner_id: host
            .status
            .as_ref()
            .map(|s| s.provisioning.id.clone())
            .unwrap_or_default(),
    }
}
