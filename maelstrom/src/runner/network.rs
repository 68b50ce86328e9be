//! The simulated network between clients and nodes.
//!
//! Nodes' stdout lines come in through [`Network::accept_from_node`], are checked against
//! Maelstrom's closed message schema, get a global message id and are queued for their
//! receiver. Each node has one priority queue ordered by delivery deadline (ties in send
//! order, so constant latency is FIFO) and one delivery thread writing to its stdin.
//! Partitions are checked when a message is due, at the receiver, like Jepsen's grudges.
//! Clients are never delayed nor partitioned.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};

use super::cli::LatencyDist;
use super::journal::Level;
use super::process::NodeProcess;
use super::recorder::RunState;

/// A message in flight.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub id: u64,
    pub src: String,
    pub dest: String,
    pub body: Map<String, Value>,
}

/// The line a node reads on stdin: the envelope plus the `id` Maelstrom adds.
#[derive(Serialize)]
struct WireMessage<'a> {
    id: u64,
    src: &'a str,
    dest: &'a str,
    body: &'a Map<String, Value>,
}

/// "Is a client" in Maelstrom's sense: the id starts with `c`.
fn is_client(id: &str) -> bool {
    id.starts_with('c')
}

/// Checks one stdout line of a node against Maelstrom's closed schema: exactly `src`,
/// `dest`, `body` and an optional integer `id`; src and dest strings; body an object
/// with a string `type`. Returns (src, dest, body) or why the line is not a message.
fn parse_node_line(line: &[u8]) -> Result<(String, String, Map<String, Value>), String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("blank line".into());
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|error| format!("not JSON ({error})"))?;
    let Value::Object(mut message) = value else {
        return Err("not a JSON object".into());
    };
    if let Some(extra) = message
        .keys()
        .find(|key| !matches!(key.as_str(), "src" | "dest" | "body" | "id"))
    {
        return Err(format!(
            "unexpected top-level key {extra:?} (only src, dest, body and id are allowed)"
        ));
    }
    if let Some(id) = message.get("id") {
        if !(id.is_i64() || id.is_u64()) {
            return Err(format!("top-level id must be an integer, got {id}"));
        }
    }
    let mut string_field = |name: &str| match message.remove(name) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(format!("{name} must be a string, got {other}")),
        None => Err(format!("missing {name}")),
    };
    let src = string_field("src")?;
    let dest = string_field("dest")?;
    let body = match message.remove("body") {
        Some(Value::Object(body)) => body,
        Some(other) => return Err(format!("body must be an object, got {other}")),
        None => return Err("missing body".into()),
    };
    match body.get("type") {
        Some(Value::String(_)) => Ok((src, dest, body)),
        Some(other) => Err(format!("body.type must be a string, got {other}")),
        None => Err("body has no type".into()),
    }
}

/// Send and receive counts for one class of messages.
#[derive(Default)]
struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

/// Maelstrom's net stats: all messages, those with a client at either end, and those
/// between nodes only.
#[derive(Default)]
struct NetStats {
    all: Traffic,
    clients: Traffic,
    servers: Traffic,
}

impl NetStats {
    fn classes(&self, src: &str, dest: &str) -> [&Traffic; 2] {
        if is_client(src) || is_client(dest) {
            [&self.all, &self.clients]
        } else {
            [&self.all, &self.servers]
        }
    }
}

/// Counts copied out at the end of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrafficCounts {
    pub sent: u64,
    pub received: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct NetCounts {
    pub all: TrafficCounts,
    pub clients: TrafficCounts,
    pub servers: TrafficCounts,
}

struct Latency {
    mean_ms: f64,
    dist: LatencyDist,
    rng: Mutex<StdRng>,
}

impl Latency {
    fn sample(&self) -> Duration {
        if self.mean_ms == 0.0 {
            return Duration::ZERO;
        }
        let millis = match self.dist {
            LatencyDist::Constant => self.mean_ms,
            LatencyDist::Uniform => self.rng.lock().unwrap().gen_range(0.0..2.0 * self.mean_ms),
            LatencyDist::Exponential => {
                let uniform: f64 = self.rng.lock().unwrap().gen();
                -self.mean_ms * (1.0 - uniform).ln()
            }
        };
        Duration::from_secs_f64(millis / 1000.0)
    }
}

/// A queued message; ordered so that the earliest deadline (then the earliest send) is
/// the greatest, which makes `BinaryHeap` pop it first.
struct Queued {
    deadline: Instant,
    sequence: u64,
    envelope: Envelope,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.deadline, other.sequence).cmp(&(self.deadline, self.sequence))
    }
}

#[derive(Default)]
struct InboxQueue {
    heap: BinaryHeap<Queued>,
    closed: bool,
}

