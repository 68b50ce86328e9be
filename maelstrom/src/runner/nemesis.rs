//! The nemesis: faults injected on a schedule like Jepsen's `stagger`. The first fault
//! starts at once, while the cluster elects its first leader; after a gap uniform in
//! [0, 2 x interval) it stops, and after another such gap the next one starts:
//!
//! - partition: one of Jepsen's four shapes (one, majority, minority-third,
//!   majorities-ring), each as likely, enforced by the network at the receiver;
//! - pause: SIGSTOP a random node or minority, SIGCONT when the fault stops;
//! - kill: SIGKILL a random node or minority, restart it after a short delay with the
//!   same binary and arguments, and initialise it again from a fresh client.
//!
//! Only one fault is in force at a time. At the time limit no new fault starts (a kill
//! under way still restarts its nodes); the fault in force stays while the last
//! operations finish or time out, and [`Nemesis::teardown`] undoes it after them, as
//! Jepsen tears its nemesis down after the workload. Membership changes
//! (`--nemesis membership`) are not faults: they run beside this, in `membership`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::cli::Fault;
use super::client::initialize;
use super::network::Network;
use super::process::NodeProcess;
use super::recorder::{NemesisLog, RunState};
use crate::history::{NemesisEvent, NemesisKind};

/// For each node that cannot hear some others, those others; a node that hears everyone
/// has no entry.
pub type Cut = BTreeMap<String, Vec<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Isolate one random node from all the others.
    One,
    /// A clean split into a smaller and a larger half.
    Majority,
    /// Split off floor((n-1)/3) nodes, which is none below 4 nodes.
    MinorityThird,
    /// Each node hears a majority including itself: no two the same one up to 5 nodes,
    /// a random symmetric graph of majorities from 6 on.
    MajoritiesRing,
}

const SHAPES: [Shape; 4] = [
    Shape::One,
    Shape::Majority,
    Shape::MinorityThird,
    Shape::MajoritiesRing,
];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::Majority => "majority",
            Shape::MinorityThird => "minority-third",
            Shape::MajoritiesRing => "majorities-ring",
        }
    }
}

/// The cut for `shape` over `nodes`, as Jepsen's `grudge` computes it. On small clusters
/// a shape may cut nothing (minority-third below 4 nodes); like Jepsen, it is still a
/// partition, one that leaves the network whole until it is healed.
fn partition(shape: Shape, nodes: &[String], rng: &mut impl Rng) -> Cut {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    match shape {
        Shape::One => split(&shuffled[..1], &shuffled[1..]),
        Shape::Majority => {
            let (smaller, larger) = shuffled.split_at(nodes.len() / 2);
            split(smaller, larger)
        }
        Shape::MinorityThird => {
            let (minority, rest) = shuffled.split_at(nodes.len().saturating_sub(1) / 3);
            split(minority, rest)
        }
        Shape::MajoritiesRing if nodes.len() <= 5 => majorities_ring(&shuffled),
        Shape::MajoritiesRing => majorities_graph(nodes, rng),
    }
}

/// A shape drawn uniformly, as Jepsen's partition package draws its targets, and its cut.
fn random_partition(nodes: &[String], rng: &mut impl Rng) -> (Shape, Cut) {
    let shape = *SHAPES.choose(rng).expect("four shapes");
    (shape, partition(shape, nodes, rng))
}

/// Nobody on one side hears anybody on the other.
fn split(side_a: &[String], side_b: &[String]) -> Cut {
    let mut cut = Cut::new();
    if side_a.is_empty() || side_b.is_empty() {
        return cut;
    }
    for node in side_a {
        cut.insert(node.clone(), sorted(side_b));
    }
    for node in side_b {
        cut.insert(node.clone(), sorted(side_a));
    }
    cut
}

/// Jepsen's majorities-ring for up to 5 nodes: walk the (shuffled) ring with a window of
/// a majority of nodes; the node in the middle of each window hears exactly that window.
/// For n = 3 the windows have two nodes, and the result is one-directional.
fn majorities_ring(ring: &[String]) -> Cut {
    let n = ring.len();
    let majority = n / 2 + 1;
    let mut cut = Cut::new();
    for start in 0..n {
        let window: Vec<&String> = (0..majority).map(|i| &ring[(start + i) % n]).collect();
        let middle = window[majority / 2];
        let unheard: Vec<String> = ring
            .iter()
            .filter(|node| !window.contains(node))
            .cloned()
            .collect();
        if !unheard.is_empty() {
            cut.insert(middle.clone(), sorted(&unheard));
        }
    }
    cut
}

