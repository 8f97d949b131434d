//! The host's DataImage (same name): read for the state machine, which attaches or detaches it
//! while the host is off, and updated with the outcome.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use metal3_api::consts::DATA_IMAGE_FINALIZER;
use metal3_api::v1alpha1::DataImage;
use metal3_hoststate::DataImageInput;
use serde_json::json;

use crate::cache::Cached;
use crate::context::Error;
use metal3_kube::meta::set_finalizer;

fn attached(di: &DataImage) -> Option<String> {
    di.status
        .as_ref()
        .and_then(|s| s.attached_image.as_ref())
        .map(|a| a.url.clone())
        .filter(|u| !u.is_empty())
}

/// Reads the host's DataImage, taking ownership (finalizer) of a new one and letting a deleted
/// one go once nothing is attached.
pub(crate) async fn load(
    client: &Client,
    cache: &Cached<DataImage>,
    ns: &str,
    name: &str,
    host_deleting: bool,
) -> Result<Option<DataImageInput>, Error> {
    let api: Api<DataImage> = Api::namespaced(client.clone(), ns);
    let Some(di) = cache.get(ns, name) else {
        return Ok(None);
    };
    let deleting = di.metadata.deletion_timestamp.is_some();
    if deleting || host_deleting {
        if attached(&di).is_none() || host_deleting {
            // Nothing attached (or the host is going away with it): let it go.
            if let Some(patched) = set_finalizer(&api, &*di, DATA_IMAGE_FINALIZER, false).await? {
                cache.wrote(ns, name, Some(patched));
            }
            return Ok(None);
        }
    } else if let Some(patched) = set_finalizer(&api, &*di, DATA_IMAGE_FINALIZER, true).await? {
        cache.wrote(ns, name, Some(patched));
    }
    Ok(Some(DataImageInput {
        wanted: (!deleting).then(|| di.spec.url.clone()),
        attached: attached(&di),
    }))
}

/// Records an attach or detach on the DataImage.
pub(crate) async fn record(
    client: &Client,
    cache: &Cached<DataImage>,
    ns: &str,
    name: &str,
    outcome: Result<Option<String>, String>,
) -> Result<(), Error> {
    let api: Api<DataImage> = Api::namespaced(client.clone(), ns);
    let Some(di) = cache.get(ns, name) else {
        return Ok(());
    };
    let now = Time(Timestamp::now());
    let patch = match &outcome {
        Ok(url) => json!({"status": {
            "attachedImage": url.as_ref().map(|u| json!({"url": u})),
            "lastReconciled": now,
            "error": null,
        }}),
        Err(message) => {
            let count = di
                .status
                .as_ref()
                .and_then(|s| s.error.as_ref())
                .map(|e| e.count)
                .unwrap_or(0);
            json!({"status": {
                "lastReconciled": now,
                "error": {"count": count + 1, "message": message},
            }})
        }
    };
    let updated = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let released = if matches!(outcome, Ok(None)) && updated.metadata.deletion_timestamp.is_some() {
        set_finalizer(&api, &updated, DATA_IMAGE_FINALIZER, false).await?
    } else {
        None
    };
    cache.wrote(ns, name, Some(released.unwrap_or(updated)));
    Ok(())
}
