//! Leader election (§5.2) with pre-vote (§9.6) and the check-quorum step-down.

use super::{Message, NodeId, Raft, Role, Term};

impl Raft {
    /// A follower or candidate whose election timeout has passed starts (pre-)campaigning.
    pub fn tick_election(&mut self, now: u64) {
        self.now = now;
        if self.role != Role::Leader && now >= self.election_deadline {
            self.campaign(now);
        }
    }

    /// The leader's timers: catch-ups and transfers that ran out of time end, and a
    /// leader that no majority answered during the last period steps down, so that
    /// clients stuck with it can find the real leader.
    pub fn tick_leader(&mut self, now: u64) {
        self.now = now;
        if self.role != Role::Leader {
            return;
        }
        self.tick_transfer(now);
        self.advance_catch_up(now);
        if !self.config.check_quorum || now < self.quorum_check_at {
            return;
        }
        if self.quorum_value(1, |p| p.recently_active as u64) == 0 {
            self.become_follower(self.term, None, now);
            return;
        }
        for p in self.progress.values_mut() {
            p.recently_active = false;
        }
        self.quorum_check_at = now + self.election_timeout;
    }

    fn campaign(&mut self, now: u64) {
        // A pre-candidate that already holds a majority was only waiting to stand
        // (observe_vote_round_trip): it has not failed, and stands below.
        let waited_to_stand =
            self.role == Role::PreCandidate && self.votes.len() >= self.majority();
        if self.role != Role::Follower && !waited_to_stand {
            self.campaign_failed();
        }
        self.reset_election_deadline(now);
        // Only a voter of its own latest configuration stands: a server being added or
        // one that was removed must not disrupt the cluster.
        if !self.known_voters().contains(&self.id) {
            return;
        }
        self.leader = None;
        self.campaign_for_transfer = false;
        if self.config.pre_vote {
            // A new round starts afresh: a grant held longer could have been given
            // before its sender heard from a leader that it hears from now.
            if !waited_to_stand {
                self.role = Role::PreCandidate;
                self.votes = [self.id.clone()].into();
                self.vote_requested.clear();
            }
            self.campaign_started = now;
            self.stand_after = now;
            if self.votes.len() >= self.majority() {
                self.become_candidate(now);
            }
        } else {
            self.become_candidate(now);
        }
    }

    fn become_candidate(&mut self, now: u64) {
        self.role = Role::Candidate;
        self.term += 1;
        self.voted_for = Some(self.id.clone());
        self.hard_state_dirty = true;
        self.votes = [self.id.clone()].into();
        self.vote_requested.clear();
        self.campaign_started = now;
        self.reset_election_deadline(now);
        if self.votes.len() >= self.majority() {
            self.become_leader(now);
        }
    }

    /// The leader asked this server to take over (§3.10): it starts an election at once,
    /// without a pre-vote, flagged so that voters still hearing from that leader listen.
    pub(super) fn handle_timeout_now(&mut self, from: &NodeId, term: Term, now: u64) {
        let from_our_leader = term == self.term && self.leader.as_ref() == Some(from);
        if !from_our_leader || self.role != Role::Follower || !self.config().is_voter(&self.id) {
            return;
        }
        self.leader = None;
        self.become_candidate(now);
        self.campaign_for_transfer = true;
    }

    pub(super) fn vote_request_for(&mut self, peer: &NodeId, now: u64) -> Option<Message> {
        if !self.config().is_voter(peer) || !self.vote_requested.insert(peer.clone()) {
            return None;
        }
        let pre_vote = self.role == Role::PreCandidate;
        Some(Message::RequestVote {
            term: if pre_vote { self.term + 1 } else { self.term },
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
            transfer: self.campaign_for_transfer,
            sent_at: now,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_vote_request(
        &mut self,
        from: &NodeId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
        pre_vote: bool,
        sent_at: u64,
        now: u64,
    ) {
        let up_to_date = self.log.is_up_to_date(last_log_index, last_log_term)
            || self.injected(super::InjectedBug::VoteWithoutUpToDateCheck);
        let granted = if pre_vote {
            term > self.term && up_to_date && !self.in_leader_lease(now)
        } else {
            let free = self.voted_for.as_ref().is_none_or(|v| v == from)
                || self.injected(super::InjectedBug::VoteTwiceInTerm);
            term == self.term && up_to_date && free
        };
        if granted {
            // Whoever this helps is about to stand (after a pre-vote) or to win (after a
            // vote): waiting a whole timeout before standing itself keeps the two from
            // splitting the vote.
            self.reset_election_deadline(now);
        }
        if granted && !pre_vote {
            self.voted_for = Some(from.clone());
            self.hard_state_dirty = true;
        }
        // A pre-vote grant answers in the term asked about; everything else in ours.
        let reply_term = if pre_vote && granted { term } else { self.term };
        let removed = if granted { None } else { self.removal_of(from) };
        self.send_reply(
            from,
            Message::RequestVoteResponse {
                term: reply_term,
                granted,
                pre_vote,
                sent_at,
                removed,
            },
        );
    }

    pub(super) fn handle_vote_response(
        &mut self,
        from: &NodeId,
        term: Term,
        granted: bool,
        pre_vote: bool,
        sent_at: u64,
        now: u64,
    ) {
        self.observe_vote_round_trip(now.saturating_sub(sent_at), now);
        let expected = if pre_vote {
            (Role::PreCandidate, self.term + 1)
        } else {
            (Role::Candidate, self.term)
        };
        // A grant arriving in this round counts even if it answers an earlier one of
        // this (pre-)candidacy: a vote is given for a term, and a pre-vote for the
        // term asked about, with the same log.
        if (self.role, term) != expected || !granted || !self.config().is_voter(from) {
            return;
        }
        self.votes.insert(from.clone());
        if self.votes.len() < self.majority() {
            return;
        }
        if !pre_vote {
            self.become_leader(now);
        } else if now >= self.stand_after {
            self.become_candidate(now);
        }
    }
}
