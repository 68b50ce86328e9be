//! What the end-to-end test files share: running the built harness in a fresh
//! directory and reading what a run left in its store (`run`), and the fixture nodes.
//! Each test file uses part of it.
#![allow(dead_code)]

mod run;
pub use run::*;

/// The path of a fixture node under maelstrom/fixtures/.
pub fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `harness test -w lin-kv --bin fixtures/<node> <args>` in `dir`.
pub fn run_fixture(dir: &std::path::Path, node: &str, args: &str) -> Finished {
    lin_kv(dir, &fixture(node), args)
}

/// A fault-free run: valid, every function got an ok, and nothing timed out.
pub fn assert_valid_without_faults(results: &serde_json::Value) {
    assert_eq!(results["valid?"], true);
    let stats = &results["stats"];
    for f in ["read", "write", "cas"] {
        assert!(
            stats["by-f"][f]["ok-count"].as_u64().unwrap() > 0,
            "{f} had no ok"
        );
    }
    assert_eq!(stats["info-count"], 0, "nothing times out without faults");
}
