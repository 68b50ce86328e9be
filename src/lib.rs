//! raft-ng: a Raft-replicated, linearizable key-value node for Jepsen Maelstrom.
//!
//! - [`protocol`]: Maelstrom's JSON wire format.
//! - [`raft`]: the consensus core, a deterministic value stepped by messages and time.
//! - [`storage`]: where term, vote and log are kept.
//! - [`kv`]: the replicated state machine.
//! - [`node`]: the threaded runtime around the core (LogCabin's architecture).

pub mod kv;
pub mod node;
pub mod protocol;
pub mod raft;
pub mod storage;

#[cfg(test)]
mod simulation;
