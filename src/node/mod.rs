//! The node runtime: LogCabin's threads around the deterministic core.
//!
//! - the service thread (the caller of [`run`]) reads stdin and handles each message;
//! - one peer thread per other server sends it what the core has for it;
//! - the state machine thread applies committed entries and answers clients;
//!
//! How requests are routed, held and answered is not the threads' business: that is
//! [`requests`] and [`state_machine`], plain code the simulation drives too.
//! - the election timer and the leader's step-down timer;
//! - the log sync thread writes the leader's entries while they replicate;
//! - the parking thread routes requests held during an election once it ends;
//! - the stdout writer, the only thread that prints.

mod monitor;
pub(crate) mod requests;
mod service;
pub(crate) mod state_machine;
mod threads;
mod writer;

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::protocol::{self, Inbound, Rejected};
use crate::raft::{Config, Configuration, Raft};
use crate::storage::{FileStorage, MemStorage, Storage};
use monitor::Monitor;
use requests::Requests;
use state_machine::StateMachine;
use writer::Outbox;

/// The default of `--snapshot-entries`. Log entries cost about 190 bytes each in
/// memory (and about 140 on disk), so 10,000 entries bound the log to about 2 MB per
/// server, while at the busiest this node gets (about 5,000 entries a second on a
/// saturated 3-node run) a snapshot comes every two seconds or so, each a write of the
/// key-value map, which lin-kv keeps small. A follower that falls further behind than
/// that gets the snapshot instead of the entries.
pub const DEFAULT_SNAPSHOT_ENTRIES: u64 = 10_000;

#[derive(Clone, Debug)]
pub struct Options {
    pub raft: Config,
    /// Snapshot the state machine, and compact the log, every this many applied
    /// entries.
    pub snapshot_entries: u64,
    /// Keep state under `<dir>/<node id>/`; without it, state lives in memory only.
    pub data_dir: Option<PathBuf>,
    /// Log the fate of every client request this server does not handle itself.
    pub verbose: bool,
    /// Start with only the first N of init's node_ids as voters; the others wait to be
    /// added. Without it every node is a voter.
    pub initial_voters: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            raft: Config::default(),
            snapshot_entries: DEFAULT_SNAPSHOT_ENTRIES,
            data_dir: None,
            verbose: false,
            initial_voters: None,
        }
    }
}

/// Makes a panic in any thread end the process, after the usual report on stderr: a
/// node whose other threads ran on without the dead one would hold the lock, requests
/// or leadership it can never serve again. `main` calls it first.
pub fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}

/// Serves Maelstrom's protocol on stdin/stdout until stdin closes.
pub fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    let mut stdin = std::io::stdin().lock();
    let mut monitor: Option<Arc<Monitor>> = None;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        if stdin
            .read_until(b'\n', &mut bytes)
            .context("reading stdin")?
            == 0
        {
            break;
        }
        // Bad bytes are bad input like any other: skipped, not fatal.
        let Ok(line) = std::str::from_utf8(bytes.trim_ascii_end()) else {
            eprintln!("skipped: a line that is not valid UTF-8");
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let parsed = protocol::parse(line);
        let Some(node) = monitor.as_ref() else {
            match parsed {
                Ok(Inbound::Init {
                    from,
                    msg_id,
                    node_id,
                    node_ids,
                }) => {
                    let outbox = Outbox::start(node_id.clone());
                    let node = start(&options, node_id, node_ids, outbox.clone(), started)?;
                    outbox.send(&from, protocol::init_ok(msg_id));
                    monitor = Some(node);
                }
                Ok(other) => eprintln!("ignored before init: {other:?}"),
                // Before init there is no node id to answer from: log only.
                Err(rejected) => eprintln!("skipped before init: {rejected:?}"),
            }
            continue;
        };
        match parsed {
            Ok(Inbound::Raft { from, msg }) => service::raft_message(node, &from, msg),
            Ok(Inbound::Client { origin, request }) => {
                service::client_request(node, origin, request, 0)
            }
            Ok(Inbound::Forward { forward, .. }) => {
                service::client_request(node, forward.origin, forward.request, forward.hops)
            }
            Ok(Inbound::Init { from, msg_id, .. }) => {
                eprintln!("second init from {from} ignored");
                node.outbox.send(&from, protocol::init_ok(msg_id));
            }
            Err(rejected) => report(&node.outbox, rejected),
        }
    }
    // Maelstrom tears nodes down with SIGKILL; a closed stdin means nothing more will
    // come, and the other threads have nothing left to answer.
    Ok(())
}

fn report(outbox: &Outbox, rejected: Rejected) {
    match rejected {
        Rejected::NotAMessage(why) | Rejected::Unanswerable(why) => eprintln!("skipped: {why}"),
        Rejected::Error {
            src,
            msg_id,
            code,
            text,
        } => {
            eprintln!("rejected from {src}: {text}");
            outbox.send(&src, protocol::error(msg_id, code, &text));
        }
    }
}

fn start(
    options: &Options,
    node_id: String,
    node_ids: Vec<String>,
    outbox: Outbox,
    started: Instant,
) -> Result<Arc<Monitor>> {
    let mut storage: Box<dyn Storage> = match &options.data_dir {
        Some(dir) => {
            let dir = dir.join(&node_id);
            Box::new(FileStorage::open(&dir).with_context(|| format!("opening {}", dir.display()))?)
        }
        None => Box::new(MemStorage::new()),
    };
    let recovered = storage.load().context("loading stored state")?;
    let snapshot_index = recovered.snapshot.as_ref().map_or(0, |s| s.meta.last_index);
    eprintln!(
        "{node_id}: starting at term {} with a snapshot up to {snapshot_index} and {} log entries",
        recovered.hard_state.term,
        recovered.entries.len()
    );
    let now = started.elapsed().as_millis() as u64;
    let seed = rand::random();
    let voters = options.initial_voters.unwrap_or(node_ids.len()).max(1);
    let bootstrap = Configuration::with_voters(node_ids.iter().take(voters).cloned());
    let raft = Raft::new(
        node_id.clone(),
        bootstrap.clone(),
        options.raft.clone(),
        recovered,
        seed,
        now,
    );
    // Any server may become a member, so every one gets a peer thread.
    let peers: Vec<String> = node_ids
        .iter()
        .filter(|p| **p != node_id)
        .cloned()
        .collect();
    let machine = StateMachine::new(
        node_id,
        bootstrap,
        raft.log().last_index(),
        options.snapshot_entries,
        &options.raft,
    );
    let requests = Requests::new(node_ids, &options.raft, options.verbose, rand::random());
    let monitor = Arc::new(Monitor::new(raft, requests, storage, outbox, started));

    for peer in peers {
        let m = Arc::clone(&monitor);
        threads::spawn(format!("peer-{peer}"), move || threads::peer(m, peer));
    }
    let m = Arc::clone(&monitor);
    threads::spawn("state-machine".into(), move || {
        threads::state_machine(m, machine)
    });
    let m = Arc::clone(&monitor);
    threads::spawn("election-timer".into(), move || threads::election_timer(m));
    let m = Arc::clone(&monitor);
    threads::spawn("step-down-timer".into(), move || {
        threads::step_down_timer(m)
    });
    let m = Arc::clone(&monitor);
    threads::spawn("log-sync".into(), move || threads::log_sync(m));
    let m = Arc::clone(&monitor);
    threads::spawn("parked-requests".into(), move || {
        threads::parked_requests(m)
    });
    Ok(monitor)
}
