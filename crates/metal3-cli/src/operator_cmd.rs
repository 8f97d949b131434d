//! `metal3 operator`: the Bare Metal Operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use metal3_kube::leader::{Elector, LeaseConfig};
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
    /// Address of /metrics. Not upstream's 8443, which Cluster API's manager also uses: on one
    /// machine the operator, the provider (8444), the IP address manager (8446) and Cluster
    /// API run side by side with their defaults; a pod sets upstream's ports (config/manager).
    #[arg(long, default_value = "127.0.0.1:8441")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub metrics_serving: crate::metrics_serving::MetricsServing,
    /// Address of /healthz and /readyz. Not upstream's 9440, which Cluster API's manager also
    /// uses (the provider's default is 9444, the IP address manager's 9446).
    #[arg(long, default_value = "127.0.0.1:9441")]
    pub health_addr: SocketAddr,
    /// Serve the read-only fleet page on this address (hosts by state over time, every host
    /// and its timeline). Off by default; it shows hosts' status and Events to whoever can
    /// reach it, so bind it to loopback or put access control in front.
    #[arg(long)]
    pub ui_addr: Option<SocketAddr>,
    /// Provisioning attempts before a host stops retrying (0 = unlimited).
    #[arg(long, default_value_t = 5)]
    pub max_provisioning_retries: i64,
    /// Hosts reconciled at once.
    #[arg(long, env = "BMO_CONCURRENCY", default_value_t = 8)]
    pub controller_concurrency: u16,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub kube_api: crate::kube_api::KubeApiLimits,
    /// Hosts provisioning at once (0 = unlimited): Redfish hosts in a capacity-limited state;
    /// Ironic nodes inspecting, cleaning or deploying through network boot.
    #[arg(long, env = "PROVISIONING_LIMIT", default_value_t = 20)]
    pub provisioning_limit: usize,
    /// Unit of the exponential backoff after a host's errors: the n-th retry waits up to
    /// unit × 2^n.
    #[arg(long, default_value_t = 60)]
    pub error_backoff_seconds: u64,
    /// Ironic backend: register every node with Ironic's `fake-hardware` driver and `fake`
    /// interfaces, whatever the BMC address says (for testing against a real Ironic without
    /// BMCs).
    #[arg(long)]
    pub ironic_fake_hardware: bool,
    /// Ironic backend: check on nodes in transition this often, instead of 3 s after quick
    /// transitions and 10 s after long ones (upstream's pace).
    #[arg(long)]
    pub ironic_poll_ms: Option<u64>,
    /// Redfish backend: an idle host's power state is read at most this often.
    #[arg(long, default_value_t = 300)]
    pub power_check_seconds: u64,
    /// Redfish backend: PEM file of the certificate authorities that sign the BMCs'
    /// certificates, trusted besides the public roots. BMC certificates are verified unless a
    /// host sets `disableCertificateVerification`.
    #[arg(long, env = "BMC_CA_FILE")]
    pub bmc_ca_file: Option<PathBuf>,
    /// This replica's name in Events.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Port of the validating admission webhook (TLS); 0 turns it off. Not upstream's 9443,
    /// which Cluster API's manager also uses (the provider's default is 9445, the IP address
    /// manager's 9447).
    #[arg(long, default_value_t = 9442)]
    pub webhook_port: u16,
    /// Directory holding the webhook's serving certificate as tls.crt and tls.key.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs")]
    pub webhook_cert_dir: PathBuf,
    /// Give hosts PreprovisioningImages, answered from DEPLOY_ISO_URL, DEPLOY_KERNEL_URL and
    /// DEPLOY_RAMDISK_URL (and their _<ARCH> / _BY_ARCH forms).
    #[arg(long)]
    pub build_preprov_image: bool,
    /// Run only while holding the `baremetal-operator` Lease, so one replica drives hosts.
    #[arg(long)]
    pub enable_leader_election: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Seconds a leader's Lease stays valid without renewal.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Seconds a leader keeps trying to renew before it steps down.
    #[arg(long, env = "RENEW_DEADLINE_SECONDS", default_value_t = 10)]
    pub renew_deadline_seconds: u64,
    /// Seconds between attempts to acquire or renew the Lease.
    #[arg(long, env = "RETRY_PERIOD_SECONDS", default_value_t = 2)]
    pub retry_period_seconds: u64,
    /// Split the hosts across replicas in N shards (1: this replica serves every host). With
    /// N > 1 each replica holds shards on the Leases `metal3-operator-shard-<i>` (i in 0..N)
    /// and its membership on `metal3-operator-member-<identity>`, in
    /// --leader-election-namespace (else --namespace), timed by the lease flags above; a host
    /// (and its companions) belongs to shard fnv1a64("<namespace>/<name>") mod N. Every
    /// replica must be given the same N; not with --enable-leader-election.
    #[arg(long, env = "SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// Fixture backend: append one JSON line per backend operation (host, operation, replica,
    /// time) to this file, which replicas may share (tests of --shards).
    #[arg(long)]
    pub fixture_journal: Option<PathBuf>,
    /// Redfish backend: the generic agent boot image (`metal3 agent-image`). With it the
    /// backend writes disk images, inspects in band and cleans disks through the agent, whose
    /// hub it serves; needs --agent-listen and --agent-url.
    #[arg(long, env = "AGENT_IMAGE")]
    pub agent_image: Option<PathBuf>,
    /// Address the agent hub serves HTTPS on, e.g. 0.0.0.0:9443 (not the webhook's port).
    #[arg(long, env = "AGENT_LISTEN")]
    pub agent_listen: Option<SocketAddr>,
    /// The agent hub's URL as hosts reach it, e.g. https://10.0.2.2:9443 for the VMs of
    /// `metal3 sim`; its certificate is issued for this host name or address.
    #[arg(long, env = "AGENT_URL")]
    pub agent_url: Option<String>,
    /// The agent hub's URL as BMCs reach it to fetch the agent's boot image, when that differs
    /// from --agent-url (BMCs on a network apart from the hosts'); the certificate covers both.
    /// `metal3 sim`'s BMCs run on this machine: https://127.0.0.1:<port>.
    #[arg(long, env = "AGENT_MEDIA_URL")]
    pub agent_media_url: Option<String>,
    /// Keep the agent running on available hosts, so provisioning writes the image and boots
    /// the host once (false: hosts are powered off after inspection and cleaning).
    #[arg(long, env = "AGENT_FAST_TRACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub agent_fast_track: bool,
    /// Namespace of the agent hub's Secrets (metal3-agent-key, metal3-agent-tls); default: the
    /// operator's own (POD_NAMESPACE), else --namespace, else `default`.
    #[arg(long, env = "POD_NAMESPACE")]
    pub agent_namespace: Option<String>,
    /// Run the HostClaim controller: bind tenants' HostClaims to hosts that a HostDeployPolicy
    /// of the hosts' namespace admits them to.
    #[arg(long)]
    pub hostclaims: bool,
    /// With --hostclaims and --namespace: the tenant namespaces whose HostClaims are served
    /// (comma-separated); default: those the operator watches.
    #[arg(long, value_delimiter = ',', requires = "hostclaims")]
    pub hostclaim_namespaces: Vec<String>,
}

