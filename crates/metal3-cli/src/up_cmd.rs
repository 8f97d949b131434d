//! `metal3 up`: the whole system on one machine, in one command — a Kubernetes control plane
//! with our CRDs, a fleet of simulated Redfish BMCs registered as BareMetalHosts, and the
//! operator managing them. Ctrl-C stops everything; the state directory keeps the cluster for
//! the next run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_kube::meta::create_unless_exists;
use metal3_localenv::ControlPlane;
use metal3_localenv::ironic::Ironic;
use metal3_operator::{Metrics, OperatorConfig};
use metal3_provisioner::Provisioner;

/// The namespace the hosts live in.
pub const NAMESPACE: &str = "metal3";
/// Simulated servers beyond `--hosts`, left unregistered for `examples/host.yaml`.
const SPARE: usize = 2;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Native Redfish: the operator talks to the simulated BMCs.
    Redfish,
    /// In-memory hosts (the BMCs are served but not called).
    Fixture,
    /// OpenStack Ironic (from PyPI, run on loopback) driving the simulated BMCs over Redfish.
    Ironic,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulated servers registered as BareMetalHosts.
    #[arg(long, default_value_t = 4)]
    pub hosts: usize,
    /// Provisioning backend.
    #[arg(long, value_enum, default_value = "redfish")]
    pub provisioner: Backend,
    /// Where the cluster, the kubeconfig, the fleet manifests and the logs are kept.
    #[arg(long, default_value = ".metal3")]
    pub state_dir: PathBuf,
    /// Port of the simulated BMCs (on 127.0.0.1).
    #[arg(long, default_value_t = 8000)]
    pub bmc_port: u16,
    /// Power-on self test of the simulated servers, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub post_ms: u64,
}

fn init_logging(file: std::fs::File) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// "2 available, 1 inspecting": hosts counted by provisioning state.
fn summary(hosts: &[BareMetalHost]) -> String {
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for h in hosts {
        let mut state = h.provisioning_state().as_str().to_string();
        if state.is_empty() {
            state = "new".into();
        }
        if h.status
            .as_ref()
            .is_some_and(|s| !s.error_message.is_empty())
        {
            state.push_str(" (error)");
        }
        *by_state.entry(state).or_default() += 1;
    }
    by_state
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kubectl_path() -> String {
    match metal3_localenv::binaries() {
        Ok(dir) if dir.join("kubectl").is_file() => dir.join("kubectl").display().to_string(),
        _ => "kubectl".into(),
    }
}

fn examples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    dir.canonicalize().unwrap_or(dir)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Whether a host has come to rest: available or provisioned, without an error.
fn settled(h: &BareMetalHost) -> bool {
    let state = h.provisioning_state();
    let state = state.as_str();
    let error = h
        .status
        .as_ref()
        .is_some_and(|s| !s.error_message.is_empty());
    matches!(
        state,
        "available" | "provisioned" | "externally provisioned"
    ) && !error
}

pub fn run(args: &Args) -> Result<ExitCode> {
    if args.hosts == 0 {
        bail!("--hosts 0: nothing to manage; ask for at least one host");
    }
    let dir = &args.state_dir;
    metal3_localenv::private::create_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("operator.log"))
        .with_context(|| format!("cannot write {}", dir.join("operator.log").display()))?;
    init_logging(log);
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(up(args, dir))
}

async fn up(args: &Args, dir: &Path) -> Result<ExitCode> {
    eprintln!("metal3 up: state in {}", dir.display());
    let (cp, client, kubeconfig) = start_control_plane(dir).await?;
    let (listen, docs) = start_bmcs(args, dir).await?;
    register_fleet(&client, &docs).await?;
    let backend = start_backend(args.provisioner, listen).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = OperatorConfig {
        namespace: Some(NAMESPACE.into()),
        ..OperatorConfig::default()
    };
    let operator = tokio::spawn(metal3_operator::run(
        client.clone(),
        backend.provisioner.clone(),
        config,
        Arc::new(Metrics::default()),
        async move {
            let _ = stop_rx.await;
        },
    ));
    eprintln!(
        "[3/4] operator running (--provisioner {}); its log: {}",
        match args.provisioner {
            Backend::Fixture => "fixture",
            Backend::Redfish => "redfish",
            Backend::Ironic => "ironic",
        },
        dir.join("operator.log").display()
    );
    print_next_steps(&kubeconfig, dir);
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), NAMESPACE);
    watch_until_stopped(&hosts, &kubeconfig).await;
    eprintln!("stopping: operator, BMC sessions, Ironic, simulator, control plane");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), operator).await;
    backend.stop().await;
    drop(cp);
    eprintln!("stopped; run metal3 up again to pick up where you left off");
    Ok(ExitCode::SUCCESS)
}

