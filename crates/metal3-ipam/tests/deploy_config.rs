//! `config/ipam`, what a management cluster applies: it builds with kustomize, the API server
//! accepts every object, its webhooks are the paths the manager serves, and the manager works
//! with nothing but the ClusterRole and leader-election Role it grants.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Env, fast};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use metal3_ipam::capi;
use metal3_ipam::webhook::{KINDS, mutate_path, validate_path};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use serde_json::{Value, json};

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// `config/ipam` built by kustomize, as objects.
fn built() -> Vec<Value> {
    let out = metal3_testenv::kubectl()
        .arg("kustomize")
        .arg(config_dir().join("ipam"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    serde_saphyr::from_multiple(&yaml).expect("YAML documents")
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn the_ipam_config_is_accepted_by_the_api_server() {
    let objects = built();
    let crds = of_kind(&objects, "CustomResourceDefinition");
    assert_eq!(crds.len(), 3);
    for crd in &crds {
        assert_eq!(
            crd["metadata"]["labels"]["cluster.x-k8s.io/provider"],
            "ipam-metal3"
        );
    }
    // Every webhook is one the manager serves, and every kind is defaulted and validated.
    let mut served: Vec<String> = KINDS
        .iter()
        .flat_map(|(_, l)| [validate_path(l), mutate_path(l)])
        .collect();
    let mut registered = Vec::new();
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        for config in of_kind(&objects, kind) {
            assert_eq!(
                config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                "metal3-ipam-system/ipam-serving-cert"
            );
            for hook in config["webhooks"].as_array().expect("webhooks") {
                let service = &hook["clientConfig"]["service"];
                assert_eq!(service["name"], "ipam-webhook-service");
                assert_eq!(service["namespace"], "metal3-ipam-system");
                assert_eq!(hook["matchPolicy"], "Equivalent");
                registered.push(service["path"].as_str().expect("path").to_string());
            }
        }
    }
    served.sort();
    registered.sort();
    assert_eq!(registered, served);
    // The Deployment runs `metal3 ipam` as the ServiceAccount the roles are bound to, with
    // the serving certificate cert-manager issues.
    let deployment = of_kind(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["args"][0], "ipam");
    assert_eq!(pod["serviceAccountName"], "ipam-manager");
    assert_eq!(
        pod["volumes"][0]["secret"]["secretName"],
        "ipam-webhook-service-cert"
    );
    let certificate = of_kind(&objects, "Certificate")[0];
    assert_eq!(
        certificate["spec"]["secretName"],
        "ipam-webhook-service-cert"
    );
    assert_eq!(
        certificate["spec"]["dnsNames"][0],
        "ipam-webhook-service.metal3-ipam-system.svc"
    );
    let binding = of_kind(&objects, "ClusterRoleBinding")[0];
    assert_eq!(binding["roleRef"]["name"], "ipam-manager-role");
    assert_eq!(binding["subjects"][0]["name"], "ipam-manager");

    // The API server accepts everything but cert-manager's kinds (not installed here). A dry
    // run does not create the namespace the other objects go into: create it first.
    let cp = metal3_testenv::shared();
    let created = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["create", "namespace", "metal3-ipam-system"])
        .output()
        .expect("kubectl runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let applied: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            !o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("cert-manager.io/"))
        })
        .collect();
    let manifests =
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": applied}))
            .expect("json");
    let mut child = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            "-",
        ])
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
    let applied_lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(applied_lines, applied.len(), "one line per object applied");
}

/// A client that is ServiceAccount `sa` of `ns` and nothing more.
async fn impersonating(ns: &str, sa: &str) -> Client {
    let kubeconfig =
        Kubeconfig::read_from(metal3_testenv::shared().kubeconfig()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:{sa}"));
    Client::try_from(config).expect("client")
}

/// Binds the roles of `config/ipam`, as shipped, to ServiceAccount `sa` of the test's
/// namespace; returns the ClusterRole's name (to clean up).
async fn bind_shipped_roles(env: &Env, objects: &[Value], sa: &str) -> String {
    let mut role: ClusterRole =
        serde_json::from_value(of_kind(objects, "ClusterRole")[0].clone()).expect("ClusterRole");
    let role_name = format!("ipam-test-manager-{}", env.ns);
    role.metadata.name = Some(role_name.clone());
    role.metadata.labels = None;
    Api::<ClusterRole>::all(env.client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    env.create::<ServiceAccount>(json!({"metadata": {"name": sa}}))
        .await;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": env.ns}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(env.client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    // The leader-election Role, in the test's namespace.
    let mut lease_role: Role =
        serde_json::from_value(of_kind(objects, "Role")[0].clone()).expect("Role");
    lease_role.metadata.namespace = Some(env.ns.clone());
    lease_role.metadata.labels = None;
    env.api::<Role>()
        .create(&PostParams::default(), &lease_role)
        .await
        .expect("create lease role");
    let lease_binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "leases"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": lease_role.metadata.name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": env.ns}],
    }))
    .expect("binding");
    env.api::<RoleBinding>()
        .create(&PostParams::default(), &lease_binding)
        .await
        .expect("create lease binding");
    role_name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_works_with_only_the_roles_it_is_given() {
    let env = Env::bare("rbac").await;
    let objects = built();
    let role_name = bind_shipped_roles(&env, &objects, "ipam").await;
    let restricted = impersonating(&env.ns, "ipam").await;
    assert!(
        Api::<Secret>::namespaced(restricted.clone(), &env.ns)
            .list(&Default::default())
            .await
            .is_err(),
        "the role must not grant unrelated reads"
    );
    assert!(
        Api::<IPPool>::namespaced(restricted.clone(), &env.ns)
            .delete("anything", &DeleteParams::default())
            .await
            .is_err_and(|e| matches!(e, kube::Error::Api(ref s) if s.code == 403)),
        "the manager never deletes pools"
    );

    // Leader election with the Role it is given.
    let elector = metal3_kube::leader::Elector::new(
        restricted.clone(),
        &env.ns,
        "controller-leader-election-ipam-capm3",
        "rbac-test",
        metal3_kube::leader::LeaseConfig::default(),
    );
    elector.acquire().await;
    elector.release().await.expect("the lease is given up");

    // A pool of a Cluster, claims of both kinds answered and released.
    env.start_as(restricted, fast(&env.ns));
    env.create::<capi::Cluster>(json!({"metadata": {"name": "c1"}, "spec": {"paused": false}}))
        .await;
    env.pool(
        "p",
        json!({"namePrefix": "p", "clusterName": "c1", "pools": [{"start": "10.20.0.1", "end": "10.20.0.9"}]}),
    )
    .await;
    env.claim("m", "p", json!({})).await;
    env.capi_claim("c", "p", json!({})).await;
    let address = env.address_of("m").await;
    let capi_address = env.capi_address_of("c").await;
    env.delete::<IPClaim>("m").await;
    env.delete::<capi::IPAddressClaim>("c").await;
    env.wait_gone::<IPAddress>(address.metadata.name.as_deref().unwrap_or_default())
        .await;
    env.wait_gone::<capi::IPAddress>(capi_address.metadata.name.as_deref().unwrap_or_default())
        .await;
    env.delete::<IPPool>("p").await;
    env.wait_gone::<IPPool>("p").await;

    Api::<ClusterRoleBinding>::all(env.client.clone())
        .delete(&role_name, &DeleteParams::default())
        .await
        .expect("delete binding");
    Api::<ClusterRole>::all(env.client.clone())
        .delete(&role_name, &DeleteParams::default())
        .await
        .expect("delete role");
}
