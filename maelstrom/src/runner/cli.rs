//! Command-line parsing for `harness test` and `harness check`, using Maelstrom's flag
//! names and defaults. Every mistake becomes a [`UsageError`] whose text says what was
//! wrong; the caller prints it and exits 254, as Maelstrom does.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage:
  harness test -w lin-kv --bin PATH [flags] [-- node args...]
  harness check PATH/history.jsonl [--check-budget SECS]

test flags:
  -w, --workload NAME       only lin-kv
  --bin PATH                the node binary (any executable)
  --node-count N            nodes n0..n(N-1) (default: n1..n5)
  --concurrency K|Kn        client threads, a multiple of 2 x node-count (default 2n)
  --rate R                  total requests per second across clients (default 5)
  --time-limit SECS         no new operations after this (default 60)
  --latency MS              node-to-node latency (default 0)
  --latency-dist DIST       constant | uniform | exponential (default constant)
  --nemesis FAULTS          comma list of partition, kill, pause, membership
                            (membership: add and remove servers and transfer the
                            leadership through the node's admin API, alongside the
                            other faults, on its own schedule)
  --nemesis-interval SECS   mean seconds between fault starts and stops, and between
                            membership changes (default 10)
  --node-data-dir           pass --data-dir <run dir>/data to every node
  --log-stderr              echo node stderr to our stderr
  --test-count N            run the test N times; exit code is the worst (default 1)
  --seed N                  seed for nemesis, rate, latency and value choices
  --check-budget SECS       linearizability search budget per key (default 30)

exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 crash
";

/// What `harness test` accepts besides lin-kv: nothing, but the flag is mandatory.
const WORKLOADS: &[&str] = &["lin-kv"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug)]
pub struct TestOptions {
    pub bin: PathBuf,
    /// Everything after `--`, passed to every node.
    pub node_args: Vec<String>,
    pub node_ids: Vec<String>,
    pub concurrency: usize,
    /// Total requests per second across all clients.
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
    pub node_data_dir: bool,
    pub log_stderr: bool,
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
    Help,
}

#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage_error(text: impl Into<String>) -> UsageError {
    UsageError(text.into())
}

const DEFAULT_CHECK_BUDGET: Duration = Duration::from_secs(30);

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    match args.first().map(String::as_str) {
        None => Err(usage_error("missing command: expected `test` or `check`")),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("test") => parse_test(&args[1..]),
        Some("check") => parse_check(&args[1..]),
        Some(other) => Err(usage_error(format!(
            "unknown command {other:?}: expected `test` or `check`"
        ))),
    }
}

/// Splits `--flag=value` and hands out values for flags that take one.
struct FlagReader<'a> {
    args: &'a [String],
    position: usize,
    /// The value glued to the current flag with `=`, if any.
    glued_value: Option<String>,
}

impl<'a> FlagReader<'a> {
    fn new(args: &'a [String]) -> Self {
        FlagReader {
            args,
            position: 0,
            glued_value: None,
        }
    }

    /// The next flag (or positional argument); `None` at the end or at `--`.
    fn next_flag(&mut self) -> Result<Option<String>, UsageError> {
        if let Some(value) = self.glued_value.take() {
            let flag = &self.args[self.position - 1];
            return Err(usage_error(format!(
                "{flag} takes no value (got {value:?})"
            )));
        }
        let Some(arg) = self.args.get(self.position) else {
            return Ok(None);
        };
        self.position += 1;
        if arg == "--" {
            self.position -= 1;
            return Ok(None);
        }
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                self.glued_value = Some(value.to_string());
                Ok(Some(flag.to_string()))
            }
            _ => Ok(Some(arg.clone())),
        }
    }

    fn value(&mut self, flag: &str) -> Result<String, UsageError> {
        if let Some(value) = self.glued_value.take() {
            return Ok(value);
        }
        match self.args.get(self.position) {
            Some(value) if value != "--" => {
                self.position += 1;
                Ok(value.clone())
            }
            _ => Err(usage_error(format!("{flag} needs a value"))),
        }
    }

    /// Everything after `--`.
    fn rest(&self) -> Vec<String> {
        match self.args.get(self.position) {
            Some(separator) if separator == "--" => self.args[self.position + 1..].to_vec(),
            _ => Vec::new(),
        }
    }
}

fn parse_number<T: std::str::FromStr>(flag: &str, text: &str, what: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| usage_error(format!("{flag} expects {what}, got {text:?}")))
}