/// Jepsen's majorities-ring from 6 nodes on (its stochastic variant), where a clean ring
/// of majorities does not always exist: starting with every node hearing only itself,
/// link a least-connected node (ties broken at random) with the least-connected node it
/// is not linked to yet, until every node hears a majority. Links go both ways.
fn majorities_graph(nodes: &[String], rng: &mut impl Rng) -> Cut {
    let n = nodes.len();
    let majority = n / 2 + 1;
    let mut hears: Vec<BTreeSet<usize>> = (0..n).map(|i| BTreeSet::from([i])).collect();
    loop {
        let mut by_degree: Vec<usize> = (0..n).collect();
        by_degree.shuffle(rng);
        // Stable, so the shuffle breaks ties.
        by_degree.sort_by_key(|&i| hears[i].len());
        let a = by_degree[0];
        if hears[a].len() >= majority {
            break;
        }
        let b = *by_degree
            .iter()
            .find(|b| !hears[a].contains(b))
            .expect("a node below a majority has someone left to hear");
        hears[a].insert(b);
        hears[b].insert(a);
    }
    let mut cut = Cut::new();
    for (i, heard) in hears.iter().enumerate() {
        let unheard: Vec<String> = (0..n)
            .filter(|j| !heard.contains(j))
            .map(|j| nodes[j].clone())
            .collect();
        if !unheard.is_empty() {
            cut.insert(nodes[i].clone(), sorted(&unheard));
        }
    }
    cut
}

fn sorted(nodes: &[String]) -> Vec<String> {
    let mut nodes = nodes.to_vec();
    nodes.sort();
    nodes
}

/// A random node or minority to kill or pause: 1 to floor((n-1)/2) nodes, at least one.
fn random_minority(nodes: &[String], rng: &mut impl Rng) -> Vec<String> {
    let largest = (nodes.len().saturating_sub(1) / 2).max(1);
    let size = rng.gen_range(1..=largest);
    let mut chosen: Vec<String> = nodes.choose_multiple(rng, size).cloned().collect();
    chosen.sort();
    chosen
}

/// How long a killed node stays down, uniform in this range.
const RESTART_DELAY_MS: std::ops::Range<u64> = 500..2000;

/// The fault in force, to be undone at its stop or at teardown.
pub enum InForce {
    Nothing,
    Partition,
    Paused(Vec<String>),
}

pub struct Nemesis {
    pub network: Arc<Network>,
    pub run: Arc<RunState>,
    pub nodes: Vec<Arc<NodeProcess>>,
    pub node_ids: Vec<String>,
    pub log: Arc<NemesisLog>,
    pub faults: Vec<Fault>,
    pub interval: Duration,
    pub rng: StdRng,
    /// Disconnected at the time limit (or a crash): then start nothing more.
    pub stop: Receiver<()>,
}

impl Nemesis {
    /// Runs the schedule until told to stop and returns the fault then in force, for
    /// [`Nemesis::teardown`] once the last operations are over.
    pub fn run(&mut self) -> InForce {
        // Jepsen's stagger issues its first operation at once.
        let mut gap = Duration::ZERO;
        loop {
            if !self.wait(gap) {
                return InForce::Nothing;
            }
            let fault = *self
                .faults
                .choose(&mut self.rng)
                .expect("at least one fault");
            let in_force = match fault {
                Fault::Partition => {
                    self.start_partition();
                    InForce::Partition
                }
                Fault::Pause => InForce::Paused(self.pause()),
                Fault::Kill => {
                    // A kill is over once the nodes are back, so there is no stop step.
                    self.kill_and_restart();
                    gap = self.next_gap();
                    continue;
                }
            };
            let stop_after = self.next_gap();
            if !self.wait(stop_after) {
                return in_force;
            }
            self.undo(&in_force);
            gap = self.next_gap();
        }
    }

    /// Undoes the fault left in force by [`Nemesis::run`].
    pub fn teardown(&self, in_force: InForce) {
        self.undo(&in_force);
    }

    /// A gap uniform in [0, 2 x interval).
    fn next_gap(&mut self) -> Duration {
        self.interval.mul_f64(self.rng.gen_range(0.0..2.0))
    }

    /// Waits `duration`; false if told to stop meanwhile.
    fn wait(&self, duration: Duration) -> bool {
        matches!(
            self.stop.recv_timeout(duration),
            Err(RecvTimeoutError::Timeout)
        ) && !self.run.has_crashed()
    }

