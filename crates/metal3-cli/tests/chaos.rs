//! Chaos, CI-sized: 50 simulated servers (each its own BMC on its own port) through register →
//! inspect → available → provision (live ISO) → provisioned, and 10 of them deprovisioned,
//! by `metal3 operator --provisioner redfish` SIGKILLed and restarted at seeded moments (and
//! the API server and etcd each restarted once), while
//! 10 % of the BMCs fail (5xx, a burst of nothing but 5xx, dropped connections, hung calls, a
//! one-session limit)
//! and one BMC's password is rotated before its Secret catches up. Afterwards: every host is
//! in the state its spec asks for; per server, one virtual-media insert, one power-on and one
//! boot of the image per provision and none otherwise; operation history, inventory and
//! HardwareData all there; a clean stop leaves no session open; no password anywhere in the
//! operators' logs, the Events or the hosts.
//!
//! `METAL3_CHAOS_SEED=<n>` replays a run; the seed is printed first (shown on failure).
//! `METAL3_CHAOS_HOSTS` (default 50) and `METAL3_CHAOS_KILLS` (default 4) scale it up for the
//! recorded runs in `docs/benchmarks.md` (at least 1,000 hosts and 10 kills), best with
//! `--release`: the same invariants, 10 % of the servers faulty, kills spread over the phases.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use metal3_api::v1alpha1::{BareMetalHost, HardwareData};
use metal3_sim::faults::{Dice, Faults};
use metal3_sim::fleet::{Power, Running};
use serde_json::json;

mod common;
use common::{Killed, create_all, exit_status, free_port, sigterm, tail};

const ISO: &str = "http://images.example/chaos-live.iso";
/// Every BMC's password starts so (`<PASSWORD>-<index>`): distinctive, to be searched for.
const PASSWORD: &str = "Chaos7Bmc9Secret";
/// The password one BMC is rotated to.
const ROTATED: &str = "Rotated3Chaos5Secret";
/// The latency every BMC adds, and its power-on self test.
const LATENCY_MS: [u64; 2] = [1, 5];
const POST_MS: u64 = 200;

/// How big a run is: hosts, how many are provisioned and then deprovisioned, and how many
/// times the operator is killed.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Size {
    hosts: usize,
    provisioned: usize,
    deprovisioned: usize,
    kills: usize,
}

impl Size {
    /// Fewest hosts a plan can be made for (faulty, rotated and healthy servers).
    const MIN_HOSTS: usize = 20;

    /// `hosts` servers, four in five provisioned, one in five deprovisioned again.
    fn of(hosts: usize, kills: usize) -> Self {
        let hosts = hosts.max(Self::MIN_HOSTS);
        Self {
            hosts,
            provisioned: hosts * 4 / 5,
            deprovisioned: hosts / 5,
            kills: kills.max(4),
        }
    }

    /// From `METAL3_CHAOS_HOSTS` and `METAL3_CHAOS_KILLS` (50 hosts and 4 kills without).
    fn from_env() -> Self {
        let number = |name: &str, default: usize| match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v:?}: a whole number, please")),
            Err(_) => default,
        };
        Self::of(
            number("METAL3_CHAOS_HOSTS", 50),
            number("METAL3_CHAOS_KILLS", 4),
        )
    }

    /// How long a phase may take: longer for bigger fleets.
    fn phase_deadline(&self) -> Duration {
        Duration::from_secs(240 + self.hosts as u64 / 2)
    }

    /// How often a phase lists the hosts: a list of thousands every 200 ms would load the API
    /// server more than the operator does.
    fn poll(&self) -> Duration {
        if self.hosts <= 100 {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        }
    }

    /// Kills in the available, provisioned and deprovisioned phases (4: 1, 2, 1).
    fn kills_per_phase(&self) -> [usize; 3] {
        let available = (self.kills / 4).max(1);
        let provisioned = (self.kills / 2).max(2);
        [available, provisioned, self.kills - available - provisioned]
    }
}

/// What a seed decides: which servers fail and how, whose password rotates, which hosts are
/// provisioned and deprovisioned, and when the operator dies.
#[derive(Debug, PartialEq)]
struct Plan {
    seed: u64,
    size: Size,
    /// Servers with faults, one kind each; the last is the burst server.
    faulty: Vec<(usize, Faults)>,
    rotated: usize,
    provision: Vec<usize>,
    deprovision: Vec<usize>,
    /// Kill once this many hosts reached the phase's state, per phase.
    kill_at_available: Vec<usize>,
    kill_at_provisioned: Vec<usize>,
    kill_at_deprovisioned: Vec<usize>,
    /// Kill this long after the provisioning requests went in.
    kill_after_provision: Duration,
    /// Restart the API server once this many hosts are provisioned.
    restart_apiserver_at: usize,
}