/// The agent hub's flags, checked.
#[derive(Debug, PartialEq)]
struct AgentFlags {
    image: PathBuf,
    listen: SocketAddr,
    url: String,
    media_url: Option<String>,
    namespace: String,
}

/// The agent hub's flags, when given, each missing one named.
fn agent_flags(args: &Args) -> Result<Option<AgentFlags>> {
    let Some(image) = args.agent_image.clone() else {
        if args.agent_listen.is_some() || args.agent_url.is_some() || args.agent_media_url.is_some()
        {
            bail!(
                "--agent-listen, --agent-url and --agent-media-url serve the agent: they need \
                 --agent-image"
            );
        }
        return Ok(None);
    };
    if args.provisioner != Backend::Redfish {
        bail!(
            "--agent-image is for --provisioner redfish (the Ironic backend boots Ironic's own \
             agent)"
        );
    }
    let listen = args.agent_listen.context(
        "--agent-image needs --agent-listen, the address the agent hub serves on (e.g. \
         0.0.0.0:9443)",
    )?;
    let url = args.agent_url.clone().context(
        "--agent-image needs --agent-url, the hub's URL as hosts reach it (e.g. \
         https://10.0.2.2:9443 for the VMs of `metal3 sim`)",
    )?;
    if args.webhook_port != 0 && listen.port() == args.webhook_port {
        bail!(
            "--agent-listen {listen} and --webhook-port {} use the same port; choose another \
             for one of them",
            args.webhook_port
        );
    }
    let namespace = args
        .agent_namespace
        .clone()
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| "default".into());
    Ok(Some(AgentFlags {
        image,
        listen,
        url,
        media_url: args
            .agent_media_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string()),
        namespace,
    }))
}

