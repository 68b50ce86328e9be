//! Clients: the connections that initialise nodes, and the synchronous worker threads
//! that run the lin-kv workload, one request in flight each, recording the history.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use super::journal::{Level, Source};
use super::network::{Envelope, Network};
use super::recorder::{HistoryLog, RunState};
use super::workload::{
    choose_op, completion_type, group_of, interpret_reply, request_body, role_of, KeyGroups,
    Outcome, RateSchedule,
};
use crate::history::{Event, EventType, OpFn};

/// How long a node has to answer init before the run is abandoned.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a waiting client looks up to see whether the run has crashed.
const CRASH_POLL: Duration = Duration::from_millis(100);

/// A registered client endpoint.
pub struct ClientConn {
    pub id: String,
    inbox: Receiver<Envelope>,
    network: Arc<Network>,
    next_msg_id: u64,
}

impl ClientConn {
    pub fn open(network: &Arc<Network>, id: String) -> ClientConn {
        let (sender, inbox) = crossbeam_channel::unbounded();
        network.register_client(&id, sender);
        ClientConn {
            id,
            inbox,
            network: Arc::clone(network),
            next_msg_id: 1,
        }
    }

    /// Sends a request with the next msg_id (from 1) and returns that msg_id.
    pub fn send(&mut self, dest: &str, mut body: Map<String, Value>) -> u64 {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        body.insert("msg_id".into(), json!(msg_id));
        self.network.send_from_client(&self.id, dest, body);
        msg_id
    }

    /// Waits for the reply to `msg_id`, matched on in_reply_to only, dropping anything
    /// else (late replies to earlier requests). `None` on timeout or when the run crashed.
    pub fn await_reply(
        &self,
        msg_id: u64,
        deadline: Instant,
        run: &RunState,
    ) -> Option<Map<String, Value>> {
        loop {
            if run.has_crashed() {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            match self.inbox.recv_timeout((deadline - now).min(CRASH_POLL)) {
                Ok(envelope) => {
                    if envelope.body.get("in_reply_to").and_then(Value::as_u64) == Some(msg_id) {
                        return Some(envelope.body);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Drop for ClientConn {
    fn drop(&mut self) {
        self.network.unregister_client(&self.id);
    }
}

/// Initialises `targets` one after another in their order, each from a fresh client
/// with msg_id 1, telling them the full ordered `node_ids`, and waits for each init_ok
/// before the next init. Maelstrom inits in parallel, so any order can happen there;
/// this one is among them, and the one in which the most nodes hear from an initialised
/// peer before their own init (every process has started, hence is registered, before
/// the first init).
pub fn initialize(
    network: &Arc<Network>,
    run: &RunState,
    targets: &[String],
    node_ids: &[String],
) -> Result<(), String> {
    for node in targets {
        let mut client = ClientConn::open(network, network.allocate_client_id());
        let body = json!({"type": "init", "node_id": node, "node_ids": node_ids});
        let msg_id = client.send(node, body.as_object().expect("an object").clone());
        run.log(Level::Info, Source::Node, &format!("init sent to {node}"));
        let deadline = Instant::now() + INIT_TIMEOUT;
        let Some(reply) = client.await_reply(msg_id, deadline, run) else {
            if let Some(reason) = run.crash_reason() {
                return Err(reason);
            }
            return Err(format!(
                "node {node} did not answer init within {} s",
                INIT_TIMEOUT.as_secs()
            ));
        };
        if reply.get("type").and_then(Value::as_str) != Some("init_ok") {
            return Err(format!(
                "node {node} answered init with {} instead of init_ok",
                Value::Object(reply)
            ));
        }
        run.log(
            Level::Info,
            Source::Node,
            &format!("{node} answered init_ok"),
        );
    }
    Ok(())
}

/// What every worker shares.
pub struct Workload {
    pub run: Arc<RunState>,
    pub history: Arc<HistoryLog>,
    pub schedule: RateSchedule,
    pub keys: KeyGroups,
    pub node_ids: Vec<String>,
    pub concurrency: usize,
    pub timeout: Duration,
    /// No operation starts after this.
    pub end_of_ops: Instant,
}

/// One client thread: thread i talks to node i mod N from its own client id, issuing an
/// operation whenever the rate schedule says so until the time limit or a crash.
pub fn run_worker(workload: &Workload, thread_index: usize, mut client: ClientConn, seed: u64) {
    let node_count = workload.node_ids.len();
    let node = &workload.node_ids[thread_index % node_count];
    let group = group_of(thread_index, node_count);
    let role = role_of(thread_index, node_count);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut process = thread_index as u64;

    loop {
        let Some(start) = workload.schedule.next_start(Instant::now()) else {
            // --rate 0: no operations at all, while the run lasts its time limit.
            return;
        };
        if start >= workload.end_of_ops {
            // This client closes now; the others may not have noticed the time limit.
            workload.run.end_workload();
            return;
        }
        if !sleep_until(start, &workload.run) {
            return;
        }
        let (f, value) = choose_op(role, &mut rng);
        let key = workload.keys.key_for(group, process);
        let event = |kind, value, error| Event {
            process,
            kind,
            f,
            key: json!(key),
            value,
            time: 0,
            node: node.clone(),
            error,
        };
        workload
            .history
            .record(&workload.run, event(EventType::Invoke, value.clone(), None));
        let msg_id = client.send(node, request_body(f, key, &value));
        let deadline = Instant::now() + workload.timeout;
        let outcome = match client.await_reply(msg_id, deadline, &workload.run) {
            Some(reply) => interpret_reply(f, &reply),
            // The run is over and the operation's fate unknown: leave it without a
            // completion rather than invent a timeout.
            None if workload.run.has_crashed() => return,
            None => Outcome::Timeout,
        };
        let kind = completion_type(f, &outcome);
        let (completed_value, error) = match outcome {
            Outcome::Ok(read) if f == OpFn::Read => (read, None),
            Outcome::Ok(_) => (value, None),
            Outcome::Error { code, text } => (value, Some((code, text))),
            Outcome::Timeout => (
                value,
                Some((
                    0,
                    format!("client timeout after {} ms", workload.timeout.as_millis()),
                )),
            ),
            Outcome::Malformed(why) => (value, Some((-1, format!("malformed reply: {why}")))),
        };
        workload
            .history
            .record(&workload.run, event(kind, completed_value, error));
        // Jepsen gives a thread whose operation is indeterminate a new process id, so
        // each process stays sequential in the history.
        if kind == EventType::Info {
            process += workload.concurrency as u64;
        }
    }
}

/// Sleeps until `when`, waking early (and returning false) if the run crashes.
fn sleep_until(when: Instant, run: &RunState) -> bool {
    loop {
        if run.has_crashed() {
            return false;
        }
        let now = Instant::now();
        if now >= when {
            return true;
        }
        thread::sleep((when - now).min(CRASH_POLL));
    }
}
