//! End-to-end tests of `harness test` and `harness check` against the fixture nodes in
//! `fixtures/`. Each test runs the built binary in its own fresh working directory, so
//! the `store/` directories never collide, and uses --seed for repeatable schedules.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{
    assert_valid_without_faults, fixture, harness, history, latest, nemesis_events, node_log,
    read_latest, results, run_fixture, Finished, Workdir,
};

fn workdir(test: &str) -> Workdir {
    common::workdir("harness", test)
}

fn event_types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// One line of jepsen.log: `   12.345 INFO  [nemesis] heal`.
#[derive(Debug)]
struct LogLine {
    seconds: f64,
    level: String,
    source: String,
    text: String,
}

/// The latest run's jepsen.log, each line checked for the format and the times for
/// never going backwards.
fn jepsen_log(dir: &Path) -> Vec<LogLine> {
    let text = read_latest(dir, "jepsen.log");
    let lines: Vec<LogLine> = text
        .lines()
        .map(|line| {
            let (time, rest) = line.trim_start().split_once(' ').expect(line);
            let (whole, millis) = time.split_once('.').expect(line);
            assert!(whole.parse::<u64>().is_ok() && millis.len() == 3, "{line}");
            let (level, rest) = rest.split_at(5);
            let (source, text) = rest[1..].split_once("] ").expect(line);
            assert!(source.starts_with('['), "{line}");
            LogLine {
                seconds: time.parse().expect(line),
                level: level.trim_end().to_string(),
                source: source[1..].to_string(),
                text: text.to_string(),
            }
        })
        .collect();
    assert!(
        lines
            .windows(2)
            .all(|pair| pair[0].seconds <= pair[1].seconds),
        "{text}"
    );
    lines
}

/// The texts of the lines from `source`.
fn log_texts<'a>(log: &'a [LogLine], source: &str) -> Vec<&'a str> {
    log.iter()
        .filter(|line| line.source == source)
        .map(|line| line.text.as_str())
        .collect()
}

/// The `membership` lines of nemesis.jsonl.
fn membership_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|event| event["type"] == "membership")
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("{list} is not a list"))
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect()
}

/// Checks the fields every membership line has, and returns (action, outcome) pairs.
fn membership_outcomes<'a>(changes: &[&'a Value], nodes: &[&str]) -> Vec<(&'a str, &'a str)> {
    changes
        .iter()
        .map(|change| {
            let action = change["action"].as_str().unwrap();
            assert!(
                [
                    "add_voter",
                    "add_non_voter",
                    "remove_server",
                    "transfer_leadership"
                ]
                .contains(&action),
                "{change}"
            );
            assert!(
                nodes.contains(&change["node"].as_str().unwrap()),
                "{change}"
            );
            assert!(nodes.contains(&change["via"].as_str().unwrap()), "{change}");
            assert_eq!(names(&change["nodes"]), [change["node"].as_str().unwrap()]);
            assert!(change["sent"].as_u64().unwrap() <= change["time"].as_u64().unwrap());
            let voters = names(&change["voters"]);
            assert!(voters.len() >= 3, "never below three voters: {change}");
            let outcome = change["outcome"].as_str().unwrap();
            match outcome {
                "ok" | "timeout" => assert!(change.get("error").is_none(), "{change}"),
                "error" => assert!(change["error"][0].is_i64(), "{change}"),
                other => panic!("outcome {other}: {change}"),
            }
            if action == "transfer_leadership" {
                assert!(
                    voters.contains(&change["node"].as_str().unwrap()),
                    "{change}"
                );
            }
            (action, outcome)
        })
        .collect()
}

fn check_latest(dir: &Path) -> Finished {
    let history = latest(dir).join("history.jsonl");
    harness(dir, &["check", history.to_str().unwrap()])
}

#[test]
fn broken_node_is_found_invalid_and_check_agrees() {
    let dir = workdir("broken");
    let run = run_fixture(
        &dir,
        "broken-kv.py",
        "--node-count 3 --rate 50 --time-limit 5 --seed 11",
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("verdict: invalid"));
    assert_eq!(results(&dir)["valid?"], false);

    let check = check_latest(&dir);
    assert_eq!(check.code, 1);
    assert!(check.stdout.contains("verdict: invalid"));
}

