//! The Redfish provisioner's agent flows against the simulated fleet and a real hub over TLS,
//! with the test standing in for the agent (it runs only in a VM): in-band inspection,
//! cleaning, provisioning a disk image and deprovisioning, with and without fast track
//! (counting the server's boots), a failed deploy, a custom deploy step, and an operator
//! restart in the middle of a deploy.

mod standin;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use metal3_agent_api::bootimage::{self, PLACEHOLDER_SIZE};
use metal3_agent_hub::{BootImage, Hub, HubConfig, Keys};
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, ChecksumType, CustomDeploy, Image, ImageFormat,
    InspectionMode, RootDeviceHints,
};
use metal3_provisioner::{
    Credentials, HostConfig, HostData, InspectData, InspectOptions, InspectOutcome,
    ManagementAccessData, Outcome, PrepareData, PrepareOptions, ProvisionData, Provisioner,
    RegisterOptions,
};
use metal3_redfish_provisioner::{AgentSettings, Config, RedfishProvisioner};
use metal3_sim::Fleet;
use metal3_sim::fleet::{Power, Running};
use standin::Script;
use tokio::sync::oneshot;

/// The simulator, a hub, and the stand-in agent of server 0.
struct Env {
    fleet: Arc<Fleet>,
    bmc: String,
    hub: Hub,
    script: Arc<Script>,
    _dir: tempfile::TempDir,
    image: std::path::PathBuf,
    keys: Keys,
    hub_addr: String,
    stop_hub: Option<oneshot::Sender<()>>,
    hub_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    agent_task: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.agent_task.abort();
    }
}

fn serve_hub(
    listener: TcpListener,
    url: &str,
    image: &std::path::Path,
    keys: Keys,
) -> (
    Hub,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut config = HubConfig::new(url);
    config.poll_busy = Duration::from_millis(10);
    config.poll_idle = Duration::from_millis(30);
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
    (hub, stop, task)
}

