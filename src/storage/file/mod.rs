//! The durable store: hard state in one atomically replaced file, the log in
//! append-only segment files, every write fsynced before the call returns.
//!
//! Layout of a store directory:
//!
//! - `hard-state`: one checksummed record holding term and vote (see `meta`).
//! - `log-<first index, 20 digits>.seg`: log segments, each a run of checksummed records
//!   holding consecutive entries (see `segment` and `record`). Appends go to the last
//!   segment; a new one is started once the last has reached the size threshold.
//! - `lock`: held with an exclusive lock while the store is open, so two processes
//!   (say, a node restarted before its predecessor has exited) cannot interleave writes.
//!
//! On opening, a record at the very end of the last segment that is incomplete or fails
//! its checksum, with nothing intact after it, is what a crash in the middle of an append
//! leaves; that append never returned, so the record is cut off. Any other damage is
//! reported as [`StorageError::Corrupt`] and nothing is used.
//!
//! Only the segment list and each record's byte offset are kept in memory (the Raft core
//! holds the entries themselves): enough to append and to cut the log at any index.

mod crc32;
mod meta;
mod record;
mod segment;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Storage, StorageError};
use crate::raft::{Entry, Index};
use crate::raft::{HardState, Recovered, Snapshot, SnapshotMeta};

/// Segment size after which appends go to a new segment.
const DEFAULT_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

const LOCK_FILE_NAME: &str = "lock";

pub struct FileStorage {
    dir: PathBuf,
    segment_bytes: u64,
    /// In log order; the last one is where appends go.
    segments: Vec<Segment>,
    /// Open for writing: the last segment, if there is one.
    active: Option<File>,
    /// Set when a log write or fsync failed. The file may then hold bytes this store does
    /// not know about and the kernel may have dropped unsynced pages, so no further log
    /// access is safe until the store is reopened and recovered from disk.
    failed: bool,
    /// Holds the directory's exclusive lock until the store is dropped.
    _lock: File,
}

struct Segment {
    first_index: Index,
    path: PathBuf,
    /// Byte offset of each entry's record: entry `first_index + k` is at `offsets[k]`.
    offsets: Vec<u64>,
    /// Bytes of intact records, which is the file's length.
    len: u64,
}

impl Segment {
    /// One less than `first_index` when the segment is empty.
    fn last_index(&self) -> Index {
        self.first_index + self.offsets.len() as Index - 1
    }
}

impl FileStorage {
    /// Opens the store in `dir`, creating it if needed, and recovers it: a torn tail left
    /// by a crash is cut off; any other damage is returned as [`StorageError::Corrupt`].
    pub fn open(dir: &Path) -> Result<FileStorage, StorageError> {
        Self::open_with_segment_bytes(dir, DEFAULT_SEGMENT_BYTES)
    }

