//! The Raft consensus core: a deterministic value stepped by messages and clock ticks.
//!
//! It does no I/O and reads no clock. Time comes in as `now` (milliseconds on any
//! monotonic scale); out come messages (pulled per peer with [`Raft::poll_peer`]), writes
//! the runtime must make durable ([`Raft::take_hard_state`], [`Raft::take_log_write`]),
//! committed entries to apply ([`Raft::take_committed`]), reads that may be served
//! ([`Raft::take_reads`]) and the outcomes of membership changes and leadership
//! transfers ([`Raft::take_admin_outcomes`]). The node runtime wraps it in threads; the
//! simulation tests drive it directly.
//!
//! Ordering with the disk lives here, not in the runtime: the core holds back every
//! message until the term and vote it was produced under are durable (the runtime
//! reports them with [`Raft::hard_state_written`]), and an acknowledgement of entries
//! until they are durable ([`Raft::log_written`]), so a runtime may write as slowly
//! and as asynchronously as it likes. The leader's own log writes proceed in parallel
//! with replication; the leader counts itself toward a majority only up to what
//! [`Raft::log_written`] reported.

mod base64;
mod bugs;
mod durable;
mod election;
mod entry;
mod log;
mod membership;
mod message;
mod progress;
mod read;
mod replication;
mod snapshot;
mod timing;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use bugs::InjectedBug;
pub use durable::{HardState, Recovered, Snapshot, SnapshotMeta};
pub use entry::{Entry, EntryData, Index, NodeId, Payload, Term};
pub use log::RaftLog;
pub use membership::{AdminError, AdminId, AdminOutcome, ConfigChange, ConfigView, Configuration};
pub use message::{Message, Removal};
pub use read::{ReadId, ReadMode, Reads};
pub use snapshot::{SnapshotWrite, CHUNK_BYTES};

use membership::{CatchUp, Configurations, Transfer};
use progress::Progress;
use snapshot::{Hold, Receiving};

/// Timing and flow-control settings. All durations in milliseconds.
#[derive(Clone, Debug)]
pub struct Config {
    /// The randomized election timeout's range: the shortest the measured network may
    /// make it (timing.rs), or the range itself if not adaptive.
    pub election_timeout_min: u64,
    pub election_timeout_max: u64,
    /// The heartbeat interval: the shortest, or the interval itself if not adaptive.
    pub heartbeat_interval: u64,
    /// Lengthen election timeouts with the measured round trips, adopt the leader's,
    /// and back off after failed campaigns.
    pub adaptive_election_timeout: bool,
    /// Lengthen the heartbeat interval with the measured round trips.
    pub adaptive_heartbeat: bool,
    /// AppendEntries with entries that may be outstanding to one peer at once.
    pub max_in_flight: usize,
    /// Entries carried by one AppendEntries at most.
    pub max_batch: usize,
    /// Under load, how long the leader may hold back new entries and reads for a peer
    /// so that they share one AppendEntries (replication.rs); 0 never holds.
    pub batch_window: u64,
    /// Ask for votes hypothetically before disrupting the cluster with a new term.
    pub pre_vote: bool,
    /// A leader that hears from no majority for an election timeout steps down.
    pub check_quorum: bool,
    /// How the leader confirms its leadership for reads (read.rs).
    pub read_mode: ReadMode,
    /// Snapshot bytes one InstallSnapshot carries at most.
    pub snapshot_chunk_bytes: usize,
    #[cfg(test)]
    pub injected_bug: Option<InjectedBug>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            election_timeout_min: 150,
            election_timeout_max: 300,
            heartbeat_interval: 50,
            adaptive_election_timeout: true,
            adaptive_heartbeat: true,
            max_in_flight: 8,
            max_batch: 512,
            batch_window: 5,
            pre_vote: true,
            check_quorum: true,
            read_mode: ReadMode::default(),
            snapshot_chunk_bytes: CHUNK_BYTES,
            #[cfg(test)]
            injected_bug: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Running a pre-vote: would a majority vote for it in the next term?
    PreCandidate,
    Candidate,
    Leader,
}

