//! raft-ng: run as a Maelstrom node, e.g.
//! `maelstrom test -w lin-kv --bin target/release/raft-ng --node-count 5 ...`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};

use raft_ng::node::{self, Options};
use raft_ng::raft::ReadMode;

const USAGE: &str = "\
usage: raft-ng [options]
  Speaks Maelstrom's lin-kv protocol on stdin/stdout; logs go to stderr.
options:
  --election-timeout MIN-MAX   fixed randomized election timeout in ms (default:
                               at least 150-300, longer as measured round trips
                               need, and backing off after failed campaigns)
  --heartbeat-interval MS      fixed leader heartbeat period (default: at least 50,
                               longer as measured round trips allow)
  --max-in-flight N            AppendEntries with entries in flight per peer (default 8)
  --max-batch N                entries per AppendEntries at most (default 512)
  --batch-window MS            under load, hold new entries and reads for a peer up
                               to MS so they share one AppendEntries (default 5;
                               0: never hold)
  --no-pre-vote                campaign without a pre-vote round
  --no-check-quorum            leaders do not step down without a majority
  --read-mode lease|index      how the leader confirms reads: at once under a lease
                               earned from heartbeats, or by a heartbeat round
                               after each read arrives (default: lease)
  --data-dir DIR               keep term, vote and log durably in DIR/<node id>/
                               (default: in memory only)
  --snapshot-entries N         snapshot the state machine and compact the log every
                               N applied entries (default 10000)
  --initial-voters N           start with only the first N of init's node_ids as
                               voters; the others join when an operator adds them
                               (default: every node is a voter)
  --service-threads N          threads that parse inbound messages and handle them
                               (default 2; each sender's messages stay on one)
  --verbose                    log what happens to every forwarded request
  --help                       this text";

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match flag.as_str() {
            "--election-timeout" => {
                let v = value(&flag)?;
                let (min, max) = v
                    .split_once('-')
                    .ok_or_else(|| anyhow!("--election-timeout wants MIN-MAX, got {v:?}"))?;
                options.raft.election_timeout_min = number(&flag, min)?;
                options.raft.election_timeout_max = number(&flag, max)?;
                if options.raft.election_timeout_min == 0
                    || options.raft.election_timeout_min > options.raft.election_timeout_max
                {
                    bail!("--election-timeout wants 0 < MIN <= MAX, got {v:?}");
                }
                options.raft.adaptive_election_timeout = false;
            }
            "--heartbeat-interval" => {
                options.raft.heartbeat_interval = number(&flag, &value(&flag)?)?.max(1);
                options.raft.adaptive_heartbeat = false;
            }
            "--max-in-flight" => {
                options.raft.max_in_flight = number(&flag, &value(&flag)?)?.max(1) as usize
            }
            "--max-batch" => {
                options.raft.max_batch = number(&flag, &value(&flag)?)?.max(1) as usize
            }
            "--batch-window" => options.raft.batch_window = number(&flag, &value(&flag)?)?,
            "--no-pre-vote" => options.raft.pre_vote = false,
            "--no-check-quorum" => options.raft.check_quorum = false,
            "--read-mode" => {
                options.raft.read_mode = match value(&flag)?.as_str() {
                    "lease" => ReadMode::Lease,
                    "index" => ReadMode::Index,
                    other => bail!("--read-mode wants lease or index, got {other:?}"),
                }
            }
            "--data-dir" => options.data_dir = Some(PathBuf::from(value(&flag)?)),
            "--snapshot-entries" => {
                let n = number(&flag, &value(&flag)?)?;
                if n == 0 {
                    bail!("--snapshot-entries wants at least 1");
                }
                options.snapshot_entries = n;
            }
            "--verbose" => options.verbose = true,
            "--service-threads" => {
                let n = number(&flag, &value(&flag)?)?;
                if n == 0 {
                    bail!("--service-threads wants at least 1");
                }
                options.service_threads = n as usize;
            }
            "--initial-voters" => {
                let n = number(&flag, &value(&flag)?)?;
                if n == 0 {
                    bail!("--initial-voters wants at least 1");
                }
                options.initial_voters = Some(n as usize);
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
}

fn number(flag: &str, text: &str) -> Result<u64> {
    text.trim()
        .parse()
        .with_context(|| format!("{flag} wants a whole number, got {text:?}"))
}

fn main() -> ExitCode {
    node::abort_on_panic();
    // Asking for help is no error: scripts read the flags from it.
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        eprintln!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    match node::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raft-ng: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        parse_args(args.iter().map(|a| a.to_string())).unwrap()
    }

    #[test]
    fn timing_adapts_unless_a_flag_fixes_it() {
        let default = parse(&[]);
        assert!(default.raft.adaptive_election_timeout && default.raft.adaptive_heartbeat);

        let fixed = parse(&["--election-timeout", "1000-2000"]);
        assert!(!fixed.raft.adaptive_election_timeout);
        assert!(fixed.raft.adaptive_heartbeat);
        assert_eq!(
            (
                fixed.raft.election_timeout_min,
                fixed.raft.election_timeout_max
            ),
            (1000, 2000)
        );

        assert_eq!(default.snapshot_entries, node::DEFAULT_SNAPSHOT_ENTRIES);
        assert_eq!(parse(&["--snapshot-entries", "50"]).snapshot_entries, 50);
        assert!(parse_args(["--snapshot-entries", "0"].map(String::from).into_iter()).is_err());

        let fixed = parse(&["--heartbeat-interval", "20"]);
        assert!(fixed.raft.adaptive_election_timeout);
        assert!(!fixed.raft.adaptive_heartbeat);
        assert_eq!(fixed.raft.heartbeat_interval, 20);
    }

    #[test]
    fn read_mode_is_lease_unless_index_is_asked_for() {
        assert_eq!(parse(&[]).raft.read_mode, ReadMode::Lease);
        let lease = parse(&["--read-mode", "lease"]);
        assert_eq!(lease.raft.read_mode, ReadMode::Lease);
        let index = parse(&["--read-mode", "index"]);
        assert_eq!(index.raft.read_mode, ReadMode::Index);
        let bad = parse_args(["--read-mode", "fast"].iter().map(|a| a.to_string()));
        assert!(bad.unwrap_err().to_string().contains("lease or index"));
    }
}
