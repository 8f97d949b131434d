//! The fixture's journal: one JSON line per backend operation appended to a file shared by
//! every replica (`metal3 operator --fixture-journal PATH`), so what several operator
//! processes did to one host can be checked together. Lines are written with `O_APPEND` in one
//! `write` each, which keeps lines from different processes whole.
//!
//! A line: `{"host":"ns/name","op":"provision","event":"started","replica":"r1",
//! "actor":"r1/shard-2/tenure-1","pid":123,"atNs":1767000000000000000}` — `event` is
//! `started`, `polled` or `completed`; `actor` is the caller's [`metal3_provisioner::actor`]
//! (empty when none); `atNs` is the wall-clock time in nanoseconds since the Unix epoch.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Calls, Operation};

/// One journal line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub host: String,
    pub op: Operation,
    pub event: Event,
    pub replica: String,
    pub actor: String,
    pub pid: u32,
    pub at_ns: u128,
}

/// What happened to the operation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    Started,
    Polled,
    Completed,
}

/// An open journal, appended to by this process as `replica`.
pub struct Journal {
    file: Mutex<File>,
    replica: String,
}

impl Journal {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path, replica: &str) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(file),
            replica: replica.to_string(),
        })
    }

    /// Appends the entries, one `write` per line; a failed write is dropped (the journal
    /// observes, it never fails an operation).
    pub(crate) fn append(&self, entries: &[Entry]) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        for e in entries {
            if let Ok(mut line) = serde_json::to_vec(e) {
                line.push(b'\n');
                let _ = file.write_all(&line);
            }
        }
    }

    /// The entries of one call on `host`, from the node's counters and long operation before
    /// and after it.
    pub(crate) fn entries(
        &self,
        host: &str,
        before: (&Calls, Option<Operation>),
        after: (&Calls, Option<Operation>),
    ) -> Vec<Entry> {
        let at_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let actor = metal3_provisioner::actor::current()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let entry = |op, event| Entry {
            host: host.to_string(),
            op,
            event,
            replica: self.replica.clone(),
            actor: actor.clone(),
            pid: std::process::id(),
            at_ns,
        };
        let mut out = Vec::new();
        for (op, n) in &after.0.started {
            if *n > before.0.started(*op) {
                out.push(entry(*op, Event::Started));
            }
        }
        for (op, n) in &after.0.completed {
            if *n > before.0.completed(*op) {
                out.push(entry(*op, Event::Completed));
            }
        }
        if out.is_empty()
            && let Some(op) = after.1
            && before.1 == Some(op)
        {
            out.push(entry(op, Event::Polled));
        }
        out
    }
}

/// Reads a journal file: every whole line that parses.
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
