//! `metal3 control-plane` starts a real API server, writes a kubeconfig that kubectl can use,
//! installs every CRD and stops cleanly on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;
use common::Killed;

#[test]
fn control_plane_serves_our_crds_to_kubectl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kc");
    let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .arg("control-plane")
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("metal3 control-plane starts");
    // Killed if an assertion fails, so no control plane outlives the test.
    let mut child = Killed(child);
    // The first stdout line is printed once everything is ready (or the process exits).
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read stdout");
    assert_eq!(line.trim(), kubeconfig.display().to_string(), "ready line");

    let out = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "crds",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\n"}{end}"#,
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    let metal3: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains(".metal3.io="))
        .collect();
    assert_eq!(metal3.len(), metal3_api::crds::all().len(), "{listed}");
    assert!(metal3.iter().all(|l| l.ends_with("=True")), "{listed}");

    let pid = child.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.0.wait().expect("wait");
    assert!(
        status.success(),
        "metal3 control-plane exited with {status}"
    );
}
