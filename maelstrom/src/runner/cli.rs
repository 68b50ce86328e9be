//! The command line of `harness test` and `harness check`, declared with clap. Flag names
//! and defaults are Maelstrom's (`maelstrom test`, whose options come from Maelstrom's
//! core and Jepsen's cli), and every mistake is a [`clap::Error`] that the caller prints
//! before exiting 254, as Maelstrom does. Maelstrom's flags that mean nothing for lin-kv
//! are parsed only so that they can be refused with the reason.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 crash.";

/// Maelstrom's workloads; only lin-kv runs here.
const MAELSTROM_WORKLOADS: &[&str] = &[
    "broadcast",
    "echo",
    "g-counter",
    "g-set",
    "kafka",
    "lin-kv",
    "pn-counter",
    "txn-list-append",
    "txn-rw-register",
    "unique-ids",
];

#[derive(Parser, Debug)]
#[command(
    name = "harness",
    about = "A Maelstrom-compatible runner for lin-kv, with a per-key linearizability checker",
    after_help = EXIT_CODES,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Run the lin-kv workload against a node binary, as `maelstrom test` does
    #[command(
        after_help = EXIT_CODES,
        args_override_self = true,
        allow_negative_numbers = true
    )]
    Test(Box<TestArgs>),
    /// Check a stored history (store/latest/history.jsonl) again and print its verdict
    #[command(after_help = EXIT_CODES, args_override_self = true)]
    Check(CheckArgs),
}

#[derive(Args, Debug)]
struct TestArgs {
    /// The workload; this runner runs only lin-kv
    #[arg(short = 'w', long, value_name = "NAME", default_value = "lin-kv", value_parser = parse_workload)]
    workload: String,

    /// The node binary (any executable)
    #[arg(long, value_name = "FILE", value_parser = parse_bin)]
    bin: PathBuf,

    /// Run nodes n0..n(NUM-1); overrides --node, --nodes and --nodes-file [default: n1..n5]
    #[arg(long, value_name = "NUM", value_parser = clap::value_parser!(u32).range(1..))]
    node_count: Option<u32>,

    /// A node id; repeat for more nodes (Jepsen's flag)
    #[arg(short = 'n', long = "node", value_name = "ID", action = clap::ArgAction::Append)]
    node: Vec<String>,

    /// Comma-separated node ids (Jepsen's flag)
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    nodes: Vec<String>,

    /// A file of node ids, one per line (Jepsen's flag)
    #[arg(long, value_name = "FILE")]
    nodes_file: Option<PathBuf>,

    /// Client threads: an integer, or one followed by n to multiply by the node count;
    /// lin-kv needs a multiple of 2 x node-count
    #[arg(long, value_name = "NUMBER", default_value = "2n", value_parser = parse_concurrency)]
    concurrency: ConcurrencySpec,

    /// Requests per second across all clients; 0 runs no operations
    #[arg(long, default_value = "5", value_parser = parse_rate)]
    rate: f64,

