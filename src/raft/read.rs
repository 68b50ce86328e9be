//! Linearizable reads without log entries: ReadIndex (§6.4).
//!
//! A read arriving at the leader waits until the leader has committed an entry of its
//! own term (so its commit index is at least that of any earlier leader), then takes the
//! commit index as its read index and a read sequence number. Every AppendEntries
//! carries the latest sequence number and followers echo it, so once a majority has
//! echoed a number, the leader knows it was still leader after every read holding that
//! number or a smaller one arrived. One heartbeat round confirms all of them at once.

use std::collections::VecDeque;

use super::{Index, Raft, Role};

/// The runtime's handle for a read; the core only passes it back.
pub type ReadId = u64;

/// Reads that have an answer from the core.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Confirmed reads: serve each once the state machine has applied its index.
    pub ready: Vec<(ReadId, Index)>,
    /// Reads this server can no longer confirm because it stopped being leader.
    pub aborted: Vec<ReadId>,
}

#[derive(Debug, Default)]
pub(super) struct ReadQueue {
    seq: u64,
    /// Waiting for the leader's first commit in its term.
    unindexed: Vec<ReadId>,
    /// Indexed and numbered, waiting for a majority to echo the number.
    unconfirmed: VecDeque<(ReadId, u64, Index)>,
    done: Reads,
}

impl ReadQueue {
    pub(super) fn seq(&self) -> u64 {
        self.seq
    }

    pub(super) fn abort_all(&mut self) {
        self.done.aborted.append(&mut self.unindexed);
        self.done
            .aborted
            .extend(self.unconfirmed.drain(..).map(|(id, _, _)| id));
    }
}

impl Raft {
    /// Starts a linearizable read, if this server is the leader.
    pub fn read_index(&mut self, id: ReadId) -> Result<(), super::NotLeader> {
        self.check_serving()?;
        self.reads.unindexed.push(id);
        self.release_waiting_reads();
        Ok(())
    }

    /// Reads confirmed or aborted since last taken.
    pub fn take_reads(&mut self) -> Reads {
        std::mem::take(&mut self.reads.done)
    }

    pub(super) fn release_waiting_reads(&mut self) {
        let noop_committed = self.commit_index >= self.noop_index
            || self.injected(super::InjectedBug::ReadIndexBeforeNoopCommit);
        if self.reads.unindexed.is_empty() || !noop_committed {
            return;
        }
        self.reads.seq += 1;
        let (seq, index) = (self.reads.seq, self.commit_index);
        let waiting = std::mem::take(&mut self.reads.unindexed);
        self.reads
            .unconfirmed
            .extend(waiting.into_iter().map(|id| (id, seq, index)));
        self.confirm_reads();
    }

    /// Moves every read whose sequence number a majority has echoed to `ready`.
    pub(super) fn confirm_reads(&mut self) {
        if self.role != Role::Leader || self.reads.unconfirmed.is_empty() {
            return;
        }
        let confirmed = if self.injected(super::InjectedBug::ReadWithoutConfirmation) {
            self.reads.seq
        } else {
            self.quorum_value(self.reads.seq, |p| p.read_seq_acked)
        };
        while let Some(&(id, seq, index)) = self.reads.unconfirmed.front() {
            if seq > confirmed {
                break;
            }
            self.reads.unconfirmed.pop_front();
            self.reads.done.ready.push((id, index));
        }
    }
}
