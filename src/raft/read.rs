//! Linearizable reads without log entries: ReadIndex (§6.4) and leader leases (§6.4.1).
//!
//! A read arriving at the leader waits until the leader has committed an entry of its
//! own term (so its commit index is at least that of any earlier leader), then takes the
//! commit index as its read index and a read sequence number. Every AppendEntries
//! carries the latest sequence number and followers echo it, so once a majority has
//! echoed a number, the leader knows it was still leader after every read holding that
//! number or a smaller one arrived. One heartbeat round confirms all of them at once.
//!
//! With [`ReadMode::Lease`] the leader skips that round while it holds a lease: a
//! majority of every configuration in force answered AppendEntries it sent at or after
//! the lease's start, and each of those servers refuses to help elect anyone else for
//! an election timeout after it heard from this leader (the vote guard,
//! `Raft::in_leader_lease`). The guard counts from when the follower received the
//! message, which is after it was sent, so a lease counted from the send time ends
//! before any of those guards. It lasts the configured minimum election timeout, which
//! no server's timeout in force ever drops below (timing.rs: adapted, adopted or
//! backed off, it only grows from there), so it never outlasts what a guard protects;
//! less a tenth of it for clock drift, since the leader's clock measures the lease and
//! the followers' clocks their guards, and rates may differ (real clocks drift by parts
//! per million; a tenth leaves room to spare). The lease is checked with the `now` of
//! the read's arrival, never with a time remembered from earlier, so a leader that was
//! paused and wakes with an expired lease goes back to ReadIndex.
//!
//! Three more things keep the guards honest: a server that starts (or restarts) refuses
//! votes for a minimum election timeout, since it has forgotten whom it heard from; a
//! leader that sends TimeoutNow, whose election gets past the guards, holds no lease
//! for the rest of its term; and a guard counts while the follower remembers hearing
//! from a leader, even after a newer term made it forget which.

use std::collections::{BTreeMap, VecDeque};

use super::{Configuration, Index, NodeId, Raft, Role};

/// How a leader makes sure it still leads before it serves a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// A heartbeat round that started after the read arrived confirms it (§6.4).
    Index,
    /// Served at once while the leader holds a lease (§6.4.1); otherwise as `Index`.
    /// The default: the planted-bug catalogue holds an entry for each lease rule and
    /// the simulation catches every one of them.
    #[default]
    Lease,
}

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

/// What a leader knows of its lease in its current term.
#[derive(Debug, Default)]
pub(super) struct Lease {
    /// Per peer: when this leader sent the latest AppendEntries the peer answered.
    acked_sent_at: BTreeMap<NodeId, u64>,
    /// A TimeoutNow went out in this term: its election bypasses the vote guards.
    forfeited: bool,
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
    /// Starts a linearizable read that arrived at `now`, if this server is the leader.
    /// Under a lease it is ready at once; otherwise it waits for its heartbeat round.
    /// A leader handing leadership over still takes reads: they add nothing to the log
    /// that the target would have to catch up on, and a heartbeat round confirms them.
    pub fn read_index(&mut self, id: ReadId, now: u64) -> Result<(), super::NotLeader> {
        self.now = now;
        if self.role != Role::Leader || self.is_removed_leader() {
            return self.check_serving();
        }
        if self.noop_committed() && self.holds_lease(now) {
            self.reads.done.ready.push((id, self.commit_index));
            return Ok(());
        }
        self.reads.unindexed.push(id);
        self.release_waiting_reads();
        Ok(())
    }

    /// How long a lease lasts from the send time of the round that earned it.
    pub fn lease_duration(&self) -> u64 {
        if self.injected(super::InjectedBug::LeaseLongerThanVoteGuard) {
            return self.election_timeout_max();
        }
        let timeout = self.config.election_timeout_min;
        timeout - timeout / 10
    }

    /// A peer answered an AppendEntries this leader sent at `sent_at` in its term.
    pub(super) fn lease_acknowledged(&mut self, peer: &NodeId, sent_at: u64, now: u64) {
        let start = if self.injected(super::InjectedBug::LeaseFromReplyTime) {
            now
        } else {
            sent_at
        };
        let acked = self.lease.acked_sent_at.entry(peer.clone()).or_insert(0);
        *acked = (*acked).max(start);
    }

    /// This leader sent TimeoutNow: its target's election gets past the vote guards, so
    /// no lease holds for the rest of the term.
    pub(super) fn forfeit_lease(&mut self) {
        self.lease.forfeited = true;
    }

    /// Whether this leader may serve a read at `now` without a heartbeat round.
    pub fn holds_lease(&self, now: u64) -> bool {
        let handing_over = self.transfer.is_some() || self.lease.forfeited;
        if self.role != Role::Leader
            || self.config.read_mode != ReadMode::Lease
            || (handing_over && !self.injected(super::InjectedBug::LeaseKeptThroughTransfer))
        {
            return false;
        }
        // A new leader may be elected under the committed configuration or the latest
        // one: a majority of each must be guarding.
        let committed = &self.configs.committed(self.commit_index).1;
        let latest = &self.configs.latest().1;
        let start = [committed, latest]
            .into_iter()
            .map(|config| self.lease_start(config, now))
            .min()
            .flatten();
        start.is_some_and(|start| now < start + self.lease_duration())
    }

    /// The send time of the oldest round among the latest that a majority of `config`'s
    /// voters answered; the leader counts as answering now. None while no majority has.
    fn lease_start(&self, config: &Configuration, now: u64) -> Option<u64> {
        let mut acked: Vec<Option<u64>> = (config.voters.iter())
            .map(|v| {
                if *v == self.id {
                    Some(now)
                } else {
                    self.lease.acked_sent_at.get(v).copied()
                }
            })
            .collect();
        // Newest first; peers that never answered (None) last.
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked.get(config.majority() - 1).copied().flatten()
    }

    fn noop_committed(&self) -> bool {
        self.commit_index >= self.noop_index
            || self.injected(super::InjectedBug::ReadIndexBeforeNoopCommit)
    }

    /// Reads confirmed or aborted since last taken.
    pub fn take_reads(&mut self) -> Reads {
        std::mem::take(&mut self.reads.done)
    }

    pub(super) fn release_waiting_reads(&mut self) {
        if self.reads.unindexed.is_empty() || !self.noop_committed() {
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
