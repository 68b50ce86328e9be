//! Stdout, shared by every thread. Lines never interleave and nothing but protocol
//! messages reaches stdout.
//!
//! No thread of its own: a thread with lines to send queues them, and if no other
//! thread is writing, writes everything queued itself, with one system call; if one
//! is, that one takes the new lines along before it lets go. Handing every batch to a
//! writer thread cost a wake-up and a switch between threads per batch, which at
//! saturation is a large part of what a node spends per message.

use std::io::Write;
use std::sync::{Arc, Mutex, TryLockError};

use serde::Serialize;

use crate::protocol;

/// A lock is poisoned only when a thread panicked holding it, and a panic aborts the
/// process first (see `abort_on_panic`).
const POISONED: &str = "a thread panicked while holding the stdout lock";

#[derive(Clone)]
pub struct Outbox {
    me: String,
    shared: Arc<Shared>,
}

struct Shared {
    /// Lines queued and not yet written, each ending in a newline, in the order queued.
    queue: Mutex<Vec<u8>>,
    /// Held by the one thread writing.
    out: Mutex<Box<dyn Write + Send>>,
}

impl Outbox {
    pub fn start(me: String) -> Outbox {
        Outbox::to(me, Box::new(std::io::stdout()))
    }

    fn to(me: String, out: Box<dyn Write + Send>) -> Outbox {
        let shared = Shared {
            queue: Mutex::new(Vec::new()),
            out: Mutex::new(out),
        };
        Outbox {
            me,
            shared: Arc::new(shared),
        }
    }

    pub fn send(&self, dest: &str, body: impl Serialize) {
        let mut lines = Vec::new();
        self.push(&mut lines, dest, body);
        self.send_lines(lines);
    }

    /// Adds a message to a batch for [`Outbox::send_lines`].
    pub fn push(&self, lines: &mut Vec<u8>, dest: &str, body: impl Serialize) {
        protocol::push_line(lines, &self.me, dest, body);
    }

    /// Queues a batch of lines and writes out everything queued, unless another thread
    /// is writing, which then writes this batch too before it stops.
    pub fn send_lines(&self, lines: Vec<u8>) {
        if lines.is_empty() {
            return;
        }
        let shared = &*self.shared;
        shared
            .queue
            .lock()
            .expect(POISONED)
            .extend_from_slice(&lines);
        loop {
            let mut out = match shared.out.try_lock() {
                Ok(out) => out,
                // The writer looks at the queue again after it lets go (below).
                Err(TryLockError::WouldBlock) => return,
                Err(TryLockError::Poisoned(_)) => panic!("{POISONED}"),
            };
            let batch = std::mem::take(&mut *shared.queue.lock().expect(POISONED));
            if !batch.is_empty() {
                if let Err(e) = out.write_all(&batch).and_then(|_| out.flush()) {
                    eprintln!("stdout: {e}");
                }
            }
            drop(out);
            // Lines queued by a thread that found the writer busy just before it let go
            // would wait for the next send: take them now.
            if shared.queue.lock().expect(POISONED).is_empty() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call it gets.
    #[derive(Clone, Default)]
    struct Calls(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_queued_while_another_thread_writes_leave_in_its_next_write_in_order() {
        let calls = Calls::default();
        let outbox = Outbox::to("n0".into(), Box::new(calls.clone()));
        // Another thread is writing: these only queue.
        let busy = outbox.shared.out.lock().unwrap();
        outbox.send(
            "c1",
            serde_json::json!({"type": "write_ok", "in_reply_to": 1}),
        );
        let mut batch = Vec::new();
        outbox.push(&mut batch, "n1", serde_json::json!({"type": "a"}));
        outbox.push(&mut batch, "n2", serde_json::json!({"type": "b"}));
        outbox.send_lines(batch);
        outbox.send_lines(Vec::new());
        assert!(calls.0.lock().unwrap().is_empty());
        drop(busy);
        outbox.send("n3", serde_json::json!({"type": "c"}));
        let mut calls = calls.0.lock().unwrap();
        assert_eq!(calls.len(), 1, "one write for everything queued");
        let text = String::from_utf8(calls.remove(0)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"src":"n0","dest":"c1","body":{"in_reply_to":1,"type":"write_ok"}}"#,
                r#"{"src":"n0","dest":"n1","body":{"type":"a"}}"#,
                r#"{"src":"n0","dest":"n2","body":{"type":"b"}}"#,
                r#"{"src":"n0","dest":"n3","body":{"type":"c"}}"#,
            ]
        );
        assert!(text.ends_with('\n'));
    }

    /// Many threads sending at once: every line comes out whole, once, and each
    /// thread's lines in the order it sent them.
    #[test]
    fn concurrent_senders_keep_their_lines_whole_and_in_order() {
        let calls = Calls::default();
        let outbox = Outbox::to("n0".into(), Box::new(calls.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let outbox = outbox.clone();
                std::thread::spawn(move || {
                    for seq in 0..500 {
                        outbox.send("c1", serde_json::json!({"t": t, "seq": seq}));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text: Vec<u8> = calls.0.lock().unwrap().concat();
        let mut next = [0u64; 4];
        for line in String::from_utf8(text).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = v["body"]["t"].as_u64().unwrap() as usize;
            assert_eq!(v["body"]["seq"].as_u64().unwrap(), next[t], "{line}");
            next[t] += 1;
        }
        assert_eq!(next, [500; 4], "every line written once");
    }
}
