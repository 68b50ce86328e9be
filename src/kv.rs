//! The replicated state machine: one compare-and-set register per key.
//!
//! Keys and values are arbitrary JSON; they are echoed back with their JSON type.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::raft::Payload;

/// A state-changing client request as it travels through the log, with what is needed
/// to answer the client from whichever server proposed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub client: String,
    pub msg_id: u64,
    /// The server that will answer the client once the entry is applied.
    pub proposer: String,
    pub op: KvOp,
}

impl Command {
    /// The command as the log carries it: the core replicates it without reading it.
    pub fn encode(&self) -> Payload {
        match serde_json::to_value(self) {
            Ok(Value::Object(object)) => Payload::from_object(object),
            other => unreachable!("a command serializes to an object, not {other:?}"),
        }
    }

    /// Reads back a command from the log. Fails only on a payload this state machine
    /// did not write.
    pub fn decode(payload: &Payload) -> Result<Command, serde_json::Error> {
        Command::deserialize(payload.as_object())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum KvOp {
    Write { key: Value, value: Value },
    Cas { key: Value, from: Value, to: Value },
}

/// The outcome of an operation, as the client will be told it.
#[derive(Clone, Debug, PartialEq)]
pub enum KvResult {
    ReadOk(Value),
    WriteOk,
    CasOk,
    KeyMissing,
    PreconditionFailed { current: Value },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kv {
    /// Keyed by the key's canonical JSON text, so that 1 and "1" stay distinct keys.
    registers: HashMap<String, Value>,
}

impl Kv {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn read(&self, key: &Value) -> KvResult {
        match self.registers.get(&key_text(key)) {
            Some(value) => KvResult::ReadOk(value.clone()),
            None => KvResult::KeyMissing,
        }
    }

    pub fn apply(&mut self, op: &KvOp) -> KvResult {
        match op {
            KvOp::Write { key, value } => {
                self.registers.insert(key_text(key), value.clone());
                KvResult::WriteOk
            }
            KvOp::Cas { key, from, to } => match self.registers.get_mut(&key_text(key)) {
                None => KvResult::KeyMissing,
                Some(current) if current == from => {
                    *current = to.clone();
                    KvResult::CasOk
                }
                Some(current) => KvResult::PreconditionFailed {
                    current: current.clone(),
                },
            },
        }
    }
}

impl Kv {
    /// Every register, as bytes for a snapshot: in key order, so that the same
    /// registers always make the same bytes, on every server.
    pub fn snapshot(&self) -> Vec<u8> {
        let sorted: BTreeMap<&String, &Value> = self.registers.iter().collect();
        serde_json::to_vec(&sorted).expect("registers serialize")
    }

    /// The registers a snapshot holds.
    pub fn restore(bytes: &[u8]) -> Result<Kv, serde_json::Error> {
        Ok(Kv {
            registers: serde_json::from_slice(bytes)?,
        })
    }
}

fn key_text(key: &Value) -> String {
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_then_read_echoes_the_json_type() {
        let mut kv = Kv::new();
        assert_eq!(kv.read(&json!(1)), KvResult::KeyMissing);
        kv.apply(&KvOp::Write {
            key: json!(1),
            value: json!("3"),
        });
        assert_eq!(kv.read(&json!(1)), KvResult::ReadOk(json!("3")));
        assert_eq!(
            kv.read(&json!("1")),
            KvResult::KeyMissing,
            "1 and \"1\" are different keys"
        );
    }

    #[test]
    fn commands_travel_inline_in_their_log_entry() {
        let command = Command {
            client: "c1".into(),
            msg_id: 7,
            proposer: "n0".into(),
            op: KvOp::Cas {
                key: json!(1),
                from: json!(2),
                to: json!("3"),
            },
        };
        let entry = crate::raft::Entry {
            term: 2,
            index: 9,
            data: crate::raft::EntryData::Command(command.encode()),
        };
        // The command's fields sit beside the entry's own: no wrapper, no escaping.
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            json!({"term": 2, "index": 9, "data": {"kind": "command", "client": "c1",
                   "msg_id": 7, "proposer": "n0",
                   "op": {"f": "cas", "key": 1, "from": 2, "to": "3"}}})
        );
        let text = serde_json::to_string(&entry).unwrap();
        let back: crate::raft::Entry = serde_json::from_str(&text).unwrap();
        let crate::raft::EntryData::Command(payload) = &back.data else {
            panic!("not a command: {back:?}");
        };
        assert_eq!(Command::decode(payload).unwrap(), command);
    }

    #[test]
    fn a_snapshot_restores_every_register() {
        let mut kv = Kv::new();
        for (key, value) in [
            (json!(1), json!("a")),
            (json!("1"), json!([2])),
            (json!(null), json!(3)),
        ] {
            kv.apply(&KvOp::Write { key, value });
        }
        let mut reversed = Kv::new();
        let mut pairs: Vec<_> = kv.registers.iter().collect();
        pairs.reverse();
        for (key, value) in pairs {
            reversed.registers.insert(key.clone(), value.clone());
        }
        assert_eq!(
            reversed.snapshot(),
            kv.snapshot(),
            "the same registers make the same bytes"
        );
        let restored = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored, kv);
        assert_eq!(restored.read(&json!("1")), KvResult::ReadOk(json!([2])));
        assert!(Kv::restore(b"not a snapshot").is_err());
    }

    #[test]
    fn cas_checks_the_current_value() {
        let mut kv = Kv::new();
        let cas = |from, to| KvOp::Cas {
            key: json!(0),
            from: json!(from),
            to: json!(to),
        };
        assert_eq!(kv.apply(&cas(1, 2)), KvResult::KeyMissing);
        kv.apply(&KvOp::Write {
            key: json!(0),
            value: json!(1),
        });
        assert_eq!(
            kv.apply(&cas(2, 3)),
            KvResult::PreconditionFailed { current: json!(1) }
        );
        assert_eq!(kv.apply(&cas(1, 2)), KvResult::CasOk);
        assert_eq!(kv.read(&json!(0)), KvResult::ReadOk(json!(2)));
    }
}
