//! What the core must find again after a crash. The core owns these types; storage
//! depends on the core to keep them, never the reverse.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::entry::{Entry, Index, NodeId, Term};
use super::membership::Configuration;

/// The part of a server's state that must be durable before it votes or asks for votes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
}

/// What a snapshot stands in for: the log up to `last_index`, whose last entry has
/// `last_term`, and the configuration in force at that index (the entries that carried
/// it are gone with the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub last_index: Index,
    pub last_term: Term,
    pub config: Configuration,
}

/// The state machine as of `meta.last_index`. The core never looks inside `data`: the
/// state machine writes it and reads it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Arc<[u8]>,
}

/// Everything a restarting server reads back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    pub hard_state: HardState,
    /// The newest durable snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot: contiguous from the snapshot's last index + 1, or
    /// from index 1 without a snapshot.
    pub entries: Vec<Entry>,
}
