//! The timing (timing.rs) over a network with latency: servers of the real core whose
//! messages each arrive a drawn delay after they are sent, stepped one millisecond at a
//! time. Each behaviour is also run with adaptation off, where it must fail.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

#[derive(Clone, Copy)]
enum Delay {
    Constant(u64),
    /// Exponentially distributed with this mean, as the runner's `--latency-dist`.
    Exponential(f64),
}

struct Net {
    servers: BTreeMap<NodeId, Raft>,
    /// (arrival time, sequence, from, to, message)
    in_flight: Vec<(u64, u64, NodeId, NodeId, Message)>,
    sent: u64,
    rng: StdRng,
    delay: Delay,
    now: u64,
}

/// What a run showed: every (term, leader) ever seen, and when the first leader came.
struct Outcome {
    leaders: BTreeSet<(Term, NodeId)>,
    first_leader_at: Option<u64>,
}

fn fixed_timing() -> Config {
    Config {
        adaptive_election_timeout: false,
        adaptive_heartbeat: false,
        ..Config::default()
    }
}

impl Net {
    fn new(n: usize, config: Config, delay: Delay, seed: u64) -> Net {
        let ids: Vec<NodeId> = (0..n).map(|i| format!("n{i}")).collect();
        let bootstrap = Configuration::with_voters(ids.clone());
        let servers = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let raft = Raft::new(
                    id.clone(),
                    bootstrap.clone(),
                    config.clone(),
                    Recovered::default(),
                    seed * 100 + i as u64,
                    0,
                );
                (id.clone(), raft)
            })
            .collect();
        Net {
            servers,
            in_flight: Vec::new(),
            sent: 0,
            rng: StdRng::seed_from_u64(seed),
            delay,
            now: 0,
        }
    }

    fn delay(&mut self) -> u64 {
        match self.delay {
            Delay::Constant(ms) => ms,
            Delay::Exponential(mean) => {
                let uniform: f64 = self.rng.gen();
                (-mean * (1.0 - uniform).ln()) as u64
            }
        }
    }

    /// Runs until `until` ms: each millisecond, due messages arrive, every server's
    /// timers run, its writes become durable, and what it sends leaves.
    fn run(&mut self, until: u64) -> Outcome {
        let mut outcome = Outcome {
            leaders: BTreeSet::new(),
            first_leader_at: None,
        };
        let ids: Vec<NodeId> = self.servers.keys().cloned().collect();
        while self.now < until {
            self.now += 1;
            let now = self.now;
            self.in_flight.sort_by_key(|m| (m.0, m.1));
            let due = self.in_flight.partition_point(|m| m.0 <= now);
            for (_, _, from, to, msg) in self.in_flight.drain(..due).collect::<Vec<_>>() {
                self.servers.get_mut(&to).unwrap().step(&from, msg, now);
            }
            for id in &ids {
                let raft = self.servers.get_mut(id).unwrap();
                raft.tick(now);
                if let Some(hard_state) = raft.take_hard_state() {
                    raft.hard_state_written(&hard_state);
                }
                if let Some(entries) = raft.take_log_write() {
                    let last = entries.last().unwrap();
                    raft.log_written(last.index, last.term);
                }
                if raft.role() == Role::Leader {
                    outcome.leaders.insert((raft.term(), id.clone()));
                    outcome.first_leader_at.get_or_insert(now);
                }
                let mut outgoing = Vec::new();
                for peer in ids.iter().filter(|p| *p != id) {
                    while let Some(msg) = raft.poll_peer(peer, now) {
                        outgoing.push((peer.clone(), msg));
                    }
                }
                for (peer, msg) in outgoing {
                    let at = now + self.delay();
                    self.sent += 1;
                    self.in_flight.push((at, self.sent, id.clone(), peer, msg));
                }
            }
        }
        outcome
    }
}

#[test]
fn a_leader_100_ms_away_keeps_leading() {
    let outcome = Net::new(5, Config::default(), Delay::Constant(100), 1).run(20_000);
    assert_eq!(outcome.leaders.len(), 1, "leaders: {:?}", outcome.leaders);

    // With the default timing fixed, the round trip (200 ms) outlasts the first quorum
    // check: leaders come and go.
    let fixed = Net::new(5, fixed_timing(), Delay::Constant(100), 1).run(20_000);
    assert!(fixed.leaders.len() > 1, "leaders: {:?}", fixed.leaders);
}

#[test]
fn a_leader_holds_under_exponential_latency() {
    for seed in 1..=3 {
        let mut net = Net::new(5, Config::default(), Delay::Exponential(100.0), seed);
        let outcome = net.run(20_000);
        let elected = outcome.first_leader_at.expect("a leader");
        assert!(elected < 5_000, "seed {seed}: first leader at {elected} ms");
        assert_eq!(
            outcome.leaders.len(),
            1,
            "seed {seed}: leaders {:?}",
            outcome.leaders
        );
    }
}