/// Step 1: the control plane, kept in the state directory, with our CRDs installed; returns it,
/// a client and the path of the admin kubeconfig copied into the state directory.
async fn start_control_plane(dir: &Path) -> Result<(ControlPlane, kube::Client, PathBuf)> {
    eprintln!(
        "[1/4] Kubernetes control plane (the first run builds kube-apiserver, etcd and kubectl \
         from the Go module proxy; that takes several minutes)"
    );
    let cp = ControlPlane::start_in(&dir.join("control-plane")).await?;
    let client = cp.client().await?;
    metal3_localenv::install_crd_objects(&client, &metal3_api::crds::all()).await?;
    let kubeconfig = dir.join("kubeconfig");
    metal3_localenv::private::copy(cp.kubeconfig(), &kubeconfig)
        .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
    eprintln!("      API server {} ready, CRDs installed", cp.server());
    Ok((cp, client, kubeconfig))
}

/// Step 2: the simulated BMCs, serving `--hosts` servers and the spare ones; returns where
/// they listen and the manifests (Secret and BareMetalHost per registered server), also
/// written to `fleet.yaml`.
async fn start_bmcs(args: &Args, dir: &Path) -> Result<(SocketAddr, Vec<serde_json::Value>)> {
    let servers = args.hosts + SPARE;
    let fleet = metal3_sim::Fleet::new(servers, "admin", "password");
    fleet
        .set_faults(metal3_sim::faults::Faults {
            latency_ms: [2, 20],
            post_ms: args.post_ms,
            ..metal3_sim::faults::Faults::default()
        })
        .map_err(anyhow::Error::msg)?;
    let listen = SocketAddr::from(([127, 0, 0, 1], args.bmc_port));
    metal3_sim::start(fleet.clone(), listen)
        .await
        .with_context(|| format!("--bmc-port {}: cannot listen on {listen}", args.bmc_port))?;
    let mut docs = metal3_sim::manifest_objects(
        &fleet,
        &metal3_sim::Addressing {
            listen,
            per_host_base: None,
            tls: false,
        },
    );
    // The first `--hosts` servers are registered; the spare ones wait for examples/host.yaml.
    docs.truncate(args.hosts * 2);
    if args.provisioner == Backend::Ironic {
        // No agent runs here: inspect out of band and skip the agent's disk cleaning.
        for doc in docs.iter_mut().filter(|d| d["kind"] == "BareMetalHost") {
            doc["spec"]["inspectionMode"] = "fast".into();
            doc["spec"]["automatedCleaningMode"] = "disabled".into();
        }
    }
    // The fleet's Secrets hold every BMC's password.
    metal3_localenv::private::write(&dir.join("fleet.yaml"), metal3_sim::to_yaml(&docs))?;
    eprintln!(
        "[2/4] {servers} simulated Redfish BMCs at http://{listen}/redfish/v1 ({} registered, \
         {SPARE} spare for examples/host.yaml); manifests in {}",
        args.hosts,
        dir.join("fleet.yaml").display()
    );
    Ok((listen, docs))
}

/// Creates the namespace and the fleet's Secrets and BareMetalHosts (those already there from
/// an earlier run are kept as they are).
async fn register_fleet(client: &kube::Client, docs: &[serde_json::Value]) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(NAMESPACE.into());
    create_unless_exists(&namespaces, &ns).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), NAMESPACE);
    for doc in docs {
        match doc["kind"].as_str() {
            Some("Secret") => {
                create_unless_exists(&secrets, &serde_json::from_value(doc.clone())?).await?
            }
            _ => create_unless_exists(&hosts, &serde_json::from_value(doc.clone())?).await?,
        }
    }
    Ok(())
}

