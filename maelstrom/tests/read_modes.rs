//! raft-ng's two read modes through this runner. Leases (the default, asked for here by
//! name) with the faults that threaten a lease: partitions (a deposed leader cut off
//! with its lease), pauses (a leader that wakes after its lease ran out) and kills (a
//! server that restarts and must not vote at once). ReadIndex alone (`--read-mode
//! index`) under all of them at once. Every run must be valid.
//!
//! The node is the one `cargo build --release --workspace` put next to the harness
//! binary; `scripts/test.sh` builds it first.

mod common;

use common::{assert_valid_and_busy, busy, lin_kv, raft_ng, results, workdir};

/// 5 nodes, 2n clients at 100 ops/s for 20 s, under `nemesis` every 2 s, reading in
/// `mode`; asserts the run was valid and got reads done.
fn read_run(test: &str, mode: &str, nemesis: &str, durable: bool) {
    let dir = workdir("read-modes", test);
    let data_dir = if durable { "--node-data-dir" } else { "" };
    let run = lin_kv(
        &dir,
        &raft_ng(),
        &format!(
            "{} --nemesis {nemesis} --nemesis-interval 2 {data_dir} -- --read-mode {mode}",
            busy("5", "20", "12")
        ),
    );
    let results = results(&dir);
    assert_valid_and_busy(test, &run, &results);
    let reads = &results["stats"]["by-f"]["read"];
    let ok_reads = reads["ok-count"].as_u64().unwrap_or(0);
    assert!(ok_reads > 100, "{test}: only {ok_reads} reads ok: {reads}");
}

#[test]
fn lease_reads_with_partitions() {
    read_run("lease-partition", "lease", "partition", false);
}

#[test]
fn lease_reads_with_pauses() {
    read_run("lease-pause", "lease", "pause", false);
}

#[test]
fn lease_reads_with_kills_and_pauses() {
    read_run("lease-kill-pause", "lease", "kill,pause", true);
}

#[test]
fn read_index_with_partitions_kills_and_pauses() {
    read_run("index-all", "index", "partition,kill,pause", true);
}
