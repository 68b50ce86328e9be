//! From history and nemesis events to what the plots draw: completed operations with
//! their latencies, fault intervals, membership changes, completions per time bucket and
//! latency quantiles per time bucket.

use std::collections::{BTreeMap, BTreeSet};

use super::chart::nice_floor;
use crate::history::{
    pair_invocations, percentile, Event, EventType, MembershipOutcome, NemesisEvent, NemesisKind,
    OpFn,
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
/// The quantile plot aims at about this many buckets over the run.
const QUANTILE_BUCKETS: f64 = 30.0;

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

    /// Width of the quantile plot's buckets: a thirtieth of the timeline, rounded down to
    /// 1, 2 or 5 times a power of ten, and never under a second. Jepsen's fixed 30 s
    /// would leave a 30 s run with one point; a thirtieth shows latency moving through
    /// each fault. The floor keeps a bucket's quantiles from resting on a handful of
    /// operations, though under about a hundred ok operations per function in a bucket
    /// its p99 is simply its maximum.
    pub fn quantile_bucket_seconds(&self) -> f64 {
        nice_floor(self.end_seconds() / QUANTILE_BUCKETS).max(1.0)
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

/// The quantiles latency-quantiles.png draws, Jepsen's: median, 95th, 99th, maximum.
pub const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 1.0];

/// The latency quantiles of one function's ok operations invoked in one time bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantilePoint {
    pub bucket: usize,
    /// In ms, one for each of [`QUANTILES`].
    pub latencies_ms: [f64; 4],
}

/// One function's quantile points, in bucket order; buckets without an ok operation of
/// the function have none.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantileSeries {
    pub f: OpFn,
    pub points: Vec<QuantilePoint>,
}

/// Latency quantiles of ok operations per function and bucket of `bucket_seconds`, by
/// invocation time as latency-raw.png places its dots. Only ok operations count: a fail
/// is often an instant refusal and an info sits at the client timeout, and either would
/// drag the quantiles away from how long the operations that worked took.
pub fn latency_quantiles(ops: &[CompletedOp], bucket_seconds: f64) -> [QuantileSeries; 3] {
    [OpFn::Read, OpFn::Write, OpFn::Cas].map(|f| {
        let mut buckets: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for op in ops
            .iter()
            .filter(|op| op.f == f && op.outcome == EventType::Ok)
        {
            let bucket = (seconds(op.invoked) / bucket_seconds) as usize;
            buckets.entry(bucket).or_default().push(op.latency_ms());
        }
        let points = buckets
            .into_iter()
            .map(|(bucket, mut latencies)| {
                latencies.sort_by(f64::total_cmp);
                QuantilePoint {
                    bucket,
                    latencies_ms: QUANTILES.map(|quantile| percentile(&latencies, quantile)),
                }
            })
            .collect();
        QuantileSeries { f, points }
    })
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
    fn quantiles_per_bucket_and_function_count_ok_ops_by_invocation_time() {
        use EventType::*;
        let mut history = Vec::new();
        let mut op = |process, f, outcome, invoked_ms, latency_ms| {
            history.push(event(process, Invoke, f, invoked_ms));
            history.push(event(process, outcome, f, invoked_ms + latency_ms));
        };
        // Bucket 0: a hundred ok reads taking 1 to 100 ms, and a slow fail and info
        // that must not count.
        for i in 0..100 {
            op(i, OpFn::Read, Ok, i * 5, i + 1);
        }
        op(100, OpFn::Read, Fail, 10, 500);
        op(101, OpFn::Read, Info, 20, 1000);
        // Bucket 1: no read; two writes. Bucket 2: one read invoked in it, completed after.
        op(102, OpFn::Write, Ok, 1100, 4);
        op(103, OpFn::Write, Ok, 1200, 8);
        op(104, OpFn::Read, Ok, 2950, 250);
        // No cas succeeds.
        op(105, OpFn::Cas, Fail, 2000, 3);
        history.sort_by_key(|event| event.time);

        let [reads, writes, cas] = latency_quantiles(&completed_ops(&history), 1.0);
        let point = |bucket, latencies_ms| QuantilePoint {
            bucket,
            latencies_ms,
        };
        assert_eq!(reads.f, OpFn::Read);
        assert_eq!(
            reads.points,
            [point(0, [50.0, 95.0, 99.0, 100.0]), point(2, [250.0; 4])]
        );
        assert_eq!(writes.f, OpFn::Write);
        assert_eq!(writes.points, [point(1, [4.0, 8.0, 8.0, 8.0])]);
        assert_eq!((cas.f, cas.points), (OpFn::Cas, Vec::new()));

        // In two-second buckets the writes share bucket 0 with the hundred reads.
        let [reads, writes, _] = latency_quantiles(&completed_ops(&history), 2.0);
        assert_eq!(
            reads.points.iter().map(|p| p.bucket).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(writes.points, [point(0, [4.0, 8.0, 8.0, 8.0])]);
    }

    #[test]
    fn quantile_buckets_are_a_thirtieth_of_the_run_and_at_least_a_second() {
        use EventType::*;
        let width = |end_ms| {
            let history = [event(0, Invoke, OpFn::Read, end_ms)];
            Timeline::new(&history, &[]).quantile_bucket_seconds()
        };
        assert_eq!(width(5_000), 1.0);
        assert_eq!(width(30_000), 1.0);
        assert_eq!(width(60_000), 2.0);
        assert_eq!(width(100_000), 2.0);
        assert_eq!(width(400_000), 10.0);
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
