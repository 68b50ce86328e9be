//! Deterministic simulation of whole clusters, in process.
//!
//! A seeded random schedule drives 3- or 5-server clusters of the real core over a
//! simulated network that delays, reorders, drops and partitions messages, while
//! servers crash and restart from what they had made durable (sometimes between
//! producing a write and making it durable). After every step the checks of Raft's
//! safety properties run: at most one leader per term, log matching, committed entries
//! never lost or changed (leader completeness, state machine safety), and every client
//! answer consistent with the single order of committed operations. With membership
//! changes on, five servers start with three voters and an operator keeps adding,
//! removing, promoting and demoting servers and transferring leadership; the checks
//! then also cover the configurations: at most one uncommitted one in a leader's log,
//! every server's configuration the latest in its log, and every change reported done
//! in force in the reporting leader's committed configuration.
//!
//! `RAFT_SIM_SEEDS=N` runs N seeds (default a few hundred); `RAFT_SIM_SEED=S` replays one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::kv::{Command, Kv, KvOp, KvResult};
use crate::raft::{
    AdminOutcome, Config, ConfigChange, Configuration, Entry, EntryData, Index, InjectedBug,
    Message, NodeId, Raft, Role, Term,
};
use crate::storage::{MemStorage, Storage};

/// How hostile one simulated run is.
#[derive(Clone, Debug)]
pub struct Faults {
    pub drop_rate: f64,
    pub max_delay_ms: u64,
    pub partitions: bool,
    pub crashes: bool,
    /// Start with three voters and change the membership at random.
    pub membership: bool,
}

impl Faults {
    fn hostile() -> Self {
        Faults {
            drop_rate: 0.05,
            max_delay_ms: 30,
            partitions: true,
            crashes: true,
            membership: false,
        }
    }
}

struct Server {
    id: NodeId,
    /// None while crashed.
    raft: Option<Raft>,
    /// What survives a crash.
    store: MemStorage,
    kv: Kv,
    /// Pending reads by id: (key, client op id).
    reads: HashMap<u64, (Value, usize)>,
    /// The terms of this server's log as last checked, to check only what changed.
    checked_terms: Vec<Term>,
    checked_commit: Index,
}

/// A client operation the simulation issued, and what it was told.
#[derive(Debug)]
struct ClientOp {
    op: Option<KvOp>,
    read_key: Option<Value>,
    /// For a read: the global commit index when it was invoked.
    read_lower: Index,
    answer: Option<KvResult>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    deliver_at: u64,
    seq: u64,
    from: usize,
    to: usize,
    payload: String,
}

pub struct Simulation {
    rng: StdRng,
    now: u64,
    config: Config,
    faults: Faults,
    servers: Vec<Server>,
    ids: Vec<NodeId>,
    network: BinaryHeap<Reverse<InFlight>>,
    msg_seq: u64,
    /// `cut[a][b]`: messages from a to b are dropped.
    cut: Vec<Vec<bool>>,
    leaders: BTreeMap<Term, NodeId>,
    /// Entry at each index as first seen, with its predecessor's term: two logs holding
    /// the same (index, term) must hold the same entry after the same term.
    seen: HashMap<(Index, Term), (EntryData, Term)>,
    committed: Vec<Entry>,
    /// The term of the server that first saw each committed entry as committed: at
    /// least the term in which it was committed.
    commit_terms: Vec<Term>,
    /// Register value after each committed index, per key (replayed from `committed`).
    reference: Kv,
    reference_history: HashMap<String, Vec<(Index, Value)>>,
    reference_results: Vec<KvResult>,
    ops: Vec<ClientOp>,
    /// Chance per simulated millisecond that some server crashes.
    crash_rate: f64,
    next_read_id: u64,
    pub answered: usize,
    /// The configuration every server starts from.
    bootstrap: Configuration,
    /// Membership changes in progress, by admin id.
    changes: HashMap<u64, ConfigChange>,
    next_admin_id: u64,
    /// Membership changes and transfers reported done.
    pub admin_done: usize,
    done_by_kind: BTreeMap<&'static str, usize>,
}

