//! `harness check`: re-checks a history file, this runner's or one written elsewhere
//! (Jepsen's events need no `node`, and their errors may be plain strings), and prints
//! the verdict, why it is not valid, and the workload section of results.json.

use std::path::Path;
use std::time::Duration;

use super::results::RunFigures;
use crate::checker;
use crate::history::read_history;

/// Checks the history at `path` and returns the exit code of its verdict, or why the
/// file cannot be checked (not found, not events, or a process that does not
/// alternate invocation and completion), naming the line.
pub fn check_file(path: &Path, budget: Duration) -> Result<i32, String> {
    let history = read_history(path).map_err(|error| format!("{error:#}"))?;
    let report = checker::check(&history, budget);
    let workload = report.to_json();
    let figures = RunFigures::new(&history, Some(report), None, Default::default());
    let verdict = figures.verdict();
    let (head, _) = figures.summary_parts("");
    for line in head {
        println!("{line}");
    }
    let total = figures.stats.total;
    println!(
        "ops: {} (ok {}, fail {}, info {})",
        total.count(),
        total.ok,
        total.fail,
        total.info
    );
    match serde_json::to_string_pretty(&workload) {
        Ok(text) => println!("workload: {text}"),
        Err(error) => eprintln!("harness: cannot print the checker's report: {error}"),
    }
    Ok(verdict.exit_code())
}