    /// Seconds of workload; no operation starts after this
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_positive_seconds)]
    time_limit: Duration,

    /// Mean node-to-node latency in milliseconds (clients get none)
    #[arg(long, value_name = "MILLIS", default_value = "0", value_parser = parse_latency)]
    latency: f64,

    /// Distribution of node-to-node latency
    #[arg(long, value_name = "TYPE", value_enum, default_value_t = LatencyDist::Constant)]
    latency_dist: LatencyDist,

    /// Comma-separated faults: partition (Maelstrom's), and this runner's kill (SIGKILL and
    /// restart; needs --node-data-dir), pause (SIGSTOP/SIGCONT) and membership (adds and
    /// removes servers and transfers the leadership through the node's admin API, on its
    /// own schedule next to the other faults)
    #[arg(long, value_name = "FAULTS", value_parser = parse_nemesis)]
    nemesis: Option<NemesisSpec>,

    /// Mean seconds between fault starts and stops, and between membership changes
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_positive_seconds)]
    nemesis_interval: Duration,

    /// The least fraction of requests that must succeed for a valid run: a number from
    /// 0 to 1, or total [default: no such check]
    #[arg(long, value_name = "EXPECTED", value_parser = parse_availability)]
    availability: Option<Availability>,

    /// Echo the nodes' stderr on ours (it always goes to node-logs/)
    #[arg(long)]
    log_stderr: bool,

    /// Log every message as it enters the network, on stderr and in jepsen.log
    #[arg(long)]
    log_net_send: bool,

    /// Log every message as it is delivered, on stderr and in jepsen.log
    #[arg(long)]
    log_net_recv: bool,

    /// Run the test this many times (seeds seed, seed+1, ...); the worst verdict is the exit code
    #[arg(long, value_name = "NUMBER", default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    test_count: u32,

    /// Pass --data-dir <run dir>/data to every node, so that restarted nodes recover
    #[arg(long, help_heading = "This runner's own")]
    node_data_dir: bool,

    /// Seed for the nemesis, rate, latency and value choices [default: random]
    #[arg(long, value_name = "N", help_heading = "This runner's own")]
    seed: Option<u64>,

    /// Seconds the linearizability search may spend on each key
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_positive_seconds, help_heading = "This runner's own")]
    check_budget: Duration,

    /// Arguments for every node, after --
    #[arg(last = true, value_name = "NODE_ARGS")]
    node_args: Vec<String>,

    #[command(flatten)]
    refused: RefusedFlags,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// A history.jsonl written by `harness test`
    #[arg(value_name = "HISTORY")]
    history: PathBuf,

    /// Seconds the linearizability search may spend on each key
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_positive_seconds)]
    check_budget: Duration,
}

const REFUSED: &str = "Maelstrom flags refused here (exit 254)";
const ONLY_BROADCAST: &str =
    "does not apply to lin-kv: only Maelstrom's broadcast workload gives nodes a topology";
const ONLY_TXN_MODELS: &str = "does not apply to lin-kv: only the transactional workloads choose \
     consistency models; lin-kv is always checked for linearizability";
const ONLY_TXN: &str = "does not apply to lin-kv: only the transactional workloads \
     (txn-list-append, txn-rw-register) use it";
const SSH: &str = "does not apply: a Jepsen SSH option, and Maelstrom, like this runner, \
     starts every node as a local process";
const LEAVE_RUNNING: &str =
    "does not apply: nodes are local processes, killed at teardown as in Maelstrom";
const LOGGING_JSON: &str = "is not supported: jepsen.log is plain text";

/// Maelstrom's flags that have no meaning for lin-kv on this runner, each with its reason.
#[derive(Args, Debug)]
#[command(next_help_heading = REFUSED)]
struct RefusedFlags {
    #[arg(long, value_name = "SPEC", help = ONLY_BROADCAST)]
    topology: Option<String>,
    #[arg(long, value_name = "MODELS", help = ONLY_TXN_MODELS)]
    consistency_models: Option<String>,
    #[arg(long, value_name = "INT", help = ONLY_TXN)]
    key_count: Option<String>,
    #[arg(long, value_name = "INT", help = ONLY_TXN)]
    max_txn_length: Option<String>,
    #[arg(long, value_name = "INT", help = ONLY_TXN)]
    max_writes_per_key: Option<String>,
    #[arg(long, value_name = "USER", help = SSH)]
    username: Option<String>,
    #[arg(long, value_name = "PASS", help = SSH)]
    password: Option<String>,
    #[arg(long, value_name = "FILE", help = SSH)]
    ssh_private_key: Option<String>,
    #[arg(long, help = SSH)]
    strict_host_key_checking: bool,
    #[arg(long, help = SSH)]
    no_ssh: bool,
    #[arg(long, help = LEAVE_RUNNING)]
    leave_db_running: bool,
    #[arg(long, help = LOGGING_JSON)]
    logging_json: bool,
}

