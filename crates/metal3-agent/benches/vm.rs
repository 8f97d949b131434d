//! The agent on a real VM (qemu, TCG here), measured:
//! - insert-media to call-home: the simulator's BMC is told to insert the agent ISO and boot
//!   it once (Redfish, as the operator does), then to power on; until the agent's first report
//!   reaches the hub;
//! - image write throughput: the agent deploys a raw image of incompressible bytes (HTTP from
//!   the host at 10.0.2.2, sha256 as the bytes stream) to the VM's disk, against a baseline in
//!   the same boot of the same VM — busybox `wget | dd bs=4M conv=fsync` of the same image to
//!   the same disk, run as a custom deploy step the bench ships in its agent image — and two
//!   more that split the cost: the baseline also hashing the stream (`tee` into busybox
//!   `sha256sum`), and the agent without a checksum. The methods take turns (in reverse order
//!   every other round) after a first write that allocates the disk's clusters, so none gets a
//!   fresher disk;
//! - the agent's memory while it streams: the peak resident set of PID 1 (the agent), read in
//!   the VM after the writes (`VmHWM`), against the VM's RAM and the image's size;
//! - the agent binary's and initramfs' sizes.
//!
//! `cargo bench -p metal3-agent --bench vm` (env: AGENT_BENCH_MIB, default 1024;
//! AGENT_BENCH_PAIRS, default 2; AGENT_BENCH_BOOTS, default 3; METAL3_VM_IMAGES and
//! METAL3_AGENT_STATIC as the tests take them). Prints a Markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::lab::{BOOT, Lab, patch_iso};
use common::{Call, TestHub, from_env_or_hack, reply};
use metal3_agent_api::CommandState;
use metal3_sim::vm::{Firmware, VmSpec};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long one write of the image may take on TCG.
const WRITE: Duration = Duration::from_secs(900);

const STEPS: &str = "/usr/lib/metal3-agent/steps";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `mib` MiB of noise at `path`; its sha256.
fn make_image(path: &Path, mib: u64) -> String {
    let mut out =
        std::io::BufWriter::with_capacity(4 << 20, std::fs::File::create(path).expect("create"));
    let mut hash = Sha256::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        hash.update(&block);
        out.write_all(&block).expect("write");
    }
    out.flush().expect("flush");
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The steps the bench ships: busybox, the `wget | dd` baseline, and a reader of PID 1's
/// memory.
fn steps(dir: &Path, url: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("steps dir");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox (busybox-static)");
    let script = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!("#!{STEPS}/busybox sh\nB={STEPS}/busybox\n{body}\n"),
        )
        .expect("step");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    let dd = "$B dd of=/dev/vda bs=4M iflag=fullblock conv=fsync";
    script(
        "dd-baseline",
        &format!("set -o pipefail\n$B wget -q -O - {url} | {dd}"),
    );
    // The same, with the image's sha256 computed as it passes (busybox, in software).
    script(
        "dd-sha256-baseline",
        &format!(
            "set -o pipefail\n$B mkfifo /tmp/image.fifo\n$B sha256sum /tmp/image.fifo >/tmp/image.sum &\n\
             $B wget -q -O - {url} | $B tee /tmp/image.fifo | {dd}\nwait\n$B rm -f /tmp/image.fifo\n\
             $B cat /tmp/image.sum"
        ),
    );
    script("agent-memory", "$B grep -E '^Vm(HWM|RSS)' /proc/1/status");
}

/// Sends `command` in answer to `call` and answers until it ends; the time it took and the
/// ending call (answered by the caller).
async fn run(hub: &mut TestHub, call: Call, command: Value) -> (Duration, Call) {
    let id = command["id"].as_str().expect("id").to_string();
    let start = Instant::now();
    call.answer(reply(Some(command)));
    loop {
        let call = hub.next(WRITE).await;
        let status = call.report.status.clone().expect("a status");
        if status.id == id && status.state != CommandState::Running {
            assert_eq!(status.state, CommandState::Done, "{id}: {}", status.message);
            return (start.elapsed(), call);
        }
        call.answer(reply(None));
    }
}

/// The ways an image is written, measured in turns.
#[derive(Clone, Copy)]
enum Method {
    Dd,
    DdSha256,
    Agent,
    AgentNoChecksum,
}

impl Method {
    const ALL: [Method; 4] = [
        Method::Dd,
        Method::DdSha256,
        Method::Agent,
        Method::AgentNoChecksum,
    ];

    fn id(self) -> &'static str {
        match self {
            Method::Dd => "dd",
            Method::DdSha256 => "dd-sha256",
            Method::Agent => "agent",
            Method::AgentNoChecksum => "agent-no-checksum",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Method::Dd => "`wget \\| dd bs=4M conv=fsync` (baseline)",
            Method::DdSha256 => "`wget \\| tee >(sha256sum) \\| dd …` (baseline with the hash)",
            Method::Agent => "agent deploy, sha256 verified",
            Method::AgentNoChecksum => "agent deploy, no checksum",
        }
    }
}

