//! End-to-end tests that the runner's network and nemesis behave as Maelstrom's do
//! (net.clj, Jepsen's nemesis and generator), each against a fixture node that makes the
//! difference visible: message validation, delivery order, start-up, the first
//! partition and the end of a run. Each runs the built harness in a fresh directory.

use serde_json::Value;

mod common;
use common::{history, nemesis_events, node_log, run_fixture, Workdir};

fn workdir(test: &str) -> Workdir {
    common::workdir("fidelity", test)
}

fn time(event: &Value) -> u64 {
    event["time"].as_u64().expect("a time")
}

/// Each completed operation's latency in milliseconds, pairing every completion with
/// its process's invocation.
fn latencies_ms(history: &[Value]) -> Vec<f64> {
    let mut invoked = std::collections::HashMap::new();
    let mut latencies = Vec::new();
    for event in history {
        let process = event["process"].as_u64().unwrap();
        if event["type"] == "invoke" {
            invoked.insert(process, time(event));
        } else if let Some(start) = invoked.remove(&process) {
            latencies.push((time(event) - start) as f64 / 1e6);
        }
    }
    latencies
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn a_message_from_an_unknown_src_crashes_the_run_naming_node_and_message() {
    let dir = workdir("bad-src");
    let run = run_fixture(
        &dir,
        "probe-kv.py",
        "--node-count 3 --rate 20 --time-limit 3 --seed 1 -- --reply-src x9",
    );
    // Maelstrom would stop reading n0 and every operation would time out; here the run
    // stops at once and says why.
    assert_eq!(run.code, 255);
    assert!(
        run.stderr
            .contains(r#"node n0 sent a message whose src "x9" is not a registered node or client: "{\"src\": \"x9\""#),
        "{}",
        run.stderr
    );
}

#[test]
fn forwarding_under_a_client_id_stays_legal() {
    let dir = workdir("forward");
    // probe-kv's followers forward each request to n0 under the client's id, and n0
    // answers the client directly.
    let run = run_fixture(
        &dir,
        "probe-kv.py",
        "--node-count 3 --rate 30 --time-limit 3 --seed 2",
    );
    assert_eq!(run.code, 0);
    let history = history(&dir);
    for node in ["n1", "n2"] {
        assert!(
            history
                .iter()
                .any(|event| event["node"] == node && event["type"] == "ok"),
            "an operation through {node} succeeded"
        );
    }
}

#[test]
fn bodies_without_a_type_pass_between_nodes() {
    let dir = workdir("no-type");
    let run = run_fixture(
        &dir,
        "probe-kv.py",
        "--node-count 3 --rate 30 --time-limit 2 --seed 3 -- --note-next --untyped-notes",
    );
    assert_eq!(run.code, 0);
    for (node, predecessor) in [("n0", "n2"), ("n1", "n0"), ("n2", "n1")] {
        let log = node_log(&dir, node);
        assert!(
            log.lines()
                .any(|line| line.starts_with("note ")
                    && line.ends_with(&format!(" from {predecessor}"))),
            "{node}.log: {log}"
        );
    }
}

#[test]
fn the_first_partition_starts_at_once() {
    let dir = workdir("first-partition");
    // With a 10 s interval a first partition drawn like the later gaps would mostly come
    // after this whole run; Jepsen's stagger issues it at once.
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 3 --rate 30 --time-limit 3 --seed 4 --nemesis partition \
         --nemesis-interval 10",
    );
    assert_eq!(run.code, 0);
    let events = nemesis_events(&dir);
    let first = events.first().expect("a nemesis event");
    assert_eq!(first["type"], "partition-start", "{events:?}");
    let workload_start = time(&history(&dir)[0]);
    let delay_ms = time(first).abs_diff(workload_start) as f64 / 1e6;
    assert!(
        delay_ms < 1000.0,
        "first partition {delay_ms} ms from the first operation"
    );
}

#[test]
fn a_client_request_waits_behind_a_peer_message_at_the_head_of_the_queue() {
    // On each request, probe-kv --note-next first sends a note to the next node, due
    // --latency later. That note becomes the head of the next node's queue, and that
    // node's delivery thread sleeps until it is due: client requests arriving meanwhile
    // wait behind it, as in Maelstrom's recv!. Delivered at their own deadlines, they
    // would be answered in about a millisecond.
    let median_latency = |latency: &str, seed: &str| {
        let dir = workdir(&format!("head-of-line-{latency}"));
        let run = run_fixture(
            &dir,
            "probe-kv.py",
            &format!(
                "--node-count 3 --rate 60 --time-limit 3 --latency {latency} --seed {seed} -- \
                 --note-next"
            ),
        );
        assert_eq!(run.code, 0);
        median(latencies_ms(&history(&dir)))
    };
    let without_latency = median_latency("0", "5");
    let with_latency = median_latency("100", "5");
    assert!(
        without_latency < 20.0,
        "median {without_latency} ms at --latency 0"
    );
    assert!(
        with_latency > 40.0,
        "median {with_latency} ms at --latency 100"
    );
}

#[test]
fn no_start_up_message_is_dropped() {
    let dir = workdir("start-up");
    // probe-kv --hello greets every peer on init, before answering it. The runner inits
    // nodes one after another, so the peers not yet initialised hear n0's hello before
    // their own init; a network that held messages until init_ok would lose them.
    let run = run_fixture(
        &dir,
        "probe-kv.py",
        "--node-count 5 --rate 20 --time-limit 1 --seed 6 -- --hello",
    );
    // The verdict of so short a run is beside the point; the run must not crash.
    assert!(matches!(run.code, 0 | 1), "exit {}", run.code);
    let nodes = ["n0", "n1", "n2", "n3", "n4"];
    for node in nodes {
        let log = node_log(&dir, node);
        for peer in nodes.iter().filter(|peer| **peer != node) {
            assert!(
                log.contains(&format!("hello from {peer} ")),
                "{node} never heard {peer}: {log}"
            );
        }
        if node != "n0" {
            assert!(
                log.contains("hello from n0 before init"),
                "{node}.log: {log}"
            );
        }
    }
}

#[test]
fn operations_in_flight_at_the_time_limit_finish_under_the_partition_in_force() {
    let dir = workdir("drain");
    // The first partition starts at once and, with a 100 s interval, lasts past the time
    // limit. single-leader-kv's followers forward to n0 and relay its answers: across
    // the cut, their clients wait out the 1 s timeout, so some are still waiting at the
    // time limit.
    let run = run_fixture(
        &dir,
        "single-leader-kv.py",
        "--node-count 5 --rate 50 --time-limit 3 --seed 7 --nemesis partition \
         --nemesis-interval 100",
    );
    assert_eq!(run.code, 0);
    let events = nemesis_events(&dir);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["partition-start", "heal"], "{events:?}");
    assert_ne!(
        events[0]["cut"],
        serde_json::json!({}),
        "a partition that cuts"
    );

    let history = history(&dir);
    let last_invoke = history
        .iter()
        .filter(|event| event["type"] == "invoke")
        .map(time)
        .max()
        .unwrap();
    let late_timeouts = history
        .iter()
        .filter(|event| event["type"] == "info" && time(event) > last_invoke)
        .count();
    assert!(
        late_timeouts > 0,
        "some operation timed out after the last invocation"
    );
    let last_completion = history.iter().map(time).max().unwrap();
    let heal = time(&events[1]);
    assert!(
        heal >= last_completion,
        "healed at {heal} ns, before the last completion at {last_completion} ns"
    );
}
