//! The files a run leaves behind: `history.jsonl` (one client event per line) and
//! `nemesis.jsonl` (one fault or membership change per line). The checker, the result
//! figures and the plots all read these types, and `harness check` re-reads them from
//! disk. Membership changes are admin requests, not lin-kv operations, so they go to
//! `nemesis.jsonl` only and the checker never sees them.

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
    /// One admin request of the membership nemesis and its outcome (see
    /// [`MembershipChange`]); not a fault with a start and an end.
    Membership,
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
    /// Membership only: the request, its outcome and the configuration it was chosen
    /// from, as top-level fields of the line.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipChange>,
}

/// How a membership request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipOutcome {
    /// `<action>_ok`: the change is done (or the transfer happened).
    Ok,
    /// An error reply (`error` holds code and text), or a reply of the wrong type
    /// (code -1). Code 11 means nothing changed.
    Error,
    /// No reply in time, or the run ended first: the change may or may not happen.
    Timeout,
}

impl MembershipOutcome {
    pub const ALL: [MembershipOutcome; 3] = [
        MembershipOutcome::Ok,
        MembershipOutcome::Error,
        MembershipOutcome::Timeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MembershipOutcome::Ok => "ok",
            MembershipOutcome::Error => "error",
            MembershipOutcome::Timeout => "timeout",
        }
    }
}

/// The membership fields of a `membership` line of `nemesis.jsonl`. The event's `time`
/// is when the outcome was known; `sent` when the request left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// add_voter, add_non_voter, remove_server or transfer_leadership.
    pub action: String,
    /// The server added, removed or handed the leadership.
    pub node: String,
    /// The node the request was sent to (any node; it forwards to its leader).
    pub via: String,
    pub outcome: MembershipOutcome,
    /// `[code, text]` when the outcome is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(i64, String)>,
    /// Nanoseconds since the start of the run at which the request was sent.
    pub sent: u64,
    /// The committed configuration the action was chosen from, as read_config gave it.
    pub voters: Vec<String>,
    #[serde(default)]
    pub non_voters: Vec<String>,
    /// The leader read_config named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn membership_events_are_flat_lines_and_faults_stay_as_they_were() {
        let change = NemesisEvent {
            time: 7,
            kind: NemesisKind::Membership,
            nodes: vec!["n3".into()],
            shape: None,
            cut: None,
            membership: Some(MembershipChange {
                action: "add_voter".into(),
                node: "n3".into(),
                via: "n1".into(),
                outcome: MembershipOutcome::Error,
                error: Some((11, "change in progress".into())),
                sent: 5,
                voters: vec!["n0".into(), "n1".into(), "n2".into()],
                non_voters: vec!["n3".into()],
                leader: Some("n0".into()),
            }),
        };
        let line = serde_json::to_value(&change).unwrap();
        assert_eq!(
            line,
            json!({
                "time": 7, "type": "membership", "nodes": ["n3"],
                "action": "add_voter", "node": "n3", "via": "n1", "outcome": "error",
                "error": [11, "change in progress"], "sent": 5,
                "voters": ["n0", "n1", "n2"], "non_voters": ["n3"], "leader": "n0"
            })
        );
        assert_eq!(
            serde_json::from_value::<NemesisEvent>(line).unwrap(),
            change
        );

        let heal = json!({"time": 1, "type": "heal", "nodes": ["n0"]});
        let parsed: NemesisEvent = serde_json::from_value(heal.clone()).unwrap();
        assert_eq!(parsed.membership, None);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), heal);
        let partition = json!({
            "time": 2, "type": "partition-start", "nodes": ["n0", "n1"],
            "shape": "one", "cut": {"n0": ["n1"], "n1": ["n0"]}
        });
        let parsed: NemesisEvent = serde_json::from_value(partition.clone()).unwrap();
        assert_eq!(
            (parsed.shape.as_deref(), &parsed.membership),
            (Some("one"), &None)
        );
        assert_eq!(serde_json::to_value(&parsed).unwrap(), partition);
    }
}
