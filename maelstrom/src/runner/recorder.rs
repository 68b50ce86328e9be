//! State every part of a run shares: the run's clock, the first reason the run must stop
//! (a crash), its jepsen.log, the journal of messages behind messages.svg, and the two
//! logs that become history.jsonl and nemesis.jsonl.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::journal::{self, Journal, Level, Source};
use crate::history::{Event, EventType, NemesisEvent};
use crate::plot::messages::{self, Message, NetEvent, JOURNAL_LIMIT};

pub struct RunState {
    start: Instant,
    /// jepsen.log, kept here because everything that has something to tell it holds
    /// the run's state already.
    journal: Journal,
    /// Why the run crashed; the first reason wins, later ones are consequences.
    crash: Mutex<Option<String>>,
    crashed: AtomicBool,
    /// Set once the runner starts killing nodes on purpose: node exits and stray output
    /// no longer count against the node from then on.
    tearing_down: AtomicBool,
    /// Set at the time limit: no operation starts after it, and clients that are done
    /// close while nodes may still answer their last requests.
    workload_over: AtomicBool,
    messages: Mutex<MessageJournal>,
}

/// The first [`JOURNAL_LIMIT`] sends and receipts after init, for messages.svg.
#[derive(Default)]
struct MessageJournal {
    journal: messages::Journal,
    /// The messages whose sends are in the journal: their receipts go in too, even past
    /// the limit, so that no arrow is cut short.
    kept: HashSet<u64>,
}

impl RunState {
    pub fn new(journal: Journal) -> Self {
        RunState {
            start: Instant::now(),
            journal,
            crash: Mutex::new(None),
            crashed: AtomicBool::new(false),
            tearing_down: AtomicBool::new(false),
            workload_over: AtomicBool::new(false),
            messages: Mutex::new(MessageJournal::default()),
        }
    }

    /// The network sent a message (the network calls this as it routes one).
    pub fn message_sent(&self, id: u64, src: &str, dest: &str, body: &Map<String, Value>) {
        // Init and its reply come before the run proper; Maelstrom leaves them out too.
        if matches!(
            body.get("type").and_then(Value::as_str),
            Some("init" | "init_ok")
        ) {
            return;
        }
        let mut messages = self.messages.lock().unwrap();
        if messages.journal.events.len() >= JOURNAL_LIMIT {
            messages.journal.left_out += 1;
            return;
        }
        messages.kept.insert(id);
        let time = self.now_nanos();
        let message = Message::new(id, src, dest, body);
        messages
            .journal
            .events
            .push(NetEvent::Sent { time, message });
    }

    /// A message reached its receiver (a node's stdin or a client).
    pub fn message_received(&self, id: u64) {
        let mut messages = self.messages.lock().unwrap();
        if messages.kept.remove(&id) {
            let time = self.now_nanos();
            messages
                .journal
                .events
                .push(NetEvent::Received { time, id });
        } else if messages.journal.events.len() >= JOURNAL_LIMIT {
            messages.journal.left_out += 1;
        }
    }

