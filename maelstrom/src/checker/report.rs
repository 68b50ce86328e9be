//! Human-readable explanations of a key that is not linearizable, and the JSON form of
//! the whole check (the `workload` section of results.json).

use serde_json::{json, Map, Value};

use super::operations::{Action, KeyHistory, Operation, ValueId, NIL};
use super::search::Failure;
use super::{CheckReport, KeyReport, Validity};
use crate::history::Event;

/// One sentence on why the key is not linearizable, e.g. "read of 3 by process 4
/// (invoked t=1.000000s, returned t=1.000200s) cannot be linearized: ...".
pub fn describe_failure(key: &KeyHistory, failure: &Failure, history: &[Event]) -> String {
    let stuck = &key.operations[failure.stuck];
    let mut reason = format!(
        "{} by process {} (invoked t={}, returned t={}) cannot be linearized: the longest \
         linearization found orders {} of {} operations and leaves the register at {}",
        describe_action(key, stuck.action),
        history[stuck.invoke].process,
        seconds(stuck.call),
        stuck.ret.map_or_else(|| "never".to_string(), seconds),
        failure.linearized,
        key.operations.len(),
        show_value(key, failure.state),
    );
    if !failure.pending.is_empty() {
        reason.push_str(&format!(
            ", and none of the {} other operations pending then can go before it",
            failure.pending.len()
        ));
    }
    reason
}

/// The operation that could not be linearized: its completion, or its invocation if it
/// never completed.
pub fn failed_op(key: &KeyHistory, failure: &Failure, history: &[Event]) -> Event {
    let stuck = &key.operations[failure.stuck];
    history[stuck.completion.unwrap_or(stuck.invoke)].clone()
}

/// The invoke and completion events of every operation in the failure's window, in
/// time order.
pub fn anomaly_events(key: &KeyHistory, failure: &Failure, history: &[Event]) -> Vec<Event> {
    let involved = failure
        .path_tail
        .iter()
        .chain(&failure.pending)
        .chain([&failure.stuck]);
    let mut indices: Vec<usize> = involved
        .map(|&op| &key.operations[op])
        .flat_map(|op: &Operation| [Some(op.invoke), op.completion])
        .flatten()
        .collect();
    indices.sort_by_key(|&i| (history[i].time, i));
    indices.dedup();
    indices.into_iter().map(|i| history[i].clone()).collect()
}

fn describe_action(key: &KeyHistory, action: Action) -> String {
    match action {
        Action::Read(seen) => format!("read of {}", show_value(key, seen)),
        Action::Write(value) => format!("write of {}", show_value(key, value)),
        Action::Cas { from, to } => format!(
            "cas from {} to {}",
            show_value(key, from),
            show_value(key, to)
        ),
    }
}

fn show_value(key: &KeyHistory, value: ValueId) -> String {
    if value == NIL {
        "nil".to_string()
    } else {
        key.values[value as usize].to_string()
    }
}

fn seconds(nanos: u64) -> String {
    format!("{:.6}s", nanos as f64 / 1e9)
}

impl KeyReport {
    /// The key's entry in the independent checker's `results`: its verdict and, as
    /// Jepsen composes the per-key checkers, the `linearizable` checker's report, with
    /// Knossos's names (`op`, `cause`) where it has them.
    pub fn to_json(&self) -> Value {
        let mut linearizable = json!({
            "valid?": self.validity.to_json(),
            "analyzer": "wgl",
            "op-count": self.op_count,
        });
        match self.validity {
            Validity::Valid => {}
            Validity::Unknown => linearizable["cause"] = json!(self.reason),
            Validity::Invalid => {
                linearizable["op"] = json!(self.op);
                linearizable["reason"] = json!(self.reason);
                linearizable["anomaly"] = json!(self.anomaly);
            }
        }
        json!({
            "valid?": self.validity.to_json(),
            "linearizable": linearizable,
        })
    }
}

impl CheckReport {
    /// The `workload` section of results.json, as Jepsen's independent checker writes
    /// it: `{"valid?": ..., "results": {"<key>": {...}}, "failures": [<key>, ...]}`, the
    /// keys' verdict alone (the stats rule has its own section).
    pub fn to_json(&self) -> Value {
        let results: Map<String, Value> = self
            .keys
            .iter()
            .map(|key| (key_name(&key.key), key.to_json()))
            .collect();
        let failures: Vec<&Value> = self
            .keys
            .iter()
            // Jepsen lists the keys whose verdict is falsy: unknown ones are not failures.
            .filter(|key| key.validity == Validity::Invalid)
            .map(|key| &key.key)
            .collect();
        json!({
            "valid?": self.keys_validity().to_json(),
            "results": results,
            "failures": failures,
        })
    }
}

/// JSON object keys are strings: a string key as itself, anything else as its JSON text.
fn key_name(key: &Value) -> String {
    match key {
        Value::String(name) => name.clone(),
        other => other.to_string(),
    }
}
