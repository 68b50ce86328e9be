//! The service thread's work: each inbound message enters the monitor, changes the
//! core, and leaves its effects to the other threads.

use super::monitor::Monitor;
use crate::kv::{Command, KvOp};
use crate::protocol::{self, code, ClientRef, Forward, Request};
use crate::raft::{Message, NodeId, Role};

/// A forwarded request stops after this many servers; the last one fails it.
const MAX_HOPS: u32 = 3;

pub fn raft_message(monitor: &Monitor, from: &NodeId, msg: Message) {
    let mut state = monitor.lock();
    let now = monitor.now();
    state.raft.step(from, msg, now);
    monitor.commit_changes(&mut state);
}

/// A client request, straight from the client (`hops` 0) or forwarded by a server.
/// The leader proposes it (or starts a read) and will answer the client itself; any
/// other server passes it toward the leader.
pub fn client_request(monitor: &Monitor, origin: ClientRef, request: Request, hops: u32) {
    let mut state = monitor.lock();
    let me = state.raft.id().clone();
    if state.raft.role() == Role::Leader {
        let op = match request {
            Request::Read { key } => {
                let read = state.register_read(origin.clone(), key);
                state.raft.read_index(read).map_err(drop).map(|()| None)
            }
            Request::Write { key, value } => Ok(Some(KvOp::Write { key, value })),
            Request::Cas { key, from, to } => Ok(Some(KvOp::Cas { key, from, to })),
        };
        let accepted = match op {
            Ok(Some(op)) => {
                let cmd = Command {
                    client: origin.client,
                    msg_id: origin.msg_id,
                    proposer: me,
                    op,
                };
                state.raft.propose(cmd).is_ok()
            }
            Ok(None) => true,
            Err(()) => false,
        };
        debug_assert!(accepted, "a leader accepts proposals and reads");
        monitor.commit_changes(&mut state);
        return;
    }
    let leader = state.raft.leader().cloned();
    drop(state);
    match leader {
        Some(leader) if leader != me && hops < MAX_HOPS => {
            if monitor.verbose {
                eprintln!(
                    "{me}: forwarding {}:{} to {leader}",
                    origin.client, origin.msg_id
                );
            }
            let forward = Forward {
                origin,
                request,
                hops: hops + 1,
            };
            monitor
                .outbox
                .send(&leader, protocol::forward_body(&forward));
        }
        _ => {
            // Nobody has proposed this request, and nobody else holds a copy of it:
            // failing it is definite and safe.
            if monitor.verbose {
                eprintln!(
                    "{me}: no leader for {}:{}, failing it",
                    origin.client, origin.msg_id
                );
            }
            let body = protocol::error(
                origin.msg_id,
                code::TEMPORARILY_UNAVAILABLE,
                "no leader known",
            );
            monitor.outbox.send(&origin.client, body);
        }
    }
}
