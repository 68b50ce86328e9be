//! raft-ng reading under leader leases (`--read-mode lease`) through this runner, with
//! the faults that threaten a lease: partitions (a deposed leader cut off with its
//! lease), pauses (a leader that wakes after its lease ran out) and kills (a server that
//! restarts and must not vote at once). Every run must be valid.
//!
//! The node is the one `cargo build --release --workspace` put next to the harness
//! binary; `scripts/test.sh` builds it first.

mod common;

use common::{assert_valid_and_busy, busy, lin_kv, raft_ng, results, workdir};

/// 5 nodes, 2n clients at 100 ops/s for 20 s, under `nemesis` every 2 s, reading
/// under leases; asserts the run was valid and got reads done.
fn lease_run(test: &str, nemesis: &str, durable: bool) {
    let dir = workdir("lease-reads", test);
    let data_dir = if durable { "--node-data-dir" } else { "" };
    let run = lin_kv(
        &dir,
        &raft_ng(),
        &format!(
            "{} --nemesis {nemesis} --nemesis-interval 2 {data_dir} -- --read-mode lease",
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
