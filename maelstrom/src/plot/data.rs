//! From history and nemesis events to what the plots draw: completed operations with
//! their latencies, fault intervals, membership changes, and completions per time
//! bucket.

use std::collections::BTreeSet;

use crate::history::{
    pair_invocations, Event, EventType, MembershipOutcome, NemesisEvent, NemesisKind, OpFn,
};

const NANOS_PER_SECOND: f64 = 1e9;
const NANOS_PER_MILLI: f64 = 1e6;

pub fn seconds(nanos: u64) -> f64 {
    nanos as f64 / NANOS_PER_SECOND
}

/// One operation from its invocation to its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedOp {
    pub f: OpFn,
    /// Ok, Fail or Info.
    pub outcome: EventType,
    pub invoked: u64,
    pub completed: u64,
}

impl CompletedOp {
    pub fn latency_ms(&self) -> f64 {
        self.completed.saturating_sub(self.invoked) as f64 / NANOS_PER_MILLI
    }
}

/// Every operation that completed ([`pair_invocations`]), in order of completion: later
/// markers are drawn over earlier ones, as they happened.
///
/// Invocations that never complete are skipped. They were still in flight when the run
/// ended, so there is no latency to draw, and placing them at some cap would invent one.
/// An operation the client gave up on has an info completion at its timeout, and that is
/// plotted like any other completion.
pub fn completed_ops(history: &[Event]) -> Vec<CompletedOp> {
    let mut pairs = pair_invocations(history);
    pairs.sort_by_key(|pair| pair.completion);
    pairs
        .iter()
        .filter_map(|pair| pair.completed(history))
        .map(|(invocation, completion)| CompletedOp {
            f: invocation.f,
            outcome: completion.kind,
            invoked: invocation.time,
            completed: completion.time,
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Partition,
    Kill,
    Pause,
}

impl FaultKind {
    pub const ALL: [FaultKind; 3] = [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
        }
    }
}

/// A stretch of time during which a fault of one kind was in effect.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultInterval {
    pub kind: FaultKind,
    pub start: u64,
    /// None: still in effect when the run ended.
    pub end: Option<u64>,
}

/// The fault kind a nemesis event belongs to, and whether it starts (true) or ends it;
/// `None` for a membership change, which is an instant, not an interval.
fn classify(kind: NemesisKind) -> Option<(FaultKind, bool)> {
    Some(match kind {
        NemesisKind::PartitionStart => (FaultKind::Partition, true),
        NemesisKind::Heal => (FaultKind::Partition, false),
        NemesisKind::Kill => (FaultKind::Kill, true),
        NemesisKind::Restart => (FaultKind::Kill, false),
        NemesisKind::Pause => (FaultKind::Pause, true),
        NemesisKind::Resume => (FaultKind::Pause, false),
        NemesisKind::Membership => return None,
    })
}

/// A membership request, marked at the time its outcome was known.
#[derive(Clone, Debug, PartialEq)]
pub struct MembershipMark {
    pub time: u64,
    /// Whether the node answered ok; errors and timeouts are marked differently.
    pub ok: bool,
}

pub fn membership_marks(nemesis: &[NemesisEvent]) -> Vec<MembershipMark> {
    nemesis
        .iter()
        .filter(|event| event.kind == NemesisKind::Membership)
        .map(|event| MembershipMark {
            time: event.time,
            ok: event
                .membership
                .as_ref()
                .is_some_and(|change| change.outcome == MembershipOutcome::Ok),
        })
        .collect()
}

/// Stands for "every node" in the sets below: a partition involves the whole cluster, and
/// an event that names no nodes is taken to act on all of them.
const ALL_NODES: &str = "*";

