//! `metal3 operator --provisioner ironic` against a real OpenStack Ironic (from PyPI, on
//! loopback) and the real API server: BareMetalHosts through the whole lifecycle with Ironic's
//! `fake-hardware` driver, and with `redfish` nodes whose BMCs are our simulator; Ironic going
//! away and coming back empty.

use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_ironic::types::state;
use metal3_sim::fleet::{Power, Running};
use metal3_testenv::ironic::{FakeSystem, Ironic, Options, SushyEmulator};
use serde_json::json;

mod common;
use common::{create_all, fleet_objects, operator, tail, wait_for};

const ISO: &str = "http://images.example/live.iso";

fn ironic_client(ironic: &Ironic) -> metal3_ironic::Client {
    let mut config = metal3_ironic::Config::new(ironic.url());
    if let Some((username, password)) = ironic.basic_auth() {
        config.auth = metal3_ironic::Auth::Basic { username, password };
    }
    metal3_ironic::Client::new(&config).expect("client")
}

/// Ironic's nodes as (name, provision state).
async fn nodes(ironic: &Ironic) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ironic_client(ironic)
        .nodes(&["uuid", "name", "provision_state"])
        .await
        .expect("nodes")
        .into_iter()
        .map(|n| (n.name.unwrap_or_default(), n.provision_state))
        .collect();
    out.sort();
    out
}

fn error_of(h: &BareMetalHost) -> String {
    h.status
        .as_ref()
        .map(|s| s.error_message.clone())
        .unwrap_or_default()
}

fn state_of(h: &BareMetalHost) -> String {
    h.provisioning_state().as_str().to_string()
}

