//! The webhook server's routes: defaulting (`/mutate-ipam-metal3-io-v1alpha1-<kind>`) and
//! validation (`/validate-ipam-metal3-io-v1alpha1-<kind>`) of IPPool, IPClaim and IPAddress at
//! upstream's paths, running the pure rules of [`crate::admission`]. Served over TLS like the
//! other webhooks of the binary (`metal3_kube::webhook::serve_router`).

use axum::Json;
use axum::Router;
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use metal3_admission::Verdict;

use crate::admission;

/// The kinds and the lower-case names in their webhook paths.
pub const KINDS: &[(&str, &str)] = &[
    ("IPPool", "ippool"),
    ("IPClaim", "ipclaim"),
    ("IPAddress", "ipaddress"),
];

/// Path of the validating webhook of `kind` (lower case).
pub fn validate_path(kind: &str) -> String {
    format!("/validate-ipam-metal3-io-v1alpha1-{kind}")
}

/// Path of the defaulting webhook of `kind` (lower case).
pub fn mutate_path(kind: &str) -> String {
    format!("/mutate-ipam-metal3-io-v1alpha1-{kind}")
}

fn object_json(o: &DynamicObject) -> Option<serde_json::Value> {
    serde_json::to_value(o).ok()
}

/// Judges one admission request (validation).
pub fn validate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(new) = request.object.as_ref().and_then(object_json) else {
        return response.deny("the object could not be read");
    };
    let old = request.old_object.as_ref().and_then(object_json);
    match admission::validate(&request.kind.kind, &new, old.as_ref()) {
        Verdict::NotOurs => response,
        Verdict::Checked(findings) => {
            let mut response = response;
            let message = findings.message();
            response.warnings = (!findings.warnings.is_empty()).then_some(findings.warnings);
            if findings.errors.is_empty() {
                response
            } else {
                response.deny(message)
            }
        }
    }
}

/// Defaults one admission request, answering with a JSON patch.
pub fn mutate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(object) = request.object.as_ref().and_then(object_json) else {
        return response.deny("the object could not be read");
    };
    match admission::default(&request.kind.kind, &object) {
        Ok(None) => response,
        Ok(Some(defaulted)) => {
            let patch = json_patch::diff(&object, &defaulted);
            match response.clone().with_patch(patch) {
                Ok(r) => r,
                Err(e) => response.deny(format!("cannot encode the defaults: {e}")),
            }
        }
        Err(e) => response.deny(e.to_string()),
    }
}

async fn admit(
    Json(body): Json<AdmissionReview<DynamicObject>>,
    judge: fn(&AdmissionRequest<DynamicObject>) -> AdmissionResponse,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(metal3_kube::webhook::answer(body, judge))
}

/// Every webhook route: upstream registers a defaulting and a validating webhook per kind.
pub fn router() -> Router {
    let mut router = Router::new();
    for (_, lower) in KINDS {
        router = router
            .route(
                &validate_path(lower),
                post(|body| admit(body, validate_request)),
            )
            .route(
                &mutate_path(lower),
                post(|body| admit(body, mutate_request)),
            );
    }
    router
}
