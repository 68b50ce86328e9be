//! What a run reports, end to end: results.json's sections under Maelstrom's names, the
//! reasons of an invalid verdict in the summary, jepsen.log and timeline.html, the
//! Lamport diagram messages.svg, and `harness check` on histories written elsewhere.
//! Each test runs the built binary in its own fresh working directory.

use std::fs;

use serde_json::json;

mod common;
use common::{harness, history, latest, read_latest, results, run_fixture, Workdir};

fn workdir(test: &str) -> Workdir {
    common::workdir("harness-reports", test)
}

#[test]
fn an_invalid_run_says_why_in_its_summary_log_and_timeline() {
    let dir = workdir("invalid");
    let run = run_fixture(
        &dir,
        "broken-kv.py",
        "--node-count 3 --rate 50 --time-limit 5 --seed 11",
    );
    assert_eq!(run.code, 1);
    let results = results(&dir);
    assert_eq!(results["valid?"], false);

    // The workload section as Jepsen's independent checker writes it.
    let workload = &results["workload"];
    assert_eq!(workload["valid?"], false);
    let failures = workload["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    let first = &failures[0];
    let name = first.to_string();
    let linearizable = &workload["results"][&name]["linearizable"];
    assert_eq!(linearizable["valid?"], false);
    let reason = linearizable["reason"].as_str().expect("a reason");
    assert!(reason.contains("cannot be linearized"), "{reason}");
    let op = &linearizable["op"];
    assert_eq!(op["key"], *first);

    // The summary names the key, the reason and the operations involved.
    let stdout = &run.stdout;
    let reason_line = format!("invalid: key {name} is not linearizable: {reason}");
    assert!(stdout.contains(&reason_line), "no {reason_line:?}");
    let after_reason = &stdout[stdout.find(&reason_line).unwrap()..];
    assert!(after_reason.contains("\n  operations involved ("));
    let failed = format!(
        "process {} at {}: ",
        op["process"],
        op["node"].as_str().unwrap()
    );
    let failed_line = after_reason
        .lines()
        .find(|line| line.ends_with("<- cannot be linearized"))
        .expect("the operation that cannot be linearized");
    assert!(
        failed_line.trim_start().starts_with(&failed),
        "{failed_line}"
    );
    // Before the figures, right after the verdict.
    assert!(stdout.find("verdict: invalid").unwrap() < stdout.find(&reason_line).unwrap());
    assert!(stdout.find(&reason_line).unwrap() < stdout.find("\nops: ").unwrap());

    // jepsen.log has the same lines, as errors.
    let log = read_latest(&dir, "jepsen.log");
    let logged = log
        .lines()
        .find(|line| line.contains(&reason_line))
        .expect("the reason in jepsen.log");
    assert!(logged.contains(" ERROR [harness] "), "{logged}");
    assert!(log.contains(failed_line.trim_start()));

    // timeline.html opens with the keys and links each to its failed operation.
    let html = read_latest(&dir, "timeline.html");
    let list = html
        .find("<div class=\"anomalies\">")
        .expect("the anomaly list");
    let link = format!("<a href=\"#anomaly-0\">key {name}</a>");
    let linked = html.find(&link).expect("a link to the first anomaly");
    let target = html
        .find("id=\"anomaly-0\"")
        .expect("the failed operation's box");
    assert!(list < linked && linked < html.find("<div class=\"rows\"").unwrap() && linked < target);
    assert!(html[..target].ends_with("anomaly stuck\" "));
    let outlined = html.matches(" anomaly\"").count() + html.matches(" anomaly stuck\"").count();
    assert!(outlined >= 2, "{outlined} operations outlined");
    // The reason is on the page (escaped as HTML; these reasons need none).
    assert!(html.contains(reason), "no reason in timeline.html");

    // harness check agrees, and says why too.
    let history = latest(&dir).join("history.jsonl");
    let check = harness(&dir, &["check", history.to_str().unwrap()]);
    assert_eq!(check.code, 1);
    assert!(check.stdout.contains(&reason_line));
}

#[test]
fn results_have_maelstroms_sections_and_a_lamport_diagram() {
    let dir = workdir("sections");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 50 --time-limit 3 --seed 5",
    );
    assert_eq!(run.code, 0);
    let results = results(&dir);
    assert_eq!(results["valid?"], true);
    for section in [
        "workload",
        "stats",
        "availability",
        "net",
        "perf",
        "timeline",
        "exceptions",
    ] {
        assert_eq!(results[section]["valid?"], true, "{section}");
    }
    assert_eq!(results["perf"]["latency-graph"]["valid?"], true);
    assert_eq!(results["perf"]["rate-graph"]["valid?"], true);
    // No malformed reply, so no exception list, as Jepsen leaves it out.
    assert!(results["exceptions"].get("exceptions").is_none());
    // The stats rule lives in stats; the workload has per-key results and failures.
    assert_eq!(results["workload"]["failures"], json!([]));
    assert!(!results["workload"]["results"]
        .as_object()
        .unwrap()
        .is_empty());
    assert!(results["workload"].get("missing-ok").is_none());
    for f in ["read", "write", "cas"] {
        assert!(results["stats"]["by-f"][f]["ok-count"].as_u64().unwrap() > 0);
    }

    // Availability is ok completions over invocations.
    let events = history(&dir);
    let count = |kind: &str| events.iter().filter(|event| event["type"] == kind).count();
    let expected = count("ok") as f64 / count("invoke") as f64;
    let fraction = results["availability"]["ok-fraction"].as_f64().unwrap();
    assert!(
        (fraction - expected).abs() < 1e-4,
        "{fraction} vs {expected}"
    );

    // messages.svg: every client request is an arrow from its client to its node, and
    // the followers forward to the leader, node to node; init is left out.
    let svg = read_latest(&dir, "messages.svg");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    let arrows = svg.matches("<g class=\"arrow\">").count();
    assert!(
        arrows >= 2 * count("ok"),
        "{arrows} arrows for {} oks",
        count("ok")
    );
    assert!(svg.contains("<line class=\"client\""));
    assert!(svg.contains("<line class=\"server\""));
    for label in [
        ">read {&quot;key&quot;:",
        ">cas {&quot;from&quot;:",
        ">write_ok</text>",
    ] {
        assert!(svg.contains(label), "no {label}");
    }
    assert!(!svg.contains(">init "));
    assert!(svg.contains("all shown"));
    for node in ["n0", "n1", "n2", "c6"] {
        assert!(svg.contains(&format!(">{node}</text>")), "no column {node}");
    }
}