async fn set_image(hosts: &Api<BareMetalHost>, names: &[String], image: serde_json::Value) {
    for name in names {
        let patch = json!({"spec": {"image": image}});
        hosts
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
}

async fn delete_all(hosts: &Api<BareMetalHost>, names: &[String], logs: &std::path::Path) {
    for name in names {
        hosts
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = hosts.list(&Default::default()).await.expect("list").items;
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} hosts not deleted\n{}",
            left.len(),
            tail(logs)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_through_the_lifecycle_with_fake_hardware_and_an_ironic_that_goes_away() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "ironic-fake")
        .await
        .expect("namespace");
    let mut ironic = Ironic::start(&Options::default()).await.expect("ironic");
    // Addresses only: fake hardware never talks to a BMC.
    let fleet = metal3_sim::Fleet::new(3, "admin", "pw");
    let mut objects = fleet_objects(&fleet, ([127, 0, 0, 1], 9).into());
    // The last host has static network data for the agent's ramdisk (no DHCP).
    objects.insert(
        0,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "ramdisk-network"},
            "stringData": {"networkData": "links:\n- id: eth0\n  type: phy\n  ethernet_mac_address: \"52:54:00:00:00:31\"\nnetworks: []\nservices: []\n"},
        }),
    );
    if let Some(last) = objects
        .iter_mut()
        .rev()
        .find(|o| o["kind"] == "BareMetalHost")
    {
        last["spec"]["preprovisioningNetworkDataName"] = json!("ramdisk-network");
    }
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names = create_all(&client, &ns, objects).await;
    let no_auth = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let url = ironic.url();
    let _operator = operator(
        cp,
        &ns,
        &logs,
        &[
            "--provisioner",
            "ironic",
            "--ironic-fake-hardware",
            "--ironic-poll-ms",
            "300",
            "--error-backoff-seconds",
            "1",
        ],
        &[
            ("IRONIC_ENDPOINT", url.as_str()),
            ("METAL3_AUTH_ROOT_DIR", &no_auth.path().to_string_lossy()),
        ],
    );
    wait_for(&hosts, &names, "available", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    let first = hosts.get(&names[0]).await.expect("host");
    let id = first
        .status
        .as_ref()
        .map(|s| s.provisioning.id.clone())
        .unwrap_or_default();
    let node = ironic_client(&ironic)
        .node(&id)
        .await
        .expect("node")
        .expect("the host's node");
    assert_eq!(node.name, Some(format!("{ns}~{}", names[0])));
    assert_eq!(node.provision_state, state::MANAGEABLE);
    assert_eq!(node.driver, "fake-hardware");
    let last = ironic_client(&ironic)
        .node(&format!("{ns}~{}", names[2]))
        .await
        .expect("node")
        .expect("the last host's node");
    assert_eq!(
        last.network_data["links"][0]["ethernet_mac_address"], "52:54:00:00:00:31",
        "preprovisioning network data reaches the node"
    );

    // Two live ISOs and one disk image with user data (a config drive).
    let (live, disk) = names.split_at(2);
    set_image(&hosts, live, json!({"url": ISO, "format": "live-iso"})).await;
    let patch = json!({"spec": {
        "image": {"url": "http://images.example/os.qcow2", "checksum": "0123456789abcdef0123456789abcdef", "checksumType": "md5", "format": "qcow2"},
    }});
    hosts
        .patch(&disk[0], &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    wait_for(&hosts, &names, "provisioned", logs.path(), |h| {
        state_of(h) == "provisioned"
    })
    .await;
    let all_active = nodes(&ironic).await;
    assert!(
        all_active.iter().all(|(_, s)| s == state::ACTIVE),
        "{all_active:?}"
    );
    let disk_node = ironic_client(&ironic)
        .node(&format!("{ns}~{}", disk[0]))
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(disk_node.instance_info["image_os_hash_algo"], "md5");
    assert_eq!(
        disk_node.instance_info["image_source"],
        "http://images.example/os.qcow2"
    );

    // Ironic goes away: the hosts say so, and go on once it is back.
    ironic.stop();
    wait_for(&hosts, &names, "reporting Ironic down", logs.path(), |h| {
        error_of(h).contains("cannot reach the provisioner")
    })
    .await;
    ironic.restart(false).await.expect("restart");
    wait_for(&hosts, &names, "recovered", logs.path(), |h| {
        state_of(h) == "provisioned" && error_of(h).is_empty()
    })
    .await;

    // Ironic comes back with an empty database: provisioned hosts are registered again and
    // adopted as they are, never deployed again.
    ironic.restart(true).await.expect("restart empty");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = nodes(&ironic).await;
        if now.len() == names.len() && now.iter().all(|(_, s)| s == state::ACTIVE) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not adopted: {now:?}\n{}",
            tail(logs.path())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let client = ironic_client(&ironic);
    for name in &names {
        let node = client
            .node(&format!("{ns}~{name}"))
            .await
            .expect("node")
            .expect("exists");
        let history = client.history(&node.uuid).await.expect("history");
        assert!(
            !history.iter().any(|e| e.event.contains("deploy")),
            "{name} was deployed again: {history:?}"
        );
    }
    wait_for(
        &hosts,
        &names,
        "provisioned with the new nodes",
        logs.path(),
        |h| {
            state_of(h) == "provisioned"
                && error_of(h).is_empty()
                && h.status.as_ref().is_some_and(|s| s.provisioning.id != id)
        },
    )
    .await;

    // Deprovision (with cleaning) and delete: the nodes leave Ironic.
    set_image(&hosts, &names, serde_json::Value::Null).await;
    wait_for(&hosts, &names, "available again", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    delete_all(&hosts, &names, logs.path()).await;
    assert_eq!(nodes(&ironic).await, Vec::<(String, String)>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_nodes_boot_live_isos_on_the_simulated_bmcs() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "ironic-redfish")
        .await
        .expect("namespace");
    let ironic = Ironic::start(&Options {
        basic_auth: Some(("metal3".into(), "ironic-pw".into())),
        ..Options::default()
    })
    .await
    .expect("ironic");
    let fleet = metal3_sim::Fleet::with_credentials(2, "admin", "pw", true);
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let mut objects = fleet_objects(&fleet, addr);
    // Without an agent: out-of-band inspection, no automated cleaning.
    for host in objects.iter_mut().filter(|o| o["kind"] == "BareMetalHost") {
        host["spec"]["inspectionMode"] = json!("fast");
        host["spec"]["automatedCleaningMode"] = json!("disabled");
    }
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names = create_all(&client, &ns, objects).await;
    // Upstream's auth directory layout: <root>/ironic/{username,password}.
    let auth = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(auth.path().join("ironic")).expect("mkdir");
    std::fs::write(auth.path().join("ironic/username"), "metal3").expect("write");
    std::fs::write(auth.path().join("ironic/password"), "ironic-pw").expect("write");
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let url = format!("{}/v1/", ironic.url());
    let _operator = operator(
        cp,
        &ns,
        &logs,
        &["--provisioner", "ironic", "--ironic-poll-ms", "500"],
        &[
            ("IRONIC_ENDPOINT", url.as_str()),
            ("METAL3_AUTH_ROOT_DIR", &auth.path().to_string_lossy()),
            ("DEPLOY_ISO_URL", "http://images.example/ipa.iso"),
        ],
    );
    wait_for(&hosts, &names, "available", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    let hardware = hosts
        .get(&names[0])
        .await
        .expect("host")
        .status
        .and_then(|s| s.hardware)
        .expect("inspected out of band");
    assert_eq!(hardware.cpu.count, 32);
    assert_eq!(hardware.ram_mebibytes, 64 * 1024);
    assert_eq!(hardware.system_vendor.manufacturer, "Metal3");

    set_image(&hosts, &names, json!({"url": ISO, "format": "live-iso"})).await;
    wait_for(&hosts, &names, "provisioned", logs.path(), |h| {
        state_of(h) == "provisioned"
    })
    .await;
    for name in &names {
        let index: usize = name.trim_start_matches("sim-").parse().expect("index");
        let server = fleet.host(index).expect("server");
        assert_eq!(server.running, Running::VirtualMedia(ISO.into()), "{name}");
        assert_eq!(server.power, Power::On, "{name}");
    }
    set_image(&hosts, &names, serde_json::Value::Null).await;
    wait_for(&hosts, &names, "available again", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    for name in &names {
        let index: usize = name.trim_start_matches("sim-").parse().expect("index");
        let server = fleet.host(index).expect("server");
        assert!(!server.cd.inserted, "{name}: medium ejected");
        // Deprovisioning powered it off; `online: true` may have powered it on again since,
        // but not into the ISO.
        assert_ne!(server.running, Running::VirtualMedia(ISO.into()), "{name}");
    }
    delete_all(&hosts, &names, logs.path()).await;
    assert!(nodes(&ironic).await.is_empty());
    let shown = std::fs::read_to_string(logs.path()).unwrap_or_default();
    assert!(
        !shown.contains("ironic-pw"),
        "the Ironic password is not logged"
    );
}

/// A Redfish GET on the sushy-tools emulator.
async fn emulator_get(emulator: &SushyEmulator, path: &str) -> serde_json::Value {
    reqwest_get(&format!("{}{path}", emulator.url())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_nodes_on_the_sushy_tools_emulator() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "ironic-sushy")
        .await
        .expect("namespace");
    let ironic = Ironic::start(&Options::default()).await.expect("ironic");
    let systems: Vec<FakeSystem> = (0..2)
        .map(|i| FakeSystem {
            uuid: format!("5d1e1a3c-0000-4000-8000-00000000000{i}"),
            name: format!("sushy-{i}"),
            mac: format!("52:54:00:5e:00:0{i}"),
        })
        .collect();
    let emulator = SushyEmulator::start(&systems)
        .await
        .expect("sushy-emulator");
    let images = metal3_testenv::files::serve_bytes(
        b"not really an ISO, but the emulator only downloads it",
    )
    .expect("image server");
    let iso = format!("{images}/live.iso");
    let mut objects = vec![json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sushy-bmc"},
        "stringData": {"username": "admin", "password": "sushy-pw"},
    })];
    for s in &systems {
        objects.push(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": s.name},
            "spec": {
                "online": false,
                "bootMACAddress": s.mac,
                "bootMode": "UEFI",
                "bmc": {
                    "address": format!("redfish-virtualmedia+{}/redfish/v1/Systems/{}", emulator.url(), s.uuid),
                    "credentialsName": "sushy-bmc",
                },
                "inspectionMode": "disabled",
                "automatedCleaningMode": "disabled",
            },
        }));
    }
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names = create_all(&client, &ns, objects).await;
    let no_auth = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let url = ironic.url();
    let _operator = operator(
        cp,
        &ns,
        &logs,
        &["--provisioner", "ironic", "--ironic-poll-ms", "500"],
        &[
            ("IRONIC_ENDPOINT", url.as_str()),
            ("METAL3_AUTH_ROOT_DIR", &no_auth.path().to_string_lossy()),
            ("DEPLOY_ISO_URL", "http://images.example/ipa.iso"),
        ],
    );
    wait_for(&hosts, &names, "available", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    let node = ironic_client(&ironic)
        .node(&format!("{ns}~{}", names[0]))
        .await
        .expect("node")
        .expect("exists");
    assert_eq!(node.driver, "redfish");
    assert_eq!(
        node.boot_interface.as_deref(),
        Some("redfish-virtual-media")
    );

    // Live ISOs: Ironic sets the boot device, inserts the medium (the emulator downloads it)
    // and powers the systems on.
    for name in &names {
        let patch = json!({"spec": {"online": true, "image": {"url": iso, "format": "live-iso"}}});
        hosts
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    wait_for(&hosts, &names, "provisioned and on", logs.path(), |h| {
        state_of(h) == "provisioned" && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    for s in &systems {
        let system = emulator_get(&emulator, &format!("/redfish/v1/Systems/{}", s.uuid)).await;
        assert_eq!(system["PowerState"], "On", "{}", s.name);
        assert_eq!(
            system["Boot"]["BootSourceOverrideTarget"], "Cd",
            "{}",
            s.name
        );
        let cd = emulator_get(
            &emulator,
            &format!("/redfish/v1/Systems/{}/VirtualMedia/Cd", s.uuid),
        )
        .await;
        assert_eq!(cd["Inserted"], true, "{}: {cd}", s.name);
        assert_eq!(cd["Image"], iso.as_str(), "{}", s.name);
    }

    // Power off through the BareMetalHost, then deprovision: the medium is ejected.
    let off = json!({"spec": {"online": false}});
    hosts
        .patch(&names[0], &PatchParams::default(), &Patch::Merge(&off))
        .await
        .expect("patch");
    wait_for(&hosts, &names[..1], "powered off", logs.path(), |h| {
        h.status.as_ref().is_some_and(|s| !s.powered_on)
    })
    .await;
    let system = emulator_get(
        &emulator,
        &format!("/redfish/v1/Systems/{}", systems[0].uuid),
    )
    .await;
    assert_eq!(system["PowerState"], "Off");
    set_image(&hosts, &names, serde_json::Value::Null).await;
    wait_for(&hosts, &names, "available again", logs.path(), |h| {
        state_of(h) == "available"
    })
    .await;
    for s in &systems {
        let cd = emulator_get(
            &emulator,
            &format!("/redfish/v1/Systems/{}/VirtualMedia/Cd", s.uuid),
        )
        .await;
        assert_eq!(cd["Inserted"], false, "{}: medium ejected: {cd}", s.name);
    }
    delete_all(&hosts, &names, logs.path()).await;
    assert!(nodes(&ironic).await.is_empty());
    let shown = std::fs::read_to_string(logs.path()).unwrap_or_default();
    assert!(
        !shown.contains("sushy-pw"),
        "the BMC password is not logged"
    );
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match async { reqwest::get(url).await?.error_for_status()?.json().await }.await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("GET {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
