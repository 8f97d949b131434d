//! `metal3 operator` as a process: drives a host to available against the real API server and
//! serves probes and metrics; a backend missing its configuration fails with a clear message.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::json;

mod common;
use common::{Killed, exit_status, free_port, http_get, sigterm};

#[test]
fn the_ironic_backend_without_an_endpoint_names_the_variable_and_the_fix() {
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["operator", "--webhook-port", "0", "--provisioner", "ironic"])
        .env_remove("IRONIC_ENDPOINT")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("IRONIC_ENDPOINT is not set"), "{stderr}");
    assert!(stderr.contains("set it to Ironic's API URL"), "{stderr}");
}

#[test]
fn building_preprovisioning_images_needs_deploy_images() {
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args([
            "operator",
            "--provisioner",
            "fixture",
            "--webhook-port",
            "0",
            "--build-preprov-image",
        ])
        .env_remove("DEPLOY_ISO_URL")
        .env_remove("DEPLOY_KERNEL_URL")
        .env_remove("DEPLOY_RAMDISK_URL")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--build-preprov-image needs deploy images"),
        "{stderr}"
    );
    assert!(stderr.contains("DEPLOY_ISO_URL"), "{stderr}");
}

#[test]
fn a_missing_webhook_certificate_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["operator", "--provisioner", "fixture", "--webhook-cert-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls.crt does not exist"), "{stderr}");
    assert!(stderr.contains("--webhook-port 0"), "{stderr}");
}

/// A stand-in for `metal3 agent-image`'s ISO: the per-host slot on a sector boundary.
fn agent_image(dir: &std::path::Path, with_slot: bool) -> std::path::PathBuf {
    use metal3_agent_api::bootimage::{PLACEHOLDER_SIZE, placeholder};
    let mut bytes = vec![0x42_u8; 2048 * 40];
    if with_slot {
        bytes[2048 * 8..2048 * 8 + PLACEHOLDER_SIZE].copy_from_slice(&placeholder());
    }
    let path = dir.join("agent.iso");
    std::fs::write(&path, bytes).expect("image");
    path
}

