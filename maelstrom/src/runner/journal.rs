//! `jepsen.log`: the run told as plain text, one line per event, for a human reading
//! the store directory after the fact. Each line is
//!
//! ```text
//!    12.345 INFO  [nemesis] partition-start majority: n0 cannot hear n1,n2; ...
//! ```
//!
//! seconds since the start of the run (the clock of history.jsonl and nemesis.jsonl),
//! a level and where the line comes from. It holds the run's parameters, node starts
//! and inits, every nemesis event, the crash reason, what the harness says on stderr
//! and the summary, but never an operation: history.jsonl has those. A node's own
//! stderr stays in node-logs/.
//!
//! Lines go straight to the file as they happen rather than at the end, so the log is
//! there up to the last event even if the harness itself panics or is killed. There
//! are only tens of lines per run, so writing each one unbuffered costs nothing.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::history::{NemesisEvent, NemesisKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    /// Something went wrong that does not end the run.
    Warn,
    /// The run crashed, or its verdict is not valid.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The runner itself: parameters, stderr lines, progress, teardown, summary.
    Harness,
    /// Node processes: starts and inits.
    Node,
    /// Partitions, kills, restarts, pauses and their undoing.
    Nemesis,
    /// The membership nemesis's requests and outcomes.
    Membership,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Harness => "harness",
            Source::Node => "node",
            Source::Nemesis => "nemesis",
            Source::Membership => "membership",
        }
    }
}

pub struct Journal {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Journal {
    pub fn new(out: impl Write + Send + 'static) -> Journal {
        Journal {
            out: Mutex::new(Box::new(out)),
        }
    }

