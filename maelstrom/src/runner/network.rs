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
//!
//! The hot path is kept cheap, since at saturation the runner competes with the nodes for
//! the same cores: a line is split into its top-level fields without building a JSON tree,
//! the body is forwarded as the bytes its sender wrote, a delivery thread is woken only
//! when it waits for an empty queue, and every message already due when it takes the head
//! goes to the node in the same write.

use std::borrow::Cow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::cli::LatencyDist;
use super::client::Mailbox;
use super::journal::Level;
use super::process::{NodeProcess, TryWrite};
use super::recorder::RunState;

/// A message in flight. The body is the JSON text its sender wrote, forwarded as is.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub id: u64,
    pub src: String,
    pub dest: String,
    pub body: Box<RawValue>,
}

/// The line a node reads on stdin: the envelope plus the `id` Maelstrom adds.
#[derive(Serialize)]
struct WireMessage<'a> {
    id: u64,
    src: &'a str,
    dest: &'a str,
    body: &'a RawValue,
}

impl Envelope {
    /// Appends the envelope as its receiver reads it: one JSON line.
    fn write_line(&self, out: &mut Vec<u8>) {
        let wire = WireMessage {
            id: self.id,
            src: &self.src,
            dest: &self.dest,
            body: &self.body,
        };
        serde_json::to_writer(&mut *out, &wire).expect("writing to a Vec cannot fail");
        out.push(b'\n');
    }
}

/// "Is a client" in Maelstrom's sense: the id starts with `c`.
fn is_client(id: &str) -> bool {
    id.starts_with('c')
}

/// A node's output line split into its top-level fields, each still the raw JSON text
/// borrowed from the line, and the first key outside the schema, if any. Duplicate keys
/// keep the last value, as a JSON map would.
#[derive(Default)]
struct TopLevel<'a> {
    id: Option<&'a RawValue>,
    src: Option<&'a RawValue>,
    dest: Option<&'a RawValue>,
    body: Option<&'a RawValue>,
    extra: Option<String>,
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let mut fields = TopLevel::default();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            let slot = match &*key {
                "id" => &mut fields.id,
                "src" => &mut fields.src,
                "dest" => &mut fields.dest,
                "body" => &mut fields.body,
                other => {
                    fields.extra.get_or_insert_with(|| other.to_string());
                    continue;
                }
            };
            *slot = Some(value);
        }
        Ok(fields)
    }
}

/// An object key, borrowed from the line unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key.to_string())))
    }
}

