//! A real Kubernetes control plane on loopback: etcd and kube-apiserver (built from the Go
//! module proxy by `hack/control-plane/build.sh`), started with a fresh CA, client-certificate
//! authentication, RBAC authorisation and a service-account signing key; and installing CRDs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::pki::{PKI_FILES, Pki, kubeconfig_yaml, pki};
use crate::process::{Reap, free_port, log_tail, watchdog, watchdog_then_remove};
use crate::tools::binaries;

/// How long the API server may take to become ready, and CRDs to become Established.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Where a control plane keeps its certificates, etcd data and logs.
enum StateDir {
    /// Removed when the control plane stops (tests).
    Temporary(tempfile::TempDir),
    /// Kept, so the next start finds the same cluster (`metal3 up`).
    Kept(PathBuf),
}

impl StateDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temporary(t) => t.path(),
            Self::Kept(p) => p,
        }
    }
}

/// A running etcd + kube-apiserver pair.
pub struct ControlPlane {
    dir: StateDir,
    server: String,
    kubeconfig: PathBuf,
    etcd: Child,
    apiserver: Child,
    /// Where etcd and kube-apiserver are, for restarts.
    bin: PathBuf,
    /// etcd's client and peer ports and the API server's, kept across restarts.
    ports: (u16, u16, u16),
}

/// etcd with its data in `dir`, on loopback `client_port` and `peer_port`.
fn spawn_etcd(bin: &Path, dir: &Path, client_port: u16, peer_port: u16) -> Result<Child> {
    let etcd_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let etcd_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))?;
    Command::new(bin.join("etcd"))
        .args(["--name", "metal3", "--data-dir"])
        .arg(dir.join("etcd"))
        .args([
            "--listen-client-urls",
            &etcd_url,
            "--advertise-client-urls",
            &etcd_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("metal3={peer_url}")])
        .args(["--unsafe-no-fsync", "--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(etcd_log)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.join("etcd").display()))
}

/// kube-apiserver on loopback `secure_port`, with the certificates in `dir`, storing in the
/// etcd at `etcd_port`.
fn spawn_apiserver(bin: &Path, dir: &Path, etcd_port: u16, secure_port: u16) -> Result<Child> {
    let path = |name: &str| dir.join(name);
    let apiserver_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path("kube-apiserver.log"))?;
    let mut apiserver = Command::new(bin.join("kube-apiserver"));
    apiserver
        .args(["--etcd-servers", &format!("http://127.0.0.1:{etcd_port}")])
        .args([
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
        ])
        .args(["--secure-port", &secure_port.to_string()])
        .arg("--tls-cert-file")
        .arg(path("serving.crt"))
        .arg("--tls-private-key-file")
        .arg(path("serving.key"))
        .arg("--client-ca-file")
        .arg(path("ca.crt"))
        .arg("--service-account-key-file")
        .arg(path("sa.pub"))
        .arg("--service-account-signing-key-file")
        .arg(path("sa.key"))
        .args(["--service-account-issuer", "https://kubernetes.default.svc"])
        .args(["--service-cluster-ip-range", "10.96.0.0/24"])
        .args(["--authorization-mode", "RBAC"])
        .args(["--disable-admission-plugins", "ServiceAccount"])
        .args(["--enable-priority-and-fairness=false"])
        .arg("--cert-dir")
        .arg(path("certs"))
        .stdout(Stdio::null())
        .stderr(apiserver_log);
    apiserver
        .spawn()
        .with_context(|| format!("cannot start {}", bin.join("kube-apiserver").display()))
}

/// The etcd client, etcd peer and API server ports recorded in `file`, or new free ones
/// (recorded there).
fn kept_ports(file: &Path) -> Result<(u16, u16, u16)> {
    let recorded: Option<Vec<u16>> = std::fs::read_to_string(file).ok().map(|text| {
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    });
    if let Some([client, peer, secure]) = recorded.as_deref() {
        for port in [client, peer, secure] {
            if TcpListener::bind(("127.0.0.1", *port)).is_err() {
                bail!(
                    "port {port} recorded in {} is in use: is another control plane running \
                     from this state directory? Stop it, or remove the directory for a new cluster",
                    file.display()
                );
            }
        }
        return Ok((*client, *peer, *secure));
    }
    let ports = (free_port()?, free_port()?, free_port()?);
    std::fs::write(file, format!("{} {} {}\n", ports.0, ports.1, ports.2))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(ports)
}

