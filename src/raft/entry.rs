//! What the replicated log holds.

use serde::{Deserialize, Serialize};

use super::membership::Configuration;
use crate::kv::Command;

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
    /// A client's state-changing request.
    Command(Command),
    /// The cluster's new membership, in force from the moment it is in a log.
    Config(Configuration),
}
