//! Unit tests of the core's rules, driven message by message.

use super::test_cluster::Cluster;
use super::*;
use crate::kv::KvOp;
use serde_json::json;

fn ids(n: usize) -> Vec<NodeId> {
    (0..n).map(|i| format!("n{i}")).collect()
}

fn server(id: &str, n: usize) -> Raft {
    server_with(id, n, Config::default())
}

fn server_with(id: &str, n: usize, config: Config) -> Raft {
    Raft::new(
        id.into(),
        Configuration::with_voters(ids(n)),
        config,
        Recovered::default(),
        1,
        0,
    )
}

fn write(id: &str, value: u64) -> Payload {
    crate::kv::Command {
        client: "c1".into(),
        msg_id: value,
        proposer: id.into(),
        op: KvOp::Write {
            key: json!(0),
            value: json!(value),
        },
    }
    .encode()
}

/// Makes every write the core asks for durable at once, as the runtime does.
fn persist(raft: &mut Raft) {
    if let Some(hard_state) = raft.take_hard_state() {
        raft.hard_state_written(&hard_state);
    }
    if let Some(entries) = raft.take_log_write() {
        let last = entries.last().unwrap();
        raft.log_written(last.index, last.term);
    }
}

/// What `raft` has for `peer` once its writes are durable.
fn drain(raft: &mut Raft, peer: &str, now: u64) -> Vec<Message> {
    persist(raft);
    std::iter::from_fn(|| raft.poll_peer(&peer.to_string(), now)).collect()
}

#[test]
fn a_one_node_cluster_elects_itself_and_commits_its_noop() {
    let mut raft = server("n0", 1);
    raft.tick(1_000);
    assert_eq!(raft.role(), Role::Leader);
    assert_eq!(raft.term(), 1);
    assert_eq!(
        raft.commit_index(),
        0,
        "nothing commits before it is durable"
    );
    persist(&mut raft);
    assert_eq!(raft.commit_index(), 1);
    assert_eq!(raft.take_committed()[0].data, EntryData::Noop);
}

#[test]
fn the_core_replicates_commands_it_does_not_read() {
    let mut raft = server("n0", 1);
    raft.tick(1_000);
    persist(&mut raft);
    let object = json!({"not": "a key-value command", "bytes": [0, 255]});
    let payload = Payload::from_object(object.as_object().unwrap().clone());
    let index = raft.propose(payload.clone()).unwrap();
    persist(&mut raft);
    let committed = raft.take_committed();
    let entry = committed.iter().find(|e| e.index == index).unwrap();
    assert_eq!(entry.data, EntryData::Command(payload));
}

#[test]
fn pre_vote_moves_no_terms_until_a_majority_would_vote() {
    let mut a = server("n0", 3);
    let mut b = server("n1", 3);
    a.tick(1_000);
    assert_eq!((a.role(), a.term()), (Role::PreCandidate, 0));
    let request = drain(&mut a, "n1", 1_000).remove(0);
    assert!(matches!(
        request,
        Message::RequestVote {
            term: 1,
            pre_vote: true,
            ..
        }
    ));
    b.step(&"n0".into(), request, 1_000);
    assert_eq!(
        b.term(),
        0,
        "a pre-vote request must not raise the receiver's term"
    );
    let grant = drain(&mut b, "n0", 1_000).remove(0);
    a.step(&"n1".into(), grant, 1_000);
    assert_eq!((a.role(), a.term()), (Role::Candidate, 1));
}

