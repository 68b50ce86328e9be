//! The hard state (term and vote), kept in one small file replaced atomically.
//!
//! A save writes the new state to a temporary file, makes it durable, renames it over
//! the real file and makes the rename durable. A crash at any point leaves either the old
//! or the new file whole, so a damaged file cannot be a torn write and is refused.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::{corrupt, io_error, record, sync_dir};
use crate::raft::HardState;
use crate::storage::StorageError;

const FILE_NAME: &str = "hard-state";
/// Where a save is written before being renamed into place.
const TEMP_FILE_NAME: &str = "hard-state.tmp";

/// The saved hard state, or the default if none was ever saved.
pub(super) fn read(dir: &Path) -> Result<HardState, StorageError> {
    let path = dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(HardState::default()),
        Err(error) => return Err(io_error(&path)(error)),
    };
    let record = record::parse(&bytes, 0).map_err(|reason| corrupt(&path, 0, reason))?;
    if record.end != bytes.len() {
        return Err(corrupt(
            &path,
            record.end as u64,
            "unexpected bytes after the hard state",
        ));
    }
    serde_json::from_slice(record.payload).map_err(|error| {
        corrupt(
            &path,
            record::HEADER_BYTES as u64,
            format!("hard state does not decode: {error}"),
        )
    })
}

pub(super) fn write(dir: &Path, hard_state: &HardState) -> Result<(), StorageError> {
    let payload = serde_json::to_vec(hard_state).expect("a HardState always serialises to JSON");
    let mut bytes = Vec::with_capacity(record::HEADER_BYTES + payload.len());
    let temp = dir.join(TEMP_FILE_NAME);
    record::encode(&payload, &mut bytes).map_err(io_error(&temp))?;

    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(&bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    drop(file);

    let path = dir.join(FILE_NAME);
    fs::rename(&temp, &path).map_err(io_error(&path))?;
    sync_dir(dir)
}

/// Removes what a crash between writing and renaming left behind: that save never
/// returned, so its value was never relied upon.
pub(super) fn remove_leftover_temp(dir: &Path) -> Result<(), StorageError> {
    let temp = dir.join(TEMP_FILE_NAME);
    match fs::remove_file(&temp) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(&temp)(error)),
    }
}
