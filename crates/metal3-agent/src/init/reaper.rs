//! Children and orphans. PID 1 inherits every orphaned process and must reap it, and whoever
//! reaps with `waitpid(-1)` steals the exit status of the children it runs itself. So as PID 1
//! one task reaps everything and hands the status of the agent's own children to whoever
//! waits for them; as a normal process children are waited for as usual.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use tokio::sync::oneshot;

/// How the agent waits for the processes it starts.
#[derive(Clone)]
pub enum Children {
    /// A normal process: the child's own `wait`.
    Own,
    /// PID 1: through the reaper.
    Reaped(Arc<Reaper>),
}

impl Children {
    /// Runs `command` to its end with its standard output and error captured.
    pub async fn output(&self, mut command: std::process::Command) -> std::io::Result<Output> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match self {
            Self::Own => tokio::process::Command::from(command).output().await,
            Self::Reaped(reaper) => reaper.output(command).await,
        }
    }
}

/// Reaps every child of PID 1.
#[derive(Default)]
pub struct Reaper {
    /// Children someone waits for, by pid.
    waiting: Mutex<HashMap<i32, oneshot::Sender<WaitStatus>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reaper {
    /// Starts reaping (on every `SIGCHLD`, and every few seconds in case one was missed).
    /// Needs a tokio runtime.
    pub fn start() -> std::io::Result<Arc<Self>> {
        let reaper = Arc::new(Self::default());
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
        let task = reaper.clone();
        tokio::spawn(async move {
            loop {
                task.reap_all();
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        });
        Ok(reaper)
    }

    /// Reaps every child that has ended; hands the status to whoever waits for it.
    fn reap_all(&self) {
        // Held while reaping, so a child cannot be reaped between its spawn and its
        // registration in `output`.
        let mut waiting = lock(&self.waiting);
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    if let Some(tx) = status.pid().and_then(|p| waiting.remove(&p.as_raw())) {
                        let _ = tx.send(status);
                    }
                }
            }
        }
    }

    async fn output(&self, mut command: std::process::Command) -> std::io::Result<Output> {
        let (mut child, status) = {
            let mut waiting = lock(&self.waiting);
            let child = command.spawn()?;
            let (tx, rx) = oneshot::channel();
            waiting.insert(child.id() as i32, tx);
            (child, rx)
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (stdout, stderr) = (read_all(stdout), read_all(stderr));
        let status = status
            .await
            .map_err(|_| std::io::Error::other("the reaper stopped"))?;
        Ok(Output {
            status: exit_status(status),
            stdout: stdout.await.unwrap_or_default(),
            stderr: stderr.await.unwrap_or_default(),
        })
    }
}

/// Reads a child's pipe to its end, in a blocking task.
fn read_all<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// The `ExitStatus` a wait status stands for.
fn exit_status(status: WaitStatus) -> ExitStatus {
    match status {
        WaitStatus::Exited(_, code) => ExitStatus::from_raw((code & 0xff) << 8),
        WaitStatus::Signaled(_, signal, _) => ExitStatus::from_raw(signal as i32),
        _ => ExitStatus::from_raw(0xff << 8),
    }
}

#[cfg(test)]
mod tests {
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    use super::*;

    #[test]
    fn wait_statuses_become_exit_statuses() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_status(WaitStatus::Exited(pid, 0)).code(), Some(0));
        assert_eq!(exit_status(WaitStatus::Exited(pid, 3)).code(), Some(3));
        let killed = exit_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false));
        assert_eq!(killed.code(), None);
        assert_eq!(killed.signal(), Some(9));
    }

    #[tokio::test]
    async fn a_normal_process_waits_for_its_own_children() {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 4"]);
        let output = Children::Own.output(command).await.expect("run");
        assert_eq!(output.status.code(), Some(4));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }
}