#[test]
fn votes_go_only_to_up_to_date_logs_and_once_per_term() {
    // Past the minimum election timeout after it started, when it votes at all.
    let mut voter = server("n2", 3);
    voter.step(
        &"n0".into(),
        Message::RequestVote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
            transfer: false,
            sent_at: 1_000,
        },
        1_000,
    );
    let granted =
        |msgs: Vec<Message>| matches!(msgs[0], Message::RequestVoteResponse { granted: true, .. });
    let vote = HardState {
        term: 2,
        voted_for: Some("n0".into()),
    };
    assert_eq!(voter.take_hard_state(), Some(vote.clone()));
    assert!(
        voter.poll_peer(&"n0".into(), 1_000).is_none(),
        "no vote leaves before it is durable"
    );
    voter.hard_state_written(&vote);
    assert!(granted(drain(&mut voter, "n0", 1_000)));
    voter.step(
        &"n1".into(),
        Message::RequestVote {
            term: 2,
            last_log_index: 5,
            last_log_term: 2,
            pre_vote: false,
            transfer: false,
            sent_at: 1_000,
        },
        1_000,
    );
    assert!(
        !granted(drain(&mut voter, "n1", 1_000)),
        "one vote per term"
    );

    // A voter with entries of term 1 refuses a candidate whose log ends earlier.
    let mut voter = server("n2", 3);
    let entry = Entry {
        term: 1,
        index: 1,
        data: EntryData::Noop,
    };
    voter.step(
        &"n0".into(),
        Message::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![entry],
            leader_commit: 0,
            read_seq: 0,
            sent_at: 0,
            election_timeout: 0,
        },
        0,
    );
    drain(&mut voter, "n0", 0);
    voter.step(
        &"n1".into(),
        Message::RequestVote {
            term: 5,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
            transfer: false,
            sent_at: 1_000,
        },
        1_000,
    );
    assert!(!granted(drain(&mut voter, "n1", 1_000)));
}

/// Elects n0 of a 3-server cluster with n1's help; returns both.
fn elected() -> (Raft, Raft) {
    elected_with(Config::default())
}

/// ReadIndex alone: every read waits for a heartbeat round (leases are the default).
fn index_config() -> Config {
    Config {
        read_mode: ReadMode::Index,
        ..Config::default()
    }
}

fn elected_with(config: Config) -> (Raft, Raft) {
    let mut a = server_with("n0", 3, config.clone());
    let mut b = server_with("n1", 3, config);
    a.tick(1_000);
    // Pre-vote, vote, then the no-op and its acknowledgement.
    for _ in 0..3 {
        for m in drain(&mut a, "n1", 1_000) {
            b.step(&"n0".into(), m, 1_000);
        }
        persist(&mut b);
        for m in drain(&mut b, "n0", 1_000) {
            a.step(&"n1".into(), m, 1_000);
        }
        persist(&mut a);
    }
    assert_eq!(a.role(), Role::Leader);
    (a, b)
}

#[test]
fn a_stale_append_never_truncates_newer_entries() {
    let (mut leader, mut follower) = elected();
    leader.propose(write("n0", 1)).unwrap();
    leader.propose(write("n0", 2)).unwrap();
    persist(&mut leader);
    let appends = drain(&mut leader, "n1", 1_001);
    assert!(!appends.is_empty());
    for m in appends.iter().rev().chain(appends.iter()) {
        follower.step(&"n0".into(), m.clone(), 1_001);
    }
    let last = follower.log().last_index();
    // Replaying the oldest AppendEntries (the no-op) again must keep entries after it.
    let old = Message::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![follower.log().entry(1).unwrap().clone()],
        leader_commit: 0,
        read_seq: 0,
        sent_at: 0,
        election_timeout: 0,
    };
    follower.step(&"n0".into(), old, 1_002);
    assert_eq!(follower.log().last_index(), last);
    assert_eq!(last, 3);
}

#[test]
fn a_rejection_skips_the_followers_whole_conflicting_term() {
    let mut follower = server("n1", 3);
    // The follower holds five entries of term 1 that the new leader of term 3 lacks.
    let entries: Vec<Entry> = (1..=5)
        .map(|i| Entry {
            term: 1,
            index: i,
            data: EntryData::Noop,
        })
        .collect();
    follower.step(
        &"n2".into(),
        Message::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
            read_seq: 0,
            sent_at: 0,
            election_timeout: 0,
        },
        0,
    );
    drain(&mut follower, "n2", 0);
    follower.step(
        &"n0".into(),
        Message::AppendEntries {
            term: 3,
            prev_log_index: 5,
            prev_log_term: 2,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
            sent_at: 0,
            election_timeout: 0,
        },
        10,
    );
    let reply = drain(&mut follower, "n0", 10).remove(0);
    assert!(
        matches!(
            reply,
            Message::AppendEntriesResponse {
                success: false,
                rejected_index: 5,
                hint_index: 1,
                hint_term: Some(1),
                ..
            }
        ),
        "{reply:?}"
    );
}

