//! The in-memory view of a server's log, which the core reasons about. Storage
//! holds the durable copy; the core tells the runtime what to write.

use super::entry::{Entry, Index, Term};

#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    /// Entry `i` (1-based) lives at `entries[i - 1]`.
    entries: Vec<Entry>,
}

impl RaftLog {
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        debug_assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == i as Index + 1));
        Self { entries }
    }

    pub fn last_index(&self) -> Index {
        self.entries.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index`; 0 for index 0; None past the end.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.entries.get(index as usize - 1).map(|e| e.term)
    }

    pub fn entry(&self, index: Index) -> Option<&Entry> {
        index
            .checked_sub(1)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// Entries `from..=to`, clamped to what exists.
    pub fn slice(&self, from: Index, to: Index) -> &[Entry] {
        let start = (from.max(1) - 1) as usize;
        let end = (to as usize).min(self.entries.len());
        if start >= end {
            &[]
        } else {
            &self.entries[start..end]
        }
    }

    pub fn append(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Drops every entry at or after `index`.
    pub fn truncate_from(&mut self, index: Index) {
        self.entries.truncate(index.saturating_sub(1) as usize);
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
    }

    /// Raft's election restriction (§5.4.1): is a log ending at (`last_term`,
    /// `last_index`) at least as up to date as this one?
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}
