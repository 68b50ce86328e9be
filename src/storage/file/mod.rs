//! The durable store: hard state in one atomically replaced file, the log in
//! append-only segment files, every write fsynced before the call returns.
//!
//! Layout of a store directory:
//!
//! - `hard-state`: one checksummed record holding term and vote (see `meta`).
//! - `log-<first index, 20 digits>.seg`: log segments, each a run of checksummed records
//!   holding consecutive entries (see `segment` and `record`). Appends go to the last
//!   segment; a new one is started once the last has reached the size threshold.
//! - `snapshot-<last index, 20 digits>.snap`: the snapshot, checksummed and replaced
//!   atomically (see `snapshot`), with `snapshot.tmp` while one is written and
//!   `snapshot.part` while one is received.
//! - `lock`: held with an exclusive lock while the store is open, so two processes
//!   (say, a node restarted before its predecessor has exited) cannot interleave writes.
//!
//! On opening, a record at the very end of the last segment that is incomplete or fails
//! its checksum, with nothing intact after it, is what a crash in the middle of an append
//! leaves; that append never returned, so the record is cut off. Any other damage is
//! reported as [`StorageError::Corrupt`] and nothing is used.
//!
//! Only the segment list and each record's byte offset and term are kept in memory (the
//! Raft core holds the entries themselves): enough to append, to cut the log at any index
//! and to tell whether a snapshot agrees with the log.
//!
//! Saving a snapshot compacts the log. The snapshot file is made durable first; then the
//! previous snapshot file goes, then the log it covers: if the log holds the snapshot's
//! last entry with the snapshot's term, the segments holding only entries up to it are
//! deleted, oldest first, and the segment holding the entry after it stays whole (its
//! covered entries are never handed out again); otherwise every segment is deleted,
//! newest first, each deletion durable before the next. Recovery takes the newest
//! snapshot and applies the same rule to the segments it finds, so a crash anywhere in
//! between leaves either the old snapshot with the whole log or the new snapshot with
//! the log after it:
//!
//! - before the rename, the new snapshot does not exist (its temporary file is removed);
//! - after it, recovery finds the new snapshot. Left-over covered segments are skipped
//!   and deleted. If the log disagreed with the snapshot, the segments left are a prefix
//!   of that log (deletion went newest first), which disagrees too or falls short of the
//!   snapshot's last entry, so it is dropped again. A log that starts right after the
//!   snapshot's last entry is kept: compaction only ever leaves it so after checking.

mod crc32;
mod meta;
mod record;
mod segment;
mod snapshot;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Storage, StorageError};
use crate::raft::{Entry, Index, Term};
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
    /// The last index the snapshot covers (0 without one); the log is kept after it.
    snapshot_index: Index,
    /// The snapshot file, if there is one.
    snapshot_path: Option<PathBuf>,
    /// The snapshot being received, if any.
    receiving: Option<snapshot::Receiving>,
    /// What opening the store recovered, until `load` hands it out or a write makes it
    /// stale.
    opened: Option<Recovered>,
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
    /// The term of each entry from `terms_from` on. Recovery does not decode the entries
    /// before the snapshot's last one, and no later snapshot can need their terms.
    terms: Vec<Term>,
    terms_from: Index,
    /// Bytes of intact records, which is the file's length.
    len: u64,
}

impl Segment {
    /// One less than `first_index` when the segment is empty.
    fn last_index(&self) -> Index {
        self.first_index + self.offsets.len() as Index - 1
    }

    fn term_at(&self, index: Index) -> Option<Term> {
        let position = index.checked_sub(self.terms_from)?;
        self.terms.get(position as usize).copied()
    }
}

