//! `metal3 sim`: a fleet of simulated Redfish BMCs on one listener.

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
    /// BMC user name of every server.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// BMC password of every server.
    #[arg(long, default_value = "password")]
    pub password: String,
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
    /// Requests one BMC serves at once; more get 503 (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub concurrency_limit: usize,
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
        let fleet = metal3_sim::Fleet::new(args.hosts, &args.username, &args.password);
        fleet
            .set_faults(metal3_sim::faults::Faults {
                latency_ms: args.latency_ms.unwrap_or([0, 0]),
                error_rate: args.error_rate,
                hang_rate: args.hang_rate,
                concurrency_limit: args.concurrency_limit,
            })
            .map_err(|e| anyhow::anyhow!("--latency-ms/--error-rate/--hang-rate: {e}"))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("--listen {}", args.listen))?;
        let addr = listener.local_addr()?;
        let manifests = metal3_sim::manifests(&fleet, addr, &args.username, &args.password);
        match &args.manifests {
            Some(path) => std::fs::write(path, manifests)
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => print!("{manifests}"),
        }
        eprintln!(
            "serving {} simulated servers at http://{addr}/redfish/v1; Ctrl-C stops",
            fleet.len()
        );
        tokio::select! {
            served = metal3_sim::serve(listener, fleet) => served.context("the Redfish server stopped")?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
