//! How a controller serves `/metrics`: by default over HTTPS to callers the API server vouches
//! for (a bearer token it accepts, and RBAC allowing `get` on the non-resource URL `/metrics`),
//! as upstream's controllers serve it; with `--insecure-metrics`, plain HTTP for local use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;
use tracing::info;

#[derive(clap::Args, Debug, Clone)]
pub struct MetricsServing {
    /// Serve /metrics over plain HTTP to anyone who can reach it (local use). Without it,
    /// /metrics is HTTPS and answers only callers whose bearer token the API server accepts
    /// and whom RBAC allows to get the non-resource URL /metrics (see config/rbac/
    /// metrics_reader_role.yaml).
    #[arg(long)]
    pub insecure_metrics: bool,
    /// Directory holding the metrics endpoint's certificate as tls.crt and tls.key (default: a
    /// self-signed certificate made at start).
    #[arg(long)]
    pub metrics_cert_dir: Option<PathBuf>,
}

impl MetricsServing {
    /// Binds `addr` and serves `registry` there on a task of its own (the checks of callers
    /// go through `client`).
    pub async fn spawn(
        &self,
        addr: SocketAddr,
        registry: Arc<Registry>,
        client: &kube::Client,
    ) -> Result<()> {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
        if self.insecure_metrics {
            info!(metrics = %addr, "serving metrics over plain HTTP (--insecure-metrics)");
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(metal3_kube::http::serve(listener, registry));
            return Ok(());
        }
        let certificate =
            metal3_kube::metrics_access::certificate(self.metrics_cert_dir.as_deref())
                .with_context(|| match &self.metrics_cert_dir {
                    Some(dir) => format!(
                        "--metrics-cert-dir {}: cannot read tls.crt and tls.key",
                        dir.display()
                    ),
                    None => "cannot make a self-signed certificate for /metrics".to_string(),
                })?;
        info!(metrics = %addr, "serving metrics over HTTPS to callers the API server allows");
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) =
                metal3_kube::metrics_access::serve(listener, registry, client, certificate).await
            {
                tracing::error!(error = %e, "the metrics server stopped");
            }
        });
        Ok(())
    }
}
