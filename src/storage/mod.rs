//! Where a server keeps what must survive a crash: its term, its vote and its log.
//!
//! The Raft core never touches storage itself; the node runtime hands it the writes the
//! core asks for and tells the core when they are durable.

mod file;
pub use file::FileStorage;
mod memory;

use std::fmt;
use std::path::PathBuf;

use crate::raft::{Entry, HardState, Index, Recovered, Snapshot, SnapshotMeta};

pub use memory::MemStorage;

#[derive(Debug)]
pub enum StorageError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Damage that cannot be a torn write at the tail: the server must not start on it.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            StorageError::Corrupt {
                path,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "{} is corrupt at byte {}: {}",
                    path.display(),
                    offset,
                    reason
                )
            }
        }
    }
}

impl std::error::Error for StorageError {}

/// Durable state of one server. Every method returns only once its write is durable.
pub trait Storage: Send {
    /// Reads back the state written so far (empty on first start).
    fn load(&mut self) -> Result<Recovered, StorageError>;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError>;

    /// Appends `entries`, which are contiguous. Any stored entries at or after
    /// `entries[0].index` are discarded first: that is how a follower's conflicting
    /// suffix is replaced.
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError>;

    /// The last index stored: of the log, or of the snapshot if the log after it is
    /// empty (0 for neither).
    fn last_index(&self) -> Index;

    /// Makes `snapshot` this server's snapshot, atomically, then discards the entries it
    /// covers. Entries after it stay only if the log holds the snapshot's last entry with
    /// the same term (the server took the snapshot itself); otherwise the whole log goes
    /// (a leader's snapshot replaces a log that disagrees with it or falls short of it).
    /// The previous snapshot is removed only once this one is durable. A snapshot is
    /// never older than the one stored (snapshots cover committed entries, and a server's
    /// commit index never goes back).
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;

    /// Writes one chunk of a snapshot a leader is sending, at byte `offset` of its data.
    /// Chunks of another snapshot (another `meta`) start it afresh. The core acknowledges
    /// a chunk only once this has returned; once the last chunk is in, the runtime hands
    /// the whole snapshot to [`Storage::save_snapshot`] (which may promote the received
    /// file rather than write it again).
    fn write_snapshot_chunk(
        &mut self,
        meta: &SnapshotMeta,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StorageError>;
}