/// Checks one stdout line of a node against Maelstrom's closed schema: exactly `src`,
/// `dest`, `body` and an optional integer `id`; src and dest strings; body an object.
/// The body's contents are free: between nodes it need not even have a `type`, and what
/// a client cannot read is the workload's to judge. Returns (src, dest, body) or why the
/// line is not a message.
fn parse_node_line(line: &[u8]) -> Result<(String, String, Box<RawValue>), String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("blank line".into());
    }
    let fields: TopLevel = serde_json::from_slice(line).map_err(|error| {
        // Only a top level other than an object is a data error here; tell it apart
        // from text that is not JSON at all.
        if error.is_data() && serde_json::from_slice::<IgnoredAny>(line).is_ok() {
            "not a JSON object".to_string()
        } else {
            format!("not JSON ({error})")
        }
    })?;
    if let Some(extra) = fields.extra {
        return Err(format!(
            "unexpected top-level key {extra:?} (only src, dest, body and id are allowed)"
        ));
    }
    if let Some(id) = fields.id {
        let text = id.get();
        if serde_json::from_str::<i64>(text).is_err() && serde_json::from_str::<u64>(text).is_err()
        {
            return Err(format!("top-level id must be an integer, got {text}"));
        }
    }
    let string_field = |name: &str, raw: Option<&RawValue>| match raw {
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| format!("{name} must be a string, got {raw}")),
        None => Err(format!("missing {name}")),
    };
    let src = string_field("src", fields.src)?;
    let dest = string_field("dest", fields.dest)?;
    match fields.body {
        // A raw value starts at its first character: `{` is an object, and only one.
        Some(body) if body.get().starts_with('{') => Ok((src, dest, body.to_owned())),
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
    /// The delivery thread waits for the queue to fill: only then does an arrival wake
    /// it. A thread sleeping until its head is due has nothing to gain from a wake-up.
    idle: bool,
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
    clients: RwLock<HashMap<String, Arc<Mailbox>>>,
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
        let mut line = Vec::new();
        envelope.write_line(&mut line);
        let json = String::from_utf8_lossy(&line);
        self.run
            .say(Level::Info, &format!("{what} {}", json.trim_end()));
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

    pub fn register_client(&self, id: &str, inbox: Arc<Mailbox>) {
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
    pub fn send_from_client(&self, src: &str, dest: &str, body: Box<RawValue>) {
        self.route(src.to_string(), dest.to_string(), body);
    }

    fn route(&self, src: String, dest: String, body: Box<RawValue>) {
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
            let mut queue = inbox.queue.lock().unwrap();
            if delay.is_zero() && queue.idle && queue.heap.is_empty() {
                // The delivery thread would take this message the moment it woke, and
                // the node's pipe has room for it unless `try_write_line` says not: write
                // it now, under the queue's lock so that nothing overtakes it, and spare
                // the thread a wake-up.
                if self.is_cut(&envelope) {
                    return;
                }
                let mut line = Vec::new();
                envelope.write_line(&mut line);
                match inbox.node.try_write_line(&line) {
                    TryWrite::Written => {
                        drop(queue);
                        self.delivered(&envelope);
                        return;
                    }
                    TryWrite::Down => return,
                    TryWrite::Full => {}
                }
            }
            let queued = Queued {
                deadline: Instant::now() + delay,
                sequence: self.next_sequence.fetch_add(1, Ordering::SeqCst),
                envelope,
            };
            queue.heap.push(queued);
            let idle = queue.idle;
            drop(queue);
            if idle {
                inbox.wakeup.notify_one();
            }
        } else if let Some(client) = self.clients.read().unwrap().get(&envelope.dest) {
            self.delivered(&envelope);
            client.put(envelope);
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

    fn is_cut(&self, envelope: &Envelope) -> bool {
        self.cut
            .read()
            .unwrap()
            .get(&envelope.dest)
            .is_some_and(|deaf_to| deaf_to.contains(&envelope.src))
    }

    /// Maelstrom's `recv!` in a loop: take the head, drop it if its sender is cut off
    /// from this node now, else wait until it is due and write it. A node hears whatever
    /// is sent to it once its process runs, before its init too, as in Maelstrom.
    /// Messages due by the time the head is written go with it, in queue order and each
    /// checked against the partition as it is taken, exactly as successive `recv!`s
    /// would take them, but in one write.
    fn deliver_loop(&self, inbox: &Inbox) {
        let mut batch = Vec::new();
        let mut lines = Vec::new();
        loop {
            let Some(deadline) = self.take_head(inbox, &mut batch) else {
                return;
            };
            if deadline > Instant::now() {
                if !sleep_until(inbox, deadline) {
                    return;
                }
                let mut queue = inbox.queue.lock().unwrap();
                self.take_due(&mut queue, Instant::now(), &mut batch);
            }
            lines.clear();
            for envelope in &batch {
                envelope.write_line(&mut lines);
            }
            // A dead node loses what is sent to it, as over a real network.
            if inbox.node.write_line(&lines) {
                for envelope in &batch {
                    self.delivered(envelope);
                }
            }
            batch.clear();
        }
    }

    /// Waits for the inbox to hold a message and moves the earliest-due one, due or not,
    /// to `batch`, dropping heads whose sender is cut off from this node; when that head
    /// is already due, everything else due is taken along. Returns the head's deadline,
    /// or `None` once the network is shut.
    fn take_head(&self, inbox: &Inbox, batch: &mut Vec<Envelope>) -> Option<Instant> {
        let mut queue = inbox.queue.lock().unwrap();
        loop {
            if queue.closed {
                return None;
            }
            match queue.heap.pop() {
                Some(head) if self.is_cut(&head.envelope) => {}
                Some(Queued {
                    deadline, envelope, ..
                }) => {
                    batch.push(envelope);
                    let now = Instant::now();
                    if deadline <= now {
                        self.take_due(&mut queue, now, batch);
                    }
                    return Some(deadline);
                }
                None => {
                    queue.idle = true;
                    queue = inbox.wakeup.wait(queue).unwrap();
                    queue.idle = false;
                }
            }
        }
    }

    /// Moves every message due by `now` to `batch`, in queue order, dropping those whose
    /// sender is cut off from this node.
    fn take_due(&self, queue: &mut InboxQueue, now: Instant, batch: &mut Vec<Envelope>) {
        while queue.heap.peek().is_some_and(|next| next.deadline <= now) {
            let next = queue.heap.pop().expect("just peeked");
            if !self.is_cut(&next.envelope) {
                batch.push(next.envelope);
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
        assert_eq!(
            body.get(),
            r#"{"type":"read_ok","value":3,"in_reply_to":2}"#
        );
        assert!(parse_node_line(br#"{"id":7,"src":"n1","dest":"n2","body":{"type":"x"}}"#).is_ok());
        // Escaped strings and keys are JSON too.
        let (src, _, _) =
            parse_node_line(br#"{"\u0073rc":"n\u0031","dest":"n2","body":{}}"#).unwrap();
        assert_eq!(src, "n1");
    }

    #[test]
    fn a_body_is_forwarded_as_its_sender_wrote_it() {
        let body = r#"{ "z": 1.50, "a": [1e2, "\u00e9"], "z": 2 }"#;
        let line = format!(r#"{{"dest":"n2", "body": {body}, "src":"n1"}}"#);
        let (src, dest, parsed) = parse_node_line(line.as_bytes()).unwrap();
        assert_eq!(parsed.get(), body);
        let envelope = Envelope {
            id: 9,
            src,
            dest,
            body: parsed,
        };
        let mut wire = Vec::new();
        envelope.write_line(&mut wire);
        envelope.write_line(&mut wire);
        let expected = format!("{{\"id\":9,\"src\":\"n1\",\"dest\":\"n2\",\"body\":{body}}}\n");
        assert_eq!(String::from_utf8(wire).unwrap(), expected.repeat(2));
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
            let text = std::str::from_utf8(line).unwrap();
            assert!(
                text.contains(&format!(r#""body":{}}}"#, body.get())),
                "{text}"
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
            body: RawValue::from_string("{}".into()).unwrap(),
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
        let inbox = Arc::new(Mailbox::default());
        network.register_client("c3", Arc::clone(&inbox));
        network.accept_from_node("n0", br#"{"src":"n0","dest":"c3","body":{"type":"x"}}"#);
        assert_eq!(
            inbox.take(Duration::ZERO).unwrap().body.get(),
            r#"{"type":"x"}"#
        );
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
        network.register_client("c3", Arc::new(Mailbox::default()));
        (run, network)
    }

    #[test]
    fn due_messages_are_taken_together_in_queue_order_without_cut_ones() {
        let (run, network) = network_of(&["n0", "n1", "n2"]);
        for id in ["n0", "n1", "n2"] {
            network.register_node(id);
        }
        for (from, note) in [("n1", 0), ("n2", 1), ("c3", 2), ("n1", 3)] {
            let line = format!(r#"{{"src":"{from}","dest":"n0","body":{{"note":{note}}}}}"#);
            network.accept_from_node(from, line.as_bytes());
        }
        assert!(!run.has_crashed());
        network.set_cut(HashMap::from([(
            "n0".to_string(),
            HashSet::from(["n2".to_string()]),
        )]));
        let inbox = &network.inboxes["n0"];
        let mut batch = Vec::new();
        assert!(network.take_head(inbox, &mut batch).unwrap() <= Instant::now());
        let notes: Vec<&str> = batch.iter().map(|envelope| envelope.body.get()).collect();
        assert_eq!(notes, [r#"{"note":0}"#, r#"{"note":2}"#, r#"{"note":3}"#]);
        assert!(inbox.queue.lock().unwrap().heap.is_empty());
    }

    #[test]
    fn an_idle_inbox_writes_at_once_until_the_pipe_is_full() {
        let dir = std::env::temp_dir().join(format!("net-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("stdin");
        let run = Arc::new(RunState::new(Journal::new(std::io::sink())));
        let launch = Arc::new(NodeLaunch {
            bin: "/bin/sh".into(),
            args: vec!["-c".into(), format!("exec cat > {}", out.display())],
            log_dir: dir.clone(),
            echo_stderr: false,
        });
        let node = NodeProcess::new("n0".into(), launch);
        let network = Network::new(
            Arc::clone(&run),
            &[Arc::clone(&node)],
            0.0,
            LatencyDist::Constant,
            1,
        );
        node.start(&network, &run).unwrap();
        let inbox = &network.inboxes["n0"];
        // As if its delivery thread waited for the queue to fill.
        inbox.queue.lock().unwrap().idle = true;
        let line = br#"{"src":"n0","dest":"n0","body":{"type":"x"}}"#;
        network.accept_from_node("n0", line);
        assert!(inbox.queue.lock().unwrap().heap.is_empty());
        assert_eq!(network.counts().all.received, 1);
        let expected = "{\"id\":0,\"src\":\"n0\",\"dest\":\"n0\",\"body\":{\"type\":\"x\"}}\n";
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&out).unwrap_or_default() != expected {
            assert!(Instant::now() < deadline, "the node never read the line");
            thread::sleep(Duration::from_millis(10));
        }
        // A stopped node's pipe fills up; from then on messages queue for the thread.
        node.pause();
        for _ in 0..5000 {
            network.accept_from_node("n0", line);
        }
        let queued = inbox.queue.lock().unwrap().heap.len();
        assert!(queued > 0 && queued < 5000, "{queued} queued");
        node.kill();
        assert!(!run.has_crashed());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_head_not_yet_due_is_taken_alone() {
        let run = Arc::new(RunState::new(Journal::new(std::io::sink())));
        let launch = Arc::new(NodeLaunch {
            bin: "/bin/false".into(),
            args: Vec::new(),
            log_dir: std::env::temp_dir(),
            echo_stderr: false,
        });
        let nodes = [NodeProcess::new("n0".into(), launch)];
        let network = Network::new(run, &nodes, 1000.0, LatencyDist::Constant, 1);
        network.register_node("n0");
        for _ in 0..2 {
            network.accept_from_node("n0", br#"{"src":"n0","dest":"n0","body":{}}"#);
        }
        let inbox = &network.inboxes["n0"];
        let mut batch = Vec::new();
        assert!(network.take_head(inbox, &mut batch).unwrap() > Instant::now());
        assert_eq!(batch.len(), 1);
        assert_eq!(inbox.queue.lock().unwrap().heap.len(), 1);
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
