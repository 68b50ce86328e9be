//! The monitor: the consensus core and what the threads share about it, behind one
//! mutex (LogCabin's design). Whoever changes the core carries out its urgent writes
//! before releasing the lock, so a message a peer thread takes out is never ahead of
//! the disk.
//!
//! Whoever changes the core also hands out the work the change made, so that only the
//! threads with something to do wake: the messages for each peer go to its peer thread,
//! committed entries and settled reads to the state machine thread, and a sleeping
//! thread (a timer, the log sync thread, the parking thread) is signalled only when what
//! it waits for came due sooner than it planned to wake. One condition variable for all
//! of them, as before, woke nine threads per message, nearly all to find nothing.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::requests::{Batch, Outgoing, Requests};
use super::writer::Outbox;
use crate::raft::{Message, NodeId, Raft, Role, SnapshotWrite, Term};
use crate::storage::Storage;

/// A lock is poisoned when a thread panicked holding it: what it guards may be half
/// changed, and must not be used. The abort-on-panic hook ends the process before
/// anyone can see a poisoned lock; this is the last line behind it.
const POISONED: &str = "a thread panicked while holding a lock";

/// The threads that sleep on the monitor until something comes due.
#[derive(Clone, Copy, Debug)]
pub enum Sleeper {
    ElectionTimer,
    StepDownTimer,
    /// The parking thread: held requests come due when a leader is known, or when the
    /// first of them gives up.
    ParkedRequests,
    /// Due at once when a leader has entries to write.
    LogSync,
}

const SLEEPERS: [Sleeper; 4] = [
    Sleeper::ElectionTimer,
    Sleeper::StepDownTimer,
    Sleeper::ParkedRequests,
    Sleeper::LogSync,
];

impl Sleeper {
    /// When it has work, on the core's clock; None when it has none.
    pub fn due(self, state: &State, now: u64) -> Option<u64> {
        match self {
            Sleeper::ElectionTimer => state.raft.election_deadline(),
            Sleeper::StepDownTimer => state.raft.leader_deadline(),
            Sleeper::ParkedRequests => state.requests.parked_due(&state.raft, now),
            Sleeper::LogSync => {
                (state.raft.role() == Role::Leader && state.raft.log_write_pending()).then_some(now)
            }
        }
    }
}

/// Where the work a change makes goes.
pub struct Workers {
    /// Each peer thread's messages, taken out of the core under the lock.
    pub peers: Vec<(NodeId, Sender<Vec<Message>>)>,
    /// The state machine thread's batches, in commit order.
    pub state_machine: Sender<Batch>,
}

pub struct Monitor {
    state: Mutex<State>,
    /// One per [`Sleeper`], in [`SLEEPERS`] order.
    wake: [Condvar; SLEEPERS.len()],
    /// Locked after `state` when both are needed; the log sync thread holds it alone
    /// while it writes, so the leader's fsync runs outside the consensus lock.
    storage: Mutex<Box<dyn Storage>>,
    pub outbox: Outbox,
    workers: Workers,
    started: Instant,
}

pub struct State {
    pub raft: Raft,
    /// Client and admin requests in progress, and those held during an election.
    pub requests: Requests,
    /// What was last logged about the role, to log each change once.
    logged: (Role, Term),
    /// Until when each sleeper sleeps (u64::MAX: until signalled); None while it is
    /// awake, and then it looks for work itself before it sleeps again.
    sleeping: [Option<u64>; SLEEPERS.len()],
}

impl Monitor {
    pub fn new(
        raft: Raft,
        requests: Requests,
        storage: Box<dyn Storage>,
        outbox: Outbox,
        workers: Workers,
        started: Instant,
    ) -> Self {
        let logged = (raft.role(), raft.term());
        Monitor {
            state: Mutex::new(State {
                raft,
                requests,
                logged,
                sleeping: [None; SLEEPERS.len()],
            }),
            wake: Default::default(),
            storage: Mutex::new(storage),
            outbox,
            workers,
            started,
        }
    }

    /// Sends bodies from the request path to stdout, as one batch.
    pub fn send(&self, out: Vec<Outgoing>) {
        let mut lines = Vec::new();
        for Outgoing { to, body } in out {
            self.outbox.push(&mut lines, &to, body);
        }
        self.outbox.send_lines(lines);
    }

