//! The monitor: the consensus core and what the threads share about it, behind one
//! mutex, with one condition variable that every change is announced on (LogCabin's
//! design). Whoever changes the core carries out its urgent writes before releasing
//! the lock, so a message a peer thread takes out is never ahead of the disk.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::requests::{Outgoing, Requests};
use super::writer::Outbox;
use crate::raft::{Config, Raft, Role, Term};
use crate::storage::Storage;

pub struct Monitor {
    state: Mutex<State>,
    pub changed: Condvar,
    /// Locked after `state` when both are needed; the log sync thread holds it alone
    /// while it writes, so the leader's fsync runs outside the consensus lock.
    pub storage: Mutex<Box<dyn Storage>>,
    pub outbox: Outbox,
    started: Instant,
    /// How long a leader's peer thread may sleep before a heartbeat is due.
    pub heartbeat_interval: u64,
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
        timing: &Config,
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
            heartbeat_interval: timing.heartbeat_interval,
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
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a change or until `deadline` (ms on the core's clock).
    pub fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        deadline: u64,
    ) -> MutexGuard<'a, State> {
        let timeout = Duration::from_millis(deadline.saturating_sub(self.now()).max(1));
        match self.changed.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// After changing the core: make its term, vote and a follower's entries durable
    /// at once (the core holds back the messages that wait for them), answer the admin
    /// requests that ended, log a role change, and wake every thread that may have work
    /// now.
    pub fn commit_changes(&self, state: &mut State) {
        let raft = &mut state.raft;
        let hard_state = raft.take_hard_state();
        // The leader's entries are the log sync thread's; everyone else's are written
        // here, so that their acknowledgements leave without delay.
        let entries = if raft.role() == Role::Leader {
            None
        } else {
            raft.take_log_write()
        };
        if hard_state.is_some() || entries.is_some() {
            let mut storage = self.storage.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hs) = hard_state {
                storage
                    .save_hard_state(&hs)
                    .unwrap_or_else(|e| storage_failed(&e));
                raft.hard_state_written(&hs);
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
