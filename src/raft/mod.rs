//! The Raft consensus core: a deterministic value stepped by messages and clock ticks.
//!
//! It does no I/O and reads no clock. Time comes in as `now` (milliseconds on any
//! monotonic scale); out come messages (pulled per peer with [`Raft::poll_peer`]), writes
//! the runtime must make durable ([`Raft::take_hard_state`], [`Raft::take_log_write`]),
//! committed entries to apply ([`Raft::take_committed`]) and reads that may be served
//! ([`Raft::take_reads`]). The node runtime wraps it in threads; the simulation tests
//! drive it directly.
//!
//! Ordering contract with the runtime: a message produced after a step may only be sent
//! once the hard state and, for followers, the log writes taken after that step are
//! durable. The leader's own log writes may proceed in parallel with replication; the
//! leader counts itself toward a majority only up to what [`Raft::log_written`] reported.

mod election;
mod entry;
mod log;
mod message;
mod progress;
mod read;
mod replication;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use entry::{Entry, EntryData, Index, NodeId, Term};
pub use log::RaftLog;
pub use message::Message;
pub use read::{ReadId, Reads};

use crate::kv::Command;
use crate::storage::{HardState, Recovered};
use progress::Progress;

/// Timing and flow-control settings. All durations in milliseconds.
#[derive(Clone, Debug)]
pub struct Config {
    pub election_timeout_min: u64,
    pub election_timeout_max: u64,
    pub heartbeat_interval: u64,
    /// AppendEntries with entries that may be outstanding to one peer at once.
    pub max_in_flight: usize,
    /// Entries carried by one AppendEntries at most.
    pub max_batch: usize,
    /// Ask for votes hypothetically before disrupting the cluster with a new term.
    pub pre_vote: bool,
    /// A leader that hears from no majority for an election timeout steps down.
    pub check_quorum: bool,
    #[cfg(test)]
    pub injected_bug: Option<InjectedBug>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            election_timeout_min: 150,
            election_timeout_max: 300,
            heartbeat_interval: 50,
            max_in_flight: 8,
            max_batch: 512,
            pre_vote: true,
            check_quorum: true,
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

pub struct Raft {
    id: NodeId,
    /// Every voting server, this one included, sorted.
    voters: Vec<NodeId>,
    config: Config,
    rng: StdRng,

    // Persistent state (§5.1), mirrored by storage.
    term: Term,
    voted_for: Option<NodeId>,
    log: RaftLog,

    role: Role,
    leader: Option<NodeId>,
    commit_index: Index,
    election_deadline: u64,
    /// When this server last heard from a leader of its term: within the minimum
    /// election timeout it refuses to help depose that leader.
    last_leader_contact: Option<u64>,
    votes: BTreeSet<NodeId>,
    vote_requested: BTreeSet<NodeId>,

    // Leader state.
    progress: BTreeMap<NodeId, Progress>,
    quorum_check_at: u64,
    /// Index of this leader's no-op: once it commits, so has everything before it.
    noop_index: Index,
    reads: read::ReadQueue,

    // What the runtime must carry out.
    replies: BTreeMap<NodeId, VecDeque<Message>>,
    hard_state_dirty: bool,
    /// The first index not yet handed to storage.
    write_from: Index,
    /// Entries up to here are on this server's disk.
    durable_index: Index,
    /// Entries up to here have been handed to the state machine.
    applied_handed: Index,
}

impl Raft {
    /// A server restarting from `recovered` (empty on first start). `voters` lists every
    /// voting server including this one. `seed` drives the randomized timeouts.
    pub fn new(
        id: NodeId,
        voters: Vec<NodeId>,
        config: Config,
        recovered: Recovered,
        seed: u64,
        now: u64,
    ) -> Self {
        let mut voters = voters;
        voters.sort();
        voters.dedup();
        let log = RaftLog::from_entries(recovered.entries);
        let last = log.last_index();
        let mut raft = Raft {
            id,
            voters,
            config,
            rng: StdRng::seed_from_u64(seed),
            term: recovered.hard_state.term,
            voted_for: recovered.hard_state.voted_for,
            log,
            role: Role::Follower,
            leader: None,
            commit_index: 0,
            election_deadline: 0,
            last_leader_contact: None,
            votes: BTreeSet::new(),
            vote_requested: BTreeSet::new(),
            progress: BTreeMap::new(),
            quorum_check_at: 0,
            noop_index: 0,
            reads: read::ReadQueue::default(),
            replies: BTreeMap::new(),
            hard_state_dirty: false,
            write_from: last + 1,
            durable_index: last,
            applied_handed: 0,
        };
        raft.reset_election_deadline(now);
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
    /// The other voting servers.
    pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
        self.voters.iter().filter(move |v| **v != self.id)
    }

    /// Advances timers: the election timeout for followers and candidates, the
    /// check-quorum period for leaders.
    pub fn tick(&mut self, now: u64) {
        self.tick_election(now);
        self.tick_quorum(now);
    }

