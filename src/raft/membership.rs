//! Cluster membership changes, one server at a time (dissertation chapter 4).
//!
//! A configuration is an ordinary log entry and takes effect on every server as soon as
//! it is in that server's log, committed or not; a server that loses an uncommitted
//! configuration entry to a truncation falls back to the one before. Because any two
//! configurations that differ by one voter have overlapping majorities, no two leaders
//! can be elected in one term as long as a leader appends a new configuration only once
//! the previous one has committed, and only once an entry of its own term has committed
//! (the fix for the single-server bug found after the dissertation).
//!
//! A server asked to become a voter first joins as *staging*: the leader replicates to
//! it without counting it, in rounds that each bring it up to the leader's log as it was
//! when the round began, and adds it as a voter only when a round took less than an
//! election timeout, so that it cannot hold up commitment. Leadership transfer
//! (§3.10) brings the target up to date and sends it TimeoutNow, which lets it start an
//! election at once, past the other servers' disruptive-server guard.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::entry::{EntryData, Index, NodeId};
use super::message::Removal;
use super::progress::Progress;
use super::{NotLeader, Raft, Role};

/// Catch-up rounds a staging server gets before the change is abandoned.
const MAX_CATCH_UP_ROUNDS: u64 = 10;

/// Who takes part in the cluster. Voters elect leaders and make up commitment
/// majorities; non-voters only receive the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub voters: BTreeSet<NodeId>,
    pub non_voters: BTreeSet<NodeId>,
}

impl Configuration {
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Configuration {
            voters: voters.into_iter().collect(),
            non_voters: BTreeSet::new(),
        }
    }

    pub fn is_voter(&self, id: &NodeId) -> bool {
        self.voters.contains(id)
    }

    pub fn is_member(&self, id: &NodeId) -> bool {
        self.voters.contains(id) || self.non_voters.contains(id)
    }

    pub fn members(&self) -> impl Iterator<Item = &NodeId> {
        self.voters.iter().chain(&self.non_voters)
    }

    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// This configuration with `change` made, or None when it would change nothing.
    fn changed_by(&self, change: &ConfigChange) -> Option<Configuration> {
        let mut next = self.clone();
        let changed = match change {
            ConfigChange::AddVoter(id) => {
                next.non_voters.remove(id) | next.voters.insert(id.clone())
            }
            ConfigChange::AddNonVoter(id) => {
                next.voters.remove(id) | next.non_voters.insert(id.clone())
            }
            ConfigChange::RemoveServer(id) => next.voters.remove(id) | next.non_voters.remove(id),
        };
        changed.then_some(next)
    }
}

/// A change an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// Add a server as a voter, or promote a non-voter; it catches up as staging first.
    AddVoter(NodeId),
    /// Add a server as a non-voter, or demote a voter.
    AddNonVoter(NodeId),
    RemoveServer(NodeId),
}

/// The runtime's handle for an admin request; the core only passes it back.
pub type AdminId = u64;

/// How an accepted admin request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminOutcome {
    /// The change committed, or was already in force; the transfer handed leadership on.
    Done,
    /// Nothing changed and nothing will: the request may be retried.
    Failed(AdminError),
    /// This server stopped being leader with the change in its log but not known to be
    /// committed: it may or may not take effect.
    Unknown,
}

/// Why an admin request did not (and never will) take effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminError {
    NotLeader(NotLeader),
    /// Another configuration change or transfer is under way.
    InProgress,
    /// The leader has not yet committed an entry of its own term.
    LeaderNotReady,
    /// The change would leave no voter.
    LastVoter,
    /// The transfer target is not a voter.
    NotAVoter(NodeId),
    /// The staging server did not catch up within the allowed rounds or time.
    CatchUpFailed(NodeId),
    /// The transfer target did not take over within an election timeout.
    TransferFailed(NodeId),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::NotLeader(NotLeader { leader: Some(l) }) => {
                write!(f, "not the leader (leader is {l})")
            }
            AdminError::NotLeader(NotLeader { leader: None }) => write!(f, "no leader known"),
            AdminError::InProgress => write!(f, "another membership change is in progress"),
            AdminError::LeaderNotReady => {
                write!(f, "the leader has not yet committed an entry of its term")
            }
            AdminError::LastVoter => write!(f, "cannot remove the last voter"),
            AdminError::NotAVoter(id) => write!(f, "{id} is not a voter"),
            AdminError::CatchUpFailed(id) => write!(f, "{id} did not catch up with the log"),
            AdminError::TransferFailed(id) => write!(f, "{id} did not take over leadership"),
        }
    }
}