    /// The journal so far, for messages.svg.
    pub fn message_journal(&self) -> messages::Journal {
        self.messages.lock().unwrap().journal.clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Nanoseconds since the start of the run, the time unit of both logs.
    pub fn now_nanos(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// One line of jepsen.log, on the run's clock.
    pub fn log(&self, level: Level, source: Source, text: &str) {
        self.journal.write(self.start, level, source, text);
    }

    /// A line for the user on stderr, which jepsen.log keeps too.
    pub fn say(&self, level: Level, text: &str) {
        eprintln!("harness: {text}");
        self.log(level, Source::Harness, text);
    }

    /// Records why the run cannot go on. Ignored during teardown, when nodes die and
    /// pipes break because the runner is stopping them.
    pub fn crash(&self, reason: String) {
        if self.is_tearing_down() {
            return;
        }
        let mut crash = self.crash.lock().unwrap();
        if crash.is_none() {
            // Logged now, not only at the end, so that the log shows when it happened.
            self.log(Level::Error, Source::Harness, &format!("crash: {reason}"));
            *crash = Some(reason);
            self.crashed.store(true, Ordering::SeqCst);
        }
    }

    pub fn has_crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    pub fn crash_reason(&self) -> Option<String> {
        self.crash.lock().unwrap().clone()
    }

    pub fn begin_teardown(&self) {
        self.tearing_down.store(true, Ordering::SeqCst);
    }

    pub fn is_tearing_down(&self) -> bool {
        self.tearing_down.load(Ordering::SeqCst)
    }

    pub fn end_workload(&self) {
        self.workload_over.store(true, Ordering::SeqCst);
    }

    pub fn is_workload_over(&self) -> bool {
        self.workload_over.load(Ordering::SeqCst)
    }
}

/// Running totals for the progress line, so it need not scan the history.
#[derive(Default)]
pub struct OpCounts {
    pub invoked: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

/// The client history, in the order events happened.
pub struct HistoryLog {
    events: Mutex<Vec<Event>>,
    pub counts: OpCounts,
}

impl HistoryLog {
    pub fn new() -> Self {
        HistoryLog {
            events: Mutex::new(Vec::new()),
            counts: OpCounts::default(),
        }
    }

    /// Appends an event, stamping its time under the lock so that times never go
    /// backwards along the file.
    pub fn record(&self, run: &RunState, mut event: Event) {
        let counter = match event.kind {
            EventType::Invoke => &self.counts.invoked,
            EventType::Ok => &self.counts.ok,
            EventType::Fail => &self.counts.fail,
            EventType::Info => &self.counts.info,
        };
        let mut events = self.events.lock().unwrap();
        event.time = run.now_nanos();
        events.push(event);
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// The faults injected and membership changes made, plus for the progress line a
/// description of the fault in force now and of the last membership change.
pub struct NemesisLog {
    events: Mutex<Vec<NemesisEvent>>,
    active: Mutex<String>,
    membership: Mutex<String>,
}

impl NemesisLog {
    pub fn new() -> Self {
        NemesisLog {
            events: Mutex::new(Vec::new()),
            active: Mutex::new(String::new()),
            membership: Mutex::new(String::new()),
        }
    }

    /// Appends an event and tells jepsen.log, under the lock so that both files have
    /// the events in the same order.
    pub fn record(&self, run: &RunState, mut event: NemesisEvent) {
        let mut events = self.events.lock().unwrap();
        event.time = run.now_nanos();
        run.log(
            Level::Info,
            journal::source_of(&event),
            &journal::describe(&event),
        );
        events.push(event);
    }

    pub fn set_active(&self, description: String) {
        *self.active.lock().unwrap() = description;
    }

    pub fn active(&self) -> String {
        self.active.lock().unwrap().clone()
    }

    pub fn set_membership(&self, description: String) {
        *self.membership.lock().unwrap() = description;
    }

    /// The last membership change and its outcome; empty before the first.
    pub fn membership(&self) -> String {
        self.membership.lock().unwrap().clone()
    }

    pub fn snapshot(&self) -> Vec<NemesisEvent> {
        self.events.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(kind: &str) -> Map<String, Value> {
        json!({"type": kind}).as_object().unwrap().clone()
    }

    #[test]
    fn the_message_journal_skips_init_and_stops_at_its_limit() {
        let run = RunState::new(Journal::new(std::io::sink()));
        run.message_sent(0, "c0", "n0", &body("init"));
        run.message_received(0);
        run.message_sent(1, "n0", "c0", &body("init_ok"));
        run.message_received(1);
        assert!(run.message_journal().events.is_empty());

        // Fill the journal with sends; the last one's receipt still goes in past the
        // limit, while what is sent after it is only counted.
        let limit = JOURNAL_LIMIT as u64;
        for id in 2..limit + 2 {
            run.message_sent(id, "n0", "n1", &body("ping"));
        }
        run.message_sent(limit + 2, "n0", "n1", &body("ping"));
        run.message_received(limit + 1);
        run.message_received(limit + 2);
        let journal = run.message_journal();
        assert_eq!(journal.events.len(), JOURNAL_LIMIT + 1);
        assert!(matches!(
            journal.events.last(),
            Some(NetEvent::Received { id, .. }) if *id == limit + 1
        ));
        assert_eq!(journal.left_out, 2);
        let times: Vec<u64> = journal
            .events
            .iter()
            .map(|event| match event {
                NetEvent::Sent { time, .. } | NetEvent::Received { time, .. } => *time,
            })
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
    }
}
