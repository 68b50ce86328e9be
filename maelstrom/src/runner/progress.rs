//! The live progress line on stderr: elapsed time, operations so far, the fault in
//! force and, under `--nemesis membership`, the last membership change. On a terminal it is redrawn in place every second; otherwise (CI logs) a plain
//! line is printed every few seconds. jepsen.log gets it every few seconds either way.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::journal::{Level, Source};
use super::recorder::{HistoryLog, NemesisLog, RunState};

const TERMINAL_REFRESH: Duration = Duration::from_secs(1);
const LOG_REFRESH: Duration = Duration::from_secs(5);

pub struct Progress {
    pub run: Arc<RunState>,
    pub history: Arc<HistoryLog>,
    pub nemesis: Arc<NemesisLog>,
    pub time_limit: Duration,
    /// Disconnected when the display must end.
    pub stop: Receiver<()>,
}

impl Progress {
    pub fn run(self) {
        let terminal = std::io::stderr().is_terminal();
        let refresh = if terminal {
            TERMINAL_REFRESH
        } else {
            LOG_REFRESH
        };
        let mut next_journal = Instant::now() + LOG_REFRESH;
        while let Err(RecvTimeoutError::Timeout) = self.stop.recv_timeout(refresh) {
            let line = self.line();
            if Instant::now() >= next_journal {
                self.run.log(Level::Info, Source::Harness, &line);
                next_journal += LOG_REFRESH;
            }
            let mut stderr = std::io::stderr().lock();
            // \x1b[K clears what a longer previous line left behind.
            let _ = if terminal {
                write!(stderr, "\r{line}\x1b[K")
            } else {
                writeln!(stderr, "{line}")
            };
            let _ = stderr.flush();
        }
        if terminal {
            eprintln!();
        }
    }

    fn line(&self) -> String {
        let counts = &self.history.counts;
        let faults = match self.nemesis.active() {
            active if active.is_empty() => "none".to_string(),
            active => active,
        };
        let membership = match self.nemesis.membership() {
            last if last.is_empty() => String::new(),
            last => format!(" | membership: {last}"),
        };
        format!(
            "[{:>5.1}s/{}s] ops {} ok {} fail {} info {} | faults: {}{}",
            self.run.elapsed().as_secs_f64(),
            self.time_limit.as_secs_f64(),
            counts.invoked.load(Ordering::Relaxed),
            counts.ok.load(Ordering::Relaxed),
            counts.fail.load(Ordering::Relaxed),
            counts.info.load(Ordering::Relaxed),
            faults,
            membership
        )
    }
}