fn parse_positive_seconds(flag: &str, text: &str) -> Result<Duration, UsageError> {
    let seconds: f64 = parse_number(flag, text, "a number of seconds")?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(usage_error(format!("{flag} must be positive, got {text}")));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `K` or `Kn` (K times the node count).
#[derive(Clone, Copy, Debug, PartialEq)]
enum ConcurrencySpec {
    Absolute(usize),
    PerNode(usize),
}

fn parse_concurrency(text: &str) -> Result<ConcurrencySpec, UsageError> {
    let bad = || {
        usage_error(format!(
            "--concurrency expects a positive integer, optionally followed by n (e.g. 2n), got {text:?}"
        ))
    };
    let (digits, per_node) = match text.strip_suffix('n') {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    let count: usize = digits.parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad());
    }
    Ok(if per_node {
        ConcurrencySpec::PerNode(count)
    } else {
        ConcurrencySpec::Absolute(count)
    })
}

fn parse_nemesis(
    text: &str,
    faults: &mut Vec<Fault>,
    membership: &mut bool,
) -> Result<(), UsageError> {
    for name in text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let fault = match name {
            "partition" => Fault::Partition,
            "kill" => Fault::Kill,
            "pause" => Fault::Pause,
            "membership" => {
                *membership = true;
                continue;
            }
            other => {
                return Err(usage_error(format!(
                    "unknown nemesis {other:?}: expected partition, kill, pause or membership"
                )))
            }
        };
        if !faults.contains(&fault) {
            faults.push(fault);
        }
    }
    Ok(())
}

fn parse_test(args: &[String]) -> Result<Command, UsageError> {
    let mut reader = FlagReader::new(args);
    let mut workload = None;
    let mut bin = None;
    let mut node_count = None;
    let mut concurrency = ConcurrencySpec::PerNode(2);
    let mut rate: f64 = 5.0;
    let mut time_limit = Duration::from_secs(60);
    let mut latency_ms: f64 = 0.0;
    let mut latency_dist = LatencyDist::Constant;
    let mut nemesis = Vec::new();
    let mut membership = false;
    let mut nemesis_interval = Duration::from_secs(10);
    let mut node_data_dir = false;
    let mut log_stderr = false;
    let mut test_count = 1;
    let mut seed = None;
    let mut check_budget = DEFAULT_CHECK_BUDGET;

    while let Some(flag) = reader.next_flag()? {
        match flag.as_str() {
            "-w" | "--workload" => workload = Some(reader.value(&flag)?),
            "--bin" => bin = Some(PathBuf::from(reader.value(&flag)?)),
            "--node-count" => {
                let count: usize = parse_number(&flag, &reader.value(&flag)?, "a node count")?;
                if count == 0 {
                    return Err(usage_error("--node-count must be at least 1"));
                }
                node_count = Some(count);
            }
            "--concurrency" => concurrency = parse_concurrency(&reader.value(&flag)?)?,
            "--rate" => {
                let text = reader.value(&flag)?;
                rate = parse_number(&flag, &text, "requests per second")?;
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(usage_error(format!("--rate must be positive, got {text}")));
                }
            }
            "--time-limit" => time_limit = parse_positive_seconds(&flag, &reader.value(&flag)?)?,
            "--latency" => {
                let text = reader.value(&flag)?;
                latency_ms = parse_number(&flag, &text, "milliseconds")?;
                if !(latency_ms.is_finite() && latency_ms >= 0.0) {
                    return Err(usage_error(format!(
                        "--latency must be zero or more, got {text}"
                    )));
                }
            }
            "--latency-dist" => {
                latency_dist = match reader.value(&flag)?.as_str() {
                    "constant" => LatencyDist::Constant,
                    "uniform" => LatencyDist::Uniform,
                    "exponential" => LatencyDist::Exponential,
                    other => {
                        return Err(usage_error(format!(
                    "unknown --latency-dist {other:?}: expected constant, uniform or exponential"
                )))
                    }
                }
            }
            "--nemesis" => parse_nemesis(&reader.value(&flag)?, &mut nemesis, &mut membership)?,
            "--nemesis-interval" => {
                nemesis_interval = parse_positive_seconds(&flag, &reader.value(&flag)?)?
            }
            "--node-data-dir" => node_data_dir = true,
            "--log-stderr" => log_stderr = true,
            "--test-count" => {
                test_count = parse_number(&flag, &reader.value(&flag)?, "a positive integer")?;
                if test_count == 0 {
                    return Err(usage_error("--test-count must be at least 1"));
                }
            }
            "--seed" => {
                seed = Some(parse_number(
                    &flag,
                    &reader.value(&flag)?,
                    "an unsigned integer",
                )?)
            }
            "--check-budget" => {
                check_budget = parse_positive_seconds(&flag, &reader.value(&flag)?)?
            }
            other if other.starts_with('-') => {
                return Err(usage_error(format!("unknown flag {other}")))
            }
            other => {
                return Err(usage_error(format!(
                    "unexpected argument {other:?} (node arguments go after --)"
                )))
            }
        }
    }

    let workload = workload.ok_or_else(|| usage_error("missing -w/--workload (lin-kv)"))?;
    if !WORKLOADS.contains(&workload.as_str()) {
        return Err(usage_error(format!(
            "unknown workload {workload:?}: this runner supports lin-kv"
        )));
    }
    let bin = bin.ok_or_else(|| usage_error("missing --bin PATH (the node binary)"))?;

    // Maelstrom names nodes n1..n5 when --node-count is absent, n0..n(N-1) otherwise.
    let node_ids: Vec<String> = match node_count {
        None => (1..=5).map(|i| format!("n{i}")).collect(),
        Some(count) => (0..count).map(|i| format!("n{i}")).collect(),
    };
    let node_total = node_ids.len();
    let concurrency = match concurrency {
        ConcurrencySpec::Absolute(count) => count,
        ConcurrencySpec::PerNode(factor) => factor * node_total,
    };
    // lin-kv gives each key to a group of 2n threads; the real tool crashes otherwise.
    if concurrency % (2 * node_total) != 0 {
        return Err(usage_error(format!(
            "--concurrency {concurrency} is not a multiple of 2 x node-count ({}); lin-kv needs whole groups of 2n client threads",
            2 * node_total
        )));
    }

    Ok(Command::Test(TestOptions {
        bin,
        node_args: reader.rest(),
        node_ids,
        concurrency,
        rate,
        time_limit,
        latency_ms,
        latency_dist,
        nemesis,
        membership,
        nemesis_interval,
        node_data_dir,
        log_stderr,
        test_count,
        seed: seed.unwrap_or_else(rand::random),
        check_budget,
    }))
}

