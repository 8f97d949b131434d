//! The simulator driven by OpenStack's sushy (the Redfish library Ironic uses), run from a
//! Python virtualenv that `hack/python/sushy.sh` creates.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::sushy_python;
use metal3_sim::Fleet;
use metal3_sim::fleet::{Power, Running};
use serde_json::{Value, json};

/// An HTTP endpoint that keeps every event POSTed to it.
async fn event_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().expect("lock").push(body.0);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_drives_a_servers_own_bmc_end_to_end() {
    let fleet = Fleet::new(3, "admin", "s3cret");
    // Server 1 as its own BMC on its own port, as Ironic would see a real server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bmc = metal3_sim::host_router(fleet.clone(), 1);
    tokio::spawn(metal3_sim::serve_router(listener, bmc, None));
    let (event_url, events) = event_sink().await;
    let host = fleet.host(1).expect("host");

    let python = sushy_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sushy_client.py");
    let url = format!("http://{addr}");
    let id = host.id.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([
                url.as_str(),
                "admin",
                "s3cret",
                id.as_str(),
                event_url.as_str(),
            ])
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
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json from the client");

    assert_eq!(seen["systems"], 1, "a server's own BMC lists one system");
    assert_eq!(seen["power_before"], "Off");
    assert_eq!(seen["cd_image"], "http://images.example/live.iso");
    assert_eq!(seen["cd_inserted"], true);
    assert_eq!(
        seen["registry_attributes"].as_array().map(Vec::len),
        Some(8)
    );
    assert_eq!(seen["registry_pxe_upper"], 10);
    assert_eq!(seen["subscriptions"], 1);
    assert_eq!(
        seen["bmc_task_processing"], false,
        "the BMC flashes at once"
    );
    assert_eq!(seen["bios_task_processing_before_boot"], true);
    assert_eq!(seen["bios_version_before_boot"], "1.0.0");
    assert_eq!(seen["drives"], 4);
    assert_eq!(
        seen["raid_types"],
        json!(["RAID0", "RAID1", "RAID10", "RAID5"])
    );
    assert_eq!(seen["volume_now"], json!(["RAID1", 480_103_981_056u64]));
    assert_eq!(seen["volume_staged_is_task"], "TaskMonitor");
    assert_eq!(seen["volumes_before_boot"], 1);
    assert_eq!(seen["power_after_on"], "On");
    assert_eq!(
        seen["boot_after"], "Disabled",
        "the one-time override was used"
    );
    assert_eq!(
        seen["bios_after_boot"], "Disabled",
        "pending BIOS settings applied on boot"
    );
    assert_eq!(seen["bios_task_processing_after_boot"], false);
    assert_eq!(seen["bios_version_after_boot"], "1.7.0");
    assert_eq!(seen["bmc_version"], "2.5.0");
    assert_eq!(seen["volumes_after_boot"], 2);
    assert_eq!(
        seen["firmware_inventory"],
        json!([["BIOS", "1.7.0"], ["BMC", "2.5.0"], ["NIC", "20.0.0"]])
    );
    assert_eq!(seen["cpus"], 32, "sushy counts threads: 2 sockets x 16");
    assert_eq!(seen["memory_gib"], 64);
    assert_eq!(seen["macs"], json!(host.macs));
    assert_eq!(seen["disk_bytes"], 480_103_981_056u64);
    assert_eq!(seen["power_after_off"], "Off");
    assert_eq!(seen["arch"], "x86");
    assert_eq!(seen["cd_after_eject"], false);
    assert_eq!(seen["wrong_password"], "refused");

    // What the client did is what the simulated server went through.
    let after = fleet.host(1).expect("host");
    assert_eq!(after.power, Power::Off);
    assert_eq!(after.running, Running::Nothing);
    assert_eq!(
        after.bios.get("ProcVirtualization"),
        Some(&json!("Disabled"))
    );
    assert!(after.calls.get("POST Reset").copied().unwrap_or(0) >= 2);
    assert!(
        after.calls.contains_key("POST Sessions"),
        "sushy logged in: {:?}",
        after.calls
    );
    assert_eq!(
        fleet.host(0).expect("host").calls.len(),
        0,
        "other servers untouched"
    );
    assert_eq!(fleet.open_sessions(), 0, "sushy logged out");

    // Both power changes reached the subscriber, in order.
    let deadline = Instant::now() + Duration::from_secs(10);
    let states = loop {
        let states: Vec<String> = events
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e["Context"] == "sushy-test")
            .filter_map(|e| {
                e["Events"][0]["MessageArgs"][1]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        if states.len() >= 2 || Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(states, ["On", "Off"]);
}
