//! A real Kubernetes control plane on loopback: etcd and kube-apiserver, built from the Go
//! module proxy by `hack/control-plane/build.sh`, started with a fresh CA, client-certificate
//! authentication, RBAC authorisation and a service-account signing key, with our CRDs installed.
//!
//! Tests share one control plane per test binary ([`shared`]) and isolate themselves with a
//! namespace each ([`ControlPlane::namespace`]). The processes are killed when the
//! [`ControlPlane`] is dropped and, because a `static` is never dropped, also by a watchdog
//! that ends them as soon as the process that started them is gone (even after a panic or abort).

pub mod files;
pub mod ironic;
pub mod tls;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

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
}

/// The control plane shared by every test of this test binary, started on first use with the
/// CRDs from `config/crd/` installed. Panics with the reason (e.g. the exact build command to
/// run) when it cannot start.
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<ControlPlane> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Start on a runtime of its own: each `#[tokio::test]` has a runtime that dies with it.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            runtime.block_on(async {
                let cp = ControlPlane::start().await?;
                cp.install_crds(&crd_dir()).await?;
                Ok::<_, anyhow::Error>(cp)
            })
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow!("control plane start-up panicked")))
        .unwrap_or_else(|e| panic!("cannot start the test control plane: {e:#}"))
    })
}

/// Directory of the CRDs to install: `METAL3_CRD_DIR`, or `config/crd/` of this workspace.
pub fn crd_dir() -> PathBuf {
    std::env::var_os("METAL3_CRD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("config/crd"))
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Directory holding `kube-apiserver` and `etcd`: `METAL3_CONTROL_PLANE_BIN`, else whatever
/// `hack/control-plane/build.sh` prints (it reuses its cache, or builds).
pub fn binaries() -> Result<PathBuf> {
    bin_dir("METAL3_CONTROL_PLANE_BIN", "hack/control-plane/build.sh")
}

/// A directory of tools: the variable `var` names it, else the install script `script`
/// (relative to the workspace) prints it as its last line, installing first when needed.
fn bin_dir(var: &str, script: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var) {
        return Ok(PathBuf::from(dir));
    }
    let script = workspace_dir().join(script);
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}); run it by hand to see why, or set {var}",
            script.display(),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .last()
        .ok_or_else(|| anyhow!("{} printed no bin directory", script.display()))?;
    Ok(PathBuf::from(dir.trim()))
}

