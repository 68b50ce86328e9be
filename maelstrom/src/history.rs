//! The files a run leaves behind: `history.jsonl` (one client event per line) and
//! `nemesis.jsonl` (one fault or membership change per line). The checker, the result
//! figures and the plots all read these types and pair invocations with their
//! completions the same way ([`pair_invocations`]); figures and plots also take
//! percentiles the same way ([`percentile`]). `harness check` re-reads the files from
//! disk. Membership changes are admin requests, not lin-kv operations, so they go to
//! `nemesis.jsonl` only and the checker never sees them.

use std::collections::HashMap;
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

impl EventType {
    /// The name as histories write it.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpFn {
    Read,
    Write,
    Cas,
}

impl OpFn {
    /// The name as Maelstrom writes it, in histories, results and plots alike.
    pub fn name(self) -> &'static str {
        match self {
            OpFn::Read => "read",
            OpFn::Write => "write",
            OpFn::Cas => "cas",
        }
    }
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
    /// The node the client talks to; empty when the history does not say, as in
    /// histories written by Jepsen.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// `[code, text]` when the node answered with an error. An error that has no integer
    /// code (a plain string such as Jepsen's `timed-out`, a `[name, text]` pair, an error
    /// reply without a code) is held as [`Event::NO_CODE`] and its text; see
    /// [`error_form`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "error_form::serialize",
        deserialize_with = "error_form::deserialize"
    )]
    pub error: Option<(i64, String)>,
}

impl Event {
    /// The code of an error that came without an integer code. No node sends it and it
    /// is never written: such an error goes to a history as its plain text.
    pub const NO_CODE: i64 = i64::MIN;
}

/// How `error` is written and read. Written: `[code, text]`, or the plain text for an
/// error without a code. Read: `[code, text]`, a bare integer code, or anything else
/// (a string, Maelstrom's `[name, text]`, an object), which becomes an error without a
/// code whose text is the string itself or the value's JSON.
pub mod error_form {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    use super::Event;

    pub fn serialize<S: Serializer>(
        error: &Option<(i64, String)>,
        out: S,
    ) -> Result<S::Ok, S::Error> {
        match error {
            Some((Event::NO_CODE, text)) => text.serialize(out),
            other => other.serialize(out),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<Option<(i64, String)>, D::Error> {
        Ok(from_value(Value::deserialize(input)?))
    }

    fn from_value(value: Value) -> Option<(i64, String)> {
        let text_of = |value: &Value| match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match &value {
            Value::Null => None,
            Value::Number(code) if code.is_i64() => Some((code.as_i64()?, String::new())),
            Value::Array(pair) if pair.len() == 2 && pair[0].is_i64() => {
                Some((pair[0].as_i64()?, text_of(&pair[1])))
            }
            other => Some((Event::NO_CODE, text_of(other))),
        }
    }
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

/// One invocation and the completion that answered it, as indices into the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpPair {
    /// The invoke event.
    pub invoke: usize,
    /// The ok, fail or info event that completed it; `None` when it never completed:
    /// still in flight when the history ends, or left behind by a later invocation of
    /// the same process.
    pub completion: Option<usize>,
}

impl OpPair {
    /// The invoke and completion events, when the operation completed.
    pub fn completed<'a>(&self, history: &'a [Event]) -> Option<(&'a Event, &'a Event)> {
        let completion = self.completion?;
        Some((&history[self.invoke], &history[completion]))
    }
}

/// Every invocation in `history` with its completion, in order of invocation (history
/// index). A process has at most one operation in flight, so a completion belongs to the
/// latest open invocation of its process.
pub fn pair_invocations(history: &[Event]) -> Vec<OpPair> {
    // Events are written in time order; sorting (stably) only guards against a history
    // stitched together from several writers.
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].time);

    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut pairs = Vec::with_capacity(history.len() / 2 + 1);
    for index in order {
        let event = &history[index];
        if event.kind == EventType::Invoke {
            // A second invocation while one is open: the first never got an answer.
            if let Some(orphan) = open.insert(event.process, index) {
                pairs.push(OpPair {
                    invoke: orphan,
                    completion: None,
                });
            }
        } else if let Some(invoke) = open.remove(&event.process) {
            pairs.push(OpPair {
                invoke,
                completion: Some(index),
            });
        }
        // A completion with nothing open answers no invocation and is left out.
    }
    pairs.extend(open.into_values().map(|invoke| OpPair {
        invoke,
        completion: None,
    }));
    pairs.sort_by_key(|pair| pair.invoke);
    pairs
}

/// Why a history is not a sequence of operations per process, by index into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceError {
    /// An ok, fail or info with no invocation of its process outstanding.
    CompletionWithoutInvocation { index: usize },
    /// An invocation while the same process still has `outstanding` (an index) open.
    InvocationWhileOutstanding { index: usize, outstanding: usize },
}

