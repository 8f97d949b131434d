//! Serving webhooks (admission and conversion) to the API server over TLS, and answering an
//! `AdmissionReview` with a judge's verdict. Every webhook of the binary goes through here, so
//! they share one TLS story: a Kubernetes TLS Secret's `tls.crt` and `tls.key`.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

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
