//! A small QMP (QEMU Machine Protocol) client: commands and their answers matched by id, and
//! the asynchronous events (power, reset, tray) handed to whoever listens.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

/// How long one command may take before the VM is considered hung.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A QMP failure: the socket, or qemu's own error answer.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP: qemu closed the connection")]
    Closed,
    #[error("QMP: {command} took longer than {COMMAND_TIMEOUT:?}")]
    Timeout { command: String },
    #[error("QMP: {command} failed: {message}")]
    Refused { command: String, message: String },
    #[error("QMP: unexpected greeting {0}")]
    Greeting(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A connected QMP session.
pub struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
}

/// One asynchronous QMP event (`SHUTDOWN`, `RESET`, `STOP`, `RESUME`, …) with its data.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Qmp {
    /// Connects to the socket at `path`, negotiates capabilities, and sends every event to
    /// `events` (dropped silently once nobody listens).
    pub async fn connect(
        path: &Path,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Self, QmpError> {
        let stream = UnixStream::connect(path).await?;
        let (read, write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = lines.next_line().await?.ok_or(QmpError::Closed)?;
        if !greeting.contains("\"QMP\"") {
            return Err(QmpError::Greeting(greeting));
        }
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(name) = message.get("event").and_then(Value::as_str) {
                    let _ = events.send(Event {
                        name: name.to_string(),
                        data: message.get("data").cloned().unwrap_or(Value::Null),
                    });
                } else if let Some(id) = message.get("id").and_then(Value::as_u64)
                    && let Some(tx) = lock(&reader_pending).remove(&id)
                {
                    let _ = tx.send(message);
                }
            }
            // qemu is gone: every waiting command learns it from its dropped sender.
            lock(&reader_pending).clear();
        });
        let qmp = Self {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
        };
        qmp.execute("qmp_capabilities", Value::Null).await?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments` (`Null` for none) and returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"execute": command, "id": id});
        if !arguments.is_null() {
            message["arguments"] = arguments;
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut line = serde_json::to_vec(&message).unwrap_or_default();
        line.push(b'\n');
        {
            let mut writer = self.writer.lock().await;
            if let Err(e) = writer.write_all(&line).await {
                lock(&self.pending).remove(&id);
                return Err(e.into());
            }
        }
        let answer = match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(QmpError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&id);
                return Err(QmpError::Timeout {
                    command: command.to_string(),
                });
            }
        };
        if let Some(error) = answer.get("error") {
            return Err(QmpError::Refused {
                command: command.to_string(),
                message: error
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string(),
            });
        }
        Ok(answer.get("return").cloned().unwrap_or(Value::Null))
    }

    /// qemu's run state (`running`, `paused`, `shutdown`, `prelaunch`, …).
    pub async fn status(&self) -> Result<String, QmpError> {
        let answer = self.execute("query-status", Value::Null).await?;
        Ok(answer
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }
}
