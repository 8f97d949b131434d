//! PID 1's reaper, in a process of its own (it reaps every child of the process): the agent's
//! own children are waited for through it, and orphans handed to it (here by making the test
//! a child subreaper, as PID 1 is for the whole system) are reaped.

use std::path::Path;
use std::time::{Duration, Instant};

use metal3_agent::init::reaper::{Children, Reaper};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_waited_for_and_orphans_reaped() {
    // Orphans of our children become ours, as every orphan becomes PID 1's.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let children = Children::Reaped(Reaper::start().expect("reaper"));

    let mut command = std::process::Command::new("sh");
    command.args(["-c", "echo out; echo err >&2; exit 5"]);
    let output = children.output(command).await.expect("run");
    assert_eq!(output.status.code(), Some(5));
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");

    // A child that leaves a grandchild behind: the grandchild becomes ours when the child
    // exits, and the reaper reaps it when it ends (a zombie keeps its /proc entry until
    // reaped).
    let mut command = std::process::Command::new("sh");
    command.args(["-c", "sleep 0.3 >/dev/null 2>&1 & echo $!; exit 0"]);
    let output = children.output(command).await.expect("run");
    assert!(output.status.success());
    let orphan = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let proc_entry = Path::new("/proc").join(&orphan);
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc_entry.exists() {
        let state = std::fs::read_to_string(proc_entry.join("stat")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "orphan {orphan} not reaped: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
