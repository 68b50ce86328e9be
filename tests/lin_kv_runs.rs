//! The node under this repository's Maelstrom-compatible runner: lin-kv with faults,
//! judged by the runner's linearizability checker.
//!
//! Needs the harness binary next to the node binary: `cargo build --release --workspace`
//! first (the README's test command does). Runs one at a time: each is a cluster of
//! processes with 1-second client timeouts, and two at once on a small machine would
//! measure the machine rather than the node.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn harness() -> PathBuf {
    let node = PathBuf::from(env!("CARGO_BIN_EXE_raft-ng"));
    let harness = node.with_file_name("harness");
    assert!(
        harness.exists(),
        "{} is missing: run `cargo build --release --workspace` first",
        harness.display()
    );
    harness
}

/// Runs one test, asserts from its results.json that it was valid, and returns them.
fn run_valid(name: &str, args: &[&str]) -> Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("raft-ng-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(harness())
        .current_dir(&dir)
        .args([
            "test",
            "-w",
            "lin-kv",
            "--bin",
            env!("CARGO_BIN_EXE_raft-ng"),
        ])
        .args(args)
        .output()
        .expect("run harness");
    let summary = String::from_utf8_lossy(&output.stdout);
    eprintln!("{name}:\n{summary}");
    let results_path = dir.join("store/latest/results.json");
    let results: Value = std::fs::read_to_string(&results_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| {
            panic!(
                "{name}: no results ({}); stderr:\n{}",
                results_path.display(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(
        results["valid?"],
        Value::Bool(true),
        "{name} was not valid; store kept at {}",
        dir.display()
    );
    assert_eq!(output.status.code(), Some(0), "{name}: exit code");
    let ok = results["stats"]["ok-count"].as_u64().unwrap_or(0);
    assert!(ok > 100, "{name}: only {ok} operations succeeded");
    let _ = std::fs::remove_dir_all(&dir);
    results
}

/// 2n clients at 100 ops/s for `seconds`, under `nemesis` every `interval` seconds.
fn lin_kv(
    name: &str,
    nodes: &str,
    seconds: &str,
    nemesis: &str,
    interval: &str,
    seed: &str,
    durable: bool,
) -> Value {
    let mut args = vec![
        "--node-count",
        nodes,
        "--concurrency",
        "2n",
        "--rate",
        "100",
        "--time-limit",
        seconds,
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        interval,
        "--seed",
        seed,
    ];
    if durable {
        args.push("--node-data-dir");
    }
    if nemesis.contains("membership") {
        // Two servers start outside the cluster, so that it can grow to five.
        args.extend(["--", "--initial-voters", "3"]);
    }
    run_valid(name, &args)
}

/// The membership nemesis really changed the membership: it grew the cluster to every
/// node, and most of its requests succeeded.
fn assert_membership_changed(name: &str, results: &Value) {
    let membership = &results["membership"];
    let ok = membership["ok-count"].as_u64().unwrap_or(0);
    let count = membership["count"].as_u64().unwrap_or(0);
    assert!(
        ok >= 3 && ok * 2 >= count,
        "{name}: only {ok} of {count} membership changes succeeded: {membership}"
    );
    assert_eq!(membership["voters-seen"]["min"], 3, "{name}: {membership}");
    assert_eq!(membership["voters-seen"]["max"], 5, "{name}: {membership}");
}

#[test]
fn three_nodes_with_partitions() {
    lin_kv("3-partition", "3", "20", "partition", "2", "3", false);
}

#[test]
fn five_nodes_with_partitions() {
    lin_kv("5-partition", "5", "30", "partition", "3", "5", false);
}

/// Maelstrom's Raft chapter runs with latency. At 100 ms each way a round trip (200 ms)
/// outlasts the default election timeout: the timing must follow the network, with no
/// flag given.
#[test]
fn five_nodes_with_100_ms_latency() {
    let args = [
        "--node-count",
        "5",
        "--concurrency",
        "2n",
        "--rate",
        "100",
        "--time-limit",
        "20",
        "--latency",
        "100",
        "--seed",
        "5",
    ];
    run_valid("5-latency-100", &args);
}

#[test]
fn five_durable_nodes_killed_and_restarted() {
    lin_kv("5-kill", "5", "30", "kill", "3", "7", true);
}

#[test]
fn five_durable_nodes_paused_and_resumed() {
    lin_kv("5-pause", "5", "30", "pause", "3", "11", true);
}

#[test]
fn five_durable_nodes_under_partitions_kills_and_pauses() {
    lin_kv("5-all", "5", "30", "partition,kill,pause", "2", "13", true);
}

#[test]
fn five_nodes_under_membership_changes() {
    let results = lin_kv("5-membership", "5", "30", "membership", "2", "17", false);
    assert_membership_changed("5-membership", &results);
}

#[test]
fn five_durable_nodes_under_membership_changes_partitions_and_kills() {
    let results = lin_kv(
        "5-membership-all",
        "5",
        "30",
        "membership,partition,kill",
        "2",
        "19",
        true,
    );
    assert_membership_changed("5-membership-all", &results);
}