/// How many times [`ControlPlane::start`] tries new ports when one was taken meanwhile.
const PORT_ATTEMPTS: u32 = 3;

/// Whether a start failed because a port chosen as free was taken before etcd or the API
/// server could bind it (their logs, which the error carries, say so).
fn lost_a_port(error: &anyhow::Error) -> bool {
    format!("{error:#}").contains("address already in use")
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free loopback ports and waits until the API server is
    /// ready. Everything goes into a temporary directory, removed when it stops.
    ///
    /// A free port can be taken by another process between choosing it and etcd or the API
    /// server binding it (parallel test binaries all choose ports); such a start is retried
    /// on new ports, a few times.
    pub async fn start() -> Result<Self> {
        let mut attempt = 1;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("metal3-testenv-")
                .tempdir()
                .context("temporary directory")?;
            match Self::launch(StateDir::Temporary(dir)).await {
                Err(e) if attempt < PORT_ATTEMPTS && lost_a_port(&e) => attempt += 1,
                started => return started,
            }
        }
    }

    /// Like [`ControlPlane::start`], keeping certificates, ports and etcd data in `dir`: a
    /// later start in the same directory brings back the same cluster with its objects.
    pub async fn start_in(dir: &Path) -> Result<Self> {
        crate::private::create_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Self::launch(StateDir::Kept(dir.to_path_buf())).await
    }

    async fn launch(dir: StateDir) -> Result<Self> {
        // One crypto provider for rustls in the whole process; a second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bin = binaries()?;
        let path = |name: &str| dir.path().join(name);
        let pki = match Pki::load(dir.path()) {
            Some(kept) => kept,
            None => pki().context("generating certificates")?,
        };
        for (name, content) in PKI_FILES.iter().zip(pki.parts()) {
            crate::private::write(&path(name), content)
                .with_context(|| format!("writing {name}"))?;
        }
        // etcd remembers its peer address, so a kept cluster keeps its ports.
        let (client_port, peer_port, secure_port) = kept_ports(&path("ports"))?;
        let etcd = spawn_etcd(&bin, dir.path(), client_port, peer_port)?;
        // A temporary directory goes when this process does, even if the control plane is
        // never dropped (a test binary's shared one lives in a static).
        let temporary = matches!(dir, StateDir::Temporary(_)).then(|| dir.path());
        watchdog_then_remove(&etcd, Reap::Process, temporary)?;
        let apiserver = spawn_apiserver(&bin, dir.path(), client_port, secure_port)?;
        watchdog(&apiserver, Reap::Process)?;

        let server = format!("https://127.0.0.1:{secure_port}");
        let kubeconfig = path("kubeconfig");
        crate::private::write(&kubeconfig, kubeconfig_yaml(&server, &pki))?;
        let mut cp = ControlPlane {
            dir,
            server,
            kubeconfig,
            etcd,
            apiserver,
            bin,
            ports: (client_port, peer_port, secure_port),
        };
        cp.wait_ready().await?;
        Ok(cp)
    }

    /// Kills the API server and starts it again on the same port with the same certificates
    /// and etcd; returns once it is ready. Its clients meet refused connections meanwhile.
    pub async fn restart_apiserver(&mut self) -> Result<()> {
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        let (etcd_port, _, secure_port) = self.ports;
        self.apiserver = spawn_apiserver(&self.bin, self.dir.path(), etcd_port, secure_port)?;
        watchdog(&self.apiserver, Reap::Process)?;
        self.wait_ready().await
    }

    /// Kills etcd and starts it again on the same ports and data; returns once the API
    /// server answers ready again.
    pub async fn restart_etcd(&mut self) -> Result<()> {
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        let (client_port, peer_port, _) = self.ports;
        self.etcd = spawn_etcd(&self.bin, self.dir.path(), client_port, peer_port)?;
        watchdog(&self.etcd, Reap::Process)?;
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = String::from("no answer yet");
        while Instant::now() < deadline {
            let exited = match (self.etcd.try_wait()?, self.apiserver.try_wait()?) {
                (Some(status), _) => Some(format!("etcd exited ({status})")),
                (_, Some(status)) => Some(format!("kube-apiserver exited ({status})")),
                _ => None,
            };
            if let Some(reason) = exited {
                return Err(self.start_failure(&reason));
            }
            match self.client().await {
                Ok(client) => {
                    let request = http_get("/readyz");
                    match client.request_text(request).await {
                        Ok(body) if body.trim() == "ok" => return Ok(()),
                        Ok(body) => last_error = body,
                        Err(e) => last_error = e.to_string(),
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(self.start_failure(&format!(
            "kube-apiserver not ready after {READY_TIMEOUT:?}: {last_error}"
        )))
    }

    fn start_failure(&self, reason: &str) -> anyhow::Error {
        anyhow!(
            "{reason}\n--- end of kube-apiserver.log ---\n{}\n--- end of etcd.log ---\n{}",
            log_tail(&self.dir.path().join("kube-apiserver.log")),
            log_tail(&self.dir.path().join("etcd.log")),
        )
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Path of a kubeconfig with cluster-admin rights (a `system:masters` client certificate).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A new client for the calling runtime.
    pub async fn client(&self) -> Result<Client> {
        Ok(Client::try_from(self.config().await?)?)
    }

    /// The client configuration of [`ControlPlane::kubeconfig`], for a client of one's own
    /// (one that names itself, say).
    pub async fn config(&self) -> Result<Config> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        Ok(Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
    }

    /// Applies every `*.yaml` CRD in `dir` and waits until all are Established.
    pub async fn install_crds(&self, dir: &Path) -> Result<Vec<String>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read CRD directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
            .collect();
        files.sort();
        let mut crds = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file)?;
            let crd: CustomResourceDefinition = serde_saphyr::from_str(&text)
                .with_context(|| format!("{} is not a CRD", file.display()))?;
            crds.push(crd);
        }
        install_crd_objects(&self.client().await?, &crds).await
    }
}

/// Applies `crds` (server-side apply, field manager `metal3`) and waits until all are
/// Established. Returns their names.
pub async fn install_crd_objects(
    client: &Client,
    crds: &[CustomResourceDefinition],
) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("metal3").force();
    let mut names = Vec::new();
    for crd in crds {
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| anyhow!("a CRD has no metadata.name"))?;
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .with_context(|| format!("the API server rejected CRD {name}"))?;
        names.push(name);
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    for name in &names {
        loop {
            let crd = api.get(name).await?;
            if is_established(&crd) {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} not Established after {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(names)
}

/// Whether a CRD has condition Established=True.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(Vec::new());
    *request.uri_mut() = path.parse().unwrap_or_default();
    request
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_port_is_retried() {
        let lost = anyhow!(
            "kube-apiserver exited (exit status: 1)\n--- end of kube-apiserver.log ---\n\
             failed to listen on 127.0.0.1:46117: bind: address already in use"
        );
        assert!(lost_a_port(&lost));
        let other = anyhow!("kube-apiserver not ready after 60s: connection refused");
        assert!(!lost_a_port(&other));
    }

    #[test]
    fn ports_are_recorded_and_reused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("ports");
        let first = kept_ports(&file).expect("new ports");
        let recorded = std::fs::read_to_string(&file).expect("ports recorded");
        assert_eq!(recorded, format!("{} {} {}\n", first.0, first.1, first.2));
        assert_eq!(kept_ports(&file).expect("kept ports"), first);
    }

    #[test]
    fn a_recorded_port_in_use_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("ports");
        let busy = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = busy.local_addr().expect("address").port();
        std::fs::write(&file, format!("{port} {port} {port}\n")).expect("write ports");
        let err = kept_ports(&file).expect_err("the port is taken");
        assert!(err.to_string().contains("is in use"), "{err}");
    }
}