#[test]
fn reads_wait_for_a_heartbeat_round_that_started_after_them() {
    let (mut leader, mut follower) = elected_with(index_config());
    assert!(leader.commit_index() >= 1, "the no-op committed");
    leader.read_index(7, 1_000).unwrap();
    assert_eq!(
        leader.take_reads(),
        Reads::default(),
        "not confirmed before a majority echoes"
    );
    let heartbeat = drain(&mut leader, "n1", 1_002);
    assert!(
        matches!(heartbeat[..], [Message::AppendEntries { read_seq: 1, .. }]),
        "{heartbeat:?}"
    );
    follower.step(&"n0".into(), heartbeat[0].clone(), 1_002);
    for m in drain(&mut follower, "n0", 1_002) {
        leader.step(&"n1".into(), m, 1_002);
    }
    assert_eq!(leader.take_reads().ready, vec![(7, leader.commit_index())]);
}

fn lease_config() -> Config {
    Config {
        read_mode: ReadMode::Lease,
        ..Config::default()
    }
}

#[test]
fn a_lease_serves_reads_at_once_until_it_runs_out() {
    // n1 answered the no-op's AppendEntries, sent at 1_000: with n0, a majority.
    let (mut leader, _) = elected_with(lease_config());
    let lease_end = 1_000 + leader.lease_duration();
    assert!(leader.lease_duration() < leader.config.election_timeout_min);
    leader.read_index(7, lease_end - 1).unwrap();
    assert_eq!(leader.take_reads().ready, vec![(7, leader.commit_index())]);
    let sent: Vec<Message> = drain(&mut leader, "n1", lease_end - 1)
        .into_iter()
        .filter(|m| matches!(m, Message::AppendEntries { read_seq: 1.., .. }))
        .collect();
    assert!(sent.is_empty(), "a round for a lease read: {sent:?}");

    // Checked with the time the read arrives: a leader that was paused meanwhile has
    // no lease left, and confirms the read by a round.
    leader.read_index(8, lease_end).unwrap();
    assert_eq!(leader.take_reads(), Reads::default());
    let heartbeat = drain(&mut leader, "n1", lease_end);
    assert!(
        matches!(heartbeat[..], [Message::AppendEntries { read_seq: 1, .. }]),
        "{heartbeat:?}"
    );
}

#[test]
fn a_lease_counts_from_when_the_answered_round_was_sent() {
    let (mut leader, mut follower) = elected_with(lease_config());
    let heartbeat = drain(&mut leader, "n1", 1_100);
    follower.step(&"n0".into(), heartbeat[0].clone(), 1_100);
    // The answer takes long to come back: the lease still counts from 1_100.
    for m in drain(&mut follower, "n0", 1_100) {
        leader.step(&"n1".into(), m, 1_200);
    }
    assert!(leader.holds_lease(1_100 + leader.lease_duration() - 1));
    assert!(!leader.holds_lease(1_100 + leader.lease_duration()));
}

#[test]
fn a_server_that_starts_refuses_votes_for_an_election_timeout() {
    let request = |term| Message::RequestVote {
        term,
        last_log_index: 0,
        last_log_term: 0,
        pre_vote: false,
        transfer: false,
        sent_at: 0,
    };
    let mut voter = server("n2", 3);
    let guard = voter.config.election_timeout_min;
    voter.step(&"n0".into(), request(1), guard - 1);
    assert_eq!(voter.term(), 0, "a vote request moved the term");
    assert!(drain(&mut voter, "n0", guard - 1).is_empty());
    voter.step(&"n0".into(), request(1), guard);
    assert!(matches!(
        drain(&mut voter, "n0", guard)[..],
        [Message::RequestVoteResponse { granted: true, .. }]
    ));
}

