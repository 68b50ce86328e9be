//! Unit tests of the core's rules, driven message by message.

use super::*;
use crate::kv::KvOp;
use serde_json::json;

fn ids(n: usize) -> Vec<NodeId> {
    (0..n).map(|i| format!("n{i}")).collect()
}

fn server(id: &str, n: usize) -> Raft {
    Raft::new(
        id.into(),
        Configuration::with_voters(ids(n)),
        Config::default(),
        Recovered::default(),
        1,
        0,
    )
}

fn write(id: &str, value: u64) -> Command {
    Command {
        client: "c1".into(),
        msg_id: value,
        proposer: id.into(),
        op: KvOp::Write {
            key: json!(0),
            value: json!(value),
        },
    }
}

/// Makes every write the core asks for durable at once, as the runtime does.
fn persist(raft: &mut Raft) {
    raft.take_hard_state();
    if let Some(entries) = raft.take_log_write() {
        let last = entries.last().unwrap();
        raft.log_written(last.index, last.term);
    }
}

fn drain(raft: &mut Raft, peer: &str, now: u64) -> Vec<Message> {
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
    let mut voter = server("n2", 3);
    voter.step(
        &"n0".into(),
        Message::RequestVote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
            transfer: false,
        },
        0,
    );
    let granted =
        |msgs: Vec<Message>| matches!(msgs[0], Message::RequestVoteResponse { granted: true, .. });
    assert!(granted(drain(&mut voter, "n0", 0)));
    voter.step(
        &"n1".into(),
        Message::RequestVote {
            term: 2,
            last_log_index: 5,
            last_log_term: 2,
            pre_vote: false,
            transfer: false,
        },
        0,
    );
    assert!(!granted(drain(&mut voter, "n1", 0)), "one vote per term");
    assert_eq!(
        voter.take_hard_state(),
        Some(HardState {
            term: 2,
            voted_for: Some("n0".into())
        })
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
        },
        1_000,
    );
    assert!(!granted(drain(&mut voter, "n1", 1_000)));
}

/// Elects n0 of a 3-server cluster with n1's help; returns both.
fn elected() -> (Raft, Raft) {
    let mut a = server("n0", 3);
    let mut b = server("n1", 3);
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
    let (mut leader, mut follower) = elected();
    assert!(leader.commit_index() >= 1, "the no-op committed");
    leader.read_index(7).unwrap();
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

#[test]
fn a_leader_without_a_majority_steps_down_and_aborts_reads() {
    let (mut leader, _) = elected();
    leader.read_index(1).unwrap();
    leader.tick(1_000 + 2 * leader.config.election_timeout_min);
    leader.tick(1_000 + 4 * leader.config.election_timeout_min);
    assert_eq!(leader.role(), Role::Follower);
    assert_eq!(leader.take_reads().aborted, vec![1]);
    assert!(leader.propose(write("n0", 1)).is_err());
}
