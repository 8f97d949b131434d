//! Where the tools the local environment runs come from: the directories of the built
//! kube-apiserver, etcd and kubectl, and of the Ironic virtualenv, named by an environment
//! variable or printed by the workspace's install scripts (which build or reuse a cache).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::progress::{Step, TICK};

pub(crate) fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Directory holding `kube-apiserver` and `etcd`: `METAL3_CONTROL_PLANE_BIN`, else whatever
/// `hack/control-plane/build.sh` prints (it reuses its cache, or builds).
pub fn binaries() -> Result<PathBuf> {
    bin_dir(
        "METAL3_CONTROL_PLANE_BIN",
        "hack/control-plane/build.sh",
        "control-plane",
    )
}

/// A directory of tools: the variable `var` names it, else the install script `script`
/// (relative to the workspace) prints it as its last line, installing first when needed. The
/// script's log (its lines start with `log_name: `) is passed on to stderr, with the running
/// step and its elapsed time every [`TICK`] while a step takes long.
pub(crate) fn bin_dir(var: &str, script: &str, log_name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var) {
        return Ok(PathBuf::from(dir));
    }
    let script = workspace_dir().join(script);
    let mut child = Command::new("bash")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", script.display()))?;
    show_progress(&mut child, log_name);
    let out = child
        .wait_with_output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}); run it by hand to see why, or set {var}",
            script.display(),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .last()
        .ok_or_else(|| anyhow!("{} printed no bin directory", script.display()))?;
    Ok(PathBuf::from(dir.trim()))
}

/// Passes the child's stderr on, line by line, until it closes; while a step of the script runs,
/// shows its progress every [`TICK`].
fn show_progress(child: &mut Child, log_name: &str) {
    let Some(stderr) = child.stderr.take() else {
        return;
    };
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        // Bytes, not `lines()`: a line that is not UTF-8 must not stop the reading (the
        // script would block on a full pipe).
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            buf.clear();
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut step: Option<(Step, Instant)> = None;
    let mut next_tick = Instant::now() + TICK;
    loop {
        match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                eprintln!("{line}");
                if let Some(started) = Step::parse(&line, log_name) {
                    step = Some((started, Instant::now()));
                    next_tick = Instant::now() + TICK;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some((step, since)) = &step {
                    eprintln!("{}", step.progress(since.elapsed()));
                }
                next_tick += TICK;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A `kubectl` command: the one built with the control plane, else the one on `PATH`.
pub fn kubectl() -> Command {
    match binaries() {
        Ok(dir) if dir.join("kubectl").is_file() => Command::new(dir.join("kubectl")),
        _ => Command::new("kubectl"),
    }
}
