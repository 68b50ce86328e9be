//! The RPCs servers exchange. The sender is the envelope's `src`, so it is not repeated.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::durable::SnapshotMeta;
use super::entry::{Entry, Index, NodeId, Term};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// A vote request. With `pre_vote` it only asks whether the receiver *would* vote
    /// in `term` (which the sender has not entered): nobody changes term for it (§9.6).
    RequestVote {
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        pre_vote: bool,
        /// Asked for by the leader handing over (TimeoutNow): the disruptive-server
        /// guard lets it through.
        #[serde(default)]
        transfer: bool,
        /// When the candidate sent it, on its clock: echoed back, it tells the round
        /// the answer belongs to, and how long a round trip takes.
        #[serde(default)]
        sent_at: u64,
    },
    RequestVoteResponse {
        term: Term,
        granted: bool,
        pre_vote: bool,
        /// The `sent_at` of the request answered.
        #[serde(default)]
        sent_at: u64,
        /// Sent to a requester that the responder's committed configuration leaves out
        /// of the voters: a server removed while it was cut off learns of it this way.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removed: Option<Removal>,
    },
    /// Replication and heartbeat. `read_seq` is echoed back so the leader can tell
    /// that the follower still followed it after a read arrived (ReadIndex, §6.4).
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
        read_seq: u64,
        /// When the leader sent it, on the leader's clock; echoed back to measure the
        /// round trip.
        #[serde(default)]
        sent_at: u64,
        /// The leader's election timeout, which followers adopt so that they wait as
        /// long as the network the leader measures needs (timing.rs).
        #[serde(default)]
        election_timeout: u64,
    },
    AppendEntriesResponse {
        term: Term,
        success: bool,
        /// On success: the follower's log matches the leader's up to here.
        match_index: Index,
        /// On rejection: the prev_log_index that failed the consistency check.
        rejected_index: Index,
        /// On rejection: where the leader should try next (fast backtracking).
        hint_index: Index,
        /// On rejection: the term of the follower's conflicting entry, if it has one.
        hint_term: Option<Term>,
        read_seq: u64,
        /// The `sent_at` of the AppendEntries answered.
        #[serde(default)]
        sent_at: u64,
    },
    /// From a leader transferring leadership to a caught-up voter: start an election now.
    TimeoutNow { term: Term },
    /// One chunk of the leader's snapshot, for a follower that needs entries the leader
    /// has discarded (§7). Chunks go in order; each starts where the follower said it
    /// holds the snapshot up to, so a transfer resumes where it stopped. Like a
    /// heartbeat it keeps the follower's timer and echoes `read_seq`.
    InstallSnapshot {
        term: Term,
        meta: SnapshotMeta,
        /// Where in the snapshot's bytes `data` goes.
        offset: u64,
        #[serde(with = "super::base64")]
        data: Vec<u8>,
        /// This chunk ends the snapshot.
        done: bool,
        read_seq: u64,
        sent_at: u64,
        election_timeout: u64,
    },
    /// Sent once what it claims is durable.
    InstallSnapshotResponse {
        term: Term,
        /// The snapshot answered, by its last index.
        last_index: Index,
        /// The follower holds the snapshot's bytes up to here: the next chunk's offset.
        received: u64,
        /// The follower is done with this snapshot: it installed it, or it had
        /// committed that far already. The leader goes on with AppendEntries after it.
        done: bool,
        read_seq: u64,
        sent_at: u64,
    },
}

/// A committed configuration without the server told about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The commit index of the server that tells: the configuration is the one in force
    /// among the entries committed up to here. Not the configuration entry's own index:
    /// the told server's log may hold a later configuration entry that never committed
    /// (an add the leader lost), and only the commit index shows that this news is newer.
    pub index: Index,
    pub voters: BTreeSet<NodeId>,
}

impl Message {
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::TimeoutNow { term }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotResponse { term, .. } => *term,
        }
    }
}
