//! What the agent's tests share: a hub played by the test (a real HTTPS server speaking
//! `metal3-agent-api`, whose every call the test answers itself), a host's configuration for
//! it, and a fake `/proc` + `/sys` tree.
#![allow(dead_code)] // each test binary uses some of it

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use metal3_agent_api::{AgentConfig, HostRef, REPORT_PATH, Reply, Report, Secret, token};
use tokio::sync::{mpsc, oneshot};

pub mod lab;

/// The boot MAC of the fake host.
pub const BOOT_MAC: &str = "52:54:00:12:34:56";

/// The path in `$var`, else the last line `hack/<script>` prints (the scripts build what the
/// tests need, or find it in their cache).
pub fn from_env_or_hack(var: &str, script: &str) -> PathBuf {
    metal3_testenv::hack::built(var, script, &[])
}

/// One call of the agent.
pub struct Call {
    pub report: Report,
    /// Whether the bearer token was this host's and its boot MAC among the reported MACs.
    pub authorized: bool,
    answer: oneshot::Sender<Reply>,
}

impl Call {
    /// Answers the call.
    pub fn answer(self, reply: Reply) {
        let _ = self.answer.send(reply);
    }
}

/// A hub played by the test.
pub struct TestHub {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub key: Vec<u8>,
    pub boot_mac: String,
    calls: mpsc::UnboundedReceiver<Call>,
}

#[derive(Clone)]
struct HubState {
    key: Vec<u8>,
    boot_mac: String,
    calls: mpsc::UnboundedSender<Call>,
}

async fn report(
    State(state): State<HubState>,
    headers: HeaderMap,
    axum::Json(report): axum::Json<Report>,
) -> Result<axum::Json<Reply>, StatusCode> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // The hub's checks: the token is this host's (by UID and boot MAC), and the agent sees
    // that MAC.
    let mac = state.boot_mac.as_str();
    let authorized = token::verify(&state.key, &report.host.uid, mac, bearer)
        && report.macs.iter().any(|m| m.eq_ignore_ascii_case(mac));
    let (answer, reply) = oneshot::channel();
    let _ = state.calls.send(Call {
        report,
        authorized,
        answer,
    });
    if !authorized {
        return Err(StatusCode::UNAUTHORIZED);
    }
    reply
        .await
        .map(axum::Json)
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

impl TestHub {
    /// A hub on `bind` (port 0: any) for hosts booting from `boot_mac`, with a certificate
    /// for loopback and for `10.0.2.2` (the host as a qemu guest sees it).
    pub async fn start(bind: &str, boot_mac: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("key");
        let names = ["127.0.0.1", "10.0.2.2", "localhost"].map(String::from);
        let cert = CertificateParams::new(names.to_vec())
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("cert");
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            cert.pem().into_bytes(),
            key.serialize_pem().into_bytes(),
        )
        .await
        .expect("TLS config");
        let (tx, calls) = mpsc::unbounded_channel();
        let hub_key = (0..32).map(|_| fastrand::u8(..)).collect::<Vec<_>>();
        let app = axum::Router::new()
            .route(REPORT_PATH, axum::routing::post(report))
            .with_state(HubState {
                key: hub_key.clone(),
                boot_mac: boot_mac.to_string(),
                calls: tx,
            });
        let listener = std::net::TcpListener::bind(bind).expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let server = axum_server::from_tcp_rustls(listener, tls);
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        Self {
            addr,
            ca_pem: ca_cert.pem(),
            key: hub_key,
            boot_mac: boot_mac.to_string(),
            calls,
        }
    }

    /// The configuration of a host reaching this hub at `hub_url`.
    pub fn config(&self, hub_url: &str, uid: &str) -> AgentConfig {
        AgentConfig {
            hub_url: hub_url.to_string(),
            hub_ca_pem: self.ca_pem.clone(),
            host: HostRef {
                namespace: "metal3".into(),
                name: "node-0".into(),
                uid: uid.to_string(),
            },
            token: Secret(token::token(&self.key, uid, &self.boot_mac)),
            boot_mac: self.boot_mac.clone(),
            network_data: None,
            image_ca_pem: String::new(),
        }
    }

    /// The next call, within `within`.
    pub async fn next(&mut self, within: Duration) -> Call {
        tokio::time::timeout(within, self.calls.recv())
            .await
            .unwrap_or_else(|_| panic!("no call from the agent within {within:?}"))
            .expect("hub running")
    }
}

