//! A slow disk: every write stays pending for a random while before it is durable,
//! writes become durable in the order they were issued (one fsync after another), and
//! a power loss drops every write still pending. Only the durable part survives a
//! crash: SIGKILL, which keeps the page cache, would hide a missing fsync.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::Rng;

use crate::raft::{Entry, Index, Term};
use crate::raft::{HardState, Recovered};

/// A write the core asked for.
#[derive(Clone, Debug)]
pub enum Write {
    HardState(HardState),
    /// Contiguous entries; stored entries from the first one's index on are replaced.
    Entries(Vec<Entry>),
}

#[derive(Debug)]
pub struct SlowDisk {
    /// What survives a power loss.
    hard_state: HardState,
    entries: Vec<Entry>,
    /// Writes not yet durable, with the time each becomes durable (non-decreasing).
    pending: VecDeque<(u64, Write)>,
    /// Most writes take up to a few milliseconds; one in five up to this long.
    slowest_ms: u64,
}

impl SlowDisk {
    pub fn new(slowest_ms: u64) -> Self {
        SlowDisk {
            hard_state: HardState::default(),
            entries: Vec::new(),
            pending: VecDeque::new(),
            slowest_ms,
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
            match &write {
                Write::HardState(hs) => self.hard_state = hs.clone(),
                Write::Entries(entries) => {
                    let first = entries.first().expect("writes are non-empty").index;
                    assert!(first as usize <= self.entries.len() + 1, "a gap in the log");
                    self.entries.truncate(first as usize - 1);
                    self.entries.extend_from_slice(entries);
                }
            }
            done.push(write);
        }
        done
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Power loss: whatever was not yet durable is gone.
    pub fn power_loss(&mut self) {
        self.pending.clear();
    }

    pub fn durable_last_index(&self) -> Index {
        self.entries.len() as Index
    }

    /// The term of the durable entry at `index`, if there is one.
    pub fn durable_term_at(&self, index: Index) -> Option<Term> {
        match index {
            0 => Some(0),
            _ => self.entries.get(index as usize - 1).map(|e| e.term),
        }
    }

    pub fn durable_hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// What a restarting server reads back.
    pub fn load(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: None,
            entries: self.entries.clone(),
        }
    }
}