/// The provisioning backend the operator runs with, and what has to stop with it.
struct Running {
    provisioner: Arc<dyn Provisioner>,
    /// The native Redfish backend, whose BMC sessions are logged out at the end.
    redfish: Option<Arc<metal3_redfish_provisioner::RedfishProvisioner>>,
    /// The Ironic process, stopped when dropped.
    ironic: Option<Ironic>,
}

impl Running {
    /// Logs out of the BMC sessions, then stops Ironic.
    async fn stop(self) {
        if let Some(redfish) = &self.redfish {
            redfish.pool().logout_all().await;
        }
        drop(self.ironic);
    }
}

/// Starts the `--provisioner` backend (for Ironic, a real Ironic on loopback driving the
/// simulated BMCs at `listen`).
async fn start_backend(backend: Backend, listen: SocketAddr) -> Result<Running> {
    let running = match backend {
        Backend::Fixture => Running {
            provisioner: Arc::new(metal3_fixture::Fixture::new()),
            redfish: None,
            ironic: None,
        },
        Backend::Ironic => {
            eprintln!(
                "      starting OpenStack Ironic (the first run installs it from PyPI into \
                 ~/.cache/metal3-dev/venv, about a minute)"
            );
            let server = Ironic::start(&Default::default()).await?;
            eprintln!(
                "      Ironic {} ready; its log: {}",
                server.url(),
                server.log().display()
            );
            let client = metal3_ironic::Client::new(&metal3_ironic::Config::new(server.url()))?;
            let config = metal3_ironic_provisioner::Config {
                // Never fetched: without an agent only live ISOs are deployed.
                deploy_iso_url: Some(format!("http://{listen}/images/ironic-python-agent.iso")),
                short_wait: Duration::from_secs(1),
                long_wait: Duration::from_secs(2),
                ..metal3_ironic_provisioner::Config::default()
            };
            Running {
                provisioner: Arc::new(metal3_ironic_provisioner::IronicProvisioner::new(
                    client, config,
                )),
                redfish: None,
                ironic: Some(server),
            }
        }
        Backend::Redfish => {
            let p = Arc::new(metal3_redfish_provisioner::RedfishProvisioner::new(
                metal3_redfish_provisioner::Config::default(),
            )?);
            Running {
                provisioner: p.clone(),
                redfish: Some(p),
                ironic: None,
            }
        }
    };
    Ok(running)
}

/// Step 4: what to try meanwhile, in another terminal.
fn print_next_steps(kubeconfig: &Path, dir: &Path) {
    let kubectl = kubectl_path();
    let examples = examples_dir();
    eprintln!(
        "[4/4] watching the hosts. Meanwhile, in another terminal:\n\
         \n    export KUBECONFIG={kc}\n    {kubectl} get bmh -n {NAMESPACE} -w\n    \
         {kubectl} -n {NAMESPACE} patch bmh sim-0 --type merge --patch-file {ex}/provision-live-iso.yaml\n    \
         {kubectl} -n {NAMESPACE} apply -f {ex}/firmware-settings.yaml\n    \
         {kubectl} -n {NAMESPACE} apply -f {ex}/host.yaml\n\
         \nCtrl-C stops everything (the cluster stays in {dir} for the next run).",
        kc = kubeconfig.display(),
        ex = examples.display(),
        dir = dir.display(),
    );
}

/// Prints the hosts' states as they change, and `ready <kubeconfig>` on stdout once all have
/// settled, until Ctrl-C or SIGTERM.
async fn watch_until_stopped(hosts: &Api<BareMetalHost>, kubeconfig: &Path) {
    let mut last = String::new();
    let mut announced = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {}
        }
        let Ok(list) = hosts.list(&ListParams::default()).await else {
            continue;
        };
        let now = summary(&list.items);
        if now != last {
            eprintln!("      hosts: {now}");
            last = now;
        }
        let all_settled = !list.items.is_empty() && list.items.iter().all(settled);
        if all_settled && !announced {
            announced = true;
            eprintln!(
                "      all {} hosts are ready (available or provisioned)",
                list.items.len()
            );
            // For scripts: one line on stdout once the fleet is ready.
            println!("ready {}", kubeconfig.display());
        }
    }
}
