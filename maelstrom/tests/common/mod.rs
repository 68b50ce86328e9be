//! What the end-to-end test files share: running the built harness in a fresh
//! directory and reading what a run left in its store. Each test file uses part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// The path of a fixture node under maelstrom/fixtures/.
pub fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
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
    let output = Command::new(HARNESS)
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

/// The store directory of the latest run in `dir`.
pub fn latest(dir: &Path) -> PathBuf {
    dir.join("store").join("latest")
}

pub fn results(dir: &Path) -> Value {
    let text = fs::read_to_string(latest(dir).join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json is JSON")
}
