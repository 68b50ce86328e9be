//! FileStorage against its contract: what is written comes back after a reopen, a torn
//! tail is cut off at every possible cut point, and damage elsewhere is refused.
//!
//! Record boundaries are learned from the segment's length after each single-entry
//! append, so most tests do not depend on the record format. The file names
//! (`hard-state`, `hard-state.tmp`, `log-*.seg`, `snapshot-*.snap`, `snapshot.tmp`,
//! `snapshot.part`) are part of the on-disk layout, and so is a snapshot file ending
//! with the snapshot's data.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use raft_ng::kv::{Command, KvOp};
use raft_ng::raft::{Configuration, HardState, Recovered, Snapshot, SnapshotMeta};
use raft_ng::raft::{Entry, EntryData, Index, Term};
use raft_ng::storage::{FileStorage, MemStorage, Storage, StorageError};
use serde_json::json;

/// A directory under the system temp dir, unique to this process and call, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "raft-ng-storage-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Entries of varying size, so records straddle segment thresholds unevenly.
fn entry(term: Term, index: Index) -> Entry {
    let data = if index.is_multiple_of(5) {
        EntryData::Noop
    } else {
        EntryData::Command(
            Command {
                client: format!("c{}", index % 3),
                msg_id: index,
                proposer: "n1".to_string(),
                op: KvOp::Write {
                    key: json!(index % 4),
                    value: json!("v".repeat((index % 7) as usize)),
                },
            }
            .encode(),
        )
    };
    Entry { term, index, data }
}

fn entries(term: Term, indexes: std::ops::RangeInclusive<Index>) -> Vec<Entry> {
    indexes.map(|index| entry(term, index)).collect()
}

fn open(dir: &Path, segment_bytes: u64) -> FileStorage {
    FileStorage::open_with_segment_bytes(dir, segment_bytes).expect("open")
}

/// What a restarting node does: open, then load.
fn reopen(dir: &Path, segment_bytes: u64) -> Result<Recovered, StorageError> {
    FileStorage::open_with_segment_bytes(dir, segment_bytes)?.load()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, "log-", ".seg")
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, "snapshot-", ".snap")
}

fn files_named(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|dir_entry| dir_entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    files.sort();
    files
}

/// The first index a segment file's name gives.
fn first_index_of(segment: &Path) -> Index {
    segment.file_name().unwrap().to_str().unwrap()[4..24]
        .parse()
        .unwrap()
}

/// The first index of each segment and the last index of the log they end with.
fn segment_spans(dir: &Path, last_index: Index) -> Vec<(Index, Index)> {
    let firsts: Vec<Index> = segment_files(dir)
        .iter()
        .map(|p| first_index_of(p))
        .collect();
    let ends = firsts
        .iter()
        .skip(1)
        .map(|next| next - 1)
        .chain([last_index]);
    firsts.iter().copied().zip(ends).collect()
}

fn snapshot(last_index: Index, last_term: Term, data: &[u8]) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
            config: Configuration::with_voters(["n1".to_string(), "n2".to_string()]),
        },
        data: Arc::from(data),
    }
}

/// Snapshot data that differs from one snapshot to the next.
fn snapshot_data(last_index: Index, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + last_index) as u8)
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for dir_entry in fs::read_dir(from).unwrap() {
        let path = dir_entry.unwrap().path();
        fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x5A;
    fs::write(path, bytes).unwrap();
}

