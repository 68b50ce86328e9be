//! The threads around the monitor, one job each: a peer thread per other server, the
//! state machine thread, the election and step-down timers, and the log sync thread.

use std::sync::Arc;
use std::thread;

use super::monitor::{storage_failed, Monitor, State};
use super::state_machine::StateMachine;
use crate::protocol;
use crate::raft::{Message, NodeId, Raft, Role, Snapshot};

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
    let me = state.raft.id().clone();
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
            if let Message::InstallSnapshot {
                meta, done: true, ..
            } = msg
            {
                eprintln!(
                    "{me}: snapshot sent to {peer} up to index {} (its last chunk)",
                    meta.last_index
                );
            }
            monitor.outbox.send(&peer, protocol::raft_body(msg));
        }
        state = monitor.lock();
    }
}

/// Applies committed entries to the key-value store and answers clients (see
/// [`StateMachine`]); the batch is taken under the lock, applied outside it. When a
/// snapshot is due it is taken here too, outside the lock, so consensus goes on.
pub fn state_machine(monitor: Arc<Monitor>, mut machine: StateMachine) {
    loop {
        let mut state = monitor.lock();
        let batch = loop {
            let State { raft, requests, .. } = &mut *state;
            if let Some(batch) = requests.take_batch(raft) {
                break batch;
            }
            state = monitor.wait(state);
        };
        drop(state);
        match machine.apply(batch) {
            Ok(out) => monitor.send(out),
            Err(bad) => {
                eprintln!(
                    "cannot load the snapshot up to {}, stopping: {}",
                    bad.index, bad.reason
                );
                std::process::abort();
            }
        }
        if let Some(snapshot) = machine.take_snapshot() {
            save_snapshot(&monitor, &snapshot);
        }
    }
}

/// Makes a snapshot the state machine took durable, then lets the core compact its log.
/// The storage lock is taken before the consensus lock is released, and only if no
/// newer snapshot (one received from a leader meanwhile) is there already, so storage
/// never goes back to an older snapshot.
fn save_snapshot(monitor: &Monitor, snapshot: &Snapshot) {
    let state = monitor.lock();
    if state.raft.snapshot_index() >= snapshot.meta.last_index {
        return;
    }
    let mut storage = monitor.lock_storage();
    drop(state);
    storage
        .save_snapshot(snapshot)
        .unwrap_or_else(|e| storage_failed(&e));
    drop(storage);
    let mut state = monitor.lock();
    state.raft.snapshot_saved(snapshot);
    eprintln!(
        "{}: snapshot taken up to index {} ({} bytes)",
        state.raft.id(),
        snapshot.meta.last_index,
        snapshot.data.len()
    );
    monitor.commit_changes(&mut state);
}

/// Sends requests held during an election on their way once a leader is known, and
/// fails those that waited too long.
pub fn parked_requests(monitor: Arc<Monitor>) {
    let mut state = monitor.lock();
    loop {
        let now = monitor.now();
        state = match state.requests.parked_due(&state.raft, now) {
            None => monitor.wait(state),
            Some(at) if now < at => monitor.wait_until(state, at),
            Some(_) => {
                let State { raft, requests, .. } = &mut *state;
                let out = requests.route_parked(raft, now);
                monitor.send(out);
                monitor.commit_changes(&mut state);
                state
            }
        };
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
