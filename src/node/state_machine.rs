//! The state machine's side of answering clients, without threads or I/O: applies a
//! [`Batch`] of committed entries to the key-value store and says what to answer whom,
//! and takes snapshots of the store. The node's state machine thread and the
//! simulation both drive it.
//!
//! Snapshots are taken here, between batches, by the thread that applies entries: the
//! store is still while it is serialized, and consensus goes on meanwhile (the core
//! is not locked). The snapshot records the index and term of the last entry applied
//! and the configuration in force there, which this state machine follows from the
//! configuration entries it is handed, since the log that held them will be gone.

use crate::kv::{Command, Kv, KvResult};
#[cfg(test)]
use crate::raft::InjectedBug;
use serde_json::Value;

use std::sync::Arc;

use crate::protocol::{self, code, ClientRef};
use crate::raft::{Config, Configuration, EntryData, Index, NodeId, Snapshot, SnapshotMeta, Term};

use super::requests::{Batch, Outgoing};

pub struct StateMachine {
    kv: Kv,
    me: NodeId,
    /// Entries up to here were in the log at start-up: an earlier life of this server
    /// proposed them, and their clients have long given up, so they are applied silently.
    recovered_up_to: Index,
    /// The last entry applied (or the snapshot loaded), and its term.
    applied: (Index, Term),
    /// The configuration in force after `applied`.
    config: Configuration,
    /// Take a snapshot once this many entries were applied since the last (0: never).
    snapshot_every: u64,
    last_snapshot: Index,
    #[cfg(test)]
    bug: Option<InjectedBug>,
}

/// A snapshot this server cannot load: it was not written by this state machine.
#[derive(Debug)]
pub struct BadSnapshot {
    pub index: Index,
    pub reason: String,
}

impl StateMachine {
    /// `bootstrap` is the configuration before any in the log; a snapshot, when one
    /// comes first in a batch, replaces it.
    pub fn new(
        me: NodeId,
        bootstrap: Configuration,
        recovered_up_to: Index,
        snapshot_every: u64,
        _config: &Config,
    ) -> Self {
        StateMachine {
            kv: Kv::new(),
            me,
            recovered_up_to,
            applied: (0, 0),
            config: bootstrap,
            snapshot_every,
            last_snapshot: 0,
            #[cfg(test)]
            bug: _config.injected_bug,
        }
    }

    /// The last entry applied.
    #[cfg(test)]
    pub fn applied_index(&self) -> Index {
        self.applied.0
    }

    /// A snapshot of what has been applied, when the policy says one is due: enough
    /// entries were applied since the last.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        let due =
            self.snapshot_every > 0 && self.applied.0 >= self.last_snapshot + self.snapshot_every;
        if !due {
            return None;
        }
        self.last_snapshot = self.applied.0;
        Some(Snapshot {
            meta: SnapshotMeta {
                last_index: self.applied.0,
                last_term: self.applied.1,
                config: self.config.clone(),
            },
            data: Arc::from(self.kv.snapshot()),
        })
    }

    /// Replaces the store with a snapshot's.
    fn load(&mut self, snapshot: &Snapshot) -> Result<(), BadSnapshot> {
        self.kv = Kv::restore(&snapshot.data).map_err(|e| BadSnapshot {
            index: snapshot.meta.last_index,
            reason: e.to_string(),
        })?;
        self.applied = (snapshot.meta.last_index, snapshot.meta.last_term);
        self.config = snapshot.meta.config.clone();
        self.last_snapshot = snapshot.meta.last_index;
        Ok(())
    }

    /// Loads the batch's snapshot, if it has one, applies its entries, answering the
    /// commands this server proposed, then serves its confirmed reads and fails its
    /// aborted ones.
    pub fn apply(&mut self, batch: Batch) -> Result<Vec<Outgoing>, BadSnapshot> {
        if let Some(snapshot) = &batch.snapshot {
            self.load(snapshot)?;
        }
        let mut out = Vec::new();
        // Every read's index is at most the commit index these entries reach, so
        // applying them first makes each read see at least its index.
        let reads_first = self.reads_before_entries();
        if reads_first {
            self.serve_reads(&batch.ready, &mut out);
        }
        for entry in &batch.entries {
            self.applied = (entry.index, entry.term);
            let payload = match &entry.data {
                EntryData::Command(payload) => payload,
                EntryData::Config(config) => {
                    self.config = config.clone();
                    continue;
                }
                EntryData::Noop => continue,
            };
            let cmd = match Command::decode(payload) {
                Ok(cmd) => cmd,
                Err(e) => {
                    // Every server skips it alike, so their states stay the same.
                    eprintln!(
                        "{}: skipped entry {}: not a command: {e}",
                        self.me, entry.index
                    );
                    continue;
                }
            };
            let result = self.kv.apply(&cmd.op);
            if cmd.proposer == self.me && entry.index > self.recovered_up_to {
                out.push(Outgoing {
                    to: cmd.client.clone(),
                    body: reply(cmd.msg_id, result),
                });
            }
        }
        if !reads_first {
            self.serve_reads(&batch.ready, &mut out);
        }
        for origin in batch.aborted {
            // A read changes nothing, so failing it definitely is always safe.
            out.push(Outgoing {
                to: origin.client,
                body: protocol::error(
                    origin.msg_id,
                    code::TEMPORARILY_UNAVAILABLE,
                    "leadership lost",
                ),
            });
        }
        Ok(out)
    }

    fn serve_reads(&self, ready: &[(ClientRef, Value)], out: &mut Vec<Outgoing>) {
        for (origin, key) in ready {
            out.push(Outgoing {
                to: origin.client.clone(),
                body: reply(origin.msg_id, self.kv.read(key)),
            });
        }
    }

    #[cfg(test)]
    fn reads_before_entries(&self) -> bool {
        self.bug == Some(InjectedBug::ReadBeforeApplied)
    }
    #[cfg(not(test))]
    fn reads_before_entries(&self) -> bool {
        false
    }
}

fn reply(in_reply_to: u64, result: KvResult) -> serde_json::Value {
    match result {
        KvResult::ReadOk(value) => protocol::read_ok(in_reply_to, value),
        KvResult::WriteOk => protocol::write_ok(in_reply_to),
        KvResult::CasOk => protocol::cas_ok(in_reply_to),
        KvResult::KeyMissing => {
            protocol::error(in_reply_to, code::KEY_DOES_NOT_EXIST, "key does not exist")
        }
        KvResult::PreconditionFailed { current } => {
            let text = format!("expected a different value: current is {current}");
            protocol::error(in_reply_to, code::PRECONDITION_FAILED, &text)
        }
    }
}
