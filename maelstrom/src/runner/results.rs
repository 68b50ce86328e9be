//! The verdict, results.json (with Maelstrom's names) and the summary printed at the end.
//!
//! results.json is the map Maelstrom's composed checker writes: one section per checker
//! (`workload`, `stats`, `availability`, `net`, `perf`, `timeline`, `exceptions`), each
//! with its own `valid?`, and a top-level `valid?` merged from theirs as Jepsen's
//! `compose` does. This runner adds `seed`, `latency`, `throughput` and, with the
//! membership nemesis, `membership`; a crashed run has an `error` and no `workload`.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::membership::MembershipReport;
use super::network::{NetCounts, TrafficCounts};
use crate::checker::{self, CheckReport, KeyReport, Validity};
use crate::history::{
    pair_invocations, percentile, Event, EventType, MembershipOutcome, NemesisEvent, NemesisKind,
    OpFn,
};

const FUNCTIONS: [OpFn; 3] = [OpFn::Read, OpFn::Write, OpFn::Cas];

/// The error code the client gives a reply that breaks the schema (client.rs): the
/// runner's counterpart of an exception thrown in a Jepsen client.
const MALFORMED_REPLY_CODE: i64 = -1;

/// The summary explains at most this many keys in full, and this many operations of
/// each; results.json has them all.
const EXPLAINED_KEYS: usize = 10;
const EXPLAINED_OPS: usize = 20;

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

    /// The functions that completed at least once: the only ones Jepsen's stats
    /// checker lists and judges.
    fn occurring(&self) -> impl Iterator<Item = OpFn> + '_ {
        FUNCTIONS.into_iter().filter(|f| self.by_f[f].count() > 0)
    }

    /// Jepsen's stats rule: every function that occurs must have succeeded sometimes.
    /// Returns those that did not.
    pub fn missing_ok(&self) -> Vec<OpFn> {
        self.occurring().filter(|f| self.by_f[f].ok == 0).collect()
    }

    fn validity(&self) -> Validity {
        if self.missing_ok().is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        }
    }

    fn to_json(&self) -> Value {
        let mut json = self.total.to_json();
        json["valid?"] = self.validity().to_json();
        json["by-f"] = Value::Object(
            self.occurring()
                .map(|f| (f.name().to_string(), self.by_f[&f].to_json()))
                .collect(),
        );
        json
    }
}

