//! The hub over real TLS, with a client speaking the agent protocol and trusting only the
//! hub's CA: token and boot MAC checks, a command's round trip, what a restarted hub learns,
//! each host's boot image (bytes, ranges, old URLs), and the key material kept in Secrets on a
//! real API server.

use std::net::TcpListener;
use std::path::PathBuf;

use metal3_agent_api::bootimage::{self, PLACEHOLDER_SIZE};
use metal3_agent_api::inventory::InspectionData;
use metal3_agent_api::{Action, Command, CommandState, CommandStatus, HostRef};
use metal3_agent_hub::stand_in::{StandIn, config_in};
use metal3_agent_hub::{BootImage, Error, HostIdentity, Hub, HubConfig, Keys};
use tokio::sync::oneshot;

const SECTOR: usize = 2048;
const SLOT_SECTOR: usize = 40;

/// A generic "ISO": patterned bytes with the placeholder on a sector boundary.
fn image(dir: &tempfile::TempDir) -> (PathBuf, Vec<u8>) {
    let mut bytes: Vec<u8> = (0..SECTOR * 100).map(|i| (i * 7 % 251) as u8).collect();
    let slot = SLOT_SECTOR * SECTOR;
    bytes[slot..slot + PLACEHOLDER_SIZE].copy_from_slice(&bootimage::placeholder());
    let path = dir.path().join("agent.iso");
    std::fs::write(&path, &bytes).expect("write image");
    (path, bytes)
}

/// A running hub; dropping `stop` stops it.
struct Running {
    hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// A listener on loopback and the hub URL for it.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, format!("https://127.0.0.1:{port}"))
}

fn start(listener: TcpListener, url: &str, image: &std::path::Path, keys: Keys) -> Running {
    start_with(listener, HubConfig::new(url), image, keys)
}

fn start_with(
    listener: TcpListener,
    mut config: HubConfig,
    image: &std::path::Path,
    keys: Keys,
) -> Running {
    config.poll_busy = std::time::Duration::from_millis(20);
    config.poll_idle = std::time::Duration::from_millis(100);
    let image = BootImage::open(image).expect("image");
    let hub = Hub::new(config, keys, image).expect("hub");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = hub.clone();
    let task = tokio::spawn(async move {
        serving
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        hub,
        stop: Some(stop),
        task,
    }
}

fn identity(name: &str, mac: &str) -> HostIdentity {
    HostIdentity {
        host: HostRef {
            namespace: "metal3".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        },
        boot_mac: mac.into(),
        network_data: Some(serde_json::json!({"links": [], "networks": [], "services": []})),
    }
}

const MAC_A: &str = "52:54:00:00:00:0a";
const MAC_B: &str = "52:54:00:00:00:0b";

#[tokio::test]
async fn reports_need_the_hosts_own_token_and_boot_mac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = image(&dir);
    let (l, url) = listener();
    let running = start(l, &url, &path, Keys::generate(&url).expect("keys"));
    let hub = &running.hub;
    let a_url = hub.register(identity("a", MAC_A)).expect("register a");
    let b_url = hub.register(identity("b", MAC_B)).expect("register b");
    let a = StandIn::boot(
        &a_url,
        vec![MAC_A.to_uppercase(), "52:54:00:00:01:00".into()],
    )
    .await
    .expect("agent a boots");
    let b = StandIn::boot(&b_url, vec![MAC_B.into()])
        .await
        .expect("agent b boots");
    assert_eq!(a.config.hub_ca_pem, hub.ca_pem());
    assert_eq!(a.config.boot_mac, MAC_A);
    assert_eq!(a.config.host.name, "a");

    let (status, why) = a.report_as("", None, None).await.expect_err("no token");
    assert_eq!(status, 401, "{why}");
    assert!(why.contains("bearer token"), "{why}");
    let (status, why) = a
        .report_as(b.config.token.expose(), None, None)
        .await
        .expect_err("b's token for a");
    assert_eq!(status, 401, "{why}");
    assert!(why.contains("not host metal3/a's"), "{why}");
    let a_without_its_nic =
        StandIn::from_config(a.config.clone(), vec![MAC_B.into()]).expect("client");
    let (status, why) = a_without_its_nic
        .report(None, None)
        .await
        .expect_err("boot MAC missing");
    assert_eq!(status, 403, "{why}");
    assert!(why.contains(MAC_A), "{why}");
    let mut c_config = a.config.clone();
    c_config.host.name = "c".into();
    let c = StandIn::from_config(c_config, vec![MAC_A.into()]).expect("client");
    let (status, why) = c.report(None, None).await.expect_err("unknown host");
    assert_eq!(status, 403, "{why}");
    assert!(hub.agent(&a.config.host).is_none(), "nothing recorded");

    let reply = a.report(None, None).await.expect("a's own token");
    assert_eq!(reply.command, None);
    assert_eq!(reply.poll_after_ms, 100);
    let view = hub.agent(&a.config.host).expect("recorded");
    assert_eq!(view.boot_id, a.boot_id);
    assert_eq!(view.agent_version, "stand-in");
    running.stop().await;
}

