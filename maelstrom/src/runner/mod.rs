//! The Maelstrom-compatible runner: `harness test` runs a node binary under the lin-kv
//! workload and `harness check` re-checks a stored history.
//!
//! - [`cli`]: flags and their validation.
//! - `run`: one test from start to verdict.
//! - `process`: node processes and the signals sent to them.
//! - `network`: message schema checks, per-node delivery queues, latency, partitions.
//! - `client` and `workload`: init, worker threads, and the lin-kv rules they follow.
//! - `nemesis`: partition, kill and pause faults.
//! - `membership`: membership changes through the node's admin API.
//! - `recorder`, `journal`, `progress`, `results`, `store`: what a run records, shows and
//!   leaves behind.
//! - `check`: `harness check` on a history file.

mod check;
pub mod cli;
mod client;
mod journal;
mod membership;
mod nemesis;
mod network;
mod process;
mod progress;
mod recorder;
mod results;
mod run;
mod store;
mod workload;

use std::path::Path;
use std::time::Duration;

use cli::{Command, TestOptions};
use results::Verdict;

/// Exit code for bad arguments, as Maelstrom uses.
const EXIT_USAGE: i32 = 254;

/// Runs the command line (without the program name) and returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(error) => {
            // Help asked for goes to stdout and is a success; a mistake is 254.
            let _ = error.print();
            return if error.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match command {
        Command::Test(options) => run_tests(&options, &journal::command_line(args)),
        Command::Check {
            history,
            check_budget,
        } => check_stored(&history, check_budget),
    }
}

fn usage_failure(message: &str) -> i32 {
    eprintln!("harness: {message}\nrun `harness --help` for usage");
    EXIT_USAGE
}

/// Runs the test `--test-count` times (seeds seed, seed+1, ...); the worst verdict wins.
/// `command_line` is for each run's jepsen.log.
fn run_tests(options: &TestOptions, command_line: &str) -> i32 {
    let mut worst = Verdict::Valid;
    for index in 0..options.test_count {
        let seed = options.seed.wrapping_add(u64::from(index));
        let header = format!(
            "lin-kv run {}/{} with {} nodes, concurrency {}, seed {seed}",
            index + 1,
            options.test_count,
            options.node_ids.len(),
            options.concurrency
        );
        // Printed before the run has a store directory, so that it comes first even when
        // creating one fails; the run's jepsen.log starts with it.
        eprintln!("harness: {header}");
        let verdict = run::run_test(options, seed, &header, command_line);
        if verdict.severity() > worst.severity() {
            worst = verdict;
        }
    }
    if options.test_count > 1 {
        println!(
            "worst verdict over {} runs: {}",
            options.test_count,
            worst.name()
        );
    }
    worst.exit_code()
}

fn check_stored(path: &Path, check_budget: Duration) -> i32 {
    check::check_file(path, check_budget).unwrap_or_else(|error| usage_failure(&error))
}
