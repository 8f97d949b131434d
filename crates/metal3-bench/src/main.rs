//! The fleet benchmark: N simulated hosts through register → inspect → available → provision
//! (live ISO) → provisioned → deprovision → available, against the real API server, with the
//! operator in a child process (so its memory and CPU are its own).
//!
//! `cargo run --release -p metal3-bench -- --hosts 1000` prints a Markdown report: hosts per
//! hour, time in each state (p50/p95/p99), BMC calls per host per phase and per idle hour, the
//! operator's peak RSS and CPU seconds, and API server requests per host.
//!
//! Modules:
//! - [`fleet`]: the hosts' manifests, created, patched, watched and waited for; BMC call counts.
//! - [`operator`]: the operator as a child process of this binary (`--child-operator`).
//! - [`ironic`]: a real Ironic for `--provisioner ironic`.
//! - [`usage`]: process memory and CPU from `/proc`, API server requests from its metrics.
//! - [`report`]: the Markdown report.

mod fleet;
mod ironic;
mod operator;
mod report;
mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::json;

use fleet::{Fleetview, idle_window, patch_all, sim_calls, view, wait_all};
use report::{Phases, Report};

pub(crate) const NAMESPACE: &str = "bench";
const ISO: &str = "http://images.example/live.iso";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Redfish,
    Fixture,
    /// OpenStack Ironic (from PyPI, started on loopback) driving the simulated BMCs.
    Ironic,
}

#[derive(clap::Parser, Debug)]
#[command(about = "Runs simulated hosts through the lifecycle and reports how fast and how big")]
pub(crate) struct Args {
    /// Hosts to run through the lifecycle.
    #[arg(long, default_value_t = 100)]
    pub(crate) hosts: usize,
    /// Provisioning backend.
    #[arg(long, value_enum, default_value = "redfish")]
    pub(crate) provisioner: Backend,
    /// Simulated BMC latency per call in milliseconds, `MIN-MAX`.
    #[arg(long, default_value = "50-200")]
    pub(crate) latency_ms: String,
    /// Simulated power-on self test, in milliseconds (compressed from real minutes).
    #[arg(long, default_value_t = 2000)]
    pub(crate) post_ms: u64,
    /// Hosts the operator reconciles at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: u16,
    /// The operator's `--kube-api-qps` (0: no client-side limit, as the operator's default).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) kube_api_qps: f64,
    /// The operator's `--kube-api-burst`.
    #[arg(long, default_value_t = 30)]
    pub(crate) kube_api_burst: u32,
    /// Length in seconds of each of the two idle windows measured between phases (the
    /// second is the steady state), for the idle call rate.
    #[arg(long, default_value_t = 60)]
    pub(crate) idle_seconds: u64,
    /// Give up after this many seconds per phase.
    #[arg(long, default_value_t = 3600)]
    pub(crate) phase_timeout: u64,
    /// Operator replicas splitting the hosts (`metal3 operator --shards`, four shards per
    /// replica); 1: one operator, unsharded. The report gives the largest replica's peak RSS
    /// and the replicas' CPU time together; each replica's is printed on stderr.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) replicas: u32,
    /// Internal: this child's replica number (with --replicas > 1).
    #[arg(long, hide = true, default_value_t = 0)]
    pub(crate) child_replica: u32,
    /// Internal: run as the operator child process with this kubeconfig.
    #[arg(long, hide = true)]
    pub(crate) child_operator: Option<PathBuf>,
    /// Internal: the Ironic the child operator talks to.
    #[arg(long, hide = true)]
    pub(crate) ironic_url: Option<String>,
}

fn parse_latency(text: &str) -> Result<[u64; 2]> {
    let number = |v: &str| {
        v.trim()
            .parse::<u64>()
            .with_context(|| format!("--latency-ms {text:?}: use MS or MIN-MAX"))
    };
    Ok(match text.split_once('-') {
        Some((a, b)) => [number(a)?, number(b)?],
        None => {
            let ms = number(text)?;
            [ms, ms]
        }
    })
}

