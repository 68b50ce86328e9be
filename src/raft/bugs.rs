//! The catalogue of planted bugs: each one breaks a single rule of Raft, of the
//! dissertation's extensions, or of the runtime's request handling, so that a test can
//! switch it on and prove that the simulation notices. Only test builds can switch one
//! on: the field that holds it exists only under `cfg(test)`, and release builds of the
//! node never consult it.
//!
//! Sections: "§5.x" and "Figure N" are the Raft paper's; "dissertation §x.y" is Ongaro's
//! thesis. Every variant is listed in [`InjectedBug::ALL`] and has a test of its own in
//! the simulation.

#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InjectedBug {
    /// Grant votes to candidates whose logs are behind (§5.4.1, the election restriction).
    VoteWithoutUpToDateCheck,
    /// Grant a second vote in a term to another candidate (§5.2: one vote per term).
    VoteTwiceInTerm,
    /// Let votes and vote requests leave before the term and vote they depend on are
    /// durable (Figure 2: persistent state is on stable storage before answering RPCs).
    VoteNotPersisted,
    /// A follower truncates its log after the entries of any AppendEntries, even a stale
    /// one that carries fewer than it holds (§5.3: truncate only on a conflict).
    StaleAppendTruncates,
    /// A follower sets its commit index to the leader's, capped only by its own log, not
    /// by the last entry this AppendEntries vouched for (Figure 2, AppendEntries rule 5).
    FollowerCommitNotCapped,
    /// A follower acknowledges entries before they are durable (Figure 2; §5.3).
    FollowerAcksBeforeDurable,
    /// The leader counts its own entries toward a majority before they are durable
    /// (dissertation §10.2.1: the leader's disk write runs in parallel, but counts only
    /// once done).
    LeaderCountsNonDurable,
    /// Commit an entry of an earlier term by counting its replicas (§5.4.2, Figure 8).
    CommitWithoutCurrentTermCheck,
    /// A report that a log write is durable is believed even when a truncation removed
    /// or replaced what was written meanwhile (dissertation §10.2.1, the log sync
    /// thread's write racing a truncation).
    StaleLogWriteAccepted,
    /// Take a read index before the leader's no-op of its term commits (dissertation
    /// §6.4, step 1).
    ReadIndexBeforeNoopCommit,
    /// Serve reads without the heartbeat round that confirms leadership (dissertation
    /// §6.4, step 3).
    ReadWithoutConfirmation,
    /// Serve a confirmed read before the state machine has applied up to its read index
    /// (dissertation §6.4, step 4).
    ReadBeforeApplied,
    /// Let a new leader change the configuration before an entry of its term commits
    /// (dissertation §4.1 and its errata: the single-server change bug).
    ConfigChangeBeforeOwnTermCommit,
    /// Let a leader append a configuration while another is still uncommitted
    /// (dissertation §4.1: one change at a time).
    MultipleUncommittedConfigs,
    /// Keep a configuration in force after a truncation removed its entry (dissertation
    /// §4.1: a server falls back to the latest configuration left in its log).
    NoConfigFallbackOnTruncation,
    /// A leader removed from the voters keeps counting itself toward a majority
    /// (dissertation §4.2.2).
    RemovedLeaderCountsItself,
    /// Promote a staging server to voter before it has caught up with the log
    /// (dissertation §4.2.1).
    StagingPromotedEarly,
    /// The leader answers a write as soon as it is proposed, before it commits
    /// (§8 / dissertation §6.3: answer once applied).
    AnswerBeforeCommit,
    /// A server that forwards a request to the leader also fails it with definite error
    /// 11, though the leader may commit it (dissertation §6.3; Maelstrom's definite
    /// errors).
    DefiniteErrorAfterForward,
    /// A request held during an election is sent on twice once a leader is known, so it
    /// may take effect twice (dissertation §6.3: each command applied once).
    ParkedRequestSentTwice,
    /// A server removed while cut off disregards a voter's word that a committed
    /// configuration leaves it out, so it keeps campaigning in vain and holding its
    /// clients' requests (dissertation §4.2.3: a removed server is not told otherwise).
    RemovalNewsIgnored,
    /// A leader's read lease lasts the maximum election timeout, longer than the vote
    /// guard on the servers that granted it (dissertation §6.4.1: the lease must end
    /// before any of them would vote for another candidate).
    LeaseLongerThanVoteGuard,
    /// A leader keeps serving reads from its lease after it sent TimeoutNow, whose
    /// election gets past the vote guards (dissertation §3.10 and §6.4.1).
    LeaseKeptThroughTransfer,
    /// A leader counts its lease from when a majority's answers arrived rather than
    /// from when it sent what they answer (dissertation §6.4.1).
    LeaseFromReplyTime,
    /// A server that starts grants votes at once, though a leader may hold a lease that
    /// counts on the vote it refused just before it stopped (dissertation §6.4.1: the
    /// vote guard must outlast a restart).
    RestartedServerVotesAtOnce,
    /// Compact the log up to the commit index when the state machine's snapshot ends
    /// at its applied index, so committed entries it was not yet handed are lost to it
    /// (§7: a snapshot covers only what the state machine applied).
    CompactionPastApplied,
    /// Install a snapshot that covers no more than the follower has committed, moving
    /// its commit index back (§7: such a snapshot changes nothing).
    StaleSnapshotInstalled,
    /// Acknowledge a chunk of a snapshot before it is durable (§7 and Figure 13: the
    /// follower writes each chunk before it replies; dissertation §5.3).
    SnapshotChunkAckedEarly,
    /// A server restoring or installing a snapshot keeps the configuration it had
    /// rather than the snapshot's (dissertation §5.1: the snapshot carries the
    /// configuration as of its last entry, which its log no longer holds).
    SnapshotConfigForgotten,
    /// A leader replicates from entries it has discarded instead of sending its
    /// snapshot: it claims a consistency check it cannot make (§7).
    DiscardedEntriesSent,
}

