//! VM-backed simulated servers: real qemu VMs (TCG) behind the simulator's Redfish BMCs,
//! booting the test images `hack/vm/build.sh` builds. What a Redfish client asks is checked on
//! the VM itself, through the markers its serial console prints.
//!
//! One test binary for every VM test (CI runs it once); each test runs one VM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{sushy_python, vm_images as images};
use metal3_sim::Fleet;
use metal3_sim::vm::{DiskBus, Firmware, Network, VmOptions, VmSpec};
use serde_json::{Value, json};

/// How long a TCG guest may take to print a marker (a loaded 2-core machine).
const BOOT: Duration = Duration::from_secs(180);

/// A simulator whose server 0 is a VM, served on loopback.
struct Lab {
    fleet: Arc<Fleet>,
    url: String,
    images: PathBuf,
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
            images: images(),
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

    async fn system(&self) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/redfish/v1/Systems/{}", self.id()),
            None,
        )
        .await
    }

    async fn reset(&self, reset_type: &str) {
        self.call(
            reqwest::Method::POST,
            &format!(
                "/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset",
                self.id()
            ),
            Some(json!({"ResetType": reset_type})),
        )
        .await;
    }

    async fn boot_once(&self, target: &str, mode: &str) {
        self.call(
            reqwest::Method::PATCH,
            &format!("/redfish/v1/Systems/{}", self.id()),
            Some(json!({"Boot": {"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": mode}})),
        )
        .await;
    }

    async fn insert(&self, device: &str, image: &str) {
        self.call(
            reqwest::Method::POST,
            &format!(
                "/redfish/v1/Managers/{}/VirtualMedia/{device}/Actions/VirtualMedia.InsertMedia",
                self.id()
            ),
            Some(json!({"Image": image, "Inserted": true})),
        )
        .await;
    }

    async fn eject(&self, device: &str) {
        self.call(
            reqwest::Method::POST,
            &format!(
                "/redfish/v1/Managers/{}/VirtualMedia/{device}/Actions/VirtualMedia.EjectMedia",
                self.id()
            ),
            Some(json!({})),
        )
        .await;
    }

    async fn write_disk(&self, image: &str, format: &str) {
        self.call(
            reqwest::Method::PUT,
            "/metal3-sim/hosts/sim-0/disks/0",
            Some(json!({"path": self.images.join(image), "format": format})),
        )
        .await;
    }

    async fn console(&self) -> String {
        reqwest::get(format!("{}/metal3-sim/hosts/sim-0/console", self.url))
            .await
            .expect("console")
            .text()
            .await
            .expect("text")
    }

    /// Waits until the console shows `marker` at least `times` times; returns the console.
    async fn wait_console(&self, marker: &str, times: usize) -> String {
        let deadline = Instant::now() + BOOT;
        loop {
            let console = self.console().await;
            if console.matches(marker).count() >= times {
                return console;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} (x{times}) on the console within {BOOT:?}:\n{console}\n{}",
                self.describe().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn wait_power(&self, want: &str) {
        let deadline = Instant::now() + BOOT;
        loop {
            let power = self.system().await["PowerState"].clone();
            if power == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PowerState stayed {power} instead of {want}:\n{}",
                self.console().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The simulator's view of the server and its VM, and qemu's own log, for failures.
    async fn describe(&self) -> String {
        let host = self
            .call(reqwest::Method::GET, "/metal3-sim/hosts/sim-0", None)
            .await;
        let log = self._state.path().join("sim-0/qemu.log");
        format!(
            "{host:#}\nqemu.log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    }

    async fn qemu_pid(&self) -> u32 {
        let host = self
            .call(reqwest::Method::GET, "/metal3-sim/hosts/sim-0", None)
            .await;
        host["vm"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no qemu pid in {host}"))
    }
}

/// Waits until process `pid` is gone.
async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "qemu {pid} is still running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An ISO with a `config-2` drive's files, as Ironic writes config drives.
fn config_drive(dir: &Path, hostname: &str, user_data: &str) -> PathBuf {
    let root = dir.join("config-2");
    let latest = root.join("openstack/latest");
    std::fs::create_dir_all(&latest).expect("dirs");
    std::fs::write(
        latest.join("meta_data.json"),
        json!({"uuid": "0c3b2d58-1f0e-4c39-9a53-0d7f5a8a9d11", "hostname": hostname}).to_string(),
    )
    .expect("meta");
    std::fs::write(latest.join("user_data"), user_data).expect("user data");
    std::fs::write(
        latest.join("network_data.json"),
        json!({"links": [], "networks": [], "services": []}).to_string(),
    )
    .expect("network");
    let iso = dir.join("config-2.iso");
    let out = Command::new("xorriso")
        .args([
            "-as", "mkisofs", "-quiet", "-V", "config-2", "-J", "-R", "-o",
        ])
        .arg(&iso)
        .arg(&root)
        .output()
        .expect("run xorriso");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    iso
}

/// Serves the files of `dir` over HTTP on loopback, as an image server would.
async fn file_server(dir: PathBuf) -> String {
    metal3_testenv::files::serve_dir(dir).expect("serve the images")
}

fn bios_spec() -> VmSpec {
    let mut spec = VmSpec::small("sim-0", &[256 << 20, 128 << 20]);
    spec.memory_mib = 256;
    spec.firmware = Firmware::Bios;
    spec.disks[1].bus = DiskBus::Scsi;
    spec.disks[1].serial = "SCSI-DISK-1".into();
    spec.disks[1].wwn = Some("0x5000c500a1b2c3d4".into());
    spec.disks[1].rotational = true;
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bios_vm_follows_power_boot_override_and_virtual_media() {
    let lab = Lab::start(bios_spec()).await;
    let host = lab.fleet.host(0).expect("host");
    let id = lab.id();

    // The BMC reports the VM as it is.
    let system = lab.system().await;
    assert_eq!(system["PowerState"], "Off");
    assert_eq!(system["ProcessorSummary"]["Count"], 1);
    assert_eq!(system["MemorySummary"]["TotalSystemMemoryGiB"], 0.25);
    assert_eq!(system["Boot"]["BootSourceOverrideMode"], "Legacy");
    let drives = format!("/redfish/v1/Systems/{id}/Storage/1/Drives");
    let first = lab
        .call(reqwest::Method::GET, &format!("{drives}/Drive0"), None)
        .await;
    assert_eq!(first["SerialNumber"], "sim0-D0");
    assert_eq!(first["CapacityBytes"], 256u64 << 20);
    let second = lab
        .call(reqwest::Method::GET, &format!("{drives}/Drive1"), None)
        .await;
    assert_eq!(second["SerialNumber"], "SCSI-DISK-1");
    assert_eq!(second["MediaType"], "HDD");
    let nic = lab
        .call(
            reqwest::Method::GET,
            &format!("/redfish/v1/Systems/{id}/EthernetInterfaces/nic0"),
            None,
        )
        .await;
    assert_eq!(nic["MACAddress"], host.macs[0].as_str());

    // The test writes a bootable image onto the disk; power on boots it.
    lab.write_disk("test-bios.raw", "raw").await;
    lab.reset("On").await;
    assert_eq!(lab.system().await["PowerState"], "On");
    // Follow the console as a stream until the guest is up.
    let mut follow = reqwest::get(format!("{}/metal3-sim/hosts/sim-0/console?follow", lab.url))
        .await
        .expect("follow");
    let deadline = Instant::now() + BOOT;
    let mut streamed = String::new();
    while !streamed.contains("METAL3-TEST-IMAGE ready") {
        let Ok(chunk) = tokio::time::timeout_at(deadline.into(), follow.chunk()).await else {
            panic!(
                "console stream stalled:\n{streamed}\n{}",
                lab.describe().await
            );
        };
        let chunk = chunk.expect("chunk").expect("stream open");
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(follow);
    assert!(streamed.contains("source=disk-bios"), "{streamed}");
    assert!(
        streamed.contains(&format!("mac {}", host.macs[0])),
        "the guest's NIC has the BMC's MAC: {streamed}"
    );
    assert!(
        streamed.contains(" vda") && streamed.contains(" sda"),
        "both disks seen by the guest: {streamed}"
    );
    assert!(streamed.contains("no-config-drive"), "{streamed}");

    // Graceful shutdown: the guest hears the power button and powers itself off.
    lab.reset("GracefulShutdown").await;
    lab.wait_power("Off").await;
    assert!(lab.console().await.contains("power-button"));

    // A live ISO in the virtual CD, booted once.
    let server = file_server(lab.images.clone()).await;
    lab.insert("Cd", &format!("{server}/live.iso")).await;
    lab.boot_once("Cd", "Legacy").await;
    lab.reset("On").await;
    lab.wait_console("source=live-iso", 1).await;
    assert_eq!(
        lab.system().await["Boot"]["BootSourceOverrideEnabled"],
        "Disabled"
    );

    // The one-time override is used up: a restart boots the disk, which finds the config
    // drive now in the CD.
    lab.eject("Cd").await;
    let dir = tempfile::tempdir().expect("dir");
    let drive = config_drive(dir.path(), "vm-bios-0", "#cloud-config\nanswer: 42\n");
    lab.insert("Cd", &format!("file://{}", drive.display()))
        .await;
    lab.reset("ForceRestart").await;
    let console = lab.wait_console("end network_data.json", 1).await;
    assert!(console.contains("hostname=vm-bios-0"), "{console}");
    assert_eq!(console.matches("source=disk-bios").count(), 2, "{console}");
    assert!(console.contains("answer: 42"), "{console}");

    // Off, an NMI to a server that is off (accepted, nothing happens), a power cycle.
    let pid = lab.qemu_pid().await;
    lab.reset("ForceOff").await;
    assert_eq!(lab.system().await["PowerState"], "Off");
    lab.reset("Nmi").await;
    lab.reset("PowerCycle").await;
    lab.wait_console("source=disk-bios", 3).await;
    assert_eq!(
        lab.qemu_pid().await,
        pid,
        "the VM is kept across power cycles"
    );

    // The simulator stopping stops qemu.
    lab.fleet.stop_vms().await;
    wait_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uefi_vm_boots_its_disk_and_a_usb_stick() {
    let mut spec = VmSpec::small("sim-0", &[128 << 20]);
    spec.memory_mib = 256;
    let lab = Lab::start(spec).await;
    assert_eq!(lab.system().await["Boot"]["BootSourceOverrideMode"], "UEFI");
    lab.write_disk("test-uefi.qcow2", "qcow2").await;
    lab.reset("On").await;
    lab.wait_console("source=disk-uefi", 1).await;

    // A live ISO on the USB stick, booted once through a graceful restart.
    lab.insert(
        "Usb",
        &format!("file://{}", lab.images.join("live.iso").display()),
    )
    .await;
    lab.boot_once("Usb", "UEFI").await;
    lab.reset("GracefulRestart").await;
    lab.wait_console("source=live-iso", 1).await;
    lab.wait_power("On").await;

    // Disks reset: an empty disk boots nothing, and the server must be off for it.
    let refused = reqwest::Client::new()
        .post(format!("{}/metal3-sim/hosts/sim-0/disks/reset", lab.url))
        .send()
        .await
        .expect("reset");
    assert_eq!(refused.status(), reqwest::StatusCode::CONFLICT);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("power the server off")
    );
    let pid = lab.qemu_pid().await;
    lab.reset("ForceOff").await;
    lab.call(
        reqwest::Method::POST,
        "/metal3-sim/hosts/sim-0/disks/reset",
        None,
    )
    .await;
    wait_gone(pid).await;
    let host = lab
        .call(reqwest::Method::GET, "/metal3-sim/hosts/sim-0", None)
        .await;
    assert_eq!(host["vm"]["status"], "not started", "{host}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_on_a_shared_network_see_each_other() {
    let state = tempfile::tempdir().expect("state");
    let fleet = Fleet::new(2, "admin", "pw");
    // A group port of this test's own, so parallel runs do not share a segment.
    let port = 40000 + (std::process::id() % 20000) as u16;
    let specs = (0..2)
        .map(|i| {
            let mut spec = VmSpec::small(&format!("sim-{i}"), &[64 << 20]);
            spec.memory_mib = 256;
            spec.firmware = Firmware::Bios;
            spec.network = Network::Shared {
                group: format!("230.0.0.1:{port}"),
            };
            (i, spec)
        })
        .collect();
    fleet
        .attach_vms(&VmOptions::new(state.path()), specs)
        .expect("attach");
    let images = images();
    for i in 0..2 {
        let vm = fleet.vm(i).expect("vm");
        vm.write_disk(
            0,
            &images.join("test-bios.raw").display().to_string(),
            "raw",
        )
        .await
        .expect("image");
        vm.reset("On").await.expect("power on");
    }
    let deadline = Instant::now() + BOOT;
    for i in 0..2 {
        let console = fleet.vm(i).expect("vm").files.console();
        loop {
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            if text.contains("METAL3-TEST-IMAGE peer 10.99.0.") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server {i} found no peer on the shared network:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    fleet.stop_vms().await;
}

async fn sushy(lab: &Lab, args: &[&str]) -> Value {
    let python = sushy_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sushy_vm.py");
    let mut all = vec![lab.url.clone(), "admin".into(), "pw".into(), lab.id()];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(all)
            .stdin(Stdio::null())
            .output()
            .expect("run sushy")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from the client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_drives_a_vm_backed_server_as_a_simulated_one() {
    let mut spec = VmSpec::small("sim-0", &[64 << 20]);
    spec.memory_mib = 256;
    let lab = Lab::start(spec).await;
    let server = file_server(lab.images.clone()).await;
    let seen = sushy(&lab, &["boot-iso", &format!("{server}/live.iso")]).await;
    assert_eq!(seen["power_before"], "Off");
    assert_eq!(seen["power_after"], "On");
    assert_eq!(
        seen["boot_after"], "Disabled",
        "the one-time override was used"
    );
    lab.wait_console("source=live-iso", 1).await;
    let seen = sushy(&lab, &["power-off"]).await;
    assert_eq!(seen["power_before"], "On");
    assert_eq!(seen["power_after"], "Off");
    assert_eq!(seen["cd_inserted"], false);
}

/// The child half of `qemu_dies_with_a_killed_simulator`: a simulator with a running VM that
/// prints qemu's pid and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by qemu_dies_with_a_killed_simulator in a child process"]
async fn vm_child_process() {
    if std::env::var_os("METAL3_VM_CHILD").is_none() {
        return;
    }
    let mut spec = VmSpec::small("sim-0", &[64 << 20]);
    spec.memory_mib = 256;
    let lab = Lab::start(spec).await;
    lab.reset("On").await;
    println!("QEMU-PID {}", lab.qemu_pid().await);
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_dies_with_a_killed_simulator() {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = tokio::process::Command::new(exe)
        .args(["--exact", "vm_child_process", "--ignored", "--nocapture"])
        .env("METAL3_VM_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("child");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let pid = tokio::time::timeout(BOOT, async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(pid) = line.strip_prefix("QEMU-PID ") {
                return pid.trim().parse::<u32>().expect("pid");
            }
        }
        panic!("the child ended without starting qemu");
    })
    .await
    .expect("qemu started in the child");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // SIGKILL: no destructor runs in the child; the watchdog must end qemu.
    child.start_kill().expect("kill");
    let _ = child.wait().await;
    wait_gone(pid).await;
}