#[test]
fn single_leader_node_is_valid_with_full_results() {
    let dir = workdir("single-leader");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 50 --time-limit 5 --seed 12 --node-data-dir -- --some-node-flag",
    );
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("verdict: valid"));
    assert!(run.stdout.contains("store: store/lin-kv/"));

    let results = results(&dir);
    assert_valid_without_faults(&results);
    for f in ["read", "write", "cas"] {
        assert!(results["latency"][f]["p50"].is_number());
    }
    assert!(results["stats"]["count"].as_u64().unwrap() > 100);
    assert!(results["availability"]["ok-fraction"].as_f64().unwrap() > 0.0);
    assert!(results["net"]["all"]["msgs-per-op"].as_f64().unwrap() > 2.0);
    assert!(results["net"]["servers"]["msg-count"].as_u64().unwrap() > 0);
    assert!(results["throughput"].as_f64().unwrap() > 0.0);
    assert!(results["workload"].is_object());

    let store = latest(&dir);
    for file in [
        "history.jsonl",
        "nemesis.jsonl",
        "latency-raw.png",
        "latency-quantiles.png",
        "rate.png",
        "timeline.html",
    ] {
        assert!(store.join(file).exists(), "{file} missing");
    }
    // The timeline has a box for every invocation (no faults here, so nothing else).
    let invocations = history(&dir)
        .iter()
        .filter(|event| event["type"] == "invoke")
        .count();
    let timeline = read_latest(&dir, "timeline.html");
    assert_eq!(timeline.matches(r#"<div class="box "#).count(), invocations);
    // Nodes run in /tmp with the trailing arguments, then --data-dir <run dir>/data.
    let log = node_log(&dir, "n1");
    let data_dir = fs::canonicalize(&store).unwrap().join("data");
    let expected = format!(
        "args ['--some-node-flag', '--data-dir', '{}'] cwd /tmp",
        data_dir.display()
    );
    assert!(log.contains(&expected), "n1.log: {log}");
    assert!(data_dir.is_dir());

    let check = check_latest(&dir);
    assert_eq!(check.code, 0);
    assert!(check.stdout.contains("verdict: valid"));
}

#[test]
fn single_leader_node_stays_valid_under_partitions() {
    let dir = workdir("partition");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 40 --time-limit 8 --seed 13 --nemesis partition \
         --nemesis-interval 1",
    );
    assert_eq!(run.code, 0);
    // Forwarded requests lost across a cut time out: proof the cuts are enforced.
    assert!(results(&dir)["stats"]["info-count"].as_u64().unwrap() > 0);
    let events = nemesis_events(&dir);
    let types = event_types(&events);
    assert!(types.contains(&"partition-start"), "{types:?}");
    assert_eq!(types.last(), Some(&"heal"), "healed at the end: {types:?}");
    for event in events
        .iter()
        .filter(|event| event["type"] == "partition-start")
    {
        // Every node cannot hear someone, except under minority-third, which on three
        // nodes splits off nobody (as in Jepsen).
        let cut_nodes = event["cut"].as_object().unwrap().len();
        let expected = if event["shape"] == "minority-third" {
            0
        } else {
            3
        };
        assert_eq!(cut_nodes, expected, "{event}");
    }

    // jepsen.log tells the same story in words, between the parameters and the verdict.
    let log = jepsen_log(&dir);
    assert_eq!(
        log[0].text,
        "lin-kv run 1/1 with 3 nodes, concurrency 6, seed 13"
    );
    let harness_lines = log_texts(&log, "harness");
    assert!(harness_lines.iter().any(|text| text
        .starts_with("command line: harness test -w lin-kv --bin ")
        && text.ends_with("--nemesis partition --nemesis-interval 1")));
    assert!(harness_lines
        .iter()
        .any(|text| text.starts_with("parameters: nodes n0,n1,n2;")
            && text.contains("nemesis partition every 1 s;")
            && text.contains("seed 13;")));
    assert!(harness_lines
        .iter()
        .any(|text| text.starts_with("checking ") && text.ends_with("s of workload)...")));
    let node_lines = log_texts(&log, "node");
    for node in ["n0", "n1", "n2"] {
        assert!(node_lines.contains(&format!("{node} answered init_ok").as_str()));
    }
    let nemesis_lines = log_texts(&log, "nemesis");
    let starts: Vec<&&str> = nemesis_lines
        .iter()
        .filter(|text| text.starts_with("partition-start "))
        .collect();
    assert_eq!(
        starts.len(),
        types.iter().filter(|t| **t == "partition-start").count()
    );
    assert!(
        starts.iter().all(|text| text.contains(" cannot hear ")
            || **text == "partition-start minority-third: nothing cut"),
        "{starts:?}"
    );
    assert_eq!(
        nemesis_lines.iter().filter(|text| **text == "heal").count(),
        types.iter().filter(|t| **t == "heal").count()
    );
    assert_eq!(nemesis_lines.last(), Some(&"heal"));
    let verdict = log
        .iter()
        .find(|line| line.text.starts_with("verdict: "))
        .expect("a verdict line");
    assert_eq!(
        (verdict.level.as_str(), verdict.text.as_str()),
        ("INFO", "verdict: valid (exit 0)")
    );
}

