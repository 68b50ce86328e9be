//! From raw events to per-key operations the search understands: invocations paired with
//! their completions, outcomes classified, values interned to small integers.

use std::collections::HashMap;

use serde_json::Value;

use crate::history::{pair_invocations, Event, EventType, OpFn, OpPair};

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

/// Pairs each invocation with its completion ([`pair_invocations`]) and groups the
/// operations by key, in order of each key's first invocation.
pub fn split_by_key(history: &[Event]) -> Vec<KeyHistory> {
    let mut keys: Vec<KeyHistory> = Vec::new();
    // serde_json::Value is not Hash; its compact text is a faithful stand-in.
    let mut key_index: HashMap<String, usize> = HashMap::new();
    let mut interners: Vec<HashMap<String, ValueId>> = Vec::new();

    // Pairs come in order of invocation, so keys come in order of first invocation.
    for OpPair { invoke, completion } in pair_invocations(history) {
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

        let ret = match completion.map(|done| (history[done].kind, history[done].time)) {
            // A failed op did not happen and never will.
            Some((EventType::Fail, _)) => continue,
            Some((EventType::Ok, time)) => Some(time),
            // Info, or no completion at all: indeterminate.
            _ => None,
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
