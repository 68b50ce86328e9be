//! Snapshot files: the durable snapshot, how it is written and read back, and the
//! partial file of a snapshot being received.
//!
//! A snapshot file, `snapshot-<last index, 20 digits>.snap`, is
//!
//! ```text
//! one record (see `record`) holding the JSON header: meta, data length, CRC-32 of the data
//! the data, as many bytes as the header says
//! ```
//!
//! It is written whole to `snapshot.tmp`, made durable, renamed into place and the
//! rename made durable, so a crash leaves either no new file or a complete one: any
//! damage to a snapshot file is corruption, never a torn write. The record framing
//! checks the header (and through it the length), the header's checksum the data.
//!
//! `snapshot.part` holds the chunks received so far of a snapshot a leader is sending.
//! Which snapshot it belongs to is known only to the open store: after a restart the
//! leader starts that snapshot over, so leftover partial and temporary files are removed
//! on opening.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::crc32::crc32;
use super::{corrupt, io_error, record, sync_dir};
use crate::raft::{Index, Snapshot, SnapshotMeta};
use crate::storage::StorageError;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const INDEX_DIGITS: usize = 20;
/// Where a snapshot is written before being renamed into place.
const TEMP_FILE_NAME: &str = "snapshot.tmp";
/// The chunks of a snapshot being received.
const RECEIVING_FILE_NAME: &str = "snapshot.part";

#[derive(Serialize, Deserialize)]
struct Header {
    meta: SnapshotMeta,
    data_len: u64,
    data_crc32: u32,
}

pub(super) fn file_name(last_index: Index) -> String {
    format!("{PREFIX}{last_index:0INDEX_DIGITS$}{SUFFIX}")
}

/// What a directory entry's name says about it as a snapshot file.
pub(super) enum Name {
    Snapshot(Index),
    /// Looks like a snapshot file but cannot be read as one: refusing it is safer than
    /// starting from an older state.
    Malformed,
    NotASnapshot,
}

pub(super) fn parse_name(name: &str) -> Name {
    let Some(digits) = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    else {
        return Name::NotASnapshot;
    };
    if digits.len() != INDEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Name::Malformed;
    }
    match digits.parse() {
        Ok(index) => Name::Snapshot(index),
        Err(_) => Name::Malformed,
    }
}

/// Writes `snapshot` durably under its own name, replacing any file of that name
/// atomically, and returns its path.
pub(super) fn write(dir: &Path, snapshot: &Snapshot) -> Result<PathBuf, StorageError> {
    let temp = dir.join(TEMP_FILE_NAME);
    let header = Header {
        meta: snapshot.meta.clone(),
        data_len: snapshot.data.len() as u64,
        data_crc32: crc32(&[&snapshot.data]),
    };
    let payload = serde_json::to_vec(&header).expect("a snapshot header always serialises");
    let mut header_bytes = Vec::with_capacity(record::HEADER_BYTES + payload.len());
    record::encode(&payload, &mut header_bytes).map_err(io_error(&temp))?;

    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(&header_bytes).map_err(io_error(&temp))?;
    file.write_all(&snapshot.data).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    drop(file);

    let path = dir.join(file_name(snapshot.meta.last_index));
    fs::rename(&temp, &path).map_err(io_error(&path))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Reads the snapshot file at `path` whose name says it ends at `last_index`, checking
/// everything: a file that fails any check is corrupt.
pub(super) fn read(path: &Path, last_index: Index) -> Result<Snapshot, StorageError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let header = record::parse(&bytes, 0).map_err(|reason| corrupt(path, 0, reason))?;
    let data_start = header.end;
    let header: Header = serde_json::from_slice(header.payload).map_err(|error| {
        corrupt(
            path,
            record::HEADER_BYTES as u64,
            format!("snapshot header does not decode: {error}"),
        )
    })?;
    if header.meta.last_index != last_index {
        return Err(corrupt(
            path,
            0,
            format!(
                "the header says the snapshot ends at index {}, the name says {last_index}",
                header.meta.last_index
            ),
        ));
    }
    let data = &bytes[data_start..];
    if data.len() as u64 != header.data_len {
        return Err(corrupt(
            path,
            data_start as u64,
            format!(
                "the header announces {} bytes of data, the file holds {}",
                header.data_len,
                data.len()
            ),
        ));
    }
    if crc32(&[data]) != header.data_crc32 {
        return Err(corrupt(
            path,
            data_start as u64,
            "snapshot data checksum mismatch",
        ));
    }
    Ok(Snapshot {
        meta: header.meta,
        data: Arc::from(data),
    })
}

/// Removes what a crash left behind: a snapshot written but not yet renamed (that save
/// never returned) and the chunks of a snapshot being received (the leader sends it
/// again).
pub(super) fn remove_leftovers(dir: &Path) -> Result<(), StorageError> {
    for name in [TEMP_FILE_NAME, RECEIVING_FILE_NAME] {
        remove_if_present(&dir.join(name))?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(path)(error)),
    }
}

/// A snapshot being received: the partial file and the snapshot it belongs to.
pub(super) struct Receiving {
    pub meta: SnapshotMeta,
    path: PathBuf,
    file: File,
}

impl Receiving {
    /// Starts an empty partial file for `meta`, replacing any earlier one.
    pub fn start(dir: &Path, meta: &SnapshotMeta) -> Result<Receiving, StorageError> {
        let path = dir.join(RECEIVING_FILE_NAME);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_error(&path))?;
        // The chunks are acknowledged as durable, so the file holding them must be too.
        sync_dir(dir)?;
        Ok(Receiving {
            meta: meta.clone(),
            path,
            file,
        })
    }

    /// Writes `data` at `offset` and makes it durable.
    pub fn write_chunk(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.file
            .write_all_at(data, offset)
            .map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))
    }

    /// Removes the partial file once its snapshot is saved in full.
    pub fn remove(self) -> Result<(), StorageError> {
        drop(self.file);
        remove_if_present(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_index_order() {
        assert_eq!(file_name(7), "snapshot-00000000000000000007.snap");
        assert!(matches!(parse_name(&file_name(42)), Name::Snapshot(42)));
        assert!(file_name(9) < file_name(10));
        assert!(matches!(parse_name("snapshot-7.snap"), Name::Malformed));
        assert!(matches!(parse_name(TEMP_FILE_NAME), Name::NotASnapshot));
        assert!(matches!(
            parse_name(RECEIVING_FILE_NAME),
            Name::NotASnapshot
        ));
        assert!(matches!(parse_name("log-1.seg"), Name::NotASnapshot));
    }
}
