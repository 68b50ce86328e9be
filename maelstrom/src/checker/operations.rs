//! From raw events to per-key operations the search understands: invocations paired with
//! their completions, outcomes classified, values interned to small integers.

use std::collections::HashMap;

use serde_json::Value;

use crate::history::{Event, EventType, OpFn};

/// Interned register value; [`NIL`] is the empty register (JSON null).
pub type ValueId = u32;
pub const NIL: ValueId = 0;

/// What an operation does to the register, with its arguments interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read that returned this (non-null) value.
    Read(ValueId),
    Write(ValueId),
    Cas {
        from: ValueId,
        to: ValueId,
    },
}

impl Action {
    /// The register after applying the action to `state`, or `None` when the action
    /// is impossible in that state.
    pub fn apply(self, state: ValueId) -> Option<ValueId> {
        match self {
            Action::Read(seen) => (seen == state).then_some(state),
            Action::Write(value) => Some(value),
            Action::Cas { from, to } => (from == state).then_some(to),
        }
    }
}

/// One operation that constrains the search.
#[derive(Clone, Debug)]
pub struct Operation {
    pub action: Action,
    /// Invocation time (ns).
    pub call: u64,
    /// Completion time (ns) of an `ok` op; `None` for an info op, which may take effect
    /// at any time after its invocation, or never.
    pub ret: Option<u64>,
    /// Index of the invoke event in the history.
    pub invoke: usize,
    /// Index of the completion event, if there was one.
    pub completion: Option<usize>,
}

/// One key's sub-history.
#[derive(Debug)]
pub struct KeyHistory {
    pub key: Value,
    /// Every invocation on the key, fails and dropped reads included.
    pub invoked: usize,
    /// Operations that constrain the search, sorted by invocation time.
    pub operations: Vec<Operation>,
    /// Interned values: `values[id]`; `values[NIL]` is null.
    pub values: Vec<Value>,
}

/// How an invocation ended.
enum Outcome {
    Ok(usize),
    /// Info completion, or no completion at all.
    Indeterminate(Option<usize>),
    Failed,
}

/// Pairs each invocation with its completion by process and groups the operations by
/// key, in order of each key's first invocation.
pub fn split_by_key(history: &[Event]) -> Vec<KeyHistory> {
    let mut keys: Vec<KeyHistory> = Vec::new();
    // serde_json::Value is not Hash; its compact text is a faithful stand-in.
    let mut key_index: HashMap<String, usize> = HashMap::new();
    let mut interners: Vec<HashMap<String, ValueId>> = Vec::new();

    for (invoke, outcome) in pair_invocations(history) {
        let event = &history[invoke];
        let slot = *key_index.entry(event.key.to_string()).or_insert_with(|| {
            keys.push(KeyHistory {
                key: event.key.clone(),
                invoked: 0,
                operations: Vec::new(),
                values: vec![Value::Null],
            });
            interners.push(HashMap::from([(Value::Null.to_string(), NIL)]));
            keys.len() - 1
        });
        let key = &mut keys[slot];
        key.invoked += 1;
        let mut intern = |value: &Value| -> ValueId {
            *interners[slot].entry(value.to_string()).or_insert_with(|| {
                key.values.push(value.clone());
                (key.values.len() - 1) as ValueId
            })
        };

        let (ret, completion) = match outcome {
            // A failed op did not happen and never will.
            Outcome::Failed => continue,
            Outcome::Ok(done) => (Some(history[done].time), Some(done)),
            Outcome::Indeterminate(done) => (None, done),
        };
        let action = match event.f {
            OpFn::Read => {
                // A read with no known result, or one that saw null, fits every state and
                // changes nothing: it can always be linearized, so it cannot matter.
                let Some(done) = completion.filter(|_| ret.is_some()) else {
                    continue;
                };
                match &history[done].value {
                    Value::Null => continue,
                    seen => Action::Read(intern(seen)),
                }
            }
            OpFn::Write => Action::Write(intern(&event.value)),
            OpFn::Cas => match &event.value {
                Value::Array(pair) if pair.len() == 2 => Action::Cas {
                    from: intern(&pair[0]),
                    to: intern(&pair[1]),
                },
                // A cas without a [from, to] pair cannot be modelled; had it
                // succeeded it would be a protocol error the runner reports elsewhere.
                _ => continue,
            },
        };
        key.operations.push(Operation {
            action,
            call: event.time,
            ret,
            invoke,
            completion,
        });
    }

    for key in &mut keys {
        key.operations.sort_by_key(|op| (op.call, op.invoke));
    }
    keys
}

/// Every invocation (by history index) with its outcome. A process has at most one op in
/// flight, so a completion belongs to the latest open invocation of its process.
fn pair_invocations(history: &[Event]) -> Vec<(usize, Outcome)> {
    // Events are written in time order; sorting (stably) only guards against a history
    // stitched together from several writers.
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].time);

    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut paired = Vec::with_capacity(history.len() / 2 + 1);
    for index in order {
        let event = &history[index];
        match event.kind {
            EventType::Invoke => {
                // A second invocation while one is open: the first never got an answer.
                if let Some(orphan) = open.insert(event.process, index) {
                    paired.push((orphan, Outcome::Indeterminate(None)));
                }
            }
            completion => {
                // A completion with nothing open has nothing to say about the register.
                let Some(invoke) = open.remove(&event.process) else {
                    continue;
                };
                let outcome = match completion {
                    EventType::Ok => Outcome::Ok(index),
                    EventType::Fail => Outcome::Failed,
                    _ => Outcome::Indeterminate(Some(index)),
                };
                paired.push((invoke, outcome));
            }
        }
    }
    paired.extend(
        open.into_values()
            .map(|invoke| (invoke, Outcome::Indeterminate(None))),
    );
    // Keys are reported in order of first invocation.
    paired.sort_by_key(|(invoke, _)| *invoke);
    paired
}