#[test]
fn a_leader_that_sent_timeout_now_holds_no_lease_for_the_rest_of_its_term() {
    let (mut leader, mut follower) = elected_with(lease_config());
    assert!(leader.holds_lease(1_001));
    leader.transfer_leadership(1, "n1".into(), 1_001).unwrap();
    assert!(!leader.holds_lease(1_001), "a lease during a transfer");
    let sent = drain(&mut leader, "n1", 1_001);
    assert!(matches!(sent[..], [Message::TimeoutNow { .. }]), "{sent:?}");
    // The target never takes over (its TimeoutNow is lost); the leader gives up and
    // serves again, confirming reads by rounds, though a majority keeps answering.
    let give_up = 1_001 + leader.election_timeout_max();
    leader.tick(give_up);
    for m in drain(&mut leader, "n1", give_up) {
        follower.step(&"n0".into(), m, give_up);
    }
    for m in drain(&mut follower, "n0", give_up) {
        leader.step(&"n1".into(), m, give_up);
    }
    assert_eq!(leader.role(), Role::Leader);
    assert!(!leader.holds_lease(give_up));
    leader.read_index(2, give_up).unwrap();
    assert_eq!(leader.take_reads(), Reads::default());
}

#[test]
fn a_leader_without_a_majority_steps_down_and_aborts_reads() {
    let (mut leader, _) = elected_with(index_config());
    leader.read_index(1, 1_000).unwrap();
    leader.tick(1_000 + 2 * leader.config.election_timeout_min);
    leader.tick(1_000 + 4 * leader.config.election_timeout_min);
    assert_eq!(leader.role(), Role::Follower);
    assert_eq!(leader.take_reads().aborted, vec![1]);
    assert!(leader.propose(write("n0", 1)).is_err());
}

/// Raft's Figure 8, step by step, with one entry per AppendEntries so that an old
/// entry can reach a majority without the new leader's no-op. s1 (term 1) gets entry 2
/// to s2 only; s5 wins term 2 with s3, s4 and writes its own entry 2; s1 wins term 3
/// with s2, s3 and brings entry 2 of term 1 to s3, a majority. Counting replicas of
/// that old entry commits it; then s5 wins term 4 with s3, s4 and the entry is not in
/// its log. Returns the committed indexes the last leader lacks.
fn figure_8(commit_rule: bool) -> Vec<Index> {
    let config = Config {
        pre_vote: false,
        max_batch: 1,
        max_in_flight: 1,
        injected_bug: (!commit_rule).then_some(InjectedBug::CommitWithoutCurrentTermCheck),
        ..Config::default()
    };
    let all = ["s1", "s2", "s3", "s4", "s5"];
    let mut c = Cluster::new(&all, &all, config);
    // Campaigns until `id` leads in the newest term (a deposed leader that has not
    // heard of its successor still thinks it leads).
    let leader_of = |c: &mut Cluster, id: &str, voters: &[&str]| {
        let leads = |c: &mut Cluster| {
            let newest = all.iter().map(|s| c.get(s).term()).max().unwrap();
            c.get(id).role() == Role::Leader && c.get(id).term() == newest
        };
        for _ in 0..4 {
            if !leads(c) {
                c.campaign(id, voters);
            }
        }
        assert!(leads(c), "{id} wins");
    };
    leader_of(&mut c, "s1", &["s2", "s3"]);
    c.replicate("s1", &["s2", "s3", "s4", "s5"]);
    c.get("s1").propose(write("s1", 7)).unwrap();
    c.replicate("s1", &["s2"]);

    leader_of(&mut c, "s5", &["s3", "s4"]);
    assert_eq!(c.get("s5").log().term_at(2), Some(2), "s5's own entry 2");

    leader_of(&mut c, "s1", &["s2", "s3"]);
    let term = c.get("s1").term();
    c.exchange_one("s1", "s2"); // s2 takes the no-op: s1 knows it holds 1..=3
    c.exchange_one("s1", "s3"); // s3 lacks entry 2: rejected
    c.exchange_one("s1", "s3"); // entry 2 alone
    assert_eq!(c.get("s3").log().last_index(), 2);
    assert_eq!(c.get("s3").log().term_at(2), Some(1));
    assert_eq!(c.get("s1").term(), term);

    leader_of(&mut c, "s5", &["s3", "s4"]);
    c.lost_by("s5")
}