/// One node's incoming messages.
struct Inbox {
    node: Arc<NodeProcess>,
    queue: Mutex<InboxQueue>,
    wakeup: Condvar,
}

pub struct Network {
    run: Arc<RunState>,
    inboxes: HashMap<String, Arc<Inbox>>,
    clients: RwLock<HashMap<String, Sender<Envelope>>>,
    /// For each node, the nodes it currently cannot hear from.
    cut: RwLock<HashMap<String, HashSet<String>>>,
    latency: Latency,
    next_message_id: AtomicU64,
    next_sequence: AtomicU64,
    next_client: AtomicU64,
    stats: NetStats,
    /// `--log-net-send` and `--log-net-recv`.
    log_send: AtomicBool,
    log_recv: AtomicBool,
}

impl Network {
    pub fn new(
        run: Arc<RunState>,
        nodes: &[Arc<NodeProcess>],
        latency_ms: f64,
        latency_dist: LatencyDist,
        seed: u64,
    ) -> Arc<Network> {
        let inboxes = nodes
            .iter()
            .map(|node| {
                let inbox = Inbox {
                    node: Arc::clone(node),
                    queue: Mutex::new(InboxQueue::default()),
                    wakeup: Condvar::new(),
                };
                (node.id.clone(), Arc::new(inbox))
            })
            .collect();
        Arc::new(Network {
            run,
            inboxes,
            clients: RwLock::new(HashMap::new()),
            cut: RwLock::new(HashMap::new()),
            latency: Latency {
                mean_ms: latency_ms,
                dist: latency_dist,
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
            },
            next_message_id: AtomicU64::new(0),
            next_sequence: AtomicU64::new(0),
            next_client: AtomicU64::new(0),
            stats: NetStats::default(),
            log_send: AtomicBool::new(false),
            log_recv: AtomicBool::new(false),
        })
    }

    /// Has every message logged as it enters the network (`send`) and as it is
    /// delivered (`recv`), on stderr and in jepsen.log, like Maelstrom's
    /// `--log-net-send` and `--log-net-recv`.
    pub fn log_messages(&self, send: bool, recv: bool) {
        self.log_send.store(send, Ordering::Relaxed);
        self.log_recv.store(recv, Ordering::Relaxed);
    }

    fn log_message(&self, enabled: &AtomicBool, what: &str, envelope: &Envelope) {
        if !enabled.load(Ordering::Relaxed) {
            return;
        }
        let wire = WireMessage {
            id: envelope.id,
            src: &envelope.src,
            dest: &envelope.dest,
            body: &envelope.body,
        };
        let json = serde_json::to_string(&wire).expect("a JSON map always serialises");
        self.run.say(Level::Info, &format!("{what} {json}"));
    }

    /// Starts one delivery thread per node; they run until [`Network::shut_down`].
    pub fn start_delivery(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        self.inboxes
            .values()
            .map(|inbox| {
                let network = Arc::clone(self);
                let inbox = Arc::clone(inbox);
                thread::Builder::new()
                    .name(format!("deliver-{}", inbox.node.id))
                    .spawn(move || network.deliver_loop(&inbox))
                    .expect("spawning a delivery thread")
            })
            .collect()
    }

    pub fn shut_down(&self) {
        for inbox in self.inboxes.values() {
            inbox.queue.lock().unwrap().closed = true;
            inbox.wakeup.notify_all();
        }
    }

    /// The next client id, counted globally like Maelstrom: init clients, then setup
    /// clients, then workers, then any clients that re-initialise restarted nodes.
    pub fn allocate_client_id(&self) -> String {
        format!("c{}", self.next_client.fetch_add(1, Ordering::SeqCst))
    }

    pub fn register_client(&self, id: &str, inbox: Sender<Envelope>) {
        self.clients.write().unwrap().insert(id.to_string(), inbox);
    }

    pub fn unregister_client(&self, id: &str) {
        self.clients.write().unwrap().remove(id);
    }

    /// Replaces the partition: `cut[node]` is the set of nodes `node` cannot hear from.
    pub fn set_cut(&self, cut: HashMap<String, HashSet<String>>) {
        *self.cut.write().unwrap() = cut;
    }

    pub fn heal(&self) {
        self.cut.write().unwrap().clear();
    }