#[cfg_attr(not(test), allow(dead_code))]
impl InjectedBug {
    pub const ALL: [InjectedBug; 30] = [
        InjectedBug::VoteWithoutUpToDateCheck,
        InjectedBug::VoteTwiceInTerm,
        InjectedBug::VoteNotPersisted,
        InjectedBug::StaleAppendTruncates,
        InjectedBug::FollowerCommitNotCapped,
        InjectedBug::FollowerAcksBeforeDurable,
        InjectedBug::LeaderCountsNonDurable,
        InjectedBug::CommitWithoutCurrentTermCheck,
        InjectedBug::StaleLogWriteAccepted,
        InjectedBug::ReadIndexBeforeNoopCommit,
        InjectedBug::ReadWithoutConfirmation,
        InjectedBug::ReadBeforeApplied,
        InjectedBug::ConfigChangeBeforeOwnTermCommit,
        InjectedBug::MultipleUncommittedConfigs,
        InjectedBug::NoConfigFallbackOnTruncation,
        InjectedBug::RemovedLeaderCountsItself,
        InjectedBug::StagingPromotedEarly,
        InjectedBug::AnswerBeforeCommit,
        InjectedBug::DefiniteErrorAfterForward,
        InjectedBug::ParkedRequestSentTwice,
        InjectedBug::RemovalNewsIgnored,
        InjectedBug::LeaseLongerThanVoteGuard,
        InjectedBug::LeaseKeptThroughTransfer,
        InjectedBug::LeaseFromReplyTime,
        InjectedBug::RestartedServerVotesAtOnce,
        InjectedBug::CompactionPastApplied,
        InjectedBug::StaleSnapshotInstalled,
        InjectedBug::SnapshotChunkAckedEarly,
        InjectedBug::SnapshotConfigForgotten,
        InjectedBug::DiscardedEntriesSent,
    ];
}
