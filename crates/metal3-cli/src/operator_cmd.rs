//! `metal3 operator`: the Bare Metal Operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use metal3_operator::{Metrics, OperatorConfig};
use metal3_provisioner::Provisioner;
use prometheus_client::registry::Registry;
use tracing::info;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In-memory simulated hosts (tests, demos, benchmarks).
    Fixture,
    /// OpenStack Ironic.
    Ironic,
    /// Native Redfish, no Ironic.
    Redfish,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Provisioning backend.
    #[arg(long, value_enum, default_value = "ironic")]
    pub provisioner: Backend,
    /// Watch only this namespace (default: the whole cluster).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Address of /metrics.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub metrics_addr: SocketAddr,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "127.0.0.1:9440")]
    pub health_addr: SocketAddr,
    /// Provisioning attempts before a host stops retrying (0 = unlimited).
    #[arg(long, default_value_t = 5)]
    pub max_provisioning_retries: i64,
    /// Hosts reconciled at once.
    #[arg(long, env = "BMO_CONCURRENCY", default_value_t = 8)]
    pub controller_concurrency: u16,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// This replica's name in Events.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn client(kubeconfig: Option<&PathBuf>) -> Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => Config::infer()
            .await
            .context("no cluster found: set --kubeconfig or KUBECONFIG, or run in a pod")?,
    };
    Ok(Client::try_from(config)?)
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let provisioner: Arc<dyn Provisioner> = match args.provisioner {
        Backend::Fixture => Arc::new(metal3_fixture::Fixture::new()),
        Backend::Ironic => bail!(
            "--provisioner ironic is not available yet (tracked in the Ironic provisioner issue); use --provisioner fixture"
        ),
        Backend::Redfish => bail!(
            "--provisioner redfish is not available yet (tracked in the native Redfish provisioner issue); use --provisioner fixture"
        ),
    };
    init_logging(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let client = client(args.kubeconfig.as_ref()).await?;
        let metrics = Arc::new(Metrics::default());
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let registry = Arc::new(registry);
        let health = tokio::net::TcpListener::bind(args.health_addr)
            .await
            .with_context(|| format!("--health-addr {}", args.health_addr))?;
        let metrics_listener = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("--metrics-addr {}", args.metrics_addr))?;
        info!(health = %args.health_addr, metrics = %args.metrics_addr, "serving probes and metrics");
        tokio::spawn(metal3_operator::http::serve(health, registry.clone()));
        tokio::spawn(metal3_operator::http::serve(metrics_listener, registry));
        let config = OperatorConfig {
            namespace: args.namespace.clone(),
            machine: metal3_hoststate::Config {
                max_provisioning_retries: args.max_provisioning_retries,
                ..metal3_hoststate::Config::default()
            },
            concurrency: args.controller_concurrency,
            instance: args.instance.clone(),
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        metal3_operator::run(client, provisioner, config, metrics, shutdown).await;
        // Give in-flight writes a moment to finish logging.
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(ExitCode::SUCCESS)
    })
}