/// Malformed replies grouped by what was wrong, most frequent first: Jepsen's
/// unhandled-exceptions checker, with the reply's fault for the exception class.
fn exceptions(history: &[Event]) -> Vec<(String, usize, Event)> {
    let mut groups: BTreeMap<&str, (usize, &Event)> = BTreeMap::new();
    let malformed = history.iter().filter_map(|event| match &event.error {
        Some((MALFORMED_REPLY_CODE, text)) if event.kind == EventType::Info => {
            Some((text.as_str(), event))
        }
        _ => None,
    });
    for (text, event) in malformed {
        groups.entry(text).or_insert((0, event)).0 += 1;
    }
    let mut groups: Vec<(String, usize, Event)> = groups
        .into_iter()
        .map(|(text, (count, example))| (text.to_string(), count, example.clone()))
        .collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

/// A checker section that only writes files: valid once they are written, unknown with
/// the error when not, as Jepsen's `check-safe` reports a checker that threw.
fn written_json(outcome: &Result<(), String>, parts: &[&str]) -> Value {
    match outcome {
        Ok(()) => {
            let mut json = json!({"valid?": true});
            for part in parts {
                json[*part] = json!({"valid?": true});
            }
            json
        }
        Err(error) => json!({"valid?": "unknown", "error": error}),
    }
}

fn validity_of(outcome: &Result<(), String>) -> Validity {
    match outcome {
        Ok(()) => Validity::Valid,
        Err(_) => Validity::Unknown,
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
    pub crash: Option<String>,
    /// The checker's report; `None` when the run crashed before it could be checked.
    pub check: Option<CheckReport>,
    /// Whether latency-raw.png, latency-quantiles.png and rate.png were written.
    pub perf: Result<(), String>,
    /// Whether timeline.html was written.
    pub timeline: Result<(), String>,
    /// Whether messages.svg was written.
    pub messages: Result<(), String>,
    /// Malformed replies by fault: (what was wrong, how often, an example completion).
    pub exceptions: Vec<(String, usize, Event)>,
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
    /// Figures of a run; the file outcomes start as written, to be set by whoever
    /// writes them.
    pub fn new(
        history: &[Event],
        check: Option<CheckReport>,
        crash: Option<String>,
        net: NetCounts,
    ) -> Self {
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
            crash,
            check,
            perf: Ok(()),
            timeline: Ok(()),
            messages: Ok(()),
            exceptions: exceptions(history),
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

    /// The run's verdict: a crash, or the merge of every section's `valid?`.
    pub fn verdict(&self) -> Verdict {
        if self.crash.is_some() {
            return Verdict::Crash;
        }
        let workload = self
            .check
            .as_ref()
            .map_or(Validity::Unknown, CheckReport::keys_validity);
        let availability = if self.availability_met {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        let sections = [
            workload,
            self.stats.validity(),
            availability,
            validity_of(&self.perf),
            validity_of(&self.timeline),
            validity_of(&self.messages),
        ];
        match checker::merge(sections) {
            Validity::Valid => Verdict::Valid,
            Validity::Invalid => Verdict::Invalid,
            Validity::Unknown => Verdict::Unknown,
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
        // Maelstrom's net checker also draws messages.svg, so its failure shows here.
        let mut json = written_json(&self.messages, &[]);
        json["all"] = traffic(self.net.all, true);
        json["clients"] = traffic(self.net.clients, false);
        json["servers"] = traffic(self.net.servers, true);
        json
    }

    /// Maelstrom's availability: ok completions over invocations, 1 with none.
    fn ok_fraction(&self) -> f64 {
        match self.stats.invocations {
            0 => 1.0,
            invocations => self.stats.total.ok as f64 / invocations as f64,
        }
    }

    fn exceptions_json(&self) -> Value {
        let mut json = json!({"valid?": true});
        // Jepsen leaves the list out when there is nothing in it.
        if !self.exceptions.is_empty() {
            json["exceptions"] = self
                .exceptions
                .iter()
                .map(|(class, count, example)| {
                    json!({"class": class, "count": count, "example": example})
                })
                .collect();
        }
        json
    }

    /// results.json.
    pub fn to_json(&self, seed: u64) -> Value {
        let mut results = Map::new();
        results.insert("valid?".into(), self.verdict().to_json());
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
        results.insert(
            "perf".into(),
            written_json(&self.perf, &["latency-graph", "rate-graph"]),
        );
        results.insert("timeline".into(), written_json(&self.timeline, &[]));
        results.insert("exceptions".into(), self.exceptions_json());
        if let Some(check) = &self.check {
            results.insert("workload".into(), check.to_json());
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

    /// The lines printed to stdout (and written to jepsen.log) at the end of a run, in
    /// two parts: the verdict with what explains it (crash, reasons), which jepsen.log
    /// marks as errors when the run is not valid, then the run's figures.
    pub fn summary_parts(&self, store: &str) -> (Vec<String>, Vec<String>) {
        let verdict = self.verdict();
        let mut head = vec![format!(
            "verdict: {} (exit {})",
            verdict.name(),
            verdict.exit_code()
        )];
        if let Some(reason) = &self.crash {
            head.push(format!("crash: {reason}"));
        }
        head.extend(self.reasons());
        let mut lines = Vec::new();
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
        lines.push(format!(
            "availability: {:.3} of invocations ok",
            self.ok_fraction()
        ));
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
        if !self.exceptions.is_empty() {
            let count: usize = self.exceptions.iter().map(|(_, count, _)| count).sum();
            lines.push(format!(
                "exceptions: {count} malformed repl{}, most often: {}",
                if count == 1 { "y" } else { "ies" },
                self.exceptions[0].0
            ));
        }
        lines.push(format!("store: {store}"));
        (head, lines)
    }

    /// Why the run is not valid, section by section: each key that is not
    /// linearizable with its reason and the operations involved, each key whose check
    /// ran out of time, the functions that never succeeded, and files not written.
    pub fn reasons(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(check) = &self.check {
            let invalid: Vec<&KeyReport> = check
                .keys
                .iter()
                .filter(|key| key.validity == Validity::Invalid)
                .collect();
            for key in invalid.iter().take(EXPLAINED_KEYS) {
                lines.extend(explain_key(key));
            }
            if invalid.len() > EXPLAINED_KEYS {
                let rest: Vec<String> = invalid[EXPLAINED_KEYS..]
                    .iter()
                    .map(|key| key.key.to_string())
                    .collect();
                lines.push(format!(
                    "invalid: {} more keys are not linearizable: {} (results.json has each \
                     reason under workload.results)",
                    rest.len(),
                    rest.join(", ")
                ));
            }
            for key in check
                .keys
                .iter()
                .filter(|key| key.validity == Validity::Unknown)
            {
                lines.push(format!(
                    "unknown: key {}: {}",
                    key.key,
                    key.reason.as_deref().unwrap_or("no verdict")
                ));
            }
        }
        for f in self.stats.missing_ok() {
            let tally = self.stats.by_f[&f];
            lines.push(format!(
                "invalid: stats: no {} succeeded ({} completed: fail {}, info {})",
                f.name(),
                tally.count(),
                tally.fail,
                tally.info
            ));
        }
        if !self.availability_met {
            lines.push(format!(
                "invalid: availability: {} of {} invocations ok ({:.3}), short of --availability",
                self.stats.total.ok,
                self.stats.invocations,
                self.ok_fraction()
            ));
        }
        for (name, outcome) in [
            ("perf", &self.perf),
            ("timeline", &self.timeline),
            ("net", &self.messages),
        ] {
            if let Err(error) = outcome {
                lines.push(format!("unknown: {name}: {error}"));
            }
        }
        lines
    }
}

/// A key that is not linearizable: its reason, then one line per operation involved,
/// the one that could not be linearized marked.
fn explain_key(key: &KeyReport) -> Vec<String> {
    let mut lines = vec![format!(
        "invalid: key {} is not linearizable: {}",
        key.key,
        key.reason.as_deref().unwrap_or("no reason given")
    )];
    let pairs = pair_invocations(&key.anomaly);
    lines.push(format!("  operations involved ({}):", pairs.len()));
    for pair in pairs.iter().take(EXPLAINED_OPS) {
        let invocation = &key.anomaly[pair.invoke];
        let completion = pair.completion.map(|index| &key.anomaly[index]);
        let mut line = format!("    {}", describe_op(invocation, completion));
        if key.op.as_ref() == Some(completion.unwrap_or(invocation)) {
            line.push_str("  <- cannot be linearized");
        }
        lines.push(line);
    }
    if pairs.len() > EXPLAINED_OPS {
        lines.push(format!(
            "    ... and {} more in results.json",
            pairs.len() - EXPLAINED_OPS
        ));
    }
    lines
}

/// One operation in words, e.g. `process 4 at n1: cas 1 -> 2, fail (error 22:
/// precondition failed), invoked 1.000000 s, completed 1.000300 s`.
pub fn describe_op(invocation: &Event, completion: Option<&Event>) -> String {
    let mut text = format!("process {}", invocation.process);
    if !invocation.node.is_empty() {
        write!(text, " at {}", invocation.node).unwrap();
    }
    text.push_str(": ");
    match (invocation.f, &invocation.value) {
        (OpFn::Cas, Value::Array(pair)) if pair.len() == 2 => {
            write!(text, "cas {} -> {}", pair[0], pair[1]).unwrap()
        }
        (OpFn::Read, _) => match completion {
            Some(done) if done.kind == EventType::Ok => {
                write!(text, "read {}", done.value).unwrap()
            }
            _ => text.push_str("read"),
        },
        (f, value) => write!(text, "{} {value}", f.name()).unwrap(),
    }
    let invoked = invocation.time as f64 / 1e9;
    match completion {
        Some(done) => {
            write!(text, ", {}", done.kind.name()).unwrap();
            match &done.error {
                Some((Event::NO_CODE, error)) => write!(text, " (error: {error})").unwrap(),
                Some((code, error)) => write!(text, " (error {code}: {error})").unwrap(),
                None => {}
            }
            write!(
                text,
                ", invoked {invoked:.6} s, completed {:.6} s",
                done.time as f64 / 1e9
            )
            .unwrap();
        }
        None => write!(text, ", invoked {invoked:.6} s, never completed").unwrap(),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::event;

    use serde_json::json;
    use std::time::Duration;

    fn summary(figures: &RunFigures, store: &str) -> String {
        let (head, lines) = figures.summary_parts(store);
        [head, lines].concat().join("\n")
    }

    fn checked(history: &[Event]) -> RunFigures {
        let report = checker::check(history, Duration::from_secs(5));
        RunFigures::new(history, Some(report), None, NetCounts::default())
    }

    fn with_value(mut event: Event, value: Value) -> Event {
        event.value = value;
        event
    }

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
            // Never completes: an invocation without a completion.
            event(8, Invoke, OpFn::Read, 2000),
        ];
        let figures = checked(&history);
        assert_eq!(figures.stats.invocations, 5);
        assert_eq!(
            figures.stats.total,
            Tally {
                ok: 2,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(figures.stats.by_f[&OpFn::Read].ok, 2);
        assert_eq!(figures.stats.missing_ok(), [OpFn::Write, OpFn::Cas]);
        let read = figures.latency_by_f[&OpFn::Read].unwrap();
        assert_eq!((read.p50, read.max), (10.0, 500.0));
        assert_eq!(figures.latency_by_f[&OpFn::Write], None);
        assert!((figures.throughput - 1.0).abs() < 1e-9);
        let json = figures.to_json(9);
        assert_eq!(json["stats"]["by-f"]["read"]["ok-count"], 2);
        assert_eq!(json["stats"]["valid?"], false);
        // Maelstrom's availability: 2 ok of 5 invocations, not of 4 completions.
        assert_eq!(json["availability"]["ok-fraction"], 0.4);
        // The keys are fine; the stats rule makes the run invalid.
        assert_eq!(json["workload"]["valid?"], true);
        assert_eq!(json["valid?"], false);
        assert_eq!(figures.verdict(), Verdict::Invalid);
        let summary = summary(&figures, "s");
        assert!(
            summary.contains("invalid: stats: no write succeeded (1 completed: fail 0, info 1)"),
            "{summary}"
        );
        assert!(summary.contains("invalid: stats: no cas succeeded (1 completed: fail 1, info 0)"));
        assert!(summary.contains("availability: 0.400 of invocations ok"));

        // No invocation at all: everything is available, as in Maelstrom.
        assert_eq!(checked(&[]).to_json(1)["availability"]["ok-fraction"], 1.0);
    }

    #[test]
    fn the_stats_rule_judges_only_functions_that_occur() {
        use EventType::*;
        let history = vec![
            with_value(event(0, Invoke, OpFn::Write, 0), json!(1)),
            with_value(event(0, Ok, OpFn::Write, 1), json!(1)),
            event(1, Invoke, OpFn::Read, 2),
            with_value(event(1, Ok, OpFn::Read, 3), json!(1)),
            // Invoked, never completed: not in Jepsen's stats either.
            with_value(event(2, Invoke, OpFn::Cas, 4), json!([1, 2])),
        ];
        let figures = checked(&history);
        let json = figures.to_json(1);
        assert_eq!(json["stats"]["valid?"], true);
        let by_f: Vec<&String> = json["stats"]["by-f"].as_object().unwrap().keys().collect();
        assert_eq!(by_f, ["read", "write"]);
        assert_eq!(figures.verdict(), Verdict::Valid);
        assert_eq!(json["valid?"], true);
        assert!(figures.reasons().is_empty());
        // An empty run (--rate 0) is valid too.
        assert_eq!(checked(&[]).verdict(), Verdict::Valid);
    }

    #[test]
    fn results_have_a_section_per_maelstrom_checker() {
        use EventType::*;
        let history = vec![
            with_value(event(0, Invoke, OpFn::Write, 0), json!(3)),
            with_value(event(0, Ok, OpFn::Write, 1), json!(3)),
        ];
        let mut figures = checked(&history);
        let json = figures.to_json(1);
        for section in [
            "perf",
            "timeline",
            "exceptions",
            "net",
            "availability",
            "stats",
        ] {
            assert_eq!(json[section]["valid?"], true, "{section}");
        }
        assert_eq!(json["perf"]["latency-graph"]["valid?"], true);
        assert_eq!(json["perf"]["rate-graph"]["valid?"], true);
        assert!(json["exceptions"].get("exceptions").is_none());
        // The independent checker's shape: per-key results and the failed keys.
        assert_eq!(json["workload"]["failures"], json!([]));
        assert_eq!(
            json["workload"]["results"]["1"]["linearizable"]["valid?"],
            true
        );
        assert!(json["workload"].get("missing-ok").is_none());

        // A picture that could not be written leaves its section, and the run, unknown,
        // as a checker that threw does in Jepsen.
        figures.perf = Err("writing rate.png: disk full".into());
        let json = figures.to_json(1);
        assert_eq!(json["perf"]["valid?"], "unknown");
        assert_eq!(json["perf"]["error"], "writing rate.png: disk full");
        assert_eq!(json["valid?"], "unknown");
        assert_eq!(figures.verdict(), Verdict::Unknown);
        assert!(summary(&figures, "s").contains("unknown: perf: writing rate.png: disk full"));
        figures.perf = Result::Ok(());
        figures.messages = Err("no room".into());
        assert_eq!(figures.to_json(1)["net"]["valid?"], "unknown");

        // Falling short of --availability makes the availability section, and the
        // run, invalid.
        figures.messages = Result::Ok(());
        figures.availability_met = false;
        assert_eq!(figures.to_json(1)["availability"]["valid?"], false);
        assert_eq!(figures.verdict(), Verdict::Invalid);
        assert!(summary(&figures, "s").contains(
            "invalid: availability: 1 of 1 invocations ok (1.000), short of --availability"
        ));

        // A crashed run has an error and no workload.
        let crashed = RunFigures::new(&history, None, Some("n1 died".into()), NetCounts::default());
        let json = crashed.to_json(1);
        assert_eq!(json["valid?"], "unknown");
        assert_eq!(json["error"], "n1 died");
        assert!(json.get("workload").is_none());
        assert_eq!(crashed.verdict(), Verdict::Crash);
    }

    #[test]
    fn malformed_replies_are_the_exceptions() {
        use EventType::*;
        let malformed = |process, time, why: &str| {
            let mut event = event(process, Info, OpFn::Write, time);
            event.error = Some((MALFORMED_REPLY_CODE, format!("malformed reply: {why}")));
            event
        };
        let history = vec![
            event(0, Invoke, OpFn::Write, 0),
            malformed(0, 1, "write_ok has an unexpected key \"x\""),
            event(5, Invoke, OpFn::Write, 2),
            malformed(5, 3, "expected write_ok or error, got type \"ok\""),
            event(10, Invoke, OpFn::Write, 4),
            malformed(10, 5, "expected write_ok or error, got type \"ok\""),
        ];
        let figures = checked(&history);
        let json = figures.to_json(1);
        let exceptions = &json["exceptions"];
        assert_eq!(exceptions["valid?"], true);
        assert_eq!(exceptions["exceptions"][0]["count"], 2);
        assert_eq!(
            exceptions["exceptions"][0]["class"],
            "malformed reply: expected write_ok or error, got type \"ok\""
        );
        assert_eq!(exceptions["exceptions"][0]["example"]["process"], 5);
        assert_eq!(exceptions["exceptions"][1]["count"], 1);
        assert!(summary(&figures, "s").contains(
            "exceptions: 3 malformed replies, most often: malformed reply: expected write_ok"
        ));
    }

    #[test]
    fn the_summary_explains_a_key_that_is_not_linearizable() {
        use EventType::*;
        let history = vec![
            with_value(event(1, Invoke, OpFn::Write, 0), json!(1)),
            with_value(event(1, Ok, OpFn::Write, 10), json!(1)),
            with_value(event(3, Invoke, OpFn::Cas, 12), json!([1, 4])),
            with_value(event(3, Ok, OpFn::Cas, 14), json!([1, 4])),
            event(2, Invoke, OpFn::Read, 20),
            with_value(event(2, Ok, OpFn::Read, 30), json!(1)),
        ];
        let figures = checked(&history);
        assert_eq!(figures.verdict(), Verdict::Invalid);
        let (head, _) = figures.summary_parts("s");
        assert_eq!(head[0], "verdict: invalid (exit 1)");
        assert!(
            head[1].starts_with("invalid: key 1 is not linearizable: read of 1 by process 2"),
            "{head:?}"
        );
        assert_eq!(head[2], "  operations involved (2):");
        assert_eq!(
            &head[3..],
            [
                "    process 3 at n1: cas 1 -> 4, ok, invoked 0.012000 s, completed 0.014000 s",
                "    process 2 at n1: read 1, ok, invoked 0.020000 s, completed 0.030000 s  \
                 <- cannot be linearized",
            ]
        );
    }

    #[test]
    fn operations_in_words() {
        use EventType::*;
        let mut failed = with_value(event(4, Fail, OpFn::Cas, 3), json!([1, 2]));
        failed.error = Some((22, "precondition failed".into()));
        assert_eq!(
            describe_op(
                &with_value(event(4, Invoke, OpFn::Cas, 1), json!([1, 2])),
                Some(&failed)
            ),
            "process 4 at n1: cas 1 -> 2, fail (error 22: precondition failed), \
             invoked 0.001000 s, completed 0.003000 s"
        );
        let mut timed_out = with_value(event(5, Info, OpFn::Write, 2000), json!(3));
        timed_out.node = String::new();
        timed_out.error = Some((Event::NO_CODE, "timed-out".into()));
        let mut invocation = with_value(event(5, Invoke, OpFn::Write, 1000), json!(3));
        invocation.node = String::new();
        assert_eq!(
            describe_op(&invocation, Some(&timed_out)),
            "process 5: write 3, info (error: timed-out), invoked 1.000000 s, completed 2.000000 s"
        );
        assert_eq!(
            describe_op(&event(6, Invoke, OpFn::Read, 0), None),
            "process 6 at n1: read, invoked 0.000000 s, never completed"
        );
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
        let membership_summary = MembershipSummary::of(&nemesis, &report);
        let summary_of = |figures: &RunFigures| summary(figures, "s");
        let mut figures = checked(&[]);
        assert!(figures.to_json(1).get("membership").is_none());
        assert!(!summary_of(&figures).contains("membership"));
        figures.membership = Some(membership_summary);
        let json = figures.to_json(1);
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
        let summary = summary_of(&figures);
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
        assert_eq!(figures.to_json(1)["membership"]["supported?"], false);
        assert!(summary_of(&figures).contains("membership: not supported by the node"));
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
