//! The full stack on this test binary's own control plane: Cluster API core (the manager built
//! by `hack/capi/build.sh`, its CRDs with their conversion and its webhooks pointed at it by
//! `hack/capi/install.sh`), `metal3 capm3` (the provider's CRDs and webhooks the same way),
//! `metal3 ipam` and `metal3 operator --provisioner fixture`, as processes killed when the
//! stack is dropped (or by a watchdog, should the test binary be killed). Every process logs
//! to a file whose tail a failing test shows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::{NamedTempFile, TempDir};

use crate::common::{Killed, free_port, http_get, tail};

pub struct Stack {
    pub client: kube::Client,
    // Dropped before the files the processes write.
    processes: Vec<Killed>,
    logs: Vec<(&'static str, NamedTempFile)>,
    _certs: TempDir,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Stack {
    pub async fn start() -> Stack {
        let cp = metal3_testenv::shared();
        let client = cp.client().await.expect("client");
        let capi = metal3_testenv::hack::built("METAL3_CAPI_DIR", "capi/build.sh", &[]);
        let certs = tempfile::tempdir().expect("tempdir");
        let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
        for (file, pem) in [
            ("tls.crt", &tls.cert_pem),
            ("tls.key", &tls.key_pem),
            ("ca.crt", &tls.ca_pem),
        ] {
            std::fs::write(certs.path().join(file), pem).expect("write certificate");
        }
        let (capi_port, capm3_port) = (free_port(), free_port());
        install(
            cp.kubeconfig(),
            certs.path(),
            "capi",
            capi_port,
            &capi.join("crd"),
            &capi.join("webhook/manifests.yaml"),
        );
        install(
            cp.kubeconfig(),
            certs.path(),
            "capm3",
            capm3_port,
            &workspace().join("config/crd/capm3"),
            &workspace().join("config/capm3/webhook.yaml"),
        );
        cp.install_crds(&metal3_testenv::crd_dir().join("ipam"))
            .await
            .expect("the IPAM CRDs install");

        let mut stack = Stack {
            client,
            processes: Vec::new(),
            logs: Vec::new(),
            _certs: certs,
        };
        let kubeconfig = cp.kubeconfig().to_path_buf();
        let cert_dir = stack._certs.path().to_path_buf();

        // Cluster API core: the webhooks must answer before anyone writes its kinds.
        let health = free_port();
        stack.spawn(
            "cluster-api",
            Command::new(capi.join("bin/manager"))
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg(format!("--webhook-port={capi_port}"))
                .arg(format!("--webhook-cert-dir={}", cert_dir.display()))
                .arg(format!("--health-addr=127.0.0.1:{health}"))
                .arg(format!("--diagnostics-address=127.0.0.1:{}", free_port()))
                .arg("--insecure-diagnostics")
                .arg("--leader-elect=false")
                .arg("--sync-period=1m"),
        );
        stack.ready("cluster-api", health, "/readyz").await;

        let health = free_port();
        stack.spawn(
            "capm3",
            metal3("capm3", &kubeconfig)
                .args(["--health-addr", &format!("127.0.0.1:{health}")])
                .args(["--webhook-port", &capm3_port.to_string()])
                .arg("--webhook-cert-dir")
                .arg(&cert_dir),
        );
        stack.ready("capm3", health, "/readyz").await;
        let health = free_port();
        stack.spawn(
            "ipam",
            metal3("ipam", &kubeconfig)
                .args(["--health-addr", &format!("127.0.0.1:{health}")])
                .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
                .args(["--webhook-port", "0"]),
        );
        stack.ready("ipam", health, "/readyz").await;
        let health = free_port();
        stack.spawn(
            "operator",
            metal3("operator", &kubeconfig)
                .args(["--provisioner", "fixture", "--webhook-port", "0"])
                .args(["--health-addr", &format!("127.0.0.1:{health}")])
                .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
                .args(["--error-backoff-seconds", "1"]),
        );
        stack.ready("operator", health, "/healthz").await;
        stack
    }

    fn spawn(&mut self, name: &'static str, command: &mut Command) {
        let log = NamedTempFile::new().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log file"))
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        watchdog(child.id());
        self.processes.push(Killed(child));
        self.logs.push((name, log));
    }

    /// Waits until `name` answers 200 on `path` of its health port.
    async fn ready(&mut self, name: &str, port: u16, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let answer = http_get(port, path, "").unwrap_or_default();
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return;
            }
            let exited = self
                .processes
                .last_mut()
                .and_then(|p| p.0.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{name} is not ready ({exited:?}): {answer}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The tail of every process's log.
    pub fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|(name, file)| format!("--- {name} (tail):\n{}\n", tail(file.path())))
            .collect()
    }
}

/// Ends process `pid` once this test binary is gone, also when it is killed before the stack
/// is dropped (a detached shell polls our PID, as the control plane's own watchdog does).
fn watchdog(pid: u32) {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -s KILL {pid} 2>/dev/null",
        std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the watchdog starts");
    // Never waited for: it outlives this process by design (init reaps it).
    drop(watchdog);
}

/// `metal3 <subcommand>` on `kubeconfig`, every namespace, JSON logs.
fn metal3(subcommand: &str, kubeconfig: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metal3"));
    command
        .arg(subcommand)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--log-format", "json"]);
    command
}

/// `hack/capi/install.sh`: `crds` converted by, and `webhooks` served at, `https://127.0.0.1:port`.
fn install(kubeconfig: &Path, certs: &Path, prefix: &str, port: u16, crds: &Path, webhooks: &Path) {
    let kubectl = metal3_testenv::binaries()
        .expect("the control plane's binaries")
        .join("kubectl");
    let out = Command::new("bash")
        .arg(workspace().join("hack/capi/install.sh"))
        .args(["--url", &format!("https://127.0.0.1:{port}")])
        .arg("--ca")
        .arg(certs.join("ca.crt"))
        .args(["--prefix", prefix])
        .arg("--crds")
        .arg(crds)
        .arg("--webhooks")
        .arg(webhooks)
        .env("KUBECTL", kubectl)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .expect("run hack/capi/install.sh");
    assert!(
        out.status.success(),
        "hack/capi/install.sh ({prefix}): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
