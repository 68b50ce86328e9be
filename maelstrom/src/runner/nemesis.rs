//! The nemesis: faults injected on a schedule. Every gap (uniform in [0, 2 x interval))
//! it starts a fault of one of the enabled kinds, and after the next gap it stops it:
//!
//! - partition: one of Jepsen's four shapes (one, majority, minority-third,
//!   majorities-ring), enforced by the network at the receiver;
//! - pause: SIGSTOP a random node or minority, SIGCONT when the fault stops;
//! - kill: SIGKILL a random node or minority, restart it after a short delay with the
//!   same binary and arguments, and initialise it again from a fresh client.
//!
//! Only one fault is in force at a time. At the end everything is healed, resumed and
//! restarted, so the last in-flight operations can finish. Membership changes
//! (`--nemesis membership`) are not faults: they run beside this, in `membership`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

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

/// For each node, the nodes it cannot hear from.
pub type Cut = BTreeMap<String, Vec<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Isolate one random node from all the others.
    One,
    /// A clean split into a smaller and a larger half.
    Majority,
    /// Split off floor((n-1)/3) nodes; impossible below 4 nodes.
    MinorityThird,
    /// Each node hears a majority including itself, and no two the same one.
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

/// The cut for `shape` over `nodes`, or `None` when the shape has nothing to cut.
fn partition(shape: Shape, nodes: &[String], rng: &mut impl Rng) -> Option<Cut> {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    match shape {
        Shape::One => Some(split(&shuffled[..1], &shuffled[1..])),
        Shape::Majority => {
            let (smaller, larger) = shuffled.split_at(nodes.len() / 2);
            Some(split(smaller, larger))
        }
        Shape::MinorityThird => {
            let size = nodes.len().saturating_sub(1) / 3;
            if size == 0 {
                return None;
            }
            let (minority, rest) = shuffled.split_at(size);
            Some(split(minority, rest))
        }
        Shape::MajoritiesRing => Some(majorities_ring(&shuffled)),
    }
}

/// Nobody on one side hears anybody on the other.
fn split(side_a: &[String], side_b: &[String]) -> Cut {
    let mut cut = Cut::new();
    for node in side_a {
        cut.insert(node.clone(), sorted(side_b));
    }
    for node in side_b {
        cut.insert(node.clone(), sorted(side_a));
    }
    cut
}

/// Jepsen's majorities-ring: walk the (shuffled) ring with a window of a majority of
/// nodes; the node in the middle of each window hears exactly that window. For n = 3
/// the windows have two nodes, and the result is one-directional.
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
        cut.insert(middle.clone(), sorted(&unheard));
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

/// The fault in force, to be undone at its stop or at the end.
enum Active {
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
    /// Disconnected when the run's faults must end: then heal and return.
    pub stop: Receiver<()>,
}

impl Nemesis {
    pub fn run(mut self) {
        let mut active = Active::Nothing;
        while self.wait_gap() {
            let fault = *self
                .faults
                .choose(&mut self.rng)
                .expect("at least one fault");
            match fault {
                Fault::Partition => {
                    self.start_partition();
                    active = Active::Partition;
                }
                Fault::Pause => active = Active::Paused(self.pause()),
                Fault::Kill => {
                    // A kill is over once the nodes are back, so there is no stop step.
                    self.kill_and_restart();
                    continue;
                }
            }
            if !self.wait_gap() {
                break;
            }
            self.undo(&active);
            active = Active::Nothing;
        }
        self.undo(&active);
    }

    /// Waits for a gap uniform in [0, 2 x interval); false if told to stop meanwhile.
    fn wait_gap(&mut self) -> bool {
        let gap = self.interval.mul_f64(self.rng.gen_range(0.0..2.0));
        self.wait(gap)
    }

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
        let mut shapes = SHAPES.to_vec();
        shapes.shuffle(&mut self.rng);
        // Some shapes cut nothing on small clusters (minority-third below 4 nodes).
        let Some((shape, cut)) = shapes.into_iter().find_map(|shape| {
            partition(shape, &self.node_ids, &mut self.rng).map(|cut| (shape, cut))
        }) else {
            return;
        };
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
        // Told to stop meanwhile: restart at once, since the end needs every node up.
        let delay = Duration::from_millis(self.rng.gen_range(RESTART_DELAY_MS));
        let _ = self.wait(delay);
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

    fn undo(&self, active: &Active) {
        match active {
            Active::Nothing => return,
            Active::Partition => {
                self.network.heal();
                self.record(NemesisKind::Heal, self.node_ids.clone(), None, None);
            }
            Active::Paused(nodes) => {
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
                let cut = partition(Shape::One, &nodes(n), &mut rng).unwrap();
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
                let cut = partition(Shape::Majority, &all, &mut rng).unwrap();
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
    fn minority_third_splits_off_a_third_and_needs_four_nodes() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(partition(Shape::MinorityThird, &nodes(3), &mut rng), None);
        for (n, size) in [(4, 1), (5, 1), (7, 2)] {
            let all = nodes(n);
            let cut = partition(Shape::MinorityThird, &all, &mut rng).unwrap();
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
                let cut = partition(Shape::MajoritiesRing, &all, &mut rng).unwrap();
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
    fn majorities_ring_on_three_nodes_is_one_directional() {
        let all = nodes(3);
        let cut = partition(Shape::MajoritiesRing, &all, &mut StdRng::seed_from_u64(1)).unwrap();
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
