//! The leader's view of one follower's log, and the flow control of what it sends it.

use std::collections::VecDeque;

use super::entry::Index;
use super::timing::RttEstimate;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationMode {
    /// The leader does not know where the follower's log matches: one AppendEntries at
    /// a time until a success pins it down.
    Probe,
    /// The follower is known to match up to `match_index`: entries stream in a
    /// pipeline of several AppendEntries, each sent before the previous is answered.
    Replicate,
    /// The follower needs entries this leader has discarded: it gets the snapshot, one
    /// chunk at a time (see `transfer`), then AppendEntries from the snapshot's end.
    Snapshot,
}

/// A snapshot on its way to a follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotTransfer {
    /// The snapshot, by its last index.
    pub last_index: Index,
    /// The follower holds the snapshot's bytes up to here: the next chunk starts here.
    pub offset: u64,
    /// When the chunk in flight went out; None when none is.
    pub sent_at: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub next_index: Index,
    pub match_index: Index,
    pub mode: ReplicationMode,
    /// The last index carried by each AppendEntries not yet acknowledged, with the time
    /// it was sent.
    pub in_flight: VecDeque<(Index, u64)>,
    /// When the last message of any kind went to this peer (heartbeat scheduling).
    pub last_sent_at: Option<u64>,
    /// The highest read sequence number sent to and acknowledged by this peer.
    pub read_seq_sent: u64,
    pub read_seq_acked: u64,
    /// Whether the peer answered during the current check-quorum period.
    pub recently_active: bool,
    /// Round trips to the peer, measured while this server leads.
    pub rtt: Option<RttEstimate>,
    /// How fast work for this peer arrives, from what the leader sent it.
    pub arrivals: Arrivals,
    /// Since when the leader has been holding back work for this peer (new entries or
    /// a read to confirm) so that more of it goes in the same AppendEntries.
    pub held_since: Option<u64>,
    /// The snapshot being sent, in `Snapshot` mode.
    pub transfer: Option<SnapshotTransfer>,
}

impl Progress {
    pub fn new(last_index: Index) -> Self {
        Self {
            next_index: last_index + 1,
            match_index: 0,
            mode: ReplicationMode::Probe,
            in_flight: VecDeque::new(),
            last_sent_at: None,
            read_seq_sent: 0,
            read_seq_acked: 0,
            recently_active: false,
            rtt: None,
            arrivals: Arrivals::default(),
            held_since: None,
            transfer: None,
        }
    }

    /// Records an acknowledgement that the follower matches up to `index`. Returns
    /// whether `match_index` advanced.
    pub fn acknowledge(&mut self, index: Index) -> bool {
        while self
            .in_flight
            .front()
            .is_some_and(|&(last, _)| last <= index)
        {
            self.in_flight.pop_front();
        }
        // Only an answer at or past the probe's position pins the follower down: a
        // heartbeat's success at `match_index` says nothing about the entries after
        // it, which the follower may well hold, and streaming from there would send
        // them all again.
        if self.mode == ReplicationMode::Probe && index + 1 >= self.next_index {
            // The follower's position is now known: stream after it. A probe still in
            // flight went out from a confirmed position, so it stays in the pipeline.
            self.mode = ReplicationMode::Replicate;
            self.next_index = self.in_flight.back().map_or(index, |&(last, _)| last) + 1;
        }
        self.next_index = self.next_index.max(index + 1);
        if index > self.match_index {
            self.match_index = index;
            true
        } else {
            false
        }
    }

    /// Falls back to probing from `next_index`, forgetting whatever is in flight.
    pub fn probe_from(&mut self, next_index: Index) {
        self.mode = ReplicationMode::Probe;
        self.in_flight.clear();
        // Probes are never held back.
        self.held_since = None;
        self.transfer = None;
        self.next_index = next_index.max(self.match_index + 1);
    }

    /// Starts sending the snapshot that ends at `last_index`, from its first byte.
    pub fn send_snapshot(&mut self, last_index: Index) {
        self.mode = ReplicationMode::Snapshot;
        self.in_flight.clear();
        // Nothing is held back for a follower that needs the snapshot first.
        self.held_since = None;
        self.transfer = Some(SnapshotTransfer {
            last_index,
            offset: 0,
            sent_at: None,
        });
    }

    /// The follower is done with the snapshot ending at `last_index`: AppendEntries
    /// go on after it, probing first, since it may hold more (it had committed past it).
    pub fn snapshot_done(&mut self, last_index: Index) {
        self.probe_from(last_index + 1);
    }
}

/// The rate at which work for one peer arrives, measured from the AppendEntries that
/// carried it: moving averages of the items each carried (entries, and a read to
/// confirm) and of the time since the previous one that carried any. It tells the
/// leader whether holding work back for a moment would batch anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arrivals {
    items: f64,
    gap_ms: f64,
    last_at: Option<u64>,
}

impl Arrivals {
    /// Weight of the newest sample in the moving averages: small enough that a few
    /// close arrivals under a light load do not look like a heavy one.
    const WEIGHT: f64 = 0.125;

    /// Notes an AppendEntries sent at `now` carrying `items`. Gaps count up to `idle`
    /// at most: a longer pause means no load, whatever its length.
    pub fn record(&mut self, items: usize, now: u64, idle: u64) {
        let gap = self
            .last_at
            .map_or(idle, |t| now.saturating_sub(t).min(idle));
        self.last_at = Some(now);
        self.items += (items as f64 - self.items) * Self::WEIGHT;
        self.gap_ms += (gap as f64 - self.gap_ms) * Self::WEIGHT;
    }

    /// How many items the measured rate brings within `window` ms.
    pub fn expected_within(&self, window: u64) -> f64 {
        if self.items == 0.0 {
            0.0
        } else {
            self.items * window as f64 / self.gap_ms.max(f64::MIN_POSITIVE)
        }
    }
}