impl Simulation {
    pub fn new(seed: u64, nodes: usize, faults: Faults, config: Config) -> Self {
        let ids: Vec<NodeId> = (0..nodes).map(|i| format!("n{i}")).collect();
        let voters = if faults.membership {
            3.min(nodes)
        } else {
            nodes
        };
        let bootstrap = Configuration::with_voters(ids[..voters].iter().cloned());
        let mut rng = StdRng::seed_from_u64(seed);
        let servers = ids
            .iter()
            .map(|id| {
                let raft = Raft::new(
                    id.clone(),
                    bootstrap.clone(),
                    config.clone(),
                    Default::default(),
                    rng.gen(),
                    0,
                );
                Server {
                    id: id.clone(),
                    raft: Some(raft),
                    store: MemStorage::new(),
                    kv: Kv::new(),
                    reads: HashMap::new(),
                    checked_terms: Vec::new(),
                    checked_commit: 0,
                }
            })
            .collect();
        Simulation {
            rng,
            now: 0,
            config,
            faults,
            servers,
            ids,
            network: BinaryHeap::new(),
            msg_seq: 0,
            cut: vec![vec![false; nodes]; nodes],
            leaders: BTreeMap::new(),
            seen: HashMap::new(),
            committed: Vec::new(),
            commit_terms: Vec::new(),
            reference: Kv::new(),
            reference_history: HashMap::new(),
            reference_results: Vec::new(),
            ops: Vec::new(),
            crash_rate: 0.001,
            next_read_id: 0,
            answered: 0,
            bootstrap,
            changes: HashMap::new(),
            next_admin_id: 0,
            admin_done: 0,
            done_by_kind: BTreeMap::new(),
        }
    }

    /// Runs for `duration_ms` of simulated time, then heals everything and lets the
    /// cluster settle. Returns the first safety violation found.
    pub fn run(&mut self, duration_ms: u64) -> Result<(), String> {
        while self.now < duration_ms {
            self.now += 1;
            self.inject_faults();
            self.issue_client_ops();
            self.change_membership();
            self.deliver_due()?;
            for i in 0..self.servers.len() {
                if let Some(raft) = self.servers[i].raft.as_mut() {
                    raft.tick(self.now);
                }
                self.settle(i)?;
            }
        }
        self.heal_all();
        let end = self.now + 3_000;
        while self.now < end {
            self.now += 1;
            self.deliver_due()?;
            for i in 0..self.servers.len() {
                if let Some(raft) = self.servers[i].raft.as_mut() {
                    raft.tick(self.now);
                }
                self.settle(i)?;
            }
        }
        Ok(())
    }

    /// After healing, some leader should have committed something of its term.
    pub fn made_progress(&self) -> bool {
        !self.committed.is_empty() && self.answered > 0
    }

    fn inject_faults(&mut self) {
        let n = self.servers.len();
        if self.faults.partitions && self.rng.gen_bool(0.002) {
            if self.rng.gen_bool(0.5) {
                self.heal_partition();
            } else {
                // A random split into two sides; sometimes one-directional.
                let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
                let one_way = self.rng.gen_bool(0.2);
                for a in 0..n {
                    for b in 0..n {
                        self.cut[a][b] = side[a] != side[b] && (!one_way || side[a]);
                    }
                }
            }
        }
        if self.faults.crashes && self.rng.gen_bool(self.crash_rate) {
            let i = self.rng.gen_range(0..n);
            self.crash(i);
        }
        for i in 0..n {
            if self.servers[i].raft.is_none() && self.rng.gen_bool(0.01) {
                self.restart(i);
            }
        }
    }

    fn heal_partition(&mut self) {
        for row in &mut self.cut {
            row.fill(false);
        }
    }

    fn heal_all(&mut self) {
        self.heal_partition();
        for i in 0..self.servers.len() {
            if self.servers[i].raft.is_none() {
                self.restart(i);
            }
        }
        self.faults.drop_rate = 0.0;
    }

    /// Loses everything not durable: the core, the state machine, pending reads.
    fn crash(&mut self, i: usize) {
        let server = &mut self.servers[i];
        server.raft = None;
        server.kv = Kv::new();
        server.reads.clear();
        server.checked_commit = 0;
    }

    fn restart(&mut self, i: usize) {
        let seed = self.rng.gen();
        let server = &mut self.servers[i];
        let recovered = server.store.load().expect("memory store loads");
        server.raft = Some(Raft::new(
            server.id.clone(),
            self.bootstrap.clone(),
            self.config.clone(),
            recovered,
            seed,
            self.now,
        ));
    }

