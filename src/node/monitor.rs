//! The monitor: the consensus core and what the threads share about it, behind one
//! mutex, with one condition variable that every change is announced on (LogCabin's
//! design). Whoever changes the core carries out its urgent writes before releasing
//! the lock, so a message a peer thread takes out is never ahead of the disk.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::service::Parked;
use super::writer::Outbox;
use crate::protocol::{self, ClientRef};
use crate::raft::{AdminId, AdminOutcome, NodeId, Raft, ReadId, Role, Term};
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
    pub verbose: bool,
}

pub struct State {
    pub raft: Raft,
    /// Reads the core is confirming: who asked, and for which key.
    pub reads: HashMap<ReadId, (ClientRef, Value)>,
    next_read_id: ReadId,
    /// Admin requests the core is working on: who asked, and the type of the ok reply.
    pub admin: HashMap<AdminId, (ClientRef, &'static str)>,
    next_admin_id: AdminId,
    /// Every server that may ever be a member: init's node_ids.
    pub node_ids: Vec<NodeId>,
    /// Client requests waiting for an election to end (see the parking thread).
    pub parked: Vec<Parked>,
    /// How long requests were last allowed to wait (see `Monitor::park_for`).
    park_for: u64,
    /// What was last logged about the role, to log each change once.
    logged: (Role, Term),
}

impl State {
    pub fn register_read(&mut self, origin: ClientRef, key: Value) -> ReadId {
        self.next_read_id += 1;
        self.reads.insert(self.next_read_id, (origin, key));
        self.next_read_id
    }

    pub fn register_admin(&mut self, origin: ClientRef, ok_type: &'static str) -> AdminId {
        self.next_admin_id += 1;
        self.admin.insert(self.next_admin_id, (origin, ok_type));
        self.next_admin_id
    }
}

impl Monitor {
    pub fn new(
        raft: Raft,
        node_ids: Vec<NodeId>,
        storage: Box<dyn Storage>,
        outbox: Outbox,
        started: Instant,
        verbose: bool,
    ) -> Self {
        let logged = (raft.role(), raft.term());
        let park_for = park_for(&raft);
        Monitor {
            state: Mutex::new(State {
                raft,
                reads: HashMap::new(),
                next_read_id: 0,
                admin: HashMap::new(),
                next_admin_id: 0,
                node_ids,
                parked: Vec::new(),
                park_for,
                logged,
            }),
            changed: Condvar::new(),
            storage: Mutex::new(storage),
            outbox,
            started,
            verbose,
        }
    }

    /// How long a request may wait for an election to end before it fails.
    pub fn park_for(&self, raft: &Raft) -> u64 {
        park_for(raft)
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

    /// After changing the core: make its urgent writes durable, answer the admin
    /// requests that ended, log a role change, and wake every thread that may have
    /// work now.
    pub fn commit_changes(&self, state: &mut State) {
        let raft = &mut state.raft;
        let hard_state = raft.take_hard_state();
        // The leader's entries are the log sync thread's; everyone else's must be on
        // disk before the acknowledgement a peer thread will send.
        let entries = if raft.role() == Role::Leader {
            None
        } else {
            raft.take_log_write()
        };
        if hard_state.is_some() || entries.is_some() {
            let mut storage = self.lock_storage();
            if let Some(hs) = hard_state {
                storage
                    .save_hard_state(&hs)
                    .unwrap_or_else(|e| storage_failed(&e));
            }
            if let Some(entries) = entries {
                storage
                    .append(&entries)
                    .unwrap_or_else(|e| storage_failed(&e));
                let last = entries.last().expect("log writes are non-empty");
                raft.log_written(last.index, last.term);
            }
        }
        for (id, outcome) in raft.take_admin_outcomes() {
            let Some((origin, ok_type)) = state.admin.remove(&id) else {
                continue;
            };
            let body = match outcome {
                AdminOutcome::Done => protocol::admin_ok(origin.msg_id, ok_type),
                AdminOutcome::Failed(error) => {
                    let code = super::service::admin_error_code(&error);
                    protocol::error(origin.msg_id, code, &error.to_string())
                }
                // The change may still commit under another leader: no definite answer.
                AdminOutcome::Unknown => continue,
            };
            self.outbox.send(&origin.client, body);
        }
        // Elections turned out to take longer (the timing grew with the round trips
        // measured): the requests waiting for one wait that much longer too.
        let park_for = park_for(&state.raft);
        if park_for > state.park_for {
            let longer = park_for - std::mem::replace(&mut state.park_for, park_for);
            for parked in &mut state.parked {
                parked.give_up_at += longer;
            }
        }
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

/// Two elections, as long as the core says one may take: by default short of
/// Maelstrom's 1 s client timeout, which grows with the latency as the timing does.
fn park_for(raft: &Raft) -> u64 {
    2 * raft.election_wait()
}

/// A write that did not reach the disk leaves this server unable to keep its promises
/// (votes, acknowledged entries): it must stop rather than go on forgetting.
pub fn storage_failed(e: &crate::storage::StorageError) -> ! {
    eprintln!("storage failed, stopping: {e}");
    std::process::abort()
}