/// A `kubectl` command: the one built with the control plane, else the one on `PATH`.
pub fn kubectl() -> Command {
    match binaries() {
        Ok(dir) if dir.join("kubectl").is_file() => Command::new(dir.join("kubectl")),
        _ => Command::new("kubectl"),
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

/// What a watchdog kills once this process is gone.
#[derive(Clone, Copy)]
pub(crate) enum Reap {
    /// The child alone.
    Process,
    /// The child's process group (a child that forks workers and leads its own group).
    Group,
}

/// Keeps `child` (or its process group) from outliving this process: a detached shell polls
/// our PID and kills it once we are gone.
pub(crate) fn watchdog(child: &Child, reap: Reap) -> Result<()> {
    let target = match reap {
        Reap::Process => child.id().to_string(),
        Reap::Group => format!("-- -{}", child.id()),
    };
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -s KILL {target} 2>/dev/null",
        parent = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the process watchdog")?;
    Ok(())
}

/// The last lines of a log file, for error messages (the file goes away with its directory).
fn log_tail(path: &Path) -> String {
    const LINES: usize = 25;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The files the certificates and keys are kept in, in [`Pki`] field order.
const PKI_FILES: [&str; 7] = [
    "ca.crt",
    "serving.crt",
    "serving.key",
    "admin.crt",
    "admin.key",
    "sa.key",
    "sa.pub",
];

struct Pki {
    ca_pem: String,
    serving_pem: String,
    serving_key: String,
    admin_pem: String,
    admin_key: String,
    service_account_key: String,
    service_account_public_key: String,
}

impl Pki {
    fn parts(&self) -> [&String; 7] {
        [
            &self.ca_pem,
            &self.serving_pem,
            &self.serving_key,
            &self.admin_pem,
            &self.admin_key,
            &self.service_account_key,
            &self.service_account_public_key,
        ]
    }

    /// The certificates kept in `dir` by an earlier start, if all are there.
    fn load(dir: &Path) -> Option<Self> {
        let [ca, sc, sk, ac, ak, sa, sp] =
            PKI_FILES.map(|f| std::fs::read_to_string(dir.join(f)).ok());
        Some(Self {
            ca_pem: ca?,
            serving_pem: sc?,
            serving_key: sk?,
            admin_pem: ac?,
            admin_key: ak?,
            service_account_key: sa?,
            service_account_public_key: sp?,
        })
    }
}

fn pki() -> Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "metal3-testenv-ca");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let serving_cert = serving.signed_by(&serving_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    admin.distinguished_name = DistinguishedName::new();
    admin
        .distinguished_name
        .push(DnType::CommonName, "metal3-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;

    let sa_key = KeyPair::generate()?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        serving_pem: serving_cert.pem(),
        serving_key: serving_key.serialize_pem(),
        admin_pem: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        service_account_key: sa_key.serialize_pem(),
        service_account_public_key: sa_key.public_key_pem(),
    })
}

fn kubeconfig_yaml(server: &str, pki: &Pki) -> String {
    use base64::Engine;
    use std::fmt::Write;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = String::new();
    let _ = write!(
        out,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: metal3\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: metal3-admin\n  user:\n    \
         client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: metal3\n  \
         context:\n    cluster: metal3\n    user: metal3-admin\ncurrent-context: metal3\n",
        ca = b64(&pki.ca_pem),
        cert = b64(&pki.admin_pem),
        key = b64(&pki.admin_key),
    );
    out
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free loopback ports and waits until the API server is
    /// ready. Everything goes into a temporary directory, removed when it stops.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("metal3-testenv-")
            .tempdir()
            .context("temporary directory")?;
        Self::launch(StateDir::Temporary(dir)).await
    }

    /// Like [`ControlPlane::start`], keeping certificates, ports and etcd data in `dir`: a
    /// later start in the same directory brings back the same cluster with its objects.
    pub async fn start_in(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
            std::fs::write(path(name), content).with_context(|| format!("writing {name}"))?;
        }
        // etcd remembers its peer address, so a kept cluster keeps its ports.
        let (client_port, peer_port, secure_port) = kept_ports(&path("ports"))?;
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_log = std::fs::File::create(path("etcd.log"))?;
        let etcd = Command::new(bin.join("etcd"))
            .args(["--name", "metal3", "--data-dir"])
            .arg(path("etcd"))
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
            .with_context(|| format!("cannot start {}", bin.join("etcd").display()))?;
        watchdog(&etcd, Reap::Process)?;

        let apiserver_log = std::fs::File::create(path("kube-apiserver.log"))?;
        let mut apiserver = Command::new(bin.join("kube-apiserver"));
        apiserver
            .args(["--etcd-servers", &etcd_url])
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
        let apiserver = apiserver
            .spawn()
            .with_context(|| format!("cannot start {}", bin.join("kube-apiserver").display()))?;
        watchdog(&apiserver, Reap::Process)?;

        let server = format!("https://127.0.0.1:{secure_port}");
        let kubeconfig = path("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&server, &pki))?;
        let mut cp = ControlPlane {
            dir,
            server,
            kubeconfig,
            etcd,
            apiserver,
        };
        cp.wait_ready().await?;
        Ok(cp)
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
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// Creates a namespace with a unique name starting with `prefix`, for one test.
    pub async fn namespace(&self, client: &Client, prefix: &str) -> Result<String> {
        let api: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some(format!("{prefix}-"));
        let created = api.create(&PostParams::default(), &ns).await?;
        created
            .metadata
            .name
            .ok_or_else(|| anyhow!("the API server returned a namespace without a name"))
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
    fn certificates_are_generated() {
        let pki = pki().expect("certificates");
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.admin_key.contains("PRIVATE KEY"));
        let kubeconfig = kubeconfig_yaml("https://127.0.0.1:1", &pki);
        let parsed = Kubeconfig::from_yaml(&kubeconfig).expect("kubeconfig parses");
        assert_eq!(parsed.current_context.as_deref(), Some("metal3"));
    }
}
