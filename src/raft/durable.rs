//! What the core must find again after a crash. The core owns these types; storage
//! depends on the core to keep them, never the reverse.

use serde::{Deserialize, Serialize};

use super::entry::{Entry, NodeId, Term};

/// The part of a server's state that must be durable before it votes or asks for votes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
}

/// Everything a restarting server reads back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    pub hard_state: HardState,
    /// The log, contiguous from index 1.
    pub entries: Vec<Entry>,
}
