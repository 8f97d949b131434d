//! `metal3 ipam`: Metal³'s IP address manager (the IPPool controller and its webhooks).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use metal3_kube::leader::{Elector, LeaseConfig};
use prometheus_client::registry::Registry;
use tracing::info;

use crate::operator_cmd::{LogFormat, init_logging, throttled_client};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Watch only this namespace (default: the whole cluster).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Only reconcile pools (and claims) labelled cluster.x-k8s.io/watch-filter=<value>.
    #[arg(long)]
    pub watch_filter: Option<String>,
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Address of /healthz and /readyz. Not upstream's 9440, which Cluster API's manager uses:
    /// on one machine the IP address manager, the operator (9441), the provider (9444) and
    /// Cluster API run side by side with their defaults; a pod sets upstream's ports
    /// (config/ipam).
    #[arg(long, default_value = "127.0.0.1:9446")]
    pub health_addr: SocketAddr,
    /// Address of the Prometheus /metrics endpoint. Not upstream's 8443, which Cluster API's
    /// manager uses (the operator's is 8441).
    #[arg(long, default_value = "127.0.0.1:8446")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub metrics_serving: crate::metrics_serving::MetricsServing,
    /// Port of the webhooks (defaulting, validation; TLS); 0 turns them off. Not upstream's
    /// 9443, which Cluster API's manager uses (the operator's is 9442, the provider's 9445).
    #[arg(long, default_value_t = 9447)]
    pub webhook_port: u16,
    /// Directory holding the webhook's serving certificate as tls.crt and tls.key.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs")]
    pub webhook_cert_dir: PathBuf,
    /// Pools reconciled at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: u16,
    /// Run only while holding the `controller-leader-election-ipam-capm3` Lease.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// This replica's name in the Lease.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub kube_api: crate::kube_api::KubeApiLimits,
}

/// Lease name, as upstream's leader-election ID.
const LEASE_NAME: &str = "controller-leader-election-ipam-capm3";

/// Serves the probes, the metrics and (unless `--webhook-port 0`) the webhooks, each on a
/// task of its own.
async fn serve_endpoints(
    args: &Args,
    metrics: &metal3_ipam::Metrics,
    client: &kube::Client,
) -> Result<()> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let registry = Arc::new(registry);
    let health = tokio::net::TcpListener::bind(args.health_addr)
        .await
        .with_context(|| format!("--health-addr {}", args.health_addr))?;
    info!(health = %args.health_addr, "serving probes");
    tokio::spawn(metal3_kube::http::serve(health, registry.clone()));
    args.metrics_serving
        .spawn(args.metrics_addr, registry, client)
        .await?;
    if args.webhook_port != 0 {
        let addr = SocketAddr::from(([0, 0, 0, 0], args.webhook_port));
        let dir = args.webhook_cert_dir.clone();
        info!(%addr, "serving the defaulting and validating webhooks");
        tokio::spawn(async move {
            let router = metal3_ipam::webhook::router();
            if let Err(e) = metal3_kube::webhook::serve_router(addr, &dir, router).await {
                tracing::error!(error = %e, "the webhook server stopped");
            }
        });
    }
    Ok(())
}

/// With `--leader-elect`, waits until this replica holds the Lease and returns its elector.
async fn elect(args: &Args, client: &kube::Client) -> Result<Option<Elector>> {
    if !args.leader_elect {
        return Ok(None);
    }
    let ns = args
        .leader_election_namespace
        .clone()
        .context("--leader-elect needs --leader-election-namespace (or POD_NAMESPACE)")?;
    let identity = args
        .instance
        .clone()
        .unwrap_or_else(|| format!("ipam-{}", std::process::id()));
    let elector = Elector::new(
        client.clone(),
        &ns,
        LEASE_NAME,
        &identity,
        LeaseConfig::default(),
    );
    elector.acquire().await;
    Ok(Some(elector))
}

pub fn run(args: &Args) -> Result<ExitCode> {
    crate::webhook_cert::check(args.webhook_port, &args.webhook_cert_dir)?;
    init_logging(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let client = throttled_client(
            args.kubeconfig.as_ref(),
            metal3_kube::identity::IPAM,
            args.kube_api.throttle(),
        )
        .await?;
        let metrics = Arc::new(metal3_ipam::Metrics::default());
        serve_endpoints(args, &metrics, &client).await?;
        let elector = elect(args, &client).await?;
        let config = metal3_ipam::Config {
            namespace: args.namespace.clone(),
            watch_filter: args.watch_filter.clone(),
            concurrency: args.concurrency,
            ..metal3_ipam::Config::default()
        };
        let (shutdown, seen_rx) = metal3_kube::leader::stop_signal(elector.clone());
        metal3_ipam::run(client, config, metrics, shutdown).await;
        if seen_rx.await.unwrap_or(false) {
            bail!("lost the leader-election lease {LEASE_NAME}; exiting so a fresh start can compete again");
        }
        if let Some(e) = &elector
            && let Err(err) = e.release().await
        {
            tracing::warn!(error = %err, "cannot release the leader-election lease");
        }
        Ok(ExitCode::SUCCESS)
    })
}