    fn issue_client_ops(&mut self) {
        if !self.rng.gen_bool(0.05) {
            return;
        }
        let i = self.rng.gen_range(0..self.servers.len());
        let key = json!(self.rng.gen_range(0..3));
        let op_id = self.ops.len();
        let commit_now = self.committed.len() as Index;
        let server = &mut self.servers[i];
        let Some(raft) = server.raft.as_mut() else {
            return;
        };
        if self.rng.gen_bool(0.3) {
            let read_id = self.next_read_id;
            self.next_read_id += 1;
            if raft.read_index(read_id).is_ok() {
                server.reads.insert(read_id, (key.clone(), op_id));
                self.ops.push(ClientOp {
                    op: None,
                    read_key: Some(key),
                    read_lower: commit_now,
                    answer: None,
                });
            }
            return;
        }
        let op = if self.rng.gen_bool(0.5) {
            KvOp::Write {
                key,
                value: json!(self.rng.gen_range(0..5)),
            }
        } else {
            KvOp::Cas {
                key,
                from: json!(self.rng.gen_range(0..5)),
                to: json!(self.rng.gen_range(0..5)),
            }
        };
        let command = Command {
            client: "c".into(),
            msg_id: op_id as u64,
            proposer: server.id.clone(),
            op: op.clone(),
        };
        if raft.propose(command).is_ok() {
            self.ops.push(ClientOp {
                op: Some(op),
                read_key: None,
                read_lower: 0,
                answer: None,
            });
        }
    }

    /// The operator: now and then asks a random server (the leader, if it is one) to
    /// change the membership or hand leadership to someone.
    fn change_membership(&mut self) {
        if !self.faults.membership || !self.rng.gen_bool(0.004) {
            return;
        }
        // Usually the request reaches a leader, as the runtime's forwarding would do.
        let leader = self
            .servers
            .iter()
            .position(|s| s.raft.as_ref().is_some_and(|r| r.role() == Role::Leader));
        let i = match leader {
            Some(l) if self.rng.gen_bool(0.8) => l,
            _ => self.rng.gen_range(0..self.servers.len()),
        };
        let target = self.ids[self.rng.gen_range(0..self.ids.len())].clone();
        let id = self.next_admin_id;
        self.next_admin_id += 1;
        let now = self.now;
        let change = match self.rng.gen_range(0..4) {
            0 => ConfigChange::AddVoter(target),
            1 => ConfigChange::AddNonVoter(target),
            2 => ConfigChange::RemoveServer(target),
            _ => {
                if let Some(raft) = self.servers[i].raft.as_mut() {
                    let _ = raft.transfer_leadership(id, target, now);
                }
                return;
            }
        };
        if let Some(raft) = self.servers[i].raft.as_mut() {
            if raft.change_config(id, change.clone(), now).is_ok() {
                self.changes.insert(id, change);
            }
        }
    }

    fn deliver_due(&mut self) -> Result<(), String> {
        while self
            .network
            .peek()
            .is_some_and(|m| m.0.deliver_at <= self.now)
        {
            let Reverse(m) = self.network.pop().expect("peeked");
            if self.cut[m.from][m.to] {
                continue;
            }
            let msg: Message = serde_json::from_str(&m.payload).expect("round trip");
            let from = self.ids[m.from].clone();
            if let Some(raft) = self.servers[m.to].raft.as_mut() {
                raft.step(&from, msg, self.now);
                self.settle(m.to)?;
            }
        }
        Ok(())
    }

