//! The proof on real machines: `metal3 operator --provisioner redfish` with the agent, against
//! two qemu VMs behind the simulator's BMCs and the real API server. The hosts are inspected
//! in band (their real disks and NICs in HardwareData), provisioned with the VM test image —
//! one raw with a checksums file, one qcow2 with root device hints choosing its second disk —
//! and boot it from disk with their config drive (hostname, user data); then deprovisioned
//! with metadata cleaning (the root disks wiped), and deleted. Failures on the way (a wrong
//! checksum, an image that is not there, hints no disk matches) are clear errors on the host.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_sim::vm::{DiskBus, Firmware, VmOptions};
use serde_json::json;

mod common;
use common::agent_lab::{
    STEP, World, agent_flags, available, first_mib_is_zero, from_env_or_hack, image_server, spec,
};
use common::{create_all, fleet_objects, free_port, operator, tail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vms_through_inspection_provisioning_cleaning_and_deletion_with_the_agent() {
    let images = from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh", &[]);
    let iso = from_env_or_hack("METAL3_AGENT_ISO", "agent/build.sh", &["--iso"]);
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "agent-vm").await.expect("namespace");

    // Two real machines: sim-0 with SeaBIOS and one 8 GiB disk, sim-1 with UEFI, a 6 GiB
    // virtio disk and a 5 GiB SCSI disk that root device hints will choose.
    let state = tempfile::tempdir().expect("state");
    let fleet = metal3_sim::Fleet::new(2, "admin", "pw");
    fleet
        .attach_vms(
            &VmOptions::new(state.path()),
            vec![
                (
                    0,
                    spec(Firmware::Bios, &[("A-ROOT", 8 << 30, DiskBus::Virtio)]),
                ),
                (
                    1,
                    spec(
                        Firmware::Uefi,
                        &[
                            ("B-DATA", 6 << 30, DiskBus::Virtio),
                            ("B-ROOT", 5 << 30, DiskBus::Scsi),
                        ],
                    ),
                ),
            ],
        )
        .expect("VMs");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let port = image_server(images.clone()).await;
    let url = |file: &str| format!("http://10.0.2.2:{port}/{file}");
    let mut objects = fleet_objects(&fleet, addr);
    for host in objects.iter_mut().filter(|o| o["kind"] == "BareMetalHost") {
        let legacy = host["metadata"]["name"] == "sim-0";
        host["spec"]["bootMode"] = json!(if legacy { "legacy" } else { "UEFI" });
    }
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let names = create_all(&client, &ns, objects).await;
    assert_eq!(names, ["sim-0", "sim-1"]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let user_data: Secret = serde_json::from_value(json!({
        "metadata": {"name": "user-data"},
        "stringData": {"userData": "#cloud-config\nanswer: 42\n"},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &user_data)
        .await
        .expect("user data");
    let network_data: Secret = serde_json::from_value(json!({
        "metadata": {"name": "network-data"},
        "stringData": {"networkData": r#"{"links": [{"id": "marker-link", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01"}], "networks": [], "services": []}"#},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &network_data)
        .await
        .expect("network data");

    let hub = free_port();
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let flags = agent_flags(&iso, hub, &ns);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut operator = operator(cp, &ns, &logs, &flags, &[]);
    let world = World {
        hosts: hosts.clone(),
        fleet: fleet.clone(),
        logs,
    };

    // In-band inspection: the VMs' own disks and NIC.
    world
        .wait(&["sim-0", "sim-1"], "available", available)
        .await;
    for (i, serials) in [(0, vec!["A-ROOT"]), (1, vec!["B-DATA", "B-ROOT"])] {
        let h = hosts.get(&names[i]).await.expect("host");
        let hardware = h
            .status
            .as_ref()
            .and_then(|s| s.hardware.clone())
            .expect("hardware");
        let mut seen: Vec<String> = hardware
            .storage
            .iter()
            .map(|d| d.serial_number.clone())
            .collect();
        seen.sort();
        assert_eq!(seen, serials, "sim-{i}'s disks");
        let mac = fleet.host(i).expect("server").macs[0].clone();
        assert!(
            hardware
                .nics
                .iter()
                .any(|n| n.mac == mac && n.ip == "10.0.2.15"),
            "sim-{i}: the boot NIC with its DHCP address in {:?}",
            hardware.nics
        );
        assert_eq!(hardware.ram_mebibytes, 512, "sim-{i}");
    }

    // Provision: a raw image checked against a checksums file, and a qcow2 image with a
    // literal checksum on the disk the hints choose. With fast track the agents stand by on
    // the available hosts: each writes and reboots once into its image (one power-on self
    // test per provision, counted by the simulator).
    let boots = |i: usize| fleet.host(i).expect("server").boots;
    let boots_before = [boots(0), boots(1)];
    let sha512 = std::fs::read_to_string(images.join("test-uefi.qcow2.sha512")).expect("sha512");
    let sha512 = sha512.split_whitespace().next().expect("hash");
    world
        .patch(
            "sim-0",
            json!({"spec": {
                "image": {"url": url("test-bios.raw"), "checksum": url("test-bios.raw.sha256"),
                          "checksumType": "sha256", "format": "raw"},
                "userData": {"name": "user-data"},
            }}),
        )
        .await;
    world
        .patch(
            "sim-1",
            json!({"spec": {
                "image": {"url": url("test-uefi.qcow2"), "checksum": sha512,
                          "checksumType": "sha512", "format": "qcow2"},
                "rootDeviceHints": {"serialNumber": "B-ROOT"},
                "userData": {"name": "user-data"},
                "networkData": {"name": "network-data"},
            }}),
        )
        .await;
    world
        .wait(&["sim-0", "sim-1"], "provisioned", |h| {
            h.provisioning_state().as_str() == "provisioned"
        })
        .await;
    // The operator's step log shows the agent's steps while provisioning (the log is written
    // a few seconds after the state is entered: poll).
    let logs: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut agent_steps = Vec::new();
    for name in ["sim-0", "sim-1"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let steps = loop {
            let steps = logs
                .get_opt(&format!("{name}.steps"))
                .await
                .expect("read the host's step log")
                .and_then(|cm| cm.data)
                .and_then(|d| d.get(metal3_fleet::steps::DATA_KEY).cloned())
                .map(|data| metal3_fleet::steps::parse(&data))
                .unwrap_or_default();
            let states: Vec<&str> = steps
                .iter()
                .filter(|s| s.error.is_empty() && s.progress.is_empty())
                .map(|s| s.state.as_str())
                .collect();
            if states.ends_with(&["provisioning", "provisioned"]) {
                break steps;
            }
            assert!(Instant::now() < deadline, "{name}: {steps:#?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        agent_steps.extend(
            steps
                .iter()
                .filter(|s| s.state == "provisioning" && !s.progress.is_empty())
                .map(|s| s.progress.clone()),
        );
    }
    assert!(
        agent_steps.iter().any(|p| p.contains("image")),
        "the agent's steps while provisioning: {agent_steps:?}"
    );
    // Each boots its image from disk and finds its config drive.
    for (i, source, disk) in [(0, "disk-bios", "/dev/vda"), (1, "disk-uefi", "/dev/sda")] {
        let console = world.wait_console(i, "METAL3-TEST-IMAGE ready", 1).await;
        assert!(console.contains(&format!("source={source}")), "{console}");
        assert!(
            console.contains(&format!("config-drive {disk}")),
            "sim-{i}'s config drive is on its root disk: {console}"
        );
        assert!(console.contains(&format!("hostname=sim-{i}")), "{console}");
        assert!(console.contains("answer: 42"), "{console}");
        assert_eq!(
            console.contains("marker-link"),
            i == 1,
            "only sim-1 has network data: {console}"
        );
        assert_eq!(
            boots(i) - boots_before[i],
            1,
            "sim-{i}: one boot from available to its image running (fast track)"
        );
    }

    // Failures leave a clear error on the host.
    world
        .patch("sim-0", json!({"spec": {"image": null, "userData": null}}))
        .await;
    world.wait(&["sim-0"], "available again", available).await;
    let root_a = fleet.vm(0).expect("vm").files.disk(0);
    assert!(first_mib_is_zero(&root_a), "sim-0's disk was cleaned");
    let bad = |file: &str| {
        json!({"image": {"url": url(file), "checksum": "0".repeat(64),
                         "checksumType": "sha256", "format": "raw"}})
    };
    world
        .fails_then_clears("sim-0", bad("test-bios.raw"), "checksum")
        .await;
    assert!(first_mib_is_zero(&root_a), "a failed write leaves no image");
    world
        .fails_then_clears("sim-0", bad("no-such-image.raw"), "404")
        .await;

    // Deprovision sim-1 with metadata cleaning; then hints that match no disk.
    world
        .patch(
            "sim-1",
            json!({"spec": {"image": null, "userData": null, "networkData": null}}),
        )
        .await;
    world.wait(&["sim-1"], "available again", available).await;
    let root_b = fleet.vm(1).expect("vm").files.disk(1);
    assert!(first_mib_is_zero(&root_b), "sim-1's root disk was cleaned");
    let message = world
        .fails_then_clears(
            "sim-1",
            json!({
                "image": {"url": url("test-uefi.qcow2"), "checksum": sha512,
                          "checksumType": "sha512", "format": "qcow2"},
                "rootDeviceHints": {"serialNumber": "NO-SUCH-DISK"},
            }),
            "NO-SUCH-DISK",
        )
        .await;
    assert!(
        message.contains("B-ROOT"),
        "the error names the disks seen: {message}"
    );

    // Delete both; the operator lets go of them.
    for name in &names {
        hosts
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let deadline = Instant::now() + STEP;
    while !hosts
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "hosts not deleted\n{}",
            tail(world.logs.path())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // No credential in the operator's log.
    let log = std::fs::read_to_string(world.logs.path()).unwrap_or_default();
    assert!(!log.contains("answer: 42"), "user data in the log");
    let _ = operator.0.kill();
    fleet.stop_vms().await;
}