#[test]
fn kill_nemesis_restarts_the_nodes_it_kills() {
    let dir = workdir("kill");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 40 --time-limit 8 --seed 14 --nemesis kill --nemesis-interval 1 \
         --node-data-dir",
    );
    // The fixture's leader forgets its map on restart, so the verdict may go either
    // way; what must hold is that the runner itself copes.
    assert!(run.code == 0 || run.code == 1, "exit {}", run.code);
    let events = nemesis_events(&dir);
    let kills: Vec<&Value> = events.iter().filter(|e| e["type"] == "kill").collect();
    let restarts: Vec<&Value> = events.iter().filter(|e| e["type"] == "restart").collect();
    assert!(!kills.is_empty());
    assert_eq!(kills.len(), restarts.len());
    for (kill, restart) in kills.iter().zip(&restarts) {
        assert_eq!(kill["nodes"], restart["nodes"]);
    }
    // A restarted node gets the same arguments, data directory included, and its log
    // continues the one before.
    let killed = kills[0]["nodes"][0].as_str().unwrap();
    let log = node_log(&dir, killed);
    let starts: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("args "))
        .collect();
    assert!(starts.len() >= 2, "{killed}.log: {log}");
    assert!(starts
        .iter()
        .all(|line| line == &starts[0] && line.contains("'--data-dir'")));
}

#[test]
fn pause_nemesis_pauses_and_resumes() {
    let dir = workdir("pause");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 40 --time-limit 8 --seed 15 --nemesis pause --nemesis-interval 1",
    );
    assert_eq!(run.code, 0, "a paused leader only delays answers");
    let events = nemesis_events(&dir);
    let types = event_types(&events);
    assert!(types.contains(&"pause"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "pause").count(),
        types.iter().filter(|t| **t == "resume").count()
    );
}

#[test]
fn garbage_on_stdout_crashes_the_run_naming_the_node() {
    let dir = workdir("garbage");
    let run = run_fixture(
        &dir,
        "garbage-stdout.py",
        "--node-count 3 --time-limit 5 --seed 16",
    );
    assert_eq!(run.code, 255);
    assert!(run.stderr.contains("not a valid Maelstrom message"));
    // The offending line is quoted; which request came first depends on scheduling.
    assert!(run.stderr.contains("\"handling "), "{}", run.stderr);
    let named = ["n0", "n1", "n2"]
        .iter()
        .any(|node| run.stderr.contains(&format!("node {node} wrote a line")));
    assert!(named, "the message names the node");
    assert_eq!(results(&dir)["valid?"], "unknown");
    assert!(results(&dir)["error"].is_string());

    // jepsen.log has the reason when the crash happened, and the verdict after it.
    let log = jepsen_log(&dir);
    let crash = log
        .iter()
        .position(|line| line.text.starts_with("crash: node n"))
        .expect("a crash line");
    assert_eq!(log[crash].level, "ERROR");
    assert!(log[crash].text.contains("not a valid Maelstrom message"));
    assert!(log[crash..]
        .iter()
        .any(|line| line.level == "ERROR" && line.text.starts_with("run failed: node n")));
    assert!(log[crash..]
        .iter()
        .any(|line| line.level == "ERROR" && line.text == "verdict: crash (exit 255)"));
}

#[test]
fn node_exiting_early_crashes_the_run() {
    let dir = workdir("exit-early");
    let run = run_fixture(
        &dir,
        "exit-early.py",
        "--node-count 3 --time-limit 5 --seed 17",
    );
    assert_eq!(run.code, 255);
    assert!(run.stderr.contains("exited before teardown (exit code 3)"));
}

#[test]
fn node_that_never_answers_init_aborts_the_run() {
    let dir = workdir("mute");
    let run = run_fixture(&dir, "mute-node.py", "--node-count 3 --time-limit 5");
    assert_eq!(run.code, 255);
    assert!(run.stderr.contains("did not answer init within 10 s"));
    let log = jepsen_log(&dir);
    let node_lines = log_texts(&log, "node");
    assert!(node_lines
        .iter()
        .any(|text| text.starts_with("n0 started (pid ")));
    // Inits go one at a time, so the first mute node holds up the rest.
    assert!(node_lines.contains(&"init sent to n0"), "{node_lines:?}");
    assert!(!node_lines.contains(&"init sent to n1"), "{node_lines:?}");
    assert!(log.iter().any(|line| line.level == "ERROR"
        && line.text.starts_with("crash: node n")
        && line.text.ends_with("did not answer init within 10 s")));
}

