//! The safety checks that run after every step: at most one leader per term, log
//! matching, committed entries never lost or changed (leader completeness, state
//! machine safety), and for membership: every server runs the latest configuration in
//! its log, a leader never holds two uncommitted ones, and a server becomes a voter
//! only once it has caught up.

use std::collections::{BTreeMap, HashMap};

use super::Simulation;
use crate::raft::{Configuration, Entry, EntryData, Index, NodeId, Role, Term};

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
        }
    }

    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// How much was known committed at time `t`.
    fn committed_at(&self, t: u64) -> Index {
        let grown = self.growth.partition_point(|(at, _)| *at <= t);
        grown.checked_sub(1).map_or(0, |g| self.growth[g].1)
    }
}

impl Simulation {
    pub(super) fn check(&mut self, i: usize) -> Result<(), String> {
        let now = self.now;
        let Some(raft) = self.servers[i].raft.as_ref() else {
            return Ok(());
        };
        let checks = &mut self.checks;
        let id = raft.id().clone();
        let leads = raft.role() == Role::Leader;
        // Election safety: at most one leader per term.
        if leads {
            let leader = (checks.leaders.entry(raft.term())).or_insert_with(|| id.clone());
            if *leader != id {
                return Err(format!(
                    "two leaders in term {}: {leader} and {id}",
                    raft.term()
                ));
            }
            // Leader completeness: a leader holds every entry committed in an earlier term.
            for (c, &commit_term) in checks.committed.iter().zip(&checks.commit_terms) {
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
        let log = raft.log();
        let server = &self.servers[i];
        let unchanged = (server.checked_terms.iter().enumerate())
            .take_while(|(k, t)| log.term_at(*k as Index + 1) == Some(**t))
            .count() as Index;
        let mut terms = server.checked_terms[..unchanged as usize].to_vec();
        let mut promoted = Vec::new();
        for index in unchanged + 1..=log.last_index() {
            let entry = log.entry(index).expect("in range");
            let prev_term = log.term_at(index - 1).expect("in range");
            let mut first_sight = false;
            let seen = (checks.seen.entry((index, entry.term))).or_insert_with(|| {
                first_sight = true;
                (entry.data.clone(), prev_term)
            });
            if *seen != (entry.data.clone(), prev_term) {
                return Err(format!(
                    "log matching violated at {id} index {index} term {}",
                    entry.term
                ));
            }
            terms.push(entry.term);
            // A configuration this leader has just appended: whom did it make a voter?
            if let (true, true, EntryData::Config(c)) = (first_sight, leads, &entry.data) {
                let before = latest_config(log.slice(1, index - 1), &checks.bootstrap);
                promoted.extend(
                    (c.voters.iter())
                        .filter(|v| !before.is_voter(v) && **v != id)
                        .map(|v| (index, v.clone())),
                );
            }
        }
        // Membership: the configuration in force is the latest one in the log, so one
        // lost with its entry has given way to the one before.
        let expected = (1..=log.last_index()).rev().find_map(|index| {
            match &log.entry(index).expect("in range").data {
                EntryData::Config(c) => Some((index, c.clone())),
                _ => None,
            }
        });
        let expected = expected.unwrap_or_else(|| (0, checks.bootstrap.clone()));
        if raft.configuration().latest != expected {
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
        // began, less than an election timeout ago, and that log held everything
        // committed then.
        let caught_up_floor =
            checks.committed_at(now.saturating_sub(self.config.election_timeout_min));
        for (index, voter) in promoted {
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
        if commit > log.last_index() {
            return Err(format!("{id} committed past its log"));
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
                None => {
                    checks.committed.push(entry.clone());
                    checks.commit_terms.push(term);
                    checks.growth.push((now, index));
                }
            }
        }
        let server = &mut self.servers[i];
        server.checked_terms = terms;
        server.checked_commit = server.checked_commit.max(commit);
        Ok(())
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
