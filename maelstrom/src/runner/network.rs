//! The simulated network between clients and nodes.
//!
//! Nodes' stdout lines come in through [`Network::accept_from_node`], are checked against
//! Maelstrom's closed message schema and its rule that `src` and `dest` are registered
//! (a node counts from the moment its process starts, a client while it is open), get a
//! global message id and are queued for their receiver. Each node has one priority queue
//! ordered by delivery deadline (ties in send order, so constant latency is FIFO) and one
//! delivery thread writing to its stdin, which works like Maelstrom's `recv!`: it takes
//! the head of the queue as soon as there is one, checks the partition then, and sleeps
//! until the head is due; whatever arrives meanwhile, a client's request included, waits
//! behind it. Clients are never delayed nor partitioned.

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
/// `dest`, `body` and an optional integer `id`; src and dest strings; body an object.
/// The body's contents are free: between nodes it need not even have a `type`, and what
/// a client cannot read is the workload's to judge. Returns (src, dest, body) or why the
/// line is not a message.
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
    match message.remove("body") {
        Some(Value::Object(body)) => Ok((src, dest, body)),
        Some(other) => Err(format!("body must be an object, got {other}")),
        None => Err("missing body".into()),
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
    /// Set when the node's process first starts, as Maelstrom adds a node to its network
    /// just before launching it; before that, nothing may be sent to or from the node.
    /// A node killed by the nemesis stays registered: it is down, not gone.
    registered: AtomicBool,
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
                    registered: AtomicBool::new(false),
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

    /// Called when `node_id`'s process starts: from then on it may send and be sent to.
    pub fn register_node(&self, node_id: &str) {
        if let Some(inbox) = self.inboxes.get(node_id) {
            inbox.registered.store(true, Ordering::SeqCst);
        }
    }

    /// Whether `id` is a node whose process has started or an open client: the only
    /// valid src and dest of a message, as in Maelstrom's `validate-msg`.
    fn is_registered(&self, id: &str) -> bool {
        match self.inboxes.get(id) {
            Some(inbox) => inbox.registered.load(Ordering::SeqCst),
            None => self.clients.read().unwrap().contains_key(id),
        }
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
        let (src, dest, body) = match parse_node_line(line) {
            Ok(message) => message,
            Err(why) => {
                self.run.crash(format!(
                    "node {node_id} wrote a line to stdout that is not a valid Maelstrom message ({why}): {}",
                    printable(line)
                ));
                return;
            }
        };
        // src first, as Maelstrom checks it first. Any registered id may be src: a node
        // may forward a client's request under the client's id.
        for (field, id) in [("src", &src), ("dest", &dest)] {
            if self.is_registered(id) {
                continue;
            }
            if is_client(id) && self.run.is_workload_over() {
                // A late message to or for a client that finished after the time limit:
                // the real tool would stop reading this node, which no longer matters
                // once no operation will start. Drop it.
                return;
            }
            self.run.crash(format!(
                "node {node_id} sent a message whose {field} {id:?} is not a registered node or client: {}",
                printable(line)
            ));
            return;
        }
        self.route(src, dest, body);
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
        self.run
            .message_sent(envelope.id, &envelope.src, &envelope.dest, &envelope.body);
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
        self.run.message_received(envelope.id);
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

    /// Maelstrom's `recv!` in a loop: take the head, drop it if its sender is cut off
    /// from this node now, else wait until it is due and write it. A node hears whatever
    /// is sent to it once its process runs, before its init too, as in Maelstrom.
    fn deliver_loop(&self, inbox: &Inbox) {
        while let Some(Queued {
            deadline, envelope, ..
        }) = take_head(inbox)
        {
            if self.is_cut(&envelope.src, &envelope.dest) {
                continue;
            }
            if !sleep_until(inbox, deadline) {
                return;
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

/// Waits for the inbox to hold a message and takes the earliest-due one, due or not;
/// `None` once the network is shut.
fn take_head(inbox: &Inbox) -> Option<Queued> {
    let mut queue = inbox.queue.lock().unwrap();
    loop {
        if queue.closed {
            return None;
        }
        if let Some(head) = queue.heap.pop() {
            return Some(head);
        }
        queue = inbox.wakeup.wait(queue).unwrap();
    }
}

/// Holds the delivery thread until `deadline`, whatever arrives meanwhile; false if the
/// network shuts first.
fn sleep_until(inbox: &Inbox, deadline: Instant) -> bool {
    let mut queue = inbox.queue.lock().unwrap();
    loop {
        if queue.closed {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        queue = inbox.wakeup.wait_timeout(queue, deadline - now).unwrap().0;
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
    use crate::runner::process::NodeLaunch;

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
    fn a_body_needs_no_type() {
        // Maelstrom's schema leaves the body free; node-to-node bodies often have no type.
        for line in [
            &br#"{"src":"n1","dest":"n2","body":{"note":4}}"#[..],
            br#"{"src":"n1","dest":"n2","body":{}}"#,
            br#"{"src":"n1","dest":"n2","body":{"type":5}}"#,
        ] {
            let (_, _, body) = parse_node_line(line).unwrap();
            assert_eq!(
                Value::Object(body),
                serde_json::from_slice::<Value>(line).unwrap()["body"]
            );
        }
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
        let (run, network) = network_of(&["n0"]);
        network.register_node("n0");
        let (inbox, replies) = crossbeam_channel::unbounded();
        network.register_client("c3", inbox);
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        assert_eq!(replies.try_recv().unwrap().body["type"], "x");
        assert!(!run.has_crashed());
        network.unregister_client("c3");
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        let reason = run.crash_reason().unwrap();
        assert!(
            reason.contains("node n0 sent a message whose dest \"c3\" is not a registered"),
            "{reason}"
        );
    }

    /// A network over `ids`, none of them started yet, with client c3 open.
    fn network_of(ids: &[&str]) -> (Arc<RunState>, Arc<Network>) {
        let run = Arc::new(RunState::new(Journal::new(std::io::sink())));
        let launch = Arc::new(NodeLaunch {
            bin: "/bin/false".into(),
            args: Vec::new(),
            log_dir: std::env::temp_dir(),
            echo_stderr: false,
        });
        let nodes: Vec<_> = ids
            .iter()
            .map(|id| NodeProcess::new(id.to_string(), Arc::clone(&launch)))
            .collect();
        let network = Network::new(Arc::clone(&run), &nodes, 0.0, LatencyDist::Constant, 1);
        let (inbox, _) = crossbeam_channel::unbounded();
        network.register_client("c3", inbox);
        (run, network)
    }

    #[test]
    fn src_must_be_a_registered_node_or_client() {
        let (run, network) = network_of(&["n0", "n1"]);
        network.register_node("n0");
        network.register_node("n1");
        // Forwarding under a client's id is legal, and so is any registered node's id.
        network.accept_from_node("n1", br#"{"src":"c3","dest":"n0","body":{"type":"read"}}"#);
        network.accept_from_node("n1", br#"{"src":"n0","dest":"n0","body":{}}"#);
        assert!(!run.has_crashed());
        network.accept_from_node(
            "n0",
            br#"{"src":"x9","dest":"c3","body":{"type":"read_ok"}}"#,
        );
        let reason = run.crash_reason().unwrap();
        assert!(
            reason.starts_with(
                "node n0 sent a message whose src \"x9\" is not a registered node or client: "
            ) && reason.contains(r#"\"src\":\"x9\""#),
            "{reason}"
        );
    }

    #[test]
    fn a_node_is_registered_from_its_start_not_from_the_run_start() {
        let (run, network) = network_of(&["n0", "n1"]);
        network.register_node("n0");
        network.accept_from_node("n0", br#"{"src":"n0","dest":"n1","body":{}}"#);
        let reason = run.crash_reason().unwrap();
        assert!(
            reason.contains("dest \"n1\" is not a registered"),
            "{reason}"
        );
    }

    #[test]
    fn after_the_time_limit_a_late_answer_to_a_finished_client_is_dropped() {
        let (run, network) = network_of(&["n0"]);
        network.register_node("n0");
        network.unregister_client("c3");
        run.end_workload();
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        // Or a request forwarded under its id.
        network.accept_from_node("n0", br#"{"src":"c3","dest":"n0","body":{"type":"x"}}"#);
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