/// Turns start/end events into intervals, one per kind for as long as any node is
/// affected. Kills and pauses act on named nodes, so node A killed at 1 s, B at 2 s, A
/// restarted at 3 s and B at 4 s is one kill interval from 1 s to 4 s; a new partition
/// while one is in effect (a changed shape) continues the interval until a heal.
pub fn fault_intervals(nemesis: &[NemesisEvent]) -> Vec<FaultInterval> {
    let mut affected: [BTreeSet<&str>; 3] = Default::default();
    let mut since = [0u64; 3];
    let mut intervals = Vec::new();
    for event in nemesis {
        let Some((kind, starts)) = classify(event.kind) else {
            continue;
        };
        let nodes = &mut affected[kind as usize];
        let whole_cluster = kind == FaultKind::Partition || event.nodes.is_empty();
        if starts {
            if nodes.is_empty() {
                since[kind as usize] = event.time;
            }
            if whole_cluster {
                nodes.insert(ALL_NODES);
            } else {
                nodes.extend(event.nodes.iter().map(String::as_str));
            }
        } else if !nodes.is_empty() {
            if whole_cluster {
                nodes.clear();
            } else {
                // Naming nodes also ends an earlier start that named none: we cannot tell
                // which nodes that one meant, and leaving it open forever is worse.
                nodes.remove(ALL_NODES);
                for node in &event.nodes {
                    nodes.remove(node.as_str());
                }
            }
            if nodes.is_empty() {
                intervals.push(FaultInterval {
                    kind,
                    start: since[kind as usize],
                    end: Some(event.time),
                });
            }
        }
    }
    for kind in FaultKind::ALL {
        if !affected[kind as usize].is_empty() {
            intervals.push(FaultInterval {
                kind,
                start: since[kind as usize],
                end: None,
            });
        }
    }
    intervals.sort_by_key(|interval| interval.start);
    intervals
}

/// The time axis both plots share: whole buckets of the rate plot, enough to hold the
/// last event of either file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeline {
    pub bucket_seconds: f64,
    pub buckets: usize,
}

/// Short runs get finer buckets so the rate plot still has a shape; at least this many.
const MIN_BUCKETS: f64 = 20.0;

impl Timeline {
    pub fn new(history: &[Event], nemesis: &[NemesisEvent]) -> Timeline {
        let last = history.iter().map(|event| event.time);
        let last = last
            .chain(nemesis.iter().map(|event| event.time))
            .max()
            .unwrap_or(0);
        let duration = seconds(last);
        let bucket_seconds = [1.0, 0.5, 0.25]
            .into_iter()
            .find(|&width| duration / width >= MIN_BUCKETS)
            .unwrap_or(0.1);
        // floor + 1 rather than ceil: an event exactly on a bucket boundary opens the next one.
        let buckets = (duration / bucket_seconds).floor() as usize + 1;
        Timeline {
            bucket_seconds,
            buckets,
        }
    }

    pub fn end_seconds(&self) -> f64 {
        self.buckets as f64 * self.bucket_seconds
    }

    /// Completions with `outcome` per second, for each bucket, by completion time.
    pub fn rate(&self, history: &[Event], outcome: EventType) -> Vec<f64> {
        let mut counts = vec![0u32; self.buckets];
        for event in history.iter().filter(|event| event.kind == outcome) {
            let bucket = (seconds(event.time) / self.bucket_seconds) as usize;
            counts[bucket.min(self.buckets - 1)] += 1;
        }
        counts
            .into_iter()
            .map(|count| f64::from(count) / self.bucket_seconds)
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::history::tests::event;

    pub fn fault(kind: NemesisKind, time_ms: u64, nodes: &[&str]) -> NemesisEvent {
        NemesisEvent {
            time: time_ms * 1_000_000,
            kind,
            nodes: nodes.iter().map(|node| node.to_string()).collect(),
            shape: None,
            cut: None,
            membership: None,
        }
    }

    /// A membership change answered at `time_ms` with `outcome`.
    pub fn membership(time_ms: u64, outcome: MembershipOutcome) -> NemesisEvent {
        NemesisEvent {
            membership: Some(crate::history::MembershipChange {
                action: "remove_server".into(),
                node: "n2".into(),
                via: "n1".into(),
                outcome,
                error: (outcome == MembershipOutcome::Error).then(|| (11, "busy".into())),
                sent: time_ms.saturating_sub(5) * 1_000_000,
                voters: vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()],
                non_voters: Vec::new(),
                leader: Some("n1".into()),
            }),
            ..fault(NemesisKind::Membership, time_ms, &["n2"])
        }
    }

