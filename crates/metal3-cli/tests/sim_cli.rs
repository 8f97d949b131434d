//! `metal3 sim` serves the fleet and writes manifests the API server accepts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Killed, free_port, http_get};

/// Starts `metal3 sim` and returns it with the first line it writes (the ready line).
fn start_sim(mut command: Command) -> (Killed, String) {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metal3 sim starts");
    let mut child = Killed(child);
    let mut line = String::new();
    BufReader::new(child.0.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("ready line");
    (child, line)
}

/// The first of `n` consecutive loopback ports that are free now.
fn free_run(n: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if base.checked_add(n).is_some() && (1..n).all(|i| free(base + i)) {
            return base;
        }
    }
    panic!("no {n} free loopback ports in a row");
}

/// Basic credentials of the simulator's defaults (admin:password).
const AUTH: &str = "Authorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n";

#[test]
fn a_thousand_servers_with_manifests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("fleet.yaml");
    let port = free_port();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_metal3"));
    sim.args(["sim", "--hosts", "1000"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--manifests")
        .arg(&manifests);
    let (_child, line) = start_sim(sim);
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

/// Runs curl with `args`; returns its standard output.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (installed by .ci/run)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn one_tls_bmc_per_port_with_its_own_password_driven_by_curl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("fleet.yaml");
    let cert = dir.path().join("bmc.pem");
    // Three ports in a row for the BMCs: free when looked at, but another test may take one
    // before the simulator binds it; then the simulator says so and is started again.
    let mut attempts = 0;
    let (_child, line, port, base) = loop {
        let (port, base) = (free_port(), free_run(3));
        let mut sim = Command::new(env!("CARGO_BIN_EXE_metal3"));
        sim.args(["sim", "--hosts", "3", "--tls", "--per-host-credentials"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--per-host-ports", &base.to_string()])
            .arg("--tls-cert-out")
            .arg(&cert)
            .arg("--manifests")
            .arg(&manifests);
        let (child, line) = start_sim(sim);
        attempts += 1;
        if !line.contains("Address already in use") || attempts == 5 {
            break (child, line, port, base);
        }
    };
    assert!(
        line.contains(&format!("each on its own port from {base}")),
        "{line}"
    );
    let cacert = cert.to_str().expect("utf-8 path");
    let bmc = format!("https://127.0.0.1:{}", base + 2);

    // Server 2's own BMC, verified against the simulator's certificate, with its own password.
    let systems: serde_json::Value = serde_json::from_str(&curl(&[
        "--cacert",
        cacert,
        "-u",
        "admin:password-2",
        &format!("{bmc}/redfish/v1/Systems"),
    ]))
    .expect("json");
    assert_eq!(systems["Members@odata.count"], 1);
    let system = systems["Members"][0]["@odata.id"]
        .as_str()
        .expect("member")
        .to_string();
    let code = curl(&[
        "--cacert",
        cacert,
        "-u",
        "admin:password-1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{bmc}{system}"),
    ]);
    assert_eq!(code, "401", "server 1's password does not open server 2");
    let code = curl(&[
        "--cacert",
        cacert,
        "-u",
        "admin:password-2",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"ResetType": "On"}"#,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{bmc}{system}/Actions/ComputerSystem.Reset"),
    ]);
    assert_eq!(code, "204");
    let state: serde_json::Value = serde_json::from_str(&curl(&[
        "--cacert",
        cacert,
        &format!("https://127.0.0.1:{port}/metal3-sim/hosts/sim-2"),
    ]))
    .expect("json");
    assert_eq!(state["power"], "On");

    let text = std::fs::read_to_string(&manifests).expect("manifests written");
    assert!(text.contains(&format!(
        "redfish-virtualmedia+https://127.0.0.1:{}/redfish/v1/Systems/",
        base + 1
    )));
    assert_eq!(
        text.matches("\"disableCertificateVerification\": true")
            .count(),
        3
    );
    assert!(text.contains("\"password\": \"password-2\""));
}
