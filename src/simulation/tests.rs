//! The healthy cluster must stay safe on every seed of every standard profile, and
//! every planted bug of the catalogue ([`InjectedBug`]) must be caught by the same
//! randomized simulation within [`MAX_SEEDS`] seeds.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;

use super::*;
use crate::raft::{InjectedBug, ReadMode};

/// How long each run lasts before the faults stop and the cluster settles.
const DURATION_MS: u64 = 6_000;
/// A planted bug must be caught within this many seeds. With the calm profiles, leases
/// forced on for the lease rules and restarts aimed at leases, every entry is caught
/// within about 50 seeds; the rarest (`LeaseLongerThanVoteGuard`, `ReadWithoutConfirmation`,
/// `NoConfigFallbackOnTruncation`) by about one seed in 40, so the margin is wide.
const MAX_SEEDS: u64 = 400;

/// `RAFT_SIM_SEED` replays one seed; `RAFT_SIM_SEEDS` overrides how many run.
fn seeds(default: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("RAFT_SIM_SEED") {
        return vec![seed.parse().expect("RAFT_SIM_SEED is a number")];
    }
    let count = std::env::var("RAFT_SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    (0..count).collect()
}

/// Writes past the test harness's capture, so the line shows in `cargo test` output.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs the healthy cluster under `profile` over the seeds: fails on the first
/// violation, when too few runs got work done, or when no snapshot was ever sent.
/// Returns the admin requests done.
fn run_healthy(profile: &Profile, default_seeds: u64) -> BTreeMap<&'static str, usize> {
    let mut progressed = 0;
    let (mut taken, mut installed) = (0, 0);
    let mut admin_done = BTreeMap::new();
    let all = seeds(default_seeds);
    for &seed in &all {
        let mut sim = Simulation::new(seed, profile);
        if let Err(violation) = sim.run(DURATION_MS) {
            panic!(
                "{}, seed {seed}: {violation} (replay: RAFT_SIM_SEED={seed})",
                profile.name
            );
        }
        progressed += sim.made_progress() as usize;
        taken += sim.snapshots_taken;
        installed += sim.snapshots_installed;
        for (action, n) in sim.admin_done {
            *admin_done.entry(action).or_insert(0) += n;
        }
    }
    report(&format!(
        "{}: {taken} snapshots taken, {installed} installed from a leader in {} runs",
        profile.name,
        all.len()
    ));
    if all.len() >= 10 {
        assert!(
            taken > 0 && installed > 0,
            "{}: the runs never exercised InstallSnapshot",
            profile.name
        );
    }
    // Faults end before the settling period, so nearly every run must get work done.
    assert!(
        progressed * 10 >= all.len() * 9,
        "{}: only {progressed} of {} runs made progress",
        profile.name,
        all.len()
    );
    admin_done
}

#[test]
fn three_servers_stay_safe() {
    run_healthy(&Profile::standard()[0], 100);
}

#[test]
fn five_servers_stay_safe() {
    run_healthy(&Profile::standard()[1], 60);
}

/// The simulated clients bring the leader a few operations every ten milliseconds, at
/// which the default batch window holds work back only now and then (some 180 holds a
/// run, over four followers); a 20 ms window makes the leader hold entries and reads
/// back about three times as often, under the same faults.
#[test]
fn five_servers_holding_entries_back_stay_safe() {
    let mut profile = Profile::standard()[1].clone();
    profile.name = "5 servers, 20 ms batch window";
    profile.config.batch_window = 20;
    run_healthy(&profile, 30);
}

#[test]
fn membership_changes_stay_safe() {
    let done = run_healthy(&Profile::standard()[2], 80);
    let total: usize = done.values().sum();
    report(&format!(
        "membership simulation: admin requests done {done:?}"
    ));
    if std::env::var("RAFT_SIM_SEED").is_err() {
        assert!(
            total > 100,
            "only {total} membership changes done: {done:?}"
        );
        assert!(
            done.len() == 4,
            "some kind of change never succeeded: {done:?}"
        );
    }
}

#[test]
fn three_servers_without_pre_vote_or_check_quorum_stay_safe() {
    run_healthy(&Profile::standard()[3], 60);
}

#[test]
fn calm_fast_networks_stay_safe() {
    run_healthy(&Profile::standard()[4], 40);
    run_healthy(&Profile::standard()[5], 40);
}

/// The planted bugs that break only the rules of leader leases.
const LEASE_BUGS: [InjectedBug; 4] = [
    InjectedBug::LeaseLongerThanVoteGuard,
    InjectedBug::LeaseKeptThroughTransfer,
    InjectedBug::LeaseFromReplyTime,
    InjectedBug::RestartedServerVotesAtOnce,
];