/// The median (of an even count, the mean of the middle two).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib = env_or("AGENT_BENCH_MIB", 1024);
    let pairs = env_or("AGENT_BENCH_PAIRS", 2);
    let boots = env_or("AGENT_BENCH_BOOTS", 3);
    let images = from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh");
    let agent = from_env_or_hack("METAL3_AGENT_STATIC", "agent/build.sh");
    let work = tempfile::tempdir().expect("work");

    let image = work.path().join("image.raw");
    let sha = make_image(&image, mib);
    // The VM reaches the machine's loopback at 10.0.2.2.
    let served = metal3_testenv::files::serve_dir(work.path()).expect("serve the image");
    let url = format!("{}/image.raw", served.replace("127.0.0.1", "10.0.2.2"));
    let steps_dir = work.path().join("steps");
    steps(&steps_dir, &url);
    let generic = work.path().join("agent.iso");
    let built = metal3_agent_image::build(
        &metal3_agent_image::Inputs {
            kernel_dir: images,
            agent: agent.clone(),
            steps: Some(steps_dir),
        },
        &generic,
    )
    .expect("agent ISO");

    let memory_mib = 512;
    let mut spec = VmSpec::small("bench-0", &[(mib + 1024) << 20]);
    spec.memory_mib = memory_mib;
    spec.firmware = Firmware::Bios;
    let lab = Lab::start(spec).await;
    let mac = lab.fleet.host(0).expect("host").macs[0].clone();
    let mut hub = TestHub::start("127.0.0.1:0", &mac).await;
    let config = hub.config(
        &format!("https://10.0.2.2:{}", hub.addr.port()),
        "uid-bench-0",
    );
    let iso = work.path().join("agent-bench-0.iso");
    patch_iso(&generic, &config, &iso);

    // Insert-media to call-home, `boots` times; the last boot stays up for the writes.
    let mut to_call_home = Vec::new();
    let mut first = None;
    for boot in 0..boots {
        let start = Instant::now();
        lab.boot_iso(&iso).await;
        lab.reset("On").await;
        let call = hub.next(BOOT).await;
        to_call_home.push(start.elapsed().as_secs_f64());
        eprintln!(
            "boot {boot}: call-home after {:.1} s",
            start.elapsed().as_secs_f64()
        );
        if boot + 1 < boots {
            let (_, call) = run(
                &mut hub,
                call,
                json!({"id": format!("off-{boot}"), "action": "powerOff"}),
            )
            .await;
            call.answer(reply(None));
            lab.wait_power("Off").await;
        } else {
            first = Some(call);
        }
    }
    let mut call = first.expect("a boot");

    let deploy = |id: String, checksum: &str| {
        json!({"id": id, "action": "deploy", "image": {"url": url, "format": "raw",
            "checksum": checksum, "checksumType": "sha256"},
            "rootDeviceHints": {"deviceName": "/dev/vda"}})
    };
    // The first write allocates the disk; then the methods take turns, in reverse order every
    // other round.
    let (warm, next) = run(&mut hub, call, deploy("warm".into(), &sha)).await;
    eprintln!(
        "first write (allocates the disk): {:.1} s",
        warm.as_secs_f64()
    );
    call = next;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); Method::ALL.len()];
    for round in 0..pairs {
        let mut order: Vec<usize> = (0..Method::ALL.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let method = Method::ALL[i];
            let id = format!("{}-{round}", method.id());
            let command = match method {
                Method::Dd => json!({"id": id, "action": "runStep", "name": "dd-baseline"}),
                Method::DdSha256 => {
                    json!({"id": id, "action": "runStep", "name": "dd-sha256-baseline"})
                }
                Method::Agent => deploy(id, &sha),
                Method::AgentNoChecksum => deploy(id, ""),
            };
            let (took, next) = run(&mut hub, call, command).await;
            call = next;
            let s = took.as_secs_f64();
            eprintln!("{} {round}: {s:.1} s", method.id());
            times[i].push(s);
        }
    }
    let (_, next) = run(
        &mut hub,
        call,
        json!({"id": "mem", "action": "runStep", "name": "agent-memory"}),
    )
    .await;
    let memory = next
        .report
        .status
        .as_ref()
        .and_then(|s| s.result.clone())
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| r.to_string())
        })
        .unwrap_or_default();
    let (_, last) = run(&mut hub, next, json!({"id": "off", "action": "powerOff"})).await;
    last.answer(reply(None));
    lab.wait_power("Off").await;
    lab.fleet.stop_vms().await;

    let rate = |s: f64| mib as f64 / s;
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    let dd = medians[0];
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| insert-media → call-home (median of {boots}) | {:.1} s (all: {}) |",
        median(to_call_home.clone()),
        to_call_home
            .iter()
            .map(|s| format!("{s:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (method, secs) in Method::ALL.iter().zip(&medians) {
        println!(
            "| write {mib} MiB raw: {} (median of {pairs}) | {secs:.1} s, {:.0} MiB/s, {:.2}× dd |",
            method.describe(),
            rate(*secs),
            dd / secs
        );
    }
    println!(
        "| agent's memory after streaming (VM RAM {memory_mib} MiB) | {} |",
        memory.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    println!(
        "| agent binary / initramfs / ISO | {:.1} MiB / {:.1} MiB / {:.1} MiB |",
        std::fs::metadata(&agent).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
        built.initramfs_bytes as f64 / 1048576.0,
        built.iso_bytes as f64 / 1048576.0
    );
}
