//! A slow disk: every write stays pending for a random while before it is durable,
//! writes become durable in the order they were issued (one fsync after another), and
//! a power loss drops every write still pending. Only the durable part survives a
//! crash: SIGKILL, which keeps the page cache, would hide a missing fsync.
//!
//! It keeps what `Storage` keeps: the term and vote, a snapshot and the log after it,
//! and the chunks of a snapshot being received. A snapshot write is one pending write
//! like any other (atomic: a power loss keeps the old snapshot or the new one), and so
//! is each chunk.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::Rng;

use crate::raft::{Entry, Index, Snapshot, SnapshotMeta, Term};
use crate::raft::{HardState, Recovered};

/// A write the core asked for.
#[derive(Clone, Debug)]
pub enum Write {
    HardState(HardState),
    /// Contiguous entries; stored entries from the first one's index on are replaced.
    Entries(Vec<Entry>),
    /// A chunk of a snapshot being received: bytes `offset..end` of it.
    SnapshotChunk {
        meta: SnapshotMeta,
        offset: u64,
        end: u64,
        receipt: u64,
    },
    /// The server's snapshot from now on: the entries it covers go, and the rest of the
    /// log too unless it holds the snapshot's last entry.
    Snapshot(Snapshot),
}

#[derive(Debug)]
pub struct SlowDisk {
    /// What survives a power loss.
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// The log after the snapshot.
    entries: Vec<Entry>,
    /// The snapshot being received, and how many of its bytes are durable.
    receiving: Option<(SnapshotMeta, u64)>,
    /// Writes not yet durable, with the time each becomes durable (non-decreasing).
    pending: VecDeque<(u64, Write)>,
    /// Most writes take up to a few milliseconds; one in five up to this long.
    slowest_ms: u64,
    /// A write that storage must never be asked for: a snapshot older than the one it
    /// holds, or entries that leave a gap or rewrite the snapshot. The checks report it.
    pub refused: Option<String>,
}

impl SlowDisk {
    pub fn new(slowest_ms: u64) -> Self {
        SlowDisk {
            hard_state: HardState::default(),
            snapshot: None,
            entries: Vec::new(),
            receiving: None,
            pending: VecDeque::new(),
            slowest_ms,
            refused: None,
        }
    }

    pub fn submit(&mut self, write: Write, now: u64, rng: &mut StdRng) {
        let latency = if rng.gen_bool(0.2) {
            rng.gen_range(0..=self.slowest_ms)
        } else {
            rng.gen_range(0..=self.slowest_ms.min(3))
        };
        let after_previous = self.pending.back().map_or(0, |(at, _)| *at);
        self.pending
            .push_back(((now + latency).max(after_previous), write));
    }

    /// The writes that are durable by `now`, in order, now part of the stored state.
    pub fn complete_due(&mut self, now: u64) -> Vec<Write> {
        let mut done = Vec::new();
        while self.pending.front().is_some_and(|(at, _)| *at <= now) {
            let (_, write) = self.pending.pop_front().expect("checked");
            self.make_durable(&write);
            done.push(write);
        }
        done
    }

    fn make_durable(&mut self, write: &Write) {
        match write {
            Write::HardState(hs) => self.hard_state = hs.clone(),
            Write::Entries(entries) => {
                let first = entries.first().expect("writes are non-empty").index;
                let base = self.snapshot_index();
                if first <= base || first > self.durable_last_index() + 1 {
                    // A core bug (a planted one, say) the checks report as such.
                    self.refused = Some(format!(
                        "a write of entries from {first}, which leaves a gap after {} or \
                         rewrites the snapshot up to {base}",
                        self.durable_last_index()
                    ));
                    return;
                }
                self.entries.truncate((first - base - 1) as usize);
                self.entries.extend_from_slice(entries);
            }
            Write::SnapshotChunk {
                meta, offset, end, ..
            } => {
                let held = match &self.receiving {
                    Some((m, held)) if m == meta => *held,
                    _ => 0,
                };
                assert!(*offset <= held, "a gap in the snapshot's chunks");
                self.receiving = Some((meta.clone(), held.max(*end)));
            }
            Write::Snapshot(snapshot) => {
                let meta = &snapshot.meta;
                let base = self.snapshot_index();
                if meta.last_index <= base {
                    self.refused = Some(format!(
                        "a snapshot up to {} over the one up to {base}",
                        meta.last_index
                    ));
                    return;
                }
                if self.durable_term_at(meta.last_index) == Some(meta.last_term) {
                    self.entries.drain(..(meta.last_index - base) as usize);
                } else {
                    self.entries.clear();
                }
                if self.receiving.as_ref().is_some_and(|(m, _)| m == meta) {
                    self.receiving = None;
                }
                self.snapshot = Some(snapshot.clone());
            }
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether a snapshot or a chunk of one is waiting to be durable: the moments a
    /// crash hurts most.
    pub fn has_snapshot_pending(&self) -> bool {
        (self.pending.iter())
            .any(|(_, w)| matches!(w, Write::Snapshot(_) | Write::SnapshotChunk { .. }))
    }

    /// Power loss: whatever was not yet durable is gone.
    pub fn power_loss(&mut self) {
        self.pending.clear();
    }

    /// The last index the durable snapshot covers (0: none).
    pub fn durable_snapshot_index(&self) -> Index {
        self.snapshot_index()
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.last_index)
    }

    pub fn durable_last_index(&self) -> Index {
        self.snapshot_index() + self.entries.len() as Index
    }

    /// The term of the durable entry at `index`, if there is one (the snapshot's last
    /// entry counts).
    pub fn durable_term_at(&self, index: Index) -> Option<Term> {
        let base = self.snapshot_index();
        match index {
            0 => Some(0),
            i if i == base => self.snapshot.as_ref().map(|s| s.meta.last_term),
            i if i < base => None,
            i => self.entries.get((i - base - 1) as usize).map(|e| e.term),
        }
    }

    /// Whether the durable state holds everything up to `index`: in the snapshot, or as
    /// entries.
    pub fn durably_holds(&self, index: Index) -> bool {
        index <= self.durable_last_index()
    }

    /// How many bytes of the snapshot ending at `last_index` are durable, while it is
    /// being received.
    pub fn durable_chunk_bytes(&self, last_index: Index) -> u64 {
        match &self.receiving {
            Some((m, held)) if m.last_index == last_index => *held,
            _ => 0,
        }
    }

    pub fn durable_hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// What a restarting server reads back.
    pub fn load(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}
