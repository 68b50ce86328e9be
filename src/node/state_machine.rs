//! The state machine's side of answering clients, without threads or I/O: applies a
//! [`Batch`] of committed entries to the key-value store and says what to answer whom.
//! The node's state machine thread and the simulation both drive it.

use crate::kv::{Command, Kv, KvResult};
#[cfg(test)]
use crate::raft::InjectedBug;
use serde_json::Value;

use crate::protocol::{self, code, ClientRef};
use crate::raft::{Config, EntryData, Index, NodeId};

use super::requests::{Batch, Outgoing};

pub struct StateMachine {
    kv: Kv,
    me: NodeId,
    /// Entries up to here were in the log at start-up: an earlier life of this server
    /// proposed them, and their clients have long given up, so they are applied silently.
    recovered_up_to: Index,
    #[cfg(test)]
    bug: Option<InjectedBug>,
}

impl StateMachine {
    pub fn new(me: NodeId, recovered_up_to: Index, _config: &Config) -> Self {
        StateMachine {
            kv: Kv::new(),
            me,
            recovered_up_to,
            #[cfg(test)]
            bug: _config.injected_bug,
        }
    }

    /// Applies the batch's entries, answering the commands this server proposed, then
    /// serves its confirmed reads and fails its aborted ones.
    pub fn apply(&mut self, batch: Batch) -> Vec<Outgoing> {
        let mut out = Vec::new();
        // Every read's index is at most the commit index these entries reach, so
        // applying them first makes each read see at least its index.
        let reads_first = self.reads_before_entries();
        if reads_first {
            self.serve_reads(&batch.ready, &mut out);
        }
        for entry in &batch.entries {
            let EntryData::Command(payload) = &entry.data else {
                continue;
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
        out
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
