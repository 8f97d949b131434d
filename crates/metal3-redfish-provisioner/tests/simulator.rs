//! The Redfish provisioner against the simulated fleet: the lifecycle with BMC calls counted
//! per phase, preparation with one reboot, firmware, events, data images, and faults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_api::v1alpha1::{
    AutomatedCleaningMode, DiskType, FirmwareUpdate, HardwareRaidLevel, HardwareRaidVolume, Image,
    ImageFormat, RaidConfig,
};
use metal3_provisioner::{
    Credentials, EventSubscription, HostData, InspectData, InspectOptions, ManagementAccessData,
    Outcome, PrepareData, PrepareOptions, ProvisionData, Provisioner, ProvisionerError, RebootMode,
    RegisterOptions,
};
use metal3_redfish_provisioner::{Config, RedfishProvisioner};
use metal3_sim::Fleet;
use metal3_sim::fleet::{Power, Running};
use serde_json::json;

const ISO: &str = "http://images.example/live.iso";

struct Sim {
    fleet: Arc<Fleet>,
    url: String,
}

async fn sim(hosts: usize) -> Sim {
    let fleet = Fleet::new(hosts, "admin", "pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let url = format!("http://{}", addr);
    Sim { fleet, url }
}

impl Sim {
    fn host(&self, index: usize) -> HostData {
        let h = self.fleet.host(index).expect("host");
        HostData {
            namespace: "test".into(),
            name: h.name.clone(),
            uid: format!("uid-{index}"),
            bmc_address: format!(
                "redfish-virtualmedia+{}/redfish/v1/Systems/{}",
                self.url, h.id
            ),
            credentials: Credentials {
                username: "admin".into(),
                password: "pw".into(),
            },
            boot_mac_address: h.macs[0].clone(),
            ..HostData::default()
        }
    }

    /// BMC calls server `index` has answered, plus the service's (logins).
    fn calls(&self, index: usize) -> u64 {
        self.fleet.host(index).expect("host").calls.values().sum()
    }

    async fn knobs(&self, host: &str, faults: serde_json::Value) {
        let r = reqwest::Client::new()
            .put(format!("{}/metal3-sim/faults/{host}", self.url))
            .json(&faults)
            .send()
            .await
            .expect("knobs");
        assert_eq!(r.status(), 200);
    }
}

fn config() -> Config {
    Config {
        poll: Duration::from_millis(10),
        client: metal3_redfish::Config {
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(10),
            breaker_cooldown: Duration::from_millis(200),
            ..metal3_redfish::Config::default()
        },
        ..Config::default()
    }
}

/// Calls `step` until it is done (or fails), within a deadline.
async fn until_done<F, Fut>(what: &str, mut step: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ProvisionerError>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match step().await.expect(what) {
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            done => return done,
        }
        assert!(Instant::now() < deadline, "{what} never finished");
    }
}

