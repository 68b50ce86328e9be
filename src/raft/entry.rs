//! What the replicated log holds.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::membership::Configuration;

/// Servers are named by their Maelstrom node ids ("n0", "n1", ...).
pub type NodeId = String;
pub type Term = u64;
/// Log positions start at 1; index 0 is the empty prefix every log shares.
pub type Index = u64;

/// One log entry: its position, the term of the leader that created it, and its payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub data: EntryData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryData {
    /// Appended by every new leader so that an entry of its own term can commit,
    /// which is what lets it count earlier entries as committed (Raft §5.4.2).
    Noop,
    /// A state machine command, which the core replicates without reading it.
    Command(Payload),
    /// The cluster's new membership, in force from the moment it is in a log.
    Config(Configuration),
}

/// A command of the state machine, opaque to the core (as etcd's and raft-rs's entries
/// carry bytes). It is a JSON object rather than bytes because the log and the messages
/// are JSON: an object sits inline in its entry, beside the entry's `kind` tag, at no
/// cost in size, where bytes would travel as an array of numbers or an escaped string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(Map<String, Value>);

impl Payload {
    /// Wraps the state machine's encoding of a command. The key `kind` belongs to the
    /// entry that carries the object, so the object must not use it.
    pub fn from_object(object: Map<String, Value>) -> Self {
        assert!(
            !object.contains_key("kind"),
            "a command payload must leave the key \"kind\" to its entry"
        );
        Payload(object)
    }

    pub fn as_object(&self) -> &Map<String, Value> {
        &self.0
    }
}
