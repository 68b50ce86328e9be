//! The verdict, results.json (with Maelstrom's names) and the summary printed at the end.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

use super::membership::MembershipReport;
use super::network::{NetCounts, TrafficCounts};
use crate::checker::{CheckReport, Validity};
use crate::history::{
    pair_invocations, percentile, Event, EventType, MembershipOutcome, NemesisEvent, NemesisKind,
    OpFn,
};

const FUNCTIONS: [OpFn; 3] = [OpFn::Read, OpFn::Write, OpFn::Cas];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
    /// The run could not be completed (bad node output, a node died, init failed...).
    Crash,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
            Verdict::Crash => 255,
        }
    }

    /// For `--test-count`: the worst verdict decides the exit code.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Unknown => 1,
            Verdict::Invalid => 2,
            Verdict::Crash => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Crash => "crash",
        }
    }

    /// `valid?` as Jepsen writes it; a crashed run is "unknown" with an `error`.
    fn to_json(self) -> Value {
        match self {
            Verdict::Valid => json!(true),
            Verdict::Invalid => json!(false),
            Verdict::Unknown | Verdict::Crash => json!("unknown"),
        }
    }
}

/// Ok/fail/info tallies of completed operations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Tally {
    pub fn count(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    fn add(&mut self, kind: EventType) {
        match kind {
            EventType::Ok => self.ok += 1,
            EventType::Fail => self.fail += 1,
            EventType::Info => self.info += 1,
            EventType::Invoke => {}
        }
    }

    fn to_json(self) -> Value {
        json!({
            "valid?": self.ok > 0,
            "count": self.count(),
            "ok-count": self.ok,
            "fail-count": self.fail,
            "info-count": self.info,
        })
    }
}

pub struct Stats {
    pub total: Tally,
    pub by_f: HashMap<OpFn, Tally>,
    pub invocations: u64,
}

impl Stats {
    pub fn of(history: &[Event]) -> Stats {
        let mut stats = Stats {
            total: Tally::default(),
            by_f: FUNCTIONS.iter().map(|f| (*f, Tally::default())).collect(),
            invocations: 0,
        };
        for event in history {
            if event.kind == EventType::Invoke {
                stats.invocations += 1;
                continue;
            }
            stats.total.add(event.kind);
            stats.by_f.entry(event.f).or_default().add(event.kind);
        }
        stats
    }

    /// Jepsen's stats checker, as lin-kv uses it: every function must succeed sometimes.
    pub fn every_function_succeeded(&self) -> bool {
        FUNCTIONS.iter().all(|f| self.by_f[f].ok > 0)
    }

    fn to_json(&self) -> Value {
        let mut json = self.total.to_json();
        json["valid?"] = json!(self.every_function_succeeded());
        json["by-f"] = Value::Object(
            FUNCTIONS
                .iter()
                .map(|f| (f.name().to_string(), self.by_f[f].to_json()))
                .collect(),
        );
        json
    }
}

/// The run's verdict. The checker already requires every key to be linearizable AND
/// each of read, write and cas to have an ok, as Maelstrom's lin-kv does.
pub fn verdict(report: &CheckReport) -> Verdict {
    match report.validity {
        Validity::Valid => Verdict::Valid,
        Validity::Invalid => Verdict::Invalid,
        Validity::Unknown => Verdict::Unknown,
    }
}

/// Milliseconds from invocation to ok completion, per function.
fn ok_latencies(history: &[Event]) -> HashMap<OpFn, Vec<f64>> {
    let mut latencies: HashMap<OpFn, Vec<f64>> = HashMap::new();
    let completed = pair_invocations(history)
        .into_iter()
        .filter_map(|pair| pair.completed(history));
    for (invocation, completion) in completed {
        if completion.kind == EventType::Ok {
            let millis = completion.time.saturating_sub(invocation.time) as f64 / 1e6;
            latencies.entry(completion.f).or_default().push(millis);
        }
    }
    for values in latencies.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    latencies
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

fn summarize(sorted: &[f64]) -> Option<LatencySummary> {
    if sorted.is_empty() {
        return None;
    }
    Some(LatencySummary {
        p50: round2(percentile(sorted, 0.50)),
        p95: round2(percentile(sorted, 0.95)),
        p99: round2(percentile(sorted, 0.99)),
        max: round2(sorted[sorted.len() - 1]),
    })
}

fn latency_json(summary: Option<LatencySummary>) -> Value {
    match summary {
        Some(s) => json!({"p50": s.p50, "p95": s.p95, "p99": s.p99, "max": s.max}),
        None => Value::Null,
    }
}

/// Membership requests by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeTally {
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
}