    #[test]
    fn membership_changes_are_marks_not_intervals() {
        use NemesisKind::*;
        let nemesis = [
            fault(Kill, 1000, &["n2"]),
            membership(1500, MembershipOutcome::Ok),
            fault(Restart, 2000, &["n2"]),
            membership(2500, MembershipOutcome::Timeout),
            membership(3000, MembershipOutcome::Error),
            // A line with no membership fields (hand-written) is still a mark.
            fault(Membership, 3500, &[]),
        ];
        assert_eq!(
            fault_intervals(&nemesis),
            [FaultInterval {
                kind: FaultKind::Kill,
                start: 1_000_000_000,
                end: Some(2_000_000_000)
            }]
        );
        let marks: Vec<(u64, bool)> = membership_marks(&nemesis)
            .into_iter()
            .map(|mark| (mark.time / 1_000_000, mark.ok))
            .collect();
        assert_eq!(
            marks,
            [(1500, true), (2500, false), (3000, false), (3500, false)]
        );
        assert_eq!(Timeline::new(&[], &nemesis).buckets, 36);
    }

    #[test]
    fn completions_pair_with_their_process_invocation() {
        use EventType::*;
        let history = [
            event(0, Invoke, OpFn::Read, 0),
            event(1, Invoke, OpFn::Write, 1),
            event(1, Ok, OpFn::Write, 5),
            event(0, Fail, OpFn::Read, 12),
            event(2, Invoke, OpFn::Cas, 20),
            event(2, Info, OpFn::Cas, 1020),
            event(3, Invoke, OpFn::Read, 1030),
        ];
        let ops = completed_ops(&history);
        let summary: Vec<(OpFn, EventType, f64)> = ops
            .iter()
            .map(|op| (op.f, op.outcome, op.latency_ms()))
            .collect();
        assert_eq!(
            summary,
            [
                (OpFn::Write, Ok, 4.0),
                (OpFn::Read, Fail, 12.0),
                (OpFn::Cas, Info, 1000.0)
            ]
        );
    }

    #[test]
    fn faults_become_intervals_per_kind() {
        use NemesisKind::*;
        let nemesis = [
            fault(PartitionStart, 1000, &["n1", "n2", "n3"]),
            fault(Kill, 1500, &["n1"]),
            fault(Kill, 2000, &["n2"]),
            fault(PartitionStart, 2500, &["n1", "n2", "n3"]),
            fault(Restart, 3000, &["n1"]),
            fault(Heal, 3500, &["n1", "n2", "n3"]),
            fault(Restart, 4000, &["n2"]),
            fault(Pause, 5000, &["n3"]),
        ];
        let intervals = fault_intervals(&nemesis);
        let interval = |kind, start: u64, end: Option<u64>| FaultInterval {
            kind,
            start: start * 1_000_000,
            end: end.map(|end| end * 1_000_000),
        };
        assert_eq!(
            intervals,
            [
                interval(FaultKind::Partition, 1000, Some(3500)),
                interval(FaultKind::Kill, 1500, Some(4000)),
                interval(FaultKind::Pause, 5000, None),
            ]
        );
    }

    #[test]
    fn an_end_naming_no_nodes_ends_them_all() {
        use NemesisKind::*;
        let nemesis = [
            fault(Kill, 0, &["n1", "n2"]),
            fault(Restart, 10, &[]),
            fault(Restart, 20, &["n1"]),
        ];
        let intervals = fault_intervals(&nemesis);
        assert_eq!(
            intervals,
            [FaultInterval {
                kind: FaultKind::Kill,
                start: 0,
                end: Some(10_000_000)
            }]
        );
    }

    #[test]
    fn timeline_buckets_cover_the_last_event() {
        use EventType::*;
        let history = [
            event(0, Invoke, OpFn::Read, 0),
            event(0, Ok, OpFn::Read, 60_000),
        ];
        let timeline = Timeline::new(&history, &[]);
        assert_eq!((timeline.bucket_seconds, timeline.buckets), (1.0, 61));
        let short = Timeline::new(&history[..1], &[fault(NemesisKind::Kill, 3_000, &[])]);
        assert_eq!((short.bucket_seconds, short.buckets), (0.1, 31));
        let rate = timeline.rate(&history, Ok);
        assert_eq!(rate[60], 1.0);
        assert_eq!(rate.iter().sum::<f64>(), 1.0);
    }
}
