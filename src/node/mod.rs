//! The node runtime: LogCabin's threads around the deterministic core.
//!
//! - the stdin thread (the caller of [`run`]) reads lines and routes each to one of a
//!   few service threads by its sender, which parse them and enter the monitor
//!   ([`service`]);
//! - one peer thread per other server sends it what the core has for it;
//! - the state machine thread applies committed entries and answers clients;
//! - the election timer and the leader's step-down timer;
//! - the log sync thread writes the leader's entries while they replicate;
//! - the parking thread routes requests held during an election once it ends;
//! - no thread of its own for stdout: whoever sends writes, one thread at a time,
//!   taking along what others queued meanwhile ([`writer`]).
//!
//! Whoever changes the core hands the work it made to the thread that does it, and
//! wakes no other ([`monitor`]).
//!
//! How requests are routed, held and answered is not the threads' business: that is
//! [`requests`] and [`state_machine`], plain code the simulation drives too.

mod monitor;
pub(crate) mod requests;
mod service;
pub(crate) mod state_machine;
mod threads;
mod writer;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use crossbeam_channel::unbounded;

use crate::protocol::{self, Inbound};
use crate::raft::{Config, Configuration, Raft};
use crate::storage::{FileStorage, MemStorage, Storage};
use monitor::{Monitor, Workers};
use requests::Requests;
use service::Pool;
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
    /// Threads that parse inbound messages and enter the monitor with them.
    pub service_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            raft: Config::default(),
            snapshot_entries: DEFAULT_SNAPSHOT_ENTRIES,
            data_dir: None,
            verbose: false,
            initial_voters: None,
            service_threads: service::DEFAULT_THREADS,
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

/// Serves Maelstrom's protocol on stdin/stdout until stdin closes. This thread reads
/// stdin; until init it handles the lines itself, then it hands them to the service
/// threads.
pub fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    // Big enough that a burst of lines comes in with one read and leaves as one batch
    // per service thread.
    let mut stdin = BufReader::with_capacity(1 << 16, std::io::stdin());
    let mut pool: Option<Pool> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            break;
        }
        match &mut pool {
            Some(pool) => {
                pool.push(&line);
                // What has come in so far goes out before a read that may block: when
                // no whole line is left in the buffer.
                if !stdin.buffer().contains(&b'\n') {
                    pool.flush();
                }
            }
            None => {
                if let Some(node) = before_init(&options, &line, started)? {
                    let threads = options.service_threads;
                    pool = Some(Pool::start(threads, move |lines| {
                        service::handle_lines(&node, lines)
                    }));
                }
            }
        }
    }
    // Maelstrom tears nodes down with SIGKILL; a closed stdin means nothing more will
    // come, and once the lines read are handled the other threads have nothing left to
    // answer.
    if let Some(pool) = pool {
        pool.finish();
    }
    Ok(())
}

/// Handles a line that came before init; starts the node on init.
fn before_init(options: &Options, bytes: &[u8], started: Instant) -> Result<Option<Arc<Monitor>>> {
    // Bad bytes are bad input like any other: skipped, not fatal.
    let Ok(line) = std::str::from_utf8(bytes.trim_ascii_end()) else {
        eprintln!("skipped: a line that is not valid UTF-8");
        return Ok(None);
    };
    if line.trim().is_empty() {
        return Ok(None);
    }
    match protocol::parse(line) {
        Ok(Inbound::Init {
            from,
            msg_id,
            node_id,
            node_ids,
        }) => {
            let outbox = Outbox::start(node_id.clone());
            let node = start(options, node_id, node_ids, outbox.clone(), started)?;
            outbox.send(&from, protocol::init_ok(msg_id));
            return Ok(Some(node));
        }
        Ok(other) => eprintln!("ignored before init: {other:?}"),
        // Before init there is no node id to answer from: log only.
        Err(rejected) => eprintln!("skipped before init: {rejected:?}"),
    }
    Ok(None)
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
    let (state_machine_work, state_machine_rx) = unbounded();
    let mut peer_work = Vec::new();
    let mut peer_rx = Vec::new();
    for peer in peers {
        let (tx, rx) = unbounded();
        peer_work.push((peer.clone(), tx));
        peer_rx.push((peer, rx));
    }
    let workers = Workers {
        peers: peer_work,
        state_machine: state_machine_work,
    };
    let monitor = Arc::new(Monitor::new(
        raft, requests, storage, outbox, workers, started,
    ));

    for (peer, work) in peer_rx {
        let m = Arc::clone(&monitor);
        threads::spawn(format!("peer-{peer}"), move || threads::peer(m, peer, work));
    }
    let m = Arc::clone(&monitor);
    threads::spawn("state-machine".into(), move || {
        threads::state_machine(m, machine, state_machine_rx)
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
