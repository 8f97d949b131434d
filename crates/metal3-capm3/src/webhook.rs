//! The CAPM3 webhook server: `/convert` (the `ConversionReview` of all nine kinds, running
//! [`metal3_capm3_api::conversion`]), and the defaulting (`/mutate-…`) and validating
//! (`/validate-…`) admission webhooks at upstream's paths, running the pure rules of
//! [`metal3_admission::capm3`]. Served over TLS like the operator's webhooks
//! (`metal3_kube::webhook::serve_router`).

use axum::Json;
use axum::Router;
use axum::routing::post;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use kube::core::{DynamicObject, Status};
use metal3_capm3_api::conversion;
use metal3_capm3_api::crds::CONVERSION_PATH;

use metal3_admission::capm3 as rules;

/// The kinds and the lower-case names in their webhook paths.
pub const KINDS: &[(&str, &str)] = &[
    ("Metal3Cluster", "metal3cluster"),
    ("Metal3ClusterTemplate", "metal3clustertemplate"),
    ("Metal3Data", "metal3data"),
    ("Metal3DataClaim", "metal3dataclaim"),
    ("Metal3DataTemplate", "metal3datatemplate"),
    ("Metal3Machine", "metal3machine"),
    ("Metal3MachineTemplate", "metal3machinetemplate"),
    ("Metal3Remediation", "metal3remediation"),
    ("Metal3RemediationTemplate", "metal3remediationtemplate"),
];

/// Kinds with a defaulting webhook.
pub const DEFAULTED: &[&str] = &["Metal3Cluster", "Metal3RemediationTemplate"];

/// Path of the validating webhook of `kind` (lower case).
pub fn validate_path(kind: &str) -> String {
    format!("/validate-infrastructure-cluster-x-k8s-io-v1beta2-{kind}")
}

/// Path of the defaulting webhook of `kind` (lower case).
pub fn mutate_path(kind: &str) -> String {
    format!("/mutate-infrastructure-cluster-x-k8s-io-v1beta2-{kind}")
}

/// Answers one `ConversionReview`: every object converted, or a failure naming the problem.
pub fn convert_review(review: ConversionReview) -> ConversionReview {
    let request = match ConversionRequest::from_review(review) {
        Ok(r) => r,
        Err(e) => {
            return ConversionResponse::invalid(Status::failure(&e.to_string(), "BadRequest"))
                .into_review();
        }
    };
    let desired = request.desired_api_version.clone();
    let converted: Result<Vec<_>, _> = request
        .objects
        .iter()
        .map(|o| conversion::convert(o, &desired))
        .collect();
    let response = ConversionResponse::for_request(request);
    match converted {
        Ok(objects) => response.success(objects),
        Err(e) => response.failure(Status::failure(&e.to_string(), "Invalid")),
    }
    .into_review()
}

/// Judges one admission request (validation).
pub fn validate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    metal3_kube::webhook::validate_write(request, |kind, new, old| {
        rules::validate(kind, new, old).outcome()
    })
}

/// Defaults one admission request, answering with a JSON patch.
pub fn mutate_request(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    metal3_kube::webhook::default_write(request, rules::default)
}

async fn admit(
    Json(body): Json<AdmissionReview<DynamicObject>>,
    judge: fn(&AdmissionRequest<DynamicObject>) -> AdmissionResponse,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(metal3_kube::webhook::answer(body, judge))
}

/// Every webhook route.
pub fn router() -> Router {
    let mut router = Router::new().route(
        CONVERSION_PATH,
        post(|Json(review): Json<ConversionReview>| async move { Json(convert_review(review)) }),
    );
    for (kind, lower) in KINDS {
        router = router.route(
            &validate_path(lower),
            post(|body| admit(body, validate_request)),
        );
        if DEFAULTED.contains(kind) {
            router = router.route(
                &mutate_path(lower),
                post(|body| admit(body, mutate_request)),
            );
        }
    }
    router
}
