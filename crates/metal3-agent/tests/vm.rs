//! The agent on a real machine: the static agent in its ISO (built here from `hack/vm`'s
//! kernel and `hack/agent/build.sh`'s binary), patched with a host's configuration as the hub
//! serves it, booted from the virtual CD of a VM-backed simulated server (qemu, TCG). The
//! agent must come up as PID 1, load its modules, get an address by DHCP from qemu's network,
//! call the hub the test plays at `https://10.0.2.2:<port>` with its token, report the VM's
//! hardware, and power the VM off when told. The unpatched ISO boots too and says why it
//! waits.
//!
//! One test binary, one test, one VM at a time.

mod common;

use std::time::Instant;

use common::lab::{BOOT, Lab};
use common::{TestHub, from_env_or_hack, reply, until_ended};
use metal3_sim::vm::{Firmware, VmSpec};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_boots_from_its_iso_calls_home_reports_the_vm_and_powers_it_off() {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("{:>6.1} s  {what}", started.elapsed().as_secs_f64());
    let images = from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh");
    let agent = from_env_or_hack("METAL3_AGENT_STATIC", "agent/build.sh");
    let work = tempfile::tempdir().expect("work");
    let generic = work.path().join("agent.iso");
    let built = metal3_agent_image::build(
        &metal3_agent_image::Inputs {
            kernel_dir: images,
            agent: agent.clone(),
            steps: None,
        },
        &generic,
    )
    .expect("agent ISO");
    phase("agent ISO built");
    eprintln!(
        "agent binary {} bytes, initramfs {} bytes, ISO {} bytes",
        std::fs::metadata(&agent).expect("agent").len(),
        built.initramfs_bytes,
        built.iso_bytes
    );

    let mut spec = VmSpec::small("sim-0", &[96 << 20, 64 << 20]);
    spec.memory_mib = 512;
    spec.firmware = Firmware::Bios;
    spec.disks[0].serial = "AGENT-DISK-0".into();
    spec.disks[1].serial = "AGENT-DISK-1".into();
    let lab = Lab::start(spec).await;
    let mac = lab.fleet.host(0).expect("host").macs[0].clone();

    // The generic ISO boots and says on the console that it has no configuration.
    lab.boot_iso(&generic).await;
    lab.reset("On").await;
    let console = lab.wait_console("waiting for a configuration").await;
    assert!(console.contains("starting as PID 1"), "{console}");
    assert!(console.contains("generic agent image"), "{console}");
    phase("the generic ISO booted and waits for a configuration");
    lab.reset("ForceOff").await;

    // The ISO as the hub serves it to this host: its configuration in the slot.
    let mut hub = TestHub::start("127.0.0.1:0", &mac).await;
    let config = hub.config(&format!("https://10.0.2.2:{}", hub.addr.port()), "uid-vm-0");
    let patched = work.path().join("agent-sim-0.iso");
    common::lab::patch_iso(&generic, &config, &patched);
    lab.boot_iso(&patched).await;
    let powered_on = Instant::now();
    lab.reset("On").await;

    let first = hub.next(BOOT).await;
    let to_first_report = powered_on.elapsed();
    phase("first report");
    eprintln!("power-on to the agent's first report: {to_first_report:?}");
    let console = lab.console();
    assert!(first.authorized, "token and boot MAC check out:\n{console}");
    let report = first.report.clone();
    let data = report.inventory.expect("inventory on the first report");
    let nic = data
        .inventory
        .interfaces
        .iter()
        .find(|i| i.mac_address == mac)
        .unwrap_or_else(|| panic!("no NIC with {mac}: {:?}", data.inventory.interfaces));
    assert_eq!(nic.ipv4_address.as_deref(), Some("10.0.2.15"), "by DHCP");
    assert_eq!(nic.driver, "virtio_net");
    assert!(nic.has_carrier);
    assert!(data.plugin_data.all_interfaces[&nic.name].pxe_enabled);
    assert_eq!(data.inventory.cpu.count, 1);
    assert_eq!(data.inventory.cpu.architecture, "x86_64");
    assert_eq!(data.inventory.memory.physical_mb, 512, "from DMI");
    assert_eq!(data.inventory.boot.current_boot_mode, "bios");
    assert_eq!(data.inventory.system_vendor.manufacturer, "QEMU");
    assert_eq!(data.inventory.hostname, "node-0", "the host's name");
    // The agent sees both disks (its modules loaded) and lists them in the inventory.
    assert!(console.contains("vda(96 MiB) vdb(64 MiB)"), "{console}");
    let serials: Vec<&str> = data
        .inventory
        .disks
        .iter()
        .map(|d| d.serial.as_str())
        .collect();
    assert_eq!(serials, ["AGENT-DISK-0", "AGENT-DISK-1"]);
    assert!(
        !console.contains(config.token.expose()),
        "the token never shows on the console"
    );

    // Standby (fast track), then power off.
    first.answer(reply(Some(json!({"id": "standby-1", "action": "standby"}))));
    let call = until_ended(&mut hub, "standby-1", BOOT).await;
    call.answer(reply(Some(json!({"id": "off-1", "action": "powerOff"}))));
    let call = until_ended(&mut hub, "off-1", BOOT).await;
    call.answer(reply(None));
    phase("standby, then power off, reported");
    lab.wait_power("Off").await;
    phase("the VM is off");
    let console = lab.console();
    assert!(console.contains("power off now"), "{console}");
    lab.fleet.stop_vms().await;
}
