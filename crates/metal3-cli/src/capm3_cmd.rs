//! `metal3 capm3`: the Cluster API provider Metal3 (controllers and webhooks).

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
    /// Only reconcile objects labelled cluster.x-k8s.io/watch-filter=<value>.
    #[arg(long)]
    pub watch_filter: Option<String>,
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Address of /healthz and /readyz. Not upstream's 9440, which Cluster API's manager (and
    /// upstream's operator) use: on one machine the provider, the operator (9441), the IP
    /// address manager (9446) and Cluster API run side by side with their defaults; a pod sets
    /// upstream's ports (config/capm3).
    #[arg(long, default_value = "127.0.0.1:9444")]
    pub health_addr: SocketAddr,
    /// Port of the webhooks (conversion, defaulting, validation; TLS); 0 turns them off. Not
    /// upstream's 9443, which Cluster API's manager uses (the operator's is 9442, the IP
    /// address manager's 9447).
    #[arg(long, default_value_t = 9445)]
    pub webhook_port: u16,
    /// Directory holding the webhook's serving certificate as tls.crt and tls.key.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs")]
    pub webhook_cert_dir: PathBuf,
    /// Objects of each kind reconciled at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: u16,
    /// Keep released hosts powered on (unless their cleaning is disabled).
    #[arg(long, env = "CAPM3_FAST_TRACK", default_value_t = false, action = clap::ArgAction::Set)]
    pub fast_track: bool,
    /// Claim each Metal3Machine's host through a HostClaim in the machine's own namespace
    /// (the operator must run with `--hostclaims`); the provider then needs no rights on the
    /// hosts' namespace. Without it hosts are claimed directly, as upstream.
    #[arg(long)]
    pub use_hostclaims: bool,
    /// With `--use-hostclaims`: the namespace of the hosts, written as each claim's
    /// `hostSelector.inNamespace`; when not given, any namespace whose HostDeployPolicy admits
    /// the machine's namespace.
    #[arg(long, requires = "use_hostclaims")]
    pub hostclaim_host_namespace: Option<String>,
    /// Name each Metal3Data's IPClaim after its BareMetalHost (`<host>-<pool>`) instead of the
    /// Metal3Data (`<data>-<pool>`), so an IPPool's `preAllocations` keyed by that name give a
    /// host the same address whichever machine gets it.
    /// Takes upstream's `=true`/`=false` form too.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true",
          require_equals = true, action = clap::ArgAction::Set)]
    pub enable_bmh_name_based_preallocation: bool,
    /// Run only while holding the `controller-leader-election-capm3` Lease.
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
const LEASE_NAME: &str = "controller-leader-election-capm3";

pub fn run(args: &Args) -> Result<ExitCode> {
    crate::webhook_cert::check(args.webhook_port, &args.webhook_cert_dir)?;
    init_logging(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let client = throttled_client(
            args.kubeconfig.as_ref(),
            metal3_kube::identity::CAPM3,
            args.kube_api.throttle(),
        )
        .await?;
        let health = tokio::net::TcpListener::bind(args.health_addr)
            .await
            .with_context(|| format!("--health-addr {}", args.health_addr))?;
        tokio::spawn(metal3_kube::http::serve(health, Arc::new(Registry::default())));
        if args.webhook_port != 0 {
            let addr = SocketAddr::from(([0, 0, 0, 0], args.webhook_port));
            let dir = args.webhook_cert_dir.clone();
            info!(%addr, "serving the conversion, defaulting and validating webhooks");
            tokio::spawn(async move {
                let router = metal3_capm3::webhook::router();
                if let Err(e) = metal3_kube::webhook::serve_router(addr, &dir, router).await {
                    tracing::error!(error = %e, "the webhook server stopped");
                }
            });
        }
        let elector = if args.leader_elect {
            let ns = args.leader_election_namespace.clone().context(
                "--leader-elect needs --leader-election-namespace (or POD_NAMESPACE)",
            )?;
            let identity = args
                .instance
                .clone()
                .unwrap_or_else(|| format!("capm3-{}", std::process::id()));
            let elector = Elector::new(client.clone(), &ns, LEASE_NAME, &identity, LeaseConfig::default());
            elector.acquire().await;
            Some(elector)
        } else {
            None
        };
        let config = provider_config(args);
        let (shutdown, seen_rx) = metal3_kube::leader::stop_signal(elector.clone());
        metal3_capm3::run(client, config, shutdown).await;
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

/// The provider's configuration from the command line.
fn provider_config(args: &Args) -> metal3_capm3::Config {
    metal3_capm3::Config {
        namespace: args.namespace.clone(),
        watch_filter: args.watch_filter.clone(),
        concurrency: args.concurrency,
        fast_track: args.fast_track,
        hostclaims: args
            .use_hostclaims
            .then(|| metal3_capm3::hostclaim::HostClaimMode {
                host_namespace: args.hostclaim_host_namespace.clone().unwrap_or_default(),
            }),
        bmh_name_based_preallocation: args.enable_bmh_name_based_preallocation,
        ..metal3_capm3::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn config(argv: &[&str]) -> Result<metal3_capm3::Config, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("capm3").chain(argv.iter().copied()))?;
        Ok(provider_config(&cli.args))
    }

    #[test]
    fn hostclaims_are_off_by_default_and_the_host_namespace_needs_them() {
        assert_eq!(config(&[]).expect("parses").hostclaims, None);
        let on =
            config(&["--use-hostclaims", "--hostclaim-host-namespace", "hosts"]).expect("parses");
        assert_eq!(
            on.hostclaims.map(|m| m.host_namespace).as_deref(),
            Some("hosts")
        );
        let any = config(&["--use-hostclaims"]).expect("parses");
        assert_eq!(
            any.hostclaims.map(|m| m.host_namespace).as_deref(),
            Some("")
        );
        assert!(
            config(&["--hostclaim-host-namespace", "hosts"]).is_err(),
            "the host namespace alone is refused"
        );
    }

    #[test]
    fn bmh_name_based_preallocation_is_off_by_default() {
        assert!(!config(&[]).expect("parses").bmh_name_based_preallocation);
        assert!(
            config(&["--enable-bmh-name-based-preallocation"])
                .expect("parses")
                .bmh_name_based_preallocation
        );
        // Upstream's manager arguments spell the value out.
        assert!(
            config(&["--enable-bmh-name-based-preallocation=true"])
                .expect("parses")
                .bmh_name_based_preallocation
        );
        assert!(
            !config(&["--enable-bmh-name-based-preallocation=false"])
                .expect("parses")
                .bmh_name_based_preallocation
        );
    }
}
