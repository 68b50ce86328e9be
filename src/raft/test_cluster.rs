//! A scripted cluster for tests: servers of the real core over a network that delivers
//! only what the test says, when it says; what is not delivered is lost.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

pub(super) struct Cluster {
    servers: BTreeMap<NodeId, Raft>,
    pub(super) now: u64,
    /// Every entry some server has counted as committed, by index.
    committed: BTreeMap<Index, Entry>,
}

impl Cluster {
    /// Servers `all`, of which `voters` make up the bootstrap configuration.
    pub(super) fn new(all: &[&str], voters: &[&str], config: Config) -> Self {
        let bootstrap = Configuration::with_voters(voters.iter().map(|v| v.to_string()));
        let servers = all
            .iter()
            .enumerate()
            .map(|(seed, id)| {
                let raft = Raft::new(
                    id.to_string(),
                    bootstrap.clone(),
                    config.clone(),
                    Recovered::default(),
                    seed as u64,
                    0,
                );
                (id.to_string(), raft)
            })
            .collect();
        Cluster {
            servers,
            now: 0,
            committed: BTreeMap::new(),
        }
    }

    pub(super) fn get(&mut self, id: &str) -> &mut Raft {
        self.servers.get_mut(id).expect("known server")
    }

    /// Makes `id`'s writes durable at once and notes what it has committed.
    pub(super) fn persist(&mut self, id: &str) {
        let raft = self.servers.get_mut(id).expect("known server");
        if let Some(hard_state) = raft.take_hard_state() {
            raft.hard_state_written(&hard_state);
        }
        if let Some(entries) = raft.take_log_write() {
            let last = entries.last().unwrap();
            raft.log_written(last.index, last.term);
        }
        for index in 1..=raft.commit_index() {
            let entry = raft.log().entry(index).unwrap().clone();
            self.committed.entry(index).or_insert(entry);
        }
    }

    /// Delivers messages between `a` and `b`, both ways, until neither has more.
    pub(super) fn exchange(&mut self, a: &str, b: &str) {
        loop {
            let delivered = self.deliver(a, b) + self.deliver(b, a);
            if delivered == 0 {
                return;
            }
        }
    }

    /// Delivers what `from` has for `to` now, one way. Returns how many messages.
    pub(super) fn deliver(&mut self, from: &str, to: &str) -> usize {
        self.persist(from);
        let now = self.now;
        let messages: Vec<Message> =
            std::iter::from_fn(|| self.get(from).poll_peer(&to.to_string(), now)).collect();
        let count = messages.len();
        for msg in messages {
            self.get(to).step(&from.to_string(), msg, now);
        }
        self.persist(to);
        count
    }

    /// One round trip: what `a` has for `b`, then `b`'s answers.
    pub(super) fn exchange_one(&mut self, a: &str, b: &str) {
        self.deliver(a, b);
        self.deliver(b, a);
    }

    /// Lets time pass beyond every election timeout and leader lease.
    pub(super) fn wait(&mut self) {
        self.now += 1_000;
    }

    /// `id` times out and campaigns among `voters`, exchanging only (pre-)votes: once
    /// it wins, nobody has heard from it as leader yet.
    pub(super) fn campaign(&mut self, id: &str, voters: &[&str]) {
        self.wait();
        let now = self.now;
        self.get(id).tick(now);
        // A pre-vote round, then the vote itself.
        for _ in 0..2 {
            for v in voters {
                if self.get(id).role() == Role::Leader {
                    return;
                }
                self.deliver(id, v);
                self.deliver(v, id);
            }
        }
    }

    /// `id` replicates to each of `peers` until they are in step.
    pub(super) fn replicate(&mut self, id: &str, peers: &[&str]) {
        for p in peers {
            self.exchange(id, p);
        }
    }

    /// Committed entries missing from `id`'s log: what a leader lacking them would lose.
    pub(super) fn lost_by(&self, id: &str) -> Vec<Index> {
        let log = self.servers[id].log();
        self.committed
            .iter()
            .filter(|(index, entry)| log.entry(**index) != Some(entry))
            .map(|(index, _)| *index)
            .collect()
    }
}

/// A client write, as proposed by n0.
pub(super) fn write(value: u64) -> Payload {
    crate::kv::Command {
        client: "c1".into(),
        msg_id: value,
        proposer: "n0".into(),
        op: crate::kv::KvOp::Write {
            key: serde_json::json!(0),
            value: serde_json::json!(value),
        },
    }
    .encode()
}

pub(super) fn ids(list: &[&str]) -> BTreeSet<NodeId> {
    list.iter().map(|s| s.to_string()).collect()
}