    fn record(
        &self,
        kind: NemesisKind,
        nodes: Vec<String>,
        shape: Option<Shape>,
        cut: Option<Cut>,
    ) {
        self.log.record(
            &self.run,
            NemesisEvent {
                time: 0,
                kind,
                nodes,
                shape: shape.map(|shape| shape.name().to_string()),
                cut,
                membership: None,
            },
        );
    }

    fn start_partition(&mut self) {
        let (shape, cut) = random_partition(&self.node_ids, &mut self.rng);
        let grudges: HashMap<String, HashSet<String>> = cut
            .iter()
            .map(|(node, unheard)| (node.clone(), unheard.iter().cloned().collect()))
            .collect();
        self.network.set_cut(grudges);
        self.log.set_active(format!("partition {}", shape.name()));
        self.record(
            NemesisKind::PartitionStart,
            self.node_ids.clone(),
            Some(shape),
            Some(cut),
        );
    }

    fn pause(&mut self) -> Vec<String> {
        let chosen = random_minority(&self.node_ids, &mut self.rng);
        for node in self.processes(&chosen) {
            node.pause();
        }
        self.log.set_active(format!("paused {}", chosen.join(",")));
        self.record(NemesisKind::Pause, chosen.clone(), None, None);
        chosen
    }

    fn kill_and_restart(&mut self) {
        let chosen = random_minority(&self.node_ids, &mut self.rng);
        for node in self.processes(&chosen) {
            node.kill();
        }
        self.log.set_active(format!("killed {}", chosen.join(",")));
        self.record(NemesisKind::Kill, chosen.clone(), None, None);
        // The kill is one operation, kill then restart: like any operation under way at
        // the time limit, it runs to its end.
        let delay = Duration::from_millis(self.rng.gen_range(RESTART_DELAY_MS));
        let restart_at = Instant::now() + delay;
        if !self.wait(delay) && !self.run.has_crashed() {
            thread::sleep(restart_at.saturating_duration_since(Instant::now()));
        }
        self.restart(&chosen);
    }

    fn restart(&self, chosen: &[String]) {
        if self.run.has_crashed() {
            return;
        }
        for node in self.processes(chosen) {
            if let Err(reason) = node.start(&self.network, &self.run) {
                self.run.crash(reason);
                return;
            }
        }
        self.record(NemesisKind::Restart, chosen.to_vec(), None, None);
        self.log.set_active(String::new());
        if let Err(reason) = initialize(&self.network, &self.run, chosen, &self.node_ids) {
            self.run.crash(format!("after restart: {reason}"));
        }
    }

    fn undo(&self, in_force: &InForce) {
        match in_force {
            InForce::Nothing => return,
            InForce::Partition => {
                self.network.heal();
                self.record(NemesisKind::Heal, self.node_ids.clone(), None, None);
            }
            InForce::Paused(nodes) => {
                for node in self.processes(nodes) {
                    node.resume();
                }
                self.record(NemesisKind::Resume, nodes.clone(), None, None);
            }
        }
        self.log.set_active(String::new());
    }

