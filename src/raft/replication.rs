//! Log replication (§5.3): AppendEntries with the consistency check, fast backtracking,
//! batching and pipelining on the leader, and appending on the follower.

use super::progress::ReplicationMode;
use super::{Entry, Index, Message, NodeId, Raft, Role, Term};

/// Under load the leader holds new work for a peer back for up to the batch window,
/// but only while the measured rate brings at least this many more items within the
/// window: then every AppendEntries it saves (a message each way per follower) is
/// worth the wait. Under a lighter load holding would only add latency, so entries go
/// at once and pipeline.
const HOLD_WHEN_EXPECTED: f64 = 1.0;

impl Raft {
    /// What the leader sends `peer` next: new entries while the pipeline has room, a
    /// probe while the follower's position is unknown, or a heartbeat when one is due
    /// (every heartbeat interval, or when a read waits for confirmation). Under load,
    /// new entries and reads wait up to the batch window to go together (see
    /// [`HOLD_WHEN_EXPECTED`]), and a heartbeat that falls due carries whatever waits.
    /// A new commit index alone never makes a message: the next one carries it, within
    /// the batch window under load and the heartbeat interval otherwise.
    pub(super) fn replication_message_for(&mut self, peer: &NodeId, now: u64) -> Option<Message> {
        let last = self.log.last_index();
        let heartbeat_interval = self.heartbeat_interval;
        let resend_after = self.election_timeout;
        let probe_again_after = self.round_trip_timeout(peer);
        let max_in_flight = self.config.max_in_flight;
        let batch_window = self.config.batch_window;
        let read_seq = self.reads.seq();
        let snapshot_index = self.log.snapshot_index();
        let sends_discarded = self.injected(super::InjectedBug::DiscardedEntriesSent);
        let p = self.progress.get_mut(peer)?;

        // Something sent long ago and never answered was probably lost: start over from
        // what the follower is known to hold. A probe is simply re-sent.
        if let Some(&(_, sent_at)) = p.in_flight.front() {
            match p.mode {
                ReplicationMode::Replicate if now >= sent_at + resend_after => {
                    p.probe_from(p.match_index + 1)
                }
                ReplicationMode::Probe if now >= sent_at + probe_again_after => p.in_flight.clear(),
                ReplicationMode::Replicate | ReplicationMode::Probe | ReplicationMode::Snapshot => {
                }
            }
        }
        // The follower needs entries this leader has discarded: only the snapshot
        // has what they held.
        let needs_snapshot = p.next_index <= snapshot_index;
        if needs_snapshot && p.mode != ReplicationMode::Snapshot && !sends_discarded {
            let last = self.snapshot.as_ref()?.meta.last_index;
            p.send_snapshot(last);
        }
        if p.mode == ReplicationMode::Snapshot {
            return self.snapshot_message_for(peer, now);
        }
        let interval_due = p.last_sent_at.is_none_or(|t| now >= t + heartbeat_interval);
        let read_waiting = p.read_seq_sent < read_seq;
        let heartbeat_due = interval_due || read_waiting;
        let send_entries = match p.mode {
            ReplicationMode::Probe => {
                p.in_flight.is_empty() && (p.next_index <= last || heartbeat_due)
            }
            ReplicationMode::Replicate => p.in_flight.len() < max_in_flight && p.next_index <= last,
            ReplicationMode::Snapshot => unreachable!("handled above"),
        };
        if p.mode == ReplicationMode::Replicate
            && (send_entries || read_waiting)
            && !interval_due
            && p.arrivals.expected_within(batch_window) >= HOLD_WHEN_EXPECTED
        {
            let since = *p.held_since.get_or_insert(now);
            if now < since + batch_window {
                return None;
            }
        }
        let prev_log_index = if send_entries {
            p.next_index - 1
        } else if heartbeat_due {
            // A heartbeat carries no entries and claims only what the follower is known
            // to hold, so it can never be rejected for a gap that in-flight entries fill;
            // unless this leader has discarded that entry, when it claims the snapshot's
            // last (a follower that lacks it gets the snapshot after its refusal).
            p.match_index.max(snapshot_index)
        } else {
            return None;
        };
        let entries: Vec<Entry> = if send_entries {
            let to = last.min(p.next_index + self.config.max_batch as Index - 1);
            self.log.slice(p.next_index, to).to_vec()
        } else {
            Vec::new()
        };
        if send_entries {
            let sent_last = prev_log_index + entries.len() as Index;
            p.in_flight.push_back((sent_last, now));
            if p.mode == ReplicationMode::Replicate {
                p.next_index = sent_last + 1;
            }
        }
        let items = entries.len() + usize::from(read_waiting);
        if items > 0 {
            p.arrivals.record(items, now, heartbeat_interval);
        }
        p.held_since = None;
        p.last_sent_at = Some(now);
        p.read_seq_sent = read_seq;
        Some(Message::AppendEntries {
            term: self.term,
            prev_log_index,
            prev_log_term: match self.log.term_at(prev_log_index) {
                Some(term) => term,
                None if sends_discarded => 0,
                None => unreachable!("a leader sends only from what it holds"),
            },
            entries,
            leader_commit: self.commit_index,
            read_seq,
            sent_at: now,
            election_timeout: self.election_timeout,
        })
    }

