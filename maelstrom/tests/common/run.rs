//! Running the built harness in a fresh directory and reading what a run left in its
//! store. Crate-neutral, so that the root crate's `tests/lin_kv_runs.rs` shares it too
//! (by `#[path]`); each test file uses part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A binary of the workspace. Cargo names its own crate's binary to each test; the
/// other crate's is next to it when `cargo build --release --workspace` ran first.
fn binary(name: &str) -> PathBuf {
    let known = option_env!("CARGO_BIN_EXE_harness")
        .or(option_env!("CARGO_BIN_EXE_raft-ng"))
        .expect("built as a test of the harness or the raft-ng crate");
    let path = Path::new(known).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release --workspace` first",
        path.display()
    );
    path
}

/// The raft-ng node.
pub fn raft_ng() -> String {
    binary("raft-ng")
        .into_os_string()
        .into_string()
        .expect("a UTF-8 path")
}

/// A fresh, empty working directory for one test; removed when the test passes and
/// kept for inspection when it fails.
pub struct Workdir(pub PathBuf);

impl std::ops::Deref for Workdir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A working directory named after the test file's `prefix` and the `test`.
pub fn workdir(prefix: &str, test: &str) -> Workdir {
    let dir = std::env::temp_dir().join(format!("{prefix}-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Workdir(dir)
}

pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `harness <args>` in `dir` and echoes what it printed (shown when a test fails).
pub fn harness(dir: &Path, args: &[&str]) -> Finished {
    let started = Instant::now();
    let output = Command::new(binary("harness"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running the harness");
    let finished = Finished {
        code: output.status.code().expect("the harness exits normally"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    };
    eprintln!(
        "harness {args:?} -> {}\n--- stdout\n{}--- stderr\n{}",
        finished.code, finished.stdout, finished.stderr
    );
    finished
}

/// `harness test -w lin-kv --bin <node> <args>` in `dir`; `args` are split at white
/// space, so that a test writes its flags as one line.
pub fn lin_kv(dir: &Path, node: &str, args: &str) -> Finished {
    let mut all = vec!["test", "-w", "lin-kv", "--bin", node];
    all.extend(args.split_whitespace());
    harness(dir, &all)
}

/// The flags of a busy run: `nodes` nodes, 2n clients at 100 ops/s for `seconds`.
pub fn busy(nodes: &str, seconds: &str, seed: &str) -> String {
    format!("--node-count {nodes} --concurrency 2n --rate 100 --time-limit {seconds} --seed {seed}")
}

/// The latest run was valid, exited 0 and got work done: more than 100 operations ok.
pub fn assert_valid_and_busy(test: &str, run: &Finished, results: &Value) {
    assert_eq!(results["valid?"], true, "{test}: not valid");
    assert_eq!(run.code, 0, "{test}: exit code");
    let ok = results["stats"]["ok-count"].as_u64().unwrap_or(0);
    assert!(ok > 100, "{test}: only {ok} operations succeeded");
}

/// The store directory of the latest run in `dir`.
pub fn latest(dir: &Path) -> PathBuf {
    dir.join("store").join("latest")
}

pub fn results(dir: &Path) -> Value {
    let text = fs::read_to_string(latest(dir).join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// A file of the latest run, as text.
pub fn read_latest(dir: &Path, file: &str) -> String {
    let path = latest(dir).join(file);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A file of the latest run with one JSON value a line.
pub fn json_lines(dir: &Path, file: &str) -> Vec<Value> {
    read_latest(dir, file)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// The latest run's client history.
pub fn history(dir: &Path) -> Vec<Value> {
    json_lines(dir, "history.jsonl")
}

/// The latest run's nemesis events.
pub fn nemesis_events(dir: &Path) -> Vec<Value> {
    json_lines(dir, "nemesis.jsonl")
}

/// What `node` wrote to stderr in the latest run.
pub fn node_log(dir: &Path, node: &str) -> String {
    read_latest(dir, &format!("node-logs/{node}.log"))
}

/// What all the nodes wrote to stderr in the latest run, one log after another.
pub fn node_logs(dir: &Path) -> String {
    let mut logs = String::new();
    for log in fs::read_dir(latest(dir).join("node-logs")).expect("node-logs") {
        logs += &fs::read_to_string(log.unwrap().path()).unwrap();
    }
    logs
}