    /// Writes one line stamped with the time since `start`. The time is read under the
    /// lock, so that times never go backwards along the file.
    pub fn write(&self, start: Instant, level: Level, source: Source, text: &str) {
        let mut out = self.out.lock().unwrap();
        let line = format_line(start.elapsed(), level, source, text);
        // A full disk should not stop the test; the log is for humans.
        let _ = out.write_all(line.as_bytes());
    }
}

/// One line of the file, newline included. A text that spans lines is folded into one
/// (newlines shown as `\n`), so that every line of the file is one event.
fn format_line(at: Duration, level: Level, source: Source, text: &str) -> String {
    let seconds = format!("{}.{:03}", at.as_secs(), at.subsec_millis());
    let text = text.replace('\r', "\\r").replace('\n', "\\n");
    format!(
        "{seconds:>9} {:<5} [{}] {text}\n",
        level.name(),
        source.name()
    )
}

/// Where a nemesis.jsonl event belongs in the journal.
pub fn source_of(event: &NemesisEvent) -> Source {
    match event.kind {
        NemesisKind::Membership => Source::Membership,
        _ => Source::Nemesis,
    }
}

/// A nemesis.jsonl event in words, e.g. `kill n1,n2` or
/// `partition-start one: n0 cannot hear n1,n2; n1 cannot hear n0; n2 cannot hear n0`.
pub fn describe(event: &NemesisEvent) -> String {
    let nodes = event.nodes.join(",");
    match event.kind {
        NemesisKind::PartitionStart => {
            let cut: Vec<String> = event
                .cut
                .iter()
                .flatten()
                .map(|(node, unheard)| format!("{node} cannot hear {}", unheard.join(",")))
                .collect();
            // A shape can cut nothing on a small cluster (minority-third on 3 nodes).
            let cut = if cut.is_empty() {
                "nothing cut".to_string()
            } else {
                cut.join("; ")
            };
            format!(
                "partition-start {}: {cut}",
                event.shape.as_deref().unwrap_or("?"),
            )
        }
        NemesisKind::Heal => "heal".to_string(),
        NemesisKind::Kill => format!("kill {nodes}"),
        NemesisKind::Restart => format!("restart {nodes}"),
        NemesisKind::Pause => format!("pause {nodes}"),
        NemesisKind::Resume => format!("resume {nodes}"),
        NemesisKind::Membership => match &event.membership {
            Some(change) => {
                let outcome = match &change.error {
                    Some((code, text)) => format!("error {code} ({text})"),
                    None => change.outcome.name().to_string(),
                };
                let took = Duration::from_nanos(event.time.saturating_sub(change.sent));
                format!(
                    "{} {} via {}: {outcome} after {:.3} s",
                    change.action,
                    change.node,
                    change.via,
                    took.as_secs_f64()
                )
            }
            None => format!("membership {nodes}"),
        },
    }
}

/// The harness's command line as a shell would take it back: arguments with anything
/// but plain characters in single quotes.
pub fn command_line(args: &[String]) -> String {
    let mut words = vec!["harness".to_string()];
    for arg in args {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+%".contains(c));
        words.push(if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        });
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{MembershipChange, MembershipOutcome};
    use std::collections::BTreeMap;

    fn event(kind: NemesisKind, nodes: &[&str]) -> NemesisEvent {
        NemesisEvent {
            time: 3_000_000_000,
            kind,
            nodes: nodes.iter().map(|node| node.to_string()).collect(),
            shape: None,
            cut: None,
            membership: None,
        }
    }

    #[test]
    fn lines_have_seconds_level_and_source() {
        assert_eq!(
            format_line(
                Duration::from_micros(1_234_999),
                Level::Info,
                Source::Nemesis,
                "heal"
            ),
            "    1.234 INFO  [nemesis] heal\n"
        );
        assert_eq!(
            format_line(Duration::ZERO, Level::Error, Source::Harness, "crash"),
            "    0.000 ERROR [harness] crash\n"
        );
        assert_eq!(
            format_line(
                Duration::from_millis(61_005),
                Level::Warn,
                Source::Membership,
                "a\nb\r\n"
            ),
            "   61.005 WARN  [membership] a\\nb\\r\\n\n"
        );
    }

    #[test]
    fn nemesis_events_in_words() {
        let mut partition = event(NemesisKind::PartitionStart, &["n0", "n1", "n2"]);
        partition.shape = Some("one".into());
        partition.cut = Some(BTreeMap::from([
            ("n0".into(), vec!["n1".into(), "n2".into()]),
            ("n1".into(), vec!["n0".into()]),
            ("n2".into(), vec!["n0".into()]),
        ]));
        assert_eq!(
            describe(&partition),
            "partition-start one: n0 cannot hear n1,n2; n1 cannot hear n0; n2 cannot hear n0"
        );
        partition.shape = Some("minority-third".into());
        partition.cut = Some(BTreeMap::new());
        assert_eq!(
            describe(&partition),
            "partition-start minority-third: nothing cut"
        );
        assert_eq!(describe(&event(NemesisKind::Heal, &["n0", "n1"])), "heal");
        assert_eq!(
            describe(&event(NemesisKind::Kill, &["n1", "n2"])),
            "kill n1,n2"
        );
        assert_eq!(describe(&event(NemesisKind::Resume, &["n2"])), "resume n2");

        let mut change = event(NemesisKind::Membership, &["n3"]);
        change.membership = Some(MembershipChange {
            action: "add_voter".into(),
            node: "n3".into(),
            via: "n1".into(),
            outcome: MembershipOutcome::Error,
            error: Some((11, "change in progress".into())),
            sent: 2_750_000_000,
            voters: vec!["n0".into(), "n1".into(), "n2".into()],
            non_voters: vec![],
            leader: Some("n0".into()),
        });
        assert_eq!(source_of(&change), Source::Membership);
        assert_eq!(
            describe(&change),
            "add_voter n3 via n1: error 11 (change in progress) after 0.250 s"
        );
        assert_eq!(source_of(&partition), Source::Nemesis);
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args: Vec<String> = ["test", "--bin", "./my node", "--", "it's", ""]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        assert_eq!(
            command_line(&args),
            r"harness test --bin './my node' -- 'it'\''s' ''"
        );
    }
}
