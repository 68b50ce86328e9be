//! The safety checks that run after every step: at most one leader per term, log
//! matching, committed entries never lost or changed (leader completeness, state
//! machine safety); durability: no message speaks for a term, vote or entry that is
//! not yet on its sender's disk, and whatever a leader commits is on the disks of a
//! majority of its voters; a leader holds no read lease once a leader of a newer term
//! has been elected; and for membership: every server runs the latest
//! configuration in its log, a leader never holds two uncommitted ones, and a server
//! becomes a voter only once it has caught up. For snapshots: a snapshot holds exactly
//! the state, term and configuration that the committed log up to its index produces;
//! a state machine applies entries in order, without a gap or a step back; no commit
//! index goes back; and a leader never replicates from an entry it has discarded.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Server, Simulation};
use crate::kv::{Command, Kv, KvOp, KvResult};
use crate::raft::{
    Configuration, Entry, EntryData, Index, Message, NodeId, Raft, Role, Snapshot, Term,
};

pub struct Checks {
    leaders: BTreeMap<Term, NodeId>,
    /// Entry at each index as first seen, with its predecessor's term: two logs holding
    /// the same (index, term) must hold the same entry after the same term.
    seen: HashMap<(Index, Term), (EntryData, Term)>,
    committed: Vec<Entry>,
    /// The term of the server that first saw each committed entry as committed: at
    /// least the term in which it was committed.
    commit_terms: Vec<Term>,
    /// When the committed prefix grew, and to what length.
    growth: Vec<(u64, Index)>,
    bootstrap: Configuration,
    /// The leader of the latest term seen, and since when.
    newest_leader: Option<(NodeId, u64)>,
    /// The registers as the committed commands leave them, and each key's values by
    /// the index that wrote them.
    registers: Kv,
    written: HashMap<String, Vec<(Index, Value)>>,
    /// The registers after each committed entry, and the configuration entries among
    /// them: what a snapshot at that index must hold.
    states: Vec<Kv>,
    configs: Vec<(Index, Configuration)>,
}

