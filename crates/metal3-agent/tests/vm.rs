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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestHub, from_env_or_hack, reply, until_ended};
use metal3_agent_api::bootimage;
use metal3_sim::Fleet;
use metal3_sim::vm::{Firmware, VmOptions, VmSpec};
use serde_json::{Value, json};

/// How long a TCG guest may take (a loaded 2-core machine).
const BOOT: Duration = Duration::from_secs(240);

/// A simulator with one VM-backed server, served over Redfish on loopback.
struct Lab {
    fleet: Arc<Fleet>,
    url: String,
    _state: tempfile::TempDir,
}

impl Lab {
    async fn start(spec: VmSpec) -> Self {
        let state = tempfile::tempdir().expect("state dir");
        let fleet = Fleet::new(1, "admin", "pw");
        fleet
            .attach_vms(&VmOptions::new(state.path()), vec![(0, spec)])
            .expect("attach");
        let addr = metal3_sim::start(fleet.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve");
        Self {
            fleet,
            url: format!("http://{addr}"),
            _state: state,
        }
    }

    fn id(&self) -> String {
        self.fleet.host(0).expect("host").id
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", self.url))
            .basic_auth("admin", Some("pw"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn reset(&self, reset_type: &str) {
        let path = format!(
            "/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset",
            self.id()
        );
        self.call(
            reqwest::Method::POST,
            &path,
            Some(json!({"ResetType": reset_type})),
        )
        .await;
    }

    /// Inserts `iso` into the virtual CD and boots it once.
    async fn boot_iso(&self, iso: &Path) {
        let manager = format!("/redfish/v1/Managers/{}/VirtualMedia/Cd/Actions", self.id());
        self.call(
            reqwest::Method::POST,
            &format!("{manager}/VirtualMedia.EjectMedia"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("{manager}/VirtualMedia.InsertMedia"),
            Some(json!({"Image": format!("file://{}", iso.display()), "Inserted": true})),
        )
        .await;
        self.call(
            reqwest::Method::PATCH,
            &format!("/redfish/v1/Systems/{}", self.id()),
            Some(json!({"Boot": {"BootSourceOverrideTarget": "Cd",
                "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"}})),
        )
        .await;
    }

    fn console(&self) -> String {
        let path = self.fleet.vm(0).expect("vm").files.console();
        std::fs::read_to_string(path).unwrap_or_default()
    }

    async fn wait_console(&self, marker: &str) -> String {
        let deadline = Instant::now() + BOOT;
        loop {
            let console = self.console();
            if console.contains(marker) {
                return console;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} on the console within {BOOT:?}:\n{console}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn wait_power(&self, want: &str) {
        let deadline = Instant::now() + BOOT;
        loop {
            let system = self
                .call(
                    reqwest::Method::GET,
                    &format!("/redfish/v1/Systems/{}", self.id()),
                    None,
                )
                .await;
            if system["PowerState"] == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PowerState stayed {} instead of {want}:\n{}",
                system["PowerState"],
                self.console()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

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
    let mut image = std::fs::read(&generic).expect("read ISO");
    let at = bootimage::find_placeholder(&image).expect("the slot") as usize;
    let slot = bootimage::host_archive(&config).expect("fits");
    image[at..at + slot.len()].copy_from_slice(&slot);
    let patched = work.path().join("agent-sim-0.iso");
    std::fs::write(&patched, &image).expect("write patched ISO");
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
