//! Human-readable explanations of a key that is not linearizable, and the JSON form of
//! the whole check (the `workload` section of results.json).

use serde_json::{json, Map, Value};

use super::operations::{Action, KeyHistory, Operation, ValueId, NIL};
use super::search::Failure;
use super::{CheckReport, KeyReport};
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
    pub fn to_json(&self) -> Value {
        let anomaly: Vec<Value> = self
            .anomaly
            .iter()
            .map(|event| serde_json::to_value(event).expect("events serialize"))
            .collect();
        json!({
            "key": self.key,
            "valid?": self.validity.to_json(),
            "op-count": self.op_count,
            "reason": self.reason,
            "anomaly": anomaly,
        })
    }
}

impl CheckReport {
    /// `{"valid?": ..., "keys": {"<key>": {...}}, "missing-ok": ["cas", ...]}`.
    pub fn to_json(&self) -> Value {
        let keys: Map<String, Value> = self
            .keys
            .iter()
            .map(|key| (key_name(&key.key), key.to_json()))
            .collect();
        json!({
            "valid?": self.validity.to_json(),
            "keys": keys,
            "missing-ok": self.missing_ok,
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
