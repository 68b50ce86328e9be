//! The default store: nothing leaves the process. Under the real Maelstrom every node
//! starts in the same working directory and is never restarted, so keeping state in
//! memory is both sufficient and the only way to be sure nothing leaks between runs.

use super::{Storage, StorageError};
use crate::raft::{Entry, HardState, Index, Recovered, Snapshot, SnapshotMeta};

#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// The log after the snapshot.
    entries: Vec<Entry>,
    /// A snapshot being received: its identity and the bytes in so far.
    receiving: Option<(SnapshotMeta, Vec<u8>)>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.last_index)
    }
}

impl Storage for MemStorage {
    fn load(&mut self) -> Result<Recovered, StorageError> {
        Ok(Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
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
        let base = self.snapshot_index();
        assert!(
            first.index > base && first.index <= self.last_index() + 1,
            "append leaves a gap or rewrites the snapshot"
        );
        self.entries.truncate((first.index - base - 1) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    fn last_index(&self) -> Index {
        self.snapshot_index() + self.entries.len() as Index
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let meta = &snapshot.meta;
        let base = self.snapshot_index();
        let keeps_log = meta.last_index >= base
            && meta.last_index <= self.last_index()
            && (meta.last_index == base
                || self.entries[(meta.last_index - base - 1) as usize].term == meta.last_term);
        if keeps_log {
            self.entries.drain(..(meta.last_index - base) as usize);
        } else {
            self.entries.clear();
        }
        if self.receiving.as_ref().is_some_and(|(m, _)| m == meta) {
            self.receiving = None;
        }
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn write_snapshot_chunk(
        &mut self,
        meta: &SnapshotMeta,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StorageError> {
        if self.receiving.as_ref().map(|(m, _)| m) != Some(meta) {
            self.receiving = Some((meta.clone(), Vec::new()));
        }
        let (_, bytes) = self.receiving.as_mut().expect("set above");
        let end = offset as usize + data.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}