    /// When the leader stops holding back work for `peer` (see
    /// [`Raft::replication_message_for`]): the peer's sender must poll again then.
    pub fn hold_ends(&self, peer: &NodeId) -> Option<u64> {
        let since = self.progress.get(peer)?.held_since?;
        Some(since + self.config.batch_window)
    }

    /// TimeoutNow for the target of a leadership transfer, once it holds this leader's
    /// whole log: it can then win the election it starts.
    pub(super) fn timeout_now_for(&mut self, peer: &NodeId) -> Option<Message> {
        let last = self.log.last_index();
        let caught_up = self
            .progress
            .get(peer)
            .is_some_and(|p| p.match_index == last);
        let transfer = self.transfer.as_mut()?;
        if transfer.target != *peer || transfer.timeout_now_sent || !caught_up {
            return None;
        }
        transfer.timeout_now_sent = true;
        Some(Message::TimeoutNow { term: self.term })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_append_entries(
        &mut self,
        from: &NodeId,
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
        read_seq: u64,
        sent_at: u64,
        election_timeout: u64,
        now: u64,
    ) {
        // A refusal of the entries after `rejected_index`, with where to try next.
        let reject =
            |s: &Self, rejected_index, hint_index, hint_term| Message::AppendEntriesResponse {
                term: s.term,
                success: false,
                match_index: 0,
                rejected_index,
                hint_index,
                hint_term,
                read_seq,
                sent_at,
            };
        if term < self.term {
            // Tell the stale leader about the newer term.
            let reply = reject(self, prev_log_index, 0, None);
            self.send_reply(from, reply);
            return;
        }
        self.heard_from_leader(from, term, election_timeout, now);

        // Entries up to the snapshot are committed, hence the same in every leader's
        // log: the check starts from the snapshot's last entry instead.
        let snapshot_index = self.log.snapshot_index();
        let (prev_log_index, prev_log_term, entries) = if prev_log_index < snapshot_index {
            let covered = (snapshot_index - prev_log_index) as usize;
            let snapshot_term = self.log.term_at(snapshot_index).expect("the snapshot's");
            let entries = entries.into_iter().skip(covered).collect();
            (snapshot_index, snapshot_term, entries)
        } else {
            (prev_log_index, prev_log_term, entries)
        };
        let reply = match self.log.term_at(prev_log_index) {
            None => reject(self, prev_log_index, self.log.last_index() + 1, None),
            Some(t) if t != prev_log_term => {
                let hint = self.log.first_index_of_term_at(prev_log_index);
                reject(self, prev_log_index, hint, Some(t))
            }
            Some(_) => {
                let last_new = prev_log_index + entries.len() as Index;
                self.append_from_leader(entries);
                if leader_commit > self.commit_index {
                    let vouched = if self.injected(super::InjectedBug::FollowerCommitNotCapped) {
                        self.log.last_index()
                    } else {
                        last_new
                    };
                    self.commit_index = leader_commit.min(vouched).max(self.commit_index);
                    // Followers only prune: they have no one to replicate to.
                    let _ = self.configs.committed_up_to(self.commit_index);
                }
                Message::AppendEntriesResponse {
                    term: self.term,
                    success: true,
                    match_index: last_new,
                    rejected_index: 0,
                    hint_index: 0,
                    hint_term: None,
                    read_seq,
                    sent_at,
                }
            }
        };
        self.send_reply(from, reply);
    }

    /// A follower hears from the leader of `term` (AppendEntries or InstallSnapshot):
    /// it follows it and puts off its election.
    pub(super) fn heard_from_leader(
        &mut self,
        from: &NodeId,
        term: Term,
        election_timeout: u64,
        now: u64,
    ) {
        if self.role != Role::Follower || self.leader.as_ref() != Some(from) {
            self.become_follower(term, Some(from.clone()), now);
        }
        self.last_leader_contact = Some(now);
        self.campaigns_succeeded();
        self.adopt_election_timeout(election_timeout);
        self.reset_election_deadline(now);
    }

    /// Appends what the leader sent after a successful consistency check. Entries
    /// already present with the same term are kept: a stale or reordered AppendEntries
    /// must never truncate entries that a newer one delivered (§5.3).
    fn append_from_leader(&mut self, entries: Vec<Entry>) {
        if let Some(first) = entries.first() {
            if self.injected(super::InjectedBug::StaleAppendTruncates)
                && self.log.last_index() >= first.index
            {
                self.truncate_log_from(first.index);
            }
        }
        for entry in entries {
            match self.log.term_at(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    assert!(
                        entry.index > self.commit_index,
                        "{}: leader overwrote committed entry {}",
                        self.id,
                        entry.index
                    );
                    self.truncate_log_from(entry.index);
                    self.append_to_log(entry);
                }
                None => self.append_to_log(entry),
            }
        }
    }

