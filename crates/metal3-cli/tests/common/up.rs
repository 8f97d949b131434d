//! Running `metal3 up` as a user does, for the tests of what it sets up.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Killed;

/// Starts `metal3 up` (2 hosts) and waits for its `ready <kubeconfig>` line.
pub fn up(state: &Path, bmc_port: u16) -> Killed {
    up_with(state, bmc_port, &["--hosts", "2"], Stdio::null())
}

/// Starts `metal3 up` with `args` and waits for its `ready <kubeconfig>` line; its progress
/// (stderr) goes to `stderr`.
pub fn up_with(state: &Path, bmc_port: u16, args: &[&str], stderr: Stdio) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["up", "--post-ms", "200"])
        .args(args)
        // The fleet page on a free port, unless the test chose one.
        .args(if args.contains(&"--ui-addr") {
            &[][..]
        } else {
            &["--ui-addr", "127.0.0.1:0"][..]
        })
        .arg("--state-dir")
        .arg(state)
        .args(["--bmc-port", &bmc_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("metal3 up starts");
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(240))
        .expect("metal3 up reports ready");
    assert!(line.starts_with("ready "), "{line}");
    child
}

pub fn interrupt_and_wait(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            return;
        }
        assert!(Instant::now() < deadline, "metal3 up did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}
