//! Child processes of the local environment: free loopback ports, a watchdog that ends a child
//! once this process is gone, signals to a process group, and the tail of a log for errors.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// A free TCP port on 127.0.0.1 (free when asked; nothing holds it).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What a watchdog kills once this process is gone.
#[derive(Clone, Copy)]
pub(crate) enum Reap {
    /// The child alone.
    Process,
    /// The child's process group (a child that forks workers and leads its own group).
    Group,
}

/// Keeps `child` (or its process group) from outliving this process: a detached shell polls
/// our PID and kills it once we are gone.
pub(crate) fn watchdog(child: &Child, reap: Reap) -> Result<()> {
    watchdog_then_remove(child, reap, None)
}

/// [`watchdog`], and once the child is killed, removes `dir` too: what a process-wide value
/// (never dropped, such as a test binary's shared control plane) leaves behind otherwise.
pub(crate) fn watchdog_then_remove(child: &Child, reap: Reap, dir: Option<&Path>) -> Result<()> {
    let target = match reap {
        Reap::Process => child.id().to_string(),
        Reap::Group => format!("-- -{}", child.id()),
    };
    let mut script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -s KILL {target} 2>/dev/null",
        parent = std::process::id(),
    );
    if let Some(dir) = dir {
        // A second for the other processes' watchdogs to end them (they write logs there).
        script.push_str(&format!("; sleep 2; rm -rf -- {}", shell_quote(dir)));
    }
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the process watchdog")?;
    Ok(())
}

/// `path` as one shell word.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The last lines of a log file, for error messages (the file goes away with its directory).
pub(crate) fn log_tail(path: &Path) -> String {
    const LINES: usize = 25;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Sends `signal` (a name such as `KILL`, `STOP`) to the process group `child` leads.
pub(crate) fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills the process group `child` leads.
pub(crate) fn kill_group(child: &Child) {
    signal_group(child, "KILL");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_path_is_one_shell_word() {
        for path in [
            "/tmp/metal3-testenv-Ab12",
            "/tmp/it's here",
            "/tmp/a b;rm -rf x",
        ] {
            let out = Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_quote(Path::new(path)))])
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), path);
        }
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_lines() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("x.log");
        let text: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        std::fs::write(&log, text.join("\n")).expect("write log");
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 6\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
        assert!(log_tail(&dir.path().join("missing.log")).starts_with("(cannot read "));
    }
}