    /// One line a node wrote to stdout. Where the real tool would silently stop reading
    /// the node, this runner crashes the run and says why.
    pub fn accept_from_node(&self, node_id: &str, line: &[u8]) {
        match parse_node_line(line) {
            Ok((src, dest, body)) => {
                if !self.inboxes.contains_key(&dest)
                    && !self.clients.read().unwrap().contains_key(&dest)
                {
                    if dest.starts_with('c') && self.run.is_workload_over() {
                        // A late answer to a client that finished after the time limit:
                        // the real tool would stop reading this node, which no longer
                        // matters once no operation will start. Drop it.
                        return;
                    }
                    self.run.crash(format!(
                        "node {node_id} sent a message to {dest:?}, which is not a registered node or client: {}",
                        printable(line)
                    ));
                    return;
                }
                self.route(src, dest, body);
            }
            Err(why) => self.run.crash(format!(
                "node {node_id} wrote a line to stdout that is not a valid Maelstrom message ({why}): {}",
                printable(line)
            )),
        }
    }

    /// A client request; clients only ever talk to nodes.
    pub fn send_from_client(&self, src: &str, dest: &str, body: Map<String, Value>) {
        self.route(src.to_string(), dest.to_string(), body);
    }

    fn route(&self, src: String, dest: String, body: Map<String, Value>) {
        let envelope = Envelope {
            id: self.next_message_id.fetch_add(1, Ordering::SeqCst),
            src,
            dest,
            body,
        };
        for traffic in self.stats.classes(&envelope.src, &envelope.dest) {
            traffic.sent.fetch_add(1, Ordering::Relaxed);
        }
        self.log_message(&self.log_send, "send", &envelope);
        if let Some(inbox) = self.inboxes.get(&envelope.dest) {
            let delay = if is_client(&envelope.src) {
                Duration::ZERO
            } else {
                self.latency.sample()
            };
            let queued = Queued {
                deadline: Instant::now() + delay,
                sequence: self.next_sequence.fetch_add(1, Ordering::SeqCst),
                envelope,
            };
            inbox.queue.lock().unwrap().heap.push(queued);
            inbox.wakeup.notify_one();
        } else if let Some(client) = self.clients.read().unwrap().get(&envelope.dest) {
            self.delivered(&envelope);
            // The client may have gone away during teardown; the reply is then moot.
            let _ = client.send(envelope);
        }
    }