/// The store's files, each kind in index order.
struct Listing {
    segments: Vec<(Index, PathBuf)>,
    snapshots: Vec<(Index, PathBuf)>,
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
        snapshot::remove_leftovers(dir)?;
        let mut storage = FileStorage {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments: Vec::new(),
            active: None,
            snapshot_index: 0,
            snapshot_path: None,
            receiving: None,
            opened: None,
            failed: false,
            _lock: lock,
        };
        // Recover now so that `append` and `last_index` work before `load`, and keep what
        // was read for the first `load`, which a restarting node calls at once: reading
        // the store twice would double its restart time.
        storage.opened = Some(storage.recover()?);
        Ok(storage)
    }

    /// Reads the whole store back, cutting off a torn tail and finishing an interrupted
    /// compaction, and rebuilds the in-memory state from what is on disk.
    fn recover(&mut self) -> Result<Recovered, StorageError> {
        let hard_state = meta::read(&self.dir)?;
        self.active = None;
        self.segments.clear();
        self.snapshot_index = 0;
        self.snapshot_path = None;

        let Listing {
            segments: found,
            snapshots,
        } = self.list_files()?;
        let newest_snapshot = snapshots.last();
        let snapshot = match newest_snapshot {
            Some((last_index, path)) => Some(snapshot::read(path, *last_index)?),
            None => None,
        };
        let base = snapshot.as_ref().map_or(0, |s| s.meta.last_index);

        // The segments before the last one starting at or before the snapshot's last
        // entry hold only entries it covers: they are not even read.
        let first_read = found
            .iter()
            .rposition(|(first_index, _)| *first_index <= base)
            .unwrap_or(0);
        let mut segments: Vec<Segment> = Vec::new();
        let mut entries = Vec::new();
        for (position, (first_index, path)) in found.iter().enumerate().skip(first_read) {
            let missing = match segments.last() {
                Some(previous) => (*first_index != previous.last_index() + 1)
                    .then(|| format!("the log so far ends at {}", previous.last_index())),
                None => (*first_index > base + 1).then(|| match base {
                    0 => "the log must start at index 1".to_string(),
                    _ => format!("the snapshot ends at {base}"),
                }),
            };
            if let Some(missing) = missing {
                return Err(corrupt(
                    path,
                    0,
                    format!(
                        "segment starts at index {first_index}, but {missing}: entries are missing"
                    ),
                ));
            }
            let bytes = fs::read(path).map_err(io_error(path))?;
            let scan = segment::scan(path, &bytes, *first_index, base)?;
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
            segments.push(Segment {
                first_index: *first_index,
                path: path.clone(),
                terms: scan.entries.iter().map(|entry| entry.term).collect(),
                terms_from: (*first_index).max(base),
                offsets: scan.offsets,
                len,
            });
            entries.extend(scan.entries);
        }

        // Everything read checks out: now the store may be tidied, once the snapshot's
        // rename is durable (what it replaces must not go before it).
        sync_dir(&self.dir)?;
        // `entries` starts at the snapshot's last entry if the log holds it.
        let log_first = segments.first().map(|segment| segment.first_index);
        let holds_base = entries.first().filter(|entry| entry.index == base);
        let keeps_log = match (&snapshot, holds_base) {
            (Some(snapshot), Some(entry)) => entry.term == snapshot.meta.last_term,
            // No segment holds it: there are none, or they start right after it (see
            // the module comment), or they end before it.
            _ => log_first.is_none_or(|first| first > base),
        };
        self.segments = segments;
        if keeps_log {
            for (_, path) in &found[..first_read] {
                fs::remove_file(path).map_err(io_error(path))?;
            }
            self.remove_segments_through(base)?;
            if holds_base.is_some() {
                entries.remove(0);
            }
        } else {
            eprintln!(
                "raft-ng storage: {}: the log does not hold the snapshot's last entry (index {base}) with its term; dropping the log",
                self.dir.display(),
            );
            self.remove_all_segments()?;
            for (_, path) in found[..first_read].iter().rev() {
                fs::remove_file(path).map_err(io_error(path))?;
                sync_dir(&self.dir)?;
            }
            entries.clear();
        }
        for (_, path) in &snapshots[..snapshots.len().saturating_sub(1)] {
            fs::remove_file(path).map_err(io_error(path))?;
        }
        sync_dir(&self.dir)?;

        self.snapshot_index = base;
        self.snapshot_path = newest_snapshot.map(|(_, path)| path.clone());
        self.active = match self.segments.last() {
            Some(last) => Some(open_for_writing(&last.path)?),
            None => None,
        };
        Ok(Recovered {
            hard_state,
            snapshot,
            entries,
        })
    }

    /// The segment and snapshot files in the directory.
    fn list_files(&self) -> Result<Listing, StorageError> {
        let mut listing = Listing {
            segments: Vec::new(),
            snapshots: Vec::new(),
        };
        for dir_entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let dir_entry = dir_entry.map_err(io_error(&self.dir))?;
            let path = dir_entry.path();
            // Names that are not UTF-8 cannot be ours.
            let Some(name) = dir_entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            match segment::parse_name(&name) {
                segment::Name::Segment(first_index) => listing.segments.push((first_index, path)),
                segment::Name::Malformed => {
                    return Err(corrupt(&path, 0, "unrecognised segment file name"))
                }
                segment::Name::NotASegment => match snapshot::parse_name(&name) {
                    snapshot::Name::Snapshot(last_index) => {
                        listing.snapshots.push((last_index, path))
                    }
                    snapshot::Name::Malformed => {
                        return Err(corrupt(&path, 0, "unrecognised snapshot file name"))
                    }
                    snapshot::Name::NotASnapshot => {}
                },
            }
        }
        listing.segments.sort();
        listing.snapshots.sort();
        Ok(listing)
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
        segment.terms.extend(entries.iter().map(|entry| entry.term));
        Ok(())
    }

    /// Discards the entries at and after `index`.
    ///
    /// Whole segments go first, newest first with the directory synced after each, then
    /// the segment holding `index` is cut. A crash part way thus leaves a prefix of the
    /// old log, never a log with a hole in it.
    fn truncate_from(&mut self, index: Index) -> Result<(), StorageError> {
        while self
            .segments
            .last()
            .is_some_and(|last| last.first_index >= index)
        {
            self.remove_last_segment()?;
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
            last.terms
                .truncate(index.saturating_sub(last.terms_from) as usize);
            last.len = cut;
        }
        Ok(())
    }

    /// Deletes every segment, newest first with the directory synced after each, so that
    /// a crash part way leaves a prefix of the log: one that still disagrees with the
    /// snapshot this is done for, or falls short of it.
    fn remove_all_segments(&mut self) -> Result<(), StorageError> {
        while !self.segments.is_empty() {
            self.remove_last_segment()?;
        }
        Ok(())
    }

    fn remove_last_segment(&mut self) -> Result<(), StorageError> {
        let last = self.segments.last().expect("a segment to remove");
        self.active = None;
        fs::remove_file(&last.path).map_err(io_error(&last.path))?;
        sync_dir(&self.dir)?;
        self.segments.pop();
        Ok(())
    }

    /// Deletes the segments that hold only entries up to `index`, oldest first (a crash
    /// part way leaves a log that still holds `index`). The caller syncs the directory.
    fn remove_segments_through(&mut self, index: Index) -> Result<(), StorageError> {
        while let Some(first) = self
            .segments
            .first()
            .filter(|first| first.first_index <= index && first.last_index() <= index)
        {
            fs::remove_file(&first.path).map_err(io_error(&first.path))?;
            self.segments.remove(0);
            if self.segments.is_empty() {
                self.active = None;
            }
        }
        Ok(())
    }

    /// The term of the entry at `index`, if a segment holds it.
    fn term_at(&self, index: Index) -> Option<Term> {
        self.segments
            .iter()
            .rev()
            .find(|segment| segment.first_index <= index)?
            .term_at(index)
    }

    /// Writes `snapshot` (see [`Storage::save_snapshot`]) and compacts the log.
    fn save_snapshot_and_compact(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let meta = &snapshot.meta;
        let keeps_log = meta.last_index <= self.last_index()
            && (meta.last_index == self.snapshot_index
                || self.term_at(meta.last_index) == Some(meta.last_term));

        let path = snapshot::write(&self.dir, snapshot)?;
        // The new snapshot is durable: what it replaces may go.
        if let Some(previous) = self.snapshot_path.replace(path.clone()) {
            if previous != path {
                fs::remove_file(&previous).map_err(io_error(&previous))?;
            }
        }
        self.snapshot_index = meta.last_index;
        if self.receiving.as_ref().is_some_and(|r| r.meta == *meta) {
            self.receiving.take().expect("checked").remove()?;
        }
        if keeps_log {
            self.remove_segments_through(meta.last_index)?;
        } else {
            self.remove_all_segments()?;
        }
        sync_dir(&self.dir)
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
            terms: Vec::new(),
            terms_from: first_index,
            len: 0,
        });
        self.active = Some(file);
        Ok(())
    }
}