async fn env() -> Env {
    let fleet = Fleet::new(1, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let bmc = format!("http://{addr}");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("agent.iso");
    let mut bytes = vec![0x5a_u8; 2048 * 64];
    bytes[2048 * 20..2048 * 20 + PLACEHOLDER_SIZE].copy_from_slice(&bootimage::placeholder());
    std::fs::write(&image, bytes).expect("image");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hub_addr = listener.local_addr().expect("addr").to_string();
    let url = format!("https://{hub_addr}");
    let keys = Keys::generate(&url).expect("keys");
    let (hub, stop, task) = serve_hub(listener, &url, &image, keys.clone());
    let script = Arc::new(Script::default());
    let agent_task = tokio::spawn(standin::run(fleet.clone(), 0, bmc.clone(), script.clone()));
    Env {
        fleet,
        bmc,
        hub,
        script,
        _dir: dir,
        image,
        keys,
        hub_addr,
        stop_hub: Some(stop),
        hub_task: Some(task),
        agent_task,
    }
}

impl Env {
    fn host(&self) -> HostData {
        let h = self.fleet.host(0).expect("host");
        HostData {
            namespace: "test".into(),
            name: "worker-0".into(),
            uid: "uid-0".into(),
            bmc_address: format!(
                "redfish-virtualmedia+{}/redfish/v1/Systems/{}",
                self.bmc, h.id
            ),
            credentials: Credentials {
                username: "admin".into(),
                password: "pw".into(),
            },
            boot_mac_address: h.macs[0].clone(),
            ..HostData::default()
        }
    }

    fn provisioner(&self, fast_track: bool) -> RedfishProvisioner {
        let mut agent = AgentSettings::new(self.hub.clone());
        agent.fast_track = fast_track;
        agent.call_home_timeout = Duration::from_secs(20);
        agent.stale_after = Duration::from_secs(2);
        agent.grace = Duration::from_secs(3);
        agent.progress_every = Duration::ZERO;
        RedfishProvisioner::new(Config {
            poll: Duration::from_millis(10),
            client: metal3_redfish::Config {
                timeout: Duration::from_secs(5),
                backoff: Duration::from_millis(10),
                ..metal3_redfish::Config::default()
            },
            agent: Some(agent),
            ..Config::default()
        })
        .expect("provisioner")
    }

    fn boots(&self) -> u64 {
        self.fleet.host(0).expect("host").boots
    }

    /// The server's boots once at least `expected` have happened (or 10 s passed): after an
    /// operator restart the agent may take its reboot command after provisioning reports done.
    async fn boots_reaching(&self, expected: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.boots() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.boots()
    }

    /// The server once it runs its disk (or 10 s passed): provisioning reports done when the
    /// agent has its reboot command, and the agent reboots right after.
    async fn server_on_disk(&self) -> metal3_sim::fleet::Host {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.server().running != Running::Disk && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.server()
    }

    fn server(&self) -> metal3_sim::fleet::Host {
        self.fleet.host(0).expect("host")
    }

    /// Stops the hub (the operator's process ends) and starts a new one with the kept key
    /// material on the same address.
    async fn restart_hub(&mut self) {
        if let Some(stop) = self.stop_hub.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.hub_task.take() {
            let _ = task.await;
        }
        let listener = TcpListener::bind(&self.hub_addr).expect("the same address");
        let url = format!("https://{}", self.hub_addr);
        let (hub, stop, task) = serve_hub(listener, &url, &self.image, self.keys.clone());
        self.hub = hub;
        self.stop_hub = Some(stop);
        self.hub_task = Some(task);
    }
}

async fn register(p: &RedfishProvisioner, host: &HostData, cleaning: AutomatedCleaningMode) {
    let data = ManagementAccessData {
        boot_mode: BootMode::Uefi,
        automated_cleaning_mode: cleaning,
        ..ManagementAccessData::default()
    };
    let (outcome, _) = p
        .register(host, &data, RegisterOptions::default())
        .await
        .expect("register");
    assert_eq!(outcome, Outcome::Done);
}

/// Calls `step` until it is done or failed, within a deadline; every progress shown meanwhile.
async fn until_done<F, Fut>(
    what: &str,
    p: &RedfishProvisioner,
    host: &HostData,
    mut step: F,
) -> (Outcome, Vec<String>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut shown = Vec::new();
    loop {
        let outcome = step().await;
        if let Some(m) = p.progress(host)
            && shown.last() != Some(&m)
        {
            shown.push(m);
        }
        match outcome {
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            done => return (done, shown),
        }
        assert!(
            Instant::now() < deadline,
            "{what} never finished; shown: {shown:?}"
        );
    }
}

async fn inspect(p: &RedfishProvisioner, host: &HostData, mode: InspectionMode) -> InspectOutcome {
    let data = InspectData {
        boot_mode: BootMode::Uefi,
        inspection_mode: mode,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = p
            .inspect_hardware(host, &data, InspectOptions::default())
            .await
            .expect("inspect");
        match out.outcome {
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            _ => return out,
        }
        assert!(Instant::now() < deadline, "inspection never finished");
    }
}

async fn prepare(p: &RedfishProvisioner, host: &HostData) -> (Outcome, Vec<String>) {
    until_done("prepare", p, host, || async {
        p.prepare(host, &PrepareData::default(), PrepareOptions::default())
            .await
            .expect("prepare")
            .outcome
    })
    .await
}

async fn provision(
    p: &RedfishProvisioner,
    host: &HostData,
    data: &ProvisionData,
) -> (Outcome, Vec<String>) {
    until_done("provision", p, host, || async {
        p.provision(host, data, false).await.expect("provision")
    })
    .await
}

async fn deprovision(p: &RedfishProvisioner, host: &HostData) -> (Outcome, Vec<String>) {
    until_done("deprovision", p, host, || async {
        p.deprovision(host, false, AutomatedCleaningMode::Metadata)
            .await
            .expect("deprovision")
    })
    .await
}

fn disk_image(format: ImageFormat) -> ProvisionData {
    ProvisionData {
        image: Image {
            url: "http://10.0.2.2:8080/test-image.raw".into(),
            checksum: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            checksum_type: Some(ChecksumType::Sha256),
            disk_format: Some(format),
            ..Image::default()
        },
        boot_mode: BootMode::Uefi,
        root_device_hints: Some(RootDeviceHints {
            serial_number: "D1".into(),
            ..RootDeviceHints::default()
        }),
        host_config: HostConfig {
            user_data: Some("#cloud-config\nruncmd: [echo METAL3-USER-DATA]\n".into()),
            ..HostConfig::default()
        },
        ..ProvisionData::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_track_inspects_cleans_and_provisions_with_one_boot_each() {
    let env = env().await;
    let p = env.provisioner(true);
    let host = env.host();
    register(&p, &host, AutomatedCleaningMode::Metadata).await;

    let inspected = inspect(&p, &host, InspectionMode::Agent).await;
    assert_eq!(inspected.outcome, Outcome::Done);
    let details = inspected.details.expect("details");
    let disks: Vec<_> = details.storage.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(disks, ["/dev/vda", "/dev/vdb"], "the disks the agent sees");
    assert_eq!(details.nics[0].mac, host.boot_mac_address);
    assert!(details.nics[0].pxe, "the boot NIC");
    assert_eq!(details.nics[0].ip, "10.0.2.15");
    assert_eq!(
        details.system_vendor.manufacturer, "QEMU",
        "the agent's reading wins"
    );
    assert_eq!(
        details.cpu.count, 32,
        "the BMC fills what the agent left out"
    );
    assert_eq!(env.boots(), 1, "one boot into the agent");
    assert_eq!(
        env.server().power,
        Power::On,
        "fast track: the agent stands by"
    );
    assert!(
        env.script.work().is_empty(),
        "the first report carried the inventory: {:?}",
        env.script.actions()
    );

    let (outcome, shown) = prepare(&p, &host).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(env.script.work(), ["clean"]);
    assert!(shown.iter().any(|m| m.contains("cleaning")), "{shown:?}");
    assert_eq!(env.boots(), 1, "the standing-by agent cleaned");
    assert_eq!(p.progress(&host), None, "nothing shown once done");

    env.script.hold_deploy.store(true, Ordering::SeqCst);
    let release = {
        let script = env.script.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            script.hold_deploy.store(false, Ordering::SeqCst);
        })
    };
    let before = env.boots();
    let (outcome, shown) = provision(&p, &host, &disk_image(ImageFormat::Raw)).await;
    release.await.expect("release");
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(
        env.boots_reaching(before + 1).await - before,
        1,
        "fast track: one boot per provision, into the disk"
    );
    let server = env.server_on_disk().await;
    assert_eq!(server.running, Running::Disk);
    assert!(!server.cd.inserted, "the agent's image is ejected");
    assert_eq!(
        (server.boot.target.as_str(), server.boot.enabled.as_str()),
        ("Hdd", "Continuous")
    );
    assert!(
        shown
            .iter()
            .any(|m| m.contains("writing the image: writing, 3.0 MiB of 8.0 MiB (37%)")),
        "{shown:?}"
    );
    assert!(
        !shown.iter().any(|m| m.contains("METAL3-USER-DATA")),
        "never the user data"
    );
    let deploys = env.script.deploys();
    assert_eq!(deploys.len(), 1);
    let deploy = &deploys[0];
    assert_eq!(deploy.image.format, metal3_agent_api::ImageFormat::Raw);
    assert_eq!(
        deploy
            .root_device_hints
            .as_ref()
            .map(|h| h.serial_number.as_str()),
        Some("D1")
    );
    let drive = deploy.config_drive.as_ref().expect("config drive");
    assert_eq!(drive.meta_data["hostname"], "worker-0");
    assert_eq!(drive.meta_data["uuid"], "uid-0");
    assert!(
        drive
            .user_data
            .as_deref()
            .is_some_and(|u| u.contains("METAL3-USER-DATA"))
    );
    assert_eq!(env.script.work(), ["clean", "deploy", "reboot"]);

    // Deprovisioning boots the agent, cleans, and leaves it standing by.
    let (outcome, _) = deprovision(&p, &host).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(env.script.work(), ["clean", "deploy", "reboot", "clean"]);
    let server = env.server();
    assert_eq!(server.power, Power::On);
    assert!(
        matches!(server.running, Running::VirtualMedia(ref url) if url.contains("/agent/test/worker-0/"))
    );

    assert_eq!(p.delete(&host).await.expect("delete"), Outcome::Done);
    assert!(
        env.hub
            .agent(&metal3_agent_api::HostRef {
                namespace: "test".into(),
                name: "worker-0".into(),
                uid: "uid-0".into(),
            })
            .is_none(),
        "the hub forgets a deleted host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fast_track_the_agent_powers_off_and_provisioning_boots_twice() {
    let env = env().await;
    let p = env.provisioner(false);
    let host = env.host();
    register(&p, &host, AutomatedCleaningMode::Metadata).await;

    assert_eq!(
        inspect(&p, &host, InspectionMode::Agent).await.outcome,
        Outcome::Done
    );
    assert_eq!(
        env.server().power,
        Power::Off,
        "the agent powered the host off"
    );
    assert_eq!(prepare(&p, &host).await.0, Outcome::Done);
    assert_eq!(env.script.actions(), ["powerOff", "clean", "powerOff"]);
    assert_eq!(env.server().power, Power::Off);

    let before = env.boots();
    assert_eq!(
        provision(&p, &host, &disk_image(ImageFormat::Qcow2))
            .await
            .0,
        Outcome::Done
    );
    assert_eq!(
        env.boots_reaching(before + 2).await - before,
        2,
        "the agent, then the disk"
    );
    assert_eq!(env.server_on_disk().await.running, Running::Disk);

    let (outcome, _) = deprovision(&p, &host).await;
    assert_eq!(outcome, Outcome::Done);
    let server = env.server();
    assert_eq!(server.power, Power::Off);
    assert!(!server.cd.inserted);
    assert_eq!(server.boot.enabled, "Disabled", "no override left");
    assert_eq!(
        env.script.actions(),
        [
            "powerOff", "clean", "powerOff", "deploy", "reboot", "clean", "powerOff"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_inspection_stays_out_of_band_and_cleaning_can_be_off() {
    let env = env().await;
    let p = env.provisioner(true);
    let host = env.host();
    register(&p, &host, AutomatedCleaningMode::Disabled).await;
    let out = inspect(&p, &host, InspectionMode::Fast).await;
    assert_eq!(out.outcome, Outcome::Done);
    assert_eq!(
        out.details.expect("details").storage.len(),
        4,
        "the BMC's drives"
    );
    assert_eq!(prepare(&p, &host).await.0, Outcome::Done);
    assert_eq!(env.boots(), 0, "nothing booted");
    assert!(env.script.actions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_is_the_agents_message_and_the_disk_is_cleaned_after() {
    let env = env().await;
    let p = env.provisioner(true);
    let host = env.host();
    register(&p, &host, AutomatedCleaningMode::Metadata).await;

    // What the agent cannot write is refused before the host boots.
    let mut vmdk = disk_image(ImageFormat::Vmdk);
    vmdk.image.url = "http://10.0.2.2:8080/os.vmdk".into();
    let Outcome::Failed { message } = provision(&p, &host, &vmdk).await.0 else {
        panic!("vmdk is refused");
    };
    assert!(message.contains("raw and qcow2"), "{message}");
    assert_eq!(env.boots(), 0);

    *env.script.fail_deploy.lock().expect("lock") =
        Some("checksum mismatch: expected 0123…, got 89ab… (the disk was wiped)".into());
    let Outcome::Failed { message } = provision(&p, &host, &disk_image(ImageFormat::Raw)).await.0
    else {
        panic!("the deploy fails");
    };
    assert!(
        message.contains("writing the image failed: checksum mismatch"),
        "{message}"
    );
    let server = env.server();
    assert_ne!(server.boot.target, "Hdd", "a failed image is never booted");
    assert!(
        matches!(server.running, Running::VirtualMedia(_)),
        "the agent still runs"
    );

    // The state machine deprovisions next: the standing-by agent cleans.
    let boots = env.boots();
    assert_eq!(deprovision(&p, &host).await.0, Outcome::Done);
    assert_eq!(env.boots(), boots, "no reboot");
    assert_eq!(env.script.work(), ["deploy", "clean"]);

    // A custom deploy step runs on the agent and the host boots its disk.
    *env.script.fail_deploy.lock().expect("lock") = None;
    let custom = ProvisionData {
        custom_deploy: Some(CustomDeploy {
            method: "install_everything".into(),
        }),
        boot_mode: BootMode::Uefi,
        ..ProvisionData::default()
    };
    assert_eq!(provision(&p, &host, &custom).await.0, Outcome::Done);
    assert!(
        env.script
            .received
            .lock()
            .expect("lock")
            .iter()
            .any(|c| c.action
                == metal3_agent_api::Action::RunStep {
                    name: "install_everything".into()
                })
    );
    assert_eq!(env.server_on_disk().await.running, Running::Disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restart_mid_deploy_neither_writes_twice_nor_reboots() {
    let mut env = env().await;
    let host = env.host();
    let before_restart = {
        let p = env.provisioner(true);
        register(&p, &host, AutomatedCleaningMode::Metadata).await;
        assert_eq!(
            inspect(&p, &host, InspectionMode::Agent).await.outcome,
            Outcome::Done
        );
        env.script.hold_deploy.store(true, Ordering::SeqCst);
        let data = disk_image(ImageFormat::Qcow2);
        let deadline = Instant::now() + Duration::from_secs(30);
        while env.script.deploys().is_empty() {
            let out = p.provision(&host, &data, false).await.expect("provision");
            assert!(matches!(out, Outcome::InProgress { .. }), "{out:?}");
            assert!(Instant::now() < deadline, "the deploy never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        env.boots()
    };
    // The operator restarts: a new provisioner and hub; the agent keeps writing.
    env.restart_hub().await;
    let p = env.provisioner(true);
    register(&p, &host, AutomatedCleaningMode::Metadata).await;
    let release = {
        let script = env.script.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            script.hold_deploy.store(false, Ordering::SeqCst);
        })
    };
    let (outcome, shown) = provision(&p, &host, &disk_image(ImageFormat::Qcow2)).await;
    release.await.expect("release");
    assert_eq!(outcome, Outcome::Done, "{shown:?}");
    assert_eq!(env.script.deploys().len(), 1, "the image was written once");
    assert_eq!(
        env.boots_reaching(before_restart + 1).await,
        before_restart + 1,
        "no reboot but the one into the disk"
    );
    assert_eq!(env.server_on_disk().await.running, Running::Disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restart_after_the_image_is_written_reboots_into_it_once() {
    let mut env = env().await;
    let host = env.host();
    let data = disk_image(ImageFormat::Raw);
    let before_restart = {
        let p = env.provisioner(true);
        register(&p, &host, AutomatedCleaningMode::Metadata).await;
        assert_eq!(
            inspect(&p, &host, InspectionMode::Agent).await.outcome,
            Outcome::Done
        );
        // Provision until the disk is set to boot, then the operator goes away.
        let deadline = Instant::now() + Duration::from_secs(30);
        while env.server().boot.target != "Hdd" {
            let out = p.provision(&host, &data, false).await.expect("provision");
            assert!(matches!(out, Outcome::InProgress { .. }), "{out:?}");
            assert!(Instant::now() < deadline, "the image was never written");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        env.boots()
    };
    assert!(
        matches!(env.server().running, Running::VirtualMedia(_)),
        "the agent still runs"
    );
    env.restart_hub().await;
    let p = env.provisioner(true);
    register(&p, &host, AutomatedCleaningMode::Metadata).await;
    let (outcome, _) = provision(&p, &host, &data).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(env.script.deploys().len(), 1, "not written again");
    assert_eq!(
        env.boots_reaching(before_restart + 1).await,
        before_restart + 1,
        "one reboot, into the disk"
    );
    let server = env.server_on_disk().await;
    assert_eq!(server.running, Running::Disk);
    assert!(!server.cd.inserted);
    assert_eq!(env.script.work().last().map(String::as_str), Some("reboot"));
}
