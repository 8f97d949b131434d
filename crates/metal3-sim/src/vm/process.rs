//! The qemu process of one VM and the files it runs on: disks (qcow2, kept across power
//! cycles and simulator restarts), the UEFI variables store, and a watchdog that kills qemu
//! when the simulator is gone — even after a panic, an abort or `kill -9`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::qemu::{self, Accel, Files, Firmware, Install, VmSpec};
use super::qmp::{Event, Qmp};

/// How long qemu may take to open its QMP socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running qemu, its QMP session and the firmware it was started with.
pub struct Process {
    pub child: Child,
    pub qmp: Qmp,
    pub firmware: Firmware,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl Process {
    /// Stops qemu: politely over QMP, then by signal. Waits for it to be gone.
    pub async fn stop(mut self) {
        let _ = self.qmp.execute("quit", serde_json::Value::Null).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Runs `qemu-img` with `args`, failing with its message.
pub async fn qemu_img(install: &Install, args: &[&str]) -> Result<(), String> {
    let out = Command::new(&install.qemu_img)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", install.qemu_img.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img {}: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Creates the VM's directory (0700: it may cache images a BMC fetched), any missing disk and
/// the UEFI variables store. Existing disks are kept: they are the server's disks.
pub async fn prepare_files(spec: &VmSpec, files: &Files, install: &Install) -> Result<(), String> {
    create_private_dir(&files.dir)?;
    create_private_dir(&files.media_cache())?;
    for (i, disk) in spec.disks.iter().enumerate() {
        let path = files.disk(i);
        if !path.exists() {
            create_disk(install, &path, disk.size_bytes).await?;
        }
    }
    let vars = files.uefi_vars();
    if !vars.exists() {
        std::fs::copy(&install.ovmf_vars, &vars).map_err(|e| {
            format!(
                "cannot copy the UEFI variables store {}: {e} (install Debian's ovmf package)",
                install.ovmf_vars.display()
            )
        })?;
    }
    Ok(())
}

/// A new empty qcow2 disk of `bytes` at `path` (replacing any).
pub async fn create_disk(install: &Install, path: &Path, bytes: u64) -> Result<(), String> {
    let path_text = path.display().to_string();
    let _ = std::fs::remove_file(path);
    qemu_img(
        install,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            &path_text,
            &bytes.to_string(),
        ],
    )
    .await
}

/// Creates `dir` (and its parents) readable by its owner only.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Starts qemu paused (`-S`) with `firmware` and connects to its QMP socket.
pub async fn start(
    spec: &VmSpec,
    files: &Files,
    install: &Install,
    firmware: Firmware,
    accel: Accel,
    mac: &str,
) -> Result<Process, String> {
    prepare_files(spec, files, install).await?;
    let socket = files.qmp();
    let _ = std::fs::remove_file(&socket);
    let log = std::fs::File::create(files.qemu_log())
        .map_err(|e| format!("cannot create {}: {e}", files.qemu_log().display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot open the qemu log: {e}"))?;
    let args = qemu::command_line(spec, files, install, firmware, accel, mac);
    let mut child = Command::new(&install.qemu)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (install Debian's qemu-system-x86 package)",
                install.qemu.display()
            )
        })?;
    if let Some(pid) = child.id() {
        watchdog(pid)?;
    }
    let (tx, events) = mpsc::unbounded_channel();
    let deadline = Instant::now() + START_TIMEOUT;
    let qmp = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "qemu exited at start ({status}): {}",
                last_lines(&files.qemu_log(), 5)
            ));
        }
        if socket.exists()
            && let Ok(qmp) = Qmp::connect(&socket, tx.clone()).await
        {
            break qmp;
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(format!(
                "qemu did not open its QMP socket within {START_TIMEOUT:?}: {}",
                last_lines(&files.qemu_log(), 5)
            ));
        }
        // qemu creates the socket early in its start-up; look again shortly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(Process {
        child,
        qmp,
        firmware,
        events,
    })
}

/// The last `n` lines of a log, for an error message.
pub fn last_lines(path: &PathBuf, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A shell loop that kills qemu `pid` once this process is gone, and ends by itself once qemu
/// is gone. Dropping a `Child` kills qemu too; this covers the exits that drop nothing.
fn watchdog(pid: u32) -> Result<(), String> {
    let parent = std::process::id();
    let script = format!(
        "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill -0 {parent} 2>/dev/null || kill -s KILL {pid} 2>/dev/null"
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the qemu watchdog: {e}"))
}