    /// Milliseconds since the node started: the core's clock.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect(POISONED)
    }

    /// The storage, locked after `state` when both are needed.
    pub fn lock_storage(&self) -> MutexGuard<'_, Box<dyn Storage>> {
        self.storage.lock().expect(POISONED)
    }

    /// Sleeps until `until` (ms on the core's clock; None: until signalled), or until
    /// a change makes `sleeper` due sooner. The caller looks for work again after.
    pub fn sleep<'a>(
        &self,
        mut guard: MutexGuard<'a, State>,
        sleeper: Sleeper,
        until: Option<u64>,
    ) -> MutexGuard<'a, State> {
        let slot = sleeper as usize;
        guard.sleeping[slot] = Some(until.unwrap_or(u64::MAX));
        let wake = &self.wake[slot];
        let mut guard = match until {
            Some(at) => {
                let timeout = Duration::from_millis(at.saturating_sub(self.now()).max(1));
                wake.wait_timeout(guard, timeout).expect(POISONED).0
            }
            None => wake.wait(guard).expect(POISONED),
        };
        guard.sleeping[slot] = None;
        guard
    }

    /// After changing the core: make its term, vote and a follower's entries durable
    /// at once (the core holds back the messages that wait for them), answer the admin
    /// requests that ended, log a role change, and hand out the work the change made.
    pub fn commit_changes(&self, state: &mut State) {
        let raft = &mut state.raft;
        let hard_state = raft.take_hard_state();
        // A received snapshot's chunks, and the snapshot once complete, go before any
        // entry that follows it.
        let snapshot_writes = raft.take_snapshot_writes();
        // The leader's entries are the log sync thread's; everyone else's are written
        // here, so that their acknowledgements leave without delay.
        let entries = if raft.role() == Role::Leader {
            None
        } else {
            raft.take_log_write()
        };
        if hard_state.is_some() || !snapshot_writes.is_empty() || entries.is_some() {
            let mut storage = self.lock_storage();
            if let Some(hs) = hard_state {
                storage
                    .save_hard_state(&hs)
                    .unwrap_or_else(|e| storage_failed(&e));
                raft.hard_state_written(&hs);
            }
            for write in snapshot_writes {
                match write {
                    SnapshotWrite::Chunk {
                        meta,
                        offset,
                        data,
                        receipt,
                    } => {
                        storage
                            .write_snapshot_chunk(&meta, offset, &data)
                            .unwrap_or_else(|e| storage_failed(&e));
                        raft.snapshot_chunk_written(receipt, offset + data.len() as u64);
                    }
                    SnapshotWrite::Install(snapshot) => {
                        storage
                            .save_snapshot(&snapshot)
                            .unwrap_or_else(|e| storage_failed(&e));
                        raft.snapshot_saved(&snapshot);
                        eprintln!(
                            "{}: installed a snapshot from {} up to index {} (term {}, {} bytes)",
                            raft.id(),
                            raft.leader().map_or("?", String::as_str),
                            snapshot.meta.last_index,
                            snapshot.meta.last_term,
                            snapshot.data.len()
                        );
                    }
                }
            }
            if let Some(entries) = entries {
                storage
                    .append(&entries)
                    .unwrap_or_else(|e| storage_failed(&e));
                let last = entries.last().expect("log writes are non-empty");
                raft.log_written(last.index, last.term);
            }
        }
        let answers = state.requests.take_admin_answers(&mut state.raft);
        self.send(answers);
        state.requests.follow_timing(&state.raft);
        let raft = &state.raft;
        let now = (raft.role(), raft.term());
        if now != state.logged {
            state.logged = now;
            let leader = raft.leader().map_or("none", String::as_str);
            eprintln!(
                "{}: {:?} in term {} (leader {leader})",
                raft.id(),
                now.0,
                now.1
            );
        }
        self.hand_out(state);
    }

    /// Gives the peer and state machine threads what the core has for them now, and
    /// signals the sleepers that came due sooner than they planned to wake.
    fn hand_out(&self, state: &mut State) {
        let now = self.now();
        for (peer, work) in &self.workers.peers {
            let held = state.raft.hold_ends(peer);
            let messages = take_messages(&mut state.raft, peer, now);
            // Nothing to send because the core began holding work back to batch: the
            // peer thread must poll again when the hold ends.
            let hold_began = messages.is_empty() && state.raft.hold_ends(peer) != held;
            if !messages.is_empty() || hold_began {
                // A peer thread lives as long as the process.
                let _ = work.send(messages);
            }
        }
        let State { raft, requests, .. } = state;
        if let Some(batch) = requests.take_batch(raft) {
            let _ = self.workers.state_machine.send(batch);
        }
        for sleeper in SLEEPERS {
            let Some(until) = state.sleeping[sleeper as usize] else {
                continue;
            };
            if sleeper.due(state, now).is_some_and(|due| due < until) {
                self.wake[sleeper as usize].notify_one();
            }
        }
    }
}

/// Everything the core has for `peer` now.
pub fn take_messages(raft: &mut Raft, peer: &NodeId, now: u64) -> Vec<Message> {
    std::iter::from_fn(|| raft.poll_peer(peer, now)).collect()
}

/// A write that did not reach the disk leaves this server unable to keep its promises
/// (votes, acknowledged entries): it must stop rather than go on forgetting.
pub fn storage_failed(e: &crate::storage::StorageError) -> ! {
    eprintln!("storage failed, stopping: {e}");
    std::process::abort()
}