/// Starts the agent hub: its key material from the cluster (created on first use), the
/// image checked, HTTPS served on its own task.
async fn agent_hub(
    flags: &AgentFlags,
    image: metal3_agent_hub::BootImage,
    client: &Client,
    fast_track: bool,
) -> Result<metal3_redfish_provisioner::AgentSettings> {
    let mut urls = vec![flags.url.as_str()];
    urls.extend(flags.media_url.as_deref());
    let keys = metal3_agent_hub::Keys::load_or_create(client.clone(), &flags.namespace, &urls)
        .await
        .with_context(|| {
            format!(
                "--agent-url/--agent-media-url {} (Secrets in {})",
                urls.join(", "),
                flags.namespace
            )
        })?;
    let mut config = metal3_agent_hub::HubConfig::new(flags.url.clone());
    config.media_url = flags.media_url.clone();
    let hub = metal3_agent_hub::Hub::new(config, keys, image)
        .context("--agent-url or --agent-media-url")?;
    let listener = std::net::TcpListener::bind(flags.listen)
        .with_context(|| format!("--agent-listen {}", flags.listen))?;
    info!(
        listen = %flags.listen,
        url = %flags.url,
        media_url = flags.media_url.as_deref().unwrap_or(&flags.url),
        "serving the agent hub"
    );
    let serving = hub.clone();
    tokio::spawn(async move {
        if let Err(e) = serving.serve(listener, std::future::pending()).await {
            tracing::error!(error = %e, "the agent hub stopped");
        }
    });
    let mut agent = metal3_redfish_provisioner::AgentSettings::new(hub);
    agent.fast_track = fast_track;
    Ok(agent)
}

/// Lease name, as upstream's leader-election ID.
const LEASE_NAME: &str = "baremetal-operator";

/// Logs to stderr, in colour only when stderr is a terminal (a file or a pipe gets plain text).
pub(crate) fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// A client of `--kubeconfig` (else of the environment) that says it is `component`.
pub(crate) async fn client(kubeconfig: Option<&PathBuf>, component: &str) -> Result<Client> {
    throttled_client(kubeconfig, component, None).await
}

/// [`client`], its requests held to `throttle` (`--kube-api-qps`, `--kube-api-burst`).
pub(crate) async fn throttled_client(
    kubeconfig: Option<&PathBuf>,
    component: &str,
    throttle: Option<metal3_kube::throttle::Throttle>,
) -> Result<Client> {
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
    Ok(metal3_kube::identity::throttled_client(
        config, component, throttle,
    )?)
}