/// What `read_config` shows: the configuration in force once committed, the latest one
/// (in force now), and the server catching up to join, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigView {
    pub committed: (Index, Configuration),
    pub latest: (Index, Configuration),
    pub staging: Option<NodeId>,
}

/// The configurations in a server's log that still matter: the last committed one and
/// any after it, each with its index. The bootstrap configuration sits at index 0.
#[derive(Clone, Debug)]
pub(super) struct Configurations {
    entries: Vec<(Index, Configuration)>,
}

impl Configurations {
    pub(super) fn new(bootstrap: Configuration) -> Self {
        Self::new_at(0, bootstrap)
    }

    /// Starting from `config`, in force at `index`: a snapshot's, whose log is gone.
    pub(super) fn new_at(index: Index, config: Configuration) -> Self {
        Configurations {
            entries: vec![(index, config)],
        }
    }

    pub(super) fn latest(&self) -> &(Index, Configuration) {
        self.entries.last().expect("never empty")
    }

    pub(super) fn committed(&self, commit_index: Index) -> &(Index, Configuration) {
        self.entries
            .iter()
            .rev()
            .find(|(index, _)| *index <= commit_index)
            .unwrap_or(&self.entries[0])
    }

    pub(super) fn appended(&mut self, index: Index, config: Configuration) {
        self.entries.push((index, config));
    }

    /// Forgets configurations from entries at or after `index`, which the log dropped.
    pub(super) fn truncated_from(&mut self, index: Index) {
        while self.entries.len() > 1 && self.latest().0 >= index {
            self.entries.pop();
        }
    }

    /// Drops what a newer committed configuration has replaced for good. Returns
    /// whether anything was: a configuration entry has just committed.
    pub(super) fn committed_up_to(&mut self, commit_index: Index) -> bool {
        let keep_from = self
            .entries
            .iter()
            .rposition(|(index, _)| *index <= commit_index)
            .unwrap_or(0);
        self.entries.drain(..keep_from);
        keep_from > 0
    }
}

/// A staging server being caught up by the leader.
#[derive(Clone, Debug)]
pub(super) struct CatchUp {
    id: AdminId,
    server: NodeId,
    /// The round ends when the server holds the log up to here.
    round_end: Index,
    round_started: u64,
    rounds: u64,
    pub(super) give_up_at: u64,
}

/// A leadership transfer under way.
#[derive(Clone, Debug)]
pub(super) struct Transfer {
    id: AdminId,
    pub(super) target: NodeId,
    pub(super) give_up_at: u64,
    /// TimeoutNow went out: if this leader now sees a newer term, the hand-over worked.
    pub(super) timeout_now_sent: bool,
}

impl Raft {
    /// The configuration in force: the latest in this server's log.
    pub(super) fn config(&self) -> &Configuration {
        &self.configs.latest().1
    }

    pub fn configuration(&self) -> ConfigView {
        ConfigView {
            committed: self.configs.committed(self.commit_index).clone(),
            latest: self.configs.latest().clone(),
            staging: self.catch_up.as_ref().map(|c| c.server.clone()),
        }
    }

    /// Starts a membership change on the leader. `Ok` means accepted: the outcome comes
    /// later from [`Raft::take_admin_outcomes`] under `id`. `Err` means refused, with
    /// nothing changed.
    pub fn change_config(
        &mut self,
        id: AdminId,
        change: ConfigChange,
        now: u64,
    ) -> Result<(), AdminError> {
        self.now = now;
        self.check_admin_allowed()?;
        let Some(next) = self.config().changed_by(&change) else {
            self.admin_outcomes.push((id, AdminOutcome::Done));
            return Ok(());
        };
        if next.voters.is_empty() {
            return Err(AdminError::LastVoter);
        }
        // The fix for the single-server bug: an entry of this term must have committed,
        // so that no configuration a previous leader left uncommitted can still win.
        if self.commit_index < self.noop_index
            && !self.injected(super::InjectedBug::ConfigChangeBeforeOwnTermCommit)
        {
            return Err(AdminError::LeaderNotReady);
        }
        match change {
            ConfigChange::AddVoter(server) => {
                let last = self.log.last_index();
                self.catch_up = Some(CatchUp {
                    id,
                    server,
                    round_end: last,
                    round_started: now,
                    rounds: 1,
                    give_up_at: now + MAX_CATCH_UP_ROUNDS * self.election_timeout_max(),
                });
                self.sync_progress();
                self.advance_catch_up(now);
            }
            _ => self.append_config(id, next),
        }
        Ok(())
    }

