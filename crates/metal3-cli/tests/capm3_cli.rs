//! `metal3 capm3` as a process: refuses to start without its webhook certificate, and with one
//! takes its leader-election Lease, answers its probes and converts objects over TLS.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::{Value, json};

mod common;
use common::{Killed, free_port, http_get};

#[test]
fn capm3_without_its_webhook_certificate_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["capm3", "--webhook-cert-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls.crt does not exist"), "{stderr}");
    assert!(stderr.contains("--webhook-port 0"), "{stderr}");
}

/// A CA (PEM) and, written into `dir` as `tls.crt`/`tls.key`, a certificate it signed for
/// 127.0.0.1.
fn serving_certificate(dir: &std::path::Path) -> String {
    let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
    std::fs::write(dir.join("tls.crt"), tls.cert_pem).expect("write tls.crt");
    std::fs::write(dir.join("tls.key"), tls.key_pem).expect("write tls.key");
    tls.ca_pem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capm3_process_takes_its_lease_and_serves_probes_and_conversion() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "cli-capm3").await.expect("namespace");
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = serving_certificate(certs.path());
    let (health, webhook) = (free_port(), free_port());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _capm3 = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("capm3")
            .args(["--namespace", &ns, "--log-format", "json"])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{health}")])
            .args(["--webhook-port", &webhook.to_string()])
            .arg("--webhook-cert-dir")
            .arg(certs.path())
            .args(["--leader-elect", "--leader-election-namespace", &ns])
            .args(["--instance", "cli-capm3"])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("metal3 capm3 starts"),
    );
    let log = || std::fs::read_to_string(logs.path()).unwrap_or_default();

    // The Lease, held by this instance.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    let lease = loop {
        let lease = leases
            .get_opt("controller-leader-election-capm3")
            .await
            .expect("get lease");
        let holder = lease
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.clone());
        if holder.as_deref() == Some("cli-capm3")
            && let Some(lease) = lease
        {
            break lease;
        }
        assert!(
            Instant::now() < deadline,
            "the lease is not ours: {holder:?}\nlog:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Written by the provider under its own name (its user agent), not `unknown`.
    assert_eq!(common::managers(&lease.metadata), ["metal3-capm3"]);
    let healthz = http_get(health, "/healthz", "").expect("health endpoint");
    assert!(healthz.starts_with("HTTP/1.0 200"), "{healthz}");

    // A ConversionReview over TLS, trusted through the CA that signed the serving certificate.
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    let review = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {
            "uid": "review-1",
            "desiredAPIVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
            "objects": [{
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "Metal3Cluster",
                "metadata": {"name": "c", "namespace": ns},
                "spec": {"controlPlaneEndpoint": {"host": "192.0.2.10", "port": 6443}, "noCloudProvider": true},
            }],
        },
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer: Value = loop {
        let sent = https
            .post(format!("https://127.0.0.1:{webhook}/convert"))
            .json(&review)
            .send()
            .await;
        match sent {
            Ok(response) => break response.json().await.expect("a ConversionReview"),
            Err(e) => assert!(
                Instant::now() < deadline,
                "the webhook never answered: {e}\nlog:\n{}",
                log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let response = &answer["response"];
    assert_eq!(response["uid"], "review-1");
    assert_eq!(response["result"]["status"], "Success", "{answer:#}");
    let converted = &response["convertedObjects"][0];
    assert_eq!(
        converted["apiVersion"],
        "infrastructure.cluster.x-k8s.io/v1beta2"
    );
    assert_eq!(converted["spec"]["cloudProviderEnabled"], false);
}
