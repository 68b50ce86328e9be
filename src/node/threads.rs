//! The threads around the monitor, one job each: a peer thread per other server, the
//! state machine thread, the election and step-down timers, the log sync thread and the
//! parking thread. (The service threads are [`super::service`]'s.)

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::monitor::{storage_failed, take_messages, Monitor, Sleeper, State};
use super::requests::Batch;
use super::requests::Outgoing;
use super::state_machine::StateMachine;
use crate::raft::{Message, NodeId, Raft, Snapshot};

pub fn spawn(name: String, job: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name(name)
        .spawn(job)
        .expect("spawn thread")
}

/// Sends `peer` whatever the core has for it: replies, vote requests, entries and
/// heartbeats. Whoever changes the core takes the messages out under the lock and hands
/// them over (see [`Monitor::commit_changes`]); this thread serializes and writes them
/// outside it. What comes due with time alone (a leader's heartbeats, resends, work it
/// held back to batch) it takes out itself, polling a heartbeat interval after it last
/// sent, or when a hold ends. An empty hand-out says a hold began.
pub fn peer(monitor: Arc<Monitor>, peer: NodeId, work: Receiver<Vec<Message>>) {
    let (me, mut heartbeat) = {
        let state = monitor.lock();
        (state.raft.id().clone(), state.raft.heartbeat_interval())
    };
    let mut poll_at = monitor.now();
    let mut hold_ends = None;
    loop {
        let wait = Duration::from_millis(poll_at.saturating_sub(monitor.now()));
        let messages = match work.recv_timeout(wait) {
            Ok(messages) if messages.is_empty() => {
                hold_ends = monitor.lock().raft.hold_ends(&peer);
                messages
            }
            Ok(messages) => messages,
            Err(RecvTimeoutError::Timeout) => {
                let mut state = monitor.lock();
                heartbeat = state.raft.heartbeat_interval();
                let messages = take_messages(&mut state.raft, &peer, monitor.now());
                hold_ends = state.raft.hold_ends(&peer);
                messages
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let now = monitor.now();
        hold_ends = hold_ends.filter(|&at| at > now);
        poll_at = hold_ends.map_or(now + heartbeat, |at| at.min(now + heartbeat));
        let mut lines = Vec::new();
        for msg in &messages {
            if let Message::InstallSnapshot {
                meta, done: true, ..
            } = msg
            {
                eprintln!(
                    "{me}: snapshot sent to {peer} up to index {} (its last chunk)",
                    meta.last_index
                );
            }
            monitor.outbox.push(&mut lines, &peer, msg);
        }
        monitor.outbox.send_lines(lines);
    }
}

/// Applies committed entries to the key-value store and answers clients (see
/// [`StateMachine`]), batch by batch as the monitor hands them out, outside the lock.
/// When a snapshot is due it is taken here too, outside the lock, so consensus goes on.
pub fn state_machine(monitor: Arc<Monitor>, mut machine: StateMachine, work: Receiver<Batch>) {
    while let Ok(batch) = work.recv() {
        let mut out = apply(&mut machine, batch);
        for batch in work.try_iter() {
            out.extend(apply(&mut machine, batch));
        }
        monitor.send(out);
        if let Some(snapshot) = machine.take_snapshot() {
            save_snapshot(&monitor, &snapshot);
        }
    }
}

/// Applies one batch; a snapshot this state machine cannot load stops the server, which
/// could otherwise only go on with a store that differs from everyone else's.
fn apply(machine: &mut StateMachine, batch: Batch) -> Vec<Outgoing> {
    machine.apply(batch).unwrap_or_else(|bad| {
        eprintln!(
            "cannot load the snapshot up to {}, stopping: {}",
            bad.index, bad.reason
        );
        std::process::abort();
    })
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
        state = match Sleeper::ParkedRequests.due(&state, now) {
            Some(at) if now >= at => {
                let State { raft, requests, .. } = &mut *state;
                let out = requests.route_parked(raft, now);
                monitor.send(out);
                monitor.commit_changes(&mut state);
                state
            }
            due => monitor.sleep(state, Sleeper::ParkedRequests, due),
        };
    }
}

/// Starts an election when a follower or candidate has heard nothing for its timeout.
pub fn election_timer(monitor: Arc<Monitor>) {
    timer(&monitor, Sleeper::ElectionTimer, Raft::tick_election)
}

/// Makes a leader that no majority has answered for an election timeout step down, and
/// gives up catch-ups and transfers that ran out of time.
pub fn step_down_timer(monitor: Arc<Monitor>) {
    timer(&monitor, Sleeper::StepDownTimer, Raft::tick_leader)
}

/// Sleeps until the core's deadline (re-read whenever it wakes), then `fire`s.
fn timer(monitor: &Monitor, sleeper: Sleeper, fire: fn(&mut Raft, u64)) {
    let mut state = monitor.lock();
    loop {
        let now = monitor.now();
        state = match sleeper.due(&state, now) {
            Some(at) if now >= at => {
                fire(&mut state.raft, now);
                monitor.commit_changes(&mut state);
                state
            }
            due => monitor.sleep(state, sleeper, due),
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
        let entries = match Sleeper::LogSync.due(&state, monitor.now()) {
            Some(_) => state.raft.take_log_write(),
            None => None,
        };
        let Some(entries) = entries else {
            state = monitor.sleep(state, Sleeper::LogSync, None);
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
