//! The fleet benchmark: N simulated hosts through register → inspect → available → provision
//! (live ISO) → provisioned → deprovision → available, against the real API server, with the
//! operator in a child process (so its memory and CPU are its own).
//!
//! `cargo run --release -p metal3-bench -- --hosts 1000` prints a Markdown report: hosts per
//! hour, time in each state (p50/p95/p99), BMC calls per host per phase and per idle hour, the
//! operator's peak RSS and CPU seconds, and API server requests per host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";
const ISO: &str = "http://images.example/live.iso";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Redfish,
    Fixture,
    /// OpenStack Ironic (from PyPI, started on loopback) driving the simulated BMCs.
    Ironic,
}

#[derive(clap::Parser, Debug)]
#[command(about = "Runs simulated hosts through the lifecycle and reports how fast and how big")]
struct Args {
    /// Hosts to run through the lifecycle.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Provisioning backend.
    #[arg(long, value_enum, default_value = "redfish")]
    provisioner: Backend,
    /// Simulated BMC latency per call in milliseconds, `MIN-MAX`.
    #[arg(long, default_value = "50-200")]
    latency_ms: String,
    /// Simulated power-on self test, in milliseconds (compressed from real minutes).
    #[arg(long, default_value_t = 2000)]
    post_ms: u64,
    /// Hosts the operator reconciles at once.
    #[arg(long, default_value_t = 64)]
    concurrency: u16,
    /// Seconds of idleness measured between phases, for the idle call rate.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// Give up after this many seconds per phase.
    #[arg(long, default_value_t = 3600)]
    phase_timeout: u64,
    /// Internal: run as the operator child process with this kubeconfig.
    #[arg(long, hide = true)]
    child_operator: Option<PathBuf>,
    /// Internal: the Ironic the child operator talks to.
    #[arg(long, hide = true)]
    ironic_url: Option<String>,
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

async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}

/// The operator, as the child process.
async fn child_operator(args: &Args, kubeconfig: &Path) -> Result<()> {
    let client = client(kubeconfig).await?;
    let mut pool = None;
    let provisioner: Arc<dyn metal3_provisioner::Provisioner> = match args.provisioner {
        Backend::Fixture => Arc::new(metal3_fixture::Fixture::new()),
        Backend::Redfish => {
            let p = metal3_redfish_provisioner::RedfishProvisioner::new(
                metal3_redfish_provisioner::Config {
                    capacity: 0,
                    ..Default::default()
                },
            )?;
            pool = Some(p.pool().clone());
            Arc::new(p)
        }
        Backend::Ironic => {
            let url = args
                .ironic_url
                .as_deref()
                .context("--ironic-url is needed with --provisioner ironic")?;
            let client = metal3_ironic::Client::new(&metal3_ironic::Config::new(url))?;
            Arc::new(metal3_ironic_provisioner::IronicProvisioner::new(
                client,
                metal3_ironic_provisioner::Config {
                    // Never fetched: without an agent only live ISOs are deployed.
                    deploy_iso_url: Some("http://images.example/ironic-python-agent.iso".into()),
                    ..Default::default()
                },
            ))
        }
    };
    let config = metal3_operator::OperatorConfig {
        namespace: Some(NAMESPACE.into()),
        concurrency: args.concurrency,
        ..Default::default()
    };
    metal3_operator::run(
        client,
        provisioner,
        config,
        Arc::new(metal3_operator::Metrics::default()),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    if let Some(pool) = pool {
        pool.logout_all().await;
    }
    Ok(())
}

/// `(peak RSS in KiB, CPU seconds)` of process `pid`.
fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (hwm, ticks / 100.0)
}

/// `(sum of peak RSS in KiB, CPU seconds)` of every process in process group `pgid` (Ironic
/// forks API workers; the group is all of it).
fn group_usage(pgid: u32) -> (u64, f64) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0.0);
    };
    let mut total = (0, 0.0);
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        // Fields after the command name: state, ppid, pgrp, …
        if after.split_whitespace().nth(2).and_then(|v| v.parse().ok()) == Some(pgid) {
            let (rss, cpu) = usage(pid);
            total.0 += rss;
            total.1 += cpu;
        }
    }
    total
}

/// Requests the API server has answered (`apiserver_request_total`), by "verb resource".
async fn apiserver_requests(client: &kube::Client) -> Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let label = |line: &str, name: &str| {
        line.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some(value) = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok())
        else {
            continue;
        };
        let key = format!("{} {}", label(line, "verb"), label(line, "resource"));
        *out.entry(key).or_insert(0.0) += value;
    }
    Ok(out)
}

