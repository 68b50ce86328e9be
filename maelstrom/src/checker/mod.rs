//! Per-key linearizability of a compare-and-set register, the model Maelstrom's lin-kv
//! workload is checked against (Knossos underneath the real tool).
//!
//! Each key is an independent register starting at nil, so the history is split by key
//! (P-compositionality) and every key is searched on its own with Wing–Gong–Lowe
//! backtracking plus memoization of visited configurations (see [`search`]). On top of
//! that, Jepsen's stats checker, which Maelstrom runs next to the workload's, demands at
//! least one `ok` of every function that occurs in the whole history.

mod operations;
mod report;
mod search;

/// The plot tests time themselves on its histories too.
#[cfg(test)]
pub(crate) mod simulation;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::history::{Event, EventType, OpFn};
use operations::{split_by_key, KeyHistory};
use search::{Outcome, Search};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Validity {
    /// Jepsen's `:valid?`: `true`, `false` or `"unknown"`.
    pub fn to_json(self) -> Value {
        match self {
            Validity::Valid => Value::Bool(true),
            Validity::Invalid => Value::Bool(false),
            Validity::Unknown => Value::String("unknown".into()),
        }
    }

    /// Maelstrom's exit status for the verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

/// The verdict for one key's sub-history.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyReport {
    pub key: Value,
    pub validity: Validity,
    /// Operations invoked on this key, whatever their outcome.
    pub op_count: usize,
    /// Why the key is invalid or unknown; `None` when valid.
    pub reason: Option<String>,
    /// Invalid only: invoke and completion events of the smallest set of operations that
    /// shows the anomaly (the op that could not be linearized, the ops concurrent with it,
    /// and the ops of the longest linearization that explain the register's value).
    pub anomaly: Vec<Event>,
    /// Invalid only: the operation that could not be linearized, as its completion (its
    /// invocation if it never completed); Knossos's `op`.
    pub op: Option<Event>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub validity: Validity,
    /// One report per key, in order of first invocation.
    pub keys: Vec<KeyReport>,
    /// Functions that completed but never with an `ok` (which makes the history
    /// invalid). A function that never completed is not required, as in Jepsen's stats.
    pub missing_ok: Vec<OpFn>,
}

impl CheckReport {
    /// The verdict on the keys alone, without the stats rule: what Jepsen's independent
    /// checker (the `workload` section of results.json) says.
    pub fn keys_validity(&self) -> Validity {
        merge(self.keys.iter().map(|key| key.validity))
    }
}

/// Jepsen's `merge-valid`: invalid outranks unknown, which outranks valid; nothing at
/// all is valid.
pub fn merge(validities: impl IntoIterator<Item = Validity>) -> Validity {
    validities
        .into_iter()
        .fold(Validity::Valid, |merged, validity| {
            match (merged, validity) {
                (Validity::Invalid, _) | (_, Validity::Invalid) => Validity::Invalid,
                (Validity::Unknown, _) | (_, Validity::Unknown) => Validity::Unknown,
                _ => Validity::Valid,
            }
        })
}

/// Checks a whole history: every key must be linearizable, and every function that
/// completed must have succeeded at least once. A key whose search takes longer than
/// `budget_per_key` is reported unknown rather than holding up the verdict.
pub fn check(history: &[Event], budget_per_key: Duration) -> CheckReport {
    let keys: Vec<KeyReport> = split_by_key(history)
        .into_iter()
        .map(|key_history| check_key(history, key_history, budget_per_key))
        .collect();
    let missing_ok = functions_without_ok(history);
    let stats = if missing_ok.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let validity = merge(keys.iter().map(|key| key.validity).chain([stats]));
    CheckReport {
        validity,
        keys,
        missing_ok,
    }
}

fn check_key(history: &[Event], key_history: KeyHistory, budget: Duration) -> KeyReport {
    let outcome = Search::new(&key_history).run(budget);
    let (validity, reason, anomaly, op) = match outcome {
        Outcome::Linearizable => (Validity::Valid, None, Vec::new(), None),
        Outcome::TimedOut { configurations } => (
            Validity::Unknown,
            Some(format!(
                "search exceeded its time budget of {budget:?} after {configurations} \
                 configurations"
            )),
            Vec::new(),
            None,
        ),
        Outcome::NotLinearizable(failure) => (
            Validity::Invalid,
            Some(report::describe_failure(&key_history, &failure, history)),
            report::anomaly_events(&key_history, &failure, history),
            Some(report::failed_op(&key_history, &failure, history)),
        ),
    };
    KeyReport {
        key: key_history.key,
        validity,
        op_count: key_history.invoked,
        reason,
        anomaly,
        op,
    }
}

/// Functions with a completion (ok, fail or info) but no ok among them.
fn functions_without_ok(history: &[Event]) -> Vec<OpFn> {
    let mut completed = BTreeSet::new();
    let mut succeeded = BTreeSet::new();
    for event in history {
        match event.kind {
            EventType::Invoke => {}
            EventType::Ok => {
                completed.insert(event.f);
                succeeded.insert(event.f);
            }
            EventType::Fail | EventType::Info => {
                completed.insert(event.f);
            }
        }
    }
    completed.difference(&succeeded).copied().collect()
}