/// The Ironic backend, configured as upstream's operator is (environment variables and the
/// auth/certificate files), plus our flags.
fn ironic(args: &Args) -> Result<metal3_ironic_provisioner::IronicProvisioner> {
    let env = |name: &str| std::env::var(name).ok();
    let client_config = metal3_ironic::Config::from_env(env).context("--provisioner ironic")?;
    let client = metal3_ironic::Client::new(&client_config).context("--provisioner ironic")?;
    let mut config = metal3_ironic_provisioner::Config::from_env(env)
        .map_err(anyhow::Error::msg)
        .context("--provisioner ironic")?;
    config.provisioning_limit = args.provisioning_limit;
    if args.ironic_fake_hardware {
        config.hardware = metal3_ironic_provisioner::Hardware::Fake;
    }
    if let Some(ms) = args.ironic_poll_ms {
        config.short_wait = Duration::from_millis(ms);
        config.long_wait = Duration::from_millis(ms);
    }
    info!(endpoint = %client.root(), auth = ?client_config.auth, "using Ironic");
    Ok(metal3_ironic_provisioner::IronicProvisioner::new(
        client, config,
    ))
}

/// The Redfish backend, with the agent when `agent` is given.
fn redfish(
    args: &Args,
    agent: Option<metal3_redfish_provisioner::AgentSettings>,
) -> Result<metal3_redfish_provisioner::RedfishProvisioner> {
    let trusted_ca_pem = match &args.bmc_ca_file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("--bmc-ca-file {}", path.display()))?)
        }
        None => None,
    };
    let defaults = metal3_redfish_provisioner::Config::default();
    let config = metal3_redfish_provisioner::Config {
        power_check: Duration::from_secs(args.power_check_seconds.max(1)),
        capacity: args.provisioning_limit,
        agent,
        client: metal3_redfish::Config {
            trusted_ca_pem,
            ..defaults.client.clone()
        },
        ..defaults
    };
    metal3_redfish_provisioner::RedfishProvisioner::new(config).context("--provisioner redfish")
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let agent = agent_flags(args)?;
    // The agent image is checked before anything else starts.
    let agent_image = match &agent {
        Some(flags) => {
            Some(metal3_agent_hub::BootImage::open(&flags.image).context("--agent-image")?)
        }
        None => None,
    };
    let sharding = shard_config(args)?;
    let mut redfish_pool = None;
    let mut provisioner: Option<Arc<dyn Provisioner>> = match args.provisioner {
        Backend::Fixture => Some(Arc::new(fixture(args)?)),
        Backend::Ironic => Some(Arc::new(ironic(args)?)),
        // With the agent, built once the cluster holds the hub's key material.
        Backend::Redfish if agent.is_some() => None,
        Backend::Redfish => {
            let p = redfish(args, None)?;
            redfish_pool = Some(p.pool().clone());
            Some(Arc::new(p))
        }
    };
    crate::webhook_cert::check(args.webhook_port, &args.webhook_cert_dir)?;
    let mut config = operator_config(args, preprovisioning_images(args)?);
    let shards = sharding
        .as_ref()
        .map(|c| metal3_kube::shards::Shards::new(c.count, &c.identity));
    config.shards = shards.clone();
    config.ui = args
        .ui_addr
        .map(metal3_operator::ui::Listener::bind)
        .transpose()
        .with_context(|| {
            format!(
                "--ui-addr {}",
                args.ui_addr.unwrap_or(([0, 0, 0, 0], 0).into())
            )
        })?;
    // Switch port configuration, as upstream: only with IRONIC_NETWORKING_ENABLED.
    let switch_networking =
        metal3_operator::switch_config::SwitchNetworking::from_env(|k| std::env::var(k).ok())
            .map_err(anyhow::Error::msg)?;
    init_logging(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let client = throttled_client(
            args.kubeconfig.as_ref(),
            metal3_kube::identity::OPERATOR,
            args.kube_api.throttle(),
        )
        .await?;
        if let (Some(flags), Some(image)) = (&agent, agent_image) {
            let settings = agent_hub(flags, image, &client, args.agent_fast_track).await?;
            let p = redfish(args, Some(settings))?;
            redfish_pool = Some(p.pool().clone());
            provisioner = Some(Arc::new(p));
        }
        let provisioner = provisioner.context("no provisioner")?;
        let metrics = Arc::new(Metrics::default());
        serve_endpoints(args, &metrics, &client).await?;
        let elector = elect(args, &client).await?;
        // Stop on Ctrl-C / SIGTERM-like interrupts, or when leadership is lost.
        let (shutdown, seen_rx) = metal3_kube::leader::stop_signal(elector.clone());
        // With shards: the keeper runs until the controllers have stopped, then gives the
        // shards back.
        let (keeper_stop, keeper_stopped) = tokio::sync::oneshot::channel::<()>();
        let keeper = sharding.zip(shards.clone()).map(|(c, s)| {
            tokio::spawn(metal3_kube::shards::keep(client.clone(), c, s, async {
                let _ = keeper_stopped.await;
            }))
        });
        if let Some(pool) = &redfish_pool {
            // Sessions unused for a while are logged out, so BMCs never run out of them.
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    pool.logout_idle().await;
                }
            });
        }
        // The BareMetalSwitch controller (elected too; with shards, each namespace written by
        // the replica holding its shard); stopped with the others.
        let switches = switch_networking.map(|settings| {
            let (client, ns) = (client.clone(), args.namespace.clone());
            tokio::spawn(metal3_operator::switch::run(
                client,
                ns,
                settings,
                shards,
                std::future::pending(),
            ))
        });
        metal3_operator::run(client, provisioner, config, metrics, shutdown).await;
        if let Some(task) = switches {
            task.abort();
        }
        let _ = keeper_stop.send(());
        if let Some(keeper) = keeper {
            let _ = keeper.await;
        }
        if let Some(pool) = &redfish_pool {
            pool.logout_all().await;
        }
        let lost = seen_rx.await.unwrap_or(false);
        if lost {
            bail!("lost the leader-election lease {LEASE_NAME}; exiting so a fresh start can compete again");
        }
        if let Some(e) = &elector
            && let Err(err) = e.release().await {
                tracing::warn!(error = %err, "cannot release the leader-election lease");
            }
        Ok(ExitCode::SUCCESS)
    })
}

