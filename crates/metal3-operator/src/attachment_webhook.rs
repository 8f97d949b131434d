//! The HostNetworkAttachment webhook: the kind's rules from `metal3-admission`, plus the check
//! that needs the cluster — a spec change or a delete is refused while a BareMetalHost
//! interface refers to the attachment. Fail-closed: when the hosts cannot be listed, the change
//! is refused. Which hosts refer to it and the refusal itself are pure
//! (`metal3_admission::hostnetworkattachment`).

use axum::Json;
use axum::extract::State;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::{Client, ResourceExt};
use metal3_admission::decode;
use metal3_admission::hostnetworkattachment::{
    attachment_references, refuse_change_while_referenced, refuse_delete_while_referenced,
    spec_changed,
};
use metal3_api::v1alpha1::{BareMetalHost, HostNetworkAttachment};

/// Path of the webhook, as upstream's.
pub const PATH: &str = "/validate-metal3-io-v1alpha1-hostnetworkattachment";

/// Judges one admission request for a HostNetworkAttachment.
pub async fn review(
    client: &Client,
    request: &AdmissionRequest<DynamicObject>,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let to_value = |o: &DynamicObject| serde_json::to_value(o).ok();
    let old = request.old_object.as_ref().and_then(to_value);
    match request.operation {
        Operation::Create | Operation::Update => {}
        Operation::Delete => {
            let Some(old) = old.and_then(|v| decode::<HostNetworkAttachment>(&v).ok()) else {
                return response;
            };
            return match references(client, &old).await {
                Err(e) => response.deny(format!("failed to check BMH references: {e}")),
                Ok(refs) => match refuse_delete_while_referenced(&refs) {
                    Some(refusal) => response.deny(refusal.to_string()),
                    None => response,
                },
            };
        }
        _ => return response,
    }
    let Some(new) = request.object.as_ref().and_then(to_value) else {
        return response.deny("the object could not be read");
    };
    let (warnings, denial) = metal3_admission::validate_value(&new, old.as_ref()).outcome();
    if let Some(denial) = denial {
        return response.deny(denial);
    }
    let mut response = response;
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    let typed = |v: &serde_json::Value| decode::<HostNetworkAttachment>(v).ok();
    let (Some(new), old) = (typed(&new), old.as_ref().and_then(typed)) else {
        return response;
    };
    if !spec_changed(&new, old.as_ref()) {
        return response;
    }
    match references(client, &new).await {
        Err(e) => response.deny(format!(
            "failed to check BMH references, cannot safely allow update: {e}"
        )),
        Ok(refs) => match refuse_change_while_referenced(&refs) {
            Some(refusal) => response.deny(refusal.to_string()),
            None => response,
        },
    }
}

/// Every host interface in the cluster that refers to `attachment` (a reference may cross
/// namespaces, so all hosts are listed).
async fn references(
    client: &Client,
    attachment: &HostNetworkAttachment,
) -> Result<Vec<String>, kube::Error> {
    let hosts: Api<BareMetalHost> = Api::all(client.clone());
    let list = hosts.list(&ListParams::default()).await?;
    Ok(attachment_references(
        &attachment.namespace().unwrap_or_default(),
        &attachment.name_any(),
        &list.items,
    ))
}

/// The axum handler, with the client as state.
pub async fn handle(
    State(client): State<Client>,
    Json(body): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let request: Result<AdmissionRequest<DynamicObject>, _> = body.try_into();
    let response = match request {
        Ok(request) => review(&client, &request).await,
        Err(e) => AdmissionResponse::invalid(format!("not an AdmissionReview request: {e}")),
    };
    Json(response.into_review())
}