impl OutcomeTally {
    pub fn count(&self) -> u64 {
        self.ok + self.error + self.timeout
    }

    fn add(&mut self, outcome: MembershipOutcome) {
        match outcome {
            MembershipOutcome::Ok => self.ok += 1,
            MembershipOutcome::Error => self.error += 1,
            MembershipOutcome::Timeout => self.timeout += 1,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "count": self.count(),
            "ok-count": self.ok,
            "error-count": self.error,
            "timeout-count": self.timeout,
        })
    }
}

/// What the membership nemesis did: its requests by action and outcome, from
/// nemesis.jsonl, and what its read_configs saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MembershipSummary {
    pub total: OutcomeTally,
    pub by_action: BTreeMap<String, OutcomeTally>,
    /// Error replies by code.
    pub error_codes: BTreeMap<i64, u64>,
    pub report: MembershipReport,
}

impl MembershipSummary {
    pub fn of(nemesis: &[NemesisEvent], report: &MembershipReport) -> MembershipSummary {
        let mut summary = MembershipSummary {
            report: report.clone(),
            ..MembershipSummary::default()
        };
        let changes = nemesis
            .iter()
            .filter(|event| event.kind == NemesisKind::Membership)
            .filter_map(|event| event.membership.as_ref());
        for change in changes {
            summary.total.add(change.outcome);
            summary
                .by_action
                .entry(change.action.clone())
                .or_default()
                .add(change.outcome);
            if let Some((code, _)) = &change.error {
                *summary.error_codes.entry(*code).or_default() += 1;
            }
        }
        summary
    }

    fn to_json(&self) -> Value {
        let mut json = self.total.to_json();
        json["by-action"] = Value::Object(
            self.by_action
                .iter()
                .map(|(action, tally)| (action.clone(), tally.to_json()))
                .collect(),
        );
        json["error-codes"] = Value::Object(
            self.error_codes
                .iter()
                .map(|(code, count)| (code.to_string(), json!(count)))
                .collect(),
        );
        json["supported?"] = json!(!self.report.unsupported);
        json["read-config-failures"] = json!(self.report.config_failures);
        json["voters-seen"] = match self.report.voters_seen {
            Some((fewest, most)) => json!({"min": fewest, "max": most}),
            None => Value::Null,
        };
        json
    }

    /// The summary's line, e.g. `membership: 12 changes (ok 9, error 2, timeout 1)`.
    fn line(&self) -> String {
        if self.report.unsupported {
            return "membership: not supported by the node (read_config answered error 10)".into();
        }
        let total = self.total;
        let mut line = format!(
            "membership: {} change{} (ok {}, error {}, timeout {})",
            total.count(),
            if total.count() == 1 { "" } else { "s" },
            total.ok,
            total.error,
            total.timeout
        );
        if let Some((fewest, most)) = self.report.voters_seen {
            line.push_str(&format!("; committed voters {fewest} to {most}"));
        }
        if self.report.config_failures > 0 {
            line.push_str(&format!(
                "; read_config unanswered {} times",
                self.report.config_failures
            ));
        }
        line
    }
}

/// Everything the summary and results.json report.
pub struct RunFigures {
    pub verdict: Verdict,
    pub crash: Option<String>,
    pub stats: Stats,
    pub latency_by_f: HashMap<OpFn, Option<LatencySummary>>,
    pub latency_all: Option<LatencySummary>,
    /// Ok operations per second over the span of the history.
    pub throughput: f64,
    pub net: NetCounts,
    /// Only when the membership nemesis ran.
    pub membership: Option<MembershipSummary>,
    /// False when the run fell short of `--availability`.
    pub availability_met: bool,
}

impl RunFigures {
    pub fn new(history: &[Event], verdict: Verdict, crash: Option<String>, net: NetCounts) -> Self {
        let stats = Stats::of(history);
        let latencies = ok_latencies(history);
        let mut all: Vec<f64> = latencies.values().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let span_secs = match (history.first(), history.last()) {
            (Some(first), Some(last)) => (last.time - first.time) as f64 / 1e9,
            _ => 0.0,
        };
        let throughput = if span_secs > 0.0 {
            stats.total.ok as f64 / span_secs
        } else {
            0.0
        };
        RunFigures {
            verdict,
            crash,
            latency_by_f: FUNCTIONS
                .iter()
                .map(|f| (*f, latencies.get(f).and_then(|values| summarize(values))))
                .collect(),
            latency_all: summarize(&all),
            throughput,
            net,
            stats,
            membership: None,
            availability_met: true,
        }
    }

