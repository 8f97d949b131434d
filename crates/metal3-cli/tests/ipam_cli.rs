//! `metal3 ipam` as a process: refuses to start without its webhook certificate, and with one
//! takes its leader-election Lease, answers its probes and metrics, judges objects over TLS,
//! and answers an IPClaim (Cluster API's IPAM kinds are not installed here: it serves
//! IPClaims alone).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use serde_json::{Value, json};

mod common;
use common::{Killed, free_port, http_get};

#[test]
fn ipam_without_its_webhook_certificate_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["ipam", "--webhook-cert-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--webhook-port 9447: "), "{stderr}");
    assert!(stderr.contains("tls.crt does not exist"), "{stderr}");
}

/// Waits until `ok` gives a value, or fails with `what` and the log.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    log: &dyn Fn() -> String,
    mut ok: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = ok().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}\nlog:\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipam_process_takes_its_lease_serves_probes_metrics_webhooks_and_answers_claims() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    cp.install_crds(&metal3_testenv::crd_dir().join("ipam"))
        .await
        .expect("the IPAM CRDs install");
    let ns = cp.namespace(&client, "cli-ipam").await.expect("namespace");
    let certs = tempfile::tempdir().expect("tempdir");
    let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
    std::fs::write(certs.path().join("tls.crt"), &tls.cert_pem).expect("write tls.crt");
    std::fs::write(certs.path().join("tls.key"), &tls.key_pem).expect("write tls.key");
    let (health, metrics, webhook) = (free_port(), free_port(), free_port());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _ipam = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("ipam")
            .args(["--namespace", &ns, "--log-format", "json"])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{health}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--webhook-port", &webhook.to_string()])
            .arg("--webhook-cert-dir")
            .arg(certs.path())
            .arg("--metrics-cert-dir")
            .arg(certs.path())
            .args(["--leader-elect", "--leader-election-namespace", &ns])
            .args(["--instance", "cli-ipam"])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("metal3 ipam starts"),
    );
    let log = || std::fs::read_to_string(logs.path()).unwrap_or_default();

    // The Lease, held by this instance.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    eventually("the lease is never ours", &log, || async {
        let holder = leases
            .get_opt("controller-leader-election-ipam-capm3")
            .await
            .expect("get lease")
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity);
        (holder.as_deref() == Some("cli-ipam")).then_some(())
    })
    .await;
    let healthz = http_get(health, "/healthz", "").expect("health endpoint");
    assert!(healthz.starts_with("HTTP/1.0 200"), "{healthz}");

    // A pool and a claim: the claim is answered.
    let pools: Api<IPPool> = Api::namespaced(client.clone(), &ns);
    let pool: IPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "prov"},
        "spec": {"namePrefix": "prov", "prefix": 24, "pools": [{"start": "192.168.20.10", "end": "192.168.20.20"}]},
    }))
    .expect("pool");
    pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("create pool");
    let claims: Api<IPClaim> = Api::namespaced(client.clone(), &ns);
    let claim: IPClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "m-0"}, "spec": {"pool": {"name": "prov"}},
    }))
    .expect("claim");
    claims
        .create(&PostParams::default(), &claim)
        .await
        .expect("create claim");
    let answer = eventually("the claim is never answered", &log, || async {
        claims
            .get("m-0")
            .await
            .expect("get claim")
            .status
            .and_then(|s| s.address)
    })
    .await;
    let address = Api::<IPAddress>::namespaced(client.clone(), &ns)
        .get(&answer.name)
        .await
        .expect("the address");
    assert_eq!(address.spec.address.as_str(), "192.168.20.10");

    // An AdmissionReview and /metrics over TLS, trusted through the CA that signed the
    // certificate.
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("CA"))
        .build()
        .expect("client");

    // The metrics count it, for a scraper the API server allows (--metrics-cert-dir's
    // certificate, verified).
    let token = common::metrics::token(&client, &ns, "prometheus", true).await;
    let scraped = https
        .get(format!("https://127.0.0.1:{metrics}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("metrics endpoint")
        .text()
        .await
        .expect("metrics");
    assert!(
        scraped.contains(r#"metal3_ipam_allocations_total{kind="IPClaim"} 1"#),
        "{scraped}"
    );
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "review-1",
            "kind": {"group": "ipam.metal3.io", "version": "v1alpha1", "kind": "IPPool"},
            "resource": {"group": "ipam.metal3.io", "version": "v1alpha1", "resource": "ippools"},
            "operation": "CREATE",
            "userInfo": {},
            "object": {"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
                       "metadata": {"name": "bad", "namespace": ns},
                       "spec": {"namePrefix": "bad", "gateway": "192.168.20.300"}},
        },
    });
    let answer: Value = https
        .post(format!(
            "https://127.0.0.1:{webhook}/validate-ipam-metal3-io-v1alpha1-ippool"
        ))
        .json(&review)
        .send()
        .await
        .expect("the webhook answers")
        .json()
        .await
        .expect("an AdmissionReview");
    assert_eq!(answer["response"]["uid"], "review-1");
    assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("spec.gateway"), "{message}");
}