/// Checks, in the history's own order, that each process alternates invocation and
/// completion, as a Jepsen process does: the checker pairs every completion with the
/// open invocation of its process, so a history that breaks this would be checked
/// against operations nobody performed. An invocation still open at the end is fine.
pub fn check_sequential(history: &[Event]) -> Result<(), SequenceError> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (index, event) in history.iter().enumerate() {
        if event.kind == EventType::Invoke {
            if let Some(&outstanding) = open.get(&event.process) {
                return Err(SequenceError::InvocationWhileOutstanding { index, outstanding });
            }
            open.insert(event.process, index);
        } else if open.remove(&event.process).is_none() {
            return Err(SequenceError::CompletionWithoutInvocation { index });
        }
    }
    Ok(())
}

/// Reads a history file for checking: one event per line, each process a sequence of
/// operations ([`check_sequential`]). Errors name the file's line.
pub fn read_history(path: &Path) -> Result<Vec<Event>> {
    let (lines, events): (Vec<usize>, Vec<Event>) = read_numbered(path)?.into_iter().unzip();
    check_sequential(&events).map_err(|error| {
        let what = |index: usize| {
            let event: &Event = &events[index];
            format!("{} of process {}", event.f.name(), event.process)
        };
        let message = match error {
            SequenceError::CompletionWithoutInvocation { index } => format!(
                "line {}: {} completion of {} with no invocation outstanding",
                lines[index],
                events[index].kind.name(),
                what(index)
            ),
            SequenceError::InvocationWhileOutstanding { index, outstanding } => format!(
                "line {}: invocation of {} while the invocation at line {} has not completed",
                lines[index],
                what(index),
                lines[outstanding]
            ),
        };
        anyhow::anyhow!("{}: {message}", path.display())
    })?;
    Ok(events)
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `fraction`
/// of them at or below it. results.json and latency-quantiles.png both use it, so the
/// figures of a run and its plot agree.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
    Ok(read_numbered(path)?
        .into_iter()
        .map(|(_, item)| item)
        .collect())
}

