//! The validating admission webhook: the rules of `metal3-admission` served over TLS to the
//! API server, at upstream's paths, so an existing ValidatingWebhookConfiguration works as is.

use std::net::SocketAddr;
use std::path::Path;

use axum::Json;
use axum::Router;
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use metal3_admission::{FieldError, Verdict};
use metal3_kube::webhook::{answer, serve_router, serve_router_on};

/// The kinds with validating webhooks, and their paths.
pub const PATHS: &[(&str, &str)] = &[
    (
        "BareMetalHost",
        "/validate-metal3-io-v1alpha1-baremetalhost",
    ),
    (
        "BMCEventSubscription",
        "/validate-metal3-io-v1alpha1-bmceventsubscription",
    ),
    ("DataImage", "/validate-metal3-io-v1alpha1-dataimage"),
    (
        "HostFirmwareComponents",
        "/validate-metal3-io-v1alpha1-hostfirmwarecomponents",
    ),
    ("HostClaim", "/validate-metal3-io-v1alpha1-hostclaim"),
];

/// Judges one admission request.
pub fn review(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(object) = &request.object else {
        return response;
    };
    let to_value = |o: &DynamicObject| serde_json::to_value(o).ok();
    let (Some(new), old) = (
        to_value(object),
        request.old_object.as_ref().and_then(to_value),
    ) else {
        return response.deny("the object could not be read");
    };
    match metal3_admission::validate_value(&new, old.as_ref()) {
        Verdict::NotOurs => response,
        Verdict::Checked(found) if found.errors.is_empty() => response,
        Verdict::Checked(found) => response.deny(message(&found.errors)),
    }
}

/// All problems in one message, each naming its field.
fn message(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn handle(
    Json(body): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(answer(body, review))
}

/// Routes for every webhook path.
pub fn router() -> Router {
    PATHS
        .iter()
        .fold(Router::new(), |r, (_, path)| r.route(path, post(handle)))
}

/// Serves the webhooks over TLS on `addr`, with `tls.crt` and `tls.key` from `cert_dir` (the
/// layout of a Kubernetes TLS Secret mounted as a volume).
pub async fn serve(addr: SocketAddr, cert_dir: &Path) -> std::io::Result<()> {
    serve_router(addr, cert_dir, router()).await
}

/// Like [`serve`], on an already bound listener (tests bind port 0 first).
pub async fn serve_listener(
    listener: std::net::TcpListener,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
) -> std::io::Result<()> {
    serve_router_on(listener, cert_pem, key_pem, router()).await
}

/// [`router`] with the HostNetworkAttachment webhook, which needs `client` to find the hosts
/// referring to an attachment ([`crate::attachment_webhook`]).
pub fn router_with_client(client: kube::Client) -> Router {
    router().merge(
        Router::new()
            .route(
                crate::attachment_webhook::PATH,
                post(crate::attachment_webhook::handle),
            )
            .with_state(client),
    )
}

/// Like [`serve`], with the HostNetworkAttachment webhook too ([`router_with_client`]).
pub async fn serve_with_client(
    addr: SocketAddr,
    cert_dir: &Path,
    client: kube::Client,
) -> std::io::Result<()> {
    serve_router(addr, cert_dir, router_with_client(client)).await
}

/// Like [`serve_listener`], with the HostNetworkAttachment webhook too.
pub async fn serve_listener_with_client(
    listener: std::net::TcpListener,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    client: kube::Client,
) -> std::io::Result<()> {
    serve_router_on(listener, cert_pem, key_pem, router_with_client(client)).await
}
