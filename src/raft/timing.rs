//! Timing that follows the network: the heartbeat interval, the election timeout and
//! the check-quorum period grow with the round trips the leader measures, and never
//! drop below the configured values, so failover on a fast network stays as quick as
//! the defaults make it.
//!
//! The leader keeps a smoothed round-trip time and its variance per follower (RFC 6298)
//! from its AppendEntries, which carry their send time and come back with it. The
//! round-trip timeout that a majority of the voters meets (the leader counting as 0)
//! sets the heartbeat interval to a quarter of it and the election timeout to it plus
//! two heartbeat intervals: a follower may miss one heartbeat and still hear the next
//! in time. The leader carries its election timeout in every AppendEntries and its
//! followers adopt it, so that nobody times out a leader that is merely far away.
//!
//! A new leader starts from the round trip of the election it won, so its first quorum
//! check waits for its first round to come back. Candidates that fail double their
//! timeout, up to 16 times, until they hear from a leader: elections finish even when a
//! round trip is longer than the configured timeout.
//!
//! A (pre-)vote answered later than the timeout raises it to twice that round trip;
//! the round under way counts the grants that arrive in it, answers to earlier rounds
//! among them, but stands only after a random wait of up to the new timeout. At start-up, where every server begins in step with the
//! default timeout, the first pre-vote round so both measures the network and is won:
//! one vote round later there is a leader.
//!
//! A pause (a stopped process whose clock jumps on resumption) shows up as a few huge
//! samples: each counts for at most twice the current round-trip timeout, only one per
//! heartbeat interval counts, the estimates die with the leadership, and the derived
//! election timeout is capped, so no single pause inflates the timing for long.
//!
//! An explicit election timeout or heartbeat interval (`Config::adaptive_*` off) is
//! used as it is, without adaptation, adoption or backoff.

use rand::Rng;

use super::{NodeId, Raft, Role};

/// Failed campaigns in a row whose timeouts double; later ones wait as long as the last.
const MAX_BACKOFF_DOUBLINGS: u32 = 4;
/// The longest election timeout (minimum of the range) the measurements may set.
const MAX_ELECTION_TIMEOUT: u64 = 10_000;
/// The longest a backed-off candidate waits (minimum of the range), unless the
/// timeout in force is already longer.
const MAX_BACKOFF_TIMEOUT: u64 = 5_000;

/// A smoothed round-trip time and its variation to one follower (RFC 6298, §2), in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimate {
    srtt: u64,
    rttvar: u64,
    /// When the last sample counted.
    sampled_at: u64,
}

impl RttEstimate {
    /// The estimate after a first sample.
    pub fn new(sample: u64, now: u64) -> Self {
        RttEstimate {
            srtt: sample,
            rttvar: sample / 2,
            sampled_at: now,
        }
    }

    /// Takes a sample in, unless one already counted within `min_gap` ms. A sample
    /// counts for at most twice the current timeout: a round trip that spanned a pause
    /// says nothing about the network.
    pub fn observe(&mut self, sample: u64, now: u64, min_gap: u64) {
        if now < self.sampled_at + min_gap {
            return;
        }
        let sample = sample.min(2 * self.timeout());
        self.rttvar = (3 * self.rttvar + self.srtt.abs_diff(sample)) / 4;
        self.srtt = (7 * self.srtt + sample) / 8;
        self.sampled_at = now;
    }

    /// How long a round trip may take before it is late: SRTT + 4 RTTVAR.
    pub fn timeout(&self) -> u64 {
        self.srtt + 4 * self.rttvar
    }
}

impl Raft {
    /// How often the leader sends each follower something.
    pub fn heartbeat_interval(&self) -> u64 {
        self.heartbeat_interval
    }

    /// The shortest election timeout in force: also the check-quorum period and the
    /// leader lease that refuses votes to disruptive servers.
    pub fn election_timeout(&self) -> u64 {
        self.election_timeout
    }

    /// The longest election timeout in force, backoff aside.
    pub fn election_timeout_max(&self) -> u64 {
        let c = &self.config;
        let ratio_max = c.election_timeout_max.max(c.election_timeout_min);
        self.election_timeout * ratio_max / c.election_timeout_min.max(1)
    }

    /// How long an election may keep this server without a leader: its longest
    /// election timeout. While its log is still empty, the cluster is starting and
    /// nothing has yet told it how long elections take here: then as long as its
    /// backed-off campaigns wait.
    pub fn election_wait(&self) -> u64 {
        if self.log.last_index() == 0 {
            self.election_timeout_range().1
        } else {
            self.election_timeout_max()
        }
    }

    /// The range the next election deadline is drawn from: the timeout in force, made
    /// longer for each campaign that failed in a row.
    pub(super) fn election_timeout_range(&self) -> (u64, u64) {
        let (min, max) = (self.election_timeout, self.election_timeout_max());
        if !self.config.adaptive_election_timeout || self.failed_campaigns == 0 {
            return (min, max);
        }
        let factor = 1 << self.failed_campaigns.min(MAX_BACKOFF_DOUBLINGS);
        let backed_off = (min * factor).min(MAX_BACKOFF_TIMEOUT.max(min));
        (backed_off, backed_off * max / min.max(1))
    }

