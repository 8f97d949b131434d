//! `config/capm3`, what a management cluster applies: it builds with kustomize, the API server
//! accepts every object, its webhooks are the paths the provider serves, every CRD converts
//! through the provider, and the controllers work with nothing but the ClusterRole it grants.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Env, fast_capm3, host_of, image_spec, machine_of};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_capm3::webhook::{DEFAULTED, KINDS, mutate_path, validate_path};
use metal3_capm3_api::crds::CONVERSION_PATH;
use metal3_capm3_api::v1beta2::{Metal3DataTemplate, Metal3Machine};
use serde_json::{Value, json};

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// `config/capm3` built by kustomize, as YAML and as objects.
fn built() -> (String, Vec<Value>) {
    let out = metal3_testenv::kubectl()
        .arg("kustomize")
        .arg(config_dir().join("capm3"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    let objects: Vec<Value> = serde_saphyr::from_multiple(&yaml).expect("YAML documents");
    (yaml, objects)
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn the_capm3_config_is_accepted_by_the_api_server() {
    let (_, objects) = built();
    // Every CRD converts through the provider's webhook Service.
    let crds = of_kind(&objects, "CustomResourceDefinition");
    assert_eq!(crds.len(), 9);
    for crd in &crds {
        let conversion = &crd["spec"]["conversion"];
        assert_eq!(
            conversion["strategy"], "Webhook",
            "{}",
            crd["metadata"]["name"]
        );
        assert_eq!(
            conversion["webhook"]["clientConfig"]["service"],
            json!({"name": "capm3-webhook-service", "namespace": "capm3-system", "path": CONVERSION_PATH})
        );
        assert_eq!(
            crd["metadata"]["labels"]["cluster.x-k8s.io/provider"],
            "infrastructure-metal3"
        );
    }
    // Every webhook is one the provider serves, and every kind is validated.
    let mut served: Vec<String> = KINDS.iter().map(|(_, l)| validate_path(l)).collect();
    served.extend(
        KINDS
            .iter()
            .filter(|(k, _)| DEFAULTED.contains(k))
            .map(|(_, l)| mutate_path(l)),
    );
    let mut registered = Vec::new();
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        for config in of_kind(&objects, kind) {
            for hook in config["webhooks"].as_array().expect("webhooks") {
                let service = &hook["clientConfig"]["service"];
                assert_eq!(service["name"], "capm3-webhook-service");
                assert_eq!(service["namespace"], "capm3-system");
                assert_eq!(hook["matchPolicy"], "Equivalent");
                registered.push(service["path"].as_str().expect("path").to_string());
            }
        }
    }
    served.sort();
    registered.sort();
    assert_eq!(registered, served);
    // The Deployment runs `metal3 capm3` as the ServiceAccount the role is bound to.
    let deployment = of_kind(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["args"][0], "capm3");
    assert_eq!(pod["serviceAccountName"], "capm3-manager");
    let binding = of_kind(&objects, "ClusterRoleBinding")[0];
    assert_eq!(binding["roleRef"]["name"], "capm3-manager-role");
    assert_eq!(binding["subjects"][0]["name"], "capm3-manager");
    assert_eq!(of_kind(&objects, "Certificate").len(), 1);

    // The API server accepts everything but cert-manager's kinds (not installed here). A dry
    // run does not create the namespace the other objects go into: create it first.
    let cp = metal3_testenv::shared();
    let created = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["create", "namespace", "capm3-system"])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_works_with_only_the_manager_role() {
    let env = Env::bare("rbac").await;
    let (_, objects) = built();

    // The ClusterRole exactly as shipped, bound to a service account of this namespace.
    let mut role: ClusterRole =
        serde_json::from_value(of_kind(&objects, "ClusterRole")[0].clone()).expect("ClusterRole");
    let role_name = format!("capm3-test-manager-{}", env.ns);
    role.metadata.name = Some(role_name.clone());
    role.metadata.labels = None;
    Api::<ClusterRole>::all(env.client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    env.create::<ServiceAccount>(json!({"metadata": {"name": "capm3"}}))
        .await;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": "capm3", "namespace": env.ns}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(env.client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    let restricted = impersonating(&env.ns, "capm3").await;
    assert!(
        Api::<ServiceAccount>::namespaced(restricted.clone(), &env.ns)
            .list(&Default::default())
            .await
            .is_err(),
        "the role must not grant unrelated reads"
    );
    assert!(
        Api::<BareMetalHost>::namespaced(restricted.clone(), &env.ns)
            .delete("anything", &DeleteParams::default())
            .await
            .is_err_and(|e| matches!(e, kube::Error::Api(ref s) if s.code == 403)),
        "the provider never deletes hosts"
    );

    env.start_operator();
    env.start_capm3_as(restricted, fast_capm3(&env.ns));
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "tmpl", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"metaData": {"strings": [{"key": "role", "value": "worker"}]}},
    }))
    .await;
    env.hosts_available(&["h-0"]).await;

    // Claim, data rendering, provisioning, providerID…
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "tmpl"});
    env.machine("c1", "m-0", spec, None).await;
    let m3m = env.join("m-0").await;
    assert_eq!(host_of(&m3m), "h-0");
    assert_eq!(m3m.spec.provider_id, format!("metal3://{}/h-0/m-0", env.ns));
    let meta = env
        .api::<Secret>()
        .get("m-0-metadata")
        .await
        .expect("rendered metadata");
    assert!(common::secret_text(&meta, "metaData").contains("role: worker"));

    // …and the release on delete.
    env.delete::<Metal3Machine>("m-0").await;
    env.wait::<BareMetalHost>("h-0", "released and available", |h| {
        h.spec.consumer_ref.is_none() && h.provisioning_state() == ProvisioningState::Available
    })
    .await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    env.delete::<metal3_capm3::capi::Machine>(&machine_of(&m3m))
        .await;
    env.delete_node("h-0").await;

    Api::<ClusterRoleBinding>::all(env.client.clone())
        .delete(&role_name, &DeleteParams::default())
        .await
        .expect("delete binding");
    Api::<ClusterRole>::all(env.client.clone())
        .delete(&role_name, &DeleteParams::default())
        .await
        .expect("delete role");
}
