//! The `config/` tree a real cluster applies: it builds with kustomize, the API server accepts
//! every object, and the operator works with nothing but the ClusterRole it grants.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_fixture::Fixture;
use metal3_operator::{Metrics, OperatorConfig};
use serde_json::json;

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn kustomize(dir: &str) -> String {
    let out = metal3_testenv::kubectl()
        .arg("kustomize")
        .arg(config_dir().join(dir))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_default_config_is_accepted_by_the_api_server() {
    let cp = metal3_testenv::shared();
    // A dry run does not create the namespace the other objects go into: create it first.
    let created = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["create", "namespace", "baremetal-operator-system"])
        .output()
        .expect("kubectl runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let manifests = kustomize("default");
    for kind in [
        "kind: Deployment",
        "kind: ClusterRole",
        "kind: ValidatingWebhookConfiguration",
        "kind: CustomResourceDefinition",
    ] {
        assert!(manifests.contains(kind), "{kind} missing");
    }
    let mut child = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["apply", "--server-side", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl apply");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifests.as_bytes())
        .expect("write manifests");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The cert-manager overlay at least builds.
    assert!(kustomize("certmanager").contains("kind: Certificate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_works_with_only_the_manager_role() {
    let cp = metal3_testenv::shared();
    let admin = cp.client().await.expect("client");
    let ns = cp.namespace(&admin, "rbac").await.expect("namespace");

    // The ClusterRole exactly as shipped, bound to a service account of this namespace.
    let role_yaml =
        std::fs::read_to_string(config_dir().join("rbac/role.yaml")).expect("role.yaml");
    let mut role: ClusterRole = serde_saphyr::from_str(&role_yaml).expect("ClusterRole");
    let role_name = format!("metal3-test-manager-{ns}");
    role.metadata.name = Some(role_name.clone());
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "operator"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("create sa");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");

    // A client that is that service account and nothing more.
    let kubeconfig = Kubeconfig::read_from(cp.kubeconfig()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:operator"));
    let restricted = Client::try_from(config).expect("client");
    let denied = Api::<ServiceAccount>::namespaced(restricted.clone(), &ns)
        .list(&Default::default())
        .await;
    assert!(denied.is_err(), "the role must not grant unrelated reads");

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(metal3_operator::run(
        restricted,
        Arc::new(Fixture::new()),
        OperatorConfig {
            namespace: Some(ns.clone()),
            machine: metal3_hoststate::Config {
                backoff_unit: Duration::from_millis(500),
                power_poll: Duration::from_millis(500),
                ..metal3_hoststate::Config::default()
            },
            ..OperatorConfig::default()
        },
        Arc::new(Metrics::default()),
        async move {
            let _ = rx.await;
        },
    ));

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "bmc"},
        "stringData": {"username": "admin", "password": "pw"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let hosts: Api<BareMetalHost> = Api::namespaced(admin.clone(), &ns);
    let host: BareMetalHost = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "h"},
        "spec": {"online": true, "bmc": {"address": "redfish://192.0.2.1/redfish/v1/Systems/1", "credentialsName": "bmc"}},
    }))
    .expect("host");
    hosts
        .create(&PostParams::default(), &host)
        .await
        .expect("host");
    let wait = |want: &'static str| {
        let hosts = hosts.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let h = hosts.get_opt("h").await.expect("get");
                let state = h
                    .as_ref()
                    .map(|h| h.provisioning_state().as_str().to_string());
                if state.as_deref() == Some(want) || (want == "gone" && h.is_none()) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "never {want}: {:?}",
                    h.and_then(|h| h.status)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait("available").await;
    hosts
        .patch(
            "h",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"image": {"url": "http://i/os.img", "checksum": "x"}}})),
        )
        .await
        .expect("set image");
    wait("provisioned").await;
    hosts
        .delete("h", &DeleteParams::default())
        .await
        .expect("delete");
    wait("gone").await;
    let _ = tx.send(());
    operator.await.expect("operator");
}