    /// A campaign ended without a leader: the next one waits longer.
    pub(super) fn campaign_failed(&mut self) {
        self.failed_campaigns = (self.failed_campaigns + 1).min(MAX_BACKOFF_DOUBLINGS);
    }

    /// A leader is known again: campaigns start from the timeout in force.
    pub(super) fn campaigns_succeeded(&mut self) {
        self.failed_campaigns = 0;
    }

    /// A (pre-)vote came back after `sample` ms. An election must fit a round trip: if
    /// the timeout in force is shorter, it becomes twice the round trip. The round
    /// under way goes on and counts the grants that arrive (answers to earlier rounds
    /// among them), but its next step waits a random time of up to the new timeout: a
    /// pre-candidate stands only then, even with a majority, and one without a majority
    /// starts a new round then. Servers that started out with too short a timeout, and
    /// so in step, must not all stand at once (the wait spreads them; the longer
    /// timeout lets their rounds finish).
    pub(super) fn observe_vote_round_trip(&mut self, sample: u64, now: u64) {
        if !self.config.adaptive_election_timeout || sample <= self.election_timeout {
            return;
        }
        let ceiling = MAX_BACKOFF_TIMEOUT.max(self.config.election_timeout_min);
        self.election_timeout = (2 * sample).min(ceiling).max(self.election_timeout);
        self.failed_campaigns = 0;
        if matches!(self.role, Role::PreCandidate | Role::Candidate) {
            self.election_deadline = now + self.rng.gen_range(0..=self.election_timeout);
            self.stand_after = self.election_deadline;
        }
    }

    /// A follower takes on the election timeout its leader runs with.
    pub(super) fn adopt_election_timeout(&mut self, leader_timeout: u64) {
        if self.config.adaptive_election_timeout {
            let ceiling = MAX_ELECTION_TIMEOUT.max(self.config.election_timeout_min);
            self.election_timeout = leader_timeout.clamp(self.config.election_timeout_min, ceiling);
        }
    }

    /// A new leader seeds every voter's estimate with the round trip of the election it
    /// has just won: the time from asking for votes to holding a majority.
    pub(super) fn seed_round_trips(&mut self, now: u64) {
        let sample = now.saturating_sub(self.campaign_started);
        for (id, p) in self.progress.iter_mut() {
            if self.configs.latest().1.is_voter(id) {
                p.rtt = Some(RttEstimate::new(sample, now));
            }
        }
        self.derive_timing();
    }

    /// The leader measured a round trip to `peer` of an AppendEntries sent at `sent_at`.
    pub(super) fn observe_round_trip(&mut self, peer: &NodeId, sent_at: u64, now: u64) {
        let min_gap = self.heartbeat_interval;
        let Some(p) = self.progress.get_mut(peer) else {
            return;
        };
        let sample = now.saturating_sub(sent_at);
        match p.rtt.as_mut() {
            Some(estimate) => estimate.observe(sample, now, min_gap),
            None => p.rtt = Some(RttEstimate::new(sample, now)),
        }
        self.derive_timing();
    }

    /// How long the leader waits for an answer to `peer` before it tries again.
    pub(super) fn round_trip_timeout(&self, peer: &NodeId) -> u64 {
        let measured = self.progress.get(peer).and_then(|p| p.rtt);
        measured
            .map_or(0, |e| e.timeout())
            .max(self.heartbeat_interval)
    }

    /// The leader's heartbeat interval and election timeout from the round-trip timeout
    /// a majority of the voters meets.
    fn derive_timing(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let Some(rto) = self.quorum_round_trip_timeout() else {
            return;
        };
        let c = &self.config;
        let mut heartbeat = if c.adaptive_heartbeat {
            (rto / 4).max(c.heartbeat_interval)
        } else {
            c.heartbeat_interval
        };
        if c.adaptive_election_timeout {
            let ceiling = MAX_ELECTION_TIMEOUT.max(c.election_timeout_min);
            self.election_timeout = (rto + 2 * heartbeat).clamp(c.election_timeout_min, ceiling);
        }
        if c.adaptive_heartbeat {
            // Followers must hear several heartbeats per election timeout, also when
            // that timeout is capped or fixed.
            heartbeat = heartbeat
                .min(self.election_timeout / 3)
                .max(c.heartbeat_interval);
        }
        self.heartbeat_interval = heartbeat;
    }

    /// The smallest round-trip timeout within which a majority of the voters answers,
    /// the leader counting as 0 if it is a voter; None while too few are measured.
    fn quorum_round_trip_timeout(&self) -> Option<u64> {
        let config = &self.configs.latest().1;
        let mut timeouts: Vec<Option<u64>> = config
            .voters
            .iter()
            .map(|v| {
                if *v == self.id {
                    Some(0)
                } else {
                    self.progress
                        .get(v)
                        .and_then(|p| p.rtt)
                        .map(|e| e.timeout())
                }
            })
            .collect();
        // None (not measured) sorts last when compared as "Some before None".
        timeouts.sort_by_key(|t| t.unwrap_or(u64::MAX));
        timeouts.get(config.majority() - 1).copied().flatten()
    }
}
