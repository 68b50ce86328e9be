//! The service thread's work: each inbound message enters the monitor, changes the
//! core, and leaves its effects to the other threads.

use rand::seq::IteratorRandom;

use super::monitor::{Monitor, State};
use crate::kv::{Command, KvOp};
use crate::protocol::{self, code, ClientRef, Forward, Request};
use crate::raft::{AdminError, ConfigChange, Message, NodeId};

/// A forwarded request stops after this many servers; the last one fails it.
const MAX_HOPS: u32 = 3;

pub fn raft_message(monitor: &Monitor, from: &NodeId, msg: Message) {
    let mut state = monitor.lock();
    let now = monitor.now();
    state.raft.step(from, msg, now);
    monitor.commit_changes(&mut state);
}

/// A client request held while its server's cluster elects a leader.
pub struct Parked {
    pub origin: ClientRef,
    pub request: Request,
    pub hops: u32,
    /// When it stops waiting and fails, on the monitor's clock.
    pub give_up_at: u64,
}

/// A client request, straight from the client (`hops` 0) or forwarded by a server.
/// The leader takes it (and will answer the client itself); any other server passes it
/// toward the leader, or holds it while an election is on.
pub fn client_request(monitor: &Monitor, origin: ClientRef, request: Request, hops: u32) {
    route(monitor, origin, request, hops, None);
}

/// Routes a request again once a leader is known or its wait is over.
pub fn unpark(monitor: &Monitor, parked: Parked) {
    let Parked {
        origin,
        request,
        hops,
        give_up_at,
    } = parked;
    route(monitor, origin, request, hops, Some(give_up_at));
}

fn route(
    monitor: &Monitor,
    origin: ClientRef,
    request: Request,
    hops: u32,
    give_up_at: Option<u64>,
) {
    let mut state = monitor.lock();
    if serve(monitor, &mut state, &origin, &request) {
        monitor.commit_changes(&mut state);
        return;
    }
    let me = state.raft.id().clone();
    let now = monitor.now();
    let give_up_at = give_up_at.unwrap_or(now + monitor.park_for(&state.raft));
    if state.raft.leader().is_none() && state.raft.voters().contains(&me) && now < give_up_at {
        // A voter without a leader is in an election, which usually ends within an
        // election timeout: hold the request (nobody else has it) rather than fail it.
        state.parked.push(Parked {
            origin,
            request,
            hops,
            give_up_at,
        });
        monitor.changed.notify_all();
        return;
    }
    let next_hop = match state.raft.leader() {
        Some(leader) if *leader != me => Some(leader.clone()),
        // A server outside the voters (not yet added, or removed) may never hear from
        // a leader; the voters it knows of likely have.
        _ if !state.raft.voters().contains(&me) => state
            .raft
            .voters()
            .iter()
            .filter(|v| **v != me)
            .choose(&mut rand::thread_rng())
            .cloned(),
        // A voter whose election outlasted the wait: fail rather than send the request
        // where a partition may swallow it.
        _ => None,
    };
    drop(state);
    match next_hop {
        Some(leader) if hops < MAX_HOPS => {
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

/// Takes the request if this server is a leader serving requests: proposes it, starts
/// a read, or starts or answers an admin request. Returns false, with nothing changed,
/// when the request must go elsewhere.
fn serve(monitor: &Monitor, state: &mut State, origin: &ClientRef, request: &Request) -> bool {
    let now = monitor.now();
    let op = match request {
        Request::Read { key } => {
            let read = state.register_read(origin.clone(), key.clone());
            if state.raft.read_index(read).is_err() {
                state.reads.remove(&read);
                return false;
            }
            return true;
        }
        Request::Write { key, value } => KvOp::Write {
            key: key.clone(),
            value: value.clone(),
        },
        Request::Cas { key, from, to } => KvOp::Cas {
            key: key.clone(),
            from: from.clone(),
            to: to.clone(),
        },
        Request::ReadConfig => return read_config(monitor, state, origin),
        Request::AddVoter { node } => {
            let change = Admin::Change(ConfigChange::AddVoter(node.clone()));
            return admin(monitor, state, origin, request, node, change, now);
        }
        Request::AddNonVoter { node } => {
            let change = Admin::Change(ConfigChange::AddNonVoter(node.clone()));
            return admin(monitor, state, origin, request, node, change, now);
        }
        Request::RemoveServer { node } => {
            let change = Admin::Change(ConfigChange::RemoveServer(node.clone()));
            return admin(monitor, state, origin, request, node, change, now);
        }
        Request::TransferLeadership { node } => {
            let transfer = Admin::Transfer(node.clone());
            return admin(monitor, state, origin, request, node, transfer, now);
        }
    };
    let command = Command {
        client: origin.client.clone(),
        msg_id: origin.msg_id,
        proposer: state.raft.id().clone(),
        op,
    };
    state.raft.propose(command).is_ok()
}

/// Only a leader answers, so the answer is as fresh as this server can give.
fn read_config(monitor: &Monitor, state: &State, origin: &ClientRef) -> bool {
    let raft = &state.raft;
    if raft.leader() != Some(raft.id()) {
        return false;
    }
    let body =
        protocol::read_config_ok(origin.msg_id, raft.id(), raft.term(), &raft.configuration());
    monitor.outbox.send(&origin.client, body);
    true
}

/// What an admin request asks of the core.
enum Admin {
    Change(ConfigChange),
    Transfer(NodeId),
}

/// Starts an admin request about server `node` on the leader. The core answers later
/// (see the monitor), unless it refuses at once; a server that does not lead passes
/// the request on. A server outside node_ids is refused by whoever sees it first.
fn admin(
    monitor: &Monitor,
    state: &mut State,
    origin: &ClientRef,
    request: &Request,
    node: &NodeId,
    action: Admin,
    now: u64,
) -> bool {
    if !state.node_ids.contains(node) {
        let text = format!("unknown server {node:?}: not in init's node_ids");
        let body = protocol::error(origin.msg_id, code::MALFORMED_REQUEST, &text);
        monitor.outbox.send(&origin.client, body);
        return true;
    }
    let id = state.register_admin(origin.clone(), request.ok_type());
    let started = match action {
        Admin::Change(change) => state.raft.change_config(id, change, now),
        Admin::Transfer(target) => state.raft.transfer_leadership(id, target, now),
    };
    match started {
        Ok(()) => {}
        Err(AdminError::NotLeader(_)) => {
            state.admin.remove(&id);
            return false;
        }
        Err(refused) => {
            state.admin.remove(&id);
            let body = protocol::error(
                origin.msg_id,
                admin_error_code(&refused),
                &refused.to_string(),
            );
            monitor.outbox.send(&origin.client, body);
        }
    }
    true
}

/// Every refusal is definite: nothing changed. Most are worth retrying later.
pub fn admin_error_code(error: &AdminError) -> u64 {
    match error {
        AdminError::LastVoter => code::MALFORMED_REQUEST,
        _ => code::TEMPORARILY_UNAVAILABLE,
    }
}
