//! The floor fixture of scripts/bench.sh (`fixtures/floor-kv.py`) under the runner, so it
//! cannot rot: a short fault-free run must be valid with every function succeeding, and
//! its writes must pay the replication round that makes it the floor for a write.

mod common;
use common::{assert_valid_without_faults, results, run_fixture, workdir};

#[test]
fn floor_fixture_is_valid_and_writes_wait_for_a_round() {
    let dir = workdir("harness-bench-fixture", "floor");
    let run = run_fixture(
        &dir,
        "floor-kv.py",
        "--node-count 5 --latency 10 --rate 50 --time-limit 3 --seed 1",
    );
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("verdict: valid"), "{}", run.stdout);

    let results = results(&dir);
    assert_valid_without_faults(&results);
    // A write reaches the leader and waits for a round trip to the other nodes: at least
    // two 10 ms hops, whatever the machine's speed. A fixture that answered at once, or
    // skipped the round, would be no floor for a write.
    let write_p50 = results["latency"]["write"]["p50"].as_f64().unwrap();
    assert!(write_p50 >= 20.0, "write p50 {write_p50} ms");
}