fn sim_calls(fleet: &metal3_sim::Fleet) -> u64 {
    (0..fleet.len())
        .filter_map(|i| fleet.host(i))
        .map(|h| h.calls.values().sum::<u64>())
        .sum()
}

/// Calls by kind ("GET System"), summed over the fleet.
fn calls_by_kind(fleet: &metal3_sim::Fleet) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for h in (0..fleet.len()).filter_map(|i| fleet.host(i)) {
        for (k, v) in h.calls {
            *out.entry(k).or_default() += v;
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What the watch has seen of one host.
#[derive(Default)]
struct Seen {
    /// Provisioning states entered, with when.
    states: Vec<(String, Instant)>,
    power_settled: bool,
    error: String,
}

/// The hosts as the watch last saw them. The benchmark reads this instead of listing the
/// hosts (a LIST of thousands of objects twice a second would load the API server more than
/// the operator does).
type Fleetview = Arc<Mutex<BTreeMap<String, Seen>>>;

fn view(fleet: &Fleetview) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
    fleet.lock().unwrap_or_else(|e| e.into_inner())
}

/// Follows every host's state changes, power and errors through one watch.
fn watch_hosts(api: Api<BareMetalHost>, fleet: Fleetview) {
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(host)) = stream.try_next().await {
            let name = host.metadata.name.clone().unwrap_or_default();
            let state = host.provisioning_state().as_str().to_string();
            let mut fleet = view(&fleet);
            let seen = fleet.entry(name).or_default();
            if seen.states.last().is_none_or(|(s, _)| *s != state) {
                seen.states.push((state, Instant::now()));
            }
            seen.power_settled = host
                .status
                .as_ref()
                .is_some_and(|s| s.powered_on == host.spec.online);
            seen.error = host
                .status
                .as_ref()
                .map(|s| s.error_message.clone())
                .unwrap_or_default();
        }
    });
}