/// Reads one JSON value per line, skipping blank lines; each value with its line number.
fn read_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut items = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let item = serde_json::from_str(&line)
            .with_context(|| format!("{} line {number}: not a valid event", path.display()))?;
        items.push((number, item));
    }
    Ok(items)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A client event on key 1 at node n1, `time_ms` after the start of the run; the
    /// other modules' tests build their histories from it too.
    pub fn event(process: u64, kind: EventType, f: OpFn, time_ms: u64) -> Event {
        Event {
            process,
            kind,
            f,
            key: json!(1),
            value: json!(null),
            time: time_ms * 1_000_000,
            node: "n1".into(),
            error: None,
        }
    }

    fn pairs(history: &[Event]) -> Vec<(usize, Option<usize>)> {
        pair_invocations(history)
            .into_iter()
            .map(|pair| (pair.invoke, pair.completion))
            .collect()
    }

    #[test]
    fn interleaved_processes_pair_each_completion_with_their_own_invocation() {
        use EventType::*;
        let history = [
            event(0, Invoke, OpFn::Write, 0),
            event(1, Invoke, OpFn::Read, 2),
            event(2, Invoke, OpFn::Cas, 3),
            event(1, Ok, OpFn::Read, 4),
            event(0, Info, OpFn::Write, 9),
            event(1, Invoke, OpFn::Write, 10),
            event(2, Fail, OpFn::Cas, 11),
            event(1, Ok, OpFn::Write, 12),
            // Still in flight when the history ends.
            event(2, Invoke, OpFn::Read, 13),
        ];
        assert_eq!(
            pairs(&history),
            [
                (0, Some(4)),
                (1, Some(3)),
                (2, Some(6)),
                (5, Some(7)),
                (8, None)
            ]
        );
        let paired = pair_invocations(&history);
        let (invocation, info) = paired[0].completed(&history).unwrap();
        assert_eq!((invocation, info), (&history[0], &history[4]));
        assert_eq!(paired[4].completed(&history), None);
    }

    #[test]
    fn an_invocation_left_behind_or_a_stray_completion_pairs_with_nothing() {
        use EventType::*;
        let history = [
            event(0, Invoke, OpFn::Write, 0),
            // The process moved on: the write above never completes.
            event(0, Invoke, OpFn::Read, 10),
            event(0, Ok, OpFn::Read, 15),
            // Completes nothing that was invoked.
            event(4, Ok, OpFn::Write, 20),
            event(4, Invoke, OpFn::Cas, 30),
        ];
        assert_eq!(pairs(&history), [(0, None), (1, Some(2)), (4, None)]);
    }

    #[test]
    fn pairing_follows_time_not_file_order() {
        use EventType::*;
        let history = [
            event(0, Invoke, OpFn::Write, 0),
            event(0, Invoke, OpFn::Read, 20),
            event(0, Ok, OpFn::Write, 10),
            event(0, Ok, OpFn::Read, 30),
        ];
        assert_eq!(pairs(&history), [(0, Some(2)), (1, Some(3))]);
    }

    #[test]
    fn foreign_events_need_no_node_and_may_have_errors_without_a_code() {
        let line = json!({
            "process": 3, "type": "info", "f": "write", "key": 1, "value": 2,
            "time": 5, "error": "timed-out"
        });
        let parsed: Event = serde_json::from_value(line.clone()).unwrap();
        assert_eq!(parsed.node, "");
        assert_eq!(parsed.error, Some((Event::NO_CODE, "timed-out".into())));
        // Written back as it was read: no node, the error as plain text.
        assert_eq!(serde_json::to_value(&parsed).unwrap(), line);

        let error_of = |error: Value| {
            let mut line = line.clone();
            line["error"] = error;
            serde_json::from_value::<Event>(line).unwrap().error
        };
        assert_eq!(error_of(json!([22, "no"])), Some((22, "no".into())));
        assert_eq!(error_of(json!(20)), Some((20, String::new())));
        assert_eq!(error_of(Value::Null), None);
        assert_eq!(
            error_of(json!(["precondition-failed", "expected 1"])),
            Some((
                Event::NO_CODE,
                r#"["precondition-failed","expected 1"]"#.into()
            ))
        );
        // A coded error keeps its form.
        let mut coded = parsed;
        coded.error = Some((11, "busy".into()));
        assert_eq!(
            serde_json::to_value(&coded).unwrap()["error"],
            json!([11, "busy"])
        );
    }

    #[test]
    fn a_process_must_alternate_invocation_and_completion() {
        use EventType::*;
        let fine = [
            event(0, Invoke, OpFn::Write, 0),
            event(1, Invoke, OpFn::Read, 1),
            event(0, Info, OpFn::Write, 2),
            event(0, Invoke, OpFn::Read, 3),
            // Still open at the end: allowed.
        ];
        assert_eq!(check_sequential(&fine), Result::Ok(()));
        let mut stray = fine.to_vec();
        stray.insert(1, event(2, Ok, OpFn::Read, 1));
        assert_eq!(
            check_sequential(&stray),
            Err(SequenceError::CompletionWithoutInvocation { index: 1 })
        );
        let mut twice = fine.to_vec();
        twice.push(event(1, Invoke, OpFn::Cas, 4));
        assert_eq!(
            check_sequential(&twice),
            Err(SequenceError::InvocationWhileOutstanding {
                index: 4,
                outstanding: 1
            })
        );
    }

    #[test]
    fn reading_a_history_names_the_line_of_a_sequence_error() {
        use EventType::*;
        let dir = std::env::temp_dir().join(format!("history-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let line = |e: Event| serde_json::to_string(&e).unwrap();
        // A blank line counts: errors name the file's lines.
        let text = [
            line(event(0, Invoke, OpFn::Write, 0)),
            String::new(),
            line(event(0, Invoke, OpFn::Read, 1)),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let error = format!("{:#}", read_history(&path).unwrap_err());
        assert!(
            error.ends_with(
                "line 3: invocation of read of process 0 while the invocation at line 1 \
                 has not completed"
            ),
            "{error}"
        );
        std::fs::write(&path, line(event(4, Fail, OpFn::Cas, 0))).unwrap();
        let error = format!("{:#}", read_history(&path).unwrap_err());
        assert!(
            error.ends_with(
                "line 1: fail completion of cas of process 4 with no invocation outstanding"
            ),
            "{error}"
        );
        std::fs::write(&path, line(event(4, Invoke, OpFn::Cas, 0))).unwrap();
        assert_eq!(read_history(&path).unwrap().len(), 1);
        // The plain reader takes any lines of JSON, names the bad one.
        std::fs::write(&path, "\n{\"a\":1}\nnot json\n").unwrap();
        let error = format!("{:#}", read_jsonl::<Value>(&path).unwrap_err());
        assert!(error.contains("line 3: not a valid event"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn function_names_are_the_history_names() {
        for f in [OpFn::Read, OpFn::Write, OpFn::Cas] {
            assert_eq!(serde_json::to_value(f).unwrap(), json!(f.name()));
        }
        use EventType::*;
        for kind in [Invoke, Ok, Fail, Info] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.name()));
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&values, 1.0), 100.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }

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
