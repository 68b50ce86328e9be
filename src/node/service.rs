//! The service threads. The stdin thread only reads lines and routes each to one of a
//! small pool of service threads by a hash of its sender; a service thread parses its
//! lines (outside the lock), enters the monitor once for all of them, changes the core
//! (through the request path for client requests), and leaves the effects to the
//! other threads.
//!
//! One sender's lines always go to the same service thread, which handles them in the
//! order they came: Raft tolerates reordering, but a peer's pipelined AppendEntries and
//! replies arriving out of order would cost rejections and resends.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Sender};

use super::monitor::{Monitor, State};
use super::requests::Outgoing;
use super::threads;
use super::writer::Outbox;
use crate::protocol::{self, Forward, Inbound, Rejected};

/// Service threads by default: two, so that one parses while the other holds the lock.
/// Not more: Maelstrom runs every node on one machine, so the cores are shared already,
/// and each thread more adds switching. (On a 2-core machine running five nodes and the
/// runner, saturated, one thread measured about 15% more ops/s than two: see README.)
pub const DEFAULT_THREADS: usize = 2;

/// The service threads and the lines not yet handed to them.
pub struct Pool {
    workers: Vec<Sender<Vec<u8>>>,
    /// Each worker's next batch: whole lines, each ending in a newline.
    pending: Vec<Vec<u8>>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` service threads (at least one), each calling `handle` with
    /// batches of lines.
    pub fn start(threads: usize, handle: impl Fn(&[u8]) + Clone + Send + 'static) -> Pool {
        let threads = threads.max(1);
        let mut workers = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = unbounded::<Vec<u8>>();
            let handle = handle.clone();
            handles.push(threads::spawn(format!("service-{i}"), move || {
                while let Ok(mut lines) = rx.recv() {
                    // What queued meanwhile is handled with it, under one hold of the lock.
                    for more in rx.try_iter() {
                        lines.extend_from_slice(&more);
                    }
                    handle(&lines);
                }
            }));
            workers.push(tx);
        }
        Pool {
            workers,
            pending: vec![Vec::new(); threads],
            handles,
        }
    }

    /// Queues one line for its sender's service thread.
    pub fn push(&mut self, line: &[u8]) {
        let batch = &mut self.pending[worker_for(line, self.workers.len())];
        batch.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            batch.push(b'\n');
        }
    }

    /// Hands the queued lines to their service threads, one batch each.
    pub fn flush(&mut self) {
        for (batch, worker) in self.pending.iter_mut().zip(&self.workers) {
            if !batch.is_empty() {
                // A service thread lives until its channel closes (see `finish`).
                let _ = worker.send(std::mem::take(batch));
            }
        }
    }

    /// Hands over what is queued and waits until every line is handled.
    pub fn finish(mut self) {
        self.flush();
        self.workers.clear();
        for handle in self.handles {
            // A panicking service thread has already aborted the process.
            let _ = handle.join();
        }
    }
}

/// The service thread for `line`: its sender's, by a hash of the envelope's `src`.
/// A line without one (not a message, to be rejected anyway) goes to the first.
pub fn worker_for(line: &[u8], workers: usize) -> usize {
    let Some(src) = sender(line) else {
        return 0;
    };
    let mut hasher = DefaultHasher::new();
    src.hash(&mut hasher);
    (hasher.finish() % workers as u64) as usize
}

/// The raw text of the envelope's top-level `src` string, found by a scan that stops
/// there without parsing the rest: a `"src"` key nested in the body, or a string value
/// "src", is not it.
fn sender(line: &[u8]) -> Option<&[u8]> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(line, i + 1)?;
                let text = &line[i + 1..end];
                i = end + 1;
                let after = skip_spaces(line, i);
                if depth == 1 && text == b"src" && line.get(after) == Some(&b':') {
                    let value = skip_spaces(line, after + 1);
                    if line.get(value) != Some(&b'"') {
                        return None;
                    }
                    return Some(&line[value + 1..string_end(line, value + 1)?]);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote that closes the string starting at `i`.
fn string_end(line: &[u8], mut i: usize) -> Option<usize> {
    while i < line.len() {
        match line[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn skip_spaces(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// A service thread's work on one batch of lines: parses them all, then handles them
/// in order under one hold of the lock, and commits the changes once.
pub fn handle_lines(monitor: &Monitor, lines: &[u8]) {
    let mut inbound = Vec::new();
    for bytes in lines.split(|&b| b == b'\n') {
        // Bad bytes are bad input like any other: skipped, not fatal.
        let Ok(line) = std::str::from_utf8(bytes.trim_ascii_end()) else {
            eprintln!("skipped: a line that is not valid UTF-8");
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        match protocol::parse(line) {
            Ok(msg) => inbound.push(msg),
            Err(rejected) => report(&monitor.outbox, rejected),
        }
    }
    if inbound.is_empty() {
        return;
    }
    let mut out = Vec::new();
    // Client requests are routed together after the server messages, so that those
    // passed on to the same server share one message.
    let mut requests = Vec::new();
    let mut state = monitor.lock();
    let now = monitor.now();
    for msg in inbound {
        match msg {
            Inbound::Raft { from, msg } => state.raft.step(&from, msg, now),
            Inbound::Client { origin, request } => requests.push(Forward {
                origin,
                request,
                hops: 0,
            }),
            Inbound::Forward { forwards, .. } => requests.extend(forwards),
            Inbound::Init { from, msg_id, .. } => {
                eprintln!("second init from {from} ignored");
                out.push(Outgoing {
                    to: from,
                    body: protocol::init_ok(msg_id),
                });
            }
        }
    }
    if !requests.is_empty() {
        let State {
            raft,
            requests: path,
            ..
        } = &mut *state;
        out.extend(path.client_requests(raft, requests, now));
    }
    monitor.commit_changes(&mut state);
    drop(state);
    monitor.send(out);
}

/// Logs a line that was not handled, and answers it when the contract says to.
pub fn report(outbox: &Outbox, rejected: Rejected) {
    match rejected {
        Rejected::NotAMessage(why) | Rejected::Unanswerable(why) => eprintln!("skipped: {why}"),
        Rejected::Error {
            src,
            msg_id,
            code,
            text,
        } => {
            eprintln!("rejected from {src}: {text}");
            outbox.send(&src, protocol::error(msg_id, code, &text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn the_sender_is_the_top_level_src_wherever_it_stands() {
        let cases: [(&str, Option<&str>); 6] = [
            (r#"{"src":"c3","dest":"n0","body":{}}"#, Some("c3")),
            (
                r#"{"id":4, "body":{"src":"x","v":["src"]},"dest":"n0" , "src" : "n2"}"#,
                Some("n2"),
            ),
            (
                r#"{"dest":"src","body":{"type":"read"},"src":"c1"}"#,
                Some("c1"),
            ),
            (
                r#"{"body":{"k":"a\"src\":\"x"},"src":"c\"9"}"#,
                Some(r#"c\"9"#),
            ),
            (r#"{"dest":"n0","body":{"src":"c1"}}"#, None),
            ("not json", None),
        ];
        for (line, src) in cases {
            assert_eq!(sender(line.as_bytes()), src.map(str::as_bytes), "{line}");
        }
    }

    #[test]
    fn one_sender_goes_to_one_worker_and_senders_spread() {
        let line =
            |src: &str, body: &str| format!(r#"{{"src":"{src}","dest":"n0","body":{body}}}"#);
        let mut used = std::collections::HashSet::new();
        for i in 0..20 {
            let src = format!("c{i}");
            let worker = worker_for(line(&src, "{}").as_bytes(), 3);
            assert!(worker < 3);
            used.insert(worker);
            for body in [r#"{"type":"read","key":1}"#, r#"{"src":"other","x":[1,2]}"#] {
                let other_order = format!(r#"{{"body":{body},"dest":"n0","src":"{src}"}}"#);
                assert_eq!(worker_for(line(&src, body).as_bytes(), 3), worker);
                assert_eq!(worker_for(other_order.as_bytes(), 3), worker);
            }
        }
        assert_eq!(used.len(), 3, "twenty senders use every worker");
        assert_eq!(worker_for(b"garbage", 3), 0);
    }

    /// Lines from many senders, interleaved, through a pool whose workers take a
    /// little time per batch: each sender's lines must be handled in the order sent.
    #[test]
    fn the_pool_keeps_each_senders_order() {
        let seen: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
        let record = Arc::clone(&seen);
        let mut pool = Pool::start(3, move |lines: &[u8]| {
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                let src = v["src"].as_str().unwrap().to_owned();
                let seq = v["body"]["seq"].as_u64().unwrap();
                record.lock().unwrap().entry(src).or_default().push(seq);
            }
            std::thread::sleep(Duration::from_micros(200));
        });
        let senders = 12;
        let per_sender = 200;
        for seq in 0..per_sender {
            for s in 0..senders {
                let line = format!(r#"{{"src":"n{s}","dest":"n0","body":{{"seq":{seq}}}}}"#);
                pool.push(format!("{line}\n").as_bytes());
                if (seq * senders + s) % 7 == 0 {
                    pool.flush();
                }
            }
        }
        pool.finish();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), senders as usize);
        for (src, seqs) in seen.iter() {
            assert_eq!(*seqs, (0..per_sender).collect::<Vec<_>>(), "{src}'s lines");
        }
    }
}
