//! The webhook server's routes: defaulting (`/mutate-ipam-metal3-io-v1alpha1-<kind>`) and
//! validation (`/validate-ipam-metal3-io-v1alpha1-<kind>`) of IPPool, IPClaim and IPAddress at
//! upstream's paths, running the pure rules of [`crate::admission`]. Served over TLS like the
//! other webhooks of the binary (`metal3_kube::webhook::serve_router`).

use axum::Json;
use axum::Router;
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

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

/// Judges one admission request (validation).
pub fn validate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    metal3_kube::webhook::validate_write(request, |kind, new, old| {
        admission::validate(kind, new, old).outcome()
    })
}

/// Defaults one admission request, answering with a JSON patch.
pub fn mutate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    metal3_kube::webhook::default_write(request, admission::default)
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