#[tokio::test]
async fn bmcs_fetch_images_at_the_media_url_and_agents_call_the_hub_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = image(&dir);
    let (l, media) = listener();
    // Hosts reach the hub by name, BMCs by address (another network): one server, two URLs.
    let hosts = media.replace("127.0.0.1", "localhost");
    let mut config = HubConfig::new(&hosts);
    config.media_url = Some(media.clone());
    let keys = Keys::generate(&hosts).expect("keys");
    let running = start_with(l, config, &path, keys);
    let hub = &running.hub;
    let iso = hub.register(identity("a", MAC_A)).expect("register");
    assert!(
        iso.starts_with(&format!("{media}/agent/metal3/a/")),
        "{iso}"
    );
    assert!(hub.is_boot_image(&identity("a", MAC_A).host, &iso));
    let agent = StandIn::boot(&iso, vec![MAC_A.into()])
        .await
        .expect("the BMC fetches the image at the media URL");
    assert_eq!(
        agent.config.hub_url, hosts,
        "the agent calls the hosts' URL"
    );
    agent
        .report(None, None)
        .await
        .expect("the agent reaches the hub by its name");
    running.stop().await;
}

#[tokio::test]
async fn commands_round_trip_and_a_restarted_hub_learns_their_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = image(&dir);
    let (l, url) = listener();
    let keys = Keys::generate(&url).expect("keys");
    let running = start(l, &url, &path, keys.clone());
    let hub = running.hub.clone();
    let id = identity("a", MAC_A);
    let iso = hub.register(id.clone()).expect("register");
    let agent = StandIn::boot(&iso, vec![MAC_A.into()]).await.expect("boot");
    let inventory = InspectionData::default();
    agent
        .report(Some(inventory.clone()), None)
        .await
        .expect("first report");
    assert!(hub.agent(&id.host).and_then(|v| v.inventory).is_some());

    let inspect = Command {
        id: "inspect-1".into(),
        action: Action::Inspect,
    };
    assert!(hub.queue(&id.host, inspect.clone()));
    let reply = agent.report(None, None).await.expect("report");
    assert_eq!(reply.command, Some(inspect));
    assert_eq!(reply.poll_after_ms, 20, "a command waits: busy poll");
    let running_status = CommandStatus {
        id: "inspect-1".into(),
        state: CommandState::Running,
        step: "reading disks".into(),
        ..CommandStatus::default()
    };
    let reply = agent
        .report(None, Some(running_status))
        .await
        .expect("report");
    assert_eq!((reply.command, reply.poll_after_ms), (None, 20));
    let done = CommandStatus {
        id: "inspect-1".into(),
        state: CommandState::Done,
        ..CommandStatus::default()
    };
    agent
        .report(Some(inventory), Some(done.clone()))
        .await
        .expect("report");
    let view = hub.agent(&id.host).expect("view");
    assert_eq!(
        view.status_of("inspect-1").map(|s| s.state),
        Some(CommandState::Done)
    );

    // The operator restarts: a new hub with the kept key material, on the same address.
    let addr = url.trim_start_matches("https://").to_string();
    running.stop().await;
    let l = TcpListener::bind(&addr).expect("the same address again");
    let restarted = start(l, &url, &path, keys);
    let (status, _) = agent
        .report(None, Some(done.clone()))
        .await
        .expect_err("not registered yet");
    assert_eq!(status, 403);
    restarted.hub.register(id.clone()).expect("register again");
    agent
        .report(None, Some(done))
        .await
        .expect("the same token and CA are still good");
    let view = restarted.hub.agent(&id.host).expect("view");
    assert_eq!(view.boot_id, agent.boot_id);
    assert_eq!(
        view.status_of("inspect-1").map(|s| s.state),
        Some(CommandState::Done),
        "the agent's last status tells the restarted hub how the command ended"
    );
    restarted.hub.forget(&id.host);
    assert_eq!(
        agent.report(None, None).await.expect_err("forgotten").0,
        403
    );
    restarted.stop().await;
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = client.get(url);
    if let Some(r) = range {
        request = request.header("Range", r);
    }
    let response = request.send().await.expect("fetch");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

