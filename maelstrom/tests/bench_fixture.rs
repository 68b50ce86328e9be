//! The floor fixture of scripts/bench.sh (`fixtures/floor-kv.py`) under the runner, so it
//! cannot rot: a short fault-free run must be valid with every function succeeding, and
//! its writes must pay the replication round that makes it the floor for a write.

use std::fs;
use std::process::Command;

use serde_json::Value;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

#[test]
fn floor_fixture_is_valid_and_writes_wait_for_a_round() {
    let dir = std::env::temp_dir().join(format!("harness-bench-fixture-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let fixture = format!("{}/fixtures/floor-kv.py", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(HARNESS)
        .args([
            "test",
            "-w",
            "lin-kv",
            "--bin",
            &fixture,
            "--node-count",
            "5",
        ])
        .args([
            "--latency",
            "10",
            "--rate",
            "50",
            "--time-limit",
            "3",
            "--seed",
            "1",
        ])
        .current_dir(&dir)
        .output()
        .expect("running the harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verdict: valid"), "{stdout}");

    let results = dir.join("store").join("latest").join("results.json");
    let results: Value = serde_json::from_str(&fs::read_to_string(results).unwrap()).unwrap();
    assert_eq!(results["valid?"], true);
    let stats = &results["stats"];
    for f in ["read", "write", "cas"] {
        assert!(
            stats["by-f"][f]["ok-count"].as_u64().unwrap() > 0,
            "{f} had no ok"
        );
    }
    assert_eq!(stats["info-count"], 0, "nothing times out without faults");
    // A write reaches the leader and waits for a round trip to the other nodes: at least
    // two 10 ms hops, whatever the machine's speed. A fixture that answered at once, or
    // skipped the round, would be no floor for a write.
    let write_p50 = results["latency"]["write"]["p50"].as_f64().unwrap();
    assert!(write_p50 >= 20.0, "write p50 {write_p50} ms");
    let _ = fs::remove_dir_all(&dir);
}
