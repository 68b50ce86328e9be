//! The in-memory view of a server's log, which the core reasons about. Storage
//! holds the durable copy; the core tells the runtime what to write.
//!
//! A snapshot may stand in for a prefix of the log (§7): the entries up to
//! `snapshot_index` are gone, and only the index and term of the last of them are
//! kept, so that the consistency check of the entry after it still works.

use super::entry::{Entry, Index, Term};

#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    /// The last index a snapshot covers (0: none), and its entry's term.
    snapshot_index: Index,
    snapshot_term: Term,
    /// Entry `i` lives at `entries[i - snapshot_index - 1]`.
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log whose first `snapshot_index` entries a snapshot stands in for, followed by
    /// `entries`.
    pub fn new(snapshot_index: Index, snapshot_term: Term, entries: Vec<Entry>) -> Self {
        debug_assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == snapshot_index + i as Index + 1));
        Self {
            snapshot_index,
            snapshot_term,
            entries,
        }
    }

    /// The last index the snapshot covers: entries up to it are no longer here.
    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`: the snapshot's at its last index, 0 for index
    /// 0; None past the end or inside the compacted prefix.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if the log still holds it.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        index
            .checked_sub(self.snapshot_index + 1)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// Entries `from..=to`, clamped to what exists.
    pub fn slice(&self, from: Index, to: Index) -> &[Entry] {
        let start = from.max(self.snapshot_index + 1) - self.snapshot_index - 1;
        let end = to
            .saturating_sub(self.snapshot_index)
            .min(self.entries.len() as Index);
        if start >= end {
            &[]
        } else {
            &self.entries[start as usize..end as usize]
        }
    }

    pub fn append(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Drops every entry at or after `index`, which lies past the snapshot: a snapshot
    /// holds only committed entries, which nothing truncates.
    pub fn truncate_from(&mut self, index: Index) {
        debug_assert!(index > self.snapshot_index);
        let keep = index.saturating_sub(self.snapshot_index + 1);
        self.entries.truncate(keep as usize);
    }

    /// Lets a snapshot stand in for the entries up to `index`, whose term is `term`.
    /// The entries after it stay if the log holds that very entry (the snapshot agrees
    /// with the log); otherwise the whole log goes (a leader's snapshot replaces a log
    /// that disagrees with it or falls short of it). Returns whether the entries after
    /// it stayed.
    pub fn compact_to(&mut self, index: Index, term: Term) -> bool {
        let agrees = self.term_at(index) == Some(term);
        if agrees {
            let covered = index - self.snapshot_index;
            self.entries.drain(..covered as usize);
        } else {
            self.entries.clear();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
        agrees
    }

    /// The first index of the run of entries of `term` that contains `index`: the
    /// follower's half of fast backtracking, which lets the leader skip a whole term.
    pub fn first_index_of_term_at(&self, index: Index) -> Index {
        let Some(term) = self.term_at(index) else {
            return index;
        };
        let mut first = index;
        while first > 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The last index holding an entry of `term`, if the log has any: the leader's half
    /// of fast backtracking.
    pub fn last_index_of_term(&self, term: Term) -> Option<Index> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
            .or((self.snapshot_index > 0 && self.snapshot_term == term)
                .then_some(self.snapshot_index))
    }

    /// Raft's election restriction (§5.4.1): is a log ending at (`last_term`,
    /// `last_index`) at least as up to date as this one?
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::EntryData;

    fn entries(terms: &[(Index, Term)]) -> Vec<Entry> {
        (terms.iter())
            .map(|&(index, term)| Entry {
                term,
                index,
                data: EntryData::Noop,
            })
            .collect()
    }

    #[test]
    fn a_compacted_log_answers_for_its_snapshot_and_what_follows() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1), (3, 2), (4, 2)]));
        assert!(log.compact_to(2, 1), "the log holds entry 2 of term 1");
        assert_eq!((log.snapshot_index(), log.last_index()), (2, 4));
        assert_eq!(log.term_at(1), None, "compacted");
        assert_eq!(log.term_at(2), Some(1), "the snapshot's last entry");
        assert_eq!(log.entry(2), None);
        assert_eq!(log.entry(3).map(|e| e.term), Some(2));
        let sliced: Vec<Index> = log.slice(1, 9).iter().map(|e| e.index).collect();
        assert_eq!(sliced, [3, 4]);
        assert_eq!(log.first_index_of_term_at(4), 3);
        assert_eq!(log.last_index_of_term(1), Some(2));
        log.truncate_from(4);
        assert_eq!(log.last_index(), 3);

        // A snapshot that disagrees with the log, or goes past it, replaces it all.
        assert!(!log.compact_to(3, 5));
        assert_eq!((log.last_index(), log.last_term()), (3, 5));
        assert!(!log.compact_to(10, 6));
        assert_eq!(
            (log.last_index(), log.term_at(10), log.slice(1, 10).len()),
            (10, Some(6), 0)
        );
    }
}
