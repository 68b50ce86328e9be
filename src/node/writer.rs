//! The one writer of stdout. Every thread hands it finished lines, so lines never
//! interleave and nothing but protocol messages reaches stdout.

use std::io::{BufWriter, Write};
use std::thread;

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde_json::Value;

use crate::protocol;

#[derive(Clone)]
pub struct Outbox {
    me: String,
    lines: Sender<String>,
}

impl Outbox {
    /// Starts the writer thread.
    pub fn start(me: String) -> Outbox {
        let (lines, rx) = unbounded();
        thread::Builder::new()
            .name("stdout".into())
            .spawn(move || write_lines(rx))
            .expect("spawn stdout writer");
        Outbox { me, lines }
    }

    pub fn send(&self, dest: &str, body: Value) {
        // The writer lives as long as the process; a failed send means it is gone
        // and there is nowhere left to write.
        let _ = self.lines.send(protocol::envelope(&self.me, dest, body));
    }
}

fn write_lines(rx: Receiver<String>) {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    while let Ok(line) = rx.recv() {
        let mut result = writeln!(out, "{line}");
        // Flush once the queue is drained: every line is out promptly, and a burst
        // costs one system call instead of one per line.
        for line in rx.try_iter() {
            result = result.and_then(|_| writeln!(out, "{line}"));
        }
        if let Err(e) = result.and_then(|_| out.flush()) {
            eprintln!("stdout: {e}");
        }
    }
}
