//! The service thread's work: each inbound message enters the monitor, changes the
//! core (through the request path for client requests), and leaves its effects to the
//! other threads.

use super::monitor::{Monitor, State};
use crate::protocol::{ClientRef, Request};
use crate::raft::{Message, NodeId};

pub fn raft_message(monitor: &Monitor, from: &NodeId, msg: Message) {
    let mut state = monitor.lock();
    let now = monitor.now();
    state.raft.step(from, msg, now);
    monitor.commit_changes(&mut state);
}

/// A client request, straight from the client (`hops` 0) or forwarded by a server.
pub fn client_request(monitor: &Monitor, origin: ClientRef, request: Request, hops: u32) {
    let mut state = monitor.lock();
    let now = monitor.now();
    let State { raft, requests, .. } = &mut *state;
    let out = requests.client_request(raft, origin, request, hops, now);
    monitor.send(out);
    monitor.commit_changes(&mut state);
}