    fn msgs_per_op(&self, msg_count: u64) -> f64 {
        if self.stats.invocations == 0 {
            0.0
        } else {
            round2(msg_count as f64 / self.stats.invocations as f64)
        }
    }

    fn net_json(&self) -> Value {
        let traffic = |counts: TrafficCounts, per_op: bool| {
            // Every message sent is a distinct message, so msg-count is the send count.
            let mut json = json!({
                "send-count": counts.sent,
                "recv-count": counts.received,
                "msg-count": counts.sent,
            });
            if per_op {
                json["msgs-per-op"] = json!(self.msgs_per_op(counts.sent));
            }
            json
        };
        json!({
            "all": traffic(self.net.all, true),
            "clients": traffic(self.net.clients, false),
            "servers": traffic(self.net.servers, true),
        })
    }

    fn ok_fraction(&self) -> f64 {
        match self.stats.total.count() {
            0 => 0.0,
            count => self.stats.total.ok as f64 / count as f64,
        }
    }

    /// results.json; `workload` is the checker's report (absent when the run crashed).
    pub fn to_json(&self, workload: Option<Value>, seed: u64) -> Value {
        let mut results = Map::new();
        results.insert("valid?".into(), self.verdict.to_json());
        if let Some(reason) = &self.crash {
            results.insert("error".into(), json!(reason));
        }
        results.insert("seed".into(), json!(seed));
        results.insert("stats".into(), self.stats.to_json());
        results.insert(
            "availability".into(),
            json!({"valid?": self.availability_met, "ok-fraction": round4(self.ok_fraction())}),
        );
        results.insert("net".into(), self.net_json());
        if let Some(workload) = workload {
            results.insert("workload".into(), workload);
        }
        results.insert(
            "latency".into(),
            Value::Object(
                FUNCTIONS
                    .iter()
                    .map(|f| (f.name().to_string(), latency_json(self.latency_by_f[f])))
                    .collect(),
            ),
        );
        results.insert("throughput".into(), json!(round2(self.throughput)));
        if let Some(membership) = &self.membership {
            results.insert("membership".into(), membership.to_json());
        }
        Value::Object(results)
    }