#[tokio::test]
async fn each_host_gets_the_generic_image_with_its_own_slot_by_ranges_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, generic) = image(&dir);
    let (l, url) = listener();
    let running = start(l, &url, &path, Keys::generate(&url).expect("keys"));
    let hub = &running.hub;
    let id = identity("a", MAC_A);
    let first = hub.register(id.clone()).expect("register");
    assert!(hub.is_boot_image(&id.host, &first));
    let iso = hub.new_boot(&id.host).expect("a fresh URL");
    assert_ne!(iso, first);
    assert!(hub.is_boot_image(&id.host, &iso));
    assert!(!hub.is_boot_image(&identity("b", MAC_B).host, &iso));
    let ca = reqwest::Certificate::from_pem(hub.ca_pem().as_bytes()).expect("ca");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");

    let (status, headers, whole) = fetch(&client, &iso, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(whole.len(), generic.len());
    let slot = SLOT_SECTOR * SECTOR;
    assert_eq!(whole[..slot], generic[..slot], "before the slot");
    assert_eq!(
        whole[slot + PLACEHOLDER_SIZE..],
        generic[slot + PLACEHOLDER_SIZE..],
        "after the slot"
    );
    assert_ne!(
        whole[slot..slot + PLACEHOLDER_SIZE],
        generic[slot..slot + PLACEHOLDER_SIZE]
    );
    let config = config_in(&whole).expect("the host's configuration is in its slot");
    assert_eq!(config.host, id.host);
    assert_eq!(config.hub_url, url);
    assert_eq!(config.network_data, id.network_data);
    assert!(!config.token.expose().is_empty());

    // Ranges across the slot's edges, from the end, past the end.
    for (range, from, to) in [
        ("bytes=80000-90000", 80_000, 90_001),
        ("bytes=0-99", 0, 100),
        (&*format!("bytes={}-", slot + 100), slot + 100, whole.len()),
        ("bytes=-4096", whole.len() - 4096, whole.len()),
    ] {
        let (status, headers, part) = fetch(&client, &iso, Some(range)).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(part, whole[from..to], "{range}");
        assert_eq!(
            headers["content-range"],
            format!("bytes {from}-{}/{}", to - 1, whole.len()).as_str()
        );
    }
    let (status, headers, _) = fetch(&client, &iso, Some("bytes=999999999-")).await;
    assert_eq!(status, 416);
    assert_eq!(
        headers["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );

    let head = client.head(&iso).send().await.expect("head");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"],
        whole.len().to_string().as_str()
    );

    // Only the current URL of a registered host is served.
    assert_eq!(fetch(&client, &first, None).await.0, 404, "an old nonce");
    let other = iso.replace("/metal3/a/", "/metal3/b/");
    assert_eq!(fetch(&client, &other, None).await.0, 404, "another host");
    let no_iso = iso.trim_end_matches(".iso").to_string();
    assert_eq!(fetch(&client, &no_iso, None).await.0, 404);
    hub.forget(&id.host);
    assert_eq!(fetch(&client, &iso, None).await.0, 404, "a forgotten host");
    running.stop().await;
}

#[tokio::test]
async fn an_image_without_a_single_slot_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plain.iso");
    std::fs::write(&path, vec![0u8; SECTOR * 64]).expect("write");
    let e = BootImage::open(&path).expect_err("no slot");
    assert!(matches!(e, Error::Image { .. }), "{e}");
    assert!(e.to_string().contains("metal3 agent-image"), "{e}");
    let missing = dir.path().join("missing.iso");
    let e = BootImage::open(&missing).expect_err("no file");
    assert!(e.to_string().contains("missing.iso"), "{e}");
    let mut two = vec![0u8; SECTOR * 200];
    two[..PLACEHOLDER_SIZE].copy_from_slice(&bootimage::placeholder());
    two[SECTOR * 100..SECTOR * 100 + PLACEHOLDER_SIZE].copy_from_slice(&bootimage::placeholder());
    std::fs::write(&path, two).expect("write");
    assert!(BootImage::open(&path).is_err(), "two slots");
    let url = "https://127.0.0.1:9443";
    let e = Hub::new(
        HubConfig::new("http://10.0.2.2:9443"),
        Keys::generate(url).expect("keys"),
        BootImage::open(&image(&dir).0).expect("image"),
    )
    .expect_err("plain HTTP");
    assert!(e.to_string().contains("https://"), "{e}");
}

