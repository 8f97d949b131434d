//! Helpers shared by the CLI's process tests.
#![allow(dead_code)] // each test binary uses some of these helpers

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::Value;

pub mod agent_lab;
pub mod metrics;
pub mod up;

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A plain HTTP/1.0 GET with optional extra header lines; `None` while nothing listens.
pub fn http_get(port: u16, path: &str, headers: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// A child process killed when dropped, even when an assertion fails.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_for(
    hosts: &Api<BareMetalHost>,
    names: &[String],
    what: &str,
    logs: &std::path::Path,
    ok: impl Fn(&BareMetalHost) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut pending = Vec::new();
        for name in names {
            let h = hosts.get(name).await.expect("get host");
            if !ok(&h) {
                pending.push(format!(
                    "{name}: {} {}",
                    h.provisioning_state().as_str(),
                    h.status
                        .as_ref()
                        .map(|s| s.error_message.clone())
                        .unwrap_or_default()
                ));
            }
        }
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not {what}: {pending:?}\noperator log (tail):\n{}",
            tail(logs)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends SIGTERM (what Kubernetes sends a pod it stops) to `child`.
pub fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success(), "kill -TERM {}", child.id());
}

/// Waits for `child` to exit after a [`sigterm`], failing once `deadline` passes with the
/// tail of its log (`what` names it).
pub async fn exit_status(
    child: &mut Child,
    deadline: Instant,
    what: &str,
    log: &std::path::Path,
) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} ignored SIGTERM:\n{}",
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The fleet's Secrets and BareMetalHosts, for the simulator at `addr`.
pub fn fleet_objects(fleet: &metal3_sim::Fleet, addr: std::net::SocketAddr) -> Vec<Value> {
    metal3_sim::manifest_objects(
        fleet,
        &metal3_sim::Addressing {
            listen: addr,
            per_host_base: None,
            tls: false,
        },
    )
}

/// Creates the Secrets and BareMetalHosts in `ns`; returns the hosts' names.
pub async fn create_all(client: &kube::Client, ns: &str, objects: Vec<Value>) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), ns);
    let mut names = Vec::new();
    for object in objects {
        if object["kind"] == "Secret" {
            let s: Secret = serde_json::from_value(object).expect("secret");
            secrets
                .create(&PostParams::default(), &s)
                .await
                .expect("create secret");
        } else {
            let h: BareMetalHost = serde_json::from_value(object).expect("host");
            names.push(h.metadata.name.clone().unwrap_or_default());
            hosts
                .create(&PostParams::default(), &h)
                .await
                .expect("create host");
        }
    }
    names
}

/// `metal3 operator` for namespace `ns` with `args` (the backend among them) and extra
/// environment variables, logging to `logs`.
pub fn operator(
    cp: &metal3_testenv::ControlPlane,
    ns: &str,
    logs: &tempfile::NamedTempFile,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Killed {
    operator_with_metrics(cp, ns, logs, free_port(), args, envs)
}

/// [`operator`], serving its metrics on `metrics` (a loopback port).
pub fn operator_with_metrics(
    cp: &metal3_testenv::ControlPlane,
    ns: &str,
    logs: &tempfile::NamedTempFile,
    metrics: u16,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .arg("operator")
        .args(["--namespace", ns])
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .args(["--webhook-port", "0", "--log-format", "json"])
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(logs.reopen().expect("log file"))
        .spawn()
        .expect("operator starts");
    Killed(child)
}

/// The field managers that wrote an object (its `metadata.managedFields`).
pub fn managers(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Vec<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}