/// The benchmark: a control plane, the simulated fleet, the operator child (and Ironic), the
/// hosts through their lifecycle, then the report.
async fn bench(args: &Args) -> Result<()> {
    let latency = parse_latency(&args.latency_ms)?;
    eprintln!("starting the control plane");
    let cp = metal3_localenv::ControlPlane::start().await?;
    let client = cp.client().await?;
    metal3_localenv::install_crd_objects(&client, &metal3_api::crds::all()).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(NAMESPACE.into());
    namespaces.create(&PostParams::default(), &ns).await?;

    let sim = metal3_sim::Fleet::new(args.hosts, "admin", "password");
    sim.set_faults(metal3_sim::faults::Faults {
        latency_ms: latency,
        post_ms: args.post_ms,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let addr = metal3_sim::start(sim.clone(), ([127, 0, 0, 1], 0).into()).await?;

    let ironic = ironic::start(args.provisioner).await?;
    let log_path =
        std::env::temp_dir().join(format!("metal3-bench-operator-{}.log", std::process::id()));
    let mut children = Vec::new();
    for replica in 0..args.replicas {
        let log = if replica == 0 {
            log_path.clone()
        } else {
            log_path.with_extension(format!("{replica}.log"))
        };
        children.push(operator::spawn(
            args,
            cp.kubeconfig(),
            ironic.as_ref().map(|i| i.url()),
            &log,
            replica,
        )?);
    }

    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let seen: Fleetview = Fleetview::default();
    fleet::watch_hosts(hosts.clone(), seen.clone());
    let api_before = usage::apiserver_requests(&client).await?;

    let (docs, names) = fleet::manifests(&sim, addr);
    eprintln!("creating {} hosts", args.hosts);
    let t0 = Instant::now();
    fleet::create_all(&hosts, &secrets, &docs).await?;
    let phases = lifecycle(args, &sim, &hosts, &names, &seen, t0).await?;

    let api_by_kind = usage::apiserver_requests_since(&client, &api_before).await?;
    let each: Vec<(u64, f64)> = children
        .iter()
        .map(|c| usage::usage(usage::operator_pid(c.id())))
        .collect();
    if each.len() > 1 {
        eprintln!("operator replicas (peak RSS KiB, CPU s): {each:?}");
    }
    let operator_usage = each
        .iter()
        .fold((0, 0.0), |(rss, cpu), (r, c)| (rss.max(*r), cpu + c));
    let ironic_usage = ironic
        .as_ref()
        .and_then(|i| i.pid())
        .map(usage::group_usage);
    for child in children {
        operator::stop(child).await;
    }

    let per_state = report::time_in_states(&view(&seen));
    Report {
        args,
        latency,
        phases,
        operator_usage,
        ironic_usage,
        api_by_kind,
        per_state,
    }
    .print();
    eprintln!(
        "open BMC sessions after the operator stopped: {}; operator log: {}",
        sim.open_sessions(),
        log_path.display()
    );
    drop(cp);
    Ok(())
}

/// Drives the created hosts to available, provisioned (live ISO) and available again,
/// counting BMC calls per phase and measuring an idle window after each of the first two
/// (left out of the lifecycle's duration, which runs from `t0`).
async fn lifecycle(
    args: &Args,
    sim: &metal3_sim::Fleet,
    hosts: &Api<BareMetalHost>,
    names: &[String],
    seen: &Fleetview,
    t0: Instant,
) -> Result<Phases> {
    let timeout = Duration::from_secs(args.phase_timeout);
    let mut calls = BTreeMap::new();
    let mut mark = 0;
    // Time spent in idle measurement windows, left out of the lifecycle's duration.
    let mut idle_spent = Duration::ZERO;
    let to_available = wait_all(seen, args.hosts, "available", timeout).await?;
    let now = sim_calls(sim);
    calls.insert("register + inspect → available", now - mark);
    eprintln!(
        "all available after {to_available:.1?}; measuring {} s of idleness",
        args.idle_seconds
    );
    let started = Instant::now();
    let idle_available = idle_window(sim, seen, args.idle_seconds, timeout).await?;
    idle_spent += started.elapsed();
    mark = sim_calls(sim);

    eprintln!("provisioning live ISOs");
    let t_provision = Instant::now();
    patch_all(
        hosts,
        names,
        json!({"spec": {"image": {"url": ISO, "format": "live-iso"}}}),
    )
    .await?;
    wait_all(seen, args.hosts, "provisioned", timeout).await?;
    let provision_time = t_provision.elapsed();
    let now = sim_calls(sim);
    calls.insert("provision (live ISO)", now - mark);
    eprintln!(
        "all provisioned; measuring {} s of idleness",
        args.idle_seconds
    );
    let started = Instant::now();
    let idle_provisioned = idle_window(sim, seen, args.idle_seconds, timeout).await?;
    idle_spent += started.elapsed();
    mark = sim_calls(sim);

    eprintln!("deprovisioning");
    patch_all(hosts, names, json!({"spec": {"image": null}})).await?;
    wait_all(seen, args.hosts, "available", timeout).await?;
    let total = t0.elapsed() - idle_spent;
    let now = sim_calls(sim);
    calls.insert("deprovision", now - mark);
    Ok(Phases {
        to_available,
        provision_time,
        total,
        calls,
        idle_available,
        idle_provisioned,
    })
}

fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    match &args.child_operator {
        Some(kubeconfig) => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init();
            runtime.block_on(operator::child_operator(&args, kubeconfig))
        }
        None => runtime.block_on(bench(&args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_a_range_or_one_number() {
        assert_eq!(parse_latency("50-200").expect("range"), [50, 200]);
        assert_eq!(parse_latency(" 7 ").expect("one number"), [7, 7]);
        let err = parse_latency("fast").expect_err("not a number");
        assert!(err.to_string().contains("MIN-MAX"), "{err}");
    }
}
