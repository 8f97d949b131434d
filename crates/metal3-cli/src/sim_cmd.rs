//! `metal3 sim`: a fleet of simulated Redfish BMCs, on one listener and optionally one per
//! server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of simulated servers.
    #[arg(long, default_value_t = 10)]
    pub hosts: usize,
    /// Address to serve Redfish on (loopback only is wise).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Also serve server `i` as its own BMC on port `BASE + i` (same IP as --listen).
    #[arg(long, value_name = "BASE")]
    pub per_host_ports: Option<u16>,
    /// Serve HTTPS with a self-signed certificate (manifests then set
    /// disableCertificateVerification).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the certificate (PEM) here, for clients that verify it.
    #[arg(long, requires = "tls")]
    pub tls_cert_out: Option<PathBuf>,
    /// BMC user name of every server.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// BMC password of every server.
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Give server `i` the password `<password>-<i>` (each Secret in the manifests matches).
    #[arg(long)]
    pub per_host_credentials: bool,
    /// Write BareMetalHost + Secret manifests for the fleet here instead of standard output.
    #[arg(long)]
    pub manifests: Option<PathBuf>,
    /// Added latency per request in milliseconds: `MS` or `MIN-MAX`.
    #[arg(long, value_parser = parse_latency)]
    pub latency_ms: Option<[u64; 2]>,
    /// Share of requests answered 500 (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests that never answer (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub hang_rate: f64,
    /// Share of requests whose connection is dropped (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Requests one BMC serves at once; more get 503 (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub concurrency_limit: usize,
    /// With --concurrency-limit: queue extra requests instead of answering 503.
    #[arg(long, requires = "concurrency_limit")]
    pub queue_when_busy: bool,
    /// Power-on self test time in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub post_ms: u64,
    /// Sessions one BMC keeps open at once (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub session_limit: usize,
    /// Failed logins in a row that lock a BMC account for a minute (0 = never).
    #[arg(long, default_value_t = 0)]
    pub lockout_threshold: u32,
}

fn parse_latency(value: &str) -> Result<[u64; 2], String> {
    let number = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{v:?} is not a number of milliseconds (use MS or MIN-MAX)"))
    };
    match value.split_once('-') {
        Some((min, max)) => Ok([number(min)?, number(max)?]),
        None => {
            let ms = number(value)?;
            Ok([ms, ms])
        }
    }
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let fleet = metal3_sim::Fleet::with_credentials(
            args.hosts,
            &args.username,
            &args.password,
            args.per_host_credentials,
        );
        fleet
            .set_faults(metal3_sim::faults::Faults {
                latency_ms: args.latency_ms.unwrap_or([0, 0]),
                error_rate: args.error_rate,
                hang_rate: args.hang_rate,
                reset_rate: args.reset_rate,
                concurrency_limit: args.concurrency_limit,
                queue_when_busy: args.queue_when_busy,
                post_ms: args.post_ms,
                session_limit: args.session_limit,
                lockout_threshold: args.lockout_threshold,
                ..metal3_sim::faults::Faults::default()
            })
            .map_err(|e| anyhow::anyhow!("--latency-ms/--error-rate/--hang-rate/--reset-rate: {e}"))?;
        let tls = if args.tls {
            let names = vec![
                "localhost".to_string(),
                args.listen.ip().to_string(),
            ];
            let material = metal3_sim::self_signed(&names).map_err(anyhow::Error::msg)?;
            if let Some(path) = &args.tls_cert_out {
                std::fs::write(path, &material.cert_pem)
                    .with_context(|| format!("--tls-cert-out: cannot write {}", path.display()))?;
            }
            Some(material)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("--listen {}", args.listen))?;
        let addr = listener.local_addr()?;
        if let Some(base) = args.per_host_ports {
            metal3_sim::serve_per_host(fleet.clone(), addr.ip(), base, tls.clone())
                .await
                .context("--per-host-ports")?;
        }
        let addressing = metal3_sim::Addressing {
            listen: addr,
            per_host_base: args.per_host_ports,
            tls: args.tls,
        };
        let manifests = metal3_sim::manifests(&fleet, &addressing);
        match &args.manifests {
            Some(path) => std::fs::write(path, manifests)
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => print!("{manifests}"),
        }
        let scheme = if args.tls { "https" } else { "http" };
        let per_host = match args.per_host_ports {
            Some(base) => format!(
                " and each on its own port from {base}"
            ),
            None => String::new(),
        };
        eprintln!(
            "serving {} simulated servers at {scheme}://{addr}/redfish/v1{per_host}; Ctrl-C stops",
            fleet.len()
        );
        let router = metal3_sim::router(fleet);
        tokio::select! {
            served = metal3_sim::serve_router(listener, router, tls.as_ref()) => served.context("the Redfish server stopped")?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
