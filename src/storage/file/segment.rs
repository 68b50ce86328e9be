//! Log segment files: their names and how one is read back.
//!
//! A segment is a sequence of records (see `record`), each holding one JSON-encoded
//! [`Entry`]. Its file name carries the index of its first entry, zero-padded so that
//! names sort in log order: `log-00000000000000000001.seg`.

use std::path::Path;

use super::{corrupt, record};
use crate::raft::{Entry, Index};
use crate::storage::StorageError;

const PREFIX: &str = "log-";
const SUFFIX: &str = ".seg";
const INDEX_DIGITS: usize = 20;

pub(super) fn file_name(first_index: Index) -> String {
    format!("{PREFIX}{first_index:0INDEX_DIGITS$}{SUFFIX}")
}

/// What a directory entry's name says about it as a segment.
pub(super) enum Name {
    Segment(Index),
    /// Looks like a segment but cannot be read as one: refusing it is safer than
    /// skipping part of the log.
    Malformed,
    NotASegment,
}

pub(super) fn parse_name(name: &str) -> Name {
    let Some(digits) = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    else {
        return Name::NotASegment;
    };
    if digits.len() != INDEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Name::Malformed;
    }
    match digits.parse() {
        Ok(index) if index >= 1 => Name::Segment(index),
        _ => Name::Malformed,
    }
}

/// The intact prefix of a segment file.
pub(super) struct Scan {
    /// The entries from the index the scan was asked to decode from.
    pub entries: Vec<Entry>,
    /// Byte offset of each record, decoded or not.
    pub offsets: Vec<u64>,
    /// The first record that is incomplete or fails its checksum, if any. Whether that is
    /// a torn tail or corruption depends on what follows it, which the caller decides.
    pub damage: Option<Damage>,
}

pub(super) struct Damage {
    pub offset: u64,
    pub reason: &'static str,
}

/// Reads the records of a segment whose name says it starts at `first_index`, stopping
/// at the first damaged one. Records before `decode_from` (entries a snapshot covers)
/// are only checked against their checksums, not decoded: recovery need not pay for
/// entries it will not hand out. A decoded record that is intact yet holds the wrong
/// index or no decodable entry cannot come from an interrupted write, so it is an error
/// at once.
pub(super) fn scan(
    path: &Path,
    bytes: &[u8],
    first_index: Index,
    decode_from: Index,
) -> Result<Scan, StorageError> {
    let mut scan = Scan {
        entries: Vec::new(),
        offsets: Vec::new(),
        damage: None,
    };
    let mut at = 0;
    while at < bytes.len() {
        let record = match record::parse(bytes, at) {
            Ok(record) => record,
            Err(reason) => {
                scan.damage = Some(Damage {
                    offset: at as u64,
                    reason,
                });
                break;
            }
        };
        let expected = first_index + scan.offsets.len() as Index;
        if expected >= decode_from {
            let entry: Entry = serde_json::from_slice(record.payload).map_err(|error| {
                corrupt(
                    path,
                    at as u64,
                    format!("record does not decode as a log entry: {error}"),
                )
            })?;
            if entry.index != expected {
                return Err(corrupt(
                    path,
                    at as u64,
                    format!("record holds index {}, expected {expected}", entry.index),
                ));
            }
            scan.entries.push(entry);
        }
        scan.offsets.push(at as u64);
        at = record.end;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_log_order() {
        assert_eq!(file_name(1), "log-00000000000000000001.seg");
        assert!(matches!(parse_name(&file_name(42)), Name::Segment(42)));
        assert!(matches!(
            parse_name(&file_name(u64::MAX)),
            Name::Segment(u64::MAX)
        ));
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn other_names_are_told_apart() {
        assert!(matches!(parse_name("hard-state"), Name::NotASegment));
        assert!(matches!(parse_name("log-1.seg"), Name::Malformed));
        assert!(matches!(
            parse_name("log-0000000000000000000x.seg"),
            Name::Malformed
        ));
        assert!(matches!(
            parse_name("log-00000000000000000000.seg"),
            Name::Malformed
        ));
        assert!(matches!(
            parse_name("log-99999999999999999999.seg"),
            Name::Malformed
        ));
    }
}