    /// Carries out what server `i`'s core asks for, in the runtime's order, then checks
    /// the cluster. Sometimes the server crashes first, before anything became durable.
    fn settle(&mut self, i: usize) -> Result<(), String> {
        if self.servers[i].raft.is_none() {
            return Ok(());
        }
        if self.faults.crashes && self.rng.gen_bool(0.0005) {
            self.crash(i);
            return self.check(i);
        }
        // The leader's log sync thread may lag behind replication.
        let defer_leader_write = self.rng.gen_bool(0.3);
        let server = &mut self.servers[i];
        let raft = server.raft.as_mut().expect("checked above");
        if let Some(hs) = raft.take_hard_state() {
            server.store.save_hard_state(&hs).expect("memory store");
            raft.hard_state_written(&hs);
        }
        if !(raft.role() == Role::Leader && defer_leader_write) {
            if let Some(entries) = raft.take_log_write() {
                server.store.append(&entries).expect("memory store");
                let last = entries.last().expect("non-empty");
                raft.log_written(last.index, last.term);
            }
        }
        let peers: Vec<usize> = (0..self.ids.len()).filter(|&p| p != i).collect();
        for p in peers {
            let raft = self.servers[i].raft.as_mut().expect("alive");
            while let Some(msg) = raft.poll_peer(&self.ids[p], self.now) {
                if self.rng.gen_bool(self.faults.drop_rate) {
                    continue;
                }
                let delay = self.rng.gen_range(1..=self.faults.max_delay_ms);
                self.msg_seq += 1;
                self.network.push(Reverse(InFlight {
                    deliver_at: self.now + delay,
                    seq: self.msg_seq,
                    from: i,
                    to: p,
                    payload: serde_json::to_string(&msg).expect("serializable"),
                }));
            }
        }
        self.apply(i)?;
        self.check(i)
    }

    /// The state machine: applies committed entries, answers proposals and reads.
    fn apply(&mut self, i: usize) -> Result<(), String> {
        let server = &mut self.servers[i];
        let raft = server.raft.as_mut().expect("alive");
        let entries = raft.take_committed();
        let reads = raft.take_reads();
        let mut answers = Vec::new();
        for entry in entries {
            if let EntryData::Command(cmd) = &entry.data {
                let result = server.kv.apply(&cmd.op);
                if cmd.proposer == server.id {
                    answers.push((cmd.msg_id as usize, result));
                }
            }
        }
        for (read_id, _) in reads.ready {
            let (key, op_id) = server.reads.remove(&read_id).expect("known read");
            answers.push((op_id, server.kv.read(&key)));
        }
        for read_id in reads.aborted {
            server.reads.remove(&read_id);
        }
        let committed_config = raft.configuration().committed.1;
        for (id, outcome) in raft.take_admin_outcomes() {
            let change = self.changes.remove(&id);
            if outcome != AdminOutcome::Done {
                continue;
            }
            self.admin_done += 1;
            *self
                .done_by_kind
                .entry(match &change {
                    None => "transfer or no-op",
                    Some(ConfigChange::AddVoter(_)) => "add voter",
                    Some(ConfigChange::AddNonVoter(_)) => "add non-voter",
                    Some(ConfigChange::RemoveServer(_)) => "remove",
                })
                .or_default() += 1;
            let in_force = match &change {
                None => true,
                Some(ConfigChange::AddVoter(n)) => committed_config.is_voter(n),
                Some(ConfigChange::AddNonVoter(n)) => committed_config.non_voters.contains(n),
                Some(ConfigChange::RemoveServer(n)) => !committed_config.is_member(n),
            };
            if !in_force {
                return Err(format!(
                    "{} reported {change:?} done, but its committed configuration is {committed_config:?}",
                    server.id
                ));
            }
        }
        for (op_id, result) in answers {
            self.ops[op_id].answer = Some(result);
            self.answered += 1;
        }
        Ok(())
    }