fn live_iso() -> ProvisionData {
    ProvisionData {
        image: Image {
            url: ISO.into(),
            disk_format: Some(ImageFormat::LiveIso),
            ..Image::default()
        },
        ..ProvisionData::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_with_bmc_calls_per_phase() {
    let sim = sim(2).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let host = sim.host(1);
    let mut phases = BTreeMap::new();
    let mut mark = sim.calls(1);
    let mut record = |phase: &str, now: u64| {
        phases.insert(phase.to_string(), now - mark);
        mark = now;
    };

    let (outcome, id) = p
        .register(
            &host,
            &ManagementAccessData::default(),
            RegisterOptions::default(),
        )
        .await
        .expect("register");
    assert_eq!(outcome, Outcome::Done);
    assert!(id.ends_with(&format!(
        "/redfish/v1/Systems/{}",
        sim.fleet.host(1).expect("h").id
    )));
    record("register", sim.calls(1));

    let inspected = p
        .inspect_hardware(&host, &InspectData::default(), InspectOptions::default())
        .await
        .expect("inspect");
    assert_eq!(inspected.outcome, Outcome::Done);
    let details = inspected.details.expect("details");
    assert_eq!(details.cpu.count, 32);
    assert_eq!(details.cpu.arch, "x86_64");
    assert_eq!(details.ram_mebibytes, 64 * 1024);
    assert_eq!(details.nics.len(), 2);
    assert!(details.nics[0].pxe, "the boot MAC is marked");
    assert_eq!(details.storage.len(), 4);
    assert_eq!(details.storage[0].disk_type, Some(DiskType::Ssd));
    assert_eq!(details.system_vendor.manufacturer, "Metal3");
    assert_eq!(
        sim.fleet.host(1).expect("h").power,
        Power::Off,
        "out-of-band inspection leaves the host off"
    );
    record("inspect", sim.calls(1));

    // Idle: the power state and health are remembered between checks.
    for _ in 0..5 {
        let state = p.update_hardware_state(&host).await.expect("state");
        assert_eq!(state.powered_on, Some(false));
        assert_eq!(
            p.health(&host).await.expect("health"),
            metal3_provisioner::Health::Ok
        );
    }
    record("idle (5 power checks within the interval)", sim.calls(1));

    let iso = live_iso();
    let done = until_done("provision", || p.provision(&host, &iso, false)).await;
    assert_eq!(done, Outcome::Done);
    let server = sim.fleet.host(1).expect("h");
    assert_eq!(server.running, Running::VirtualMedia(ISO.into()));
    assert_eq!(server.boots, 1, "one boot");
    assert_eq!(
        server.boot.enabled, "Disabled",
        "the one-time override was used"
    );
    record("provision (live ISO)", sim.calls(1));

    // A reboot annotation: power off softly, then on.
    until_done("power off", || {
        p.power_off(
            &host,
            RebootMode::Soft,
            false,
            AutomatedCleaningMode::Metadata,
        )
    })
    .await;
    until_done("power on", || p.power_on(&host, false)).await;
    assert_eq!(sim.fleet.host(1).expect("h").power, Power::On);
    record("reboot", sim.calls(1));

    let done = until_done("deprovision", || {
        p.deprovision(&host, false, AutomatedCleaningMode::Metadata)
    })
    .await;
    assert_eq!(done, Outcome::Done);
    let server = sim.fleet.host(1).expect("h");
    assert_eq!(server.power, Power::Off);
    assert!(!server.cd.inserted, "the medium is ejected");
    record("deprovision", sim.calls(1));

    assert_eq!(p.delete(&host).await.expect("delete"), Outcome::Done);
    assert_eq!(sim.calls(0), 0, "the other server was never called");
    p.pool().logout_all().await;
    assert_eq!(sim.fleet.open_sessions(), 0, "no session leaked");

    eprintln!("BMC calls per phase (one host): {phases:?}");
    assert_eq!(phases["idle (5 power checks within the interval)"], 0);
    assert!(phases["register"] <= 2, "{phases:?}");
    assert!(phases["inspect"] <= 15, "{phases:?}");
    assert!(phases["provision (live ISO)"] <= 16, "{phases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_images_need_the_agent() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let data = ProvisionData {
        image: Image {
            url: "http://images.example/os.qcow2".into(),
            disk_format: Some(ImageFormat::Qcow2),
            ..Image::default()
        },
        ..ProvisionData::default()
    };
    let Outcome::Failed { message } = p.provision(&sim.host(0), &data, false).await.expect("call")
    else {
        panic!("a disk image must fail");
    };
    assert!(
        message.contains("qcow2") && message.contains("in-band agent"),
        "{message}"
    );
    assert!(message.contains("live-iso"), "names the fix: {message}");
    assert_eq!(sim.calls(0), 0, "refused before any BMC call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparation_applies_settings_firmware_and_raid_with_one_reboot() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let host = sim.host(0);
    let settings = p.firmware_settings(&host, true).await.expect("settings");
    assert_eq!(settings.settings["ProcVirtualization"], "Enabled");
    let schema = settings.schema.expect("schema");
    assert_eq!(schema["PxeRetryCount"].upper_bound, Some(10));
    let before = p.firmware_components(&host).await.expect("components");
    // Read again while nothing happened to the host: answered from memory, no BMC call.
    let calls = sim.calls(0);
    let again = p.firmware_settings(&host, true).await.expect("settings");
    assert_eq!(again.settings, settings.settings);
    assert!(again.schema.is_some());
    assert_eq!(
        p.firmware_components(&host).await.expect("components"),
        before
    );
    assert_eq!(sim.calls(0), calls, "idle firmware reads cost no BMC calls");

    let data = PrepareData {
        target_firmware_settings: [
            ("ProcVirtualization".to_string(), "Disabled"),
            ("PxeRetryCount".to_string(), "3"),
        ]
        .into_iter()
        .map(|(k, v): (String, &str)| {
            (
                k,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(v.into()),
            )
        })
        .collect(),
        target_firmware_components: vec![FirmwareUpdate {
            component: "bios".into(),
            url: "http://firmware.example/bios-2.2.0.bin".into(),
        }],
        target_raid: Some(RaidConfig {
            hardware_raid_volumes: Some(vec![HardwareRaidVolume {
                level: HardwareRaidLevel::Raid1,
                name: "root".into(),
                size_gibibytes: None,
                rotational: None,
                number_of_physical_disks: None,
                controller: String::new(),
                physical_disks: Vec::new(),
            }]),
            ..RaidConfig::default()
        }),
        ..PrepareData::default()
    };
    let first = p
        .prepare(
            &host,
            &data,
            PrepareOptions {
                unprepared: true,
                ..Default::default()
            },
        )
        .await
        .expect("prepare");
    assert!(first.started);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = p
            .prepare(&host, &data, PrepareOptions::default())
            .await
            .expect("prepare");
        match o.outcome {
            Outcome::Done => break,
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            Outcome::Failed { message } => panic!("{message}"),
        }
        assert!(Instant::now() < deadline, "preparation never finished");
    }
    let server = sim.fleet.host(0).expect("h");
    assert_eq!(server.boots, 1, "everything applied with one reboot");
    assert_eq!(server.power, Power::Off, "left powered off");
    assert_eq!(
        server.bios.get("ProcVirtualization"),
        Some(&json!("Disabled"))
    );
    assert_eq!(
        server.bios.get("PxeRetryCount"),
        Some(&json!(3)),
        "typed as an integer"
    );
    assert_eq!(server.firmware.bios, "2.2.0");
    assert_eq!(server.storage.volumes.len(), 1);
    // The reboot that applied the changes made the remembered readings stale.
    let components = p.firmware_components(&host).await.expect("components");
    assert!(
        components
            .iter()
            .any(|c| c.component == "bios" && c.current_version.as_deref() == Some("2.2.0")),
        "{components:?}"
    );
    let settings = p.firmware_settings(&host, false).await.expect("settings");
    assert_eq!(settings.settings["ProcVirtualization"], "Disabled");

    // Nothing left to do: done at once, no reboot.
    let again = PrepareData {
        target_firmware_components: Vec::new(),
        actual_raid: data.target_raid.clone(),
        ..data.clone()
    };
    let o = p
        .prepare(
            &host,
            &again,
            PrepareOptions {
                unprepared: true,
                ..Default::default()
            },
        )
        .await
        .expect("prepare");
    assert_eq!(o.outcome, Outcome::Done);
    assert_eq!(sim.fleet.host(0).expect("h").boots, 1);

    // Powering on with nothing staged changes no setting or version: the readings stay, and
    // reading them again costs no BMC call.
    p.firmware_components(&host).await.expect("components");
    until_done("power on", || p.power_on(&host, false)).await;
    let calls = sim.calls(0);
    let settings = p.firmware_settings(&host, false).await.expect("settings");
    assert_eq!(settings.settings["ProcVirtualization"], "Disabled");
    p.firmware_components(&host).await.expect("components");
    assert_eq!(
        sim.calls(0),
        calls,
        "a power-on with nothing staged keeps the firmware readings"
    );
    p.pool().logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_subscriptions_and_data_images() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let host = sim.host(0);
    let sub = EventSubscription {
        destination: "http://127.0.0.1:9/events".into(),
        context: "bmh".into(),
        http_headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
    };
    let (outcome, id) = p
        .add_bmc_event_subscription(&host, &sub)
        .await
        .expect("subscribe");
    assert_eq!(outcome, Outcome::Done);
    assert!(
        id.starts_with("/redfish/v1/EventService/Subscriptions/"),
        "{id}"
    );
    assert_eq!(
        p.remove_bmc_event_subscription(&host, &id)
            .await
            .expect("remove"),
        Outcome::Done
    );
    assert_eq!(
        p.remove_bmc_event_subscription(&host, &id)
            .await
            .expect("again"),
        Outcome::Done,
        "already gone is fine"
    );

    let url = "http://images.example/data.img";
    assert_eq!(
        p.attach_data_image(&host, url).await.expect("attach"),
        Outcome::Done
    );
    assert_eq!(
        p.data_image_status(&host)
            .await
            .expect("status")
            .attached_url
            .as_deref(),
        Some(url)
    );
    assert!(sim.fleet.host(0).expect("h").usb.inserted);
    assert_eq!(
        p.detach_data_image(&host).await.expect("detach"),
        Outcome::Done
    );
    assert_eq!(
        p.data_image_status(&host)
            .await
            .expect("status")
            .attached_url,
        None
    );
    p.pool().logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_explained_and_recovered_from() {
    let sim = sim(3).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");

    // Wrong credentials: a registration error in the BMC's words, without the password.
    let mut wrong = sim.host(0);
    wrong.credentials.password = "not-it".into();
    let (outcome, _) = p
        .register(
            &wrong,
            &ManagementAccessData::default(),
            RegisterOptions::default(),
        )
        .await
        .expect("answered");
    let Outcome::Failed { message } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("not-it"));

    // Unreachable: transient, naming the BMC.
    let mut gone = sim.host(1);
    gone.bmc_address = "redfish+http://127.0.0.1:9/redfish/v1/Systems/1".into();
    let err = p
        .register(
            &gone,
            &ManagementAccessData::default(),
            RegisterOptions::default(),
        )
        .await
        .expect_err("unreachable");
    assert!(
        err.to_string()
            .contains("cannot reach the BMC at http://127.0.0.1:9"),
        "{err}"
    );

    // A burst of server errors: transient with the BMC's reason, then recovery.
    let host = sim.host(2);
    sim.knobs("sim-2", json!({"errorRate": 1.0})).await;
    let err = p
        .register(
            &host,
            &ManagementAccessData::default(),
            RegisterOptions::default(),
        )
        .await
        .expect_err("5xx");
    assert!(err.to_string().contains("injected BMC failure"), "{err}");
    sim.knobs("sim-2", json!({"latencyMs": [100, 200]})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match p
            .register(
                &host,
                &ManagementAccessData::default(),
                RegisterOptions::default(),
            )
            .await
        {
            Ok((Outcome::Done, _)) => break,
            Ok(other) => panic!("{other:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        assert!(Instant::now() < deadline, "never recovered");
    }
    // Slow but working: the lifecycle goes on.
    let inspected = p
        .inspect_hardware(&host, &InspectData::default(), InspectOptions::default())
        .await
        .expect("slow inspect");
    assert_eq!(inspected.outcome, Outcome::Done);

    // Session exhaustion: the BMC allows one session; every host shares it.
    reqwest::Client::new()
        .put(format!("{}/metal3-sim/faults", sim.url))
        .json(&json!({"sessionLimit": 1}))
        .send()
        .await
        .expect("knobs");
    sim.knobs("sim-2", json!({"sessionLimit": 1})).await;
    for i in 0..3 {
        let mut h = sim.host(i);
        h.credentials.password = "pw".into();
        let (o, _) = p
            .register(
                &h,
                &ManagementAccessData::default(),
                RegisterOptions::default(),
            )
            .await
            .expect("register");
        assert_eq!(o, Outcome::Done, "host {i}");
    }
    assert_eq!(sim.fleet.open_sessions(), 1);
    p.pool().logout_all().await;
    assert_eq!(sim.fleet.open_sessions(), 0, "no session leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uefi_http_boot_with_secure_boot() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let mut host = sim.host(0);
    host.bmc_address = host
        .bmc_address
        .replace("redfish-virtualmedia+", "redfish-uefihttp+");
    let data = ProvisionData {
        boot_mode: metal3_api::v1alpha1::BootMode::UefiSecureBoot,
        ..live_iso()
    };
    let done = until_done("provision", || p.provision(&host, &data, false)).await;
    assert_eq!(done, Outcome::Done);
    let server = sim.fleet.host(0).expect("h");
    assert_eq!(server.running, Running::HttpBoot(ISO.into()));
    assert!(server.secure_boot_current, "booted with Secure Boot");
    assert!(!server.cd.inserted, "no virtual media involved");

    until_done("deprovision", || {
        p.deprovision(&host, false, AutomatedCleaningMode::Metadata)
    })
    .await;
    let server = sim.fleet.host(0).expect("h");
    assert!(!server.secure_boot, "Secure Boot turned off again");
    assert_eq!(server.power, Power::Off);

    let legacy = ProvisionData {
        boot_mode: metal3_api::v1alpha1::BootMode::Legacy,
        ..live_iso()
    };
    let Outcome::Failed { message } = p.provision(&host, &legacy, false).await.expect("call")
    else {
        panic!("legacy UEFI HTTP boot must fail");
    };
    assert!(message.contains("needs bootMode UEFI"), "{message}");
    p.pool().logout_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_without_expand_reads_every_member() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let host = sim.host(0);
    let data = InspectData::default();
    let expanded_calls = {
        let before = sim.calls(0);
        let o = p
            .inspect_hardware(&host, &data, InspectOptions::default())
            .await
            .expect("inspect");
        assert_eq!(o.details.expect("details").storage.len(), 4);
        sim.calls(0) - before
    };
    // A second provisioner (fresh memory) against a BMC without `$expand`.
    reqwest::Client::new()
        .put(format!("{}/metal3-sim/faults", sim.url))
        .json(&json!({"noExpand": true}))
        .send()
        .await
        .expect("knobs");
    let plain = RedfishProvisioner::new(config()).expect("provisioner");
    let before = sim.calls(0);
    let o = plain
        .inspect_hardware(&host, &InspectData::default(), InspectOptions::default())
        .await
        .expect("inspect");
    let details = o.details.expect("details");
    assert_eq!(details.storage.len(), 4);
    assert_eq!(details.cpu.count, 32);
    let plain_calls = sim.calls(0) - before;
    eprintln!("inspection: {expanded_calls} BMC calls with $expand, {plain_calls} without");
    assert!(
        expanded_calls * 2 < plain_calls,
        "{expanded_calls} vs {plain_calls}"
    );
    p.pool().logout_all().await;
    plain.pool().logout_all().await;
}

#[tokio::test]
async fn switch_port_configuration_is_refused_with_the_reason() {
    let sim = sim(1).await;
    let p = RedfishProvisioner::new(config()).expect("provisioner");
    let mut host = sim.host(0);
    host.network_interfaces = serde_json::from_value(json!([
        {"name": "eno1", "hostNetworkAttachment": {"name": "storage"}}
    ]))
    .expect("interfaces");
    let calls = sim.calls(0);
    let outcome = p
        .provision(&host, &live_iso(), false)
        .await
        .expect("answered");
    let Outcome::Failed { message } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert!(message.contains("Ironic's networking service"), "{message}");
    assert!(message.contains("(eno1)"), "{message}");
    assert_eq!(sim.calls(0), calls, "the BMC is not touched");
}