#[test]
fn test_count_repeats_the_run() {
    let dir = workdir("repeat");
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --time-limit 3 --rate 60 --test-count 2 --seed 18",
    );
    // Long and busy enough that every function gets an ok in both runs: a run with no
    // ok cas is invalid by the stats checker, as under Maelstrom.
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout.matches("verdict: valid").count(), 2);
    assert!(run.stdout.contains("worst verdict over 2 runs: valid"));
    let runs = fs::read_dir(dir.join("store").join("lin-kv"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name() != "latest")
        .count();
    assert_eq!(runs, 2);
}

#[test]
fn bad_arguments_exit_254_with_a_message() {
    let dir = workdir("bad-args");
    let node = fixture("single-leader-kv.py");
    let cases: &[(&[&str], &str)] = &[
        (
            &["test", "-w", "lin-kv", "--bin", &node, "--frobnicate"],
            "unexpected argument '--frobnicate'",
        ),
        (&["test", "-w", "lin-kv"], "--bin <FILE>"),
        (&["test", "-w", "g-set", "--bin", &node], "runs only lin-kv"),
        (
            &["test", "-w", "lin-kv", "--bin", &node, "--rate", "fast"],
            "'fast' for '--rate <RATE>'",
        ),
        (
            &[
                "test",
                "-w",
                "lin-kv",
                "--bin",
                &node,
                "--node-count",
                "3",
                "--concurrency",
                "3n",
            ],
            "not a multiple of 2 x node-count",
        ),
        (
            &["test", "-w", "lin-kv", "--bin", &node, "--concurrency", "7"],
            "not a multiple of 2 x node-count",
        ),
        (
            &["test", "-w", "lin-kv", "--bin", "/no/such/node"],
            "/no/such/node",
        ),
        (&["check", "/no/such/history.jsonl"], "history.jsonl"),
        (&["frob"], "unrecognized subcommand 'frob'"),
    ];
    for (args, message) in cases {
        let run = harness(&dir, args);
        assert_eq!(run.code, 254, "{args:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    assert!(!dir.join("store").exists(), "bad arguments start no run");
}

#[test]
fn membership_nemesis_grows_to_every_node_and_shrinks_back() {
    let dir = workdir("membership");
    let started = Instant::now();
    let run = run_fixture(
        &dir,
        "membership-kv.py",
        "--node-count 5 --rate 50 --time-limit 5 --seed 21 --nemesis membership \
         --nemesis-interval 0.3 -- --initial-voters 3",
    );
    // Stopped with the run: init, 5 s of workload, a short grace and the check.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("verdict: valid"));

    let events = nemesis_events(&dir);
    let changes = membership_events(&events);
    assert_eq!(changes.len(), events.len(), "no other nemesis ran");
    let nodes = ["n0", "n1", "n2", "n3", "n4"];
    let outcomes = membership_outcomes(&changes, &nodes);
    assert!(outcomes.contains(&("add_voter", "ok")), "{outcomes:?}");
    assert!(outcomes.contains(&("remove_server", "ok")), "{outcomes:?}");
    // The voters the nemesis read went from the first three to all five.
    assert_eq!(names(&changes[0]["voters"]), ["n0", "n1", "n2"]);
    assert!(
        changes
            .iter()
            .any(|change| names(&change["voters"]).len() == 5),
        "never saw five voters"
    );
    // ... and so did the node holding the configuration.
    let log = node_log(&dir, "n0");
    assert!(
        log.contains("args ['--initial-voters', '3'] cwd /tmp"),
        "the runner adds no flags of its own: {log}"
    );
    let voter_counts: Vec<usize> = log
        .lines()
        .filter_map(|line| line.split(" voters=").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().split(',').count())
        .collect();
    assert!(voter_counts.contains(&5), "n0.log: {log}");
    assert!(
        voter_counts.iter().all(|count| *count >= 3),
        "n0.log: {log}"
    );

    let results = results(&dir);
    let membership = &results["membership"];
    let ok = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == "ok")
        .count();
    assert_eq!(membership["count"], changes.len());
    assert_eq!(membership["ok-count"], ok);
    assert_eq!(
        membership["by-action"]["add_voter"]["ok-count"]
            .as_u64()
            .unwrap(),
        outcomes
            .iter()
            .filter(|pair| **pair == ("add_voter", "ok"))
            .count() as u64
    );
    assert_eq!(membership["voters-seen"]["max"], 5);
    assert_eq!(membership["voters-seen"]["min"], 3);
    assert_eq!(membership["supported?"], true);
    assert!(
        run.stdout
            .contains(&format!("membership: {} changes (ok {ok}, ", changes.len())),
        "{}",
        run.stdout
    );

    // Admin requests stay out of the client history, which still checks.
    for event in history(&dir) {
        assert!(["read", "write", "cas"].contains(&event["f"].as_str().unwrap()));
    }
    assert!(latest(&dir).join("latency-raw.png").exists());
    assert!(latest(&dir).join("rate.png").exists());
    let check = check_latest(&dir);
    assert_eq!(check.code, 0);
    assert!(check.stdout.contains("verdict: valid"));
}

#[test]
fn membership_and_partition_nemeses_run_side_by_side() {
    let dir = workdir("membership-partition");
    let run = run_fixture(
        &dir,
        "membership-kv.py",
        "--node-count 5 --rate 50 --time-limit 5 --seed 22 --nemesis membership,partition \
         --nemesis-interval 0.3 -- --initial-voters 3",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let events = nemesis_events(&dir);
    let changes = membership_events(&events);
    let outcomes = membership_outcomes(&changes, &["n0", "n1", "n2", "n3", "n4"]);
    assert!(outcomes.len() >= 2, "{outcomes:?}");
    let faults: Vec<&str> = event_types(&events)
        .into_iter()
        .filter(|kind| *kind != "membership")
        .collect();
    assert!(faults.contains(&"partition-start"), "{faults:?}");
    assert_eq!(
        faults.last(),
        Some(&"heal"),
        "healed at the end: {faults:?}"
    );
    // The two schedules interleave: some change happens between two partition events.
    let first_fault = events.iter().position(|e| e["type"] != "membership");
    let last_fault = events.iter().rposition(|e| e["type"] != "membership");
    assert!(
        events[first_fault.unwrap()..last_fault.unwrap()]
            .iter()
            .any(|e| e["type"] == "membership"),
        "{:?}",
        event_types(&events)
    );
    assert_eq!(results(&dir)["membership"]["count"], changes.len());
    assert!(run.stdout.contains("membership: "), "{}", run.stdout);
}

#[test]
fn membership_nemesis_stops_quietly_on_a_node_without_admin_requests() {
    let dir = workdir("membership-unsupported");
    let run = run_fixture(
        &dir,
        "membership-kv.py",
        "--node-count 3 --rate 60 --time-limit 3 --seed 23 --nemesis membership \
         --nemesis-interval 0.2 -- --no-admin",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.stderr
            .matches("answered read_config with error 10")
            .count(),
        1,
        "one line, not one per step: {}",
        run.stderr
    );
    assert!(nemesis_events(&dir).is_empty());
    assert_eq!(results(&dir)["membership"]["supported?"], false);
    assert_eq!(results(&dir)["membership"]["count"], 0);
    assert!(run
        .stdout
        .contains("membership: not supported by the node (read_config answered error 10)"));
}

#[test]
fn a_change_in_flight_at_the_end_does_not_hold_up_the_run() {
    let dir = workdir("membership-in-flight");
    let run = run_fixture(
        &dir,
        "membership-kv.py",
        "--node-count 3 --rate 60 --time-limit 2 --seed 25 --nemesis membership \
         --nemesis-interval 0.1 -- --silent-changes",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    // The first change is never answered; it would wait 5 s, far past the time limit,
    // but is given up at most a second after the last operation started.
    let events = nemesis_events(&dir);
    let changes = membership_events(&events);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["outcome"], "timeout");
    let last_invoke = history(&dir)
        .into_iter()
        .filter(|event| event["type"] == "invoke")
        .map(|event| event["time"].as_u64().unwrap())
        .max()
        .unwrap();
    let given_up = changes[0]["time"].as_u64().unwrap();
    assert!(
        given_up < last_invoke + 1_600_000_000,
        "given up {:.2} s after the last invocation",
        (given_up as f64 - last_invoke as f64) / 1e9
    );
    assert!(run
        .stdout
        .contains("membership: 1 change (ok 0, error 0, timeout 1)"));
}

#[test]
fn runs_without_the_membership_nemesis_report_no_membership() {
    let dir = workdir("no-membership");
    let run = run_fixture(
        &dir,
        "membership-kv.py",
        "--node-count 3 --rate 60 --time-limit 3 --seed 24",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains("membership"), "{}", run.stdout);
    assert!(results(&dir).get("membership").is_none());
}
