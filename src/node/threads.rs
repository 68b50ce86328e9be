//! The threads around the monitor, one job each: a peer thread per other server, the
//! state machine thread, the election and step-down timers, and the log sync thread.

use std::sync::Arc;
use std::thread;

use super::monitor::{storage_failed, Monitor};
use super::service;
use crate::kv::{Kv, KvResult};
use crate::protocol::{self, code};
use crate::raft::{EntryData, Index, NodeId, Raft, Role};

pub fn spawn(name: String, job: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .name(name)
        .spawn(job)
        .expect("spawn thread");
}

/// Sends `peer` whatever the core has for it: replies, vote requests, entries and
/// heartbeats. Taking messages out is cheap and happens under the lock; serializing
/// and writing them happens outside it.
pub fn peer(monitor: Arc<Monitor>, peer: NodeId) {
    let mut state = monitor.lock();
    loop {
        let now = monitor.now();
        let mut batch = Vec::new();
        while let Some(msg) = state.raft.poll_peer(&peer, now) {
            batch.push(msg);
        }
        if batch.is_empty() {
            // A leader owes heartbeats on a schedule; otherwise only a change brings work.
            let heartbeat = state.raft.heartbeat_interval();
            state = if state.raft.role() == Role::Leader {
                monitor.wait_until(state, now + heartbeat)
            } else {
                monitor.wait(state)
            };
            continue;
        }
        drop(state);
        for msg in &batch {
            monitor.outbox.send(&peer, protocol::raft_body(msg));
        }
        state = monitor.lock();
    }
}

/// Applies committed entries to the key-value store and answers clients: the proposer
/// of a command answers it, and confirmed reads are served once their index is applied.
/// Entries up to `recovered_up_to` were in the log at start-up: they were proposed by an
/// earlier life of this server, whose clients have long given up, so they are applied
/// silently.
pub fn state_machine(monitor: Arc<Monitor>, recovered_up_to: Index) {
    let mut kv = Kv::new();
    loop {
        let mut state = monitor.lock();
        let (entries, reads) = loop {
            let entries = state.raft.take_committed();
            let reads = state.raft.take_reads();
            if !entries.is_empty() || !reads.ready.is_empty() || !reads.aborted.is_empty() {
                break (entries, reads);
            }
            state = monitor.wait(state);
        };
        let me = state.raft.id().clone();
        let ready: Vec<_> = reads
            .ready
            .iter()
            .filter_map(|(id, _)| state.reads.remove(id))
            .collect();
        let aborted: Vec<_> = reads
            .aborted
            .iter()
            .filter_map(|id| state.reads.remove(id))
            .collect();
        drop(state);

        // Every read's index is at most the commit index these entries reach, so
        // applying them first makes each read see at least its index.
        for entry in entries {
            let EntryData::Command(cmd) = entry.data else {
                continue;
            };
            let result = kv.apply(&cmd.op);
            if cmd.proposer == me && entry.index > recovered_up_to {
                monitor.outbox.send(&cmd.client, reply(cmd.msg_id, result));
            }
        }
        for (origin, key) in ready {
            monitor
                .outbox
                .send(&origin.client, reply(origin.msg_id, kv.read(&key)));
        }
        for (origin, _) in aborted {
            // A read changes nothing, so failing it definitely is always safe.
            let body = protocol::error(
                origin.msg_id,
                code::TEMPORARILY_UNAVAILABLE,
                "leadership lost",
            );
            monitor.outbox.send(&origin.client, body);
        }
    }
}

fn reply(in_reply_to: u64, result: KvResult) -> serde_json::Value {
    match result {
        KvResult::ReadOk(value) => protocol::read_ok(in_reply_to, value),
        KvResult::WriteOk => protocol::write_ok(in_reply_to),
        KvResult::CasOk => protocol::cas_ok(in_reply_to),
        KvResult::KeyMissing => {
            protocol::error(in_reply_to, code::KEY_DOES_NOT_EXIST, "key does not exist")
        }
        KvResult::PreconditionFailed { current } => {
            let text = format!("expected a different value: current is {current}");
            protocol::error(in_reply_to, code::PRECONDITION_FAILED, &text)
        }
    }
}

/// Sends requests held during an election on their way once a leader is known, and
/// fails those that waited too long. They leave the monitor before they are routed
/// again, since routing takes the lock.
pub fn parked_requests(monitor: Arc<Monitor>) {
    let mut state = monitor.lock();
    loop {
        let Some(give_up_at) = state.parked.iter().map(|p| p.give_up_at).min() else {
            state = monitor.wait(state);
            continue;
        };
        if state.raft.leader().is_none() && monitor.now() < give_up_at {
            state = monitor.wait_until(state, give_up_at);
            continue;
        }
        let parked = std::mem::take(&mut state.parked);
        drop(state);
        for request in parked {
            service::unpark(&monitor, request);
        }
        state = monitor.lock();
    }
}

/// Starts an election when a follower or candidate has heard nothing for its timeout.
pub fn election_timer(monitor: Arc<Monitor>) {
    timer(&monitor, Raft::election_deadline, Raft::tick_election)
}

/// Makes a leader that no majority has answered for an election timeout step down, and
/// gives up catch-ups and transfers that ran out of time.
pub fn step_down_timer(monitor: Arc<Monitor>) {
    timer(&monitor, Raft::leader_deadline, Raft::tick_leader)
}

/// Sleeps until the core's `deadline` (re-read after every change), then `fire`s.
fn timer(monitor: &Monitor, deadline: fn(&Raft) -> Option<u64>, fire: fn(&mut Raft, u64)) {
    let mut state = monitor.lock();
    loop {
        let now = monitor.now();
        state = match deadline(&state.raft) {
            Some(at) if now >= at => {
                fire(&mut state.raft, now);
                monitor.commit_changes(&mut state);
                state
            }
            Some(at) => monitor.wait_until(state, at),
            None => monitor.wait(state),
        };
    }
}

/// Writes the leader's new entries to storage without holding the consensus lock, so
/// the peer threads replicate them while the disk works (dissertation §10.2.1). The
/// storage lock is taken before the consensus lock is released, which keeps writes in
/// the order the core handed them out.
pub fn log_sync(monitor: Arc<Monitor>) {
    let mut state = monitor.lock();
    loop {
        let entries = if state.raft.role() == Role::Leader {
            state.raft.take_log_write()
        } else {
            None
        };
        let Some(entries) = entries else {
            state = monitor.wait(state);
            continue;
        };
        let mut storage = monitor.lock_storage();
        drop(state);
        storage
            .append(&entries)
            .unwrap_or_else(|e| storage_failed(&e));
        drop(storage);
        let last = entries.last().expect("log writes are non-empty");
        state = monitor.lock();
        state.raft.log_written(last.index, last.term);
        monitor.commit_changes(&mut state);
    }
}
