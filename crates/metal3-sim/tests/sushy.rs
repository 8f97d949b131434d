//! The simulator driven by OpenStack's sushy (the Redfish library Ironic uses), run from a
//! Python virtualenv that `hack/python/sushy.sh` creates.

use std::path::{Path, PathBuf};
use std::process::Command;

use metal3_sim::Fleet;
use metal3_sim::fleet::{Power, Running};
use serde_json::Value;

fn sushy_python() -> PathBuf {
    if let Some(python) = std::env::var_os("METAL3_SUSHY_PYTHON") {
        return PathBuf::from(python);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/python/sushy.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run sushy.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("python path").trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_drives_power_boot_media_bios_and_inventory() {
    let fleet = Fleet::new(3, "admin", "s3cret");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(metal3_sim::serve(listener, fleet.clone()));
    let host = fleet.host(1).expect("host");

    let python = sushy_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sushy_client.py");
    let url = format!("http://{addr}");
    let id = host.id.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([url.as_str(), "admin", "s3cret", id.as_str()])
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
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json from the client");

    assert_eq!(seen["systems"], 3);
    assert_eq!(seen["power_before"], "Off");
    assert_eq!(seen["cd_image"], "http://images.example/live.iso");
    assert_eq!(seen["cd_inserted"], true);
    assert_eq!(seen["power_after_on"], "On");
    assert_eq!(
        seen["boot_after"], "Disabled",
        "the one-time override was used"
    );
    assert_eq!(
        seen["bios_after_boot"], "Disabled",
        "pending BIOS settings applied on boot"
    );
    assert_eq!(seen["cpus"], 32, "sushy counts threads: 2 sockets x 16");
    assert_eq!(seen["memory_gib"], 64);
    assert_eq!(seen["macs"], serde_json::json!(host.macs));
    assert_eq!(seen["disk_bytes"], 480_103_981_056u64);
    assert_eq!(seen["power_after_off"], "Off");
    assert_eq!(seen["arch"], "x86");
    assert_eq!(seen["cd_after_eject"], false);
    assert_eq!(seen["wrong_password"], "refused");

    // What the client did is what the simulated server went through.
    let after = fleet.host(1).expect("host");
    assert_eq!(after.power, Power::Off);
    assert_eq!(after.running, Running::Nothing);
    assert_eq!(after.bios["ProcVirtualization"], "Disabled");
    assert!(after.calls.get("POST Reset").copied().unwrap_or(0) >= 2);
    assert_eq!(
        fleet.host(0).expect("host").calls.len(),
        0,
        "other servers untouched"
    );
}