/// A reply with `command` (id, action as JSON) and a short poll.
pub fn reply(command: Option<serde_json::Value>) -> Reply {
    Reply {
        command: command.map(|c| serde_json::from_value(c).expect("command")),
        poll_after_ms: 100,
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, content).expect("write");
}

/// A fake host's `/proc` and `/sys`: two CPUs, 1 GiB in two DIMMs, a virtio NIC with the boot
/// MAC on PCI `0000:00:03.0`, a second NIC without a link, a bridge (not physical), QEMU's
/// DMI, UEFI.
pub fn fake_host(root: &Path) -> (PathBuf, PathBuf) {
    let proc = root.join("proc");
    let sys = root.join("sys");
    write(
        &proc.join("cpuinfo"),
        "processor\t: 0\nmodel name\t: QEMU Virtual CPU\ncpu MHz\t\t: 2400.000\nphysical id\t: 0\nflags\t\t: fpu sse2\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU\ncpu MHz\t\t: 2400.000\nphysical id\t: 0\nflags\t\t: fpu sse2\n",
    );
    write(&proc.join("meminfo"), "MemTotal:        1003448 kB\n");
    write(&proc.join("sys/kernel/hostname"), "node-0\n");
    for (i, mib) in [(0, 512u16), (1, 512)] {
        let mut raw = vec![0u8; 0x28];
        raw[0] = 17;
        raw[0x0C..0x0E].copy_from_slice(&mib.to_le_bytes());
        write(&sys.join(format!("firmware/dmi/entries/17-{i}/raw")), raw);
    }
    std::fs::create_dir_all(sys.join("firmware/efi")).expect("efi");
    // A host without disks: the binary's real disk support finds none.
    std::fs::create_dir_all(sys.join("block")).expect("block");
    for (file, value) in [
        ("sys_vendor", "QEMU"),
        ("product_name", "Standard PC (Q35 + ICH9, 2009)"),
        ("product_serial", "SN-0001"),
        ("bios_vendor", "EDK II"),
        ("bios_version", "stable202302"),
        ("bios_date", "02/06/2023"),
    ] {
        write(&sys.join("class/dmi/id").join(file), format!("{value}\n"));
    }
    let nic = |name: &str, mac: &str, pci: &str, carrier: Option<&str>, speed: &str| {
        let dev = sys.join(format!("devices/pci0000:00/{pci}"));
        let virtio = dev.join(format!("virtio-{name}"));
        write(&virtio.join("vendor"), "0x1af4\n");
        write(&virtio.join("device"), "0x0001\n");
        let driver = sys.join("bus/virtio/drivers/virtio_net");
        std::fs::create_dir_all(&driver).expect("driver");
        std::os::unix::fs::symlink(&driver, virtio.join("driver")).expect("driver link");
        let net = sys.join("class/net").join(name);
        write(&net.join("address"), format!("{mac}\n"));
        if let Some(c) = carrier {
            write(&net.join("carrier"), format!("{c}\n"));
        }
        write(&net.join("speed"), format!("{speed}\n"));
        std::os::unix::fs::symlink(&virtio, net.join("device")).expect("device link");
    };
    nic("eth0", BOOT_MAC, "0000:00:03.0", Some("1"), "-1");
    nic("eth1", "52:54:00:12:34:57", "0000:00:04.0", None, "1000");
    write(&sys.join("class/net/br0/address"), "52:54:00:aa:aa:aa\n");
    (proc, sys)
}

/// Answers calls with no command until one reports `id` no longer running; returns it.
pub async fn until_ended(hub: &mut TestHub, id: &str, within: Duration) -> Call {
    loop {
        let call = hub.next(within).await;
        let status = call.report.status.clone().expect("a status");
        assert_eq!(status.id, id, "{:?}", call.report.status);
        if status.state != metal3_agent_api::CommandState::Running {
            return call;
        }
        call.answer(reply(None));
    }
}