/// Waits until `ok` holds for all `hosts` hosts, as the watch sees them.
async fn wait_until(
    fleet: &Fleetview,
    hosts: usize,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Seen) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let (done, errors) = {
            let fleet = view(fleet);
            let done = fleet.values().filter(|s| ok(s)).count();
            let errors: Vec<String> = fleet
                .values()
                .filter(|s| !s.error.is_empty())
                .map(|s| s.error.clone())
                .take(3)
                .collect();
            (done, errors)
        };
        if done == hosts {
            return Ok(started.elapsed());
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!("  {done}/{hosts} {what} after {:.0?}", started.elapsed());
            last_report = Instant::now();
        }
        if started.elapsed() > timeout {
            bail!("only {done}/{hosts} hosts {what} after {timeout:?}; errors: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every host is in `state`.
async fn wait_all(
    fleet: &Fleetview,
    hosts: usize,
    state: &str,
    timeout: Duration,
) -> Result<Duration> {
    wait_until(fleet, hosts, state, timeout, |s| {
        s.states.last().is_some_and(|(now, _)| now == state)
    })
    .await
}

/// BMC calls during `seconds` of idleness, in total and per kind, once power has settled.
async fn idle_window(
    fleet: &metal3_sim::Fleet,
    hosts: &Fleetview,
    seconds: u64,
    timeout: Duration,
) -> Result<(u64, BTreeMap<String, u64>)> {
    wait_until(hosts, fleet.len(), "powered as asked", timeout, |s| {
        s.power_settled
    })
    .await?;
    // Let the last power verification land before the window opens.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = calls_by_kind(fleet);
    // A measurement window, not synchronisation: count what idle hosts cost.
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let kinds: BTreeMap<String, u64> = calls_by_kind(fleet)
        .into_iter()
        .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    Ok((kinds.values().sum(), kinds))
}

async fn patch_all(api: &Api<BareMetalHost>, names: &[String], patch: Value) -> Result<()> {
    futures::stream::iter(names)
        .map(|name| {
            let patch = patch.clone();
            async move {
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

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

    let fleet = metal3_sim::Fleet::new(args.hosts, "admin", "password");
    fleet
        .set_faults(metal3_sim::faults::Faults {
            latency_ms: latency,
            post_ms: args.post_ms,
            ..Default::default()
        })
        .map_err(anyhow::Error::msg)?;
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into()).await?;

    let ironic = match args.provisioner {
        Backend::Ironic => {
            eprintln!("starting Ironic");
            // Ironic's default power sync (every 60 s), as a production Ironic runs.
            let options = metal3_localenv::ironic::Options {
                power_sync_seconds: Some(60),
                ..Default::default()
            };
            Some(metal3_localenv::ironic::Ironic::start(&options).await?)
        }
        _ => None,
    };
    let log_path =
        std::env::temp_dir().join(format!("metal3-bench-operator-{}.log", std::process::id()));
    // METAL3_BENCH_OPERATOR_WRAPPER (e.g. `heaptrack`) runs the operator under a profiler.
    let mut child = match std::env::var("METAL3_BENCH_OPERATOR_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut c = std::process::Command::new(wrapper.trim());
            c.arg(std::env::current_exe()?);
            c
        }
        _ => std::process::Command::new(std::env::current_exe()?),
    };
    child.arg("--child-operator").arg(cp.kubeconfig()).args([
        "--provisioner",
        match args.provisioner {
            Backend::Redfish => "redfish",
            Backend::Fixture => "fixture",
            Backend::Ironic => "ironic",
        },
    ]);
    if let Some(ironic) = &ironic {
        child.args(["--ironic-url", &ironic.url()]);
    }
    let mut child = child
        .args(["--concurrency", &args.concurrency.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("starting the operator child")?;
    let pid = child.id();

    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let seen: Fleetview = Arc::default();
    watch_hosts(hosts.clone(), seen.clone());
    let api_before = apiserver_requests(&client).await?;

    let mut docs = metal3_sim::manifest_objects(
        &fleet,
        &metal3_sim::Addressing {
            listen: addr,
            per_host_base: None,
            tls: false,
        },
    );
    // No agent runs here: inspection out of band, no disk cleaning (the native Redfish
    // backend does both that way whatever these say; Ironic needs to be told).
    for doc in docs.iter_mut().filter(|d| d["kind"] == "BareMetalHost") {
        doc["spec"]["inspectionMode"] = json!("fast");
        doc["spec"]["automatedCleaningMode"] = json!("disabled");
    }
    let names: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "BareMetalHost")
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let timeout = Duration::from_secs(args.phase_timeout);
    eprintln!("creating {} hosts", args.hosts);
    let t0 = Instant::now();
    futures::stream::iter(&docs)
        .map(|doc| {
            let (hosts, secrets) = (hosts.clone(), secrets.clone());
            async move {
                if doc["kind"] == "Secret" {
                    let s: Secret = serde_json::from_value(doc.clone())?;
                    secrets.create(&PostParams::default(), &s).await?;
                } else {
                    let h: BareMetalHost = serde_json::from_value(doc.clone())?;
                    hosts.create(&PostParams::default(), &h).await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;

    let mut calls = BTreeMap::new();
    let mut mark = 0;
    // Time spent in idle measurement windows, left out of the lifecycle's duration.
    let mut idle_spent = Duration::ZERO;
    let to_available = wait_all(&seen, args.hosts, "available", timeout).await?;
    let now = sim_calls(&fleet);
    calls.insert("register + inspect → available", now - mark);
    eprintln!(
        "all available after {to_available:.1?}; measuring {} s of idleness",
        args.idle_seconds
    );
    let started = Instant::now();
    let idle_available = idle_window(&fleet, &seen, args.idle_seconds, timeout).await?;
    idle_spent += started.elapsed();
    mark = sim_calls(&fleet);

    eprintln!("provisioning live ISOs");
    let t_provision = Instant::now();
    patch_all(
        &hosts,
        &names,
        json!({"spec": {"image": {"url": ISO, "format": "live-iso"}}}),
    )
    .await?;
    wait_all(&seen, args.hosts, "provisioned", timeout).await?;
    let provision_time = t_provision.elapsed();
    let now = sim_calls(&fleet);
    calls.insert("provision (live ISO)", now - mark);
    eprintln!(
        "all provisioned; measuring {} s of idleness",
        args.idle_seconds
    );
    let started = Instant::now();
    let idle_provisioned = idle_window(&fleet, &seen, args.idle_seconds, timeout).await?;
    idle_spent += started.elapsed();
    mark = sim_calls(&fleet);

    eprintln!("deprovisioning");
    patch_all(&hosts, &names, json!({"spec": {"image": null}})).await?;
    wait_all(&seen, args.hosts, "available", timeout).await?;
    let total = t0.elapsed() - idle_spent;
    let now = sim_calls(&fleet);
    calls.insert("deprovision", now - mark);

    let api_by_kind: Vec<(String, f64)> = {
        let after = apiserver_requests(&client).await?;
        let mut delta: Vec<(String, f64)> = after
            .into_iter()
            .map(|(k, v)| {
                let before = api_before.get(&k).copied().unwrap_or(0.0);
                (k, v - before)
            })
            .filter(|(_, v)| *v > 0.0)
            .collect();
        delta.sort_by(|a, b| b.1.total_cmp(&a.1));
        delta
    };
    let api_requests: f64 = api_by_kind.iter().map(|(_, v)| v).sum();
    let (rss_kib, cpu_s) = usage(pid);
    let ironic_usage = ironic.as_ref().and_then(|i| i.pid()).map(group_usage);
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;

    // Time in each state, across hosts.
    let mut per_state: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for host in view(&seen).values() {
        for pair in host.states.windows(2) {
            let (state, since) = &pair[0];
            let (_, until) = &pair[1];
            per_state
                .entry(if state.is_empty() {
                    "(new)".into()
                } else {
                    state.clone()
                })
                .or_default()
                .push(until.duration_since(*since).as_secs_f64());
        }
    }

    let n = args.hosts as f64;
    println!(
        "## {} hosts, --provisioner {:?}",
        args.hosts, args.provisioner
    );
    println!();
    println!(
        "Settings: BMC latency {}-{} ms per call, POST {} ms, operator concurrency {}.",
        latency[0], latency[1], args.post_ms, args.concurrency
    );
    println!();
    println!("| Measure | Value |");
    println!("|---|---|");
    println!(
        "| Whole lifecycle (create → available → provisioned → available, idle windows left out) | {:.1} s, {:.0} hosts/hour |",
        total.as_secs_f64(),
        n / total.as_secs_f64() * 3600.0
    );
    println!(
        "| Created → all available | {:.1} s |",
        to_available.as_secs_f64()
    );
    println!(
        "| Provision all (live ISO) | {:.1} s, {:.0} hosts/hour |",
        provision_time.as_secs_f64(),
        n / provision_time.as_secs_f64() * 3600.0
    );
    for (phase, c) in &calls {
        println!("| BMC calls per host: {phase} | {:.1} |", *c as f64 / n);
    }
    for (what, (idle, kinds)) in [
        ("available", &idle_available),
        ("provisioned", &idle_provisioned),
    ] {
        println!(
            "| BMC calls per {what} host per idle hour | {:.1} (over {} s: {kinds:?}) |",
            *idle as f64 / n * 3600.0 / args.idle_seconds as f64,
            args.idle_seconds
        );
    }
    println!("| Operator peak RSS | {:.1} MiB |", rss_kib as f64 / 1024.0);
    println!(
        "| Operator CPU | {cpu_s:.1} s ({:.2} s per host) |",
        cpu_s / n
    );
    if let Some((rss_kib, cpu_s)) = ironic_usage {
        println!(
            "| Ironic (all its processes: peak RSS summed, CPU) | {:.1} MiB, {cpu_s:.1} s ({:.2} s per host) |",
            rss_kib as f64 / 1024.0,
            cpu_s / n
        );
    }
    println!(
        "| API server requests per host (all clients, bench driver included) | {:.1} |",
        api_requests / n
    );
    let top: Vec<String> = api_by_kind
        .iter()
        .take(8)
        .map(|(k, v)| format!("{k}: {:.1}", v / n))
        .collect();
    println!("| … of which per host, most first | {} |", top.join(", "));
    println!();
    println!("| State | hosts | p50 s | p95 s | p99 s |");
    println!("|---|---|---|---|---|");
    for (state, mut times) in per_state {
        times.sort_by(f64::total_cmp);
        println!(
            "| {state} | {} | {:.1} | {:.1} | {:.1} |",
            times.len(),
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0)
        );
    }
    eprintln!(
        "open BMC sessions after the operator stopped: {}; operator log: {}",
        fleet.open_sessions(),
        log_path.display()
    );
    drop(cp);
    Ok(())
}

fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    match &args.child_operator {
        Some(kubeconfig) => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            tracing_subscriber::fmt().with_env_filter(filter).init();
            runtime.block_on(child_operator(&args, kubeconfig))
        }
        None => runtime.block_on(bench(&args)),
    }
}
