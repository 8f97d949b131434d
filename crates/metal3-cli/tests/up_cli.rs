//! `metal3 up`: the one-command local environment comes up, provisions the example, stops
//! cleanly, and picks up where it left off when run again; its operator manages hosts in any
//! namespace; the spare servers' manifests name the real BMC port; and it runs against an
//! existing cluster (`--kubeconfig`) as well.

use std::path::Path;

use std::time::{Duration, Instant};

use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use metal3_api::v1alpha1::BareMetalHost;

mod common;
use common::up::{interrupt_and_wait, up, up_with};
use common::{free_port, wait_for};

async fn hosts(state: &Path) -> Api<BareMetalHost> {
    let kc = Kubeconfig::read_from(state.join("kubeconfig")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Api::namespaced(kube::Client::try_from(config).expect("client"), "metal3")
}

/// Applies the README's example (a live ISO on sim-0) and waits until sim-0 is provisioned.
async fn provision_the_example(state: &Path, api: &Api<BareMetalHost>) {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/provision-live-iso.yaml");
    let out = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(state.join("kubeconfig"))
        .args([
            "-n",
            "metal3",
            "patch",
            "bmh",
            "sim-0",
            "--type",
            "merge",
            "--patch-file",
        ])
        .arg(&example)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = api.get("sim-0").await.expect("host");
        if h.provisioning_state().as_str() == "provisioned" {
            break;
        }
        assert!(Instant::now() < deadline, "not provisioned: {:?}", h.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_provisions_the_example_stops_cleanly_and_resumes() {
    let state = tempfile::tempdir().expect("state dir");
    let bmc_port = free_port();
    let mut first = up(state.path(), bmc_port);
    let api = hosts(state.path()).await;
    let listed = api.list(&Default::default()).await.expect("list");
    assert_eq!(listed.items.len(), 2);

    // Keys, kubeconfigs and the fleet's manifests (BMC passwords) are private to their owner.
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(state.path().join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    for dir in ["", "control-plane"] {
        assert_eq!(mode(dir), 0o700, "{dir:?}");
    }
    for file in [
        "kubeconfig",
        "fleet.yaml",
        "control-plane/kubeconfig",
        "control-plane/admin.key",
        "control-plane/sa.key",
        "control-plane/serving.key",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }

    // The README's example: boot a live ISO on sim-0.
    provision_the_example(state.path(), &api).await;

    interrupt_and_wait(&mut first.0);
    let ports = std::fs::read_to_string(state.path().join("control-plane/ports")).expect("ports");
    let api_port: u16 = ports
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .expect("API server port");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err(),
        "nothing left running"
    );

    // Again, in the same state directory: the same cluster, the same hosts.
    let _second = up(state.path(), bmc_port);
    let api = hosts(state.path()).await;
    let h = api.get("sim-0").await.expect("host kept");
    assert_eq!(h.provisioning_state().as_str(), "provisioned");
}

/// The Ironic port `metal3 up` reported in its progress log.
fn ironic_port(progress: &Path) -> u16 {
    let shown = std::fs::read_to_string(progress).expect("progress");
    shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("Ironic http://127.0.0.1:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("Ironic's address is shown:\n{shown}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_ironic_provisions_the_example_and_adopts_it_after_a_restart() {
    let state = tempfile::tempdir().expect("state dir");
    let bmc_port = free_port();
    let args = ["--hosts", "1", "--provisioner", "ironic"];
    let progress = state.path().join("progress-1.log");
    let log = std::fs::File::create(&progress).expect("progress log");
    let mut first = up_with(state.path(), bmc_port, &args, log.into());
    let api = hosts(state.path()).await;
    provision_the_example(state.path(), &api).await;
    let before = api.get("sim-0").await.expect("host");
    let first_node = before.status.expect("status").provisioning.id;
    let port = ironic_port(&progress);

    interrupt_and_wait(&mut first.0);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "Ironic stopped with the rest"
    );

    // A new Ironic starts empty: the provisioned host is registered again and adopted, not
    // deployed again.
    let progress = state.path().join("progress-2.log");
    let log = std::fs::File::create(&progress).expect("progress log");
    let _second = up_with(state.path(), bmc_port, &args, log.into());
    let ironic = metal3_ironic::Client::new(&metal3_ironic::Config::new(format!(
        "http://127.0.0.1:{}",
        ironic_port(&progress)
    )))
    .expect("Ironic client");
    let deadline = Instant::now() + Duration::from_secs(120);
    let node = loop {
        let node = ironic.node("metal3~sim-0").await.expect("Ironic answers");
        if let Some(n) = node.filter(|n| n.provision_state == "active") {
            break n;
        }
        assert!(Instant::now() < deadline, "never adopted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let history = ironic.history(&node.uuid).await.expect("history");
    assert!(
        !history.iter().any(|e| e.event.contains("deploy")),
        "deployed again: {history:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = api
            .get("sim-0")
            .await
            .expect("host")
            .status
            .expect("status");
        if status.provisioning.id == node.uuid {
            assert_eq!(status.provisioning.state.as_str(), "provisioned");
            assert!(status.error_message.is_empty(), "{}", status.error_message);
            assert_ne!(status.provisioning.id, first_node);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host never showed its new node"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Mode bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `kubectl --kubeconfig <state>/kubeconfig ARGS`, which must succeed.
fn kubectl(state: &Path, args: &[&str]) {
    let out = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(state.join("kubeconfig"))
        .args(args)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn available(h: &BareMetalHost) -> bool {
    h.provisioning_state().as_str() == "available"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_writes_the_spare_hosts_at_the_real_bmc_port_and_manages_hosts_in_any_namespace() {
    let state = tempfile::tempdir().expect("state dir");
    // Never the default 8000: the manifests must name the port actually used.
    let bmc_port = free_port();
    assert_ne!(bmc_port, 8000);
    let progress = state.path().join("progress.log");
    let log = std::fs::File::create(&progress).expect("progress log");
    let _up = up_with(state.path(), bmc_port, &["--hosts", "1"], log.into());
    let shown = std::fs::read_to_string(&progress).expect("progress");
    assert!(shown.contains("watching all namespaces"), "{shown}");

    // One manifest per spare server (servers 1 and 2), private: they hold BMC passwords.
    let examples = state.path().join("examples");
    assert_eq!(mode(&examples), 0o700);
    for n in [1, 2] {
        let file = examples.join(format!("host-{n}.yaml"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        let yaml = std::fs::read_to_string(&file).expect("manifest");
        assert!(
            yaml.contains(&format!("http://127.0.0.1:{bmc_port}/redfish/v1/Systems/")),
            "{yaml}"
        );
        assert!(!yaml.contains("127.0.0.1:8000"), "{yaml}");
    }
    assert!(
        shown.contains(&examples.join("host-1.yaml").display().to_string()),
        "the hint points at the written manifest:\n{shown}"
    );

    // As the hint says: into the fleet's namespace, where it registers over Redfish at that port.
    let host_1 = examples.join("host-1.yaml");
    let host_1 = host_1.to_str().expect("UTF-8 path");
    kubectl(state.path(), &["-n", "metal3", "apply", "-f", host_1]);
    // As a new user does: without `-n`, so into `default`.
    let host_2 = examples.join("host-2.yaml");
    kubectl(
        state.path(),
        &["apply", "-f", host_2.to_str().expect("UTF-8 path")],
    );

    let log = state.path().join("operator.log");
    let api = hosts(state.path()).await;
    wait_for(&api, &["sim-1".into()], "available", &log, available).await;
    let client = api.into_client();
    let default: Api<BareMetalHost> = Api::namespaced(client, "default");
    wait_for(&default, &["sim-2".into()], "available", &log, available).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_the_fleet_against_an_existing_cluster() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "up").await.expect("namespace");
    // A host of someone else's, in another namespace: not ours to manage.
    let other = cp.namespace(&client, "up-other").await.expect("namespace");
    let mut foreign: BareMetalHost = serde_json::from_value(serde_json::json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "foreign"},
        "spec": {"online": false, "bmc": {"address": "redfish://192.0.2.1/redfish/v1/Systems/1", "credentialsName": "none"}},
    }))
    .expect("host");
    foreign.metadata.namespace = Some(other.clone());
    let others: Api<BareMetalHost> = Api::namespaced(client.clone(), &other);
    others
        .create(&Default::default(), &foreign)
        .await
        .expect("create the foreign host");

    let state = tempfile::tempdir().expect("state dir");
    let progress = state.path().join("progress.log");
    let log = std::fs::File::create(&progress).expect("progress log");
    let kubeconfig = cp.kubeconfig().to_str().expect("UTF-8 path").to_string();
    let args = [
        "--hosts",
        "2",
        "--provisioner",
        "fixture",
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &ns,
    ];
    // CRDs installed again over the ones the test control plane has: server-side apply.
    let _up = up_with(state.path(), free_port(), &args, log.into());
    let shown = std::fs::read_to_string(&progress).expect("progress");
    assert!(
        shown.contains(&format!("watching namespace {ns} only")),
        "{shown}"
    );
    assert!(
        !state.path().join("control-plane").exists(),
        "no local control plane"
    );

    let api: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = api
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .iter()
        .filter_map(|h| h.metadata.name.clone())
        .collect();
    assert_eq!(names, ["sim-0", "sim-1"]);
    wait_for(
        &api,
        &names,
        "available",
        &state.path().join("operator.log"),
        available,
    )
    .await;
    // The fleet is ready; the host in the other namespace was left alone.
    let foreign = others.get("foreign").await.expect("foreign host");
    assert!(
        foreign.status.is_none(),
        "managed outside --namespace: {:?}",
        foreign.status
    );
}