    fn check(&mut self, i: usize) -> Result<(), String> {
        let Some(raft) = self.servers[i].raft.as_ref() else {
            return Ok(());
        };
        let id = raft.id().clone();
        // Election safety: at most one leader per term.
        if raft.role() == Role::Leader {
            let leader = self
                .leaders
                .entry(raft.term())
                .or_insert_with(|| id.clone());
            if *leader != id {
                return Err(format!(
                    "two leaders in term {}: {} and {}",
                    raft.term(),
                    leader,
                    id
                ));
            }
            // Leader completeness: a leader holds every entry committed in an earlier term.
            for (c, &commit_term) in self.committed.iter().zip(&self.commit_terms) {
                if commit_term < raft.term() && raft.log().entry(c.index) != Some(c) {
                    return Err(format!(
                        "leader {id} of term {} lacks committed entry {} of term {} (its log ends at {} term {}, has {:?} there) at t={}",
                        raft.term(),
                        c.index,
                        c.term,
                        raft.log().last_index(),
                        raft.log().last_term(),
                        raft.log().entry(c.index).map(|e| e.term),
                        self.now,
                    ));
                }
            }
        }
        // Log matching, checked only on the part of the log that changed since last time.
        let log = raft.log();
        let server = &self.servers[i];
        let unchanged = server
            .checked_terms
            .iter()
            .enumerate()
            .take_while(|(k, t)| log.term_at(*k as Index + 1) == Some(**t))
            .count() as Index;
        let mut terms = server.checked_terms[..unchanged as usize].to_vec();
        for index in unchanged + 1..=log.last_index() {
            let entry = log.entry(index).expect("in range");
            let prev_term = log.term_at(index - 1).expect("in range");
            let seen = self
                .seen
                .entry((index, entry.term))
                .or_insert_with(|| (entry.data.clone(), prev_term));
            if *seen != (entry.data.clone(), prev_term) {
                return Err(format!(
                    "log matching violated at {id} index {index} term {}",
                    entry.term
                ));
            }
            terms.push(entry.term);
        }
        // Membership: the configuration in force is the latest one in the log, so one
        // lost with its entry has given way to the one before.
        let latest_in_log = (1..=log.last_index()).rev().find_map(|index| {
            match &log.entry(index).expect("in range").data {
                EntryData::Config(c) => Some((index, c.clone())),
                _ => None,
            }
        });
        let expected = latest_in_log.unwrap_or_else(|| (0, self.bootstrap.clone()));
        if raft.configuration().latest != expected {
            return Err(format!(
                "{id} runs configuration {:?}, its log says {expected:?}",
                raft.configuration().latest
            ));
        }
        if raft.role() == Role::Leader {
            // Committed as far as anyone knows: a new leader may not know it yet.
            let committed = raft.commit_index().max(self.committed.len() as Index);
            let uncommitted = log
                .slice(committed + 1, log.last_index())
                .iter()
                .filter(|e| matches!(e.data, EntryData::Config(_)))
                .count();
            if uncommitted > 1 {
                return Err(format!(
                    "leader {id} has {uncommitted} uncommitted configurations"
                ));
            }
        }
        // State machine safety: whatever any server considers committed is one sequence.
        let commit = raft.commit_index();
        let term = raft.term();
        if commit > log.last_index() {
            return Err(format!("{id} committed past its log"));
        }
        let newly_committed = log.slice(server.checked_commit + 1, commit).to_vec();
        for entry in newly_committed {
            let index = entry.index;
            match self.committed.get(index as usize - 1) {
                Some(c) if *c != entry => {
                    return Err(format!("{id} committed a different entry at {index}"));
                }
                Some(_) => {}
                None => self.record_commit(entry, term),
            }
        }
        let server = &mut self.servers[i];
        server.checked_terms = terms;
        server.checked_commit = server.checked_commit.max(commit);
        self.check_answers()
    }

    fn record_commit(&mut self, entry: Entry, seen_in_term: Term) {
        self.commit_terms.push(seen_in_term);
        if let EntryData::Command(cmd) = &entry.data {
            let result = self.reference.apply(&cmd.op);
            let (KvOp::Write { key, .. } | KvOp::Cas { key, .. }) = &cmd.op;
            let value = match self.reference.read(key) {
                KvResult::ReadOk(v) => v,
                _ => Value::Null,
            };
            self.reference_history
                .entry(key.to_string())
                .or_default()
                .push((entry.index, value));
            self.reference_results.push(result);
        } else {
            self.reference_results.push(KvResult::WriteOk);
        }
        self.committed.push(entry);
    }