/// Runs the ordinary simulation with `bug` switched on, seed after seed, each seed under
/// the next standard profile. Returns the first seed that broke a check, with the
/// profile and the violation.
fn catch(bug: InjectedBug) -> Option<(u64, &'static str, String)> {
    let profiles = Profile::standard();
    seeds(MAX_SEEDS).into_iter().find_map(|seed| {
        let mut profile = profiles[seed as usize % profiles.len()].clone();
        profile.config.injected_bug = Some(bug);
        // A lease rule can only break where leases are in use.
        if LEASE_BUGS.contains(&bug) {
            profile.read_mode = Some(ReadMode::Lease);
        }
        // The fixed default timing: adaptive timeouts grow with the simulated delays and
        // make leader changes, and so the windows many bugs need, rarer.
        profile.config.adaptive_election_timeout = false;
        profile.config.adaptive_heartbeat = false;
        let mut sim = Simulation::new(seed, &profile);
        sim.run(DURATION_MS).err().map(|e| (seed, profile.name, e))
    })
}

/// Seeds each planted bug needed (None: not caught), as the tests finish.
static CAUGHT: Mutex<Vec<(InjectedBug, Option<u64>)>> = Mutex::new(Vec::new());

/// Catches `bug` or fails; the last planted-bug test to finish prints the summary.
fn planted(bug: InjectedBug) {
    let found = catch(bug);
    let needed = found.as_ref().map(|(seed, _, _)| seed + 1);
    match &found {
        Some((seed, profile, violation)) => report(&format!(
            "planted bug {bug:?}: caught after {} seeds ({profile}, RAFT_SIM_SEED={seed}): \
             {violation}",
            seed + 1
        )),
        None => report(&format!(
            "planted bug {bug:?}: NOT caught in {MAX_SEEDS} seeds"
        )),
    }
    let mut caught = CAUGHT.lock().unwrap_or_else(|p| p.into_inner());
    caught.push((bug, needed));
    if caught.len() == InjectedBug::ALL.len() {
        let mut seeds: Vec<u64> = caught.iter().filter_map(|(_, s)| *s).collect();
        seeds.sort_unstable();
        let median = seeds
            .get(seeds.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0);
        report(&format!(
            "planted bugs: {}/{} caught; seeds to catch: median {median}, worst {}",
            seeds.len(),
            caught.len(),
            seeds.last().copied().unwrap_or(0)
        ));
    }
    drop(caught);
    assert!(
        found.is_some(),
        "planted bug {bug:?} went unnoticed for {MAX_SEEDS} seeds"
    );
}

macro_rules! planted_bug_tests {
    ($($test:ident: $bug:ident,)*) => {
        $(
            #[test]
            fn $test() {
                planted(InjectedBug::$bug);
            }
        )*

        /// Every entry of the catalogue has its test above.
        #[test]
        fn every_planted_bug_has_a_test() {
            let tested = [$(InjectedBug::$bug),*];
            for bug in InjectedBug::ALL {
                assert!(tested.contains(&bug), "{bug:?} has no test");
            }
            assert_eq!(tested.len(), InjectedBug::ALL.len());
        }
    };
}

planted_bug_tests! {
    catches_votes_without_the_up_to_date_check: VoteWithoutUpToDateCheck,
    catches_two_votes_in_one_term: VoteTwiceInTerm,
    catches_votes_before_they_are_durable: VoteNotPersisted,
    catches_truncation_by_a_stale_append: StaleAppendTruncates,
    catches_an_uncapped_follower_commit_index: FollowerCommitNotCapped,
    catches_acknowledgements_before_the_disk: FollowerAcksBeforeDurable,
    catches_a_leader_counting_entries_not_on_its_disk: LeaderCountsNonDurable,
    catches_commitment_of_an_earlier_term_by_counting: CommitWithoutCurrentTermCheck,
    catches_a_stale_log_write_report: StaleLogWriteAccepted,
    catches_a_read_index_before_the_noop_commits: ReadIndexBeforeNoopCommit,
    catches_reads_without_confirmation: ReadWithoutConfirmation,
    catches_reads_before_the_state_machine_applies: ReadBeforeApplied,
    catches_a_config_change_before_the_own_term_commit: ConfigChangeBeforeOwnTermCommit,
    catches_two_uncommitted_configurations: MultipleUncommittedConfigs,
    catches_no_fallback_after_truncation: NoConfigFallbackOnTruncation,
    catches_a_removed_leader_counting_itself: RemovedLeaderCountsItself,
    catches_a_staging_server_promoted_early: StagingPromotedEarly,
    catches_answers_before_commit: AnswerBeforeCommit,
    catches_a_definite_error_after_forwarding: DefiniteErrorAfterForward,
    catches_a_held_request_sent_twice: ParkedRequestSentTwice,
    catches_a_removed_server_that_ignores_its_removal: RemovalNewsIgnored,
    catches_a_lease_longer_than_the_vote_guard: LeaseLongerThanVoteGuard,
    catches_a_lease_kept_through_a_transfer: LeaseKeptThroughTransfer,
    catches_a_lease_counted_from_the_reply_time: LeaseFromReplyTime,
    catches_a_restarted_server_voting_at_once: RestartedServerVotesAtOnce,
    catches_compaction_past_the_applied_index: CompactionPastApplied,
    catches_a_stale_snapshot_installed: StaleSnapshotInstalled,
    catches_a_snapshot_chunk_acknowledged_before_the_disk: SnapshotChunkAckedEarly,
    catches_a_snapshot_that_forgets_the_configuration: SnapshotConfigForgotten,
    catches_a_leader_replicating_from_discarded_entries: DiscardedEntriesSent,
}