#[test]
fn counting_replicas_of_an_old_term_loses_a_committed_entry() {
    assert_eq!(figure_8(false), vec![2]);
}

#[test]
fn committing_only_entries_of_the_current_term_loses_nothing() {
    assert_eq!(figure_8(true), Vec::<Index>::new());
}

/// A new leader probes a follower that already holds its whole log. A read's heartbeat
/// overtakes the probe at prev = match_index = 0; its success must not restart
/// replication from index 1, which would send everything the follower holds again.
#[test]
fn a_heartbeat_answered_while_probing_sends_nothing_again() {
    let mut c = Cluster::new(&["n0", "n1", "n2"], &["n0", "n1", "n2"], index_config());
    c.campaign("n0", &["n1", "n2"]);
    for value in 1..=5 {
        c.get("n0").propose(write("n0", value)).unwrap();
    }
    c.replicate("n0", &["n1", "n2"]);
    c.campaign("n1", &["n2"]);
    assert_eq!(c.get("n1").role(), Role::Leader);
    c.replicate("n1", &["n2"]);
    let held = c.get("n0").log().last_index();
    assert_eq!(held, 6, "n0 holds everything but n1's no-op");

    let now = c.now;
    let probe = drain(c.get("n1"), "n0", now);
    assert!(
        matches!(
            probe[..],
            [Message::AppendEntries {
                prev_log_index: 6,
                ..
            }]
        ),
        "{probe:?}"
    );
    c.get("n1").read_index(1, now).unwrap();
    let heartbeat = drain(c.get("n1"), "n0", now);
    assert!(
        matches!(
            heartbeat[..],
            [Message::AppendEntries { prev_log_index: 0, ref entries, .. }] if entries.is_empty()
        ),
        "{heartbeat:?}"
    );
    c.get("n0").step(&"n1".into(), heartbeat[0].clone(), now);
    c.persist("n0");
    for answer in drain(c.get("n0"), "n1", now) {
        c.get("n1").step(&"n0".into(), answer, now);
    }
    let resent: Vec<Message> = drain(c.get("n1"), "n0", now)
        .into_iter()
        .filter(|m| matches!(m, Message::AppendEntries { entries, .. } if !entries.is_empty()))
        .collect();
    assert!(resent.is_empty(), "sent again: {resent:?}");

    // The probe's own answer then streams from past what n0 holds.
    c.get("n0").step(&"n1".into(), probe[0].clone(), now);
    c.persist("n0");
    for answer in drain(c.get("n0"), "n1", now) {
        c.get("n1").step(&"n0".into(), answer, now);
    }
    assert_eq!(c.get("n0").log().last_index(), 7);
}

/// Entries carried by the AppendEntries among `msgs`, one count per message.
fn entry_counts(msgs: &[Message]) -> Vec<usize> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::AppendEntries { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect()
}

/// A three-server cluster led by n0 that has proposed one write a millisecond for a
/// while, each replicated as soon as n0 lets it go: n0 has measured a load at which
/// holding entries back batches them. Ends with nothing outstanding.
fn leader_under_load() -> Cluster {
    let mut c = Cluster::new(&["n0", "n1", "n2"], &["n0", "n1", "n2"], index_config());
    c.campaign("n0", &["n1", "n2"]);
    c.replicate("n0", &["n1", "n2"]);
    for value in 1..=40 {
        c.now += 1;
        c.get("n0").propose(write("n0", value)).unwrap();
        c.replicate("n0", &["n1", "n2"]);
    }
    c.now += Config::default().batch_window;
    c.replicate("n0", &["n1", "n2"]);
    c
}

