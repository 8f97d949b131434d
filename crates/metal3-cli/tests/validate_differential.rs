//! `metal3 validate` against the real API server: every manifest of the corpus
//! (`tests/data/differential/{accepted,refused}/`) is applied with `kubectl apply
//! --dry-run=server` — our CRDs installed, our validating webhook registered — and given to
//! `metal3 validate`; both verdicts must be the one of the manifest's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/differential")
}

/// `(file name, manifest, accepted?)` of every corpus case.
fn cases() -> Vec<(String, Value, bool)> {
    let mut cases = Vec::new();
    for (dir, accepted) in [("accepted", true), ("refused", false)] {
        let mut files: Vec<_> = std::fs::read_dir(corpus().join(dir))
            .expect("corpus directory")
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("corpus file");
            let manifest: Value = serde_saphyr::from_str(&text).expect("corpus file is YAML");
            let name = file
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            cases.push((name, manifest, accepted));
        }
    }
    cases
}

/// Registers our validating webhook (served on a loopback port) for the metal3.io kinds in
/// `ns` only; returns the configuration's name.
async fn register_webhook(client: &kube::Client, ns: &str) -> String {
    let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(metal3_operator::webhook::serve_listener(
        listener,
        tls.cert_pem.into_bytes(),
        tls.key_pem.into_bytes(),
    ));
    let ca = base64::engine::general_purpose::STANDARD.encode(&tls.ca_pem);
    let plural = |kind: &str| {
        metal3_api::crds::all()
            .into_iter()
            .find(|crd| crd.spec.names.kind == kind)
            .map(|crd| crd.spec.names.plural)
            .expect("every webhook kind has a CRD")
    };
    let webhooks: Vec<_> = metal3_operator::webhook::PATHS
        .iter()
        .map(|(kind, path)| {
            json!({
                "name": format!("{}.metal3.io", kind.to_lowercase()),
                "clientConfig": {"url": format!("https://127.0.0.1:{port}{path}"), "caBundle": ca},
                "rules": [{
                    "apiGroups": ["metal3.io"], "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [plural(kind)],
                }],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
            })
        })
        .collect();
    let name = format!("metal3-{ns}");
    let config: ValidatingWebhookConfiguration =
        serde_json::from_value(json!({"metadata": {"name": name}, "webhooks": webhooks}))
            .expect("webhook configuration");
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &config)
        .await
        .expect("create webhook configuration");
    name
}

fn kubectl_apply(kubeconfig: &Path, ns: &str, file: &Path) -> Output {
    metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "--dry-run=server", "-n", ns, "-f"])
        .arg(file)
        .output()
        .expect("kubectl runs")
}

fn metal3_validate(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3"))
        .arg("validate")
        .arg(file)
        .output()
        .expect("the metal3 binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metal3_validate_agrees_with_the_api_server_on_every_manifest_of_the_corpus() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "differential")
        .await
        .expect("namespace");
    let webhook = register_webhook(&client, &ns).await;
    let dir = tempfile::tempdir().expect("temp dir");

    let cases = cases();
    assert!(cases.iter().any(|c| c.2) && cases.iter().any(|c| !c.2));
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, manifest, _)| {
            let mut manifest = manifest.clone();
            manifest["metadata"]["namespace"] = json!(ns);
            let file = dir.path().join(name);
            std::fs::write(&file, serde_json::to_vec(&manifest).expect("json")).expect("write");
            file
        })
        .collect();

    // The API server picks the webhook configuration up within moments: wait until a case
    // only the webhook refuses is refused.
    let probe = cases
        .iter()
        .position(|(name, ..)| name == "baremetalhost-webhook-bad-bmc-address.yaml")
        .expect("the probe case is in the corpus");
    let deadline = Instant::now() + Duration::from_secs(30);
    while kubectl_apply(cp.kubeconfig(), &ns, &files[probe])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the webhook never refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut disagreements = Vec::new();
    for ((name, _, accepted), file) in cases.iter().zip(&files) {
        let server = kubectl_apply(cp.kubeconfig(), &ns, file);
        let ours = metal3_validate(file);
        let (by_server, by_us) = (server.status.success(), ours.status.success());
        if by_server != *accepted || by_us != *accepted {
            disagreements.push(format!(
                "{name}: expected {}; API server {}: {}; metal3 validate {}: {}",
                verdict(*accepted),
                verdict(by_server),
                text(&server).trim(),
                verdict(by_us),
                text(&ours).trim(),
            ));
        }
    }
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&webhook, &DeleteParams::default())
        .await
        .expect("delete webhook configuration");
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}

fn verdict(accepted: bool) -> &'static str {
    if accepted { "accepted" } else { "refused" }
}
