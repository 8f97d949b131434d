//! `metal3 up`: the whole system on one machine, in one command — a Kubernetes control plane
//! with our CRDs, a fleet of simulated Redfish BMCs registered as BareMetalHosts, and the
//! operator managing them. Ctrl-C stops everything; the state directory keeps the cluster for
//! the next run. With `--kubeconfig`, an existing cluster takes the local control plane's place.
//!
//! Module: `spares`, the manifests of the spare simulated servers written for the user.

mod spares;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_kube::meta::create_unless_exists;
use metal3_localenv::ControlPlane;
use metal3_localenv::ironic::Ironic;
use metal3_operator::{Metrics, OperatorConfig};
use metal3_provisioner::Provisioner;

/// Simulated servers beyond `--hosts`, left unregistered; their manifests are written to
/// `<state-dir>/examples/`.
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
    /// Use this existing cluster (kind, k3s, a lab cluster) instead of starting a local
    /// control plane; the CRDs are installed there (server-side apply).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the simulated fleet's BareMetalHosts and Secrets.
    #[arg(long, default_value = "metal3")]
    pub namespace: String,
    /// Address of the fleet page (hosts by state over time, every host and its timeline);
    /// port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub ui_addr: SocketAddr,
    /// With --kubeconfig, watch every namespace and not only --namespace (on its own local
    /// control plane the operator always watches every namespace).
    #[arg(long, requires = "kubeconfig")]
    pub all_namespaces: bool,
}

impl Args {
    /// The namespace the operator watches; `None` for all of them. On its own control plane
    /// every namespace, as upstream's operator by default, so a host applied without `-n` is
    /// managed too; on an existing cluster, where another operator may manage hosts, only the
    /// fleet's unless `--all-namespaces`.
    fn watched_namespace(&self) -> Option<String> {
        match (&self.kubeconfig, self.all_namespaces) {
            (Some(_), false) => Some(self.namespace.clone()),
            _ => None,
        }
    }
}

/// "all namespaces" or "namespace NS only", for the progress lines.
fn describe_watch(namespace: Option<&str>) -> String {
    match namespace {
        None => "all namespaces".into(),
        Some(ns) => format!("namespace {ns} only"),
    }
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
fn summary<'a>(hosts: impl IntoIterator<Item = &'a BareMetalHost>) -> String {
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

/// The manifests in the workspace's `examples/`.
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
    let (cp, client, kubeconfig) = match &args.kubeconfig {
        None => {
            let (cp, client, kubeconfig) = start_control_plane(dir).await?;
            (Some(cp), client, kubeconfig)
        }
        Some(path) => {
            let (client, kubeconfig) = connect(path).await?;
            (None, client, kubeconfig)
        }
    };
    let ns = args.namespace.as_str();
    let (listen, docs) = start_bmcs(args, dir).await?;
    register_fleet(&client, ns, &docs).await?;
    let backend = start_backend(args.provisioner, listen).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watched = args.watched_namespace();
    let ui = metal3_operator::ui::Listener::bind(args.ui_addr)
        .with_context(|| format!("--ui-addr {}", args.ui_addr))?;
    let ui_url = ui
        .local_addr()
        .map(|a| format!("http://{a}/"))
        .unwrap_or_default();
    let config = OperatorConfig {
        namespace: watched.clone(),
        ui: Some(ui),
        ..OperatorConfig::default()
    };
    // The operator's writes are its own (its user agent, its field manager).
    let operator_client =
        crate::operator_cmd::client(Some(&kubeconfig), metal3_kube::identity::OPERATOR).await?;
    let operator = tokio::spawn(metal3_operator::run(
        operator_client,
        backend.provisioner.clone(),
        config,
        Arc::new(Metrics::default()),
        async move {
            let _ = stop_rx.await;
        },
    ));
    eprintln!(
        "[3/4] operator running (--provisioner {}), watching {}; its log: {}",
        match args.provisioner {
            Backend::Fixture => "fixture",
            Backend::Redfish => "redfish",
            Backend::Ironic => "ironic",
        },
        describe_watch(watched.as_deref()),
        dir.join("operator.log").display()
    );
    eprintln!("      fleet page: {ui_url}");
    print_next_steps(
        &kubeconfig,
        dir,
        ns,
        watched.is_none(),
        args.hosts,
        cp.is_some(),
    );
    let hosts: Api<BareMetalHost> = match &watched {
        None => Api::all(client.clone()),
        Some(watched) => Api::namespaced(client.clone(), watched),
    };
    watch_until_stopped(&hosts, ns, &kubeconfig).await;
    if cp.is_some() {
        eprintln!("stopping: operator, BMC sessions, Ironic, simulator, control plane");
    } else {
        eprintln!(
            "stopping: operator, BMC sessions, Ironic, simulator (the cluster keeps the hosts)"
        );
    }
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
         from the Go module proxy; that takes several minutes, its progress shown every 10 s)"
    );
    let cp = ControlPlane::start_in(&dir.join("control-plane")).await?;
    let client = metal3_kube::identity::client(cp.config().await?, metal3_kube::identity::CLI)?;
    metal3_localenv::install_crd_objects(&client, &metal3_api::crds::all()).await?;
    let kubeconfig = dir.join("kubeconfig");
    metal3_localenv::private::copy(cp.kubeconfig(), &kubeconfig)
        .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
    eprintln!("      API server {} ready, CRDs installed", cp.server());
    Ok((cp, client, kubeconfig))
}