#[tokio::test]
async fn key_material_is_kept_in_secrets_across_hub_instances() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::Api;

    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "agent-hub").await.expect("namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = image(&dir);

    let (l, url) = listener();
    let keys = Keys::load_or_create(client.clone(), &ns, &[&url])
        .await
        .expect("created");
    let first = start(l, &url, &path, keys.clone());
    let id = identity("a", MAC_A);
    let iso = first.hub.register(id.clone()).expect("register");
    let agent = StandIn::boot(&iso, vec![MAC_A.into()]).await.expect("boot");
    agent.report(None, None).await.expect("report");
    let addr = url.trim_start_matches("https://").to_string();
    first.stop().await;

    // A second instance (a restarted operator) finds the same key and CA.
    let again = Keys::load_or_create(client.clone(), &ns, &[&url])
        .await
        .expect("loaded");
    assert_eq!(again.ca_pem(), keys.ca_pem());
    assert!(!format!("{again:?}").contains("PRIVATE"));
    let l = TcpListener::bind(&addr).expect("rebind");
    let second = start(l, &url, &path, again);
    second.hub.register(id).expect("register");
    agent
        .report(None, None)
        .await
        .expect("an agent booted before the restart is still trusted and trusts the hub");
    second.stop().await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let key = secrets.get("metal3-agent-key").await.expect("key Secret");
    let data = key.data.expect("data");
    assert_eq!(data["key"].0.len(), 32);
    let tls = secrets.get("metal3-agent-tls").await.expect("tls Secret");
    let tls_data = tls.data.expect("data");
    assert_eq!(tls_data["names"].0, b"127.0.0.1");

    // Another URL: a new serving certificate from the same CA.
    let moved = Keys::load_or_create(client.clone(), &ns, &["https://hub.example.test:9443"])
        .await
        .expect("reissued");
    assert_eq!(moved.ca_pem(), keys.ca_pem());
    let tls = secrets.get("metal3-agent-tls").await.expect("tls Secret");
    let tls_data = tls.data.expect("data");
    assert_eq!(tls_data["names"].0, b"hub.example.test");
    // Hosts and BMCs reaching the hub by different names: one certificate covers both.
    Keys::load_or_create(
        client.clone(),
        &ns,
        &["https://hub.example.test:9443", "https://10.1.0.5:9443"],
    )
    .await
    .expect("reissued for two names");
    let tls = secrets.get("metal3-agent-tls").await.expect("tls Secret");
    let tls_data = tls.data.expect("data");
    assert_eq!(tls_data["names"].0, b"hub.example.test,10.1.0.5");
    assert_ne!(
        tls_data["tls.crt"].0,
        data_of(&tls_data, "ca.crt"),
        "a serving certificate, not the CA"
    );
}

fn data_of(data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>, k: &str) -> Vec<u8> {
    data.get(k).map(|b| b.0.clone()).unwrap_or_default()
}