#[test]
fn under_load_entries_proposed_while_one_is_outstanding_wait_and_go_together() {
    let mut c = leader_under_load();
    let window = Config::default().batch_window;
    let t = c.now;
    let first = c.get("n0").propose(write("n0", 100)).unwrap();
    assert!(
        drain(c.get("n0"), "n1", t).is_empty(),
        "held for the window"
    );
    let outstanding = drain(c.get("n0"), "n1", t + window);
    assert_eq!(entry_counts(&outstanding), vec![1]);

    // Three more while that one is unanswered: nothing goes until the window ends.
    let now = t + window;
    for value in 101..=103 {
        c.get("n0").propose(write("n0", value)).unwrap();
    }
    assert!(drain(c.get("n0"), "n1", now).is_empty());
    assert_eq!(c.get("n0").hold_ends(&"n1".into()), Some(now + window));

    // The answer commits the first entry; the new commit index alone sends nothing.
    c.get("n1")
        .step(&"n0".into(), outstanding[0].clone(), now + 1);
    for answer in drain(c.get("n1"), "n0", now + 1) {
        c.get("n0").step(&"n1".into(), answer, now + 1);
    }
    assert_eq!(c.get("n0").commit_index(), first);
    for at in now + 1..now + window {
        assert!(drain(c.get("n0"), "n1", at).is_empty(), "sent at {at}");
    }

    // When the window ends, one AppendEntries carries all three and the commit index.
    let batch = drain(c.get("n0"), "n1", now + window);
    assert_eq!(entry_counts(&batch), vec![3]);
    assert!(
        matches!(batch[0], Message::AppendEntries { leader_commit, .. } if leader_commit == first),
        "{batch:?}"
    );
}

#[test]
fn under_load_reads_share_the_held_round() {
    let mut c = leader_under_load();
    let window = Config::default().batch_window;
    let t = c.now;
    c.get("n0").propose(write("n0", 100)).unwrap();
    c.get("n0").read_index(1, t).unwrap();
    assert!(drain(c.get("n0"), "n1", t).is_empty(), "the read waits too");
    let round = drain(c.get("n0"), "n1", t + window);
    assert!(
        matches!(round[..], [Message::AppendEntries { ref entries, read_seq, .. }]
            if entries.len() == 1 && read_seq > 0),
        "one message for the entry and the read: {round:?}"
    );
}

#[test]
fn under_light_load_entries_go_at_once_and_pipeline() {
    let (mut leader, mut follower) = elected();
    let mut now = 1_000;
    // A write every 20 ms: holding would batch nothing, only delay.
    for value in 1..=20 {
        now += 20;
        leader.propose(write("n0", value)).unwrap();
        let append = drain(&mut leader, "n1", now);
        assert_eq!(entry_counts(&append), vec![1], "at once");
        follower.step(&"n0".into(), append[0].clone(), now);
        for answer in drain(&mut follower, "n0", now) {
            leader.step(&"n1".into(), answer, now);
        }
    }
    // One more while the last is unanswered still goes at once.
    leader.propose(write("n0", 21)).unwrap();
    assert_eq!(entry_counts(&drain(&mut leader, "n1", now + 20)), vec![1]);
    leader.propose(write("n0", 22)).unwrap();
    assert_eq!(entry_counts(&drain(&mut leader, "n1", now + 21)), vec![1]);
}

