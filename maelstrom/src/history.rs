//! The files a run leaves behind: `history.jsonl` (one client event per line) and
//! `nemesis.jsonl` (one fault event per line). The checker, the result figures and the
//! plots all read these types, and `harness check` re-reads them from disk.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Jepsen's four event types: an invocation and its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    /// The operation took effect.
    Ok,
    /// The operation surely did not take effect (definite error, or a read that failed).
    Fail,
    /// Unknown: it may take effect at any time after its invocation, or never.
    Info,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpFn {
    Read,
    Write,
    Cas,
}

/// One line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Jepsen's process id: a client thread takes a new one after every info.
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: OpFn,
    pub key: Value,
    /// write: the value written; cas: `[from, to]`; read: null on invoke, the value read on ok.
    pub value: Value,
    /// Nanoseconds since the start of the run.
    pub time: u64,
    /// The node the client talks to.
    pub node: String,
    /// `[code, text]` when the node answered with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(i64, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    PartitionStart,
    Heal,
    Kill,
    Restart,
    Pause,
    Resume,
}

/// One line of `nemesis.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NemesisEvent {
    /// Nanoseconds since the start of the run.
    pub time: u64,
    #[serde(rename = "type")]
    pub kind: NemesisKind,
    /// The nodes the event acts on (killed, paused, ...); for a partition, every node.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Partition only: one / majority / minority-third / majorities-ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// Partition only: for each node, the nodes it cannot hear from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Writes one JSON value per line.
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads one JSON value per line, naming the line of the first bad one.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut items = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).with_context(|| {
            format!("{} line {}: not a valid event", path.display(), number + 1)
        })?;
        items.push(item);
    }
    Ok(items)
}
