//! The embedded log's journal: each group commit's commits appended to a
//! file of our own and made durable with one `fdatasync` before anyone is
//! answered. sled takes the same batch (log, indexes, read models) without
//! a flush of its own; it flushes now and then, and what a crash took from
//! it is replayed from here at the next open. A file is removed once sled
//! has flushed every commit it holds.
//!
//! Files are `journal/<first position, 20 digits>.log`. A record is
//! `u32 length ‖ u32 CRC-32 of (position ‖ payload) ‖ u64 position ‖
//! payload`, numbers big-endian, the payload a commit as the log stores it.
//! A record cut short or failing its CRC ends the journal: a crash in the
//! middle of an append leaves one at the end of the last file, which the
//! open cuts off (nothing in it was acknowledged). Each open appends to
//! a new file, never to one an earlier process wrote.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The journal's directory, in the data directory.
const DIR: &str = "journal";

/// A file's size past which the next append starts a new one: what an
/// open after a crash reads at most, besides files sled has not flushed.
const FILE_BYTES: u64 = 16 << 20;

/// Bytes before a record's payload.
const HEAD: usize = 16;

/// The largest payload a record may claim (a commit is far smaller): a
/// longer claim is a torn or corrupt record.
const MAX_PAYLOAD: u32 = 256 << 20;

pub(crate) struct Journal {
    dir: PathBuf,
    /// The file appended to, the position of its first record, and the
    /// length of what it holds whole.
    file: File,
    first: u64,
    len: u64,
    /// The files before it, by their first position.
    older: Vec<(u64, PathBuf)>,
}

/// A record read back: its position and payload.
pub(crate) type Record = (u64, Vec<u8>);

