//! The simulator must not be the bottleneck: memory for 10,000 servers, and Redfish GETs per
//! second on loopback (latency injection off), against a baseline measured in the same run
//! (the service root, which touches no server).
//!
//! Then, optionally, one listener per server (`SIM_PER_HOST_BASE`, default 20000; 0 skips):
//! how long binding them takes and what they cost in memory.
//!
//! `cargo bench -p metal3-sim --bench fleet` (env: SIM_HOSTS, SIM_SECONDS, SIM_CLIENTS,
//! SIM_PER_HOST_BASE).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn load(url: Arc<Vec<String>>, clients: u64, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (url, done) = (url.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = c as usize;
            while Instant::now() < deadline {
                let target = &url[i % url.len()];
                i = i.wrapping_add(7919);
                let ok = client
                    .get(target)
                    .basic_auth("admin", Some("pw"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

fn main() {
    let hosts = env_or("SIM_HOSTS", 10_000) as usize;
    let seconds = env_or("SIM_SECONDS", 5);
    let clients = env_or("SIM_CLIENTS", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let before = rss_kib();
        let started = Instant::now();
        let fleet = metal3_sim::Fleet::new(hosts, "admin", "pw");
        let built = started.elapsed();
        let after = rss_kib();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(metal3_sim::serve(listener, fleet.clone()));

        let root = Arc::new(vec![format!("{base}/redfish/v1")]);
        let systems = Arc::new(
            (0..hosts)
                .filter_map(|i| fleet.host(i))
                .map(|h| format!("{base}/redfish/v1/Systems/{}", h.id))
                .collect::<Vec<_>>(),
        );
        let baseline = load(root, clients, seconds).await;
        let per_system = load(systems, clients, seconds).await;
        let rss_total = rss_kib();
        println!("hosts: {hosts}");
        println!("fleet built in: {:.1} ms", built.as_secs_f64() * 1000.0);
        println!(
            "RSS: {} KiB before, {} KiB with the fleet, {} KiB after load",
            before, after, rss_total
        );
        println!(
            "fleet memory: {:.1} MiB ({:.0} bytes per host)",
            (after - before) as f64 / 1024.0,
            (after - before) as f64 * 1024.0 / hosts as f64
        );
        println!("GET /redfish/v1 (baseline): {baseline:.0} req/s");
        println!(
            "GET /redfish/v1/Systems/<id>: {per_system:.0} req/s ({:.2}x baseline)",
            per_system / baseline
        );

        let base = env_or("SIM_PER_HOST_BASE", 20_000);
        if base == 0 {
            return;
        }
        let before = rss_kib();
        let started = Instant::now();
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        match metal3_sim::serve_per_host(fleet.clone(), ip, base as u16, None).await {
            Ok(listeners) => {
                let bound = started.elapsed();
                let after = rss_kib();
                println!(
                    "{} per-server listeners bound in {:.0} ms, {:.1} MiB ({:.0} bytes each)",
                    listeners.len(),
                    bound.as_secs_f64() * 1000.0,
                    (after - before) as f64 / 1024.0,
                    (after - before) as f64 * 1024.0 / listeners.len().max(1) as f64
                );
            }
            Err(e) => println!("per-server listeners skipped: {e}"),
        }
    });
}
