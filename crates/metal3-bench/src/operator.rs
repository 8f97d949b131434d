//! The operator under test, as a child process of this binary (`--child-operator`), so its
//! memory and CPU are its own: starting it, running it (the child's side) and stopping it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::{Args, Backend, NAMESPACE};

/// Shards per replica with `--replicas`: enough that a replica's share moves in small steps.
const SHARDS_PER_REPLICA: u32 = 4;

/// The operator, as the child process.
pub(crate) async fn child_operator(args: &Args, kubeconfig: &Path) -> Result<()> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    // As `metal3 operator` makes it: its name, and the client-side limit when one is asked.
    let throttle =
        metal3_kube::throttle::Throttle::from_flags(args.kube_api_qps, args.kube_api_burst);
    let client =
        metal3_kube::identity::throttled_client(config, metal3_kube::identity::OPERATOR, throttle)?;
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
    let sharding = (args.replicas > 1).then(|| metal3_kube::shards::ShardConfig {
        count: args.replicas * SHARDS_PER_REPLICA,
        namespace: NAMESPACE.into(),
        prefix: "metal3-operator".into(),
        identity: format!("bench-replica-{}", args.child_replica),
        lease: metal3_kube::leader::LeaseConfig::default(),
    });
    let shards = sharding
        .as_ref()
        .map(|c| metal3_kube::shards::Shards::new(c.count, &c.identity));
    let config = metal3_operator::OperatorConfig {
        namespace: Some(NAMESPACE.into()),
        concurrency: args.concurrency,
        shards: shards.clone(),
        ..Default::default()
    };
    let (keeper_stop, keeper_stopped) = tokio::sync::oneshot::channel::<()>();
    let keeper = sharding.zip(shards).map(|(c, s)| {
        tokio::spawn(metal3_kube::shards::keep(client.clone(), c, s, async {
            let _ = keeper_stopped.await;
        }))
    });
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
    let _ = keeper_stop.send(());
    if let Some(keeper) = keeper {
        let _ = keeper.await;
    }
    if let Some(pool) = pool {
        pool.logout_all().await;
    }
    Ok(())
}

/// Starts this binary as the operator child against the cluster of `kubeconfig` (and the
/// Ironic at `ironic_url`), its log going to `log_path`. `METAL3_BENCH_OPERATOR_WRAPPER`
/// (e.g. `heaptrack`) runs it under a profiler.
pub(crate) fn spawn(
    args: &Args,
    kubeconfig: &Path,
    ironic_url: Option<String>,
    log_path: &Path,
    replica: u32,
) -> Result<Child> {
    let mut child = match std::env::var("METAL3_BENCH_OPERATOR_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut c = Command::new(wrapper.trim());
            c.arg(std::env::current_exe()?);
            c
        }
        _ => Command::new(std::env::current_exe()?),
    };
    child.arg("--child-operator").arg(kubeconfig).args([
        "--provisioner",
        match args.provisioner {
            Backend::Redfish => "redfish",
            Backend::Fixture => "fixture",
            Backend::Ironic => "ironic",
        },
    ]);
    if let Some(url) = &ironic_url {
        child.args(["--ironic-url", url]);
    }
    child
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--kube-api-qps", &args.kube_api_qps.to_string()])
        .args(["--kube-api-burst", &args.kube_api_burst.to_string()])
        .args(["--replicas", &args.replicas.to_string()])
        .args(["--child-replica", &replica.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log_path)?)
        .spawn()
        .context("starting the operator child")
}

/// Interrupts the operator (as Ctrl-C would; under a wrapper, the process it runs) and
/// waits until the child has exited.
pub(crate) async fn stop(mut child: Child) {
    let pid = crate::usage::operator_pid(child.id());
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}