    /// The few lines printed to stdout at the end of a run.
    pub fn summary(&self, store: &str) -> String {
        let mut lines = Vec::new();
        lines.push(format!(
            "verdict: {} (exit {})",
            self.verdict.name(),
            self.verdict.exit_code()
        ));
        if let Some(reason) = &self.crash {
            lines.push(format!("crash: {reason}"));
        }
        let total = self.stats.total;
        let per_f: Vec<String> = FUNCTIONS
            .iter()
            .map(|f| {
                let tally = self.stats.by_f[f];
                format!("{} {}/{}", f.name(), tally.ok, tally.count())
            })
            .collect();
        lines.push(format!(
            "ops: {} (ok {}, fail {}, info {}); ok per function: {}",
            total.count(),
            total.ok,
            total.fail,
            total.info,
            per_f.join(", ")
        ));
        lines.push(format!("availability: {:.3} ok", self.ok_fraction()));
        match self.latency_all {
            Some(latency) => lines.push(format!(
                "latency of ok ops: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                latency.p50, latency.p99, latency.max
            )),
            None => lines.push("latency of ok ops: no ok ops".into()),
        }
        lines.push(format!("throughput: {:.2} ok ops/s", self.throughput));
        lines.push(format!(
            "msgs-per-op: {:.2} (servers {:.2})",
            self.msgs_per_op(self.net.all.sent),
            self.msgs_per_op(self.net.servers.sent)
        ));
        if let Some(membership) = &self.membership {
            lines.push(membership.line());
        }
        lines.push(format!("store: {store}"));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::event;

    #[test]
    fn stats_latency_and_throughput() {
        use EventType::*;
        let history = vec![
            event(0, Invoke, OpFn::Read, 0),
            event(1, Invoke, OpFn::Write, 0),
            event(0, Ok, OpFn::Read, 10),
            event(1, Info, OpFn::Write, 1000),
            event(7, Invoke, OpFn::Cas, 1000),
            event(7, Fail, OpFn::Cas, 1500),
            event(0, Invoke, OpFn::Read, 1500),
            event(0, Ok, OpFn::Read, 2000),
        ];
        let figures = RunFigures::new(&history, Verdict::Valid, None, NetCounts::default());
        assert_eq!(figures.stats.invocations, 4);
        assert_eq!(
            figures.stats.total,
            Tally {
                ok: 2,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(figures.stats.by_f[&OpFn::Read].ok, 2);
        assert!(!figures.stats.every_function_succeeded());
        let read = figures.latency_by_f[&OpFn::Read].unwrap();
        assert_eq!((read.p50, read.max), (10.0, 500.0));
        assert_eq!(figures.latency_by_f[&OpFn::Write], None);
        assert!((figures.throughput - 1.0).abs() < 1e-9);
        let json = figures.to_json(None, 9);
        assert_eq!(json["stats"]["by-f"]["read"]["ok-count"], 2);
        assert_eq!(json["stats"]["valid?"], false);
        assert_eq!(json["availability"]["ok-fraction"], 0.5);
        assert_eq!(json["valid?"], true);
    }

    fn change(action: &str, outcome: MembershipOutcome, code: Option<i64>) -> NemesisEvent {
        NemesisEvent {
            time: 0,
            kind: NemesisKind::Membership,
            nodes: vec!["n3".into()],
            shape: None,
            cut: None,
            membership: Some(crate::history::MembershipChange {
                action: action.into(),
                node: "n3".into(),
                via: "n0".into(),
                outcome,
                error: code.map(|code| (code, "no".into())),
                sent: 0,
                voters: vec!["n0".into()],
                non_voters: Vec::new(),
                leader: None,
            }),
        }
    }

    #[test]
    fn membership_summary_counts_by_action_and_outcome() {
        use MembershipOutcome::*;
        let nemesis = vec![
            change("add_voter", Ok, None),
            change("add_voter", Error, Some(11)),
            change("remove_server", Ok, None),
            change("remove_server", Timeout, None),
            change("transfer_leadership", Error, Some(11)),
            change("transfer_leadership", Error, Some(12)),
            NemesisEvent {
                kind: NemesisKind::Heal,
                membership: None,
                ..change("ignored", Ok, None)
            },
        ];
        let report = MembershipReport {
            unsupported: false,
            config_failures: 2,
            voters_seen: Some((3, 5)),
        };
        let summary = MembershipSummary::of(&nemesis, &report);
        let mut figures = RunFigures::new(&[], Verdict::Valid, None, NetCounts::default());
        assert!(figures.to_json(None, 1).get("membership").is_none());
        assert!(!figures.summary("s").contains("membership"));
        figures.membership = Some(summary);
        let json = figures.to_json(None, 1);
        let membership = &json["membership"];
        assert_eq!(
            (
                &membership["count"],
                &membership["ok-count"],
                &membership["error-count"],
                &membership["timeout-count"]
            ),
            (&json!(6), &json!(2), &json!(3), &json!(1))
        );
        assert_eq!(membership["by-action"]["add_voter"]["ok-count"], 1);
        assert_eq!(membership["by-action"]["remove_server"]["timeout-count"], 1);
        assert_eq!(
            membership["by-action"]["transfer_leadership"]["error-count"],
            2
        );
        assert!(membership["by-action"].get("ignored").is_none());
        assert_eq!(membership["error-codes"], json!({"11": 2, "12": 1}));
        assert_eq!(membership["voters-seen"], json!({"min": 3, "max": 5}));
        assert_eq!(membership["read-config-failures"], 2);
        assert_eq!(membership["supported?"], true);
        let summary = figures.summary("s");
        assert!(
            summary.contains(
                "membership: 6 changes (ok 2, error 3, timeout 1); committed voters 3 to 5; \
                 read_config unanswered 2 times\nstore: s"
            ),
            "{summary}"
        );

        let unsupported = MembershipReport {
            unsupported: true,
            ..MembershipReport::default()
        };
        figures.membership = Some(MembershipSummary::of(&[], &unsupported));
        assert_eq!(figures.to_json(None, 1)["membership"]["supported?"], false);
        assert!(figures
            .summary("s")
            .contains("membership: not supported by the node"));
    }

    #[test]
    fn worst_verdict_order() {
        let mut verdicts = [
            Verdict::Crash,
            Verdict::Valid,
            Verdict::Invalid,
            Verdict::Unknown,
        ];
        verdicts.sort_by_key(|verdict| verdict.severity());
        assert_eq!(
            verdicts,
            [
                Verdict::Valid,
                Verdict::Unknown,
                Verdict::Invalid,
                Verdict::Crash
            ]
        );
    }
}