impl Storage for FileStorage {
    fn load(&mut self) -> Result<Recovered, StorageError> {
        self.refuse_if_failed()?;
        if let Some(recovered) = self.opened.take() {
            return Ok(recovered);
        }
        let result = self.recover();
        // A failed recovery leaves the segment list half built.
        self.failed = result.is_err();
        result
    }

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        self.opened = None;
        meta::write(&self.dir, hard_state)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        assert!(
            first.index > self.snapshot_index && first.index <= self.last_index() + 1,
            "append leaves a gap or rewrites the snapshot"
        );
        assert!(
            entries.windows(2).all(|w| w[1].index == w[0].index + 1),
            "appended entries are not consecutive"
        );
        self.refuse_if_failed()?;
        self.opened = None;
        let result = self.append_entries(entries);
        self.failed = result.is_err();
        result
    }

    fn last_index(&self) -> Index {
        self.segments
            .last()
            .map_or(self.snapshot_index, Segment::last_index)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        assert!(
            snapshot.meta.last_index >= self.snapshot_index,
            "a snapshot older than the stored one"
        );
        self.refuse_if_failed()?;
        self.opened = None;
        let result = self.save_snapshot_and_compact(snapshot);
        self.failed = result.is_err();
        result
    }

    fn write_snapshot_chunk(
        &mut self,
        meta: &SnapshotMeta,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StorageError> {
        if self.receiving.as_ref().map(|r| &r.meta) != Some(meta) {
            // Dropped first, so that a failure below leaves no snapshot half received.
            self.receiving = None;
            self.receiving = Some(snapshot::Receiving::start(&self.dir, meta)?);
        }
        let receiving = self.receiving.as_ref().expect("started above");
        let result = receiving.write_chunk(offset, data);
        if result.is_err() {
            // Start afresh with the next chunk rather than trust what is in the file.
            self.receiving = None;
        }
        result
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
