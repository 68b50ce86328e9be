//! A slow disk: every write stays pending for a random while before it is durable,
//! writes become durable in the order they were issued (one fsync after another), and
//! a power loss drops every write still pending. Only the durable part survives a
//! crash: SIGKILL, which keeps the page cache, would hide a missing fsync.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::Rng;

use crate::raft::{Entry, Index};
use crate::storage::{HardState, MemStorage, Recovered, Storage};

/// A write the core asked for.
#[derive(Clone, Debug)]
pub enum Write {
    HardState(HardState),
    /// Contiguous entries; stored entries from the first one's index on are replaced.
    Entries(Vec<Entry>),
}

#[derive(Debug)]
pub struct SlowDisk {
    durable: MemStorage,
    /// Writes not yet durable, with the time each becomes durable (non-decreasing).
    pending: VecDeque<(u64, Write)>,
    /// Most writes take up to a few milliseconds; one in five up to this long.
    slowest_ms: u64,
}

impl SlowDisk {
    pub fn new(slowest_ms: u64) -> Self {
        SlowDisk {
            durable: MemStorage::new(),
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
                Write::HardState(hs) => self.durable.save_hard_state(hs),
                Write::Entries(entries) => self.durable.append(entries),
            }
            .expect("memory store");
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
        self.durable.last_index()
    }

    /// What a restarting server reads back.
    pub fn load(&mut self) -> Recovered {
        self.durable.load().expect("memory store")
    }
}