/// A history as Jepsen writes one (converted to JSON lines): no node, errors as plain
/// strings or `[name, text]`, keys as this runner writes them.
const FOREIGN_HISTORY: &str = r#"{"process":0,"type":"invoke","f":"write","key":1,"value":3,"time":1000}
{"process":0,"type":"ok","f":"write","key":1,"value":3,"time":2000}
{"process":1,"type":"invoke","f":"cas","key":1,"value":[3,4],"time":3000}
{"process":1,"type":"fail","f":"cas","key":1,"value":[3,4],"time":4000,"error":["precondition-failed","expected 3"]}
{"process":2,"type":"invoke","f":"write","key":1,"value":0,"time":5000}
{"process":2,"type":"info","f":"write","key":1,"value":0,"time":6000,"error":"timed-out"}
{"process":0,"type":"invoke","f":"read","key":1,"value":null,"time":7000}
{"process":0,"type":"ok","f":"read","key":1,"value":3,"time":8000}
{"process":1,"type":"invoke","f":"cas","key":1,"value":[3,1],"time":9000}
{"process":1,"type":"ok","f":"cas","key":1,"value":[3,1],"time":10000}
"#;

#[test]
fn check_takes_foreign_histories_and_refuses_malformed_ones_by_line() {
    let dir = workdir("check");
    let path = dir.0.join("history.jsonl");
    let check = |text: &str| {
        fs::write(&path, text).unwrap();
        harness(&dir, &["check", path.to_str().unwrap()])
    };

    let valid = check(FOREIGN_HISTORY);
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    assert!(valid.stdout.starts_with("verdict: valid (exit 0)\n"));
    assert!(valid.stdout.contains("ops: 5 (ok 3, fail 1, info 1)"));

    // The same, with a read of a value nobody wrote: invalid, and the reason names it.
    let stale = FOREIGN_HISTORY.replace(
        r#""type":"ok","f":"read","key":1,"value":3"#,
        r#""type":"ok","f":"read","key":1,"value":7"#,
    );
    let invalid = check(&stale);
    assert_eq!(invalid.code, 1);
    assert!(invalid
        .stdout
        .contains("invalid: key 1 is not linearizable: read of 7 by process 0"));
    assert!(invalid
        .stdout
        .contains("    process 0: read 7, ok, invoked 0.000007 s"));

    // A completion with nothing outstanding, on line 3.
    let lines: Vec<&str> = FOREIGN_HISTORY.lines().collect();
    let stray = [lines[0], lines[1], lines[1]].join("\n");
    let refused = check(&stray);
    assert_eq!(refused.code, 254);
    assert!(
        refused
            .stderr
            .contains("line 3: ok completion of write of process 0 with no invocation outstanding"),
        "{}",
        refused.stderr
    );
    // A second invocation of process 1 (line 5) while its first (line 3) is open; the
    // blank line still counts.
    let twice = [lines[0], lines[1], lines[2], "", lines[2]].join("\n");
    let refused = check(&twice);
    assert_eq!(refused.code, 254);
    assert!(
        refused.stderr.contains(
            "line 5: invocation of cas of process 1 while the invocation at line 3 has not \
             completed"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
}
