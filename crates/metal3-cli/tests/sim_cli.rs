//! `metal3 sim` serves the fleet and writes manifests the API server accepts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Killed, free_port, http_get};

/// Basic credentials of the simulator's defaults (admin:password).
const AUTH: &str = "Authorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n";

#[test]
fn a_thousand_servers_with_manifests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("fleet.yaml");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args([
            "sim",
            "--hosts",
            "1000",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--manifests")
        .arg(&manifests)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metal3 sim starts");
    let mut child = Killed(child);
    let mut line = String::new();
    BufReader::new(child.0.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.contains("serving 1000 simulated servers"), "{line}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let systems = loop {
        if let Some(body) = http_get(port, "/redfish/v1/Systems", AUTH) {
            break body;
        }
        assert!(Instant::now() < deadline, "not serving");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        systems.contains("\"Members@odata.count\":1000"),
        "{}",
        &systems[..systems.len().min(400)]
    );

    let text = std::fs::read_to_string(&manifests).expect("manifests written");
    assert_eq!(text.matches("\"kind\": \"BareMetalHost\"").count(), 1000);
    assert_eq!(text.matches("\"kind\": \"Secret\"").count(), 1000);
    assert!(text.contains(&format!(
        "redfish-virtualmedia+http://127.0.0.1:{port}/redfish/v1/Systems/"
    )));
    // The manifests pass our own admission rules.
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .arg("validate")
        .arg(&manifests)
        .output()
        .expect("validate");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_fault_flags_are_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args([
            "sim",
            "--hosts",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--error-rate",
            "3",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("errorRate: 3 is not between 0 and 1"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["sim", "--latency-ms", "fast"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("milliseconds"));
}
