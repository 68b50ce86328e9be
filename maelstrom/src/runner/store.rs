//! The store directory: `store/lin-kv/<time>/` under the current directory, with
//! `store/latest` (and `store/lin-kv/latest`) pointing at the newest run, as Maelstrom does,
//! and the files a finished run leaves in it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::results::RunFigures;
use crate::history::{write_jsonl, Event, NemesisEvent};
use crate::plot::{self, messages};

pub struct RunDir {
    /// `store/lin-kv/<time>`, relative to the current directory, for messages.
    pub relative: PathBuf,
    /// The same, absolute: nodes run in /tmp and must find their data directory.
    pub absolute: PathBuf,
}

impl RunDir {
    pub fn node_logs(&self) -> PathBuf {
        self.absolute.join("node-logs")
    }

    pub fn data(&self) -> PathBuf {
        self.absolute.join("data")
    }
}

/// Creates a fresh run directory (with node-logs/) and points the `latest` links at it.
pub fn create_run_dir() -> Result<RunDir> {
    let workload_dir = Path::new("store").join("lin-kv");
    fs::create_dir_all(&workload_dir)
        .with_context(|| format!("creating {}", workload_dir.display()))?;
    let stamp = utc_timestamp(SystemTime::now());
    // Two runs within the same millisecond get distinct directories.
    let mut name = stamp.clone();
    let mut attempt = 1;
    while workload_dir.join(&name).exists() {
        attempt += 1;
        name = format!("{stamp}-{attempt}");
    }
    let relative = workload_dir.join(&name);
    fs::create_dir_all(relative.join("node-logs"))
        .with_context(|| format!("creating {}", relative.display()))?;
    let absolute =
        fs::canonicalize(&relative).with_context(|| format!("resolving {}", relative.display()))?;
    point_link(
        &Path::new("store").join("latest"),
        &Path::new("lin-kv").join(&name),
    )?;
    point_link(&workload_dir.join("latest"), Path::new(&name))?;
    Ok(RunDir { relative, absolute })
}

/// Writes a finished run's files: history.jsonl, nemesis.jsonl, the perf graphs,
/// timeline.html, messages.svg, then results.json, whose sections say whether each
/// picture was written. Only a history or results file that cannot be written is an
/// error: the run's verdict would be lost.
pub fn write_run(
    run_dir: &RunDir,
    figures: &mut RunFigures,
    seed: u64,
    history: &[Event],
    nemesis: &[NemesisEvent],
    messages: &messages::Journal,
) -> Result<()> {
    let dir = &run_dir.absolute;
    write_jsonl(&dir.join("history.jsonl"), history)?;
    write_jsonl(&dir.join("nemesis.jsonl"), nemesis)?;
    let failure = |error: anyhow::Error| format!("{error:#}");
    figures.perf = plot::write_plots(dir, history, nemesis)
        .map(drop)
        .map_err(failure);
    figures.timeline = plot::write_timeline(dir, history, nemesis, figures.check.as_ref())
        .map(drop)
        .map_err(failure);
    figures.messages = plot::write_messages(dir, messages)
        .map(drop)
        .map_err(failure);
    let results_path = dir.join("results.json");
    let text = serde_json::to_string_pretty(&figures.to_json(seed))?;
    fs::write(&results_path, text + "\n")
        .with_context(|| format!("writing {}", results_path.display()))
}

/// Makes `link` a symlink to `target` (relative to the link's directory).
fn point_link(link: &Path, target: &Path) -> Result<()> {
    if fs::symlink_metadata(link).is_ok() {
        fs::remove_file(link).with_context(|| format!("replacing {}", link.display()))?;
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} to {}", link.display(), target.display()))
}

/// `20240131T235959.123Z`-style UTC time, like Jepsen's store names.
fn utc_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        let time = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(utc_timestamp(time), "20240229T235959.123Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000.000Z");
    }
}