    /// When a follower or candidate next times out (None on a leader).
    pub fn election_deadline(&self) -> Option<u64> {
        (self.role != Role::Leader).then_some(self.election_deadline)
    }

    /// When a leader next checks that a majority still answers it (None otherwise).
    pub fn quorum_check_deadline(&self) -> Option<u64> {
        (self.role == Role::Leader && self.config.check_quorum).then_some(self.quorum_check_at)
    }

    /// Handles one message from `from`.
    pub fn step(&mut self, from: &NodeId, msg: Message, now: u64) {
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
        if msg.term() > self.term && !pre_vote_grant && !pre_vote_request {
            if matches!(msg, Message::RequestVote { .. }) && self.in_leader_lease(now) {
                // Disruptive-server guard (§4.2.3): while a leader is known to be alive,
                // a vote request cannot even raise our term.
                return;
            }
            let leader = matches!(msg, Message::AppendEntries { .. }).then(|| from.clone());
            self.become_follower(msg.term(), leader, now);
        }
        match msg {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
            } => self.handle_vote_request(from, term, last_log_index, last_log_term, pre_vote, now),
            Message::RequestVoteResponse {
                term,
                granted,
                pre_vote,
            } => self.handle_vote_response(from, term, granted, pre_vote, now),
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
            } => self.handle_append_entries(
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
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
            } => self.handle_append_response(
                from,
                term,
                success,
                match_index,
                rejected_index,
                hint_index,
                hint_term,
                read_seq,
            ),
        }
    }

    /// Appends a client command, if this server is the leader. Returns its index.
    pub fn propose(&mut self, command: Command) -> Result<Index, NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader.clone(),
            });
        }
        Ok(self.append_own(EntryData::Command(command)))
    }

    /// The next message to send to `peer`, if any: a queued reply, a vote request, or
    /// replication and heartbeats from a leader. Call until it returns None.
    pub fn poll_peer(&mut self, peer: &NodeId, now: u64) -> Option<Message> {
        if let Some(reply) = self.replies.get_mut(peer).and_then(|q| q.pop_front()) {
            return Some(reply);
        }
        match self.role {
            Role::PreCandidate | Role::Candidate => self.vote_request_for(peer),
            Role::Leader => self.replication_message_for(peer, now),
            Role::Follower => None,
        }
    }

    /// The term and vote, if they changed since last taken. The runtime must make them
    /// durable before sending any message produced since.
    pub fn take_hard_state(&mut self) -> Option<HardState> {
        std::mem::take(&mut self.hard_state_dirty).then(|| HardState {
            term: self.term,
            voted_for: self.voted_for.clone(),
        })
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

    /// Storage reports that entries up to (`index`, `term`) are durable.
    pub fn log_written(&mut self, index: Index, term: Term) {
        // A batch overtaken by a truncation no longer describes this log.
        if self.log.term_at(index) == Some(term) && index > self.durable_index {
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

    #[cfg(test)]
    fn injected(&self, bug: InjectedBug) -> bool {
        self.config.injected_bug == Some(bug)
    }
    #[cfg(not(test))]
    fn injected(&self, _bug: InjectedBug) -> bool {
        false
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    fn reset_election_deadline(&mut self, now: u64) {
        let min = self.config.election_timeout_min;
        let max = self.config.election_timeout_max.max(min);
        self.election_deadline = now + self.rng.gen_range(min..=max);
    }

    fn in_leader_lease(&self, now: u64) -> bool {
        self.role == Role::Leader
            || self.last_leader_contact.is_some_and(|t| {
                self.leader.is_some() && now < t + self.config.election_timeout_min
            })
    }

    fn send_reply(&mut self, to: &NodeId, msg: Message) {
        self.replies.entry(to.clone()).or_default().push_back(msg);
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, now: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.hard_state_dirty = true;
        }
        if self.role == Role::Leader {
            self.progress.clear();
            self.reads.abort_all();
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
        let last = self.log.last_index();
        self.progress = self
            .peers()
            .map(|p| (p.clone(), Progress::new(last)))
            .collect();
        self.quorum_check_at = now + self.config.election_timeout_min;
        self.noop_index = self.append_own(EntryData::Noop);
        self.maybe_commit();
    }

    fn append_own(&mut self, data: EntryData) -> Index {
        let index = self.log.last_index() + 1;
        self.log.append(Entry {
            term: self.term,
            index,
            data,
        });
        index
    }

    /// Commits the highest index a majority holds, if it is of the current term (§5.4.2).
    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<Index> = self
            .voters
            .iter()
            .map(|v| {
                if *v == self.id {
                    self.durable_index
                } else {
                    self.progress.get(v).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.majority() - 1];
        if candidate > self.commit_index && self.log.term_at(candidate) == Some(self.term) {
            self.commit_index = candidate;
            self.release_waiting_reads();
        }
    }
}

/// Bugs a test can switch on to prove that the simulation's safety checks catch them.
/// Only tests can set them: the field that holds one exists only in test builds.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedBug {
    /// Grant votes to candidates whose logs are behind.
    VoteWithoutUpToDateCheck,
}

#[cfg(test)]
mod tests;