#[test]
fn elections_finish_when_a_round_trip_exceeds_the_default_timeout() {
    // 500 ms each way: a vote round takes 1 s, over three times the longest default.
    let outcome = Net::new(5, Config::default(), Delay::Constant(500), 2).run(20_000);
    let elected = outcome.first_leader_at.expect("a leader");
    assert!(elected < 8_000, "first leader at {elected} ms");
    assert_eq!(outcome.leaders.len(), 1, "leaders: {:?}", outcome.leaders);

    let fixed = Net::new(5, fixed_timing(), Delay::Constant(500), 2).run(20_000);
    assert_eq!(fixed.first_leader_at, None, "no round can finish in time");
}

#[test]
fn the_first_election_at_500_ms_needs_one_vote_round_after_the_first_round_trip() {
    // The servers start in step with a timeout far shorter than the round trip (1 s):
    // their first pre-vote round is answered late. Those answers set the timeout and
    // still count, so after a random wait a server stands at once: a leader about one
    // round trip after the first answers (before 3 s in most runs), where a fresh
    // pre-vote round and then the vote took two (3.3 s at the least).
    let mut elected: Vec<u64> = (1..=9)
        .map(|seed| {
            let outcome = Net::new(5, Config::default(), Delay::Constant(500), seed).run(10_000);
            assert_eq!(
                outcome.leaders.len(),
                1,
                "seed {seed}: {:?}",
                outcome.leaders
            );
            outcome.first_leader_at.expect("a leader")
        })
        .collect();
    elected.sort_unstable();
    assert!(elected[4] < 3_000, "first leaders at {elected:?} ms");
}

#[test]
fn the_timing_stays_at_the_defaults_on_a_fast_network() {
    let mut net = Net::new(5, Config::default(), Delay::Constant(1), 3);
    let outcome = net.run(5_000);
    assert_eq!(outcome.leaders.len(), 1);
    for raft in net.servers.values() {
        assert_eq!(raft.election_timeout(), 150, "{}", raft.id());
        assert_eq!(raft.heartbeat_interval(), 50, "{}", raft.id());
    }
}

#[test]
fn followers_adopt_the_leaders_election_timeout() {
    let heartbeat = |election_timeout| Message::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        read_seq: 0,
        sent_at: 0,
        election_timeout,
    };
    let follower = |config: Config| {
        let mut raft = Raft::new(
            "n1".into(),
            Configuration::with_voters(["n0".into(), "n1".into(), "n2".into()]),
            config,
            Recovered::default(),
            7,
            0,
        );
        raft.step(&"n0".into(), heartbeat(900), 10);
        raft
    };
    let adaptive = follower(Config::default());
    assert_eq!(adaptive.election_timeout(), 900);
    assert!(adaptive.election_deadline().unwrap() >= 910);
    // Never below its own floor, whatever a leader says.
    let mut low = follower(Config::default());
    low.step(&"n0".into(), heartbeat(20), 20);
    assert_eq!(low.election_timeout(), 150);

    let fixed = follower(fixed_timing());
    assert_eq!(fixed.election_timeout(), 150);
    assert!(fixed.election_deadline().unwrap() <= 310);
}

#[test]
fn leaders_measure_the_round_trip_and_lengthen_their_timing() {
    let mut net = Net::new(3, Config::default(), Delay::Constant(100), 4);
    net.run(10_000);
    let leader = net
        .servers
        .values()
        .find(|r| r.role() == Role::Leader)
        .expect("a leader");
    // A 200 ms round trip: longer than the default election timeout (150 ms).
    assert!(
        leader.election_timeout() > 200,
        "{}",
        leader.election_timeout()
    );
    assert!(
        leader.election_timeout() < 1_000,
        "{}",
        leader.election_timeout()
    );
    assert!(leader.heartbeat_interval() >= 50);
    assert!(leader.heartbeat_interval() * 3 <= leader.election_timeout());
    for follower in net.servers.values().filter(|r| r.role() != Role::Leader) {
        assert_eq!(follower.election_timeout(), leader.election_timeout());
    }
}

#[test]
fn a_pause_inflates_the_round_trip_estimate_only_briefly() {
    let mut estimate = timing::RttEstimate::new(200, 0);
    let mut now = 0;
    for _ in 0..30 {
        now += 50;
        estimate.observe(200, now, 50);
    }
    let steady = estimate.timeout();
    // A peer paused for 10 s answers everything it was sent at once.
    now += 10_000;
    for late in (0..200).rev() {
        estimate.observe(200 + late * 50, now, 50);
    }
    assert!(estimate.timeout() <= 4 * steady, "{}", estimate.timeout());
    for _ in 0..30 {
        now += 50;
        estimate.observe(200, now, 50);
    }
    assert!(estimate.timeout() <= steady + 50, "{}", estimate.timeout());
}
