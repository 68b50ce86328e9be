//! The command line of `harness`, end to end: Maelstrom's flags accepted and doing what
//! they say, the ones that mean nothing for lin-kv refused with 254 and the reason, and
//! the runner's own rules (`--nemesis kill` needs `--node-data-dir`). Runs use the
//! fixture nodes in `fixtures/`, each in its own working directory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{fixture, harness, history, latest, read_latest, results, Finished, Workdir};

fn workdir(test: &str) -> Workdir {
    common::workdir("harness-cli", test)
}

/// `harness test --bin fixtures/single-leader-kv.py <args>` in `dir`, with the workload
/// left to its default; `args` are split at white space.
fn test_single_leader(dir: &Path, args: &str) -> Finished {
    let node = fixture("single-leader-kv.py");
    let mut all = vec!["test", "--bin", &node];
    all.extend(args.split_whitespace());
    harness(dir, &all)
}

/// jepsen.log lines logging one message as `send {...}` or `recv {...}`, parsed.
fn logged_messages(log: &str, what: &str) -> Vec<Value> {
    let marker = format!("] {what} {{");
    log.lines()
        .filter_map(|line| line.find(&marker).map(|at| &line[at + marker.len() - 1..]))
        .map(|json| serde_json::from_str(json).expect("a logged message is JSON"))
        .collect()
}

#[test]
fn bad_arguments_exit_254_and_say_what_is_wrong() {
    let dir = workdir("bad");
    let node = fixture("single-leader-kv.py");
    // A short time limit, so that a case wrongly accepted does not hold the test up; a
    // flag given again later overrides it.
    let base = ["test", "--bin", node.as_str(), "--time-limit", "1"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["--frobnicate"], &["unexpected argument '--frobnicate'"]),
        (&["--rate", "-1"], &["--rate", "can't be negative"]),
        (&["--rate", "fast"], &["'fast' for '--rate <RATE>'"]),
        (
            &["--time-limit", "0"],
            &["--time-limit", "must be positive"],
        ),
        (&["--latency-dist", "normal"], &["'normal'", "constant"]),
        (
            &["--node-count", "3", "--concurrency", "4"],
            &["not a multiple of 2 x node-count (6)"],
        ),
        (
            &["--nemesis", "flood"],
            &["\"flood\"", "partition, kill, pause or membership"],
        ),
        (
            &["--availability", "2"],
            &["--availability", "between 0 and 1"],
        ),
        (
            &["-w", "broadcast"],
            &["runs only lin-kv", "broadcast workload"],
        ),
        (&["-w", "frob"], &["unknown workload"]),
        (&["--nodes", "n1,c2"], &["\"c2\"", "reserves for clients"]),
        (
            &["--nemesis", "partition,kill"],
            &[
                "--nemesis kill needs --node-data-dir",
                "restarts empty",
                "lacks committed entries",
            ],
        ),
        (
            &["--topology", "grid"],
            &["--topology does not apply to lin-kv", "broadcast"],
        ),
        (
            &["--consistency-models", "serializable"],
            &[
                "--consistency-models does not apply to lin-kv",
                "linearizability",
            ],
        ),
        (
            &["--key-count", "2"],
            &["--key-count does not apply to lin-kv"],
        ),
        (
            &["--max-txn-length", "2"],
            &["--max-txn-length does not apply to lin-kv"],
        ),
        (
            &["--max-writes-per-key", "2"],
            &["--max-writes-per-key does not apply to lin-kv"],
        ),
        (&["--no-ssh"], &["--no-ssh does not apply", "local process"]),
        (
            &["--username", "root"],
            &["--username does not apply", "SSH"],
        ),
        (
            &["--leave-db-running"],
            &["--leave-db-running does not apply"],
        ),
        (&["--logging-json"], &["--logging-json is not supported"]),
        (
            &["stray"],
            &["unexpected argument 'stray'", "[-- <NODE_ARGS>...]"],
        ),
    ];
    for (extra, expected) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let run = harness(&dir, &args);
        assert_eq!(run.code, 254, "{extra:?}");
        for text in *expected {
            assert!(
                run.stderr.contains(text),
                "{extra:?}: {text:?} in {}",
                run.stderr
            );
        }
    }
    let run = harness(&dir, &["test"]);
    assert_eq!(run.code, 254);
    assert!(run.stderr.contains("--bin <FILE>"), "{}", run.stderr);
    let run = harness(&dir, &[]);
    assert_eq!(run.code, 254, "no command is a mistake, as in Maelstrom");
    assert!(run.stderr.contains("Usage: harness"), "{}", run.stderr);
    assert!(!dir.join("store").exists(), "bad arguments start no run");
}

#[test]
fn help_lists_maelstrom_flags_and_exits_0() {
    let dir = workdir("help");
    let run = harness(&dir, &["test", "--help"]);
    assert_eq!(run.code, 0);
    for flag in [
        "-w, --workload",
        "--bin",
        "--node-count",
        "-n, --node",
        "--nodes",
        "--nodes-file",
        "--concurrency",
        "--rate",
        "--time-limit",
        "--latency",
        "--latency-dist",
        "--nemesis",
        "--nemesis-interval",
        "--availability",
        "--log-stderr",
        "--log-net-send",
        "--log-net-recv",
        "--test-count",
        "--node-data-dir",
        "--seed",
        "--check-budget",
        "--topology",
        "254 bad arguments",
    ] {
        assert!(
            run.stdout.contains(flag),
            "{flag} missing from:\n{}",
            run.stdout
        );
    }
    let run = harness(&dir, &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("check"), "{}", run.stdout);
}

