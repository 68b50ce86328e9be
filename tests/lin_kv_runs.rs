//! The node under this repository's Maelstrom-compatible runner: lin-kv with faults,
//! judged by the runner's linearizability checker.
//!
//! Needs the harness binary next to the node binary: `cargo build --release --workspace`
//! first (the README's test command does). Runs one at a time: each is a cluster of
//! processes with 1-second client timeouts, and two at once on a small machine would
//! measure the machine rather than the node.

use std::sync::Mutex;

use serde_json::Value;

#[path = "../maelstrom/tests/common/run.rs"]
mod run;
use run::{assert_valid_and_busy, busy, lin_kv, raft_ng, results, workdir};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one test of raft-ng with runner flags `args`, asserts from its results.json
/// that it was valid and busy, and returns them.
fn run_valid(name: &str, args: &str) -> Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workdir("raft-ng", name);
    let run = lin_kv(&dir, &raft_ng(), args);
    let results = results(&dir);
    assert_valid_and_busy(name, &run, &results);
    results
}

/// 2n clients at 100 ops/s for `seconds`, under `nemesis` every `interval` seconds.
fn lin_kv_under(
    name: &str,
    nodes: &str,
    seconds: &str,
    nemesis: &str,
    interval: &str,
    seed: &str,
    durable: bool,
) -> Value {
    let mut args = format!(
        "{} --nemesis {nemesis} --nemesis-interval {interval}",
        busy(nodes, seconds, seed)
    );
    if durable {
        args += " --node-data-dir";
    }
    if nemesis.contains("membership") {
        // Two servers start outside the cluster, so that it can grow to five.
        args += " -- --initial-voters 3";
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
    lin_kv_under("3-partition", "3", "20", "partition", "2", "3", false);
}

#[test]
fn five_nodes_with_partitions() {
    lin_kv_under("5-partition", "5", "30", "partition", "3", "5", false);
}

/// Maelstrom's Raft chapter runs with latency. At 100 ms each way a round trip (200 ms)
/// outlasts the default election timeout: the timing must follow the network, with no
/// flag given.
#[test]
fn five_nodes_with_100_ms_latency() {
    run_valid(
        "5-latency-100",
        &format!("{} --latency 100", busy("5", "20", "5")),
    );
}

#[test]
fn five_durable_nodes_killed_and_restarted() {
    lin_kv_under("5-kill", "5", "30", "kill", "3", "7", true);
}

#[test]
fn five_durable_nodes_paused_and_resumed() {
    lin_kv_under("5-pause", "5", "30", "pause", "3", "11", true);
}

#[test]
fn five_durable_nodes_under_partitions_kills_and_pauses() {
    lin_kv_under("5-all", "5", "30", "partition,kill,pause", "2", "13", true);
}

#[test]
fn five_nodes_under_membership_changes() {
    let results = lin_kv_under("5-membership", "5", "30", "membership", "2", "17", false);
    assert_membership_changed("5-membership", &results);
}

#[test]
fn five_durable_nodes_under_membership_changes_partitions_and_kills() {
    let results = lin_kv_under(
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