#[test]
fn a_new_commit_index_alone_waits_for_the_next_heartbeat() {
    let mut c = Cluster::new(&["n0", "n1", "n2"], &["n0", "n1", "n2"], Config::default());
    c.campaign("n0", &["n1", "n2"]);
    c.replicate("n0", &["n1", "n2"]);
    let now = c.now;
    let index = c.get("n0").propose(write("n0", 1)).unwrap();
    let append = drain(c.get("n0"), "n1", now);
    c.get("n1").step(&"n0".into(), append[0].clone(), now);
    for answer in drain(c.get("n1"), "n0", now) {
        c.get("n0").step(&"n1".into(), answer, now);
    }
    assert_eq!(c.get("n0").commit_index(), index);
    let heartbeat = c.get("n0").heartbeat_interval();
    assert!(drain(c.get("n0"), "n1", now + heartbeat - 1).is_empty());
    let due = drain(c.get("n0"), "n1", now + heartbeat);
    assert!(
        matches!(due[..], [Message::AppendEntries { leader_commit, .. }] if leader_commit == index),
        "{due:?}"
    );
}

/// A leader whose log starts with a snapshot of `size` opaque bytes up to index 10.
fn leader_with_snapshot(size: usize) -> (Raft, Snapshot) {
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_index: 10,
            last_term: 1,
            config: Configuration::with_voters(ids(2)),
        },
        data: (0..size)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into(),
    };
    let recovered = Recovered {
        hard_state: HardState {
            term: 1,
            voted_for: Some("n0".into()),
        },
        snapshot: Some(snapshot.clone()),
        entries: Vec::new(),
    };
    let mut leader = Raft::new(
        "n0".into(),
        Configuration::with_voters(ids(2)),
        Config::default(),
        recovered,
        1,
        0,
    );
    assert_eq!(
        leader.commit_index(),
        10,
        "a snapshot holds committed entries"
    );
    leader.tick(1_000);
    let mut voter = server("n1", 2);
    // A pre-vote round and a vote round.
    for _ in 0..2 {
        for msg in drain(&mut leader, "n1", 1_000) {
            voter.step(&"n0".into(), msg, 1_000);
        }
        for msg in drain(&mut voter, "n0", 1_000) {
            leader.step(&"n1".into(), msg, 1_000);
        }
    }
    assert_eq!(leader.role(), Role::Leader);
    (leader, snapshot)
}

#[test]
fn a_snapshot_goes_in_chunks_each_acknowledged_once_durable() {
    let size = 2 * CHUNK_BYTES + 100;
    let (mut leader, snapshot) = leader_with_snapshot(size);
    let mut follower = server("n1", 2);
    let now = 1_000;
    // The probe fails (the follower has nothing), so the snapshot goes instead.
    exchange(&mut leader, &mut follower, now);
    let mut offsets = Vec::new();
    loop {
        let chunk = next_chunk(&mut leader, now).expect("a chunk");
        let Message::InstallSnapshot {
            offset,
            ref data,
            done,
            ..
        } = chunk
        else {
            unreachable!()
        };
        assert!(data.len() <= CHUNK_BYTES);
        assert!(
            leader.poll_peer(&"n1".into(), now).is_none(),
            "one chunk in flight at a time"
        );
        offsets.push(offset);
        follower.step(&"n0".into(), chunk, now);
        if let Some(hs) = follower.take_hard_state() {
            follower.hard_state_written(&hs);
        }
        assert!(
            follower.poll_peer(&"n0".into(), now).is_none(),
            "no acknowledgement before the chunk is durable"
        );
        for write in follower.take_snapshot_writes() {
            match write {
                SnapshotWrite::Chunk {
                    offset,
                    data,
                    receipt,
                    ..
                } => follower.snapshot_chunk_written(receipt, offset + data.len() as u64),
                SnapshotWrite::Install(s) => {
                    assert!(done);
                    assert_eq!(s, snapshot, "the follower has the leader's snapshot");
                    assert!(follower.poll_peer(&"n0".into(), now).is_none());
                    follower.snapshot_saved(&s);
                }
            }
        }
        let ack = follower.poll_peer(&"n0".into(), now).expect("acknowledged");
        leader.step(&"n1".into(), ack, now);
        if done {
            break;
        }
    }
    let chunk = CHUNK_BYTES as u64;
    assert_eq!(offsets, [0, chunk, 2 * chunk]);
    assert_eq!(
        (follower.commit_index(), follower.log().snapshot_index()),
        (10, 10)
    );
    assert_eq!(follower.take_snapshot_to_apply(), Some(snapshot));
    assert_eq!(
        follower.configuration().latest.1,
        Configuration::with_voters(ids(2)),
        "the configuration comes with the snapshot"
    );
    // Then AppendEntries after the snapshot: the follower matches up to 11, the no-op.
    exchange(&mut leader, &mut follower, now);
    exchange(&mut leader, &mut follower, now);
    assert_eq!(follower.log().last_index(), 11);
}