    /// Starts handing leadership to `target`, a voter: from now until the transfer ends
    /// this leader takes no new requests, brings the target up to date, and sends it
    /// TimeoutNow. It gives up after an election timeout and serves again.
    pub fn transfer_leadership(
        &mut self,
        id: AdminId,
        target: NodeId,
        now: u64,
    ) -> Result<(), AdminError> {
        self.now = now;
        self.check_admin_allowed()?;
        if target == self.id {
            self.admin_outcomes.push((id, AdminOutcome::Done));
            return Ok(());
        }
        if !self.config().is_voter(&target) {
            return Err(AdminError::NotAVoter(target));
        }
        self.transfer = Some(Transfer {
            id,
            target,
            give_up_at: now + self.election_timeout_max(),
            timeout_now_sent: false,
        });
        Ok(())
    }

    /// Admin requests that ended since last taken.
    pub fn take_admin_outcomes(&mut self) -> Vec<(AdminId, AdminOutcome)> {
        std::mem::take(&mut self.admin_outcomes)
    }

    fn check_admin_allowed(&self) -> Result<(), AdminError> {
        if self.role != Role::Leader {
            return Err(AdminError::NotLeader(NotLeader {
                leader: self.leader.clone(),
            }));
        }
        let uncommitted = self.configs.latest().0 > self.commit_index
            && !self.injected(super::InjectedBug::MultipleUncommittedConfigs);
        if uncommitted || self.catch_up.is_some() || self.transfer.is_some() {
            return Err(AdminError::InProgress);
        }
        Ok(())
    }

    fn append_config(&mut self, id: AdminId, next: Configuration) {
        let index = self.append_own(EntryData::Config(next));
        self.pending_changes.push((id, index));
        self.sync_progress();
        // A smaller majority may already hold everything.
        self.maybe_commit();
    }

    /// Keeps the leader's progress trackers in line with whom it replicates to: the
    /// members of the latest and the committed configuration (a removed server hears
    /// of its removal), and the staging server.
    pub(super) fn sync_progress(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let latest = &self.configs.latest().1;
        let committed = &self.configs.committed(self.commit_index).1;
        let targets: BTreeSet<NodeId> = latest
            .members()
            .chain(committed.members())
            .chain(self.catch_up.as_ref().map(|c| &c.server))
            .filter(|id| **id != self.id)
            .cloned()
            .collect();
        self.progress.retain(|id, _| targets.contains(id));
        let last = self.log.last_index();
        for id in targets {
            self.progress
                .entry(id)
                .or_insert_with(|| Progress::new(last));
        }
    }

    /// Moves the staging server's catch-up along: promote it, start another round, or
    /// give up.
    pub(super) fn advance_catch_up(&mut self, now: u64) {
        let promote_early = self.injected(super::InjectedBug::StagingPromotedEarly);
        let Some(catch_up) = self.catch_up.as_mut() else {
            return;
        };
        let matched = self
            .progress
            .get(&catch_up.server)
            .map_or(0, |p| p.match_index);
        let failed = if now >= catch_up.give_up_at {
            true
        } else if matched >= catch_up.round_end || promote_early {
            if now - catch_up.round_started < self.election_timeout {
                let catch_up = self.catch_up.take().expect("checked above");
                let next = self
                    .config()
                    .changed_by(&ConfigChange::AddVoter(catch_up.server))
                    .expect("a staging server is not yet a voter");
                self.append_config(catch_up.id, next);
                return;
            }
            catch_up.rounds += 1;
            catch_up.round_end = self.log.last_index();
            catch_up.round_started = now;
            catch_up.rounds > MAX_CATCH_UP_ROUNDS
        } else {
            false
        };
        if failed {
            let catch_up = self.catch_up.take().expect("checked above");
            let error = AdminError::CatchUpFailed(catch_up.server);
            self.admin_outcomes
                .push((catch_up.id, AdminOutcome::Failed(error)));
            self.sync_progress();
        }
    }

    /// Gives up a transfer whose target has not taken over in time; the leader then
    /// takes requests again.
    pub(super) fn tick_transfer(&mut self, now: u64) {
        if let Some(transfer) = self.transfer.take_if(|t| now >= t.give_up_at) {
            let error = AdminError::TransferFailed(transfer.target);
            self.admin_outcomes
                .push((transfer.id, AdminOutcome::Failed(error)));
        }
    }

