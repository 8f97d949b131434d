//! `metal3 control-plane` starts a real API server, writes a kubeconfig that kubectl can use,
//! installs our CRDs (the metal3.io kinds; with `--crds` the provider's and the IP address
//! manager's too) and stops cleanly on SIGINT.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::Killed;

/// Starts `metal3 control-plane` with `extra` arguments and waits for its ready line.
fn start(dir: &Path, extra: &[&str]) -> (Killed, PathBuf) {
    let kubeconfig = dir.join("kc");
    let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .arg("control-plane")
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .args(extra)
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
    (child, kubeconfig)
}

/// `name=<Established status>` of every CRD, as kubectl lists them.
fn crds(kubeconfig: &Path) -> String {
    let out = metal3_testenv::kubectl()
        .arg("--kubeconfig")
        .arg(kubeconfig)
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The listed CRDs of `group`, each asserted Established.
fn of_group<'a>(listed: &'a str, group: &str) -> Vec<&'a str> {
    let found: Vec<&str> = listed
        .lines()
        .filter(|l| {
            l.split_once('=')
                .is_some_and(|(name, _)| name.split_once('.').is_some_and(|(_, g)| g == group))
        })
        .collect();
    assert!(found.iter().all(|l| l.ends_with("=True")), "{listed}");
    found
}

/// Stops the control plane with SIGINT and asserts a clean exit.
fn stop(mut child: Killed) {
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

#[test]
fn control_plane_serves_our_crds_to_kubectl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, kubeconfig) = start(dir.path(), &[]);
    let listed = crds(&kubeconfig);
    assert_eq!(
        of_group(&listed, "metal3.io").len(),
        metal3_api::crds::all().len(),
        "{listed}"
    );
    // By default, only the metal3.io kinds.
    assert!(
        of_group(&listed, "infrastructure.cluster.x-k8s.io").is_empty(),
        "{listed}"
    );
    assert!(of_group(&listed, "ipam.metal3.io").is_empty(), "{listed}");
    stop(child);
}

#[test]
fn control_plane_installs_the_provider_and_ipam_crds_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, kubeconfig) = start(dir.path(), &["--crds", "metal3,capm3,ipam"]);
    let listed = crds(&kubeconfig);
    assert_eq!(
        of_group(&listed, "metal3.io").len(),
        metal3_api::crds::all().len(),
        "{listed}"
    );
    assert_eq!(
        of_group(&listed, "infrastructure.cluster.x-k8s.io").len(),
        metal3_capm3_api::crds::all().len(),
        "{listed}"
    );
    assert_eq!(
        of_group(&listed, "ipam.metal3.io").len(),
        metal3_ipam_api::crds::all().len(),
        "{listed}"
    );
    stop(child);
}