/// No `-w` (lin-kv is the default), node ids from Jepsen's `--nodes` and `--node`, and
/// `--log-net-send` alone: sends are logged, deliveries are not. The stored history
/// then re-checks with `harness check --check-budget`.
#[test]
fn workload_defaults_to_lin_kv_with_named_nodes_and_logged_sends() {
    let dir = workdir("defaults");
    let run = test_single_leader(
        &dir,
        "--nodes s1,s2 --node s3 --rate 60 --time-limit 3 --seed 31 --log-net-send",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("with 3 nodes, concurrency 6"),
        "{}",
        run.stderr
    );
    for id in ["s1", "s2", "s3"] {
        assert!(latest(&dir)
            .join("node-logs")
            .join(format!("{id}.log"))
            .exists());
    }
    let log = read_latest(&dir, "jepsen.log");
    let sent = logged_messages(&log, "send");
    let init = sent
        .iter()
        .find(|message| message["body"]["type"] == "init")
        .expect("the inits are logged as sent");
    assert_eq!(
        init["body"]["node_ids"],
        serde_json::json!(["s1", "s2", "s3"])
    );
    assert!(
        sent.iter()
            .any(|message| message["body"]["type"] == "read_ok"),
        "answers are logged as sent"
    );
    assert!(
        logged_messages(&log, "recv").is_empty(),
        "--log-net-recv not given"
    );
    assert!(run.stderr.contains("harness: send {"), "also on stderr");

    let history = latest(&dir).join("history.jsonl");
    let check = harness(
        &dir,
        &["check", history.to_str().unwrap(), "--check-budget", "5"],
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stdout.starts_with("verdict: valid"),
        "{}",
        check.stdout
    );
}

/// Maelstrom's `--rate 0` runs no operation and sleeps out the time limit, under the
/// nemesis. An empty history is valid: Jepsen's stats rule judges only functions that
/// occur, and availability is 1 when nothing was invoked.
#[test]
fn rate_zero_runs_the_time_limit_without_operations() {
    let dir = workdir("rate-zero");
    let run = test_single_leader(
        &dir,
        "--node-count 3 --rate 0 --time-limit 3 --nemesis partition --nemesis-interval 0.5 \
         --seed 32",
    );
    assert_eq!(run.code, 0, "an empty run is valid: {}", run.stdout);
    assert!(run.took >= Duration::from_secs(3), "lasts the time limit");
    assert!(
        run.stdout.contains("ops: 0 (ok 0, fail 0, info 0)"),
        "{}",
        run.stdout
    );
    assert_eq!(history(&dir).len(), 0);
    let results = results(&dir);
    assert_eq!(results["stats"]["count"], 0);
    assert!(results.get("error").is_none(), "no crash: {results}");
    assert_eq!(results["stats"]["valid?"], true, "{results}");
    let nemesis = read_latest(&dir, "nemesis.jsonl");
    assert!(
        nemesis.contains("partition-start"),
        "the nemesis runs meanwhile: {nemesis}"
    );
    // Only the inits went through the network.
    assert_eq!(results["net"]["clients"]["send-count"], 6, "{results}");
}

/// `--availability` fails a run whose ok operations fall short, as Maelstrom's
/// availability checker does. The fixture fails most cas (from is usually stale), so
/// `total` cannot be met while 0 always is. `--log-net-recv` alone logs deliveries.
#[test]
fn availability_goal_decides_validity_and_deliveries_are_logged() {
    let with_availability = |dir: &Path, availability: &str| {
        test_single_leader(
            dir,
            &format!(
                "--node-count 3 --rate 40 --time-limit 2 --seed 33 --availability {availability} \
                 --log-net-recv"
            ),
        )
    };
    let dir = workdir("availability-total");
    let run = with_availability(&dir, "total");
    assert_eq!(run.code, 1, "a failed cas misses total availability");
    assert!(run.stdout.starts_with("verdict: invalid"), "{}", run.stdout);
    assert!(
        run.stderr.contains("short of --availability total"),
        "{}",
        run.stderr
    );
    let stored = results(&dir);
    assert_eq!(stored["availability"]["valid?"], false, "{stored}");
    assert_eq!(stored["valid?"], false, "{stored}");
    assert_eq!(
        stored["workload"]["valid?"], true,
        "linearizable all the same"
    );
    let log = read_latest(&dir, "jepsen.log");
    let received = logged_messages(&log, "recv");
    assert!(
        received
            .iter()
            .any(|message| message["body"]["type"] == "cas"),
        "requests are logged as delivered"
    );
    assert!(
        received
            .iter()
            .any(|message| message["body"]["type"] == "error"),
        "error answers too"
    );
    assert!(
        logged_messages(&log, "send").is_empty(),
        "--log-net-send not given"
    );

    let dir = workdir("availability-zero");
    let run = with_availability(&dir, "0");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(results(&dir)["availability"]["valid?"], true);
}