fn cut_file(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Where one entry's record lies.
#[derive(Clone, Debug)]
struct Placement {
    segment: PathBuf,
    start: u64,
    end: u64,
}

/// Appends `1..=count` one entry per call and notes where each record landed.
fn append_one_by_one(storage: &mut FileStorage, dir: &Path, count: Index) -> Vec<Placement> {
    let mut placements: Vec<Placement> = Vec::new();
    for index in 1..=count {
        storage.append(&[entry(1, index)]).unwrap();
        let segment = segment_files(dir).pop().unwrap();
        let start = match placements.last() {
            Some(previous) if previous.segment == segment => previous.end,
            _ => 0,
        };
        let end = fs::metadata(&segment).unwrap().len();
        placements.push(Placement {
            segment,
            start,
            end,
        });
    }
    placements
}

fn assert_corrupt(result: Result<Recovered, StorageError>, path: &Path, offset: u64) {
    match result {
        Err(StorageError::Corrupt {
            path: reported,
            offset: reported_offset,
            reason,
        }) => {
            assert_eq!(reported, path, "path ({reason})");
            assert_eq!(reported_offset, offset, "offset ({reason})");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(recovered) => panic!(
            "expected Corrupt, loaded {} entries",
            recovered.entries.len()
        ),
    }
}

#[test]
fn fresh_store_is_empty_and_directory_is_created() {
    let temp = TempDir::new("fresh");
    let dir = temp.path().join("n0");
    let mut storage = FileStorage::open(&dir).unwrap();
    assert!(dir.is_dir());
    assert_eq!(storage.last_index(), 0);
    assert_eq!(storage.load().unwrap(), Recovered::default());
    storage.append(&[]).unwrap();
    assert_eq!(storage.last_index(), 0);
}

#[test]
fn round_trip_across_segments() {
    let temp = TempDir::new("round-trip");
    let dir = temp.path();
    let hard_state = HardState {
        term: 3,
        voted_for: Some("n2".to_string()),
    };
    let mut expected = Vec::new();
    {
        let mut storage = open(dir, 300);
        storage.save_hard_state(&hard_state).unwrap();
        let singles = (31..=40).map(|index| index..=index);
        for batch in [1..=5, 6..=6, 7..=30].into_iter().chain(singles) {
            let batch = entries(2, batch);
            storage.append(&batch).unwrap();
            expected.extend(batch);
        }
        assert_eq!(storage.last_index(), 40);
        assert_eq!(storage.load().unwrap().entries, expected);
    }
    assert!(segment_files(dir).len() >= 4, "{:?}", segment_files(dir));

    let recovered = reopen(dir, 300).unwrap();
    assert_eq!(recovered.hard_state, hard_state);
    assert_eq!(recovered.entries, expected);
    // The threshold only decides where new segments start; any value reads the log.
    let mut storage = FileStorage::open(dir).unwrap();
    assert_eq!(storage.last_index(), 40);
    assert_eq!(storage.load().unwrap().entries, expected);
}

#[test]
fn append_at_a_lower_index_truncates_and_survives_reopen() {
    let temp = TempDir::new("truncate");
    let dir = temp.path();
    let mut expected = Vec::new();
    {
        let mut storage = open(dir, 200);
        for start in (1..=40).step_by(4) {
            let batch = entries(1, start..=start + 3);
            storage.append(&batch).unwrap();
            expected.extend(batch);
        }
        let segments_before = segment_files(dir).len();
        assert!(segments_before >= 5);

        // Into the middle of a segment: later segments go, that one is cut.
        let replacement = entries(2, 9..=11);
        storage.append(&replacement).unwrap();
        expected.truncate(8);
        expected.extend(replacement);
        assert_eq!(storage.last_index(), 11);
        assert!(segment_files(dir).len() < segments_before);
    }
    assert_eq!(reopen(dir, 200).unwrap().entries, expected);

    {
        // Exactly at the first index of a segment: that whole segment goes.
        let mut storage = open(dir, 200);
        let second_segment = &segment_files(dir)[1];
        let boundary: Index = second_segment.file_name().unwrap().to_str().unwrap()[4..24]
            .parse()
            .unwrap();
        let replacement = entries(3, boundary..=boundary);
        storage.append(&replacement).unwrap();
        expected.truncate(boundary as usize - 1);
        expected.extend(replacement);
        assert_eq!(storage.last_index(), boundary);
    }
    assert_eq!(reopen(dir, 200).unwrap().entries, expected);

    {
        // From index 1: the whole log is replaced.
        let mut storage = open(dir, 200);
        expected = entries(4, 1..=3);
        storage.append(&expected).unwrap();
        assert_eq!(segment_files(dir).len(), 1);
    }
    assert_eq!(reopen(dir, 200).unwrap().entries, expected);
}

/// Random appends (at any index after the snapshot up to last + 1), hard-state saves,
/// snapshots (agreeing with the log or not, within it or beyond it) and reopens, checked
/// against MemStorage, which defines the semantics.
#[test]
fn behaves_like_mem_storage() {
    let temp = TempDir::new("model");
    let dir = temp.path();
    let mut model = MemStorage::new();
    let mut storage = open(dir, 256);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = move |bound: u64| {
        // xorshift64: deterministic, so a failure reproduces.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for step in 0..400u64 {
        match random(12) {
            0 => {
                let hard_state = HardState {
                    term: step,
                    voted_for: step.is_multiple_of(2).then(|| format!("n{}", step % 3)),
                };
                model.save_hard_state(&hard_state).unwrap();
                storage.save_hard_state(&hard_state).unwrap();
            }
            1 => {
                drop(storage);
                storage = open(dir, 256);
            }
            2 => {
                let state = model.load().unwrap();
                let base = state.snapshot.as_ref().map_or(0, |s| s.meta.last_index);
                let last = model.last_index();
                let index = base + random(last - base + 4);
                // As a server's own snapshot: the term of its entry. Otherwise a leader's,
                // whose term may disagree or whose index may lie past the log.
                let term = match state.entries.get((index - base).wrapping_sub(1) as usize) {
                    Some(entry) if random(2) == 0 => entry.term,
                    _ => random(step + 1),
                };
                let snapshot = snapshot(index, term, &snapshot_data(step, random(100) as usize));
                model.save_snapshot(&snapshot).unwrap();
                storage.save_snapshot(&snapshot).unwrap();
            }
            _ => {
                let base = model
                    .load()
                    .unwrap()
                    .snapshot
                    .map_or(0, |s| s.meta.last_index);
                let last = model.last_index();
                // Mostly extend the log, sometimes overwrite part of it.
                let start = if random(3) == 0 {
                    base + 1 + random(last - base + 1)
                } else {
                    last + 1
                };
                let batch = entries(step, start..=start + random(8));
                model.append(&batch).unwrap();
                storage.append(&batch).unwrap();
            }
        }
        assert_eq!(storage.last_index(), model.last_index(), "step {step}");
        if step % 20 == 0 {
            assert_eq!(
                storage.load().unwrap(),
                model.load().unwrap(),
                "step {step}"
            );
        }
    }
    drop(storage);
    assert_eq!(reopen(dir, 256).unwrap(), model.load().unwrap());
}

/// A crash in the middle of the last append can leave any prefix of its bytes. Cut the
/// last segment at every offset within the last two records: the store must come back
/// with exactly the records that were whole, and must keep working.
#[test]
fn torn_tail_is_cut_off_at_every_offset() {
    const SEGMENT_BYTES: u64 = 1000;
    let temp = TempDir::new("torn");
    let original = temp.path().join("original");
    let count = 14;
    let placements = {
        let mut storage = open(&original, SEGMENT_BYTES);
        storage
            .save_hard_state(&HardState {
                term: 1,
                voted_for: None,
            })
            .unwrap();
        append_one_by_one(&mut storage, &original, count)
    };
    let last = &placements[count as usize - 1];
    let second_last = &placements[count as usize - 2];
    assert!(
        segment_files(&original).len() >= 2,
        "test needs a sealed segment"
    );
    assert_eq!(
        last.segment, second_last.segment,
        "test needs the last two records in one segment"
    );

    for cut in second_last.start..=last.end {
        let copy = temp.path().join(format!("cut-{cut}"));
        copy_dir(&original, &copy);
        let segment = copy.join(last.segment.file_name().unwrap());
        cut_file(&segment, cut);

        let whole = placements
            .iter()
            .take_while(|placement| placement.segment != last.segment || placement.end <= cut)
            .count() as Index;
        let mut expected = entries(1, 1..=whole);

        let mut storage = open(&copy, SEGMENT_BYTES);
        let whole_len = placements[..whole as usize]
            .iter()
            .rfind(|placement| placement.segment == last.segment)
            .map_or(0, |placement| placement.end);
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            whole_len,
            "cut at {cut}: the torn bytes must be gone from disk"
        );
        let recovered = storage.load().unwrap();
        assert_eq!(recovered.entries, expected, "cut at {cut}");
        assert_eq!(recovered.hard_state.term, 1);
        assert_eq!(storage.last_index(), whole, "cut at {cut}");

        let next = entry(2, whole + 1);
        storage.append(std::slice::from_ref(&next)).unwrap();
        drop(storage);
        expected.push(next);
        assert_eq!(
            reopen(&copy, SEGMENT_BYTES).unwrap().entries,
            expected,
            "cut at {cut}, after another append"
        );
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn damaged_record_followed_by_intact_ones_is_corrupt() {
    let temp = TempDir::new("middle");
    let original = temp.path().join("original");
    let placements = {
        let mut storage = open(&original, 1 << 20);
        append_one_by_one(&mut storage, &original, 10)
    };
    let victim = &placements[4];
    let middle_of_payload = (victim.start + victim.end) / 2;
    // The first header byte is the length field: damage there misplaces every later
    // boundary, and must still be caught.
    for (label, offset) in [("payload", middle_of_payload), ("length", victim.start)] {
        let copy = temp.path().join(label);
        copy_dir(&original, &copy);
        let segment = copy.join(victim.segment.file_name().unwrap());
        flip_byte(&segment, offset);
        let len_before = fs::metadata(&segment).unwrap().len();

        assert_corrupt(reopen(&copy, 1 << 20), &segment, victim.start);
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            len_before,
            "a corrupt store must not be modified"
        );
    }
}

#[test]
fn damage_in_a_sealed_segment_is_corrupt_even_at_its_end() {
    let temp = TempDir::new("sealed");
    let original = temp.path().join("original");
    let placements = {
        let mut storage = open(&original, 500);
        append_one_by_one(&mut storage, &original, 20)
    };
    let first_segment = &placements[0].segment;
    let last_of_first = placements
        .iter()
        .rfind(|placement| &placement.segment == first_segment)
        .unwrap();
    assert_ne!(&placements[19].segment, first_segment);
    let name = first_segment.file_name().unwrap();

    let flipped = temp.path().join("flipped");
    copy_dir(&original, &flipped);
    flip_byte(&flipped.join(name), last_of_first.end - 1);
    assert_corrupt(
        reopen(&flipped, 500),
        &flipped.join(name),
        last_of_first.start,
    );

    // What would be a torn tail in the last segment is damage in an earlier one.
    let cut = temp.path().join("cut");
    copy_dir(&original, &cut);
    cut_file(&cut.join(name), last_of_first.end - 1);
    assert_corrupt(reopen(&cut, 500), &cut.join(name), last_of_first.start);
}

#[test]
fn missing_segment_is_corrupt() {
    let temp = TempDir::new("gap");
    let original = temp.path().join("original");
    {
        let mut storage = open(&original, 200);
        storage.append(&entries(1, 1..=30)[..10]).unwrap();
        for index in 11..=30 {
            storage.append(&[entry(1, index)]).unwrap();
        }
    }
    let segments = segment_files(&original);
    assert!(segments.len() >= 3);

    let middle_gone = temp.path().join("middle-gone");
    copy_dir(&original, &middle_gone);
    fs::remove_file(middle_gone.join(segments[1].file_name().unwrap())).unwrap();
    assert_corrupt(
        reopen(&middle_gone, 200),
        &middle_gone.join(segments[2].file_name().unwrap()),
        0,
    );

    let first_gone = temp.path().join("first-gone");
    copy_dir(&original, &first_gone);
    fs::remove_file(first_gone.join(segments[0].file_name().unwrap())).unwrap();
    assert_corrupt(
        reopen(&first_gone, 200),
        &first_gone.join(segments[1].file_name().unwrap()),
        0,
    );
}

#[test]
fn intact_record_with_the_wrong_index_is_corrupt() {
    let temp = TempDir::new("discontinuity");
    let dir = temp.path();
    let placements = {
        let mut storage = open(dir, 1 << 20);
        append_one_by_one(&mut storage, dir, 3)
    };
    // Append a second copy of record 2 after record 3: intact, but index 2 where 4
    // belongs.
    let segment = &placements[0].segment;
    let mut bytes = fs::read(segment).unwrap();
    let record_two = bytes[placements[1].start as usize..placements[1].end as usize].to_vec();
    bytes.extend(record_two);
    fs::write(segment, bytes).unwrap();
    assert_corrupt(reopen(dir, 1 << 20), segment, placements[2].end);
}

#[test]
fn damaged_hard_state_is_corrupt() {
    let temp = TempDir::new("hard-state");
    let original = temp.path().join("original");
    {
        let mut storage = open(&original, 1 << 20);
        storage
            .save_hard_state(&HardState {
                term: 7,
                voted_for: Some("n4".to_string()),
            })
            .unwrap();
    }
    let len = fs::metadata(original.join("hard-state")).unwrap().len();

    let flipped = temp.path().join("flipped");
    copy_dir(&original, &flipped);
    flip_byte(&flipped.join("hard-state"), len - 3);
    assert_corrupt(reopen(&flipped, 1 << 20), &flipped.join("hard-state"), 0);

    // A rename is atomic, so even a short file cannot be a torn write.
    let short = temp.path().join("short");
    copy_dir(&original, &short);
    cut_file(&short.join("hard-state"), len - 1);
    assert_corrupt(reopen(&short, 1 << 20), &short.join("hard-state"), 0);

    let long = temp.path().join("long");
    copy_dir(&original, &long);
    let mut bytes = fs::read(long.join("hard-state")).unwrap();
    bytes.push(b'\n');
    fs::write(long.join("hard-state"), bytes).unwrap();
    assert_corrupt(reopen(&long, 1 << 20), &long.join("hard-state"), len);
}

/// A crash between writing the temporary file and renaming it leaves the old value in
/// force; the leftover is removed on opening.
#[test]
fn hard_state_is_replaced_atomically() {
    let temp = TempDir::new("atomic");
    let old = HardState {
        term: 4,
        voted_for: Some("n1".to_string()),
    };
    let new = HardState {
        term: 5,
        voted_for: None,
    };
    let dir = temp.path().join("store");
    open(&dir, 1 << 20).save_hard_state(&old).unwrap();

    // The temp file a save of `new` would have written: complete, or cut short.
    let other = temp.path().join("other");
    open(&other, 1 << 20).save_hard_state(&new).unwrap();
    let new_bytes = fs::read(other.join("hard-state")).unwrap();
    for leftover in [&new_bytes[..], &new_bytes[..new_bytes.len() / 2]] {
        fs::write(dir.join("hard-state.tmp"), leftover).unwrap();
        let mut storage = open(&dir, 1 << 20);
        assert!(!dir.join("hard-state.tmp").exists());
        assert_eq!(storage.load().unwrap().hard_state, old);
    }

    open(&dir, 1 << 20).save_hard_state(&new).unwrap();
    assert!(!dir.join("hard-state.tmp").exists());
    assert_eq!(reopen(&dir, 1 << 20).unwrap().hard_state, new);
}

#[test]
fn a_store_cannot_be_opened_twice_at_once() {
    let temp = TempDir::new("lock");
    let first = FileStorage::open(temp.path()).unwrap();
    assert!(matches!(
        FileStorage::open(temp.path()),
        Err(StorageError::Io { .. })
    ));
    drop(first);
    FileStorage::open(temp.path()).unwrap();
}

/// A store whose log 1..=`last` (term 1) spans many small segments.
fn store_with_log(dir: &Path, last: Index) -> FileStorage {
    let mut storage = open(dir, SMALL_SEGMENTS);
    for start in (1..=last).step_by(3) {
        storage
            .append(&entries(1, start..=(start + 2).min(last)))
            .unwrap();
    }
    storage
}

const SMALL_SEGMENTS: u64 = 300;

/// Reopens the store in `dir` and checks it holds `snapshot` and the log after it up to
/// `last` (entries of term 1).
fn expect_state(dir: &Path, snapshot: Option<&Snapshot>, last: Index) {
    let mut storage = open(dir, SMALL_SEGMENTS);
    let recovered = storage.load().unwrap();
    assert_eq!(recovered.snapshot.as_ref(), snapshot);
    let after = snapshot.map_or(0, |s| s.meta.last_index);
    assert_eq!(recovered.entries, entries(1, after + 1..=last));
    assert_eq!(storage.last_index(), last);
}

#[test]
fn snapshot_round_trip_compacts_whole_segments() {
    let temp = TempDir::new("compaction");
    let dir = temp.path();
    let mut storage = store_with_log(dir, 60);
    let spans = segment_spans(dir, 60);
    assert!(spans.len() >= 6, "{spans:?}");
    // An index inside a segment, so that one segment is only partly covered.
    let (partly_first, partly_last) = spans[spans.len() / 2];
    let index = partly_first + 1;
    assert!(index < partly_last, "{spans:?}");

    let first = snapshot(index, 1, &snapshot_data(index, 1000));
    storage.save_snapshot(&first).unwrap();
    assert_eq!(storage.last_index(), 60);
    let kept: Vec<PathBuf> = segment_files(dir)
        .into_iter()
        .filter(|path| first_index_of(path) >= partly_first)
        .collect();
    assert_eq!(
        segment_files(dir),
        kept,
        "exactly the segments wholly covered go"
    );
    assert_eq!(kept.len(), spans.len() - spans.len() / 2);
    let loaded = storage.load().unwrap();
    assert_eq!(loaded.snapshot, Some(first.clone()));
    assert_eq!(loaded.entries, entries(1, index + 1..=60));
    drop(storage);
    expect_state(dir, Some(&first), 60);

    // Appends go on after compaction; a later snapshot replaces the earlier one.
    let mut storage = open(dir, SMALL_SEGMENTS);
    storage.append(&entries(1, 61..=70)).unwrap();
    let second = snapshot(65, 1, &snapshot_data(65, 2000));
    storage.save_snapshot(&second).unwrap();
    assert_eq!(
        snapshot_files(dir),
        vec![dir.join("snapshot-00000000000000000065.snap")]
    );
    drop(storage);
    expect_state(dir, Some(&second), 70);

    // A snapshot of the whole log leaves no segment; the next append starts one.
    let mut storage = open(dir, SMALL_SEGMENTS);
    let whole = snapshot(70, 1, &snapshot_data(70, 10));
    storage.save_snapshot(&whole).unwrap();
    assert!(segment_files(dir).is_empty());
    assert_eq!(storage.last_index(), 70);
    drop(storage);
    expect_state(dir, Some(&whole), 70);
    let mut storage = open(dir, SMALL_SEGMENTS);
    storage.append(&entries(1, 71..=72)).unwrap();
    drop(storage);
    assert_eq!(
        segment_files(dir),
        vec![dir.join("log-00000000000000000071.seg")]
    );
    expect_state(dir, Some(&whole), 72);
}

#[test]
fn a_snapshot_the_log_disagrees_with_drops_the_log() {
    let temp = TempDir::new("leader-snapshot");
    // Entry 20 has term 1: a snapshot whose entry 20 has term 2 replaces the log.
    let disagreeing = temp.path().join("disagreeing");
    let mut storage = store_with_log(&disagreeing, 30);
    let leaders = snapshot(20, 2, &snapshot_data(20, 100));
    storage.save_snapshot(&leaders).unwrap();
    assert!(segment_files(&disagreeing).is_empty());
    assert_eq!(storage.last_index(), 20);
    storage.append(&entries(2, 21..=22)).unwrap();
    drop(storage);
    let recovered = reopen(&disagreeing, SMALL_SEGMENTS).unwrap();
    assert_eq!(recovered.snapshot, Some(leaders));
    assert_eq!(recovered.entries, entries(2, 21..=22));

    // A snapshot past the end of the log replaces it too.
    let beyond = temp.path().join("beyond");
    let mut storage = store_with_log(&beyond, 30);
    let leaders = snapshot(50, 1, &snapshot_data(50, 100));
    storage.save_snapshot(&leaders).unwrap();
    assert!(segment_files(&beyond).is_empty());
    assert_eq!(storage.last_index(), 50);
    drop(storage);
    expect_state(&beyond, Some(&leaders), 50);
}

#[test]
fn damaged_snapshot_is_corrupt_and_names_its_file() {
    let temp = TempDir::new("snapshot-damage");
    let original = temp.path().join("original");
    let data = snapshot_data(20, 5000);
    {
        let mut storage = store_with_log(&original, 30);
        storage.save_snapshot(&snapshot(20, 1, &data)).unwrap();
    }
    let name = snapshot_files(&original)[0].file_name().unwrap().to_owned();
    let len = fs::metadata(original.join(&name)).unwrap().len();
    let data_start = len - data.len() as u64;

    for (label, offset, reported) in [("data", len - 100, data_start), ("header", 10, 0)] {
        let copy = temp.path().join(label);
        copy_dir(&original, &copy);
        flip_byte(&copy.join(&name), offset);
        assert_corrupt(reopen(&copy, SMALL_SEGMENTS), &copy.join(&name), reported);
        assert_eq!(
            segment_files(&copy).len(),
            segment_files(&original).len(),
            "a corrupt store must not be modified"
        );
    }

    // A renamed snapshot file is always whole: a short one is damage too.
    let short = temp.path().join("short");
    copy_dir(&original, &short);
    cut_file(&short.join(&name), len - 1);
    assert_corrupt(
        reopen(&short, SMALL_SEGMENTS),
        &short.join(&name),
        data_start,
    );
}

#[test]
fn a_segment_missing_after_the_snapshot_is_corrupt() {
    let temp = TempDir::new("gap-after-snapshot");
    let dir = temp.path();
    let mut storage = store_with_log(dir, 60);
    storage.save_snapshot(&snapshot(20, 1, b"state")).unwrap();
    drop(storage);
    let segments = segment_files(dir);
    assert!(segments.len() >= 3, "{segments:?}");
    // The segment holding entry 21, the first after the snapshot.
    fs::remove_file(&segments[0]).unwrap();
    assert_corrupt(reopen(dir, SMALL_SEGMENTS), &segments[1], 0);
}

/// The states a crash can leave while a snapshot is saved, rebuilt file by file from
/// the store before the save and the store after it: each must come back as the old
/// snapshot with its log or the new one with the log after it.
#[test]
fn a_crash_anywhere_in_saving_a_snapshot_recovers_one_side() {
    let temp = TempDir::new("snapshot-crash");
    let before = temp.path().join("before");
    let old = snapshot(10, 1, &snapshot_data(10, 300));
    let new = snapshot(45, 1, &snapshot_data(45, 400));
    {
        let mut storage = store_with_log(&before, 60);
        storage.save_snapshot(&old).unwrap();
    }
    let after = temp.path().join("after");
    copy_dir(&before, &after);
    open(&after, SMALL_SEGMENTS).save_snapshot(&new).unwrap();
    let old_name = snapshot_files(&before)[0].file_name().unwrap().to_owned();
    let new_name = snapshot_files(&after)[0].file_name().unwrap().to_owned();
    let new_bytes = fs::read(after.join(&new_name)).unwrap();
    let before_segments = segment_files(&before);
    let after_segments = segment_files(&after);
    assert!(after_segments.len() + 2 <= before_segments.len());

    let crash = |label: &str, build: &dyn Fn(&Path)| {
        let dir = temp.path().join(label);
        copy_dir(&before, &dir);
        build(&dir);
        dir
    };

    // Before the rename: the temporary file, whole or not, is ignored and removed.
    for (label, len) in [
        ("temp-whole", new_bytes.len()),
        ("temp-half", new_bytes.len() / 2),
    ] {
        let dir = crash(label, &|dir| {
            fs::write(dir.join("snapshot.tmp"), &new_bytes[..len]).unwrap()
        });
        expect_state(&dir, Some(&old), 60);
        assert!(!dir.join("snapshot.tmp").exists());
    }

    // After the rename, before the old snapshot is removed; after that, before any
    // segment is deleted; and part way through deleting them (oldest first).
    let renamed = |dir: &Path| fs::write(dir.join(&new_name), &new_bytes).unwrap();
    let old_removed = |dir: &Path| {
        renamed(dir);
        fs::remove_file(dir.join(&old_name)).unwrap();
    };
    let some_deleted = |dir: &Path| {
        old_removed(dir);
        fs::remove_file(dir.join(before_segments[0].file_name().unwrap())).unwrap();
    };
    type Step<'a> = (&'a str, &'a dyn Fn(&Path));
    let steps: [Step; 3] = [
        ("renamed", &renamed),
        ("old-removed", &old_removed),
        ("some-deleted", &some_deleted),
    ];
    for (label, build) in steps {
        let dir = crash(label, build);
        expect_state(&dir, Some(&new), 60);
        // Recovery finishes the job.
        let names = |files: Vec<PathBuf>| -> Vec<_> {
            files
                .iter()
                .map(|p| p.file_name().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            names(snapshot_files(&dir)),
            vec![new_name.clone()],
            "{label}"
        );
        assert_eq!(
            names(segment_files(&dir)),
            names(after_segments.clone()),
            "{label}"
        );
    }
}

/// The same for a leader's snapshot the log disagrees with: whatever prefix of the
/// segments a crash leaves (they are deleted newest first), the log is dropped.
#[test]
fn a_crash_while_dropping_a_disagreeing_log_still_drops_it() {
    let temp = TempDir::new("leader-crash");
    let before = temp.path().join("before");
    drop(store_with_log(&before, 60));
    let leaders = snapshot(45, 2, &snapshot_data(45, 400));
    let after = temp.path().join("after");
    copy_dir(&before, &after);
    open(&after, SMALL_SEGMENTS)
        .save_snapshot(&leaders)
        .unwrap();
    let name = snapshot_files(&after)[0].file_name().unwrap().to_owned();
    let bytes = fs::read(after.join(&name)).unwrap();
    let segments = segment_files(&before);

    for kept in [segments.len(), segments.len() / 2, 1] {
        let dir = temp.path().join(format!("kept-{kept}"));
        copy_dir(&before, &dir);
        fs::write(dir.join(&name), &bytes).unwrap();
        for segment in &segments[kept..] {
            fs::remove_file(dir.join(segment.file_name().unwrap())).unwrap();
        }
        expect_state(&dir, Some(&leaders), 45);
        assert!(segment_files(&dir).is_empty(), "kept {kept}");
    }
}

#[test]
fn chunks_land_at_their_offsets_and_another_snapshot_restarts_them() {
    let temp = TempDir::new("chunks");
    let dir = temp.path();
    let part = dir.join("snapshot.part");
    let mut storage = store_with_log(dir, 10);
    let first = snapshot(40, 3, b"");
    let second = snapshot(50, 3, b"");

    // Out of order, and one rewritten, as a resent chunk would be.
    storage
        .write_snapshot_chunk(&first.meta, 4, b"efgh")
        .unwrap();
    storage
        .write_snapshot_chunk(&first.meta, 0, b"abcd")
        .unwrap();
    storage
        .write_snapshot_chunk(&first.meta, 4, b"efgh")
        .unwrap();
    assert_eq!(fs::read(&part).unwrap(), b"abcdefgh");

    storage
        .write_snapshot_chunk(&second.meta, 0, b"xy")
        .unwrap();
    assert_eq!(
        fs::read(&part).unwrap(),
        b"xy",
        "another meta starts afresh"
    );
    storage.write_snapshot_chunk(&second.meta, 2, b"z").unwrap();
    assert_eq!(fs::read(&part).unwrap(), b"xyz");

    // The whole snapshot saved: the partial file goes, the log (which ends before it) too.
    let complete = snapshot(50, 3, b"xyz");
    storage.save_snapshot(&complete).unwrap();
    assert!(!part.exists());
    drop(storage);
    expect_state(dir, Some(&complete), 50);

    // A partial file a crash left is removed on opening.
    let mut storage = open(dir, SMALL_SEGMENTS);
    storage
        .write_snapshot_chunk(&first.meta, 0, b"abc")
        .unwrap();
    drop(storage);
    drop(open(dir, SMALL_SEGMENTS));
    assert!(!part.exists());
}

/// Rough cost of a 1000-entry batch against single-entry appends. Run with
/// `cargo test --release --test storage -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_batch_against_single_appends() {
    const COUNT: Index = 1000;
    let temp = TempDir::new("bench");

    let mut storage = FileStorage::open(&temp.path().join("batch")).unwrap();
    let batch = entries(1, 1..=COUNT);
    let started = Instant::now();
    storage.append(&batch).unwrap();
    let batch_time = started.elapsed();

    let mut storage = FileStorage::open(&temp.path().join("single")).unwrap();
    let started = Instant::now();
    for entry in &batch {
        storage.append(std::slice::from_ref(entry)).unwrap();
    }
    let single_time = started.elapsed();

    eprintln!(
        "{COUNT} entries: one batch {:?} ({:.2} µs/entry); single appends {:?} ({:.1} µs/append)",
        batch_time,
        batch_time.as_secs_f64() * 1e6 / COUNT as f64,
        single_time,
        single_time.as_secs_f64() * 1e6 / COUNT as f64,
    );
}

/// CPU time this process has used, user and system (to 10 ms): on a busy machine a
/// better measure of the work than the wall clock.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Time to open and load a store as a node restarted after a long run finds it: a
/// snapshot of 4 MiB, then `entries` entries after it (plus the covered part of the
/// segment holding the snapshot's last entry). Run with
/// `cargo test --release --test storage bench_recovery -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_recovery_after_compaction() {
    for after in [10_000, 100_000] {
        let temp = TempDir::new("bench-recovery");
        let dir = temp.path();
        let last: Index = 2 * after;
        {
            let mut storage = FileStorage::open(dir).unwrap();
            for start in (1..=last).step_by(1000) {
                storage.append(&entries(1, start..=start + 999)).unwrap();
            }
            let data = snapshot_data(after, 4 << 20);
            storage.save_snapshot(&snapshot(after, 1, &data)).unwrap();
        }
        let bytes: u64 = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut storage = FileStorage::open(dir).unwrap();
        let recovered = storage.load().unwrap();
        let wall = started.elapsed();
        let cpu = cpu_seconds() - cpu_before;
        assert_eq!(recovered.entries.len() as Index, last - after);
        eprintln!(
            "4 MiB snapshot + {} entries ({} segments, {:.1} MB on disk): open + load {:.0} ms wall, {:.0} ms CPU",
            last - after,
            segment_files(dir).len(),
            bytes as f64 / 1e6,
            wall.as_secs_f64() * 1e3,
            cpu * 1e3,
        );
    }
}