/// A request that only the leader can take, with the leader this server knows of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLeader {
    pub leader: Option<NodeId>,
}

/// A reply to a peer, with what it acknowledges, if anything: it waits until that is
/// durable.
type Reply = (Message, Option<Hold>);

pub struct Raft {
    id: NodeId,
    /// The configurations in the log that still matter (membership.rs).
    configs: Configurations,
    config: Config,
    rng: StdRng,

    // Persistent state (§5.1), mirrored by storage.
    term: Term,
    voted_for: Option<NodeId>,
    log: RaftLog,

    role: Role,
    leader: Option<NodeId>,
    /// The latest time the runtime reported, for changes that happen without one.
    now: u64,
    commit_index: Index,
    election_deadline: u64,
    /// The shortest election timeout and the heartbeat interval in force: measured by
    /// a leader, adopted from it by the others (timing.rs).
    election_timeout: u64,
    heartbeat_interval: u64,
    /// Campaigns in a row that ended without a leader: each makes the next wait longer.
    failed_campaigns: u32,
    /// When the current (pre-)vote round began: winning it measures a round trip.
    campaign_started: u64,
    /// A pre-candidate holding a majority of pre-votes stands for election only from
    /// this time on: after an answer that took longer than its timeout, a random wait
    /// (timing.rs), so that servers that started in step do not all stand at once.
    stand_after: u64,
    /// A committed configuration without this server that another server told it of,
    /// newer than any in its log: it has been removed.
    removal: Option<Removal>,
    /// When this server last heard from a leader of its term: within the minimum
    /// election timeout it refuses to help depose that leader.
    last_leader_contact: Option<u64>,
    /// A server that starts refuses votes until then: it may have heard from a leader
    /// just before it stopped, and that leader may hold a lease that counts on it.
    votes_refused_until: u64,
    votes: BTreeSet<NodeId>,
    vote_requested: BTreeSet<NodeId>,
    /// This candidacy was asked for by the leader handing over (TimeoutNow).
    campaign_for_transfer: bool,

    // Leader state.
    progress: BTreeMap<NodeId, Progress>,
    quorum_check_at: u64,
    /// Index of this leader's no-op: once it commits, so has everything before it.
    noop_index: Index,
    reads: read::ReadQueue,
    lease: read::Lease,
    /// Configuration entries this leader appended for admin requests, by index.
    pending_changes: Vec<(AdminId, Index)>,
    catch_up: Option<CatchUp>,
    transfer: Option<Transfer>,
    admin_outcomes: Vec<(AdminId, AdminOutcome)>,

    // What the runtime must carry out.
    replies: BTreeMap<NodeId, VecDeque<Reply>>,
    hard_state_dirty: bool,
    /// The term and vote storage last reported durable.
    durable_hard_state: HardState,
    /// The first index not yet handed to storage.
    write_from: Index,
    /// Entries up to here are on this server's disk.
    durable_index: Index,
    /// Entries up to here have been handed to the state machine.
    applied_handed: Index,

    // Snapshots (snapshot.rs).
    /// The latest snapshot: what this server sends followers that need entries it has
    /// discarded.
    snapshot: Option<Snapshot>,
    /// One the state machine must load before the next committed entries.
    snapshot_to_apply: Option<Snapshot>,
    /// A leader's snapshot arriving in chunks.
    receiving: Option<Receiving>,
    /// Receipts of snapshots begun so far.
    receipts: u64,
    snapshot_writes: Vec<SnapshotWrite>,
}