fn parse_check(args: &[String]) -> Result<Command, UsageError> {
    let mut reader = FlagReader::new(args);
    let mut history = None;
    let mut check_budget = DEFAULT_CHECK_BUDGET;
    while let Some(flag) = reader.next_flag()? {
        match flag.as_str() {
            "--check-budget" => {
                check_budget = parse_positive_seconds(&flag, &reader.value(&flag)?)?
            }
            other if other.starts_with('-') => {
                return Err(usage_error(format!("unknown flag {other}")))
            }
            path if history.is_none() => history = Some(PathBuf::from(path)),
            extra => return Err(usage_error(format!("unexpected argument {extra:?}"))),
        }
    }
    if !reader.rest().is_empty() {
        return Err(usage_error("`harness check` takes no arguments after --"));
    }
    let history = history.ok_or_else(|| usage_error("missing PATH/history.jsonl"))?;
    Ok(Command::Check {
        history,
        check_budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn test_options(text: &str) -> TestOptions {
        match parse(&args(text)) {
            Ok(Command::Test(options)) => options,
            other => panic!("expected test options for {text:?}, got {other:?}"),
        }
    }

    fn error(text: &str) -> String {
        match parse(&args(text)) {
            Err(UsageError(message)) => message,
            other => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_maelstrom() {
        let options = test_options("test -w lin-kv --bin ./node");
        assert_eq!(options.node_ids, ["n1", "n2", "n3", "n4", "n5"]);
        assert_eq!(options.concurrency, 10);
        assert_eq!(options.rate, 5.0);
        assert_eq!(options.time_limit, Duration::from_secs(60));
        assert_eq!(options.latency_ms, 0.0);
        assert_eq!(options.latency_dist, LatencyDist::Constant);
        assert!(options.nemesis.is_empty());
        assert!(!options.membership);
        assert_eq!(options.nemesis_interval, Duration::from_secs(10));
        assert_eq!(options.test_count, 1);
        assert!(!options.node_data_dir && !options.log_stderr);
        assert!(options.node_args.is_empty());
    }

    #[test]
    fn node_count_names_nodes_from_zero() {
        let options = test_options("test -w lin-kv --bin x --node-count 3");
        assert_eq!(options.node_ids, ["n0", "n1", "n2"]);
    }

    #[test]
    fn concurrency_in_multiples_of_the_node_count() {
        assert_eq!(
            test_options("test -w lin-kv --bin x --node-count 3 --concurrency 2n").concurrency,
            6
        );
        assert_eq!(
            test_options("test -w lin-kv --bin x --node-count 3 --concurrency 4n").concurrency,
            12
        );
        assert_eq!(
            test_options("test -w lin-kv --bin x --node-count 3 --concurrency 12").concurrency,
            12
        );
        assert!(
            error("test -w lin-kv --bin x --node-count 3 --concurrency 1n")
                .contains("not a multiple of 2 x node-count (6)")
        );
        assert!(
            error("test -w lin-kv --bin x --node-count 3 --concurrency 9")
                .contains("not a multiple")
        );
        assert!(error("test -w lin-kv --bin x --concurrency 0n").contains("positive integer"));
        assert!(error("test -w lin-kv --bin x --concurrency xn").contains("positive integer"));
        assert!(error("test -w lin-kv --bin x --concurrency -2").contains("positive integer"));
    }

    #[test]
    fn every_flag_and_node_args() {
        let options = test_options(
            "test --workload=lin-kv --bin ./n --node-count 5 --concurrency 10 --rate 50.5 \
             --time-limit 7 --latency 20 --latency-dist exponential --nemesis partition,kill \
             --nemesis pause --nemesis-interval 1.5 --node-data-dir --log-stderr --test-count 3 \
             --seed 42 --check-budget 5 -- --verbose 2",
        );
        assert_eq!(options.rate, 50.5);
        assert_eq!(options.time_limit, Duration::from_secs(7));
        assert_eq!(options.latency_ms, 20.0);
        assert_eq!(options.latency_dist, LatencyDist::Exponential);
        assert_eq!(
            options.nemesis,
            [Fault::Partition, Fault::Kill, Fault::Pause]
        );
        assert!(!options.membership);
        assert_eq!(options.nemesis_interval, Duration::from_millis(1500));
        assert!(options.node_data_dir && options.log_stderr);
        assert_eq!(options.test_count, 3);
        assert_eq!(options.seed, 42);
        assert_eq!(options.check_budget, Duration::from_secs(5));
        assert_eq!(options.node_args, ["--verbose", "2"]);
    }

    #[test]
    fn membership_combines_with_the_faults_but_is_not_one_of_them() {
        let options = test_options("test -w lin-kv --bin x --nemesis membership");
        assert!(options.membership);
        assert!(options.nemesis.is_empty(), "no one-at-a-time fault");
        let options = test_options(
            "test -w lin-kv --bin x --nemesis partition,membership --nemesis kill,membership \
             -- --initial-voters 3",
        );
        assert!(options.membership);
        assert_eq!(options.nemesis, [Fault::Partition, Fault::Kill]);
        // The node's flag is the user's business: passed on as given, never added.
        assert_eq!(options.node_args, ["--initial-voters", "3"]);
        let options = test_options("test -w lin-kv --bin x --nemesis pause,,membership");
        assert!(options.membership && options.nemesis == [Fault::Pause]);
        let message = error("test -w lin-kv --bin x --nemesis partition,members");
        assert!(message.contains("\"members\""), "{message}");
        assert!(
            message.contains("partition, kill, pause or membership"),
            "{message}"
        );
        assert!(USAGE.contains("partition, kill, pause, membership"));
    }

    #[test]
    fn bad_values_are_named() {
        assert!(error("test -w lin-kv --bin x --rate fast").contains("--rate expects"));
        assert!(error("test -w lin-kv --bin x --rate 0").contains("--rate must be positive"));
        assert!(error("test -w lin-kv --bin x --time-limit -1").contains("must be positive"));
        assert!(error("test -w lin-kv --bin x --latency -5").contains("--latency"));
        assert!(error("test -w lin-kv --bin x --latency-dist normal").contains("normal"));
        assert!(error("test -w lin-kv --bin x --nemesis flood").contains("flood"));
        assert!(error("test -w lin-kv --bin x --node-count 0").contains("--node-count"));
        assert!(error("test -w lin-kv --bin x --test-count 0").contains("--test-count"));
        assert!(error("test -w lin-kv --bin x --seed -3").contains("--seed"));
        assert!(error("test -w lin-kv --bin x --rate").contains("needs a value"));
        assert!(error("test -w lin-kv --bin x --log-stderr=yes").contains("takes no value"));
    }

    #[test]
    fn missing_or_unknown_things() {
        assert!(error("test -w lin-kv").contains("missing --bin"));
        assert!(error("test --bin x").contains("missing -w"));
        assert!(error("test -w g-set --bin x").contains("unknown workload"));
        assert!(error("test -w lin-kv --bin x --frobnicate").contains("unknown flag --frobnicate"));
        assert!(error("test -w lin-kv --bin x stray").contains("after --"));
        assert!(error("launch").contains("unknown command"));
        assert!(error("").contains("missing command"));
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
        assert!(error("check").contains("missing PATH"));
        assert!(error("check a b").contains("unexpected argument"));
    }
}
