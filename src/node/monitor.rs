//! The monitor: the consensus core and what the threads share about it, behind one
//! mutex, with one condition variable that every change is announced on (LogCabin's
//! design). Whoever changes the core carries out its urgent writes before releasing
//! the lock, so a message a peer thread takes out is never ahead of the disk.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::requests::{Outgoing, Requests};
use super::writer::Outbox;
use crate::raft::{Raft, Role, SnapshotWrite, Term};
use crate::storage::Storage;

/// A lock is poisoned when a thread panicked holding it: what it guards may be half
/// changed, and must not be used. The abort-on-panic hook ends the process before
/// anyone can see a poisoned lock; this is the last line behind it.
const POISONED: &str = "a thread panicked while holding a lock";

pub struct Monitor {
    state: Mutex<State>,
    pub changed: Condvar,
    /// Locked after `state` when both are needed; the log sync thread holds it alone
    /// while it writes, so the leader's fsync runs outside the consensus lock.
    storage: Mutex<Box<dyn Storage>>,
    pub outbox: Outbox,
    started: Instant,
}

pub struct State {
    pub raft: Raft,
    /// Client and admin requests in progress, and those held during an election.
    pub requests: Requests,
    /// What was last logged about the role, to log each change once.
    logged: (Role, Term),
}

impl Monitor {
    pub fn new(
        raft: Raft,
        requests: Requests,
        storage: Box<dyn Storage>,
        outbox: Outbox,
        started: Instant,
    ) -> Self {
        let logged = (raft.role(), raft.term());
        Monitor {
            state: Mutex::new(State {
                raft,
                requests,
                logged,
            }),
            changed: Condvar::new(),
            storage: Mutex::new(storage),
            outbox,
            started,
        }
    }

    /// Hands bodies from the request path to the stdout writer.
    pub fn send(&self, out: Vec<Outgoing>) {
        for Outgoing { to, body } in out {
            self.outbox.send(&to, body);
        }
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

    /// Waits for a change or until `deadline` (ms on the core's clock).
    pub fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        deadline: u64,
    ) -> MutexGuard<'a, State> {
        let timeout = Duration::from_millis(deadline.saturating_sub(self.now()).max(1));
        self.changed.wait_timeout(guard, timeout).expect(POISONED).0
    }

    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).expect(POISONED)
    }

    /// After changing the core: make its term, vote and a follower's entries durable
    /// at once (the core holds back the messages that wait for them), answer the admin
    /// requests that ended, log a role change, and wake every thread that may have work
    /// now.
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
        self.changed.notify_all();
    }
}

/// A write that did not reach the disk leaves this server unable to keep its promises
/// (votes, acknowledged entries): it must stop rather than go on forgetting.
pub fn storage_failed(e: &crate::storage::StorageError) -> ! {
    eprintln!("storage failed, stopping: {e}");
    std::process::abort()
}
