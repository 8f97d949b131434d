//! The Ironic provisioner against a real OpenStack Ironic (from PyPI, run on loopback by
//! `metal3-testenv`), with the `fake-hardware` driver: the state mapping of every call, and
//! the faults (Ironic down, Ironic restarted with an empty database, a MAC claimed twice).

use std::time::{Duration, Instant};

use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, Image, ImageFormat, InspectionMode, ProvisioningState,
};
use metal3_ironic::types::state;
use metal3_ironic_provisioner::{Config, Hardware, IronicProvisioner};
use metal3_provisioner::{
    Credentials, HostData, InspectData, InspectOptions, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, ProvisionData, Provisioner, ProvisionerError, RebootMode, RegisterOptions,
};
use metal3_testenv::ironic::{Ironic, Options};

const ISO: &str = "http://images.example/live.iso";

fn provisioner(ironic: &Ironic, auth: Option<(&str, &str)>) -> IronicProvisioner {
    provisioner_with_timeout(ironic, auth, Duration::from_secs(10))
}

fn provisioner_with_timeout(
    ironic: &Ironic,
    auth: Option<(&str, &str)>,
    timeout: Duration,
) -> IronicProvisioner {
    let mut config = metal3_ironic::Config::new(ironic.url());
    if let Some((u, p)) = auth {
        config.auth = metal3_ironic::Auth::Basic {
            username: u.into(),
            password: p.into(),
        };
    }
    config.timeout = timeout;
    let client = metal3_ironic::Client::new(&config).expect("client");
    IronicProvisioner::new(
        client,
        Config {
            hardware: Hardware::Fake,
            short_wait: Duration::from_millis(200),
            long_wait: Duration::from_millis(300),
            ready_ttl: Duration::ZERO,
            ..Config::default()
        },
    )
}

fn host(name: &str, mac: &str) -> HostData {
    HostData {
        namespace: "ironic-test".into(),
        name: name.into(),
        uid: format!(
            "00000000-0000-4000-8000-{:012x}",
            name.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                & 0xffff_ffff_ffff
        ),
        bmc_address: "redfish+http://127.0.0.1:1/redfish/v1/Systems/1".into(),
        credentials: Credentials {
            username: "admin".into(),
            password: "s3cret-bmc".into(),
        },
        boot_mac_address: mac.into(),
        ..HostData::default()
    }
}

fn access(current: Option<Image>) -> ManagementAccessData {
    ManagementAccessData {
        boot_mode: BootMode::Uefi,
        automated_cleaning_mode: AutomatedCleaningMode::Metadata,
        inspection_mode: InspectionMode::Agent,
        current_image: current,
        ..ManagementAccessData::default()
    }
}

fn live_iso() -> Image {
    Image {
        url: ISO.into(),
        disk_format: Some(ImageFormat::LiveIso),
        ..Image::default()
    }
}

/// Calls `step` until it is done (or fails), within a deadline.
async fn until_done<F, Fut>(what: &str, mut step: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ProvisionerError>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match step().await {
            Ok(Outcome::InProgress { after }) => tokio::time::sleep(after).await,
            Ok(done) => return done,
            Err(ProvisionerError::NodeIsBusy) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("{what}: {e}"),
        }
        assert!(Instant::now() < deadline, "{what} never finished");
    }
}

/// Waits until `ok` holds, within a deadline.
async fn poll(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "never {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(p: &IronicProvisioner, host: &mut HostData, data: &ManagementAccessData) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (outcome, id) = p
            .register(host, data, RegisterOptions::default())
            .await
            .expect("register");
        if !id.is_empty() {
            host.provisioner_id = id;
        }
        match outcome {
            Outcome::Done => break,
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            Outcome::Failed { message } => panic!("registration failed: {message}"),
        }
        assert!(Instant::now() < deadline, "registration never finished");
    }
    assert!(!host.provisioner_id.is_empty());
}