    /// Counts (and logs, when asked) a message handed to its receiver.
    fn delivered(&self, envelope: &Envelope) {
        self.log_message(&self.log_recv, "recv", envelope);
        for traffic in self.stats.classes(&envelope.src, &envelope.dest) {
            traffic.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn is_cut(&self, src: &str, dest: &str) -> bool {
        self.cut
            .read()
            .unwrap()
            .get(dest)
            .is_some_and(|deaf_to| deaf_to.contains(src))
    }

    /// Called when `node_id` answers init: from then on it hears everything.
    pub fn mark_initialized(&self, node_id: &str) {
        if let Some(inbox) = self.inboxes.get(node_id) {
            inbox.node.mark_initialized();
        }
    }

    fn deliver_loop(&self, inbox: &Inbox) {
        while let Some(envelope) = next_due(inbox) {
            if self.is_cut(&envelope.src, &envelope.dest) {
                continue;
            }
            // A (re)starting node hears nothing before its init, as a booting server
            // would miss what was sent to it.
            let is_init = envelope.body.get("type").and_then(Value::as_str) == Some("init");
            if !is_init && !inbox.node.is_initialized() {
                continue;
            }
            let wire = WireMessage {
                id: envelope.id,
                src: &envelope.src,
                dest: &envelope.dest,
                body: &envelope.body,
            };
            let mut line = serde_json::to_vec(&wire).expect("a JSON map always serialises");
            line.push(b'\n');
            // A dead node loses what is sent to it, as over a real network.
            if inbox.node.write_line(&line) {
                self.delivered(&envelope);
            }
        }
    }

    pub fn counts(&self) -> NetCounts {
        let copy = |traffic: &Traffic| TrafficCounts {
            sent: traffic.sent.load(Ordering::Relaxed),
            received: traffic.received.load(Ordering::Relaxed),
        };
        NetCounts {
            all: copy(&self.stats.all),
            clients: copy(&self.stats.clients),
            servers: copy(&self.stats.servers),
        }
    }
}

/// Waits for the inbox's earliest message to fall due; `None` once the network is shut.
fn next_due(inbox: &Inbox) -> Option<Envelope> {
    let mut queue = inbox.queue.lock().unwrap();
    loop {
        if queue.closed {
            return None;
        }
        let now = Instant::now();
        match queue.heap.peek().map(|queued| queued.deadline) {
            Some(deadline) if deadline <= now => {
                return queue.heap.pop().map(|queued| queued.envelope);
            }
            Some(deadline) => {
                queue = inbox.wakeup.wait_timeout(queue, deadline - now).unwrap().0;
            }
            None => queue = inbox.wakeup.wait(queue).unwrap(),
        }
    }
}

/// A node's output line for an error message: lossy UTF-8, shortened.
fn printable(line: &[u8]) -> String {
    const LIMIT: usize = 300;
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if text.chars().count() > LIMIT {
        format!("{:?}...", text.chars().take(LIMIT).collect::<String>())
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::journal::Journal;

    #[test]
    fn accepts_a_well_formed_message() {
        let (src, dest, body) = parse_node_line(
            br#"{"src":"n1","dest":"c4","body":{"type":"read_ok","value":3,"in_reply_to":2}}"#,
        )
        .unwrap();
        assert_eq!((src.as_str(), dest.as_str()), ("n1", "c4"));
        assert_eq!(body["value"], 3);
        assert!(parse_node_line(br#"{"id":7,"src":"n1","dest":"n2","body":{"type":"x"}}"#).is_ok());
    }

    #[test]
    fn rejects_what_maelstrom_would_mute() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "blank"),
            (b"   ", "blank"),
            (b"hello", "not JSON"),
            (b"[1,2]", "not a JSON object"),
            (
                br#"{"src":"n1","dest":"n2","body":{"type":"x"},"extra":1}"#,
                "unexpected top-level key \"extra\"",
            ),
            (
                br#"{"src":null,"dest":"n2","body":{"type":"x"}}"#,
                "src must be a string",
            ),
            (br#"{"src":"n1","body":{"type":"x"}}"#, "missing dest"),
            (
                br#"{"src":"n1","dest":"n2","body":[]}"#,
                "body must be an object",
            ),
            (br#"{"src":"n1","dest":"n2","body":{}}"#, "no type"),
            (
                br#"{"src":"n1","dest":"n2","body":{"type":5}}"#,
                "type must be a string",
            ),
            (
                br#"{"id":"7","src":"n1","dest":"n2","body":{"type":"x"}}"#,
                "integer",
            ),
        ];
        for (line, expected) in cases {
            let why = parse_node_line(line).unwrap_err();
            assert!(
                why.contains(expected),
                "{why:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn earliest_deadline_first_then_send_order() {
        let now = Instant::now();
        let envelope = |id| Envelope {
            id,
            src: "n1".into(),
            dest: "n2".into(),
            body: Map::new(),
        };
        let mut heap = BinaryHeap::new();
        for (id, offset_ms, sequence) in [(0, 5, 0), (1, 1, 1), (2, 5, 2), (3, 1, 3)] {
            heap.push(Queued {
                deadline: now + Duration::from_millis(offset_ms),
                sequence,
                envelope: envelope(id),
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|q| q.envelope.id)).collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }

    #[test]
    fn a_message_to_an_unregistered_dest_crashes_the_run() {
        let run = Arc::new(RunState::new(Journal::new(std::io::sink())));
        let network = Network::new(Arc::clone(&run), &[], 0.0, LatencyDist::Constant, 1);
        let (inbox, replies) = crossbeam_channel::unbounded();
        network.register_client("c3", inbox);
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        assert_eq!(replies.try_recv().unwrap().body["type"], "x");
        assert!(!run.has_crashed());
        network.unregister_client("c3");
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        let reason = run.crash_reason().unwrap();
        assert!(
            reason.contains("node n0 sent a message to \"c3\""),
            "{reason}"
        );
    }

    #[test]
    fn after_the_time_limit_a_late_answer_to_a_finished_client_is_dropped() {
        let run = Arc::new(RunState::new(Journal::new(std::io::sink())));
        let network = Network::new(Arc::clone(&run), &[], 0.0, LatencyDist::Constant, 1);
        run.end_workload();
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        assert!(!run.has_crashed());
        // A message to something that was never a client still crashes the run.
        network.accept_from_node("n0", br#"{"src":"n0","dest":"n7","body":{"type":"x"}}"#);
        assert!(run.has_crashed());
    }

    #[test]
    fn latency_distributions_have_the_requested_mean() {
        for (dist, longest) in [
            (LatencyDist::Constant, 10.0),
            (LatencyDist::Uniform, 20.0),
            (LatencyDist::Exponential, f64::INFINITY),
        ] {
            let latency = Latency {
                mean_ms: 10.0,
                dist,
                rng: Mutex::new(StdRng::seed_from_u64(3)),
            };
            let samples: Vec<f64> = (0..20_000)
                .map(|_| latency.sample().as_secs_f64() * 1000.0)
                .collect();
            let mean = samples.iter().sum::<f64>() / samples.len() as f64;
            assert!((mean - 10.0).abs() < 0.3, "{dist:?} mean {mean}");
            assert!(samples.iter().all(|ms| *ms >= 0.0 && *ms <= longest));
        }
    }

    #[test]
    fn printable_shortens_long_lines() {
        assert_eq!(printable(b"abc\n"), "\"abc\"");
        assert!(printable(&[b'x'; 1000]).ends_with("..."));
    }
}