/// Step 1 with `--kubeconfig`: a client of the existing cluster it names, with our CRDs
/// installed (server-side apply, so an earlier installation is updated, not duplicated);
/// returns the client and the kubeconfig's path.
async fn connect(path: &Path) -> Result<(kube::Client, PathBuf)> {
    eprintln!("[1/4] existing cluster of {}", path.display());
    let kc = Kubeconfig::read_from(path)
        .with_context(|| format!("--kubeconfig: cannot read {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("--kubeconfig {}", path.display()))?;
    let server = config.cluster_url.to_string();
    let client = metal3_kube::identity::client(config, metal3_kube::identity::CLI)?;
    metal3_localenv::install_crd_objects(&client, &metal3_api::crds::all())
        .await
        .with_context(|| {
            format!(
                "cannot install the CRDs into {server} (the kubeconfig's user needs to create \
                 CustomResourceDefinitions)"
            )
        })?;
    eprintln!("      API server {server}, CRDs installed");
    let kubeconfig = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    Ok((client, kubeconfig))
}

/// Step 2: the simulated BMCs, serving `--hosts` servers and the spare ones; returns where
/// they listen and the manifests (Secret and BareMetalHost per registered server), also
/// written to `fleet.yaml`; the spare servers' manifests go to `examples/host-<n>.yaml`.
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
    if args.provisioner == Backend::Ironic {
        // No agent runs here: inspect out of band and skip the agent's disk cleaning.
        for doc in docs.iter_mut().filter(|d| d["kind"] == "BareMetalHost") {
            doc["spec"]["inspectionMode"] = "fast".into();
            doc["spec"]["automatedCleaningMode"] = "disabled".into();
        }
    }
    // The first `--hosts` servers are registered; the spare ones are the user's to register.
    // Their Secrets hold the BMCs' passwords.
    let examples = dir.join("examples");
    metal3_localenv::private::create_dir(&examples)
        .with_context(|| format!("cannot create {}", examples.display()))?;
    let spare_files = spares::manifests(&docs, args.hosts, &args.namespace);
    remove_stale_spares(&examples, &spare_files);
    for (file, yaml) in spare_files {
        metal3_localenv::private::write(&examples.join(&file), yaml)
            .with_context(|| format!("cannot write {}", examples.join(&file).display()))?;
    }
    docs.truncate(args.hosts * 2);
    metal3_localenv::private::write(&dir.join("fleet.yaml"), metal3_sim::to_yaml(&docs))?;
    eprintln!(
        "[2/4] {servers} simulated Redfish BMCs at http://{listen}/redfish/v1 ({} registered \
         in namespace {}, manifests in {}; {SPARE} spare, manifests in {})",
        args.hosts,
        args.namespace,
        dir.join("fleet.yaml").display(),
        examples.display()
    );
    Ok((listen, docs))
}

/// Removes the spare servers' manifests an earlier run with other `--hosts` left in `dir`
/// (their servers are registered now, or gone), keeping those in `current`.
fn remove_stale_spares(dir: &Path, current: &[(String, String)]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = name.starts_with("host-") && name.ends_with(".yaml");
        if ours && !current.iter().any(|(file, _)| *file == name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates the namespace `ns` and the fleet's Secrets and BareMetalHosts in it (those already
/// there from an earlier run are kept as they are).
async fn register_fleet(client: &kube::Client, ns: &str, docs: &[serde_json::Value]) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(ns.into());
    create_unless_exists(&namespaces, &namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), ns);
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

/// Step 4: what to try meanwhile, in another terminal: `all` when every namespace is watched,
/// `spare` the first spare server, `local` on the local control plane.
fn print_next_steps(kubeconfig: &Path, dir: &Path, ns: &str, all: bool, spare: usize, local: bool) {
    let kubectl = kubectl_path();
    let examples = examples_dir();
    let get = if all {
        "get bmh -A -w".to_string()
    } else {
        format!("get bmh -n {ns} -w")
    };
    let spare = dir.join("examples").join(spares::file_name(spare));
    eprintln!(
        "[4/4] watching the hosts. Meanwhile, in another terminal:\n\
         \n    export KUBECONFIG={kc}\n    {kubectl} {get}\n    \
         {kubectl} -n {ns} patch bmh sim-0 --type merge --patch-file {ex}/provision-live-iso.yaml\n    \
         {kubectl} -n {ns} apply -f {ex}/firmware-settings.yaml\n    \
         {kubectl} -n {ns} apply -f {spare}\n\
         \nCtrl-C stops everything ({kept}).",
        kc = kubeconfig.display(),
        ex = examples.display(),
        spare = spare.display(),
        kept = if local {
            format!("the cluster stays in {} for the next run", dir.display())
        } else {
            "the hosts stay in the cluster for the next run".into()
        },
    );
}

/// Prints the hosts' states as they change (the fleet's in namespace `ns`, and those elsewhere
/// that `hosts` lists), and `ready <kubeconfig>` on stdout once the fleet's have settled, until
/// Ctrl-C or SIGTERM.
async fn watch_until_stopped(hosts: &Api<BareMetalHost>, ns: &str, kubeconfig: &Path) {
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
        let (fleet, elsewhere): (Vec<&BareMetalHost>, Vec<&BareMetalHost>) = list
            .items
            .iter()
            .partition(|h| h.metadata.namespace.as_deref() == Some(ns));
        let mut now = summary(fleet.iter().copied());
        if !elsewhere.is_empty() {
            now.push_str(&format!("; in other namespaces: {}", summary(elsewhere)));
        }
        if now != last {
            eprintln!("      hosts: {now}");
            last = now;
        }
        let all_settled = !fleet.is_empty() && fleet.iter().all(|h| settled(h));
        if all_settled && !announced {
            announced = true;
            eprintln!(
                "      all {} hosts are ready (available or provisioned)",
                fleet.len()
            );
            // For scripts: one line on stdout once the fleet is ready.
            println!("ready {}", kubeconfig.display());
        }
    }
}