    /// Reports the fate of every admin request that commitment has settled, and steps a
    /// leader down once a configuration without it as a voter has committed.
    pub(super) fn membership_committed(&mut self) {
        let commit = self.commit_index;
        let (done, waiting): (Vec<_>, Vec<_>) = self
            .pending_changes
            .drain(..)
            .partition(|(_, index)| *index <= commit);
        self.pending_changes = waiting;
        self.admin_outcomes
            .extend(done.into_iter().map(|(id, _)| (id, AdminOutcome::Done)));
        if self.configs.committed_up_to(commit) {
            // Servers only the replaced configuration had no longer get the log.
            self.sync_progress();
        }
        self.hand_over_if_removed();
    }

    /// Whether this server leads a cluster whose committed configuration no longer
    /// has it as a voter: it takes no more requests and hands over.
    pub(super) fn is_removed_leader(&self) -> bool {
        self.role == Role::Leader
            && !self.config().is_voter(&self.id)
            && self.configs.latest().0 <= self.commit_index
    }

    /// A removed leader hands over once everything in its log has committed: its state
    /// machine then answers every request it took after its removal too, which nobody
    /// else would (the cluster no longer replicates to it).
    fn hand_over_if_removed(&mut self) {
        if !self.is_removed_leader() || self.commit_index < self.log.last_index() {
            return;
        }
        // Hand over to the most up-to-date voter rather than leave the cluster to
        // notice the silence an election timeout later.
        let successor = self
            .config()
            .voters
            .iter()
            .max_by_key(|v| self.progress.get(*v).map_or(0, |p| p.match_index))
            .cloned();
        let term = self.term;
        self.become_follower(term, None, self.now);
        if let Some(successor) = successor {
            self.send_reply(&successor, super::Message::TimeoutNow { term });
        }
    }

    /// The voters as far as this server knows: those of its latest configuration, or
    /// of a newer committed one that another server said leaves it out.
    pub(super) fn known_voters(&self) -> &BTreeSet<NodeId> {
        match &self.removal {
            Some(removal) if removal.index > self.configs.latest().0 => &removal.voters,
            _ => &self.config().voters,
        }
    }

    /// What to tell `server`, which asked for a vote, if this server's committed
    /// configuration has it out of the voters.
    pub(super) fn removal_of(&self, server: &NodeId) -> Option<Removal> {
        let (_, config) = self.configs.committed(self.commit_index);
        (!config.is_voter(server)).then(|| Removal {
            index: self.commit_index,
            voters: config.voters.clone(),
        })
    }

    /// Another server says a committed configuration leaves this one out of the
    /// voters. If its log holds nothing as new, the server was removed while cut off
    /// (the leader no longer replicates to it): it stops campaigning, and sends its
    /// clients to those voters. A later configuration in its log supersedes this.
    pub(super) fn learn_removal(&mut self, removal: Removal) {
        let newer_than_known = removal.index > self.configs.latest().0
            && self
                .removal
                .as_ref()
                .is_none_or(|r| removal.index > r.index);
        let ignored = self.injected(super::InjectedBug::RemovalNewsIgnored);
        if !newer_than_known || removal.voters.contains(&self.id) || ignored {
            return;
        }
        self.removal = Some(removal);
        if matches!(self.role, Role::PreCandidate | Role::Candidate) {
            let term = self.term;
            self.become_follower(term, None, self.now);
        }
    }

    /// A leader stepping down settles every admin request it holds.
    pub(super) fn abandon_admin_requests(&mut self, term_advanced: bool) {
        for (id, _) in self.pending_changes.drain(..) {
            self.admin_outcomes.push((id, AdminOutcome::Unknown));
        }
        if let Some(catch_up) = self.catch_up.take() {
            let error = AdminError::NotLeader(NotLeader { leader: None });
            self.admin_outcomes
                .push((catch_up.id, AdminOutcome::Failed(error)));
        }
        if let Some(transfer) = self.transfer.take() {
            let outcome = if transfer.timeout_now_sent && term_advanced {
                AdminOutcome::Done
            } else {
                AdminOutcome::Failed(AdminError::TransferFailed(transfer.target))
            };
            self.admin_outcomes.push((transfer.id, outcome));
        }
    }
}