impl Raft {
    /// A server restarting from `recovered` (empty on first start). `bootstrap` is the
    /// configuration before any in the log: the voters the cluster starts with, which
    /// need not include this server. `seed` drives the randomized timeouts.
    pub fn new(
        id: NodeId,
        bootstrap: Configuration,
        config: Config,
        recovered: Recovered,
        seed: u64,
        now: u64,
    ) -> Self {
        // The snapshot stands in for the log up to its index, configuration included.
        let (snapshot_index, snapshot_term, mut configs) = match &recovered.snapshot {
            Some(s) if !config_forgotten(&config) => (
                s.meta.last_index,
                s.meta.last_term,
                Configurations::new_at(s.meta.last_index, s.meta.config.clone()),
            ),
            Some(s) => (
                s.meta.last_index,
                s.meta.last_term,
                Configurations::new(bootstrap),
            ),
            None => (0, 0, Configurations::new(bootstrap)),
        };
        let log = RaftLog::new(snapshot_index, snapshot_term, recovered.entries);
        let last = log.last_index();
        for entry in log.slice(1, last) {
            if let EntryData::Config(c) = &entry.data {
                configs.appended(entry.index, c.clone());
            }
        }
        let mut raft = Raft {
            id,
            configs,
            rng: StdRng::seed_from_u64(seed),
            term: recovered.hard_state.term,
            voted_for: recovered.hard_state.voted_for.clone(),
            log,
            role: Role::Follower,
            leader: None,
            now,
            // What a snapshot holds was committed; the state machine starts from it.
            commit_index: snapshot_index,
            election_deadline: 0,
            election_timeout: config.election_timeout_min,
            heartbeat_interval: config.heartbeat_interval,
            failed_campaigns: 0,
            campaign_started: now,
            stand_after: now,
            removal: None,
            last_leader_contact: None,
            votes_refused_until: 0,
            votes: BTreeSet::new(),
            vote_requested: BTreeSet::new(),
            campaign_for_transfer: false,
            progress: BTreeMap::new(),
            quorum_check_at: 0,
            noop_index: 0,
            reads: read::ReadQueue::default(),
            lease: read::Lease::default(),
            pending_changes: Vec::new(),
            catch_up: None,
            transfer: None,
            admin_outcomes: Vec::new(),
            replies: BTreeMap::new(),
            hard_state_dirty: false,
            durable_hard_state: recovered.hard_state,
            write_from: last + 1,
            durable_index: last,
            applied_handed: snapshot_index,
            snapshot: recovered.snapshot.clone(),
            snapshot_to_apply: recovered.snapshot,
            receiving: None,
            receipts: 0,
            snapshot_writes: Vec::new(),
            // Last: the timing fields above read it first.
            config,
        };
        raft.reset_election_deadline(now);
        if !raft.injected(InjectedBug::RestartedServerVotesAtOnce) {
            raft.votes_refused_until = now + raft.config.election_timeout_min;
        }
        raft
    }

