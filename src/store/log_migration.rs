//! Moves the log of a store written before the log had files of its own
//! out of sled and into them (`log_files.rs`), once, as it opens.
//!
//! Such a store kept each commit in sled (keyspace `L`) and, for what sled
//! had not flushed, in a journal of the same record format
//! (`journal/<first position>.log`). The move writes sled's commits, then
//! the journal's that follow them, into new log files and syncs them; then
//! it marks the store moved (`meta` `log_in_files`, flushed); only then
//! does it remove the journal and sled's copies. Cut short before the
//! mark, the next open starts the move again from scratch (sled's copies
//! are still there); after it, the next open finishes the removal. A
//! store without the mark and without the log in sled or a journal (a new
//! one, or a sled database made anew beside the log's files) is marked
//! as it is, its log's files left alone.

use std::path::Path;

use super::disk::Disk;
use super::keys::{key, key_suffix_u64, meta_key, Space, RETIRED_INDEXES};
use super::log_files::{self, LogFiles};
use super::StoreError;

/// The meta key set once the store's log is in its files alone.
pub(super) const MARK: &str = "log_in_files";

/// The directory an older store kept its journal in.
const JOURNAL: &str = "journal";

/// How many commits the move writes, and removes from sled, at a time.
const CHUNK: usize = 4096;

/// Moves the log of the store in `disk` into its files, if it is not there
/// yet, and removes what an earlier move left behind.
pub(super) fn migrate(disk: &Disk) -> Result<(), StoreError> {
    let tree = disk.tree()?;
    if tree.get(meta_key(MARK))?.is_none() {
        // Only a store that holds the log in sled or a journal moves it: a
        // sled database made anew beside the log's files (one set aside,
        // say) takes the files as they are, and the open derives its
        // indexes from them.
        let older = tree.scan_prefix(key(Space::Log, &[])).next().is_some()
            || disk.path().join(JOURNAL).exists();
        if older {
            let moved = move_log(disk, &tree)?;
            tracing::info!(
                commits = moved,
                "moved the log out of sled into its own files"
            );
        }
        tree.insert(meta_key(MARK), vec![1])?;
        disk.flush(&tree)?;
    }
    remove_old_copies(disk, &tree)
}

/// Writes sled's commits, then the journal's after them, into new log
/// files (made durable). Returns how many it wrote.
fn move_log(disk: &Disk, tree: &sled::Tree) -> Result<u64, StoreError> {
    let dir = disk.path().join(log_files::DIR);
    if dir.exists() {
        // A move cut short: begin again.
        std::fs::remove_dir_all(&dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
    }
    let log = LogFiles::open(disk.path(), 0)?;
    let mut chunk: Vec<(u64, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let write = |chunk: &mut Vec<(u64, Vec<u8>)>| -> Result<(), StoreError> {
        let records: Vec<(u64, &[u8])> = chunk.iter().map(|(p, b)| (*p, b.as_slice())).collect();
        log.append(&records)?;
        chunk.clear();
        Ok(())
    };
    let mut next = 1;
    for item in tree.scan_prefix(key(Space::Log, &[])) {
        let (k, bytes) = item?;
        let position = key_suffix_u64(&k)
            .ok_or_else(|| StoreError::Corrupt("a log key is too short".into()))?;
        if position != next {
            return Err(StoreError::Corrupt(format!(
                "sled's log jumps from position {} to {position}",
                next - 1
            )));
        }
        chunk.push((position, bytes.to_vec()));
        next += 1;
        if chunk.len() == CHUNK {
            write(&mut chunk)?;
        }
    }
    for (position, bytes) in journal_records(disk.path())? {
        if position < next {
            continue;
        }
        if position != next {
            return Err(StoreError::Corrupt(format!(
                "the store holds the log through position {}, and its journal goes on from {position}",
                next - 1
            )));
        }
        chunk.push((position, bytes));
        next += 1;
        if chunk.len() == CHUNK {
            write(&mut chunk)?;
        }
    }
    write(&mut chunk)?;
    Ok(next - 1)
}

/// The records of an older store's journal, in order; a torn record at
/// the end of its last file ends them (nothing in it was acknowledged).
fn journal_records(data_dir: &Path) -> Result<Vec<log_files::Record>, StoreError> {
    let dir = data_dir.join(JOURNAL);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?
            .path();
        let first = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{} is not a journal file", path.display()))
            })?;
        files.push((first, path));
    }
    files.sort();
    let mut records = Vec::new();
    let count = files.len();
    for (i, (first, path)) in files.iter().enumerate() {
        let (read, whole) = log_files::read_records(path, *first)?;
        if !whole && i + 1 != count {
            return Err(StoreError::Corrupt(format!(
                "{} holds a record cut short or corrupt before the journal's last file",
                path.display()
            )));
        }
        records.extend(read);
    }
    Ok(records)
}