impl RefusedFlags {
    /// The first refused flag given, with why.
    fn first_given(&self) -> Option<(&'static str, &'static str)> {
        [
            (self.topology.is_some(), "--topology", ONLY_BROADCAST),
            (
                self.consistency_models.is_some(),
                "--consistency-models",
                ONLY_TXN_MODELS,
            ),
            (self.key_count.is_some(), "--key-count", ONLY_TXN),
            (self.max_txn_length.is_some(), "--max-txn-length", ONLY_TXN),
            (
                self.max_writes_per_key.is_some(),
                "--max-writes-per-key",
                ONLY_TXN,
            ),
            (self.username.is_some(), "--username", SSH),
            (self.password.is_some(), "--password", SSH),
            (self.ssh_private_key.is_some(), "--ssh-private-key", SSH),
            (
                self.strict_host_key_checking,
                "--strict-host-key-checking",
                SSH,
            ),
            (self.no_ssh, "--no-ssh", SSH),
            (self.leave_db_running, "--leave-db-running", LEAVE_RUNNING),
            (self.logging_json, "--logging-json", LOGGING_JSON),
        ]
        .into_iter()
        .find(|(given, _, _)| *given)
        .map(|(_, flag, why)| (flag, why))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LatencyDist {
    Constant,
    /// Uniform in [0, 2 x mean).
    Uniform,
    /// Exponential with the given mean.
    Exponential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    Partition,
    Kill,
    Pause,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
        }
    }
}

/// `--availability`: Maelstrom's availability checker fails a run whose ok operations
/// are fewer than this share of the invocations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Availability {
    /// Every request must succeed.
    Total,
    /// At least this fraction, from 0 to 1.
    AtLeast(f64),
}

