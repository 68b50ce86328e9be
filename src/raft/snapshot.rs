//! Snapshots and log compaction (§7, dissertation chapter 5).
//!
//! The state machine takes a snapshot of what it has applied when the runtime's policy
//! says so, without stopping consensus; once storage reports it durable
//! ([`Raft::snapshot_saved`]) the core drops the entries it covers and keeps it to send.
//! A leader whose follower needs entries it has discarded sends it the snapshot in
//! chunks (at most [`CHUNK_BYTES`] by default), one in flight at a time, each resent when unanswered for a
//! round trip or a heartbeat interval. The follower has each chunk written durably
//! before it acknowledges it (the runtime takes the writes from
//! [`Raft::take_snapshot_writes`]); after the last, it replaces its log and hands the
//! snapshot to its state machine, and acknowledges the whole once that is durable. A
//! snapshot that covers no more than the follower has committed changes nothing.

use std::sync::Arc;

use super::bugs::InjectedBug;
use super::durable::{Snapshot, SnapshotMeta};
use super::entry::{Index, NodeId, Term};
use super::membership::Configurations;
use super::message::Message;
use super::progress::ReplicationMode;
use super::Raft;

/// The most snapshot bytes one InstallSnapshot carries: about 87 KiB of base64 on the
/// wire, small enough not to hold up the messages queued behind it.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A write of snapshot data for the runtime to make durable, in order with the log
/// writes: take these before [`Raft::take_log_write`].
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotWrite {
    /// A chunk of a snapshot being received (`Storage::write_snapshot_chunk`); report it
    /// with [`Raft::snapshot_chunk_written`], giving back `receipt`.
    Chunk {
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        /// Which receipt of the snapshot it belongs to: a report about an earlier one
        /// (since dropped and begun again) says nothing about this one's bytes.
        receipt: u64,
    },
    /// A received snapshot, complete: this server's snapshot from now on
    /// (`Storage::save_snapshot`); report it with [`Raft::snapshot_saved`].
    Install(Snapshot),
}

/// A snapshot a leader is sending this server.
#[derive(Debug)]
pub(super) struct Receiving {
    meta: SnapshotMeta,
    /// The term of the leader sending it: another leader's copy of the same snapshot
    /// need not have the same bytes, so its chunks start the receipt afresh.
    term: Term,
    /// Numbers each receipt, for the reports of its chunk writes.
    receipt: u64,
    data: Vec<u8>,
    /// The bytes storage reported durable.
    durable: u64,
}

/// What a reply to a leader waits for before it may leave: what it acknowledges must
/// be durable first.
#[derive(Clone, Copy, Debug)]
pub(super) enum Hold {
    /// Entries up to (index, term).
    Entries(Index, Term),
    /// The first bytes of the snapshot ending at the index.
    SnapshotBytes(Index, u64),
    /// The whole snapshot ending at (index, term), installed.
    SnapshotInstalled(Index, Term),
}

impl Raft {
    /// The snapshot this server would send, if it has one.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// A snapshot the state machine must load before the next committed entries: one
    /// recovered at start-up, or one received from a leader.
    pub fn take_snapshot_to_apply(&mut self) -> Option<Snapshot> {
        self.snapshot_to_apply.take()
    }

    /// Snapshot data to make durable, in order, before the next log write.
    pub fn take_snapshot_writes(&mut self) -> Vec<SnapshotWrite> {
        std::mem::take(&mut self.snapshot_writes)
    }

    /// Storage reports the bytes of the snapshot being received up to `end` durable,
    /// for the chunk write handed out with `receipt`: the acknowledgements that claim
    /// them may leave.
    pub fn snapshot_chunk_written(&mut self, receipt: u64, end: u64) {
        if let Some(r) = self.receiving.as_mut().filter(|r| r.receipt == receipt) {
            r.durable = r.durable.max(end);
        }
    }

