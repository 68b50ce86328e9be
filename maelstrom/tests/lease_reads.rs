//! raft-ng reading under leader leases (`--read-mode lease`) through this runner, with
//! the faults that threaten a lease: partitions (a deposed leader cut off with its
//! lease), pauses (a leader that wakes after its lease ran out) and kills (a server that
//! restarts and must not vote at once). Every run must be valid.
//!
//! The node is the one `cargo build --release --workspace` put next to the harness
//! binary; `scripts/test.sh` builds it first.

mod common;

use std::path::PathBuf;

use common::{harness, results, workdir};

fn node() -> PathBuf {
    let node = PathBuf::from(common::HARNESS).with_file_name("raft-ng");
    assert!(
        node.exists(),
        "{} is missing: run `cargo build --release --workspace` first",
        node.display()
    );
    node
}

/// 5 nodes, 2n clients at 100 ops/s for 20 s, under `nemesis` every 2 s, reading
/// under leases; asserts the run was valid and got work done.
fn lease_run(test: &str, nemesis: &str, durable: bool) {
    let dir = workdir("lease-reads", test);
    let node = node();
    let mut args = vec![
        "test",
        "-w",
        "lin-kv",
        "--bin",
        node.to_str().expect("a UTF-8 path"),
        "--node-count",
        "5",
        "--concurrency",
        "2n",
        "--rate",
        "100",
        "--time-limit",
        "20",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "2",
        "--seed",
        "12",
    ];
    if durable {
        args.push("--node-data-dir");
    }
    args.extend(["--", "--read-mode", "lease"]);
    let finished = harness(&dir, &args);
    let results = results(&dir);
    assert_eq!(results["valid?"], true, "{test}: not valid");
    assert_eq!(finished.code, 0, "{test}: exit code");
    let reads = &results["stats"]["by-f"]["read"];
    let ok_reads = reads["ok-count"].as_u64().unwrap_or(0);
    assert!(ok_reads > 100, "{test}: only {ok_reads} reads ok: {reads}");
}

#[test]
fn lease_reads_with_partitions() {
    lease_run("partition", "partition", false);
}

#[test]
fn lease_reads_with_pauses() {
    lease_run("pause", "pause", false);
}

#[test]
fn lease_reads_with_kills_and_pauses() {
    lease_run("kill-pause", "kill,pause", true);
}
