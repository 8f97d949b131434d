//! Serving webhooks (admission and conversion) to the API server over TLS, and answering an
//! `AdmissionReview` with a judge's verdict. Every webhook of the binary goes through here, so
//! they share one TLS story: a Kubernetes TLS Secret's `tls.crt` and `tls.key`.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

/// Answers an `AdmissionReview` with `judge`'s response to its request (any webhook of the
/// binary: the BareMetalHost rules here, the Cluster API provider's elsewhere).
pub fn answer(
    body: AdmissionReview<DynamicObject>,
    judge: impl Fn(&AdmissionRequest<DynamicObject>) -> AdmissionResponse,
) -> AdmissionReview<DynamicObject> {
    let request: Result<AdmissionRequest<DynamicObject>, _> = body.try_into();
    match request {
        Ok(request) => judge(&request),
        Err(e) => AdmissionResponse::invalid(format!("not an AdmissionReview request: {e}")),
    }
    .into_review()
}

/// What an admission request writes, as the rules see it.
enum Written {
    /// Not a create or update: nothing to judge.
    Nothing,
    /// The object could not be read as JSON.
    Unreadable,
    Object(Value),
}

fn written(request: &AdmissionRequest<DynamicObject>) -> Written {
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return Written::Nothing;
    }
    match request
        .object
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok())
    {
        Some(object) => Written::Object(object),
        None => Written::Unreadable,
    }
}

/// Validates a create or update with `judge(kind, new, old)`, which returns the warnings and,
/// when the object is refused, why. Other operations pass.
pub fn validate_write(
    request: &AdmissionRequest<DynamicObject>,
    judge: impl FnOnce(&str, &Value, Option<&Value>) -> (Vec<String>, Option<String>),
) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    let new = match written(request) {
        Written::Nothing => return response,
        Written::Unreadable => return response.deny("the object could not be read"),
        Written::Object(new) => new,
    };
    let old = request
        .old_object
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok());
    let (warnings, denial) = judge(&request.kind.kind, &new, old.as_ref());
    response.warnings = (!warnings.is_empty()).then_some(warnings);
    match denial {
        Some(why) => response.deny(why),
        None => response,
    }
}

/// Defaults a create or update with `default(kind, object)` (`None`: nothing to change),
/// answering with a JSON patch. Other operations pass.
pub fn default_write<E: std::fmt::Display>(
    request: &AdmissionRequest<DynamicObject>,
    default: impl FnOnce(&str, &Value) -> Result<Option<Value>, E>,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let object = match written(request) {
        Written::Nothing => return response,
        Written::Unreadable => return response.deny("the object could not be read"),
        Written::Object(object) => object,
    };
    match default(&request.kind.kind, &object) {
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

/// Serves any webhook `router` over TLS on `addr`, with the certificate from `cert_dir`
/// (`tls.crt`, `tls.key`): the same TLS story for every webhook of the binary.
pub async fn serve_router(
    addr: SocketAddr,
    cert_dir: &Path,
    router: Router,
) -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(
        cert_dir.join("tls.crt"),
        cert_dir.join("tls.key"),
    )
    .await?;
    axum_server::bind_rustls(addr, config)
        .serve(router.into_make_service())
        .await
}

/// Like [`serve_router`], on an already bound listener with the certificate given as PEM.
pub async fn serve_router_on(
    listener: std::net::TcpListener,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    router: Router,
) -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem).await?;
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, config)
        .serve(router.into_make_service())
        .await
}