#[test]
fn the_agent_flags_name_what_is_missing_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = agent_image(dir.path(), true);
    let image = good.to_str().expect("path");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
            .args([
                "operator",
                "--webhook-port",
                "0",
                "--kubeconfig",
                "/nonexistent",
            ])
            .args(extra)
            .env_remove("POD_NAMESPACE")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["--provisioner", "redfish", "--agent-image", image],
            "--agent-image needs --agent-listen",
        ),
        (
            &[
                "--provisioner",
                "redfish",
                "--agent-image",
                image,
                "--agent-listen",
                "127.0.0.1:0",
            ],
            "--agent-image needs --agent-url",
        ),
        (
            &[
                "--provisioner",
                "redfish",
                "--agent-url",
                "https://10.0.2.2:9443",
            ],
            "need --agent-image",
        ),
        (
            &["--provisioner", "fixture", "--agent-image", image],
            "--agent-image is for --provisioner redfish",
        ),
        (
            &[
                "--provisioner",
                "redfish",
                "--agent-image",
                "/nonexistent/agent.iso",
                "--agent-listen",
                "127.0.0.1:0",
                "--agent-url",
                "https://127.0.0.1:1",
            ],
            "--agent-image",
        ),
    ];
    for (extra, expected) in cases {
        let stderr = run(extra);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let no_slot = agent_image(dir.path(), false);
    let stderr = run(&[
        "--provisioner",
        "redfish",
        "--agent-image",
        no_slot.to_str().expect("path"),
        "--agent-listen",
        "127.0.0.1:0",
        "--agent-url",
        "https://127.0.0.1:1",
    ]);
    assert!(
        stderr.contains("--agent-image") && stderr.contains("no single per-host slot"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_serves_the_agent_hub_with_key_material_it_keeps_in_secrets() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "cli-agent").await.expect("namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = agent_image(dir.path(), true);
    let hub_port = free_port();
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _operator = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("operator")
            .args(["--provisioner", "redfish", "--namespace", &ns])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--webhook-port", "0"])
            .arg("--agent-image")
            .arg(&image)
            .args(["--agent-listen", &format!("127.0.0.1:{hub_port}")])
            .args(["--agent-url", &format!("https://127.0.0.1:{hub_port}")])
            .args(["--agent-fast-track=false", "--agent-namespace", &ns])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("operator starts"),
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ca = loop {
        if let Some(tls) = secrets.get_opt("metal3-agent-tls").await.expect("get")
            && let Some(ca) = tls.data.and_then(|d| d.get("ca.crt").cloned())
        {
            break ca.0;
        }
        assert!(
            Instant::now() < deadline,
            "no metal3-agent-tls Secret; operator log:\n{}",
            std::fs::read_to_string(logs.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        secrets
            .get_opt("metal3-agent-key")
            .await
            .expect("get")
            .is_some(),
        "the token key is kept too"
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{hub_port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        match https
            .post(format!("{base}/v1/agent/report"))
            .json(&json!({"host": {"namespace": ns, "name": "node-0", "uid": "u"}, "bootId": "b", "agentVersion": "x", "macs": []}))
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) => assert!(Instant::now() < deadline, "the hub does not answer: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.status().as_u16(), 401, "no token");
    let iso = https
        .get(format!("{base}/agent/{ns}/node-0/0123.iso"))
        .send()
        .await
        .expect("get");
    assert_eq!(iso.status().as_u16(), 404, "no host is booting");
    let log = std::fs::read_to_string(logs.path()).unwrap_or_default();
    assert!(log.contains("serving the agent hub"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    assert!(
        !log.contains("\x1b["),
        "a log written to a file has no colour codes: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_process_manages_hosts_and_serves_metrics() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "cli-operator")
        .await
        .expect("namespace");
    let (health, metrics) = (free_port(), free_port());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let _operator = Killed(
        Command::new(env!("CARGO_BIN_EXE_metal3"))
            .arg("operator")
            .args([
                "--provisioner",
                "fixture",
                "--namespace",
                &ns,
                "--log-format",
                "json",
            ])
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["--health-addr", &format!("127.0.0.1:{health}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--webhook-port", "0", "--instance", "cli-test"])
            .args([
                "--enable-leader-election",
                "--leader-election-namespace",
                &ns,
            ])
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .expect("operator starts"),
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "bmc"},
        "stringData": {"username": "admin", "password": "pw"},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let host: BareMetalHost = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "node-0"},
        "spec": {"online": true, "bmc": {"address": "ipmi://192.0.2.9", "credentialsName": "bmc"}},
    }))
    .expect("host");
    hosts
        .create(&PostParams::default(), &host)
        .await
        .expect("host");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = hosts.get("node-0").await.expect("get");
        if h.provisioning_state().as_str() == "available" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not available: {:?}\noperator log:\n{}",
            h.status,
            std::fs::read_to_string(logs.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The operator's writes carry its name (its user agent), not `unknown`.
    let h = hosts.get("node-0").await.expect("get");
    let managers = common::managers(&h.metadata);
    assert!(
        managers.iter().any(|m| m == "metal3-operator"),
        "{managers:?}"
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let lease = leases
        .get("baremetal-operator")
        .await
        .expect("leader-election lease");
    assert_eq!(
        lease
            .metadata
            .managed_fields
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect::<Vec<_>>(),
        ["metal3-operator"]
    );
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("cli-test")
    );
    let healthz = http_get(health, "/healthz", "").expect("health endpoint");
    assert!(
        healthz.starts_with("HTTP/1.0 200") && healthz.ends_with("ok"),
        "{healthz}"
    );
    // /metrics is HTTPS for callers the API server vouches for: none without a token, a
    // token whose account lacks the metrics-reader role is forbidden, one with it is answered.
    let (status, _) = common::metrics::get(metrics, "/metrics", None)
        .await
        .expect("metrics endpoint");
    assert_eq!(status, 401);
    let stranger = common::metrics::token(&client, &ns, "stranger", false).await;
    let (status, body) = common::metrics::get(metrics, "/metrics", Some(&stranger))
        .await
        .expect("metrics endpoint");
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("metal3_"), "{body}");
    let reader = common::metrics::token(&client, &ns, "prometheus", true).await;
    let (status, body) = common::metrics::get(metrics, "/metrics", Some(&reader))
        .await
        .expect("metrics endpoint");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "metal3_reconcile_total{{namespace=\"{ns}\",host=\"node-0\"}}"
        )),
        "{body}"
    );
    assert!(body.contains("metal3_provisioning_state_change_total{prev_state=\"inspecting\",new_state=\"preparing\"} 1"), "{body}");
    assert!(
        body.contains("metal3_operation_inspect_duration_seconds_count 1"),
        "{body}"
    );
    assert!(
        body.contains("metal3_operation_register_duration_seconds_bucket{le=\"30.0\"} 1"),
        "{body}"
    );

    // SIGTERM (what Kubernetes sends a pod it stops): a clean exit that hands the Lease back.
    let mut operator = _operator;
    sigterm(&operator.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = exit_status(&mut operator.0, deadline, "the operator", logs.path()).await;
    assert!(status.success(), "{status}");
    let lease = leases.get("baremetal-operator").await.expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease is released on SIGTERM"
    );
}
