//! The default store: nothing leaves the process. Under the real Maelstrom every node
//! starts in the same working directory and is never restarted, so keeping state in
//! memory is both sufficient and the only way to be sure nothing leaks between runs.

use super::{Storage, StorageError};
use crate::raft::{Entry, Index};
use crate::raft::{HardState, Recovered};

#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    entries: Vec<Entry>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemStorage {
    fn load(&mut self) -> Result<Recovered, StorageError> {
        Ok(Recovered {
            hard_state: self.hard_state.clone(),
            entries: self.entries.clone(),
        })
    }

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        self.hard_state = hard_state.clone();
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        assert!(
            first.index >= 1 && first.index <= self.last_index() + 1,
            "append leaves a gap"
        );
        self.entries.truncate((first.index - 1) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    fn last_index(&self) -> Index {
        self.entries.len() as Index
    }
}