/// The deploy images PreprovisioningImages are answered from (`--build-preprov-image`), read
/// from the `DEPLOY_*_URL` variables; `None` without the flag.
fn preprovisioning_images(args: &Args) -> Result<Option<metal3_hoststate::preprov::ImageSources>> {
    if !args.build_preprov_image {
        return Ok(None);
    }
    let vars = std::env::vars().collect();
    let sources =
        metal3_hoststate::preprov::ImageSources::from_env(&vars).map_err(anyhow::Error::msg)?;
    if sources.is_empty() {
        bail!(
            "--build-preprov-image needs deploy images: set DEPLOY_ISO_URL, or DEPLOY_KERNEL_URL \
             and DEPLOY_RAMDISK_URL (or their _<ARCH> / _BY_ARCH forms)"
        );
    }
    Ok(Some(sources))
}

/// How the operator runs, from the flags.
fn operator_config(
    args: &Args,
    preprovisioning_images: Option<metal3_hoststate::preprov::ImageSources>,
) -> OperatorConfig {
    OperatorConfig {
        namespace: args.namespace.clone(),
        machine: metal3_hoststate::Config {
            max_provisioning_retries: args.max_provisioning_retries,
            backoff_unit: Duration::from_secs(args.error_backoff_seconds.max(1)),
            ..metal3_hoststate::Config::default()
        },
        concurrency: args.controller_concurrency,
        instance: args.instance.clone(),
        preprovisioning_images,
        hostclaims: args
            .hostclaims
            .then(|| metal3_operator::hostclaim::HostClaimConfig {
                namespaces: args.hostclaim_namespaces.clone(),
                ..Default::default()
            }),
        ..OperatorConfig::default()
    }
}