impl Availability {
    /// Whether `ok` successes out of `invoked` requests meet the goal; a run without
    /// requests meets any goal, as Maelstrom counts its fraction as 1.
    pub fn is_met(self, ok: u64, invoked: u64) -> bool {
        let fraction = if invoked == 0 {
            1.0
        } else {
            ok as f64 / invoked as f64
        };
        match self {
            Availability::Total => ok == invoked,
            Availability::AtLeast(goal) => fraction >= goal,
        }
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Total => f.write_str("total"),
            Availability::AtLeast(goal) => write!(f, "{goal}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestOptions {
    pub bin: PathBuf,
    /// Everything after `--`, passed to every node.
    pub node_args: Vec<String>,
    pub node_ids: Vec<String>,
    pub concurrency: usize,
    /// Total requests per second across all clients; 0 for none.
    pub rate: f64,
    pub time_limit: Duration,
    /// Mean node-to-node latency in milliseconds.
    pub latency_ms: f64,
    pub latency_dist: LatencyDist,
    /// Enabled fault kinds, each at most once, in the order given.
    pub nemesis: Vec<Fault>,
    /// `--nemesis membership`: membership changes on their own schedule, next to the
    /// one-fault-at-a-time nemesis of `nemesis`.
    pub membership: bool,
    pub nemesis_interval: Duration,
    pub availability: Option<Availability>,
    pub node_data_dir: bool,
    pub log_stderr: bool,
    pub log_net_send: bool,
    pub log_net_recv: bool,
    pub test_count: u32,
    pub seed: u64,
    pub check_budget: Duration,
}

#[derive(Debug)]
pub enum Command {
    Test(TestOptions),
    Check {
        history: PathBuf,
        check_budget: Duration,
    },
}

/// Parses the arguments after the program name. `Err` is either help the user asked
/// for (`use_stderr()` false: print it and exit 0) or a mistake (exit 254).
pub fn parse(args: &[String]) -> Result<Command, clap::Error> {
    let cli =
        Cli::try_parse_from(std::iter::once("harness").chain(args.iter().map(String::as_str)))?;
    match cli.command {
        CliCommand::Test(test) => test_options(*test).map(Command::Test),
        CliCommand::Check(check) => Ok(Command::Check {
            history: check.history,
            check_budget: check.check_budget,
        }),
    }
}

/// A mistake found after clap's own checks, shown with `harness test`'s usage.
fn test_error(message: impl fmt::Display) -> clap::Error {
    let mut command = Cli::command();
    command.build();
    let test = command
        .find_subcommand_mut("test")
        .expect("the test subcommand is declared");
    test.error(ErrorKind::ValueValidation, message)
}

fn test_options(args: TestArgs) -> Result<TestOptions, clap::Error> {
    if let Some((flag, why)) = args.refused.first_given() {
        return Err(test_error(format!("{flag} {why}")));
    }
    let node_ids = node_ids(&args)?;
    let node_total = node_ids.len();
    let concurrency = match args.concurrency {
        ConcurrencySpec::Absolute(count) => count,
        ConcurrencySpec::PerNode(factor) => factor * node_total,
    };
    // lin-kv gives each key to a group of 2n threads; the real tool crashes otherwise.
    if concurrency % (2 * node_total) != 0 {
        return Err(test_error(format!(
            "--concurrency {concurrency} is not a multiple of 2 x node-count ({}); lin-kv needs whole groups of 2n client threads",
            2 * node_total
        )));
    }
    let NemesisSpec { faults, membership } = args.nemesis.unwrap_or_default();
    if faults.contains(&Fault::Kill) && !args.node_data_dir {
        return Err(test_error(
            "--nemesis kill needs --node-data-dir: a killed node must restart from what it \
             stored. One that restarts empty has forgotten its term, vote and log, which \
             breaks Raft's assumptions and can help elect a leader that lacks committed \
             entries, so the run would test something no real deployment allows",
        ));
    }
    Ok(TestOptions {
        bin: args.bin,
        node_args: args.node_args,
        node_ids,
        concurrency,
        rate: args.rate,
        time_limit: args.time_limit,
        latency_ms: args.latency,
        latency_dist: args.latency_dist,
        nemesis: faults,
        membership,
        nemesis_interval: args.nemesis_interval,
        availability: args.availability,
        node_data_dir: args.node_data_dir,
        log_stderr: args.log_stderr,
        log_net_send: args.log_net_send,
        log_net_recv: args.log_net_recv,
        test_count: args.test_count,
        seed: args.seed.unwrap_or_else(rand::random),
        check_budget: args.check_budget,
    })
}

/// Jepsen's rules: `--nodes-file`, `--nodes` and `--node` together (in that order) when
/// any is given, else n1..n5; `--node-count N` (n0..n(N-1)) overrides them all.
fn node_ids(args: &TestArgs) -> Result<Vec<String>, clap::Error> {
    if let Some(count) = args.node_count {
        return Ok((0..count).map(|i| format!("n{i}")).collect());
    }
    let mut ids = Vec::new();
    if let Some(path) = &args.nodes_file {
        let text = std::fs::read_to_string(path)
            .map_err(|error| test_error(format!("--nodes-file {}: {error}", path.display())))?;
        ids.extend(text.lines().map(str::trim).map(String::from));
        // A trailing newline is not a node.
        while ids.last().is_some_and(String::is_empty) {
            ids.pop();
        }
    }
    ids.extend(args.nodes.iter().map(|id| id.trim().to_string()));
    ids.extend(args.node.iter().cloned());
    if ids.is_empty() {
        return Ok((1..=5).map(|i| format!("n{i}")).collect());
    }
    for (index, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(test_error("a node id is empty"));
        }
        // Maelstrom tells clients from nodes by the first letter.
        if id.starts_with('c') {
            return Err(test_error(format!(
                "node id {id:?} starts with c, which Maelstrom reserves for clients"
            )));
        }
        if ids[..index].contains(id) {
            return Err(test_error(format!("node id {id:?} is given twice")));
        }
    }
    Ok(ids)
}

fn parse_workload(name: &str) -> Result<String, String> {
    match name {
        "lin-kv" => Ok(name.to_string()),
        other if MAELSTROM_WORKLOADS.contains(&other) => Err(format!(
            "this runner runs only lin-kv; Maelstrom's {other} workload is not implemented here"
        )),
        _ => Err(format!(
            "unknown workload; Maelstrom's are {}, and this runner runs lin-kv",
            MAELSTROM_WORKLOADS.join(", ")
        )),
    }
}

/// Nodes run in /tmp, so a relative path is resolved against our directory now.
fn parse_bin(path: &str) -> Result<PathBuf, String> {
    match std::fs::canonicalize(path) {
        Ok(bin) if bin.is_file() => Ok(bin),
        Ok(_) => Err("not a file".into()),
        Err(error) => Err(error.to_string()),
    }
}

fn parse_number(text: &str, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err(format!("expected {what}")),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate = parse_number(text, "requests per second")?;
    if rate < 0.0 {
        return Err("can't be negative".into());
    }
    Ok(rate)
}

fn parse_latency(text: &str) -> Result<f64, String> {
    let millis = parse_number(text, "milliseconds")?;
    if millis < 0.0 {
        return Err("can't be negative".into());
    }
    Ok(millis)
}

fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    let seconds = parse_number(text, "a number of seconds")?;
    if seconds <= 0.0 {
        return Err("must be positive".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_availability(text: &str) -> Result<Availability, String> {
    if text == "total" {
        return Ok(Availability::Total);
    }
    match text.parse::<f64>() {
        Ok(fraction) if (0.0..=1.0).contains(&fraction) => Ok(Availability::AtLeast(fraction)),
        _ => Err("must be either total or a number between 0 and 1".into()),
    }
}

/// `K` or `Kn` (K times the node count).
#[derive(Clone, Copy, Debug, PartialEq)]
enum ConcurrencySpec {
    Absolute(usize),
    PerNode(usize),
}

fn parse_concurrency(text: &str) -> Result<ConcurrencySpec, String> {
    let (digits, per_node) = match text.strip_suffix('n') {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    match digits.parse::<usize>() {
        Ok(0) | Err(_) => {
            Err("expected a positive integer, optionally followed by n (e.g. 2n)".into())
        }
        Ok(count) if per_node => Ok(ConcurrencySpec::PerNode(count)),
        Ok(count) => Ok(ConcurrencySpec::Absolute(count)),
    }
}

/// The faults of one `--nemesis` list.
#[derive(Clone, Debug, Default, PartialEq)]
struct NemesisSpec {
    faults: Vec<Fault>,
    membership: bool,
}

/// A comma-separated list, spaces around commas allowed as in Maelstrom; "" is none.
fn parse_nemesis(text: &str) -> Result<NemesisSpec, String> {
    let mut spec = NemesisSpec::default();
    if text.trim().is_empty() {
        return Ok(spec);
    }
    for name in text.split(',').map(str::trim) {
        let fault = match name {
            "partition" => Fault::Partition,
            "kill" => Fault::Kill,
            "pause" => Fault::Pause,
            "membership" => {
                spec.membership = true;
                continue;
            }
            other => {
                return Err(format!(
                    "unknown fault {other:?}: expected partition, kill, pause or membership"
                ))
            }
        };
        if !spec.faults.contains(&fault) {
            spec.faults.push(fault);
        }
    }
    Ok(spec)
}

/// `harness test --help`, for the README's and the tests' sake.
pub fn test_help() -> String {
    let mut command = Cli::command();
    command.build();
    command
        .find_subcommand_mut("test")
        .expect("the test subcommand is declared")
        .render_long_help()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that exists, for --bin.
    const NODE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/single-leader-kv.py");

    fn args(text: &str) -> Vec<String> {
        text.replace("NODE", NODE)
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    fn test_options(text: &str) -> TestOptions {
        match parse(&args(text)) {
            Ok(Command::Test(options)) => options,
            Ok(other) => panic!("expected test options for {text:?}, got {other:?}"),
            Err(error) => panic!("expected test options for {text:?}, got {error}"),
        }
    }

    fn error(text: &str) -> String {
        match parse(&args(text)) {
            Err(error) => {
                assert!(error.use_stderr(), "{text:?} is a mistake, not help");
                error.to_string()
            }
            Ok(other) => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_maelstrom() {
        let options = test_options("test --bin NODE");
        assert_eq!(options.node_ids, ["n1", "n2", "n3", "n4", "n5"]);
        assert_eq!(options.concurrency, 10);
        assert_eq!(options.rate, 5.0);
        assert_eq!(options.time_limit, Duration::from_secs(60));
        assert_eq!(options.latency_ms, 0.0);
        assert_eq!(options.latency_dist, LatencyDist::Constant);
        assert!(options.nemesis.is_empty());
        assert!(!options.membership);
        assert_eq!(options.nemesis_interval, Duration::from_secs(10));
        assert_eq!(options.availability, None);
        assert_eq!(options.test_count, 1);
        assert_eq!(options.check_budget, Duration::from_secs(30));
        assert!(!options.node_data_dir && !options.log_stderr);
        assert!(!options.log_net_send && !options.log_net_recv);
        assert!(options.node_args.is_empty());
        assert_eq!(options.bin, std::fs::canonicalize(NODE).unwrap());
    }

    #[test]
    fn node_count_names_nodes_from_zero() {
        let options = test_options("test -w lin-kv --bin NODE --node-count 3");
        assert_eq!(options.node_ids, ["n0", "n1", "n2"]);
    }

    #[test]
    fn node_ids_from_jepsen_flags() {
        assert_eq!(
            test_options("test --bin NODE --nodes a1,b2 -n x -n y").node_ids,
            ["a1", "b2", "x", "y"]
        );
        assert_eq!(
            test_options("test --bin NODE --node n7 --node n8").node_ids,
            ["n7", "n8"]
        );
        let dir = std::env::temp_dir().join(format!("harness-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nodes");
        std::fs::write(&file, "s1\n s2 \ns3\n\n").unwrap();
        let options = test_options(&format!(
            "test --bin NODE --nodes-file {} --nodes s4",
            file.display()
        ));
        assert_eq!(options.node_ids, ["s1", "s2", "s3", "s4"]);
        let options = test_options(&format!(
            "test --bin NODE --nodes-file {} --node-count 2",
            file.display()
        ));
        assert_eq!(options.node_ids, ["n0", "n1"], "--node-count overrides");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error("test --bin NODE --nodes a,c1").contains("reserves for clients"));
        assert!(error("test --bin NODE --nodes a,b -n a").contains("\"a\" is given twice"));
        assert!(error("test --bin NODE --nodes a,,b").contains("empty"));
        assert!(error("test --bin NODE --nodes-file /no/such/file").contains("/no/such/file"));
        assert!(
            error("test --bin NODE --nodes x,y,z --concurrency 2").contains("2 x node-count (6)")
        );
    }

    #[test]
    fn concurrency_in_multiples_of_the_node_count() {
        let concurrency = |flags: &str| {
            test_options(&format!("test --bin NODE --node-count 3 {flags}")).concurrency
        };
        assert_eq!(concurrency("--concurrency 2n"), 6);
        assert_eq!(concurrency("--concurrency 4n"), 12);
        assert_eq!(concurrency("--concurrency 12"), 12);
        assert!(error("test --bin NODE --node-count 3 --concurrency 1n")
            .contains("not a multiple of 2 x node-count (6)"));
        assert!(error("test --bin NODE --node-count 3 --concurrency 9").contains("not a multiple"));
        for bad in ["0n", "xn", "-2", "2.5"] {
            let message = error(&format!("test --bin NODE --concurrency={bad}"));
            assert!(message.contains("positive integer"), "{bad}: {message}");
        }
    }

    #[test]
    fn every_flag_and_node_args() {
        let options = test_options(
            "test --workload=lin-kv --bin NODE --node-count 5 --concurrency 10 --rate 50.5 \
             --time-limit 7 --latency 20 --latency-dist exponential --nemesis partition,kill \
             --nemesis pause,partition --nemesis-interval 1.5 --availability 0.5 \
             --node-data-dir --log-stderr --log-net-send --log-net-recv --test-count 3 \
             --seed 42 --check-budget 5 -- --verbose 2",
        );
        assert_eq!(options.rate, 50.5);
        assert_eq!(options.time_limit, Duration::from_secs(7));
        assert_eq!(options.latency_ms, 20.0);
        assert_eq!(options.latency_dist, LatencyDist::Exponential);
        // As in Maelstrom, a flag given twice keeps its last value.
        assert_eq!(options.nemesis, [Fault::Pause, Fault::Partition]);
        assert!(!options.membership);
        assert_eq!(options.nemesis_interval, Duration::from_millis(1500));
        assert_eq!(options.availability, Some(Availability::AtLeast(0.5)));
        assert!(options.node_data_dir && options.log_stderr);
        assert!(options.log_net_send && options.log_net_recv);
        assert_eq!(options.test_count, 3);
        assert_eq!(options.seed, 42);
        assert_eq!(options.check_budget, Duration::from_secs(5));
        assert_eq!(options.node_args, ["--verbose", "2"]);
        assert_eq!(
            test_options("test --bin NODE --rate 5 --rate 9").rate,
            9.0,
            "last one wins"
        );
    }

    #[test]
    fn membership_combines_with_the_faults_but_is_not_one_of_them() {
        let options = test_options("test --bin NODE --nemesis membership");
        assert!(options.membership);
        assert!(options.nemesis.is_empty(), "no one-at-a-time fault");
        let options = test_options(
            "test --bin NODE --nemesis partition,kill,membership --node-data-dir \
             -- --initial-voters 3",
        );
        assert!(options.membership);
        assert_eq!(options.nemesis, [Fault::Partition, Fault::Kill]);
        // The node's flag is the user's business: passed on as given, never added.
        assert_eq!(options.node_args, ["--initial-voters", "3"]);
        let options = parse(&[
            "test".into(),
            "--bin".into(),
            NODE.into(),
            "--nemesis".into(),
            "pause , membership".into(),
        ]);
        assert!(
            matches!(options, Ok(Command::Test(o)) if o.membership && o.nemesis == [Fault::Pause])
        );
        let message = error("test --bin NODE --nemesis partition,members");
        assert!(message.contains("\"members\""), "{message}");
        assert!(
            message.contains("partition, kill, pause or membership"),
            "{message}"
        );
        assert!(error("test --bin NODE --nemesis pause,,partition").contains("\"\""));
    }

    #[test]
    fn kill_needs_a_data_dir() {
        let message = error("test --bin NODE --nemesis partition,kill");
        assert!(
            message.contains("--nemesis kill needs --node-data-dir"),
            "{message}"
        );
        assert!(message.contains("lacks committed entries"), "{message}");
        let options = test_options("test --bin NODE --nemesis kill --node-data-dir");
        assert_eq!(options.nemesis, [Fault::Kill]);
    }

    #[test]
    fn rate_zero_is_no_operations() {
        assert_eq!(test_options("test --bin NODE --rate 0").rate, 0.0);
        assert!(error("test --bin NODE --rate -1").contains("can't be negative"));
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("--rate fast", "'fast' for '--rate <RATE>'"),
            ("--time-limit -1", "must be positive"),
            ("--time-limit 0", "must be positive"),
            ("--latency -5", "--latency"),
            ("--latency inf", "expected milliseconds"),
            ("--latency-dist normal", "normal"),
            ("--nemesis flood", "flood"),
            ("--node-count 0", "--node-count"),
            ("--test-count 0", "--test-count"),
            ("--seed -3", "--seed"),
            ("--availability 1.5", "between 0 and 1"),
            ("--availability most", "between 0 and 1"),
            ("--check-budget 0", "--check-budget"),
            ("--rate", "a value is required for '--rate <RATE>'"),
            ("--log-stderr=yes", "--log-stderr"),
        ];
        for (flags, expected) in cases {
            let message = error(&format!("test --bin NODE {flags}"));
            assert!(message.contains(expected), "{flags}: {message}");
        }
    }

    #[test]
    fn availability_is_a_share_of_invocations() {
        assert!(Availability::Total.is_met(0, 0));
        assert!(Availability::Total.is_met(7, 7));
        assert!(!Availability::Total.is_met(6, 7));
        assert!(Availability::AtLeast(0.5).is_met(5, 10));
        assert!(!Availability::AtLeast(0.5).is_met(4, 10));
        assert!(Availability::AtLeast(1.0).is_met(0, 0));
        assert_eq!(
            test_options("test --bin NODE --availability total").availability,
            Some(Availability::Total)
        );
    }

    #[test]
    fn workloads_other_than_lin_kv_are_refused() {
        assert_eq!(test_options("test -w lin-kv --bin NODE").node_ids.len(), 5);
        let message = error("test -w g-set --bin NODE");
        assert!(message.contains("runs only lin-kv"), "{message}");
        assert!(message.contains("g-set workload"), "{message}");
        let message = error("test --workload frob --bin NODE");
        assert!(message.contains("unknown workload"), "{message}");
        assert!(message.contains("txn-list-append"), "{message}");
    }

    #[test]
    fn maelstrom_flags_that_do_not_apply_are_refused_with_the_reason() {
        let cases = [
            ("--topology tree4", "broadcast"),
            ("--consistency-models serializable", "linearizability"),
            ("--key-count 3", "transactional"),
            ("--max-txn-length 3", "transactional"),
            ("--max-writes-per-key 3", "transactional"),
            ("--username admin", "SSH"),
            ("--password secret", "SSH"),
            ("--ssh-private-key id", "SSH"),
            ("--strict-host-key-checking", "SSH"),
            ("--no-ssh", "SSH"),
            ("--leave-db-running", "killed at teardown"),
            ("--logging-json", "plain text"),
        ];
        for (flags, reason) in cases {
            let message = error(&format!("test --bin NODE {flags}"));
            let flag = flags.split_whitespace().next().unwrap();
            assert!(message.contains(&format!("{flag} ")), "{flags}: {message}");
            assert!(message.contains(reason), "{flags}: {message}");
        }
        let help = test_help();
        for (flags, _) in cases {
            let flag = flags.split_whitespace().next().unwrap();
            assert!(help.contains(flag), "{flag} missing from the help");
        }
        assert!(help.contains(REFUSED));
    }

    #[test]
    fn missing_or_unknown_things() {
        let cases = [
            ("test -w lin-kv", "--bin <FILE>"),
            ("test --bin /no/such/node", "/no/such/node"),
            ("test --bin /", "not a file"),
            ("test --bin NODE --frobnicate", "--frobnicate"),
            ("test --bin NODE stray", "unexpected argument 'stray'"),
            ("test --bin NODE stray", "[-- <NODE_ARGS>...]"),
            ("launch", "unrecognized subcommand 'launch'"),
            ("", "Usage: harness"),
            ("check", "<HISTORY>"),
            ("check a b", "unexpected argument 'b'"),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn help_is_not_an_error() {
        for text in ["--help", "help", "test --help", "test -h", "check --help"] {
            match parse(&args(text)) {
                Err(help) => assert!(!help.use_stderr(), "{text}: {help}"),
                Ok(other) => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn check_takes_a_path() {
        match parse(&args("check store/latest/history.jsonl --check-budget 2")) {
            Ok(Command::Check {
                history,
                check_budget,
            }) => {
                assert_eq!(history, PathBuf::from("store/latest/history.jsonl"));
                assert_eq!(check_budget, Duration::from_secs(2));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