    /// Every answer so far is what the committed order dictates: a proposal's result is
    /// the reference result at its entry; a read sees the register at some committed
    /// index no older than the commit point when it was invoked.
    fn check_answers(&mut self) -> Result<(), String> {
        for (op_id, op) in self.ops.iter_mut().enumerate() {
            let Some(answer) = op.answer.take() else {
                continue;
            };
            if let Some(kv_op) = &op.op {
                let found = self.committed.iter().position(|e| {
                    matches!(&e.data, EntryData::Command(c) if c.msg_id == op_id as u64 && &c.op == kv_op)
                });
                let Some(position) = found else {
                    return Err(format!("op {op_id} answered but never committed"));
                };
                if self.reference_results[position] != answer {
                    return Err(format!(
                        "op {op_id} answered {answer:?}, committed order says {:?}",
                        self.reference_results[position]
                    ));
                }
            } else if let Some(key) = &op.read_key {
                let lower = op.read_lower;
                let history = self.reference_history.get(&key.to_string());
                let allowed: Vec<Value> = match history {
                    None => vec![Value::Null],
                    Some(h) => {
                        let at_lower = h
                            .iter()
                            .rev()
                            .find(|(ix, _)| *ix <= lower)
                            .map(|(_, v)| v.clone());
                        let mut allowed = vec![at_lower.unwrap_or(Value::Null)];
                        allowed.extend(
                            h.iter()
                                .filter(|(ix, _)| *ix > lower)
                                .map(|(_, v)| v.clone()),
                        );
                        allowed
                    }
                };
                let got = match &answer {
                    KvResult::ReadOk(v) => v.clone(),
                    _ => Value::Null,
                };
                if !allowed.contains(&got) {
                    return Err(format!(
                        "read {op_id} of key {key} saw {got}, allowed {allowed:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(default: u64) -> Vec<u64> {
        if let Ok(seed) = std::env::var("RAFT_SIM_SEED") {
            return vec![seed.parse().expect("RAFT_SIM_SEED is a number")];
        }
        let count = std::env::var("RAFT_SIM_SEEDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default);
        (0..count).collect()
    }

    fn run_seeds(nodes: usize, default_seeds: u64, duration_ms: u64) {
        run_seeds_with(
            nodes,
            default_seeds,
            duration_ms,
            Faults::hostile(),
            Config::default(),
        );
    }

    /// Runs the seeds, failing on the first violation or when too few runs got work
    /// done. Returns how many made progress and how many admin requests were done.
    fn run_seeds_with(
        nodes: usize,
        default_seeds: u64,
        duration_ms: u64,
        faults: Faults,
        config: Config,
    ) -> (usize, usize) {
        let mut progressed = 0;
        let mut admin_done = 0;
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        let all = seeds(default_seeds);
        for &seed in &all {
            let mut sim = Simulation::new(seed, nodes, faults.clone(), config.clone());
            if let Err(violation) = sim.run(duration_ms) {
                panic!("{nodes}-node simulation, seed {seed}: {violation} (replay: RAFT_SIM_SEED={seed})");
            }
            progressed += sim.made_progress() as usize;
            admin_done += sim.admin_done;
            for (kind, n) in &sim.done_by_kind {
                *by_kind.entry(*kind).or_insert(0) += n;
            }
        }
        // Faults end before the settling period, so nearly every run must get work done.
        assert!(
            progressed * 10 >= all.len() * 9,
            "only {progressed} of {} runs made progress",
            all.len()
        );
        if admin_done > 0 {
            eprintln!("admin requests done: {by_kind:?}");
        }
        (progressed, admin_done)
    }

    #[test]
    fn three_node_clusters_stay_safe_under_faults() {
        run_seeds(3, 400, 6_000);
    }

    #[test]
    fn five_node_clusters_stay_safe_under_faults() {
        run_seeds(5, 300, 6_000);
    }

    #[test]
    fn membership_changes_stay_safe_under_faults() {
        let faults = Faults {
            membership: true,
            ..Faults::hostile()
        };
        let (progressed, admin_done) = run_seeds_with(5, 300, 6_000, faults, Config::default());
        eprintln!(
            "membership simulation: {progressed} runs progressed, {admin_done} admin requests done"
        );
        assert!(
            admin_done > 300,
            "only {admin_done} membership changes done"
        );
    }

    /// The checks must be able to fail: with a known bug switched on, some seed breaks.
    /// One entry per AppendEntries and frequent crashes widen the windows such bugs need.
    fn finds_injected(bug: InjectedBug) -> Option<(u64, String)> {
        let config = Config {
            injected_bug: Some(bug),
            max_batch: 1,
            max_in_flight: 1,
            ..Config::default()
        };
        let faults = Faults {
            crashes: true,
            partitions: true,
            drop_rate: 0.1,
            max_delay_ms: 40,
            membership: false,
        };
        (0..400).find_map(|seed| {
            let mut sim = Simulation::new(seed, 5, faults.clone(), config.clone());
            sim.crash_rate = 0.01;
            sim.run(6_000).err().map(|e| (seed, e))
        })
    }

    #[test]
    fn catches_votes_without_the_up_to_date_check() {
        let found = finds_injected(InjectedBug::VoteWithoutUpToDateCheck);
        eprintln!("up-to-date bug caught: {found:?}");
        assert!(found.is_some(), "votes for stale candidates went unnoticed");
    }
}