/// The burst: every request answered 500.
fn burst() -> Faults {
    Faults {
        latency_ms: LATENCY_MS,
        post_ms: POST_MS,
        error_rate: 1.0,
        ..Faults::default()
    }
}

impl Plan {
    /// The server whose BMC fails every request from the provisioning requests until the
    /// rotated password is fixed.
    fn burst_server(&self) -> usize {
        self.faulty.last().map(|(i, _)| *i).expect("faulty servers")
    }

    fn new(seed: u64, size: Size) -> Self {
        let dice = Dice::new(seed);
        let below = |n: usize| ((dice.roll() * n as f64) as usize).min(n.max(1) - 1);
        let mut order: Vec<usize> = (0..size.hosts).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, below(i + 1));
        }
        let base = Faults {
            latency_ms: LATENCY_MS,
            post_ms: POST_MS,
            ..Faults::default()
        };
        let kinds = [
            Faults {
                error_rate: 0.2,
                ..base.clone()
            },
            Faults {
                reset_rate: 0.1,
                ..base.clone()
            },
            Faults {
                hang_rate: 0.02,
                ..base.clone()
            },
            Faults {
                session_limit: 1,
                session_timeout_s: 10,
                ..base.clone()
            },
            // The burst server: every request fails for a while (see `burst`).
            base,
        ];
        // One in ten servers faulty, the kinds taking turns; one burst server, last.
        let count = (size.hosts / 10).max(kinds.len());
        let (burst, steady) = kinds.split_last().expect("fault kinds");
        let mut faulty = order[..count - 1]
            .iter()
            .copied()
            .zip(steady.iter().cycle().cloned())
            .collect::<Vec<_>>();
        faulty.push((order[count - 1], burst.clone()));
        let rotated = order[faulty.len()];
        // The rotated server is provisioned, so the operator must talk to it after rotation.
        let mut provision = vec![rotated];
        provision.extend(
            order
                .iter()
                .copied()
                .filter(|&i| i != rotated)
                .take(size.provisioned - 1),
        );
        let mut deprovision = provision[1..].to_vec();
        for i in (1..deprovision.len()).rev() {
            deprovision.swap(i, below(i + 1));
        }
        deprovision.truncate(size.deprovisioned);
        let [available, provisioned, deprovisioned] = size.kills_per_phase();
        // Kill moments spread over the phase: once 1 to 90 % of its hosts are done.
        let moments = |kills: usize, of: usize| {
            let mut at: Vec<usize> = (0..kills).map(|_| 1 + below(of * 9 / 10)).collect();
            at.sort_unstable();
            at
        };
        Self {
            seed,
            size,
            faulty,
            rotated,
            provision,
            deprovision,
            kill_at_available: moments(available, size.hosts),
            // One of the provisioning kills comes at a time, not a count (see below).
            kill_at_provisioned: moments(provisioned - 1, size.provisioned),
            kill_at_deprovisioned: moments(deprovisioned, size.deprovisioned),
            kill_after_provision: Duration::from_millis(200 + below(1500) as u64),
            restart_apiserver_at: 1 + below(size.provisioned / 2),
        }
    }

    fn kills(at: &[usize]) -> Vec<Kill> {
        at.iter().map(|&n| Kill::Done(n)).collect()
    }

    /// Provisions the host at `index` is asked for over the run (0 or 1).
    fn provisions(&self, index: usize) -> u64 {
        u64::from(self.provision.contains(&index))
    }
}

fn name(index: usize) -> String {
    format!("sim-{index}")
}

fn index_of(name: &str) -> usize {
    name.trim_start_matches("sim-")
        .parse()
        .expect("sim-<index>")
}

/// The operator, run after run: each killed run's log is kept for the final scan.
struct Operators {
    kubeconfig: std::path::PathBuf,
    ns: String,
    logs: Vec<tempfile::NamedTempFile>,
    child: Option<Killed>,
    started: Instant,
    kills: usize,
}