    pub fn id(&self) -> &NodeId {
        &self.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> Term {
        self.term
    }
    pub fn leader(&self) -> Option<&NodeId> {
        self.leader.as_ref()
    }
    pub fn commit_index(&self) -> Index {
        self.commit_index
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    /// The voters as far as this server knows: those of the configuration in force,
    /// or of a newer committed one that another server told it leaves it out.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        self.known_voters()
    }

    /// Advances timers: the election timeout for followers and candidates, the
    /// check-quorum period and admin deadlines for leaders.
    pub fn tick(&mut self, now: u64) {
        self.tick_election(now);
        self.tick_leader(now);
    }

    /// When a follower or candidate next times out (None on a leader).
    pub fn election_deadline(&self) -> Option<u64> {
        (self.role != Role::Leader).then_some(self.election_deadline)
    }

    /// When a leader next checks that a majority still answers it, or that a catch-up
    /// or transfer has run out of time (None otherwise).
    pub fn leader_deadline(&self) -> Option<u64> {
        if self.role != Role::Leader {
            return None;
        }
        let admin = [
            self.catch_up.as_ref().map(|c| c.give_up_at),
            self.transfer.as_ref().map(|t| t.give_up_at),
        ];
        let quorum = self.config.check_quorum.then_some(self.quorum_check_at);
        admin.into_iter().chain([quorum]).flatten().min()
    }

    /// Handles one message from `from`.
    pub fn step(&mut self, from: &NodeId, msg: Message, now: u64) {
        self.now = now;
        // A pre-vote request or grant names a term its sender has not entered: it
        // must not move anyone's term (§9.6).
        let pre_vote_grant = matches!(
            msg,
            Message::RequestVoteResponse {
                pre_vote: true,
                granted: true,
                ..
            }
        );
        let pre_vote_request = matches!(msg, Message::RequestVote { pre_vote: true, .. });
        let guarded = matches!(
            msg,
            Message::RequestVote {
                transfer: false,
                pre_vote: false,
                ..
            }
        );
        if guarded && msg.term() >= self.term && self.in_leader_lease(now) {
            // Disruptive-server guard (§4.2.3): while a leader is known to be alive,
            // a vote request cannot even raise our term, unless that leader asked
            // for the election by handing leadership over. Nor is it granted in a
            // term we already entered: a leader's read lease counts on it.
            return;
        }
        if msg.term() > self.term && !pre_vote_grant && !pre_vote_request {
            let from_leader = matches!(
                msg,
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
            );
            let leader = from_leader.then(|| from.clone());
            self.become_follower(msg.term(), leader, now);
        }
        match msg {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
                transfer: _,
                sent_at,
            } => self.handle_vote_request(
                from,
                term,
                last_log_index,
                last_log_term,
                pre_vote,
                sent_at,
                now,
            ),
            Message::RequestVoteResponse {
                term,
                granted,
                pre_vote,
                sent_at,
                removed,
            } => {
                if let Some(removal) = removed {
                    self.learn_removal(removal);
                }
                self.handle_vote_response(from, term, granted, pre_vote, sent_at, now)
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
                sent_at,
                election_timeout,
            } => self.handle_append_entries(
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
                sent_at,
                election_timeout,
                now,
            ),
            Message::AppendEntriesResponse {
                term,
                success,
                match_index,
                rejected_index,
                hint_index,
                hint_term,
                read_seq,
                sent_at,
            } => {
                if self.role == Role::Leader && term == self.term {
                    self.lease_acknowledged(from, sent_at, now);
                }
                self.handle_append_response(
                    from,
                    term,
                    success,
                    match_index,
                    rejected_index,
                    hint_index,
                    hint_term,
                    read_seq,
                    sent_at,
                    now,
                )
            }
            Message::TimeoutNow { term } => self.handle_timeout_now(from, term, now),
            Message::InstallSnapshot {
                term,
                meta,
                offset,
                data,
                done,
                read_seq,
                sent_at,
                election_timeout,
            } => self.handle_install_snapshot(
                from,
                term,
                meta,
                offset,
                data,
                done,
                read_seq,
                sent_at,
                election_timeout,
                now,
            ),
            Message::InstallSnapshotResponse {
                term,
                last_index,
                received,
                done,
                read_seq,
                sent_at,
            } => self.handle_install_snapshot_response(
                from, term, last_index, received, done, read_seq, sent_at, now,
            ),
        }
    }

    /// Appends a state machine command, if this server is the leader and not handing
    /// leadership over. Returns its index.
    pub fn propose(&mut self, command: Payload) -> Result<Index, NotLeader> {
        self.check_serving()?;
        Ok(self.append_own(EntryData::Command(command)))
    }

    /// Whether this server takes client requests: it leads, and is not handing
    /// leadership over (§3.10: new entries would keep the target from catching up, and
    /// be lost if it won without them), nor waiting to hand over after its removal.
    fn check_serving(&self) -> Result<(), NotLeader> {
        let handing_over = self.transfer.is_some() || self.is_removed_leader();
        if self.role != Role::Leader {
            Err(NotLeader {
                leader: self.leader.clone(),
            })
        } else if handing_over {
            Err(NotLeader { leader: None })
        } else {
            Ok(())
        }
    }

    /// The next message to send to `peer`, if any: a queued reply, a vote request, or
    /// replication and heartbeats from a leader. Call until it returns None. Nothing
    /// comes out while the term and vote are not yet durable: every message speaks for
    /// them (a vote most of all).
    pub fn poll_peer(&mut self, peer: &NodeId, now: u64) -> Option<Message> {
        let hard_state_durable = self.durable_hard_state.term == self.term
            && self.durable_hard_state.voted_for == self.voted_for;
        if !hard_state_durable && !self.injected(InjectedBug::VoteNotPersisted) {
            return None;
        }
        if let Some(reply) = self.next_reply(peer) {
            return Some(reply);
        }
        match self.role {
            Role::PreCandidate | Role::Candidate => self.vote_request_for(peer, now),
            Role::Leader => match self.timeout_now_for(peer) {
                Some(timeout_now) => {
                    self.forfeit_lease();
                    Some(timeout_now)
                }
                None => self.replication_message_for(peer, now),
            },
            Role::Follower => None,
        }
    }

