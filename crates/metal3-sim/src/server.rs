//! Listeners: plain HTTP or HTTPS with a self-signed certificate, one for the whole fleet and
//! optionally one per server (its own BMC on its own port).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::redfish::{Fleet, bmc_router, redfish_routes, router};

/// A certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A self-signed certificate for `names` (DNS names or IP addresses), as BMCs ship with.
pub fn self_signed(names: &[String]) -> Result<TlsMaterial, String> {
    let key = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    Ok(TlsMaterial {
        cert_pem: key.cert.pem(),
        key_pem: key.signing_key.serialize_pem(),
    })
}

/// Serves `router` on `listener`, over TLS when `tls` is given, until the process ends.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<&TlsMaterial>,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, router).await;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        tls.cert_pem.clone().into_bytes(),
        tls.key_pem.clone().into_bytes(),
    )
    .await?;
    let listener = listener.into_std()?;
    axum_server::from_tcp_rustls(listener, config)
        .serve(router.into_make_service())
        .await
}

/// Serves every server of `fleet` (and the simulator's endpoints) on `listener`, plain HTTP.
pub async fn serve(listener: tokio::net::TcpListener, fleet: Arc<Fleet>) -> std::io::Result<()> {
    serve_router(listener, router(fleet), None).await
}

/// Binds one listener per server, at `base + index` on `ip`, and serves each server's own BMC
/// there. Returns when every listener is bound; the listeners run as tasks.
pub async fn serve_per_host(
    fleet: Arc<Fleet>,
    ip: std::net::IpAddr,
    base: u16,
    tls: Option<TlsMaterial>,
) -> std::io::Result<Vec<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let last = usize::from(base) + fleet.len().saturating_sub(1);
    if last > usize::from(u16::MAX) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "ports {base}..={last} do not fit: {} servers need a lower base port",
                fleet.len()
            ),
        ));
    }
    let shared = redfish_routes(&fleet);
    let mut tasks = Vec::with_capacity(fleet.len());
    for index in 0..fleet.len() {
        let port = base + index as u16;
        let addr = SocketAddr::new(ip, port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} for server {index}: {e}"),
            )
        })?;
        let router = bmc_router(&shared, &fleet, index);
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            serve_router(listener, router, tls.as_ref()).await
        }));
    }
    Ok(tasks)
}
