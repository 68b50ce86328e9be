//! Simulated lin-kv clients: each sends one read, write or cas at a time to a random
//! server, as Maelstrom's clients do, and the history of invocations and completions is
//! recorded in the runner's own format, for the runner's linearizability checker.
//!
//! Completions follow Maelstrom's rules: an ok reply is `ok`; a definite error is
//! `fail`; a write or cas that gets no answer in time is `info` (it may take effect
//! later), a read that gets none is `fail`. After an `info` the client goes on as a
//! new process, as Jepsen's do.

use harness::history::{Event, EventType, OpFn};

use crate::raft::Index;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

/// How long a client waits for an answer: Maelstrom's default.
const TIMEOUT_MS: u64 = 1_000;
const KEYS: u64 = 3;
const VALUES: u64 = 5;

struct Pending {
    msg_id: u64,
    f: OpFn,
    key: Value,
    value: Value,
    node: String,
    sent_at: u64,
    /// How many entries were committed when it was invoked.
    floor: Index,
}

struct Client {
    name: String,
    process: u64,
    pending: Option<Pending>,
    /// When it sends its next request, once idle.
    next_at: u64,
}

pub struct Clients {
    clients: Vec<Client>,
    next_process: u64,
    next_msg_id: u64,
    history: Vec<Event>,
    /// Orders events within one simulated millisecond.
    event_seq: u64,
}

/// A request for the simulation to deliver: from client `client` to server `node`.
pub struct Request {
    pub client: String,
    pub node: usize,
    pub body: Value,
}

impl Clients {
    pub fn new(count: usize) -> Self {
        Clients {
            clients: (0..count)
                .map(|i| Client {
                    name: format!("c{i}"),
                    process: i as u64,
                    pending: None,
                    next_at: 0,
                })
                .collect(),
            next_process: count as u64,
            next_msg_id: 0,
            history: Vec::new(),
            event_seq: 0,
        }
    }

    pub fn history(&self) -> &[Event] {
        &self.history
    }

    /// The requests idle clients send now, to servers chosen among `nodes`, when
    /// `committed` entries are committed.
    pub fn invoke(
        &mut self,
        now: u64,
        committed: Index,
        nodes: &[String],
        rng: &mut StdRng,
    ) -> Vec<Request> {
        let mut sent = Vec::new();
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if client.pending.is_some() || client.next_at > now {
                continue;
            }
            let node = rng.gen_range(0..nodes.len());
            let key = json!(rng.gen_range(0..KEYS));
            let (f, value, body) = match rng.gen_range(0..10) {
                0..=3 => (OpFn::Read, Value::Null, json!({"type": "read", "key": key})),
                4..=6 => {
                    let v = json!(rng.gen_range(0..VALUES));
                    let body = json!({"type": "write", "key": key, "value": v});
                    (OpFn::Write, v, body)
                }
                _ => {
                    let (from, to) = (rng.gen_range(0..VALUES), rng.gen_range(0..VALUES));
                    let body = json!({"type": "cas", "key": key, "from": from, "to": to});
                    (OpFn::Cas, json!([from, to]), body)
                }
            };
            self.next_msg_id += 1;
            let msg_id = self.next_msg_id;
            let mut body = body;
            body["msg_id"] = json!(msg_id);
            let process = self.clients[c].process;
            self.record(
                process,
                EventType::Invoke,
                f,
                &key,
                value.clone(),
                now,
                &nodes[node],
                None,
            );
            let client = &mut self.clients[c];
            client.pending = Some(Pending {
                msg_id,
                f,
                key,
                value,
                node: nodes[node].clone(),
                sent_at: now,
                floor: committed,
            });
            sent.push(Request {
                client: client.name.clone(),
                node,
                body,
            });
        }
        sent
    }

    /// An answer reached client `name`: it completes the operation it answers, if that
    /// is still waiting. Late and duplicate answers are dropped, as the runner does.
    /// Returns a successful read: the key, the value seen, and the entries committed
    /// when it was invoked.
    pub fn receive(
        &mut self,
        name: &str,
        body: &Value,
        now: u64,
        rng: &mut StdRng,
    ) -> Option<(Value, Value, Index)> {
        let c = self.clients.iter().position(|c| c.name == name)?;
        let answers = |p: &Pending| body["in_reply_to"].as_u64() == Some(p.msg_id);
        let pending = self.clients[c].pending.take_if(|p| answers(p))?;
        let read = (pending.f == OpFn::Read && body["type"] == "read_ok")
            .then(|| (pending.key.clone(), body["value"].clone(), pending.floor));
        let (kind, value, error) = match body["type"].as_str() {
            Some("read_ok") => (EventType::Ok, body["value"].clone(), None),
            Some("write_ok" | "cas_ok") => (EventType::Ok, pending.value.clone(), None),
            _ => {
                let code = body["code"].as_i64().unwrap_or(-1);
                let text = body["text"].as_str().unwrap_or("").to_string();
                let definite = matches!(code, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30);
                let kind = if definite || pending.f == OpFn::Read {
                    EventType::Fail
                } else {
                    EventType::Info
                };
                (kind, pending.value.clone(), Some((code, text)))
            }
        };
        self.complete(c, pending, kind, value, error, now, rng);
        read
    }

    /// Gives up on requests that waited longer than the client timeout.
    pub fn expire(&mut self, now: u64, rng: &mut StdRng) {
        for c in 0..self.clients.len() {
            let expired = |p: &Pending| now >= p.sent_at + TIMEOUT_MS;
            if let Some(pending) = self.clients[c].pending.take_if(|p| expired(p)) {
                let kind = if pending.f == OpFn::Read {
                    EventType::Fail
                } else {
                    EventType::Info
                };
                let value = pending.value.clone();
                self.complete(c, pending, kind, value, None, now, rng);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        c: usize,
        pending: Pending,
        kind: EventType,
        value: Value,
        error: Option<(i64, String)>,
        now: u64,
        rng: &mut StdRng,
    ) {
        let process = self.clients[c].process;
        let node = pending.node.clone();
        self.record(
            process,
            kind,
            pending.f,
            &pending.key,
            value,
            now,
            &node,
            error,
        );
        let client = &mut self.clients[c];
        if kind == EventType::Info {
            client.process = self.next_process;
            self.next_process += 1;
        }
        client.next_at = now + rng.gen_range(0..=20);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        process: u64,
        kind: EventType,
        f: OpFn,
        key: &Value,
        value: Value,
        now: u64,
        node: &str,
        error: Option<(i64, String)>,
    ) {
        self.event_seq += 1;
        self.history.push(Event {
            process,
            kind,
            f,
            key: key.clone(),
            value,
            // Simulated milliseconds, as nanoseconds, with events of one millisecond
            // kept in the order they happened.
            time: now * 1_000_000 + self.event_seq % 1_000_000,
            node: node.to_string(),
            error,
        });
    }
}