    /// The next reply for `peer` that may leave: an acknowledgement waits until what it
    /// acknowledges is durable, and is dropped if a truncation removed that meanwhile.
    fn next_reply(&mut self, peer: &NodeId) -> Option<Message> {
        loop {
            let &(_, hold) = self.replies.get(peer)?.front()?;
            let released = hold.map_or(Some(true), |hold| self.hold_released(hold));
            let queue = self.replies.get_mut(peer)?;
            match released {
                Some(true) => return queue.pop_front().map(|(msg, _)| msg),
                Some(false) => return None,
                None => {
                    queue.pop_front();
                }
            }
        }
    }

    /// The term and vote, if they changed since last taken, for the runtime to make
    /// durable and then report with [`Raft::hard_state_written`].
    pub fn take_hard_state(&mut self) -> Option<HardState> {
        std::mem::take(&mut self.hard_state_dirty).then(|| HardState {
            term: self.term,
            voted_for: self.voted_for.clone(),
        })
    }

    /// Whether [`Raft::take_log_write`] has entries to hand out.
    pub fn log_write_pending(&self) -> bool {
        self.write_from <= self.log.last_index()
    }

    /// Log entries not yet handed to storage. Storage must drop any stored entries at
    /// or after the first one's index before appending them.
    pub fn take_log_write(&mut self) -> Option<Vec<Entry>> {
        let last = self.log.last_index();
        if self.write_from > last {
            return None;
        }
        let entries = self.log.slice(self.write_from, last).to_vec();
        self.write_from = last + 1;
        Some(entries)
    }

    /// Storage reports that a term and vote taken from [`Raft::take_hard_state`] are
    /// durable: messages produced under them may leave.
    pub fn hard_state_written(&mut self, hard_state: &HardState) {
        self.durable_hard_state = hard_state.clone();
    }

    /// Storage reports that entries up to (`index`, `term`) are durable.
    pub fn log_written(&mut self, index: Index, term: Term) {
        // A batch overtaken by a truncation no longer describes this log.
        let still_in_log = self.log.term_at(index) == Some(term)
            || self.injected(InjectedBug::StaleLogWriteAccepted);
        if still_in_log && index > self.durable_index {
            self.durable_index = index;
            self.maybe_commit();
        }
    }

    /// Newly committed entries, in order, for the state machine.
    pub fn take_committed(&mut self) -> Vec<Entry> {
        let from = self.applied_handed + 1;
        self.applied_handed = self.commit_index;
        self.log.slice(from, self.commit_index).to_vec()
    }

    /// The snapshot this server's log starts from: entries up to here are gone.
    pub fn snapshot_index(&self) -> Index {
        self.log.snapshot_index()
    }

    #[cfg(test)]
    fn injected(&self, bug: InjectedBug) -> bool {
        self.config.injected_bug == Some(bug)
    }
    #[cfg(not(test))]
    fn injected(&self, _bug: InjectedBug) -> bool {
        false
    }

    fn majority(&self) -> usize {
        self.config().majority()
    }

    fn reset_election_deadline(&mut self, now: u64) {
        let (min, max) = self.election_timeout_range();
        self.election_deadline = now + self.rng.gen_range(min..=max);
    }

    /// The vote guard: whether this server refuses to help elect anyone (but a
    /// transfer's target) now. A leader's read lease (read.rs) lasts less than this
    /// guard on each server that answered it, so it must hold as long as the server
    /// remembers hearing from the leader, even after a newer term made it forget
    /// which, and for a while after the server started.
    fn in_leader_lease(&self, now: u64) -> bool {
        self.role == Role::Leader
            || now < self.votes_refused_until
            || self
                .last_leader_contact
                .is_some_and(|t| now < t + self.election_timeout)
    }