    fn processes<'a>(&'a self, ids: &'a [String]) -> impl Iterator<Item = &'a Arc<NodeProcess>> {
        self.nodes.iter().filter(move |node| ids.contains(&node.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    /// Whether `to` hears `from` under `cut`.
    fn hears(cut: &Cut, to: &str, from: &str) -> bool {
        !cut.get(to)
            .is_some_and(|unheard| unheard.iter().any(|node| node == from))
    }

    /// The nodes each node hears, itself included.
    fn views(cut: &Cut, nodes: &[String]) -> Vec<Vec<String>> {
        nodes
            .iter()
            .map(|to| {
                nodes
                    .iter()
                    .filter(|from| hears(cut, to, from))
                    .cloned()
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        for n in [3, 5] {
            let mut rng = StdRng::seed_from_u64(n as u64);
            for _ in 0..20 {
                let cut = partition(Shape::One, &nodes(n), &mut rng);
                let isolated: Vec<&String> = cut
                    .iter()
                    .filter(|(_, unheard)| unheard.len() == n - 1)
                    .map(|(node, _)| node)
                    .collect();
                assert_eq!(isolated.len(), 1, "{cut:?}");
                for (node, unheard) in &cut {
                    if node != isolated[0] {
                        assert_eq!(unheard, &vec![isolated[0].clone()]);
                    }
                }
            }
        }
    }

    #[test]
    fn majority_is_a_clean_split() {
        for n in [3, 5] {
            let all = nodes(n);
            let mut rng = StdRng::seed_from_u64(10 + n as u64);
            for _ in 0..20 {
                let cut = partition(Shape::Majority, &all, &mut rng);
                let views = views(&cut, &all);
                let minority = views.iter().filter(|view| view.len() == n / 2).count();
                let majority = views.iter().filter(|view| view.len() == n - n / 2).count();
                assert_eq!((minority, majority), (n / 2, n - n / 2), "{cut:?}");
                // Symmetric and transitive: whoever hears whom hears the same group.
                for (i, view) in views.iter().enumerate() {
                    assert!(view.contains(&all[i]));
                    for member in view {
                        let j = all.iter().position(|node| node == member).unwrap();
                        assert_eq!(&views[j], view);
                    }
                }
            }
        }
    }

    #[test]
    fn minority_third_splits_off_a_third_and_cuts_nothing_below_four_nodes() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            partition(Shape::MinorityThird, &nodes(3), &mut rng),
            Cut::new()
        );
        for (n, size) in [(4, 1), (5, 1), (7, 2)] {
            let all = nodes(n);
            let cut = partition(Shape::MinorityThird, &all, &mut rng);
            let views = views(&cut, &all);
            assert_eq!(views.iter().filter(|view| view.len() == size).count(), size);
            assert_eq!(
                views.iter().filter(|view| view.len() == n - size).count(),
                n - size
            );
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_its_own_majority() {
        for n in [3, 5] {
            let all = nodes(n);
            let mut rng = StdRng::seed_from_u64(20 + n as u64);
            for _ in 0..20 {
                let cut = partition(Shape::MajoritiesRing, &all, &mut rng);
                let views = views(&cut, &all);
                for (i, view) in views.iter().enumerate() {
                    assert!(view.contains(&all[i]), "{} must hear itself", all[i]);
                    assert_eq!(view.len(), n / 2 + 1, "{cut:?}");
                }
                let distinct: HashSet<&Vec<String>> = views.iter().collect();
                assert_eq!(distinct.len(), n, "no two nodes share a view: {cut:?}");
            }
        }
    }

    #[test]
    fn from_six_nodes_majorities_ring_is_a_symmetric_graph_of_majorities() {
        for n in 6..=9 {
            let all = nodes(n);
            let majority = n / 2 + 1;
            let mut rng = StdRng::seed_from_u64(30 + n as u64);
            for _ in 0..20 {
                let cut = partition(Shape::MajoritiesRing, &all, &mut rng);
                let views = views(&cut, &all);
                for (i, view) in views.iter().enumerate() {
                    assert!(view.len() >= majority, "{cut:?}");
                    // Links go both ways, unlike the ring's windows from 6 nodes on.
                    for member in view {
                        assert!(hears(&cut, member, &all[i]), "{cut:?}");
                    }
                }
                // Linking stops as soon as the least-connected node hears a majority.
                let least = views.iter().map(Vec::len).min().unwrap();
                assert_eq!(least, majority, "{cut:?}");
            }
        }
    }

    #[test]
    fn every_shape_is_as_likely_even_when_it_cuts_nothing() {
        let all = nodes(3);
        let mut rng = StdRng::seed_from_u64(8);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for _ in 0..400 {
            let (shape, cut) = random_partition(&all, &mut rng);
            *counts.entry(shape.name()).or_default() += 1;
            assert_eq!(cut.is_empty(), shape == Shape::MinorityThird, "{cut:?}");
        }
        for shape in SHAPES {
            let count = counts.get(shape.name()).copied().unwrap_or(0);
            assert!((70..=130).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn majorities_ring_on_three_nodes_is_one_directional() {
        let all = nodes(3);
        let cut = partition(Shape::MajoritiesRing, &all, &mut StdRng::seed_from_u64(1));
        for (to, unheard) in &cut {
            assert_eq!(unheard.len(), 1);
            // The node `to` cannot hear still hears `to`.
            assert!(hears(&cut, &unheard[0], to), "{cut:?}");
        }
    }

    #[test]
    fn random_minorities_stay_minorities() {
        let mut rng = StdRng::seed_from_u64(5);
        for n in [1, 3, 5, 7] {
            for _ in 0..50 {
                let chosen = random_minority(&nodes(n), &mut rng);
                assert!(!chosen.is_empty());
                assert!(chosen.len() <= ((n - 1) / 2).max(1));
            }
        }
    }
}