    /// What every response to the leader tells it, AppendEntries' and InstallSnapshot's
    /// alike: the round trip to `from`, that `from` is active, and the read round it
    /// acknowledges. False, with nothing noted, when the response is not for this
    /// leader's term or `from` is not followed.
    pub(super) fn heard_back(
        &mut self,
        from: &NodeId,
        term: Term,
        read_seq: u64,
        sent_at: u64,
        now: u64,
    ) -> bool {
        if self.role != Role::Leader || term != self.term {
            return false;
        }
        self.observe_round_trip(from, sent_at, now);
        let Some(p) = self.progress.get_mut(from) else {
            return false;
        };
        p.recently_active = true;
        p.read_seq_acked = p.read_seq_acked.max(read_seq);
        true
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_append_response(
        &mut self,
        from: &NodeId,
        term: Term,
        success: bool,
        match_index: Index,
        rejected_index: Index,
        hint_index: Index,
        hint_term: Option<Term>,
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
        if success {
            if p.acknowledge(match_index) {
                self.maybe_commit();
                self.advance_catch_up(now);
            }
        } else if rejected_index >= p.match_index {
            // Fast backtracking: skip the follower's whole conflicting term, or jump to
            // just past its last entry.
            let next = match hint_term.and_then(|t| self.log.last_index_of_term(t)) {
                Some(last_of_term) => last_of_term + 1,
                None => hint_index,
            };
            p.probe_from(next.clamp(1, rejected_index.max(1)));
        }
        self.confirm_reads();
    }
}