impl Checks {
    pub fn new(bootstrap: Configuration) -> Self {
        Checks {
            leaders: BTreeMap::new(),
            seen: HashMap::new(),
            committed: Vec::new(),
            commit_terms: Vec::new(),
            growth: Vec::new(),
            bootstrap,
            newest_leader: None,
            registers: Kv::new(),
            written: HashMap::new(),
            states: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// The configuration in force after the committed entry at `index`.
    fn config_at(&self, index: Index) -> &Configuration {
        let after = self.configs.partition_point(|(i, _)| *i <= index);
        after
            .checked_sub(1)
            .map_or(&self.bootstrap, |c| &self.configs[c].1)
    }

    /// A snapshot a state machine took must hold what the committed log up to its
    /// index produces: the registers, the term of its last entry, and the
    /// configuration in force there.
    pub fn check_snapshot(&self, id: &NodeId, snapshot: &Snapshot) -> Result<(), String> {
        let meta = &snapshot.meta;
        let Some(last) = self.committed.get(meta.last_index as usize - 1) else {
            return Err(format!(
                "{id} took a snapshot up to {}, past the {} entries known committed",
                meta.last_index,
                self.committed.len()
            ));
        };
        if meta.last_term != last.term {
            return Err(format!(
                "{id}'s snapshot up to {} says term {}, the committed entry has term {}",
                meta.last_index, meta.last_term, last.term
            ));
        }
        if meta.config != *self.config_at(meta.last_index) {
            return Err(format!(
                "{id}'s snapshot up to {} holds configuration {:?}, the log up to there {:?}",
                meta.last_index,
                meta.config,
                self.config_at(meta.last_index)
            ));
        }
        let state = &self.states[meta.last_index as usize - 1];
        match Kv::restore(&snapshot.data) {
            Ok(kv) if kv == *state => Ok(()),
            held => Err(format!(
                "{id}'s snapshot up to {} holds {held:?}, the log up to there makes {state:?}",
                meta.last_index
            )),
        }
    }

    pub fn newest_leader(&self) -> Option<(NodeId, u64)> {
        self.newest_leader.clone()
    }

    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// A read that some server answered `seen` for `key` must see at least everything
    /// committed before the read was invoked, when `floor` entries were (ReadIndex,
    /// dissertation §6.4): the value at the floor, or one committed after it.
    pub fn check_read(&self, key: &Value, seen: &Value, floor: Index) -> Result<(), String> {
        let written = self
            .written
            .get(&key.to_string())
            .map_or(&[][..], Vec::as_slice);
        let at_floor = (written.iter().rev())
            .find(|(index, _)| *index <= floor)
            .map_or(Value::Null, |(_, v)| v.clone());
        let later = written.iter().filter(|(index, _)| *index > floor);
        if *seen == at_floor || later.clone().any(|(_, v)| v == seen) {
            return Ok(());
        }
        Err(format!(
            "a read of key {key} saw {seen}, but {at_floor} was committed before it was \
             invoked (entry {floor}) and only {:?} since",
            later.map(|(_, v)| v).collect::<Vec<_>>()
        ))
    }

    fn record_commit(&mut self, entry: &Entry, seen_in_term: Term, now: u64) {
        if let EntryData::Command(payload) = &entry.data {
            let cmd = Command::decode(payload).expect("the simulation's clients send commands");
            self.registers.apply(&cmd.op);
            let (KvOp::Write { key, .. } | KvOp::Cas { key, .. }) = &cmd.op;
            let value = match self.registers.read(key) {
                KvResult::ReadOk(v) => v,
                _ => Value::Null,
            };
            let written = self.written.entry(key.to_string()).or_default();
            if written.last().is_none_or(|(_, v)| *v != value) {
                written.push((entry.index, value));
            }
        }
        if let EntryData::Config(c) = &entry.data {
            self.configs.push((entry.index, c.clone()));
        }
        self.states.push(self.registers.clone());
        self.committed.push(entry.clone());
        self.commit_terms.push(seen_in_term);
        self.growth.push((now, entry.index));
    }

    /// How much was known committed at time `t`.
    fn committed_at(&self, t: u64) -> Index {
        let grown = self.growth.partition_point(|(at, _)| *at <= t);
        grown.checked_sub(1).map_or(0, |g| self.growth[g].1)
    }
}

impl Checks {
    /// Lease exclusivity (dissertation §6.4.1): a lease means no newer leader can have
    /// been elected, so a lease read could not miss its writes.
    fn lease_exclusive(&self, leader: &Raft, now: u64) -> Result<(), String> {
        let newer = self.leaders.range(leader.term() + 1..).next();
        match newer.filter(|_| leader.holds_lease(now)) {
            Some((term, newer)) => Err(format!(
                "leader {} of term {} holds a read lease, but {newer} was elected in term \
                 {term}",
                leader.id(),
                leader.term()
            )),
            None => Ok(()),
        }
    }
}

impl Simulation {
    /// Lease exclusivity for the leaders that are not running, checked every
    /// millisecond: a frozen leader's lease runs on the same clock, and it would serve
    /// from it if it woke now. (Running servers are checked as they settle.)
    pub(super) fn check_frozen_leases(&self) -> Result<(), String> {
        let frozen = (self.servers.iter())
            .filter(|s| s.paused_until.is_some())
            .filter_map(|s| s.raft.as_ref());
        for raft in frozen.filter(|r| r.role() == Role::Leader) {
            self.checks.lease_exclusive(raft, self.now)?;
        }
        Ok(())
    }

    pub(super) fn check(&mut self, i: usize) -> Result<(), String> {
        let now = self.now;
        let Some(raft) = self.servers[i].raft.as_ref() else {
            return Ok(());
        };
        if let Some(refused) = &self.servers[i].disk.refused {
            return Err(format!("{} asked its storage for {refused}", raft.id()));
        }
        let checks = &mut self.checks;
        let id = raft.id().clone();
        let leads = raft.role() == Role::Leader;
        // Election safety: at most one leader per term.
        if leads {
            let newest = checks
                .leaders
                .last_key_value()
                .is_none_or(|(t, _)| *t < raft.term());
            if newest {
                checks.newest_leader = Some((id.clone(), now));
            }
            let leader = (checks.leaders.entry(raft.term())).or_insert_with(|| id.clone());
            if *leader != id {
                return Err(format!(
                    "two leaders in term {}: {leader} and {id}",
                    raft.term()
                ));
            }
            checks.lease_exclusive(raft, now)?;
            // Leader completeness: a leader holds every entry committed in an earlier term
            // (those its snapshot covers are checked with the snapshot).
            let base = raft.log().snapshot_index() as usize;
            let after_snapshot = checks.committed.iter().zip(&checks.commit_terms).skip(base);
            for (c, &commit_term) in after_snapshot {
                if commit_term < raft.term() && raft.log().entry(c.index) != Some(c) {
                    return Err(format!(
                        "leader {id} of term {} lacks committed entry {} of term {} (its log \
                         ends at {} term {}, has {:?} there)",
                        raft.term(),
                        c.index,
                        c.term,
                        raft.log().last_index(),
                        raft.log().last_term(),
                        raft.log().entry(c.index).map(|e| e.term),
                    ));
                }
            }
        }
        // Log matching, checked only on the part of the log that changed since last time.
        // What a snapshot covers is committed: it must end with the committed entry.
        let log = raft.log();
        let server = &self.servers[i];
        let base = log.snapshot_index();
        if base > 0 {
            let committed = checks.committed.get(base as usize - 1).map(|c| c.term);
            if committed != log.term_at(base) {
                return Err(format!(
                    "{id}'s snapshot ends at {base} term {:?}, the committed entry there has \
                     term {committed:?} ({} known committed)",
                    log.term_at(base),
                    checks.committed.len()
                ));
            }
        }
        let unchanged = (server.checked_terms.iter().enumerate())
            .take_while(|(k, t)| (*k as Index) < base || log.term_at(*k as Index + 1) == Some(**t))
            .count() as Index;
        let mut terms = server.checked_terms[..unchanged as usize].to_vec();
        for index in unchanged + 1..=base {
            terms.push(checks.committed[index as usize - 1].term);
        }
        let unchanged = unchanged.max(base);
        let mut promoted = Vec::new();
        // An entry of a term its server has not yet made durable exists nowhere else
        // (nothing leaves before the term is on disk): a power loss now would make that
        // term, and the entry, never have been. A single voter electing itself shows
        // it: it may lose its vote and win the same term again with other entries. Such
        // entries are checked once their term is durable.
        let durable_term = server.disk.durable_hard_state().term;
        let visible_to = (unchanged + 1..=log.last_index())
            .take_while(|&index| log.term_at(index).is_some_and(|t| t <= durable_term))
            .last()
            .unwrap_or(unchanged);
        for index in unchanged + 1..=visible_to {
            let entry = log.entry(index).expect("in range");
            let prev_term = log.term_at(index - 1).expect("in range");
            let mut first_sight = false;
            let seen = (checks.seen.entry((index, entry.term))).or_insert_with(|| {
                first_sight = true;
                (entry.data.clone(), prev_term)
            });
            if *seen != (entry.data.clone(), prev_term) {
                return Err(format!(
                    "log matching violated at {id} index {index} term {}: it holds {:?} after \
                     term {prev_term}, first seen was {:?} after term {} (t={now})",
                    entry.term, entry.data, seen.0, seen.1
                ));
            }
            terms.push(entry.term);
            // A configuration this leader has just appended: only once an entry of its
            // term has committed (the single-server change fix), and whom did it make a
            // voter?
            let own = first_sight && leads && entry.term == raft.term();
            if let (true, EntryData::Config(c)) = (own, &entry.data) {
                if log.term_at(raft.commit_index()) != Some(raft.term()) {
                    return Err(format!(
                        "leader {id} of term {} appended configuration {index} before an \
                         entry of its term committed (commit index {})",
                        raft.term(),
                        raft.commit_index()
                    ));
                }
                let before = latest_config(log.slice(1, index - 1), checks.config_at(base));
                promoted.extend(
                    (c.voters.iter())
                        .filter(|v| !before.is_voter(v) && **v != id)
                        .map(|v| (index, v.clone())),
                );
            }
        }
        // Membership: the configuration in force is the latest one in the log, so one
        // lost with its entry has given way to the one before.
        // Past the log's first entry, the configuration in force where the snapshot
        // ends, which the committed log says.
        let expected = (base + 1..=log.last_index()).rev().find_map(|index| {
            match &log.entry(index).expect("in range").data {
                EntryData::Config(c) => Some(c.clone()),
                _ => None,
            }
        });
        let expected = expected.unwrap_or_else(|| checks.config_at(base).clone());
        if raft.configuration().latest.1 != expected {
            return Err(format!(
                "{id} runs configuration {:?}, its log says {expected:?}",
                raft.configuration().latest
            ));
        }
        if leads {
            // Committed as far as anyone knows: a new leader may not know it yet.
            let committed = raft.commit_index().max(checks.committed.len() as Index);
            let uncommitted = (log.slice(committed + 1, log.last_index()).iter())
                .filter(|e| matches!(e.data, EntryData::Config(_)))
                .count();
            if uncommitted > 1 {
                return Err(format!(
                    "leader {id} has {uncommitted} uncommitted configurations"
                ));
            }
        }
        // A new voter held the leader's log as it was when its last catch-up round
        // began, less than an election timeout ago (the leader's in force, which
        // adapts to the round trips), and that log held everything committed then;
        // unless this leader was deposed unawares and its log, up to the promotion,
        // is behind: then the promotion will not commit.
        let committed_then = checks.committed_at(now.saturating_sub(raft.election_timeout()));
        for (index, voter) in promoted {
            let caught_up_floor = committed_then.min(index - 1);
            let v = self
                .ids
                .iter()
                .position(|s| *s == voter)
                .expect("known server");
            let holds = match &self.servers[v].raft {
                Some(r) => r.log().last_index(),
                None => self.servers[v].disk_last_index(),
            };
            if holds < caught_up_floor {
                return Err(format!(
                    "leader {id} made {voter} a voter at index {index} while {voter}'s log \
                     ends at {holds}, short of the {caught_up_floor} entries committed an \
                     election timeout earlier"
                ));
            }
        }
        // State machine safety: whatever any server considers committed is one sequence.
        let raft = self.servers[i].raft.as_ref().expect("alive");
        let log = raft.log();
        let commit = raft.commit_index();
        let term = raft.term();
        if leads && commit > self.servers[i].checked_commit && log.term_at(commit) != Some(term) {
            // §5.4.2: a leader commits by counting replicas only entries of its own term.
            return Err(format!(
                "leader {id} of term {term} committed entry {commit} of term {:?} by counting",
                log.term_at(commit)
            ));
        }
        if leads && commit > self.servers[i].checked_commit {
            // Commitment means durable on a majority: on disks that a power loss spares.
            let term_at = log.term_at(commit);
            let holders = (raft.voters().iter())
                .filter_map(|v| self.servers.iter().find(|s| s.id == *v))
                .filter(|s| {
                    s.disk.durable_term_at(commit) == term_at
                        || s.disk.durable_snapshot_index() > commit
                })
                .count();
            if holders < raft.voters().len() / 2 + 1 {
                return Err(format!(
                    "leader {id} committed {commit} (term {term_at:?}) with it on the disks \
                     of only {holders} of its voters {:?}",
                    raft.voters()
                ));
            }
        }
        if commit > log.last_index() {
            return Err(format!("{id} committed past its log"));
        }
        if commit < self.servers[i].checked_commit {
            return Err(format!(
                "{id}'s commit index went back from {} to {commit}",
                self.servers[i].checked_commit
            ));
        }
        let from = self.servers[i].checked_commit + 1;
        let checks = &mut self.checks;
        for entry in log.slice(from, commit) {
            let index = entry.index;
            match checks.committed.get(index as usize - 1) {
                Some(c) if c != entry => {
                    return Err(format!("{id} committed a different entry at {index}"));
                }
                Some(_) => {}
                None if index as usize == checks.committed.len() + 1 => {
                    checks.record_commit(entry, term, now)
                }
                None => {
                    return Err(format!(
                        "{id} committed {index}, but only {} entries are known committed, \
                         and it no longer holds those between",
                        checks.committed.len()
                    ));
                }
            }
        }
        let server = &mut self.servers[i];
        server.checked_terms = terms;
        server.checked_commit = server.checked_commit.max(commit);
        Ok(())
    }
}

/// A message may leave `server` only once what it speaks for is durable: the sender's
/// term (Figure 2: persistent state is updated before responding), a vote, and the
/// entries an acknowledgement claims.
pub(super) fn durable_before_sent(
    server: &Server,
    to: &NodeId,
    msg: &Message,
) -> Result<(), String> {
    let disk = server.disk.durable_hard_state();
    let ahead_of_disk = match msg {
        // A pre-vote names a term nobody has entered.
        Message::RequestVote { pre_vote: true, .. }
        | Message::RequestVoteResponse { pre_vote: true, .. } => None,
        Message::RequestVoteResponse {
            term,
            granted: true,
            ..
        } if *term == disk.term && disk.voted_for.as_ref() != Some(to) => Some(format!(
            "a vote for {to} in term {term}, its disk holding a vote for {:?},",
            disk.voted_for
        )),
        Message::InstallSnapshotResponse {
            last_index,
            received,
            done,
            ..
        } if *received > 0 => {
            // A durable snapshot that far (its own, taken meanwhile) holds more than
            // any chunk of it.
            let durable = if *done {
                server.disk.durably_holds(*last_index)
            } else {
                server.disk.durable_chunk_bytes(*last_index) >= *received
                    || server.disk.durable_snapshot_index() >= *last_index
            };
            (!durable).then(|| {
                format!(
                    "an acknowledgement of {received} bytes of snapshot {last_index} (done: \
                     {done}; its disk holds {} bytes of it, a snapshot up to {})",
                    server.disk.durable_chunk_bytes(*last_index),
                    server.disk.durable_snapshot_index()
                )
            })
        }
        Message::AppendEntriesResponse {
            success: true,
            match_index,
            ..
        } => {
            let raft = server.raft.as_ref().expect("running");
            let in_log = raft.log().term_at(*match_index);
            (server.disk.durable_term_at(*match_index) != in_log)
                .then(|| format!("an acknowledgement of entry {match_index} (term {in_log:?})"))
        }
        _ => None,
    };
    let term_ahead = !matches!(
        msg,
        Message::RequestVote { pre_vote: true, .. }
            | Message::RequestVoteResponse { pre_vote: true, .. }
    ) && msg.term() > disk.term;
    match (ahead_of_disk, term_ahead) {
        (Some(what), _) => Err(format!("{} sent {to} {what} ahead of its disk", server.id)),
        (None, true) => Err(format!(
            "{} sent {to} a message of term {} while its disk says term {}",
            server.id,
            msg.term(),
            disk.term
        )),
        (None, false) => Ok(()),
    }
}

/// A leader replicates only from entries it holds: never from before its snapshot
/// (those it can only send as the snapshot), and always contiguously.
pub(super) fn sent_from_log(server: &Server, to: &NodeId, msg: &Message) -> Result<(), String> {
    let Message::AppendEntries {
        prev_log_index,
        entries,
        ..
    } = msg
    else {
        return Ok(());
    };
    let raft = server.raft.as_ref().expect("running");
    let base = raft.log().snapshot_index();
    let contiguous = entries
        .first()
        .is_none_or(|e| e.index == prev_log_index + 1);
    if *prev_log_index < base || !contiguous {
        return Err(format!(
            "{} sent {to} AppendEntries after {prev_log_index} with entries from {:?}, \
             its log starting after its snapshot at {base}",
            server.id,
            entries.first().map(|e| e.index)
        ));
    }
    Ok(())
}

/// A state machine is handed the log in order: a snapshot only ahead of what it
/// applied, entries right after what it applied (or after the snapshot).
pub(super) fn applied_in_order(
    id: &NodeId,
    applied: Index,
    snapshot: Option<Index>,
    first_entry: Option<Index>,
) -> Result<(), String> {
    if let Some(s) = snapshot.filter(|&s| s <= applied && applied > 0) {
        return Err(format!(
            "{id}'s state machine, at {applied}, was handed a snapshot up to {s}"
        ));
    }
    let after = snapshot.unwrap_or(applied);
    match first_entry {
        Some(first) if first != after + 1 => Err(format!(
            "{id}'s state machine, at {after}, was handed entries from {first}"
        )),
        _ => Ok(()),
    }
}

/// The configuration in force after `entries`: the last one among them, or `bootstrap`.
fn latest_config(entries: &[Entry], bootstrap: &Configuration) -> Configuration {
    (entries.iter().rev())
        .find_map(|e| match &e.data {
            EntryData::Config(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(|| bootstrap.clone())
}