    /// Storage reports `snapshot` durable as this server's snapshot: one its state
    /// machine took, whose entries now leave the log, or one received from a leader,
    /// whose acknowledgement may now leave.
    pub fn snapshot_saved(&mut self, snapshot: &Snapshot) {
        let meta = &snapshot.meta;
        let newer = meta.last_index > self.log.snapshot_index();
        // The state machine took it from entries it was handed; anything else is a
        // snapshot overtaken by a newer one, which storage has too.
        let taken_here = newer
            && meta.last_index <= self.applied_handed
            && self.log.term_at(meta.last_index) == Some(meta.last_term);
        if taken_here {
            let to = if self.injected(InjectedBug::CompactionPastApplied) {
                self.commit_index
            } else {
                meta.last_index
            };
            let term = self
                .log
                .term_at(to)
                .expect("committed entries are in the log");
            self.log.compact_to(to, term);
            self.write_from = self.write_from.max(to + 1);
            self.snapshot = Some(snapshot.clone());
        }
        if self.log.term_at(meta.last_index) == Some(meta.last_term) {
            // The entries it covers are durable with it, whatever became of their writes.
            self.durable_index = self.durable_index.max(meta.last_index);
            self.maybe_commit();
        }
    }

    /// The next chunk of the snapshot for `peer`, in `Snapshot` mode: when none is in
    /// flight, or the one in flight went unanswered for a round trip, or a heartbeat is
    /// due (the chunk then serves as one).
    pub(super) fn snapshot_message_for(&mut self, peer: &NodeId, now: u64) -> Option<Message> {
        let snapshot = self.snapshot.as_ref()?;
        let resend_after = self.round_trip_timeout(peer);
        let read_seq = self.reads.seq();
        let p = self.progress.get_mut(peer)?;
        debug_assert_eq!(p.mode, ReplicationMode::Snapshot);
        let transfer = p.transfer.as_mut()?;
        if transfer.last_index != snapshot.meta.last_index {
            // A newer snapshot replaced the one under way: the follower starts afresh.
            p.send_snapshot(snapshot.meta.last_index);
        }
        let transfer = p.transfer.as_mut().expect("set above");
        let heartbeat_due = p
            .last_sent_at
            .is_none_or(|t| now >= t + self.heartbeat_interval)
            || p.read_seq_sent < read_seq;
        let unanswered = transfer.sent_at.is_some_and(|t| now >= t + resend_after);
        if transfer.sent_at.is_some() && !unanswered && !heartbeat_due {
            return None;
        }
        let len = snapshot.data.len() as u64;
        let offset = transfer.offset.min(len);
        let end = (offset + self.config.snapshot_chunk_bytes as u64).min(len);
        transfer.sent_at = Some(now);
        p.last_sent_at = Some(now);
        p.read_seq_sent = read_seq;
        Some(Message::InstallSnapshot {
            term: self.term,
            meta: snapshot.meta.clone(),
            offset,
            data: snapshot.data[offset as usize..end as usize].to_vec(),
            done: end == len,
            read_seq,
            sent_at: now,
            election_timeout: self.election_timeout,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_install_snapshot(
        &mut self,
        from: &NodeId,
        term: Term,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
        read_seq: u64,
        sent_at: u64,
        election_timeout: u64,
        now: u64,
    ) {
        let last_index = meta.last_index;
        let reply = |s: &Self, received, done| Message::InstallSnapshotResponse {
            term: s.term,
            last_index,
            received,
            done,
            read_seq,
            sent_at,
        };
        if term < self.term {
            // Tell the stale leader about the newer term.
            let reply = reply(self, 0, false);
            self.queue_reply(from, reply, None);
            return;
        }
        self.heard_from_leader(from, term, election_timeout, now);
        let stale = last_index <= self.commit_index;
        if stale && !self.injected(InjectedBug::StaleSnapshotInstalled) {
            // Everything it covers is committed here already: nothing to replace, and
            // nothing to wait for; the leader goes on with AppendEntries.
            self.receiving = self
                .receiving
                .take()
                .filter(|r| r.meta.last_index > last_index);
            let reply = reply(self, 0, true);
            self.queue_reply(from, reply, None);
            return;
        }
        if self
            .receiving
            .as_ref()
            .is_none_or(|r| r.meta != meta || r.term != term)
        {
            self.receipts += 1;
            self.receiving = Some(Receiving {
                meta: meta.clone(),
                term,
                receipt: self.receipts,
                data: Vec::new(),
                durable: 0,
            });
        }
        let r = self.receiving.as_mut().expect("set above");
        // Only the chunk that continues what is here is taken; the reply to any other
        // (resent, or overtaken) tells the leader where to go on from.
        let continues = offset == r.data.len() as u64;
        if continues {
            r.data.extend_from_slice(&data);
            let receipt = r.receipt;
            self.snapshot_writes.push(SnapshotWrite::Chunk {
                meta: meta.clone(),
                offset,
                data,
                receipt,
            });
        }
        let received = r.data.len() as u64;
        if continues && done {
            let r = self.receiving.take().expect("set above");
            self.install_snapshot(Snapshot {
                meta,
                data: Arc::from(r.data),
            });
            let hold =
                Hold::SnapshotInstalled(last_index, self.log.term_at(last_index).unwrap_or(0));
            let reply = reply(self, received, true);
            self.queue_reply(from, reply, Some(hold));
        } else {
            let reply = reply(self, received, false);
            self.queue_reply(from, reply, Some(Hold::SnapshotBytes(last_index, received)));
        }
    }

    /// Makes a leader's snapshot this server's state: the log gives way to it (but
    /// for the entries after it, if the log holds its last entry), the configuration is
    /// the snapshot's, and the state machine loads it before anything else.
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        let meta = &snapshot.meta;
        let index = meta.last_index;
        let kept = self.log.compact_to(index, meta.last_term);
        if kept {
            // Entries it covers that were not yet written need not be.
            self.write_from = self.write_from.max(index + 1);
        } else {
            if !self.injected(InjectedBug::SnapshotConfigForgotten) {
                self.configs = Configurations::new_at(index, meta.config.clone());
            }
            // The log after it starts afresh; nothing at or after the snapshot is
            // durable until the snapshot is.
            self.write_from = index + 1;
            self.durable_index = self.durable_index.min(index - 1);
        }
        self.commit_index = if self.injected(InjectedBug::StaleSnapshotInstalled) {
            index
        } else {
            self.commit_index.max(index)
        };
        let _ = self.configs.committed_up_to(self.commit_index);
        self.applied_handed = index;
        self.snapshot = Some(snapshot.clone());
        self.snapshot_to_apply = Some(snapshot.clone());
        self.snapshot_writes.push(SnapshotWrite::Install(snapshot));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_install_snapshot_response(
        &mut self,
        from: &NodeId,
        term: Term,
        last_index: Index,
        received: u64,
        done: bool,
        read_seq: u64,
        sent_at: u64,
        now: u64,
    ) {
        if !self.heard_back(from, term, read_seq, sent_at, now) {
            return;
        }
        let Some(p) = self.progress.get_mut(from) else {
            return;
        };
        let current = p
            .transfer
            .as_ref()
            .is_some_and(|t| t.last_index == last_index);
        if current {
            if done {
                p.snapshot_done(last_index);
            } else {
                let transfer = p.transfer.as_mut().expect("checked above");
                transfer.offset = received;
                transfer.sent_at = None;
            }
        }
        self.confirm_reads();
    }

    /// Whether a reply held for `hold` may leave now (Some(true)), must wait
    /// (Some(false)), or no longer describes this server and is dropped (None).
    pub(super) fn hold_released(&self, hold: Hold) -> Option<bool> {
        match hold {
            Hold::Entries(index, term) => {
                if self.log.term_at(index) != Some(term) {
                    return None;
                }
                Some(
                    index <= self.durable_index
                        || self.injected(InjectedBug::FollowerAcksBeforeDurable),
                )
            }
            Hold::SnapshotBytes(index, bytes) => {
                let r = self
                    .receiving
                    .as_ref()
                    .filter(|r| r.meta.last_index == index)?;
                Some(bytes <= r.durable || self.injected(InjectedBug::SnapshotChunkAckedEarly))
            }
            Hold::SnapshotInstalled(index, term) => {
                if self.log.term_at(index) != Some(term) {
                    return None;
                }
                Some(
                    index <= self.durable_index
                        || self.injected(InjectedBug::SnapshotChunkAckedEarly),
                )
            }
        }
    }
}