    fn send_reply(&mut self, to: &NodeId, msg: Message) {
        let hold = match msg {
            Message::AppendEntriesResponse {
                success: true,
                match_index,
                ..
            } => Some(Hold::Entries(
                match_index,
                self.log.term_at(match_index).unwrap_or(0),
            )),
            _ => None,
        };
        self.queue_reply(to, msg, hold);
    }

    fn queue_reply(&mut self, to: &NodeId, msg: Message, hold: Option<Hold>) {
        self.replies
            .entry(to.clone())
            .or_default()
            .push_back((msg, hold));
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, now: u64) {
        let term_advanced = term > self.term;
        if term_advanced {
            self.term = term;
            self.voted_for = None;
            self.hard_state_dirty = true;
        }
        if self.role == Role::Leader {
            self.progress.clear();
            self.reads.abort_all();
            self.abandon_admin_requests(term_advanced);
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.vote_requested.clear();
        self.reset_election_deadline(now);
    }

    fn become_leader(&mut self, now: u64) {
        self.role = Role::Leader;
        self.leader = Some(self.id.clone());
        self.progress.clear();
        self.lease = read::Lease::default();
        self.sync_progress();
        self.campaigns_succeeded();
        // The first quorum check waits for the first round: the election's round trip
        // sets the timing until replies measure it.
        self.seed_round_trips(now);
        self.quorum_check_at = now + self.election_timeout;
        self.noop_index = self.append_own(EntryData::Noop);
        self.maybe_commit();
    }

    fn append_own(&mut self, data: EntryData) -> Index {
        let index = self.log.last_index() + 1;
        self.append_to_log(Entry {
            term: self.term,
            index,
            data,
        });
        index
    }

    /// Every append goes through here: a configuration takes effect once in the log.
    fn append_to_log(&mut self, entry: Entry) {
        if let EntryData::Config(c) = &entry.data {
            self.configs.appended(entry.index, c.clone());
        }
        self.log.append(entry);
    }

    /// Every truncation goes through here: a configuration lost with its entry gives
    /// way to the one before.
    fn truncate_log_from(&mut self, index: Index) {
        self.log.truncate_from(index);
        if !self.injected(InjectedBug::NoConfigFallbackOnTruncation) {
            self.configs.truncated_from(index);
        }
        self.write_from = self.write_from.min(index);
        self.durable_index = self.durable_index.min(index - 1);
    }

    /// The highest value that a majority of the voters has reached, each peer's value
    /// read from its progress and this server's given as `own`. The leader counts only
    /// while it is a voter itself: a leader being removed manages without a vote.
    fn quorum_value(&self, own: u64, value: impl Fn(&Progress) -> u64) -> u64 {
        let mut values: Vec<u64> = self
            .config()
            .voters
            .iter()
            .map(|v| {
                if *v == self.id {
                    own
                } else {
                    self.progress.get(v).map_or(0, &value)
                }
            })
            .collect();
        if !self.config().is_voter(&self.id)
            && self.injected(InjectedBug::RemovedLeaderCountsItself)
        {
            values.push(own);
        }
        values.sort_unstable_by(|a, b| b.cmp(a));
        values.get(self.majority() - 1).copied().unwrap_or(0)
    }

    /// Commits the highest index a majority of the voters holds, if it is of the
    /// current term (§5.4.2).
    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let own = if self.injected(InjectedBug::LeaderCountsNonDurable) {
            self.log.last_index()
        } else {
            self.durable_index
        };
        let candidate = self.quorum_value(own, |p| p.match_index);
        let of_this_term = self.log.term_at(candidate) == Some(self.term)
            || self.injected(InjectedBug::CommitWithoutCurrentTermCheck);
        if candidate > self.commit_index && of_this_term {
            self.commit_index = candidate;
            self.release_waiting_reads();
            self.membership_committed();
        }
    }
}

/// Planted bug: a restored snapshot's configuration is not taken.
#[cfg(test)]
fn config_forgotten(config: &Config) -> bool {
    config.injected_bug == Some(InjectedBug::SnapshotConfigForgotten)
}
#[cfg(not(test))]
fn config_forgotten(_config: &Config) -> bool {
    false
}

#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod test_cluster;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod timing_tests;
