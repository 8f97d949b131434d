//! VM-backed servers: seconds from a Redfish power-on to the test image's serial markers
//! (`booted`: the kernel runs the image's init; `ready`: disks, config drive and DHCP done), for
//! one VM and for four at once, with SeaBIOS and with OVMF.
//!
//! Baseline, measured in the same run: the same kernel and initramfs started by qemu directly
//! (`-kernel`/`-initrd`: no firmware, no boot loader, no BMC), to `ready`.
//!
//! `cargo bench -p metal3-sim --bench vm` (env: VM_BENCH_RUNS, default 3; METAL3_VM_IMAGES,
//! else `hack/vm/build.sh` is run). Prints a Markdown table.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use metal3_sim::Fleet;
use metal3_sim::vm::{Firmware, VmOptions, VmSpec};

const LIMIT: Duration = Duration::from_secs(300);

fn images() -> PathBuf {
    if let Some(dir) = std::env::var_os("METAL3_VM_IMAGES") {
        return PathBuf::from(dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/vm/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run hack/vm/build.sh");
    assert!(out.status.success(), "hack/vm/build.sh failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("images dir").trim())
}

/// Seconds from `start` until `console` shows `marker`.
async fn until(console: &Path, marker: &str, start: Instant) -> f64 {
    loop {
        let text = std::fs::read_to_string(console).unwrap_or_default();
        if text.contains(marker) {
            return start.elapsed().as_secs_f64();
        }
        assert!(
            start.elapsed() < LIMIT,
            "no {marker} in {}",
            console.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `count` VMs of `firmware` powered on at once over Redfish; per VM, seconds to `booted`
/// and to `ready`.
async fn fleet_run(images: &Path, firmware: Firmware, count: usize) -> Vec<(f64, f64)> {
    let state = tempfile::tempdir().expect("state");
    let fleet = Fleet::new(count, "admin", "pw");
    let specs = (0..count)
        .map(|i| {
            let mut spec = VmSpec::small(&format!("sim-{i}"), &[256 << 20]);
            spec.memory_mib = 256;
            spec.firmware = firmware;
            (i, spec)
        })
        .collect();
    fleet
        .attach_vms(&VmOptions::new(state.path()), specs)
        .expect("attach");
    let image = match firmware {
        Firmware::Bios => images.join("test-bios.raw"),
        Firmware::Uefi => images.join("test-uefi.raw"),
    };
    for i in 0..count {
        let vm = fleet.vm(i).expect("vm");
        vm.write_disk(0, &image.display().to_string(), "raw")
            .await
            .expect("image");
    }
    let addr = metal3_sim::start(fleet.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut waits = Vec::new();
    for i in 0..count {
        let id = fleet.host(i).expect("host").id;
        let response = client
            .post(format!(
                "http://{addr}/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"
            ))
            .basic_auth("admin", Some("pw"))
            .json(&serde_json::json!({"ResetType": "On"}))
            .send()
            .await
            .expect("power on");
        assert!(response.status().is_success(), "{}", response.status());
        let console = fleet.vm(i).expect("vm").files.console();
        waits.push(async move {
            let booted = until(&console, "METAL3-TEST-IMAGE booted", start).await;
            let ready = until(&console, "METAL3-TEST-IMAGE ready", start).await;
            (booted, ready)
        });
    }
    let times = futures::future::join_all(waits).await;
    fleet.stop_vms().await;
    times
}

/// The baseline: qemu booting the kernel and initramfs directly, to `ready`.
async fn direct_kernel(images: &Path) -> f64 {
    let dir = tempfile::tempdir().expect("dir");
    let console = dir.path().join("console.log");
    let start = Instant::now();
    let mut child = tokio::process::Command::new("qemu-system-x86_64")
        .args(["-machine", "q35,accel=tcg", "-m", "256", "-display", "none"])
        .args(["-no-user-config", "-nodefaults"])
        .arg("-kernel")
        .arg(images.join("vmlinuz"))
        .arg("-initrd")
        .arg(images.join("test-initrd.gz"))
        .args(["-append", "console=ttyS0,115200 loglevel=3"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .args([
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0",
        ])
        // The same entropy source the simulator's VMs have (without it the guest waits for
        // randomness and the baseline looks slower than it is).
        .args(["-device", "virtio-rng-pci"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("qemu");
    let seconds = until(&console, "METAL3-TEST-IMAGE ready", start).await;
    let _ = child.kill().await;
    seconds
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("VM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let images = images();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut sequential = Vec::new();
        for _ in 0..runs {
            sequential.push(direct_kernel(&images).await);
        }
        let baseline = median(sequential);
        println!("| VMs | firmware | to `booted` s (median, min–max) | to `ready` s (median, min–max) | ready ÷ baseline |");
        println!("|---|---|---|---|---|");
        println!("| 1 | none (`-kernel`, baseline) | – | {baseline:.1} | 1.0 |");
        for firmware in [Firmware::Bios, Firmware::Uefi] {
            for count in [1usize, 4] {
                let mut booted = Vec::new();
                let mut ready = Vec::new();
                for _ in 0..runs {
                    for (b, r) in fleet_run(&images, firmware, count).await {
                        booted.push(b);
                        ready.push(r);
                    }
                }
                let range = |v: &[f64]| {
                    let min = v.iter().copied().fold(f64::MAX, f64::min);
                    let max = v.iter().copied().fold(0.0, f64::max);
                    format!("{min:.1}–{max:.1}")
                };
                let (rb, rr) = (range(&booted), range(&ready));
                let (mb, mr) = (median(booted), median(ready));
                println!(
                    "| {count} | {} | {mb:.1} ({rb}) | {mr:.1} ({rr}) | {:.1} |",
                    match firmware {
                        Firmware::Bios => "SeaBIOS, disk",
                        Firmware::Uefi => "OVMF, disk",
                    },
                    mr / baseline
                );
            }
        }
    });
}