/// Removes an older store's journal and sled's copies of the log, a chunk
/// at a time, once the mark says the log files hold them all; and the
/// log's indexes sled kept before they moved into memory
/// (`keys::RETIRED_INDEXES`), which the log's files derive.
fn remove_old_copies(disk: &Disk, tree: &sled::Tree) -> Result<(), StoreError> {
    let journal = disk.path().join(JOURNAL);
    if journal.exists() {
        std::fs::remove_dir_all(&journal)
            .map_err(|e| StoreError::Io(format!("{}: {e}", journal.display())))?;
    }
    let mut removed = 0;
    for prefix in [Space::Log.prefix()].into_iter().chain(RETIRED_INDEXES) {
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in tree.scan_prefix([prefix]).take(CHUNK) {
                batch.remove(item?.0);
                n += 1;
            }
            if n == 0 {
                break;
            }
            tree.apply_batch(batch)?;
            removed += n;
        }
    }
    if removed > 0 {
        tracing::info!(
            records = removed,
            "removed sled's copies of the log and its indexes"
        );
        disk.flush(tree)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::keys::position_key;
    use super::*;

    fn commit_bytes(position: u64) -> Vec<u8> {
        format!("commit {position}").into_bytes()
    }

    fn journal_file(data_dir: &Path, first: u64, positions: std::ops::RangeInclusive<u64>) {
        let dir = data_dir.join(JOURNAL);
        std::fs::create_dir_all(&dir).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        // Written in the log's format by a log of its own, then moved.
        let log = LogFiles::open(scratch.path(), 0).unwrap();
        let filler: Vec<Vec<u8>> = (1..first).map(commit_bytes).collect();
        let filler: Vec<(u64, &[u8])> = (1..first)
            .zip(&filler)
            .map(|(p, b)| (p, b.as_slice()))
            .collect();
        log.append(&filler).unwrap();
        drop(log);
        let log = LogFiles::open(scratch.path(), 0).unwrap();
        let payloads: Vec<Vec<u8>> = positions.clone().map(commit_bytes).collect();
        let records: Vec<(u64, &[u8])> = positions
            .zip(&payloads)
            .map(|(p, b)| (p, b.as_slice()))
            .collect();
        log.append(&records).unwrap();
        drop(log);
        std::fs::copy(
            scratch
                .path()
                .join(log_files::DIR)
                .join(format!("{first:020}.log")),
            dir.join(format!("{first:020}.log")),
        )
        .unwrap();
    }

    #[test]
    fn sleds_commits_and_the_journals_after_them_move_into_the_log_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(dir.path(), 1 << 20).unwrap();
        let tree = disk.tree().unwrap();
        for position in 1..=5 {
            tree.insert(position_key(Space::Log, position), commit_bytes(position))
                .unwrap();
        }
        // The journal repeats 4–5 (sled flushed them) and goes on to 7.
        journal_file(dir.path(), 4, 4..=7);
        migrate(&disk).unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 7);
        for position in 1..=7 {
            assert_eq!(log.read(position).unwrap().unwrap(), commit_bytes(position));
        }
        drop(log);
        assert!(!dir.path().join(JOURNAL).exists());
        assert_eq!(tree.scan_prefix(key(Space::Log, &[])).count(), 0);
        assert!(tree.get(meta_key(MARK)).unwrap().is_some());
        // Moved once: a second open leaves the files as they are.
        migrate(&disk).unwrap();
        assert_eq!(LogFiles::open(dir.path(), 0).unwrap().last_position(), 7);
    }

    #[test]
    fn a_move_cut_short_before_the_mark_begins_again() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(dir.path(), 1 << 20).unwrap();
        let tree = disk.tree().unwrap();
        for position in 1..=3 {
            tree.insert(position_key(Space::Log, position), commit_bytes(position))
                .unwrap();
        }
        // What a move cut short left: part of the log in files.
        let log = LogFiles::open(dir.path(), 0).unwrap();
        log.append(&[(1, b"commit 1".as_slice())]).unwrap();
        drop(log);
        migrate(&disk).unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 3);
        assert_eq!(log.read(3).unwrap().unwrap(), commit_bytes(3));
    }

    #[test]
    fn a_sled_database_made_anew_beside_the_log_files_leaves_them_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        log.append(&[(1, b"commit 1".as_slice()), (2, b"commit 2".as_slice())])
            .unwrap();
        drop(log);
        // No mark, no log in sled, no journal: nothing to move.
        let disk = Disk::open(dir.path(), 1 << 20).unwrap();
        migrate(&disk).unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 2);
        assert_eq!(log.read(2).unwrap().unwrap(), b"commit 2");
    }

    #[test]
    fn a_gap_between_sled_and_the_journal_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(dir.path(), 1 << 20).unwrap();
        let tree = disk.tree().unwrap();
        tree.insert(position_key(Space::Log, 1), commit_bytes(1))
            .unwrap();
        journal_file(dir.path(), 3, 3..=4);
        assert!(matches!(migrate(&disk), Err(StoreError::Corrupt(_))));
        assert!(tree.get(meta_key(MARK)).unwrap().is_none());
    }
}
