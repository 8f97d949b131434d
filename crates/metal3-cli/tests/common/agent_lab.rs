//! What the operator's tests and benchmarks on VM-backed servers with the agent share: the
//! VM test images and agent ISO (built by `hack/` or named by the environment), an image server
//! the VMs reach at 10.0.2.2, VM specs, and a world of hosts to patch and wait on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_sim::vm::{DiskBus, Firmware, VmSpec};
use serde_json::Value;

use super::tail;

/// How long a step may take on a loaded 2-core machine running TCG guests.
pub const STEP: Duration = Duration::from_secs(420);

/// The path in `$var`, else the last line `hack/<script> <args>` prints.
pub fn from_env_or_hack(var: &str, script: &str, args: &[&str]) -> PathBuf {
    metal3_testenv::hack::built(var, script, args)
}

/// Serves the files of `dir` on loopback; the VMs reach it at 10.0.2.2. Returns the port.
pub async fn image_server(dir: PathBuf) -> u16 {
    let url = metal3_testenv::files::serve_dir(dir).expect("serve the images");
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

pub fn spec(firmware: Firmware, disks: &[(&str, u64, DiskBus)]) -> VmSpec {
    let mut spec = VmSpec::small("x", &disks.iter().map(|d| d.1).collect::<Vec<_>>());
    spec.memory_mib = 512;
    spec.firmware = firmware;
    for (disk, (serial, _, bus)) in spec.disks.iter_mut().zip(disks) {
        disk.serial = serial.to_string();
        disk.bus = *bus;
    }
    spec
}

/// Whether the first MiB of a VM's disk (qcow2) holds only zeros (read while qemu may hold
/// the file: `-U`).
pub fn first_mib_is_zero(disk: &Path) -> bool {
    let out = tempfile::NamedTempFile::new().expect("temp");
    let status = Command::new("qemu-img")
        .args([
            "dd", "-U", "-f", "qcow2", "-O", "raw", "bs=65536", "count=16",
        ])
        .arg(format!("if={}", disk.display()))
        .arg(format!("of={}", out.path().display()))
        .status()
        .expect("qemu-img dd");
    assert!(status.success());
    std::fs::read(out.path())
        .expect("read")
        .iter()
        .all(|&b| b == 0)
}

pub struct World {
    pub hosts: Api<BareMetalHost>,
    pub fleet: std::sync::Arc<metal3_sim::Fleet>,
    pub logs: tempfile::NamedTempFile,
}

impl World {
    pub async fn patch(&self, name: &str, patch: Value) {
        self.hosts
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {name}: {e}"));
    }

    pub fn console(&self, index: usize) -> String {
        let vm = self.fleet.vm(index).expect("vm");
        std::fs::read_to_string(vm.files.console()).unwrap_or_default()
    }

    pub async fn wait(&self, names: &[&str], what: &str, ok: impl Fn(&BareMetalHost) -> bool) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let deadline = Instant::now() + STEP;
        loop {
            let mut pending = Vec::new();
            for name in &names {
                let h = self.hosts.get(name).await.expect("host");
                if !ok(&h) {
                    let status = h.status.clone().unwrap_or_default();
                    pending.push(format!(
                        "{name}: {} {}",
                        h.provisioning_state().as_str(),
                        status.error_message
                    ));
                }
            }
            if pending.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not {what}: {pending:?}\nconsoles:\n{}\n---\n{}\noperator log (tail):\n{}",
                self.console(0),
                self.console(1),
                tail(self.logs.path())
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until the console of server `index` shows `marker` at least `times` times.
    pub async fn wait_console(&self, index: usize, marker: &str, times: usize) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let console = self.console(index);
            if console.matches(marker).count() >= times {
                return console;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} x{times} on sim-{index}'s console:\n{console}\noperator log:\n{}",
                tail(self.logs.path())
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Gives `name` the image in `image`, waits for the error with `wanted`, takes the image
    /// away again and waits for the host to be available without an error; the error.
    pub async fn fails_then_clears(&self, name: &str, image: Value, wanted: &str) -> String {
        self.patch(name, serde_json::json!({"spec": image})).await;
        let message = self.error_of(name, wanted).await;
        self.patch(name, serde_json::json!({"spec": {"image": null}}))
            .await;
        self.wait(&[name], &format!("available after {wanted:?}"), available)
            .await;
        message
    }

    pub async fn error_of(&self, name: &str, wanted: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let h = self.hosts.get(name).await.expect("host");
            let message = h.status.map(|s| s.error_message).unwrap_or_default();
            if message.contains(wanted) {
                return message;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no error with {wanted:?} (now {message:?})\noperator log:\n{}",
                tail(self.logs.path())
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

pub fn available(h: &BareMetalHost) -> bool {
    h.provisioning_state().as_str() == "available"
        && h.status
            .as_ref()
            .is_some_and(|s| s.error_message.is_empty())
}

/// The operator's flags for the agent: the ISO, a hub on loopback port `hub` that the VMs
/// reach at 10.0.2.2 and the simulator's BMCs (on this machine) at 127.0.0.1, its Secrets in
/// `ns`.
pub fn agent_flags(iso: &Path, hub: u16, ns: &str) -> Vec<String> {
    [
        "--provisioner".to_string(),
        "redfish".into(),
        "--agent-image".into(),
        iso.display().to_string(),
        "--agent-listen".into(),
        format!("127.0.0.1:{hub}"),
        "--agent-url".into(),
        format!("https://10.0.2.2:{hub}"),
        "--agent-media-url".into(),
        format!("https://127.0.0.1:{hub}"),
        "--agent-namespace".into(),
        ns.to_string(),
    ]
    .to_vec()
}
