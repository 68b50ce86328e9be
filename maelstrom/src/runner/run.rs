//! One test run from start to verdict: store directory and jepsen.log, nodes, init,
//! workers, nemesis, teardown, then history, check, results.json, plots and the summary.

use std::fs;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::cli::TestOptions;
use super::client::{initialize, run_worker, ClientConn, Workload};
use super::journal::{Journal, Level, Source};
use super::membership::{MembershipNemesis, MembershipReport};
use super::nemesis::Nemesis;
use super::network::{NetCounts, Network};
use super::process::{NodeLaunch, NodeProcess};
use super::progress::Progress;
use super::recorder::{HistoryLog, NemesisLog, RunState};
use super::results::{MembershipSummary, RunFigures, Verdict};
use super::store::{self, RunDir};
use super::workload::{client_timeout, KeyGroups, RateSchedule};
use crate::checker;
use crate::history::{Event, NemesisEvent};

/// How often the main thread looks for the time limit or a crash.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// Independent random streams from one --seed, so that e.g. enabling latency does not
/// change the nemesis schedule.
#[derive(Clone, Copy)]
enum Stream {
    Latency = 1,
    Rate = 2,
    Nemesis = 3,
    Workers = 4,
    Membership = 5,
}

fn derive_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    // splitmix64 of the combination: well-spread seeds even for seeds 1, 2, 3...
    let mut z = seed
        .wrapping_add((stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `header` is the line already printed on stderr for this run; `command_line` the
/// harness's arguments. Both open the run's jepsen.log.
pub fn run_test(options: &TestOptions, seed: u64, header: &str, command_line: &str) -> Verdict {
    let run_dir = match store::create_run_dir() {
        Ok(run_dir) => run_dir,
        Err(error) => {
            eprintln!("harness: cannot create the store directory: {error:#}");
            return Verdict::Crash;
        }
    };
    let journal_path = run_dir.absolute.join("jepsen.log");
    let journal = match fs::File::create(&journal_path) {
        Ok(file) => Journal::new(file),
        Err(error) => {
            eprintln!("harness: cannot create {}: {error}", journal_path.display());
            return Verdict::Crash;
        }
    };
    let run = Arc::new(RunState::new(journal));
    run.log(Level::Info, Source::Harness, header);
    run.log(
        Level::Info,
        Source::Harness,
        &format!("command line: {command_line}"),
    );
    run.log(Level::Info, Source::Harness, &parameters(options, seed));
    let history = Arc::new(HistoryLog::new());
    let nemesis_log = Arc::new(NemesisLog::new());

    let mut node_args = options.node_args.clone();
    if options.node_data_dir {
        if let Err(error) = fs::create_dir_all(run_dir.data()) {
            run.say(
                Level::Error,
                &format!("cannot create {}: {error}", run_dir.data().display()),
            );
            return Verdict::Crash;
        }
        node_args.push("--data-dir".into());
        node_args.push(run_dir.data().display().to_string());
    }
    let launch = Arc::new(NodeLaunch {
        bin: options.bin.clone(),
        args: node_args,
        log_dir: run_dir.node_logs(),
        echo_stderr: options.log_stderr,
    });
    let nodes: Vec<Arc<NodeProcess>> = options
        .node_ids
        .iter()
        .map(|id| NodeProcess::new(id.clone(), Arc::clone(&launch)))
        .collect();
    let network = Network::new(
        Arc::clone(&run),
        &nodes,
        options.latency_ms,
        options.latency_dist,
        derive_seed(seed, Stream::Latency, 0),
    );
    network.log_messages(options.log_net_send, options.log_net_recv);
    let delivery = network.start_delivery();

    let (workload_span, membership) = drive(
        options,
        seed,
        &run,
        &network,
        &nodes,
        &history,
        &nemesis_log,
    );

    // Teardown is SIGKILL, as in Maelstrom; from here on, deaths are ours.
    run.begin_teardown();
    run.log(Level::Info, Source::Harness, "teardown: killing the nodes");
    for node in &nodes {
        node.kill();
    }
    network.shut_down();
    for thread in delivery {
        let _ = thread.join();
    }

    let recorded = Recorded {
        history: history.snapshot(),
        nemesis: nemesis_log.snapshot(),
        crash: run.crash_reason(),
        net: network.counts(),
        workload_span,
        membership,
    };
    finish(options, seed, &run, &run_dir, recorded)
}

/// Every option that shapes the run, defaults included, for jepsen.log.
fn parameters(options: &TestOptions, seed: u64) -> String {
    let mut nemesis: Vec<&str> = options.nemesis.iter().map(|fault| fault.name()).collect();
    if options.membership {
        nemesis.push("membership");
    }
    let nemesis = if nemesis.is_empty() {
        "none".to_string()
    } else {
        format!(
            "{} every {} s",
            nemesis.join(","),
            options.nemesis_interval.as_secs_f64()
        )
    };
    format!(
        "parameters: nodes {}; concurrency {}; rate {}/s; time limit {} s; latency {} ms \
         ({}); nemesis {nemesis}; node data dir {}; seed {seed}; check budget {} s; \
         bin {}; node args {:?}",
        options.node_ids.join(","),
        options.concurrency,
        options.rate,
        options.time_limit.as_secs_f64(),
        options.latency_ms,
        format!("{:?}", options.latency_dist).to_lowercase(),
        if options.node_data_dir { "yes" } else { "no" },
        options.check_budget.as_secs_f64(),
        options.bin.display(),
        options.node_args
    )
}

/// What a run leaves once its processes are gone.
struct Recorded {
    history: Vec<Event>,
    nemesis: Vec<NemesisEvent>,
    crash: Option<String>,
    net: NetCounts,
    workload_span: Duration,
    /// What the membership nemesis saw, when it ran.
    membership: Option<MembershipReport>,
}

/// Starts and initialises the nodes, then runs workers, nemeses and progress until the
/// time limit (or a crash). Returns how long the workload ran, and the membership
/// nemesis's report when it ran.
fn drive(
    options: &TestOptions,
    seed: u64,
    run: &Arc<RunState>,
    network: &Arc<Network>,
    nodes: &[Arc<NodeProcess>],
    history: &Arc<HistoryLog>,
    nemesis_log: &Arc<NemesisLog>,
) -> (Duration, Option<MembershipReport>) {
    for node in nodes {
        if let Err(reason) = node.start(network, run) {
            run.crash(reason);
            return (Duration::ZERO, None);
        }
    }
    if let Err(reason) = initialize(network, run, &options.node_ids, &options.node_ids) {
        run.crash(reason);
        return (Duration::ZERO, None);
    }
    run.log(
        Level::Info,
        Source::Harness,
        &format!(
            "workload starts: {} clients for {} s",
            options.concurrency,
            options.time_limit.as_secs_f64()
        ),
    );
    // Maelstrom opens one setup client per node that never sends; they take ids too.
    for _ in &options.node_ids {
        network.allocate_client_id();
    }
    let clients: Vec<ClientConn> = (0..options.concurrency)
        .map(|_| ClientConn::open(network, network.allocate_client_id()))
        .collect();
    // The membership nemesis's own client, numbered after the workers.
    let membership_client = options
        .membership
        .then(|| ClientConn::open(network, network.allocate_client_id()));

    let started = Instant::now();
    let workload = Workload {
        run: Arc::clone(run),
        history: Arc::clone(history),
        schedule: RateSchedule::new(options.rate, derive_seed(seed, Stream::Rate, 0)),
        keys: KeyGroups::new(options.concurrency / (2 * options.node_ids.len())),
        node_ids: options.node_ids.clone(),
        concurrency: options.concurrency,
        timeout: client_timeout(options.latency_ms),
        end_of_ops: started + options.time_limit,
    };
    let (stop_nemesis, nemesis_stopped) = crossbeam_channel::bounded::<()>(0);
    let (stop_progress, progress_stopped) = crossbeam_channel::bounded::<()>(0);

    let membership = thread::scope(|scope| {
        let workers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(index, client)| {
                let workload = &workload;
                let worker_seed = derive_seed(seed, Stream::Workers, index as u64);
                scope.spawn(move || run_worker(workload, index, client, worker_seed))
            })
            .collect();
        let nemesis = (!options.nemesis.is_empty()).then(|| {
            let mut nemesis = Nemesis {
                network: Arc::clone(network),
                run: Arc::clone(run),
                nodes: nodes.to_vec(),
                node_ids: options.node_ids.clone(),
                log: Arc::clone(nemesis_log),
                faults: options.nemesis.clone(),
                interval: options.nemesis_interval,
                rng: StdRng::seed_from_u64(derive_seed(seed, Stream::Nemesis, 0)),
                stop: nemesis_stopped.clone(),
            };
            scope.spawn(move || {
                let in_force = nemesis.run();
                (nemesis, in_force)
            })
        });
        // Membership changes run on their own schedule, next to the faults above.
        let membership = membership_client.map(|client| {
            let membership = MembershipNemesis {
                run: Arc::clone(run),
                log: Arc::clone(nemesis_log),
                client,
                node_ids: options.node_ids.clone(),
                interval: options.nemesis_interval,
                rng: StdRng::seed_from_u64(derive_seed(seed, Stream::Membership, 0)),
                stop: nemesis_stopped.clone(),
            };
            scope.spawn(move || membership.run())
        });
        let progress = Progress {
            run: Arc::clone(run),
            history: Arc::clone(history),
            nemesis: Arc::clone(nemesis_log),
            time_limit: options.time_limit,
            stop: progress_stopped,
        };
        scope.spawn(move || progress.run());

        while Instant::now() < workload.end_of_ops && !run.has_crashed() {
            thread::sleep(WATCH_INTERVAL);
        }
        run.end_workload();
        run.log(
            Level::Info,
            Source::Harness,
            if run.has_crashed() {
                "workload stops early: the run crashed"
            } else {
                "time limit: no new operations or faults; waiting for the last answers \
                 under the fault in force"
            },
        );
        // No new fault nor membership change from here on. Dropping the sender (rather
        // than sending) is a stop no wait can swallow.
        drop(stop_nemesis);
        let nemesis = nemesis.and_then(|nemesis| nemesis.join().ok());
        // A change in flight gets a short grace to answer, then counts as timed out.
        let membership = membership.map(|membership| membership.join().unwrap_or_default());
        for worker in workers {
            let _ = worker.join();
        }
        // As in Jepsen, the nemesis is torn down (healed, resumed) only once the last
        // operations have finished or timed out under the fault in force.
        if let Some((nemesis, in_force)) = nemesis {
            nemesis.teardown(in_force);
        }
        drop(stop_progress);
        membership
    });
    (started.elapsed(), membership)
}

/// Checks the history, writes the store files and prints the summary.
fn finish(
    options: &TestOptions,
    seed: u64,
    run: &RunState,
    run_dir: &RunDir,
    recorded: Recorded,
) -> Verdict {
    let Recorded {
        history,
        nemesis,
        crash,
        net,
        workload_span,
        membership,
    } = recorded;
    let check = match &crash {
        Some(reason) => {
            run.say(Level::Error, &format!("run failed: {reason}"));
            None
        }
        None => {
            run.say(
                Level::Info,
                &format!(
                    "checking {} events ({:.1} s of workload)...",
                    history.len(),
                    workload_span.as_secs_f64()
                ),
            );
            Some(checker::check(&history, options.check_budget))
        }
    };
    let mut figures = RunFigures::new(&history, check, crash, net);
    // Maelstrom's availability checker: too few ok operations make the run invalid
    // (the availability section's valid? joins the verdict).
    if let Some(goal) = options.availability {
        let (ok, invoked) = (figures.stats.total.ok, figures.stats.invocations);
        figures.availability_met = goal.is_met(ok, invoked);
        if !figures.availability_met && figures.crash.is_none() {
            run.say(
                Level::Error,
                &format!(
                    "only {ok} of {invoked} requests succeeded, short of --availability {goal}"
                ),
            );
        }
    }
    if options.membership {
        figures.membership = Some(MembershipSummary::of(
            &nemesis,
            &membership.unwrap_or_default(),
        ));
    }
    let messages = run.message_journal();
    if let Err(error) = store::write_run(run_dir, &mut figures, seed, &history, &nemesis, &messages)
    {
        run.say(Level::Error, &format!("{error:#}"));
        return Verdict::Crash;
    }
    let verdict = figures.verdict();
    let (head, lines) = figures.summary_parts(&run_dir.relative.display().to_string());
    // The verdict and what explains it are errors unless the run is valid.
    let head_level = if verdict == Verdict::Valid {
        Level::Info
    } else {
        Level::Error
    };
    for line in &head {
        run.log(head_level, Source::Harness, line);
    }
    for line in &lines {
        run.log(Level::Info, Source::Harness, line);
    }
    println!("{}\n{}", head.join("\n"), lines.join("\n"));
    verdict
}