/// Delivers the leader's messages to the follower and its answers back, once.
fn exchange(leader: &mut Raft, follower: &mut Raft, now: u64) {
    for msg in drain(leader, "n1", now) {
        follower.step(&"n0".into(), msg, now);
    }
    for msg in drain(follower, "n0", now) {
        leader.step(&"n1".into(), msg, now);
    }
}

/// The next InstallSnapshot the leader has for n1, if any.
fn next_chunk(leader: &mut Raft, now: u64) -> Option<Message> {
    persist(leader);
    std::iter::from_fn(|| leader.poll_peer(&"n1".into(), now))
        .find(|m| matches!(m, Message::InstallSnapshot { .. }))
}

#[test]
fn a_transfer_resumes_where_the_follower_is_and_a_stale_snapshot_changes_nothing() {
    let (mut leader, _) = leader_with_snapshot(CHUNK_BYTES + 1);
    let mut follower = server("n1", 2);
    exchange(&mut leader, &mut follower, 1_000);
    // The first chunk is lost; the second reaches the follower, which does not take
    // it out of order and says where to start.
    let first = next_chunk(&mut leader, 1_000).expect("the first chunk");
    let Message::InstallSnapshot { offset: 0, .. } = first else {
        panic!("{first:?}")
    };
    let Message::InstallSnapshot { meta, .. } = first.clone() else {
        unreachable!()
    };
    let second = Message::InstallSnapshot {
        term: leader.term(),
        meta,
        offset: CHUNK_BYTES as u64,
        data: vec![0],
        done: true,
        read_seq: 0,
        sent_at: 1_000,
        election_timeout: 0,
    };
    follower.step(&"n0".into(), second, 1_000);
    assert!(follower.take_snapshot_writes().is_empty());
    let answer = drain(&mut follower, "n0", 1_000);
    assert!(matches!(
        answer[..],
        [Message::InstallSnapshotResponse {
            received: 0,
            done: false,
            ..
        }]
    ));
    leader.step(&"n1".into(), answer[0].clone(), 1_001);
    let resent = next_chunk(&mut leader, 1_001);
    assert!(
        matches!(
            resent,
            Some(Message::InstallSnapshot {
                offset: 0,
                sent_at: 1_001,
                ..
            })
        ),
        "the leader resends from where the follower is: {resent:?}"
    );

    // A follower that committed past the snapshot changes nothing, and says so.
    let mut ahead = server("n1", 2);
    for index in 1..=12 {
        ahead.step(
            &"n0".into(),
            Message::AppendEntries {
                term: 1,
                prev_log_index: index - 1,
                prev_log_term: (index > 1) as Term,
                entries: vec![Entry {
                    term: 1,
                    index,
                    data: EntryData::Noop,
                }],
                leader_commit: index,
                read_seq: 0,
                sent_at: 0,
                election_timeout: 0,
            },
            0,
        );
    }
    assert_eq!(ahead.commit_index(), 12);
    drain(&mut ahead, "n0", 0);
    ahead.step(&"n0".into(), first, 0);
    assert!(ahead.take_snapshot_writes().is_empty());
    assert!(matches!(
        drain(&mut ahead, "n0", 0)[..],
        [Message::InstallSnapshotResponse { done: true, .. }]
    ));
    assert_eq!(
        (ahead.commit_index(), ahead.log().snapshot_index()),
        (12, 0)
    );
}