impl Operators {
    fn start(kubeconfig: &std::path::Path, ns: &str) -> Self {
        let mut ops = Self {
            kubeconfig: kubeconfig.to_path_buf(),
            ns: ns.to_string(),
            logs: Vec::new(),
            child: None,
            started: Instant::now(),
            kills: 0,
        };
        ops.spawn();
        ops
    }

    fn spawn(&mut self) {
        let log = tempfile::NamedTempFile::new().expect("log file");
        self.started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("operator")
            .args(["--namespace", &self.ns])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--webhook-port", "0", "--log-format", "json"])
            .args(["--provisioner", "redfish", "--error-backoff-seconds", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("operator starts");
        self.child = Some(Killed(child));
        self.logs.push(log);
    }

    /// SIGKILL, then a new operator at once.
    fn kill_and_restart(&mut self, why: &str) {
        if let Some(mut child) = self.child.take() {
            child.0.kill().expect("SIGKILL");
            child.0.wait().expect("reaped");
        }
        self.kills += 1;
        eprintln!("kill {} ({why})", self.kills);
        self.spawn();
    }

    /// SIGTERM to the running operator; waits for it to exit.
    async fn stop(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("an operator runs");
        sigterm(&child.0);
        let log = self.logs.last().expect("a log").path().to_path_buf();
        let deadline = Instant::now() + Duration::from_secs(60);
        exit_status(&mut child.0, deadline, "the operator", &log).await
    }

    fn tail(&self) -> String {
        self.logs.last().map(|l| tail(l.path())).unwrap_or_default()
    }
}

/// When, in a phase, the operator is killed.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Once this many hosts are done.
    Done(usize),
    /// This long after the phase began (if it has not ended).
    After(Duration),
}

/// Polls until every host of `names` passes `done`, killing the operator as `kills` say;
/// `each` sees every listing (to act on what it shows).
#[allow(clippy::too_many_arguments)]
async fn phase(
    hosts: &Api<BareMetalHost>,
    ops: &mut Operators,
    size: Size,
    what: &str,
    names: &BTreeSet<String>,
    done: impl Fn(&BareMetalHost) -> bool,
    mut kills: Vec<Kill>,
    mut each: impl AsyncFnMut(&[BareMetalHost]),
) {
    let begun = Instant::now();
    let deadline = begun + size.phase_deadline();
    let mut next_report = Duration::from_secs(15);
    loop {
        let listed = hosts.list(&ListParams::default()).await.expect("list");
        each(&listed.items).await;
        let pending: Vec<String> = listed
            .items
            .iter()
            .filter(|h| names.contains(h.metadata.name.as_deref().unwrap_or_default()) && !done(h))
            .map(|h| {
                let status = h.status.as_ref();
                format!(
                    "{}: {} {}",
                    h.metadata.name.as_deref().unwrap_or_default(),
                    h.provisioning_state().as_str(),
                    status.map(|s| s.error_message.as_str()).unwrap_or_default()
                )
            })
            .collect();
        let finished = names.len() - pending.len();
        let due = kills.iter().position(|k| match *k {
            Kill::Done(n) => finished >= n,
            Kill::After(d) => begun.elapsed() >= d,
        });
        if let Some(i) = due {
            let k = kills.remove(i);
            ops.kill_and_restart(&format!("{what}: {k:?}, {finished} done"));
            continue;
        }
        if pending.is_empty() && kills.is_empty() {
            eprintln!("{what}: {:?}", begun.elapsed());
            return;
        }
        if begun.elapsed() >= next_report {
            next_report += Duration::from_secs(15);
            let shown = &pending[..pending.len().min(8)];
            eprintln!(
                "{what}: {} pending at {:?}: {shown:?}",
                pending.len(),
                begun.elapsed()
            );
        }
        assert!(
            Instant::now() < deadline,
            "not {what} after {:?}: {pending:?}\noperator log (tail):\n{}",
            begun.elapsed(),
            ops.tail()
        );
        tokio::time::sleep(size.poll()).await;
    }
}

fn state_is(state: &'static str) -> impl Fn(&BareMetalHost) -> bool {
    move |h| h.provisioning_state().as_str() == state
}

/// Serves each server on its own port (its own Redfish service, sessions and session limit);
/// returns the port of server 0.
async fn serve(fleet: &std::sync::Arc<metal3_sim::Fleet>, dice: &Dice) -> u16 {
    let hosts = fleet.len();
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    for _ in 0..20 {
        let base = 20_000 + (dice.roll() * (40_000 - hosts) as f64) as u16;
        if metal3_sim::serve_per_host(fleet.clone(), ip, base, None)
            .await
            .is_ok()
        {
            return base;
        }
    }
    panic!("no {hosts} free ports in a row");
}

async fn patch_password(secrets: &Api<Secret>, index: usize, password: &str) {
    let patch = json!({"stringData": {"password": password}});
    secrets
        .patch(
            &format!("{}-bmc-secret", name(index)),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("patch secret");
}

#[test]
fn a_seed_decides_the_same_plan() {
    for size in [Size::of(50, 4), Size::of(1000, 12)] {
        let plan = Plan::new(7, size);
        assert_eq!(plan, Plan::new(7, size));
        assert_ne!(plan.provision, Plan::new(8, size).provision);
        assert_eq!(plan.provision.len(), size.provisioned);
        assert_eq!(plan.deprovision.len(), size.deprovisioned);
        let provisioned: BTreeSet<_> = plan.provision.iter().collect();
        assert_eq!(provisioned.len(), size.provisioned, "no host twice");
        assert!(plan.deprovision.iter().all(|i| provisioned.contains(i)));
        assert!(!plan.deprovision.contains(&plan.rotated));
        let faulty: BTreeSet<_> = plan.faulty.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            faulty.len(),
            (size.hosts / 10).max(5),
            "one in ten, no server twice"
        );
        assert!(!faulty.contains(&plan.rotated));
        let kills = plan.kill_at_available.len()
            + plan.kill_at_provisioned.len()
            + 1
            + plan.kill_at_deprovisioned.len();
        assert_eq!(kills, size.kills);
        assert!(
            plan.kill_at_deprovisioned
                .iter()
                .all(|&n| n >= 1 && n <= size.deprovisioned)
        );
    }
    assert_eq!(Size::of(50, 4).kills_per_phase(), [1, 2, 1]);
    assert_eq!(Size::of(1000, 12).kills_per_phase(), [3, 6, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_nothing_done_twice_through_kills_and_faults() {
    let seed = std::env::var("METAL3_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("chaos seed: {seed} (METAL3_CHAOS_SEED={seed} replays it)");
    let size = Size::from_env();
    let plan = Plan::new(seed, size);
    eprintln!(
        "plan: {size:?}; faulty servers {:?}; rotated {}; kill at available {:?}, {:?} after \
         the provisioning requests, at provisioned {:?}, at deprovisioned {:?}; API server \
         restart at {} provisioned",
        plan.faulty.iter().map(|(i, _)| i).collect::<Vec<_>>(),
        plan.rotated,
        plan.kill_at_available,
        plan.kill_after_provision,
        plan.kill_at_provisioned,
        plan.kill_at_deprovisioned,
        plan.restart_apiserver_at,
    );

    // A control plane of its own: its API server and etcd are restarted mid-run.
    let mut cp = metal3_localenv::ControlPlane::start()
        .await
        .expect("control plane");
    cp.install_crds(&metal3_testenv::crd_dir())
        .await
        .expect("CRDs");
    let client = cp.client().await.expect("client");
    let ns = "chaos".to_string();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);

    // The fleet: each BMC its own password and port; five with faults.
    let fleet = metal3_sim::Fleet::with_credentials(size.hosts, "admin", PASSWORD, true);
    fleet
        .set_faults(Faults {
            latency_ms: LATENCY_MS,
            post_ms: POST_MS,
            ..Faults::default()
        })
        .expect("knobs");
    for (index, faults) in &plan.faulty {
        fleet
            .set_host_faults(*index, Some(faults.clone()))
            .expect("knobs");
    }
    let base = serve(&fleet, &Dice::new(seed ^ 0xba5e)).await;
    let addressing = metal3_sim::Addressing {
        listen: ([127, 0, 0, 1], base).into(),
        per_host_base: Some(base),
        tls: false,
    };
    // Hosts wait powered off until they are provisioned (as a Cluster API provider leaves
    // them), so every power-on is one a provision asked for.
    let mut objects = metal3_sim::manifest_objects(&fleet, &addressing);
    for host in objects.iter_mut().filter(|o| o["kind"] == "BareMetalHost") {
        host["spec"]["online"] = json!(false);
    }
    let all: BTreeSet<String> = create_all(&client, &ns, objects)
        .await
        .into_iter()
        .collect();
    let mut ops = Operators::start(cp.kubeconfig(), &ns);

    // Register and inspect: killed once part of the fleet is available.
    phase(
        &hosts,
        &mut ops,
        size,
        "available",
        &all,
        state_is("available"),
        Plan::kills(&plan.kill_at_available),
        async |_: &[BareMetalHost]| {},
    )
    .await;

    // The rotated BMC takes a new password its Secret does not have yet; then live ISOs on
    // 40 hosts, killed shortly after and again part-way.
    fleet.set_credentials(plan.rotated, "admin", ROTATED);
    fleet
        .set_host_faults(plan.burst_server(), Some(burst()))
        .expect("knobs");
    for &index in &plan.provision {
        let patch = json!({"spec": {"online": true, "image": {"url": ISO, "format": "live-iso"}}});
        hosts
            .patch(&name(index), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    let provision: BTreeSet<String> = plan.provision.iter().map(|&i| name(i)).collect();
    let rotated = name(plan.rotated);
    let mut fixed = false;
    let mut restarted = false;
    let mut provision_kills = vec![Kill::After(plan.kill_after_provision)];
    provision_kills.extend(Plan::kills(&plan.kill_at_provisioned));
    phase(
        &hosts,
        &mut ops,
        size,
        "provisioned",
        &provision,
        state_is("provisioned"),
        provision_kills,
        async |listed: &[BareMetalHost]| {
            // The API server goes away part-way (after the first kill) and comes back.
            let provisioned = listed.iter().filter(|h| state_is("provisioned")(h)).count();
            if !restarted && provisioned >= plan.restart_apiserver_at {
                eprintln!("restarting the API server ({provisioned} provisioned)");
                cp.restart_apiserver().await.expect("API server back");
                restarted = true;
            }
            // Once the host shows that its BMC refused the credentials, the Secret is fixed.
            let refused = listed.iter().any(|h| {
                h.metadata.name.as_deref() == Some(rotated.as_str())
                    && h.status
                        .as_ref()
                        .is_some_and(|s| s.error_message.contains("credentials"))
            });
            if refused && !fixed {
                eprintln!("{rotated}: the BMC refused the old password; fixing the Secret");
                patch_password(&secrets, plan.rotated, ROTATED).await;
                fixed = true;
                let (index, faults) = plan.faulty.last().expect("faulty servers");
                fleet
                    .set_host_faults(*index, Some(faults.clone()))
                    .expect("knobs");
            }
        },
    )
    .await;
    assert!(fixed, "{rotated} never showed the refused credentials");
    assert!(restarted, "the API server was restarted");

    // Deprovision ten, killed part-way.
    for &index in &plan.deprovision {
        let patch = json!({"spec": {"online": false, "image": null}});
        hosts
            .patch(&name(index), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    let deprovision: BTreeSet<String> = plan.deprovision.iter().map(|&i| name(i)).collect();
    // etcd goes away as the deprovisioning begins, and comes back with its data.
    eprintln!("restarting etcd");
    cp.restart_etcd().await.expect("etcd back");
    phase(
        &hosts,
        &mut ops,
        size,
        "deprovisioned",
        &deprovision,
        state_is("available"),
        Plan::kills(&plan.kill_at_deprovisioned),
        async |_: &[BareMetalHost]| {},
    )
    .await;
    assert_eq!(ops.kills, size.kills, "every planned kill happened");

    // Every host as its spec asks, and once the faults end, without an error.
    for (index, _) in &plan.faulty {
        fleet.set_host_faults(*index, None).expect("knobs");
    }
    let wants = |h: &BareMetalHost| {
        let index = index_of(h.metadata.name.as_deref().unwrap_or_default());
        let wanted = if plan.provision.contains(&index) && !plan.deprovision.contains(&index) {
            "provisioned"
        } else {
            "available"
        };
        h.provisioning_state().as_str() == wanted
            && h.status
                .as_ref()
                .is_some_and(|s| s.error_message.is_empty())
    };
    phase(
        &hosts,
        &mut ops,
        size,
        "converged",
        &all,
        wants,
        Vec::new(),
        async |_: &[BareMetalHost]| {},
    )
    .await;

    // Per server: nothing done twice, nothing done that was not asked.
    assert_counters(&fleet, &plan, &ops);
    // No status lost: history, inventory and HardwareData of every host.
    let hardware: Api<HardwareData> = Api::namespaced(client.clone(), &ns);
    assert_nothing_lost(&hosts, &hardware, &plan).await;
    // A clean stop logs out of every BMC it logged in to.
    let last_started = ops.started;
    let status = ops.stop().await;
    assert!(status.success(), "the operator's exit: {status}");
    assert_eq!(
        fleet.sessions_opened_since(last_started),
        0,
        "sessions the last operator left open\n{}",
        ops.tail()
    );

    // No password in any log line, Event or host.
    assert_no_password(&client, &ns, &ops).await;
    eprintln!(
        "seed {seed}: {} hosts, {} kills, {} operator runs",
        size.hosts,
        ops.kills,
        ops.logs.len()
    );
}

/// Per server: one media insert, power-on, boot and boot of the image per provision asked,
/// none otherwise; the server on and running the image, or off and empty, as its host asks.
fn assert_counters(fleet: &metal3_sim::Fleet, plan: &Plan, ops: &Operators) {
    let mut doubled = Vec::new();
    for index in 0..plan.size.hosts {
        let server = fleet.host(index).expect("server");
        let asked = plan.provisions(index);
        let counts = (
            server.media_inserts,
            server.power_ons,
            server.boots,
            server.media_boots,
        );
        if counts != (asked, asked, asked, asked) {
            doubled.push(format!(
                "{}: asked {asked} provision(s); inserts, power-ons, boots, image boots = \
                 {counts:?}",
                server.name
            ));
        }
        let live = asked == 1 && !plan.deprovision.contains(&index);
        if live {
            assert_eq!(server.running, Running::VirtualMedia(ISO.into()), "{index}");
            assert_eq!(server.power, Power::On, "{index}");
        } else {
            assert!(!server.cd.inserted, "{index}: no medium left in");
            assert_eq!(server.power, Power::Off, "{index}");
        }
    }
    assert!(
        doubled.is_empty(),
        "seed {}: {doubled:#?}\noperator log (tail):\n{}",
        plan.seed,
        ops.tail()
    );
}

/// The operation history, the inventory and the HardwareData of every host are there.
async fn assert_nothing_lost(
    hosts: &Api<BareMetalHost>,
    hardware: &Api<HardwareData>,
    plan: &Plan,
) {
    for host in hosts
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
    {
        let name = host.metadata.name.clone().unwrap_or_default();
        let index = index_of(&name);
        let status = host.status.as_ref().expect("status");
        let history = &status.operation_history;
        assert!(history.register.end.is_some(), "{name}: register history");
        assert!(history.inspect.end.is_some(), "{name}: inspect history");
        if plan.provision.contains(&index) {
            assert!(history.provision.end.is_some(), "{name}: provision history");
        }
        if plan.deprovision.contains(&index) {
            assert!(
                history.deprovision.end.is_some(),
                "{name}: deprovision history"
            );
        }
        let live = plan.provision.contains(&index) && !plan.deprovision.contains(&index);
        assert_eq!(status.powered_on, live, "{name}: power as the spec asks");
        let inventory = status.hardware.as_ref().expect("inventory in the status");
        assert_eq!(inventory.nics.len(), 2, "{name}");
        let data = hardware.get_opt(&name).await.expect("HardwareData");
        let saved = data.is_some_and(|d| d.spec.hardware.is_some());
        assert!(saved, "seed {}: {name} has no HardwareData", plan.seed);
    }
}

/// No BMC password, old or new, in any operator run's log, Event, host or HardwareData.
async fn assert_no_password(client: &kube::Client, ns: &str, ops: &Operators) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let events = events.list(&ListParams::default()).await.expect("events");
    assert!(!events.items.is_empty(), "the operator records Events");
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), ns);
    let hosts_now = hosts.list(&ListParams::default()).await.expect("list");
    let hardware: Api<HardwareData> = Api::namespaced(client.clone(), ns);
    let hardware_now = hardware.list(&ListParams::default()).await.expect("list");
    let mut places = vec![
        ("Events".to_string(), serde_json::to_string(&events.items)),
        ("hosts".to_string(), serde_json::to_string(&hosts_now.items)),
        (
            "HardwareData".to_string(),
            serde_json::to_string(&hardware_now.items),
        ),
    ]
    .into_iter()
    .map(|(what, text)| (what, text.expect("json")))
    .collect::<Vec<_>>();
    for (run, log) in ops.logs.iter().enumerate() {
        let text = std::fs::read_to_string(log.path()).expect("log");
        assert!(!text.is_empty(), "run {run} logged");
        places.push((format!("log of run {run}"), text));
    }
    for (what, text) in &places {
        for secret in [PASSWORD, ROTATED] {
            let line = text.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "a password in the {what}: {line:?}");
        }
    }
}