/// Serves the health probes and the metrics (registered here), and the validating webhook
/// unless `--webhook-port 0`, each on a task of its own.
async fn serve_endpoints(args: &Args, metrics: &Metrics, client: &kube::Client) -> Result<()> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let registry = Arc::new(registry);
    let health = tokio::net::TcpListener::bind(args.health_addr)
        .await
        .with_context(|| format!("--health-addr {}", args.health_addr))?;
    info!(health = %args.health_addr, "serving probes");
    tokio::spawn(metal3_kube::http::serve(health, registry.clone()));
    args.metrics_serving
        .spawn(args.metrics_addr, registry, client)
        .await?;
    if args.webhook_port != 0 {
        let addr = SocketAddr::from(([0, 0, 0, 0], args.webhook_port));
        let dir = args.webhook_cert_dir.clone();
        let client = client.clone();
        info!(%addr, "serving the validating webhook");
        tokio::spawn(async move {
            if let Err(e) = metal3_operator::webhook::serve_with_client(addr, &dir, client).await {
                tracing::error!(error = %e, "the webhook server stopped");
            }
        });
    }
    Ok(())
}

/// The identity of this replica in Leases: `--instance` (POD_NAME), else `metal3-<pid>`.
fn identity(args: &Args) -> String {
    args.instance
        .clone()
        .unwrap_or_else(|| format!("metal3-{}", std::process::id()))
}

/// The lease timing flags; the renew deadline must end before the Lease does.
fn lease_config(args: &Args) -> Result<LeaseConfig> {
    if args.renew_deadline_seconds >= args.lease_duration_seconds {
        bail!(
            "--renew-deadline-seconds ({}) must be shorter than --lease-duration-seconds ({}): a \
             replica must stop acting before another may take over",
            args.renew_deadline_seconds,
            args.lease_duration_seconds
        );
    }
    Ok(LeaseConfig {
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        renew_deadline: Duration::from_secs(args.renew_deadline_seconds),
        retry_period: Duration::from_secs(args.retry_period_seconds.max(1)),
    })
}

/// Lease-name prefix of the shards.
const SHARD_LEASE_PREFIX: &str = "metal3-operator";

/// With `--shards N`, N > 1: how this replica shards; `None` for one shard.
fn shard_config(args: &Args) -> Result<Option<metal3_kube::shards::ShardConfig>> {
    if args.shards <= 1 {
        return Ok(None);
    }
    if args.enable_leader_election {
        bail!(
            "--shards {} splits the hosts between replicas; --enable-leader-election gives them \
             all to one: choose one of them",
            args.shards
        );
    }
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(|| args.namespace.clone())
        .context("--shards needs a namespace for its Leases: --leader-election-namespace (or POD_NAMESPACE), or --namespace")?;
    Ok(Some(metal3_kube::shards::ShardConfig {
        count: args.shards,
        namespace,
        prefix: SHARD_LEASE_PREFIX.to_string(),
        identity: identity(args),
        lease: lease_config(args)?,
    }))
}

/// The fixture backend, journalling to `--fixture-journal` when given.
fn fixture(args: &Args) -> Result<metal3_fixture::Fixture> {
    let fixture = metal3_fixture::Fixture::new();
    let Some(path) = &args.fixture_journal else {
        return Ok(fixture);
    };
    if args.provisioner != Backend::Fixture {
        bail!("--fixture-journal is for --provisioner fixture");
    }
    let journal = metal3_fixture::journal::Journal::open(path, &identity(args))
        .with_context(|| format!("--fixture-journal {}", path.display()))?;
    Ok(fixture.with_journal(journal))
}

/// With `--enable-leader-election`, waits until this replica holds the Lease and returns its
/// elector; `None` without the flag.
async fn elect(args: &Args, client: &Client) -> Result<Option<Elector>> {
    if !args.enable_leader_election {
        return Ok(None);
    }
    let ns = args
        .leader_election_namespace
        .clone()
        .context("--enable-leader-election needs --leader-election-namespace (or POD_NAMESPACE)")?;
    let identity = identity(args);
    let lease = LeaseConfig {
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        renew_deadline: Duration::from_secs(args.renew_deadline_seconds),
        retry_period: Duration::from_secs(args.retry_period_seconds),
    };
    let elector = Elector::new(client.clone(), &ns, LEASE_NAME, &identity, lease);
    elector.acquire().await;
    Ok(Some(elector))
}