    /// As [`FileStorage::open`], with new segments started once the last one has reached
    /// `segment_bytes` (a batch is never split, so a segment may exceed it by one batch).
    pub fn open_with_segment_bytes(
        dir: &Path,
        segment_bytes: u64,
    ) -> Result<FileStorage, StorageError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        // The directory's own entry must be durable too, or a crash could lose the
        // whole store along with everything acknowledged from it.
        match dir.parent() {
            Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new("."))?,
            Some(parent) => sync_dir(parent)?,
            None => {}
        }

        let lock_path = dir.join(LOCK_FILE_NAME);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        lock.try_lock().map_err(|error| {
            io_error(&lock_path)(match error {
                TryLockError::WouldBlock => io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the store is already open, in this process or another",
                ),
                TryLockError::Error(error) => error,
            })
        })?;

        meta::remove_leftover_temp(dir)?;
        let mut storage = FileStorage {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments: Vec::new(),
            active: None,
            failed: false,
            _lock: lock,
        };
        // Recover now so that `append` and `last_index` work before `load`; the entries
        // read are dropped, since only `load` hands them out.
        storage.recover()?;
        Ok(storage)
    }

    /// Reads the whole store back, cutting off a torn tail, and rebuilds the in-memory
    /// segment list from what is on disk.
    fn recover(&mut self) -> Result<Recovered, StorageError> {
        let hard_state = meta::read(&self.dir)?;
        self.active = None;
        self.segments.clear();

        let found = self.list_segments()?;
        let mut entries = Vec::new();
        for (position, (first_index, path)) in found.iter().enumerate() {
            let expected = entries.len() as Index + 1;
            if *first_index != expected {
                return Err(corrupt(
                    path,
                    0,
                    format!("segment starts at index {first_index}, but the log so far ends at {}: entries are missing", expected - 1),
                ));
            }
            let bytes = fs::read(path).map_err(io_error(path))?;
            let scan = segment::scan(path, &bytes, *first_index)?;
            let mut len = bytes.len() as u64;
            if let Some(damage) = scan.damage {
                if position + 1 != found.len() {
                    return Err(corrupt(
                        path,
                        damage.offset,
                        format!("{} in a segment that later segments follow", damage.reason),
                    ));
                }
                if let Some(intact) = record::find_intact(&bytes, damage.offset as usize + 1) {
                    return Err(corrupt(
                        path,
                        damage.offset,
                        format!(
                            "{}, yet an intact record follows at byte {intact}",
                            damage.reason
                        ),
                    ));
                }
                truncate_file(path, damage.offset)?;
                eprintln!(
                    "raft-ng storage: {}: cut off a torn tail of {} bytes at byte {} ({}), left by an interrupted append",
                    path.display(),
                    len - damage.offset,
                    damage.offset,
                    damage.reason
                );
                len = damage.offset;
            }
            entries.extend(scan.entries);
            self.segments.push(Segment {
                first_index: *first_index,
                path: path.clone(),
                offsets: scan.offsets,
                len,
            });
        }
        self.active = match self.segments.last() {
            Some(last) => Some(open_for_writing(&last.path)?),
            None => None,
        };
        Ok(Recovered {
            hard_state,
            snapshot: None,
            entries,
        })
    }

    /// The segment files in the directory, in log order.
    fn list_segments(&self) -> Result<Vec<(Index, PathBuf)>, StorageError> {
        let mut found = Vec::new();
        for dir_entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let dir_entry = dir_entry.map_err(io_error(&self.dir))?;
            let path = dir_entry.path();
            // Names that are not UTF-8 cannot be ours.
            let Some(name) = dir_entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            match segment::parse_name(&name) {
                segment::Name::Segment(first_index) => found.push((first_index, path)),
                segment::Name::Malformed => {
                    return Err(corrupt(&path, 0, "unrecognised segment file name"))
                }
                segment::Name::NotASegment => {}
            }
        }
        found.sort();
        Ok(found)
    }

    fn refuse_if_failed(&self) -> Result<(), StorageError> {
        if self.failed {
            return Err(io_error(&self.dir)(io::Error::other(
                "an earlier log write failed; reopen the store to recover",
            )));
        }
        Ok(())
    }

    fn append_entries(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let first = entries[0].index;
        if first <= self.last_index() {
            self.truncate_from(first)?;
        }
        if self
            .segments
            .last()
            .is_none_or(|last| last.len > 0 && last.len >= self.segment_bytes)
        {
            self.start_segment(first)?;
        }
        let segment = self
            .segments
            .last_mut()
            .expect("a segment was just ensured");
        let file = self.active.as_ref().expect("the last segment is open");

        // One buffer, one write, one fsync for the whole batch.
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            offsets.push(segment.len + bytes.len() as u64);
            let payload = serde_json::to_vec(entry).expect("an Entry always serialises to JSON");
            record::encode(&payload, &mut bytes).map_err(io_error(&segment.path))?;
        }
        file.write_all_at(&bytes, segment.len)
            .map_err(io_error(&segment.path))?;
        // fdatasync suffices: it covers the file size, the only metadata reads depend on.
        file.sync_data().map_err(io_error(&segment.path))?;
        segment.len += bytes.len() as u64;
        segment.offsets.extend(offsets);
        Ok(())
    }

    /// Discards the entries at and after `index`.
    ///
    /// Whole segments go first, newest first with the directory synced after each, then
    /// the segment holding `index` is cut. A crash part way thus leaves a prefix of the
    /// old log, never a log with a hole in it.
    fn truncate_from(&mut self, index: Index) -> Result<(), StorageError> {
        while let Some(last) = self.segments.last() {
            if last.first_index < index {
                break;
            }
            self.active = None;
            fs::remove_file(&last.path).map_err(io_error(&last.path))?;
            sync_dir(&self.dir)?;
            self.segments.pop();
        }
        let Some(last) = self.segments.last_mut() else {
            return Ok(());
        };
        if self.active.is_none() {
            self.active = Some(open_for_writing(&last.path)?);
        }
        let keep = (index - last.first_index) as usize;
        if keep < last.offsets.len() {
            let cut = last.offsets[keep];
            let file = self.active.as_ref().expect("the last segment is open");
            file.set_len(cut).map_err(io_error(&last.path))?;
            // Durable before new entries are written over the old ones: otherwise a crash
            // could leave new records followed by stale old ones, which reads as damage.
            file.sync_data().map_err(io_error(&last.path))?;
            last.offsets.truncate(keep);
            last.len = cut;
        }
        Ok(())
    }

    fn start_segment(&mut self, first_index: Index) -> Result<(), StorageError> {
        let path = self.dir.join(segment::file_name(first_index));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            first_index,
            path,
            offsets: Vec::new(),
            len: 0,
        });
        self.active = Some(file);
        Ok(())
    }
}

impl Storage for FileStorage {
    fn load(&mut self) -> Result<Recovered, StorageError> {
        self.refuse_if_failed()?;
        let result = self.recover();
        // A failed recovery leaves the segment list half built.
        self.failed = result.is_err();
        result
    }

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        meta::write(&self.dir, hard_state)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        assert!(
            first.index >= 1 && first.index <= self.last_index() + 1,
            "append leaves a gap"
        );
        assert!(
            entries.windows(2).all(|w| w[1].index == w[0].index + 1),
            "appended entries are not consecutive"
        );
        self.refuse_if_failed()?;
        let result = self.append_entries(entries);
        self.failed = result.is_err();
        result
    }

    fn last_index(&self) -> Index {
        self.segments.last().map_or(0, Segment::last_index)
    }

    fn save_snapshot(&mut self, _snapshot: &Snapshot) -> Result<(), StorageError> {
        unimplemented!("snapshot files: issue 11, being built on this branch")
    }

    fn write_snapshot_chunk(
        &mut self,
        _meta: &SnapshotMeta,
        _offset: u64,
        _data: &[u8],
    ) -> Result<(), StorageError> {
        unimplemented!("snapshot files: issue 11, being built on this branch")
    }
}

fn open_for_writing(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path))
}

fn truncate_file(path: &Path, len: u64) -> Result<(), StorageError> {
    let file = open_for_writing(path)?;
    file.set_len(len).map_err(io_error(path))?;
    file.sync_data().map_err(io_error(path))
}

/// Makes the creation, removal or renaming of entries in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { path, source }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}
