//! Power-on self tests (server boots) per provision with the agent, with fast track (the
//! default: the agent stands by on available hosts) and without (`--agent-fast-track=false`:
//! hosts are powered off after inspection and cleaning). One VM-backed server (qemu, TCG
//! here) behind the simulator's BMC, the real API server and `metal3 operator --provisioner
//! redfish` with the agent; the host goes from registration to available, then is given the
//! raw test image and counted until its own system runs from disk (the test image's `ready`
//! on the serial console). Boots are the simulator's count of the server's power-ons and
//! resets, guest reboots included.
//!
//! `cargo bench -p metal3-cli --bench agent_posts` (env: METAL3_VM_IMAGES, METAL3_AGENT_ISO as
//! the tests take them). Prints a Markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::agent_lab::{World, agent_flags, available, from_env_or_hack, image_server, spec};
use common::{create_all, fleet_objects, free_port, operator};
use kube::api::Api;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_sim::vm::{DiskBus, Firmware, VmOptions};
use serde_json::json;

struct Row {
    fast_track: bool,
    to_available: u64,
    provision: u64,
    seconds: f64,
}

async fn one(fast_track: bool) -> Row {
    let images = from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh", &[]);
    let iso = from_env_or_hack("METAL3_AGENT_ISO", "agent/build.sh", &["--iso"]);
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp
        .namespace(&client, "agent-posts")
        .await
        .expect("namespace");
    let state = tempfile::tempdir().expect("state");
    let fleet = metal3_sim::Fleet::new(1, "admin", "pw");
    fleet
        .attach_vms(
            &VmOptions::new(state.path()),
            vec![(
                0,
                spec(Firmware::Bios, &[("A-ROOT", 8 << 30, DiskBus::Virtio)]),
            )],
        )
        .expect("VM");
    let addr = metal3_sim::start(fleet.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let port = image_server(images).await;
    let url = |file: &str| format!("http://10.0.2.2:{port}/{file}");
    let mut objects = fleet_objects(&fleet, addr);
    for host in objects.iter_mut().filter(|o| o["kind"] == "BareMetalHost") {
        host["spec"]["bootMode"] = json!("legacy");
    }
    create_all(&client, &ns, objects).await;
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut flags = agent_flags(&iso, free_port(), &ns);
    flags.push(format!("--agent-fast-track={fast_track}"));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut operator = operator(cp, &ns, &logs, &flags, &[]);
    let world = World {
        hosts: Api::<BareMetalHost>::namespaced(client.clone(), &ns),
        fleet: fleet.clone(),
        logs,
    };
    let boots = || fleet.host(0).expect("server").boots;

    world.wait(&["sim-0"], "available", available).await;
    let at_available = boots();
    let start = Instant::now();
    world
        .patch(
            "sim-0",
            json!({"spec": {"image": {"url": url("test-bios.raw"),
                "checksum": url("test-bios.raw.sha256"), "checksumType": "sha256",
                "format": "raw"}}}),
        )
        .await;
    world
        .wait(&["sim-0"], "provisioned", |h| {
            h.provisioning_state().as_str() == "provisioned"
        })
        .await;
    world.wait_console(0, "METAL3-TEST-IMAGE ready", 1).await;
    let row = Row {
        fast_track,
        to_available: at_available,
        provision: boots() - at_available,
        seconds: start.elapsed().as_secs_f64(),
    };
    let _ = operator.0.kill();
    fleet.stop_vms().await;
    row
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows = Vec::new();
    for fast_track in [true, false] {
        let row = one(fast_track).await;
        eprintln!(
            "fast track {}: {} boots to available, {} to provision, {:.1} s",
            row.fast_track, row.to_available, row.provision, row.seconds
        );
        rows.push(row);
    }
    println!(
        "| agent fast track | boots, registration → available | boots, image set → its system running | time, image set → its system running |"
    );
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.1} s |",
            if row.fast_track {
                "on (default)"
            } else {
                "off"
            },
            row.to_available,
            row.provision,
            row.seconds
        );
    }
}
