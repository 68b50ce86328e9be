//! The one writer of stdout. Every thread hands it finished lines, so lines never
//! interleave and nothing but protocol messages reaches stdout.

use std::io::Write;
use std::thread;

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::Serialize;

use crate::protocol;

#[derive(Clone)]
pub struct Outbox {
    me: String,
    /// Batches of whole lines, each ending in a newline.
    lines: Sender<Vec<u8>>,
}

impl Outbox {
    /// Starts the writer thread.
    pub fn start(me: String) -> Outbox {
        let (lines, rx) = unbounded();
        thread::Builder::new()
            .name("stdout".into())
            .spawn(move || write_lines(rx, std::io::stdout().lock()))
            .expect("spawn stdout writer");
        Outbox { me, lines }
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

    /// Hands a batch of lines to the writer: one hand-over however many lines it holds.
    pub fn send_lines(&self, lines: Vec<u8>) {
        if lines.is_empty() {
            return;
        }
        // The writer lives as long as the process; a failed send means it is gone
        // and there is nowhere left to write.
        let _ = self.lines.send(lines);
    }
}

/// Writes each batch, and every batch queued behind it, with one `write_all`: a burst
/// costs one system call instead of one per line, and every line is out as soon as the
/// queue is drained.
fn write_lines(rx: Receiver<Vec<u8>>, mut out: impl Write) {
    while let Ok(mut batch) = rx.recv() {
        for more in rx.try_iter() {
            batch.extend_from_slice(&more);
        }
        if let Err(e) = out.write_all(&batch).and_then(|_| out.flush()) {
            eprintln!("stdout: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call it gets.
    #[derive(Default)]
    struct Calls(Vec<Vec<u8>>);

    impl Write for &mut Calls {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn queued_batches_leave_in_one_write_in_order() {
        let (tx, rx) = unbounded();
        let outbox = Outbox {
            me: "n0".into(),
            lines: tx,
        };
        outbox.send(
            "c1",
            serde_json::json!({"type": "write_ok", "in_reply_to": 1}),
        );
        let mut batch = Vec::new();
        outbox.push(&mut batch, "n1", serde_json::json!({"type": "a"}));
        outbox.push(&mut batch, "n2", serde_json::json!({"type": "b"}));
        outbox.send_lines(batch);
        outbox.send_lines(Vec::new());
        drop(outbox);
        let mut calls = Calls::default();
        write_lines(rx, &mut calls);
        assert_eq!(calls.0.len(), 1, "one write for everything queued");
        let text = String::from_utf8(calls.0.remove(0)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"src":"n0","dest":"c1","body":{"in_reply_to":1,"type":"write_ok"}}"#,
                r#"{"src":"n0","dest":"n1","body":{"type":"a"}}"#,
                r#"{"src":"n0","dest":"n2","body":{"type":"b"}}"#,
            ]
        );
        assert!(text.ends_with('\n'));
    }
}
