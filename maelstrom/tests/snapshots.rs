//! raft-ng under the runner with frequent snapshots (`--snapshot-entries 50`): runs
//! with partitions, pauses and kills stay valid while every server compacts its log
//! every few hundred milliseconds, and a server that joins after the log was compacted
//! catches up from the leader's snapshot.
//!
//! Needs the node binary next to the harness: `cargo build --release --workspace`
//! first (scripts/test.sh does). Runs one at a time: each is a cluster of processes
//! with 1-second client timeouts, and two at once on a small machine would measure the
//! machine rather than the node.

mod common;

use std::sync::Mutex;

use common::{assert_valid_and_busy, busy, lin_kv, node_logs, raft_ng, results, workdir};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A run of 5 nodes, 2n clients at 100 ops/s, nodes snapshotting every 50 entries,
/// under `nemesis`, with runner flags `extra` and node flags `node_extra`; asserts it
/// was valid and returns its results and the nodes' logs.
fn snapshotting_run(test: &str, nemesis: &str, extra: &str, node_extra: &str) -> (Value, String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workdir("snapshots", test);
    let run = lin_kv(
        &dir,
        &raft_ng(),
        &format!(
            "{} --nemesis {nemesis} --nemesis-interval 3 {extra} \
             -- --snapshot-entries 50 {node_extra}",
            busy("5", "20", "7")
        ),
    );
    let results = results(&dir);
    assert_valid_and_busy(test, &run, &results);
    (results, node_logs(&dir))
}

/// How many snapshots the nodes installed from a leader, by what they logged.
fn installs(logs: &str) -> usize {
    logs.matches("installed a snapshot").count()
}

#[test]
fn partitions_with_frequent_snapshots_stay_valid() {
    let (_, logs) = snapshotting_run("partition", "partition", "", "");
    eprintln!("partition run: {} snapshots installed", installs(&logs));
}

#[test]
fn pauses_with_frequent_snapshots_stay_valid() {
    let (_, logs) = snapshotting_run("pause", "pause", "", "");
    eprintln!("pause run: {} snapshots installed", installs(&logs));
}

/// Two servers start outside the cluster; by the time the membership nemesis adds
/// them, the leader has compacted its log many times over, so they can only catch up
/// from its snapshot.
#[test]
fn a_server_joining_after_compaction_catches_up_by_snapshot() {
    let (results, logs) = snapshotting_run("membership", "membership", "", "--initial-voters 3");
    let membership = &results["membership"];
    assert_eq!(membership["voters-seen"]["max"], 5, "{membership}");
    let joined = ["n3", "n4"].iter().any(|id| {
        logs.lines()
            .any(|l| l.starts_with(&format!("{id}: installed a snapshot")))
    });
    assert!(
        joined,
        "neither n3 nor n4 installed a snapshot; {} installs in all",
        installs(&logs)
    );
}

/// Kills need data directories: nodes restart from FileStorage's snapshot files.
#[test]
fn kills_with_frequent_snapshots_stay_valid() {
    let (_, logs) = snapshotting_run("kill", "kill", "--node-data-dir", "");
    let restarts_from_snapshot = logs
        .lines()
        .filter(|l| l.contains("starting at term") && !l.contains("a snapshot up to 0 "))
        .count();
    assert!(
        restarts_from_snapshot > 0,
        "no node restarted from a snapshot"
    );
}