async fn node_state(ironic: &Ironic, id: &str) -> String {
    let client =
        metal3_ironic::Client::new(&metal3_ironic::Config::new(ironic.url())).expect("client");
    client
        .node(id)
        .await
        .expect("node")
        .map(|n| n.provision_state)
        .unwrap_or_else(|| "(gone)".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_goes_through_the_whole_lifecycle_in_ironic() {
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let p = provisioner(&ironic, None);
    let mut h = host("worker-0", "52:54:00:00:00:01");
    register(&p, &mut h, &access(None)).await;
    assert_eq!(
        node_state(&ironic, &h.provisioner_id).await,
        state::MANAGEABLE
    );

    // Registration again is a no-op that answers at once.
    let (again, id) = p
        .register(&h, &access(None), RegisterOptions::default())
        .await
        .expect("register");
    assert_eq!(
        (again, id.as_str()),
        (Outcome::Done, h.provisioner_id.as_str())
    );

    let inspect = InspectData {
        boot_mode: BootMode::Uefi,
        inspection_mode: InspectionMode::Agent,
    };
    let mut started = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let details = loop {
        let out = p
            .inspect_hardware(&h, &inspect, InspectOptions::default())
            .await
            .expect("inspect");
        started |= out.started;
        match out.outcome {
            Outcome::Done => break out.details,
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            Outcome::Failed { message } => panic!("inspection failed: {message}"),
        }
        assert!(Instant::now() < deadline, "inspection never finished");
    };
    assert!(started, "inspection was started");
    assert!(details.is_some(), "inspection reports details");

    let prepared = p
        .prepare(&h, &PrepareData::default(), PrepareOptions::default())
        .await
        .expect("prepare");
    assert_eq!(prepared.outcome, Outcome::Done, "nothing to prepare");

    // Provision a live ISO: manageable → provide (cleaning) → available → active.
    let data = ProvisionData {
        image: live_iso(),
        boot_mode: BootMode::Uefi,
        ..ProvisionData::default()
    };
    let done = until_done("provision", || p.provision(&h, &data, false)).await;
    assert_eq!(done, Outcome::Done);
    assert_eq!(node_state(&ironic, &h.provisioner_id).await, state::ACTIVE);
    let client =
        metal3_ironic::Client::new(&metal3_ironic::Config::new(ironic.url())).expect("client");
    let node = client
        .node(&h.provisioner_id)
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(node.instance_info["boot_iso"], ISO);
    assert_eq!(node.instance_uuid.as_deref(), Some(h.uid.as_str()));
    assert_eq!(node.name.as_deref(), Some("ironic-test~worker-0"));
    assert_eq!(node.driver_info["redfish_username"], "admin");

    // Power.
    until_done("power on", || p.power_on(&h, false)).await;
    let power = p.update_hardware_state(&h).await.expect("power");
    assert_eq!(power.powered_on, Some(true));
    until_done("power off", || {
        p.power_off(&h, RebootMode::Soft, false, AutomatedCleaningMode::Metadata)
    })
    .await;
    assert_eq!(
        p.update_hardware_state(&h).await.expect("power").powered_on,
        Some(false)
    );

    // Deprovision with cleaning, then delete.
    let done = until_done("deprovision", || {
        p.deprovision(&h, false, AutomatedCleaningMode::Metadata)
    })
    .await;
    assert_eq!(done, Outcome::Done);
    assert_eq!(
        node_state(&ironic, &h.provisioner_id).await,
        state::AVAILABLE
    );
    until_done("delete", || p.delete(&h)).await;
    assert_eq!(node_state(&ironic, &h.provisioner_id).await, "(gone)");
    assert_eq!(
        p.inspect_hardware(&h, &inspect, InspectOptions::default())
            .await
            .err(),
        Some(ProvisionerError::NeedsRegistration)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ironic_faults_are_reported_and_recovered_from() {
    let mut ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let p = provisioner(&ironic, None);

    // The same boot MAC for a second host is a clear registration error.
    let mut first = host("first", "52:54:00:00:00:aa");
    register(&p, &mut first, &access(None)).await;
    let second = host("second", "52:54:00:00:00:AA");
    let (outcome, _) = p
        .register(&second, &access(None), RegisterOptions::default())
        .await
        .expect("register");
    match outcome {
        Outcome::Failed { message } => assert!(
            message.contains("conflicts with existing node ironic-test~first"),
            "{message}"
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }

    // A provisioned host...
    let data = ProvisionData {
        image: live_iso(),
        ..ProvisionData::default()
    };
    until_done("provision", || p.provision(&first, &data, false)).await;
    assert_eq!(
        node_state(&ironic, &first.provisioner_id).await,
        state::ACTIVE
    );

    // ...Ironic goes away: a transient error naming it, never a host failure.
    ironic.stop();
    match p
        .register(
            &first,
            &access(Some(live_iso())),
            RegisterOptions::default(),
        )
        .await
    {
        Err(ProvisionerError::Transient(m)) => {
            assert!(m.contains("cannot reach the provisioner"), "{m}");
            assert!(!m.contains("s3cret-bmc"), "{m}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }

    // ...and comes back with an empty database: the host is registered again and adopted
    // as it is, never deployed again.
    ironic.restart(true).await.expect("restart");
    assert_eq!(
        p.adopt(&first, &ProvisioningState::Provisioned, false)
            .await
            .err(),
        Some(ProvisionerError::NeedsRegistration)
    );
    let old_id = std::mem::take(&mut first.provisioner_id);
    register(&p, &mut first, &access(Some(live_iso()))).await;
    assert_ne!(first.provisioner_id, old_id, "a new node");
    let adopted = until_done("adopt", || {
        p.adopt(&first, &ProvisioningState::Provisioned, false)
    })
    .await;
    assert_eq!(adopted, Outcome::Done);
    assert_eq!(
        node_state(&ironic, &first.provisioner_id).await,
        state::ACTIVE
    );
    let client =
        metal3_ironic::Client::new(&metal3_ironic::Config::new(ironic.url())).expect("client");
    let node = client
        .node(&first.provisioner_id)
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(
        node.instance_info["boot_iso"], ISO,
        "adopted with its image"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_authentication_is_used_and_a_wrong_password_is_reported() {
    let ironic = Ironic::start(&Options {
        basic_auth: Some(("metal3".into(), "ironic-pw".into())),
        ..Options::default()
    })
    .await
    .expect("ironic");
    let good = provisioner(&ironic, Some(("metal3", "ironic-pw")));
    let mut h = host("authed", "52:54:00:00:00:10");
    register(&good, &mut h, &access(None)).await;

    let bad = provisioner(&ironic, Some(("metal3", "wrong-pw")));
    match bad
        .register(
            &host("other", ""),
            &access(None),
            RegisterOptions::default(),
        )
        .await
    {
        Err(ProvisionerError::Transient(m)) => {
            assert!(m.contains("401"), "{m}");
            assert!(!m.contains("wrong-pw"), "{m}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_ironic_is_a_transient_error_until_it_answers_again() {
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let p = provisioner_with_timeout(&ironic, None, Duration::from_secs(2));
    let mut h = host("patient", "52:54:00:00:00:20");
    register(&p, &mut h, &access(None)).await;

    // Frozen: it accepts connections and answers nothing. Each call gives up after the
    // client's timeout with a transient error; nothing is reported as the host's failure.
    ironic.pause();
    let started = Instant::now();
    match p
        .register(&h, &access(None), RegisterOptions::default())
        .await
    {
        Err(ProvisionerError::Transient(m)) => {
            assert!(m.contains("cannot reach the provisioner"), "{m}");
            assert!(m.to_lowercase().contains("timed out"), "{m}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "gave up after the timeout, not never"
    );

    ironic.resume();
    register(&p, &mut h, &access(None)).await;
    assert_eq!(
        node_state(&ironic, &h.provisioner_id).await,
        state::MANAGEABLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_node_event_subscriptions_and_data_images_reach_the_bmc() {
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let fleet = metal3_sim::Fleet::new(1, "admin", "bmc-pw");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let server = fleet.host(0).expect("server");
    let mut config = metal3_ironic::Config::new(ironic.url());
    config.timeout = Duration::from_secs(30);
    let p = IronicProvisioner::new(
        metal3_ironic::Client::new(&config).expect("client"),
        Config {
            short_wait: Duration::from_millis(200),
            long_wait: Duration::from_millis(300),
            ready_ttl: Duration::ZERO,
            ..Config::default()
        },
    );
    let mut h = HostData {
        bmc_address: format!(
            "redfish-virtualmedia+http://{addr}/redfish/v1/Systems/{}",
            server.id
        ),
        credentials: Credentials {
            username: "admin".into(),
            password: "bmc-pw".into(),
        },
        ..host("events", &server.macs[0])
    };
    // Ironic's manage verifies the BMC: a real Redfish conversation with the simulator.
    register(&p, &mut h, &access(None)).await;

    let subscription = metal3_provisioner::EventSubscription {
        destination: "http://127.0.0.1:9/events".into(),
        context: "metal3-test".into(),
        http_headers: [("X-Token".to_string(), "header-secret".to_string())].into(),
    };
    let (outcome, id) = p
        .add_bmc_event_subscription(&h, &subscription)
        .await
        .expect("subscribe");
    assert_eq!(outcome, Outcome::Done);
    assert!(!id.is_empty(), "the BMC's subscription id is returned");
    // What the BMC itself says, over Redfish.
    let bmc_get = |path: String| async move {
        reqwest::Client::new()
            .get(format!("http://{addr}{path}"))
            .basic_auth("admin", Some("bmc-pw"))
            .send()
            .await
            .expect("BMC answers")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    let subscriptions = "/redfish/v1/EventService/Subscriptions".to_string();
    let listed = bmc_get(subscriptions.clone()).await;
    let members = listed["Members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 1, "{listed}");
    let path = members[0]["@odata.id"].as_str().expect("member path");
    let sub = bmc_get(path.to_string()).await;
    assert_eq!(sub["Destination"], "http://127.0.0.1:9/events");
    assert_eq!(sub["Context"], "metal3-test");
    assert_eq!(sub["Id"], id.as_str());

    until_done("unsubscribe", || p.remove_bmc_event_subscription(&h, &id)).await;
    let listed = bmc_get(subscriptions).await;
    assert_eq!(listed["Members"], serde_json::json!([]), "{listed}");

    // A data image goes onto the BMC's virtual CD through Ironic's vmedia API. As upstream
    // asks, Ironic fetches the image itself and serves the BMC its own copy.
    let images = metal3_testenv::files::serve_bytes(b"data image bytes").expect("image server");
    let image = format!("{images}/data.iso");
    let attached = until_done("attach", || p.attach_data_image(&h, &image)).await;
    assert_eq!(attached, Outcome::Done);
    // The conductor works after the API answers; the BMC shows the medium soon after.
    poll("medium inserted", || {
        fleet.host(0).is_some_and(|s| s.cd.inserted)
    })
    .await;
    let shown = p.data_image_status(&h).await.expect("status").attached_url;
    assert_eq!(shown, fleet.host(0).expect("server").cd.image);
    assert!(
        shown.is_some_and(|u| u.ends_with(".iso")),
        "an ISO is attached"
    );
    let detached = until_done("detach", || p.detach_data_image(&h)).await;
    assert_eq!(detached, Outcome::Done);
    poll("medium ejected", || {
        fleet.host(0).is_some_and(|s| !s.cd.inserted)
    })
    .await;
    assert_eq!(
        p.data_image_status(&h).await.expect("status").attached_url,
        None
    );
}

const NETWORK_DATA: &str = r#"
links:
  - id: eth0
    type: phy
    ethernet_mac_address: "52:54:00:00:00:31"
networks:
  - id: provisioning
    type: ipv4
    link: eth0
    ip_address: 192.0.2.31
    netmask: 255.255.255.0
    network_id: provisioning
services:
  - type: dns
    address: 192.0.2.1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_gives_the_node_its_ramdisk_network_data_ports_and_new_name() {
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let p = provisioner(&ironic, None);
    let client =
        metal3_ironic::Client::new(&metal3_ironic::Config::new(ironic.url())).expect("client");

    // Preprovisioning network data (no preprovisioning image carries it) and the NICs an
    // earlier inspection found.
    let mut h = host("static-ip", "52:54:00:00:00:31");
    let details = metal3_api::v1alpha1::HardwareDetails {
        nics: vec![
            metal3_api::v1alpha1::Nic {
                name: "eth0".into(),
                mac: "52:54:00:00:00:31".into(),
                pxe: true,
                ..Default::default()
            },
            metal3_api::v1alpha1::Nic {
                name: "eth1".into(),
                mac: "52:54:00:00:00:32".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    // eth1 is named with the switch port it is cabled to and a trunk attachment.
    h.network_interfaces = serde_json::from_value(serde_json::json!([
        {"name": "eth1", "hostNetworkAttachment": {"name": "storage"},
         "switchPort": {"switchID": "AA:BB:CC:DD:EE:FF", "portID": "Ethernet1/12"}}
    ]))
    .expect("interfaces");
    h.network_attachments = std::collections::BTreeMap::from([(
        "ironic-test/storage".to_string(),
        serde_json::from_value(serde_json::json!({
            "mode": "trunk", "nativeVLAN": 200, "allowedVLANs": ["300-302"], "mtu": 9000
        }))
        .expect("attachment"),
    )]);
    let data = ManagementAccessData {
        preprovisioning_network_data: NETWORK_DATA.into(),
        hardware_details: Some(details),
        ..access(None)
    };
    register(&p, &mut h, &data).await;
    let node = client
        .node(&h.provisioner_id)
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(node.network_data["links"][0]["id"], "eth0");
    assert_eq!(node.network_data["networks"][0]["ip_address"], "192.0.2.31");
    let mut ports: Vec<(String, bool)> = client
        .ports_of(&node.uuid)
        .await
        .expect("ports")
        .into_iter()
        .map(|p| (p.address, p.pxe_enabled.unwrap_or(false)))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            ("52:54:00:00:00:31".to_string(), true),
            ("52:54:00:00:00:32".to_string(), false)
        ]
    );
    let links: Vec<(String, serde_json::Value)> = client
        .ports_of(&node.uuid)
        .await
        .expect("ports")
        .into_iter()
        .map(|p| (p.address, p.local_link_connection))
        .collect();
    let eth1 = links
        .iter()
        .find(|(mac, _)| mac == "52:54:00:00:00:32")
        .expect("eth1's port");
    assert_eq!(eth1.1["switch_id"], "aa:bb:cc:dd:ee:ff", "{links:?}");
    assert_eq!(eth1.1["port_id"], "Ethernet1/12", "{links:?}");
    let extras: Vec<(String, serde_json::Value)> = client
        .ports_of(&node.uuid)
        .await
        .expect("ports")
        .into_iter()
        .map(|p| (p.address, p.extra))
        .collect();
    let eth1 = extras
        .iter()
        .find(|(mac, _)| mac == "52:54:00:00:00:32")
        .expect("eth1's port");
    assert_eq!(
        eth1.1["switchport"],
        serde_json::json!({"mode": "trunk", "native_vlan": 200,
                           "allowed_vlans": [300, 301, 302], "mtu": 9000}),
        "{extras:?}"
    );

    // Changed network data is patched onto the node; invalid data is a registration error
    // that names the Secret.
    let changed = NETWORK_DATA.replace("192.0.2.31", "192.0.2.41");
    register(
        &p,
        &mut h,
        &ManagementAccessData {
            preprovisioning_network_data: changed,
            ..access(None)
        },
    )
    .await;
    let node = client
        .node(&h.provisioner_id)
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(node.network_data["networks"][0]["ip_address"], "192.0.2.41");
    let (outcome, _) = p
        .register(
            &h,
            &ManagementAccessData {
                preprovisioning_network_data: "links: [".into(),
                ..access(None)
            },
            RegisterOptions::default(),
        )
        .await
        .expect("register");
    match outcome {
        Outcome::Failed { message } => {
            assert!(
                message.contains("preprovisioningNetworkDataName"),
                "{message}"
            )
        }
        other => panic!("expected a registration error, got {other:?}"),
    }

    // A node an old operator named after the host alone is found and renamed.
    let legacy = client
        .create_node(&serde_json::json!({"name": "old-style", "driver": "fake-hardware"}))
        .await
        .expect("legacy node");
    let mut old = host("old-style", "");
    register(&p, &mut old, &access(None)).await;
    assert_eq!(old.provisioner_id, legacy.uuid, "the same node");
    let renamed = client
        .node(&legacy.uuid)
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(renamed.name.as_deref(), Some("ironic-test~old-style"));
}

/// Calls prepare until it is done or fails; returns the outcome and whether a call started it.
async fn prepare_until_settled(
    p: &IronicProvisioner,
    h: &HostData,
    data: &PrepareData,
    restart: bool,
) -> (Outcome, bool) {
    let mut started = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = p
            .prepare(
                h,
                data,
                PrepareOptions {
                    unprepared: true,
                    restart,
                },
            )
            .await
            .expect("prepare");
        started |= out.started;
        match out.outcome {
            Outcome::InProgress { after } => tokio::time::sleep(after).await,
            settled => return (settled, started),
        }
        assert!(Instant::now() < deadline, "preparing never settled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparing_runs_clean_steps_once_and_reports_a_failed_cleaning() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use metal3_api::v1alpha1::{HardwareRaidLevel, HardwareRaidVolume, RaidConfig};
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let p = provisioner(&ironic, None);
    let mut h = host("prepared", "52:54:00:00:00:40");
    register(&p, &mut h, &access(None)).await;
    let client =
        metal3_ironic::Client::new(&metal3_ironic::Config::new(ironic.url())).expect("client");

    // BIOS settings: manual cleaning with bios.apply_configuration (Ironic's fake BIOS).
    let bios = PrepareData {
        target_firmware_settings: [(
            "ProcTurboMode".to_string(),
            IntOrString::String("Disabled".into()),
        )]
        .into(),
        ..PrepareData::default()
    };
    let (outcome, started) = prepare_until_settled(&p, &h, &bios, false).await;
    assert_eq!(outcome, Outcome::Done);
    assert!(started, "cleaning was started");
    assert_eq!(
        node_state(&ironic, &h.provisioner_id).await,
        state::MANAGEABLE
    );
    let history = client.history(&h.provisioner_id).await.expect("history");
    assert!(
        !history
            .iter()
            .any(|e| e.severity.eq_ignore_ascii_case("error")),
        "{history:?}"
    );
    // The same settings again: already applied, nothing is cleaned twice.
    let again = p
        .prepare(
            &h,
            &bios,
            PrepareOptions {
                unprepared: true,
                ..Default::default()
            },
        )
        .await
        .expect("prepare");
    assert_eq!((again.outcome, again.started), (Outcome::Done, false));

    // Hardware RAID: Ironic's fake RAID interface offers no clean steps, so cleaning fails,
    // and the host is told why in Ironic's words.
    let raid = PrepareData {
        target_raid: Some(RaidConfig {
            hardware_raid_volumes: Some(vec![HardwareRaidVolume {
                size_gibibytes: Some(100),
                level: HardwareRaidLevel::Raid1,
                name: "root".into(),
                rotational: None,
                number_of_physical_disks: None,
                controller: String::new(),
                physical_disks: Vec::new(),
            }]),
            software_raid_volumes: None,
        }),
        ..PrepareData::default()
    };
    let (outcome, _) = prepare_until_settled(&p, &h, &raid, false).await;
    match outcome {
        Outcome::Failed { message } => {
            assert!(message.starts_with("Cleaning failed: "), "{message}");
            assert!(message.contains("create_configuration"), "{message}");
        }
        other => panic!("expected a cleaning failure, got {other:?}"),
    }
    // A retry (restart) takes the node out of the failure, back to manageable.
    let retried = p
        .prepare(
            &h,
            &PrepareData::default(),
            PrepareOptions {
                unprepared: true,
                restart: true,
            },
        )
        .await
        .expect("prepare");
    assert!(retried.started, "{retried:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while node_state(&ironic, &h.provisioner_id).await != state::MANAGEABLE {
        assert!(Instant::now() < deadline, "never manageable again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