impl Journal {
    /// Opens the journal in `data_dir`, making it where missing (its next
    /// record at `after + 1`), and returns the records past `after` (the
    /// position sled holds), in order, for the caller to replay. A torn
    /// record at the end is cut off; one anywhere else, or a gap between
    /// `after` and the records, is corruption.
    pub(crate) fn open(data_dir: &Path, after: u64) -> Result<(Self, Vec<Record>), StoreError> {
        let dir = data_dir.join(DIR);
        let io = |what: &Path, e: io::Error| StoreError::Io(format!("{}: {e}", what.display()));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let path = entry.map_err(|e| io(&dir, e))?.path();
            let first = path
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|_| path.extension().is_some_and(|e| e == "log"))
                .and_then(|s| s.parse::<u64>().ok());
            match first {
                Some(first) => files.push((first, path)),
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "{} is not a journal file",
                        path.display()
                    )))
                }
            }
        }
        files.sort();
        let mut records = Vec::new();
        let mut next = None;
        let count = files.len();
        for (i, (first, path)) in files.iter().enumerate() {
            let last_file = i + 1 == count;
            let (read, whole) = read_file(path, *first).map_err(|e| io(path, e))?;
            if whole < std::fs::metadata(path).map_err(|e| io(path, e))?.len() {
                if !last_file {
                    return Err(StoreError::Corrupt(format!(
                        "{} holds a record cut short or corrupt before the journal's last file",
                        path.display()
                    )));
                }
                tracing::warn!(file = %path.display(), at = whole, "cutting off a journal record a crash left unfinished");
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| io(path, e))?;
                file.set_len(whole).map_err(|e| io(path, e))?;
                file.sync_all().map_err(|e| io(path, e))?;
            }
            for (position, payload) in read {
                // Only what the store lacks must follow on: files of what
                // it holds may be gone in any order (`prune`, `clear`).
                match next {
                    Some(expected)
                        if position > after && expected > after && position != expected =>
                    {
                        return Err(StoreError::Corrupt(format!(
                            "the journal jumps from position {} to {position}",
                            expected - 1
                        )));
                    }
                    _ => {}
                }
                next = Some(position + 1);
                if position > after {
                    records.push((position, payload));
                }
            }
        }
        if let Some((first, _)) = records.first() {
            if *first != after + 1 {
                return Err(StoreError::Corrupt(format!(
                    "the store holds the log through position {after}, and its journal goes on from {first}"
                )));
            }
        }
        let next = next.unwrap_or(after + 1);
        if next <= after {
            // The store holds all the journal does (a journal written
            // before the store last flushed, or none at all): begin anew.
            for (_, path) in files.drain(..) {
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            }
        }
        let next = next.max(after + 1);
        // Appends go to a file of their own, never to one an earlier
        // process wrote: after a failed sync (the process exits, and the
        // page cache may still show what never reached the disk) the
        // records after it would be synced, and the lost ones between
        // would cut them off at the next open. A file named for `next`
        // holds no whole record (an open that stopped before its first
        // append, or a first record cut off above).
        if files.last().is_some_and(|(first, _)| *first == next) {
            files.pop();
        }
        let (first, path) = (next, dir.join(name(next)));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let len = file.metadata().map_err(|e| io(&path, e))?.len();
        sync_dir(&dir).map_err(|e| io(&dir, e))?;
        Ok((
            Self {
                dir,
                file,
                first,
                len,
                older: files,
            },
            records,
        ))
    }

    /// Refuses a data directory whose journal holds records, for a replica:
    /// commits of the embedded log that sled had not flushed when it
    /// stopped would be ignored for good. Started once on the embedded log
    /// and stopped cleanly, the directory has none.
    pub(crate) fn refuse_records(data_dir: &Path) -> Result<(), StoreError> {
        let dir = data_dir.join(DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            if entry.metadata().is_ok_and(|m| m.len() > 0) {
                return Err(StoreError::Corrupt(format!(
                    "{} holds commits of the embedded log that its store has not taken yet: start it once on the embedded log and stop it cleanly before it serves a replica",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// Appends `records` (consecutive positions, following the last one)
    /// and makes them durable. A failed write is cut back off
    /// (`StoreError::Io`: the caller answers none of them and may go on
    /// once the disk recovers); a failed sync, or a failed write that
    /// cannot be cut off, is `StoreError::Wedged`: the page cache may have
    /// dropped what it could not write, and only a new process reads what
    /// the disk holds.
    pub(crate) fn append(&mut self, records: &[(u64, &[u8])]) -> Result<(), StoreError> {
        let Some(&(first, _)) = records.first() else {
            return Ok(());
        };
        let io = |e: io::Error| StoreError::Io(format!("cannot write the journal: {e}"));
        if self.len >= FILE_BYTES || (self.len == 0 && self.first != first) {
            self.start_file(first).map_err(io)?;
        }
        let mut bytes = Vec::with_capacity(records.iter().map(|(_, p)| HEAD + p.len()).sum());
        for (position, payload) in records {
            encode(&mut bytes, *position, payload);
        }
        if let Err(e) = self.file.write_all(&bytes) {
            if let Err(cut) = self.file.set_len(self.len) {
                // Appends after what the failed write left would be cut off
                // with it at the next open: only a new process, cutting
                // the torn end, goes on safely.
                return Err(StoreError::Wedged(format!(
                    "cannot write the journal ({e}) nor cut the failed write off ({cut})"
                )));
            }
            return Err(io(e));
        }
        self.file
            .sync_data()
            .map_err(|e| StoreError::Wedged(format!("cannot sync the journal: {e}")))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Removes the files whose every record is at or before `through` (sled
    /// has flushed them). The file appended to stays.
    pub(crate) fn prune(&mut self, through: u64) {
        let current = self.first;
        let mut kept = Vec::new();
        let older = std::mem::take(&mut self.older);
        let mut iter = older.into_iter().peekable();
        while let Some((first, path)) = iter.next() {
            // A file ends where the next one starts.
            let next_first = iter.peek().map_or(current, |(f, _)| *f);
            if next_first <= through + 1 {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove a journal file sled has flushed");
                    kept.push((first, path));
                }
            } else {
                kept.push((first, path));
            }
        }
        self.older = kept;
    }

    /// Removes every file, once sled has flushed all they hold (a clean
    /// stop): the next open begins the journal anew and reads nothing.
    pub(crate) fn clear(self) {
        let Self {
            dir, file, older, ..
        } = self;
        drop(file);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a journal file sled has flushed");
            }
        }
        drop(older);
        let _ = sync_dir(&dir);
    }

    /// Starts a new file whose first record is at `first`.
    fn start_file(&mut self, first: u64) -> io::Result<()> {
        let path = self.dir.join(name(first));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        sync_dir(&self.dir)?;
        let old = std::mem::replace(&mut self.file, file);
        drop(old);
        let old_path = self.dir.join(name(self.first));
        if self.len == 0 {
            // Named for a position its first record would not have had.
            std::fs::remove_file(&old_path)?;
        } else {
            self.older.push((self.first, old_path));
        }
        self.first = first;
        self.len = 0;
        Ok(())
    }
}

fn name(first: u64) -> String {
    format!("{first:020}.log")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn crc(position: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&position.to_be_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn encode(out: &mut Vec<u8>, position: u64, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc(position, payload).to_be_bytes());
    out.extend_from_slice(&position.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The whole records of the file at `path` (whose first record is at
/// `first`), and the length they take: where the first torn one begins.
fn read_file(path: &Path, first: u64) -> io::Result<(Vec<Record>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut expected = first;
    while let Some(head) = bytes.get(at..at + HEAD) {
        let word = |i: usize| u32::from_be_bytes(head[i..i + 4].try_into().unwrap_or_default());
        let (len, sum) = (word(0), word(4));
        let position = u64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
        if len > MAX_PAYLOAD || position != expected {
            break;
        }
        let Some(payload) = bytes.get(at + HEAD..at + HEAD + len as usize) else {
            break;
        };
        if crc(position, payload) != sum {
            break;
        }
        records.push((position, payload.to_vec()));
        at += HEAD + len as usize;
        expected += 1;
    }
    Ok((records, at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(journal: &mut Journal, from: u64, n: u64) {
        let payloads: Vec<Vec<u8>> = (from..from + n)
            .map(|p| format!("commit {p}").into_bytes())
            .collect();
        let records: Vec<(u64, &[u8])> = (from..from + n)
            .zip(&payloads)
            .map(|(p, b)| (p, b.as_slice()))
            .collect();
        journal.append(&records).unwrap();
    }

    #[test]
    fn records_past_the_stores_position_come_back_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, tail) = Journal::open(dir.path(), 0).unwrap();
        assert!(tail.is_empty());
        append(&mut journal, 1, 3);
        append(&mut journal, 4, 2);
        drop(journal);
        let (_, tail) = Journal::open(dir.path(), 2).unwrap();
        let positions: Vec<u64> = tail.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, [3, 4, 5]);
        assert_eq!(tail[0].1, b"commit 3");
        // The store ahead of the journal: nothing to replay.
        let (mut journal, tail) = Journal::open(dir.path(), 9).unwrap();
        assert!(tail.is_empty());
        // and the journal begins again after the store.
        append(&mut journal, 10, 1);
        drop(journal);
        let (_, tail) = Journal::open(dir.path(), 9).unwrap();
        assert_eq!(tail, vec![(10, b"commit 10".to_vec())]);
    }

    #[test]
    fn a_record_cut_short_at_the_end_is_cut_off_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, 1, 2);
        drop(journal);
        let path = dir.path().join(DIR).join(name(1));
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut torn = Vec::new();
        encode(&mut torn, 3, b"commit 3");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() - 2]).unwrap();
        drop(file);

        let (mut journal, tail) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(tail.len(), 2, "the torn record is not replayed");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        append(&mut journal, 3, 1);
        drop(journal);
        let (_, tail) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(tail.len(), 3);
        assert_eq!(tail[2], (3, b"commit 3".to_vec()));
    }

    #[test]
    fn each_open_appends_to_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, 1, 2);
        drop(journal);
        let first = dir.path().join(DIR).join(name(1));
        let written = std::fs::read(&first).unwrap();
        // The process that wrote it is gone (it may have exited on a failed
        // sync): the next one leaves its file as it found it.
        let (mut journal, tail) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(tail.len(), 2);
        append(&mut journal, 3, 1);
        assert_eq!(std::fs::read(&first).unwrap(), written);
        assert!(dir.path().join(DIR).join(name(3)).exists());
        // Opened again before its first append, it takes the same file.
        drop(journal);
        let (journal, _) = Journal::open(dir.path(), 3).unwrap();
        drop(journal);
        let (mut journal, tail) = Journal::open(dir.path(), 3).unwrap();
        assert!(tail.is_empty());
        append(&mut journal, 4, 1);
        drop(journal);
        let (_, tail) = Journal::open(dir.path(), 0).unwrap();
        let positions: Vec<u64> = tail.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, [1, 2, 3, 4]);
        // Once sled holds 1–3, only the file of 4 is left.
        let (mut journal, _) = Journal::open(dir.path(), 3).unwrap();
        journal.prune(3);
        let left: Vec<_> = std::fs::read_dir(dir.path().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(left, [name(4), name(5)]);
    }

    #[test]
    fn a_gap_between_the_store_and_the_journal_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 10).unwrap();
        append(&mut journal, 11, 2);
        drop(journal);
        assert!(matches!(
            Journal::open(dir.path(), 5),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn files_sled_has_flushed_are_removed_and_the_rest_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, 1, 2);
        journal.start_file(3).unwrap();
        append(&mut journal, 3, 2);
        journal.start_file(5).unwrap();
        append(&mut journal, 5, 1);
        let files = || std::fs::read_dir(dir.path().join(DIR)).unwrap().count();
        assert_eq!(files(), 3);
        journal.prune(3);
        assert_eq!(files(), 2, "the file of 1–2 goes; 3–4 holds 4");
        journal.prune(4);
        assert_eq!(files(), 1, "the file appended to stays");
        drop(journal);
        let (_, tail) = Journal::open(dir.path(), 4).unwrap();
        assert_eq!(tail, vec![(5, b"commit 5".to_vec())]);
        // A file of what the store holds gone out of order (a kill in the
        // middle of `clear`): no matter; one of what it lacks: corruption.
        let path = |first| dir.path().join(DIR).join(name(first));
        std::fs::write(path(1), {
            let mut bytes = Vec::new();
            encode(&mut bytes, 1, b"commit 1");
            bytes
        })
        .unwrap();
        let (_, tail) = Journal::open(dir.path(), 4).unwrap();
        assert_eq!(tail, vec![(5, b"commit 5".to_vec())]);
        assert!(matches!(
            Journal::open(dir.path(), 1),
            Err(StoreError::Corrupt(_))
        ));
        // A clean stop, sled holding everything: nothing is left to read.
        let (journal, _) = Journal::open(dir.path(), 4).unwrap();
        journal.clear();
        assert_eq!(files(), 0);
        let (_, tail) = Journal::open(dir.path(), 5).unwrap();
        assert!(tail.is_empty());
    }
}
