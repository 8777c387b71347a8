//! The log itself: every commit, in position order, in files of our own,
//! appended by the writer with one write and one `fdatasync` a group
//! commit and never rewritten. sled keeps what is derived from it (the
//! indexes and the read models), written after the callers are answered;
//! what a crash took from sled is derived again from here at the next
//! open.
//!
//! Files are `log/<first position, 20 digits>.log`. A record is
//! `u32 length ‖ u32 CRC-32 of (position ‖ payload) ‖ u64 position ‖
//! payload`, numbers big-endian, the payload a commit as the codec
//! encodes it. A record cut short or failing its CRC ends the log: a crash
//! in the middle of an append leaves one at the end of the last file,
//! which the open cuts off (nothing in it was acknowledged). Each open
//! appends to a new file, never to one an earlier process wrote (after a
//! failed sync the page cache may show what never reached the disk).
//!
//! Beside each file the writer has moved on from lies its index,
//! `<first>.idx`: each record's offset in the file (`u32`, big-endian),
//! then a CRC-32 of those bytes. An index that is missing or does not
//! match its file is derived again by reading the file through. The
//! offsets are kept in memory (4 bytes a commit), so that a read of a
//! position is one `pread`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};

use super::lock;
use super::StoreError;

/// The log's directory, in the data directory.
pub(crate) const DIR: &str = "log";

/// A file's size past which the next append starts a new one: what an
/// open reads through at most, besides files whose index is lost.
const FILE_BYTES: u64 = 16 << 20;

/// How far ahead of its records the file appended to is zero-filled: a
/// sync of a write into blocks the file already has flushes the data
/// alone, where one that grows the file flushes its size too (a
/// `fdatasync` about a third faster here: BENCHMARKS.md). A small append
/// that reaches the end writes the next stretch of zeros with its records.
const ZEROED_AHEAD: u64 = 1 << 20;

/// The zeros written ahead: untouched, they take no memory of their own.
static ZEROS: [u8; ZEROED_AHEAD as usize] = [0; ZEROED_AHEAD as usize];

/// Bytes before a record's payload.
const HEAD: usize = 16;

/// The file of a redaction in progress, which the log's directory holds
/// beside the log's files (`redaction_intent.rs`).
pub(super) const REDACTION_INTENT: &str = "redaction.pending";

/// The extension of a file being written to replace a file of the log
/// (`LogFiles::rewrite`): one left by a crash is removed at the next open.
const REWRITE: &str = "rewrite";

/// The largest payload a record may claim (a commit is far smaller): a
/// longer claim is a torn or corrupt record.
const MAX_PAYLOAD: u32 = 256 << 20;

/// The most bytes one read of a range takes at a time.
const READ_CHUNK: u64 = 1 << 20;

thread_local! {
    /// The buffer `read_range` reads chunks into, kept between calls.
    static READ_BUFFER: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// A record read back: its position and payload.
pub(crate) type Record = (u64, Vec<u8>);

/// A record to write: its position and payload.
type Payload = (u64, Vec<u8>);

/// One file of the log.
struct Segment {
    first: u64,
    path: PathBuf,
    /// Read with `pread`; the last file is also appended to.
    file: Arc<File>,
    /// Each whole record's offset.
    offsets: Vec<u32>,
    /// Where the whole records end.
    end: u64,
    /// How long the file is: zeros past `end` (`ZEROED_AHEAD`).
    allocated: u64,
}

impl Segment {
    fn count(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// The byte range of the records `from..=to` (positions in this file).
    fn span(&self, from: u64, to: u64) -> (u64, u64) {
        let at = |position: u64| -> u64 {
            let i = (position - self.first) as usize;
            self.offsets.get(i).map_or(self.end, |o| u64::from(*o))
        };
        (at(from), at(to + 1))
    }
}

/// The log's files: read by anyone, appended to by the writer alone.
pub(crate) struct LogFiles {
    dir: PathBuf,
    /// By first position; the last one is appended to.
    segments: RwLock<Vec<Segment>>,
    /// Held by an append from its write to its publication.
    appending: Mutex<()>,
    /// How many rewrites have begun (`rewrite`): a reader that read
    /// records across one sees it change.
    rewrites: std::sync::atomic::AtomicU64,
}

impl LogFiles {
    /// Opens the log in `data_dir`, making it where missing. A torn record
    /// at the end of the last file is cut off, unless it is at or before
    /// `held` (a position sled holds the indexes of: acknowledged, so a
    /// corruption, not a crash's torn end); one anywhere else, or a gap
    /// between files, is corruption. Appends go to a new file.
    pub(crate) fn open(data_dir: &Path, held: u64) -> Result<Self, StoreError> {
        let dir = data_dir.join(DIR);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
            sync_dir(data_dir).map_err(|e| io_error(data_dir, e))?;
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))? {
            let path = entry.map_err(|e| io_error(&dir, e))?.path();
            let stem = path.file_stem().and_then(|s| s.to_str());
            match path.extension().and_then(|e| e.to_str()) {
                Some("idx") => continue,
                Some("log") => {}
                // A rewrite a crash cut short: the file it was to replace
                // is whole, and a redaction in progress is done again
                // (`redaction_intent.rs`).
                Some(REWRITE) => {
                    std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
                    continue;
                }
                _ if path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(REDACTION_INTENT)) =>
                {
                    continue
                }
                _ => {
                    tracing::warn!(file = %path.display(), "not a file of the log: left alone");
                    continue;
                }
            }
            let first = stem.and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
                StoreError::Corrupt(format!("{} is not a file of the log", path.display()))
            })?;
            files.push((first, path));
        }
        files.sort();
        let count = files.len();
        let mut segments: Vec<Segment> = Vec::with_capacity(count + 1);
        for (i, (first, path)) in files.into_iter().enumerate() {
            let last_file = i + 1 == count;
            let segment = open_segment(first, &path, last_file.then_some(held))?;
            if segment.count() == 0 {
                if !last_file {
                    return Err(StoreError::Corrupt(format!(
                        "{} holds no record, and files of the log follow it",
                        path.display()
                    )));
                }
                // A file named for a position its first record would have
                // had, holding none: appends take its place below.
                std::fs::remove_file(&segment.path).map_err(|e| io_error(&segment.path, e))?;
                let _ = std::fs::remove_file(index_path(&segment.path));
                continue;
            }
            if let Some(before) = segments.last() {
                if before.first + before.count() != first {
                    return Err(StoreError::Corrupt(format!(
                        "the log jumps from position {} to {first} ({})",
                        before.first + before.count() - 1,
                        path.display()
                    )));
                }
            } else if first != 1 {
                return Err(StoreError::Corrupt(format!(
                    "the log begins at position {first}, not 1 ({})",
                    path.display()
                )));
            }
            segments.push(segment);
        }
        let next = segments.last().map_or(1, |s| s.first + s.count());
        if let Some(last) = segments.last() {
            write_index(last)?;
        }
        segments.push(new_segment(&dir, next)?);
        Ok(Self {
            dir,
            segments: RwLock::new(segments),
            appending: Mutex::new(()),
            rewrites: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The last position the log holds (0 for none).
    pub(crate) fn last_position(&self) -> u64 {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        segments.last().map_or(0, |s| s.first + s.count() - 1)
    }

    /// Appends `records` (consecutive positions, following the last one)
    /// and makes them durable. A failed write is cut back off
    /// (`StoreError::Io`: the caller answers none of them and may go on
    /// once the disk recovers); a failed sync, or a failed write that
    /// cannot be cut off, is `StoreError::Wedged`: the page cache may have
    /// dropped what it could not write, and only a new process reads what
    /// the disk holds.
    pub(crate) fn append(&self, records: &[(u64, &[u8])]) -> Result<(), StoreError> {
        let Some(&(first, _)) = records.first() else {
            return Ok(());
        };
        if let Some((position, payload)) =
            records.iter().find(|(_, p)| p.len() > MAX_PAYLOAD as usize)
        {
            return Err(StoreError::Corrupt(format!(
                "the commit at position {position} takes {} bytes, more than a record of the log holds ({MAX_PAYLOAD})",
                payload.len()
            )));
        }
        let _appending = lock(&self.appending);
        let next = self.last_position() + 1;
        if records
            .iter()
            .enumerate()
            .any(|(i, (p, _))| *p != next + i as u64)
            || first != next
        {
            return Err(StoreError::Corrupt(format!(
                "an append at position {first} does not follow the log's last position {}",
                next - 1
            )));
        }
        let io = |e: io::Error| StoreError::Io(format!("cannot write the log: {e}"));
        let (file, len, allocated) = {
            let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
            let last = segments
                .last()
                .ok_or_else(|| io(io::Error::other("no file")))?;
            (Arc::clone(&last.file), last.end, last.allocated)
        };
        let (file, len, allocated) = if len >= FILE_BYTES {
            self.start_segment(next).map_err(io)?
        } else {
            (file, len, allocated)
        };
        let was_allocated = allocated;
        let Batch {
            bytes,
            offsets,
            end,
            allocated,
        } = Batch::encode(records, len, allocated).map_err(io)?;
        // Zeros only where the file grows: what it held past `end` is
        // zeros already.
        let zeros_from = was_allocated.max(end);
        let zeros = &ZEROS[..allocated.saturating_sub(zeros_from) as usize];
        let written = file
            .write_all_at(&bytes, len)
            .and_then(|()| file.write_all_at(zeros, zeros_from));
        if let Err(e) = written {
            // Cut back to the records (the zeros ahead go too), durably:
            // what the failed write left must not come back in a file
            // that is no longer the last.
            if let Err(cut) = file.set_len(len).and_then(|()| file.sync_all()) {
                // Appends after what the failed write left would be cut off
                // with it at the next open: only a new process, cutting
                // the torn end, goes on safely.
                return Err(StoreError::Wedged(format!(
                    "cannot write the log ({e}) nor cut the failed write off ({cut})"
                )));
            }
            if let Some(last) = self
                .segments
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .last_mut()
            {
                last.allocated = len;
            }
            return Err(io(e));
        }
        file.sync_data()
            .map_err(|e| StoreError::Wedged(format!("cannot sync the log: {e}")))?;
        let mut segments = self.segments.write().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = segments.last_mut() {
            last.offsets.extend(offsets);
            last.end = end;
            last.allocated = allocated;
        }
        Ok(())
    }

    /// The payload at `position`, if the log holds it.
    pub(crate) fn read(&self, position: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((file, path, from, to)) = self.locate(position, position) else {
            return Ok(None);
        };
        let mut bytes = vec![0; (to - from) as usize];
        file.read_exact_at(&mut bytes, from)
            .map_err(|e| io_error(&path, e))?;
        let len = decode(&bytes, position)
            .map(|(payload, _)| payload.len())
            .ok_or_else(|| corrupt_record(&path, position))?;
        bytes.truncate(HEAD + len);
        bytes.drain(..HEAD);
        Ok(Some(bytes))
    }

    /// Calls `visit` with each record of `from..=to` (positions from 1 on,
    /// which the log must hold), in order: the file read a chunk at a time,
    /// each payload a slice of the chunk read, shared rather than copied (a
    /// protobuf decoder takes its `bytes` fields from it without an
    /// allocation each).
    pub(crate) fn read_range(
        &self,
        from: u64,
        to: u64,
        mut visit: impl FnMut(u64, Bytes) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut position = from.max(1);
        // A buffer this thread keeps between calls: a fresh one of a
        // chunk's size each call would be new pages, faulted in and
        // zeroed for every chunk.
        let mut buffer = READ_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        let read = self.read_chunks(&mut position, to, &mut buffer, &mut visit);
        if buffer.capacity() <= 2 * READ_CHUNK as usize {
            // (one record alone larger is not kept)
            READ_BUFFER.with(|b| *b.borrow_mut() = buffer);
        }
        read
    }

    fn read_chunks(
        &self,
        position: &mut u64,
        to: u64,
        buffer: &mut BytesMut,
        visit: &mut impl FnMut(u64, Bytes) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        while *position <= to {
            // The records of one chunk, within one file.
            let Some((file, path, start, end, last)) = self.chunk(*position, to) else {
                return Err(StoreError::Corrupt(format!(
                    "the log has no record at position {position} (it ends at {})",
                    self.last_position()
                )));
            };
            buffer.resize((end - start) as usize, 0);
            file.read_exact_at(buffer, start)
                .map_err(|e| io_error(&path, e))?;
            let chunk = std::mem::take(buffer).freeze();
            let visited = (|| -> Result<(), StoreError> {
                let mut at = 0;
                while *position <= last {
                    let (payload, len) = decode(&chunk[at..], *position)
                        .ok_or_else(|| corrupt_record(&path, *position))?;
                    visit(*position, chunk.slice_ref(payload))?;
                    at += len;
                    *position += 1;
                }
                Ok(())
            })();
            // The buffer again, unless a visitor kept a slice of it.
            *buffer = chunk.try_into_mut().unwrap_or_default();
            visited?;
        }
        Ok(())
    }

    /// The file holding `from..=to` (all in one file) and their byte range.
    fn locate(&self, from: u64, to: u64) -> Option<(Arc<File>, PathBuf, u64, u64)> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let segment = find(&segments, from)?;
        if to >= segment.first + segment.count() || from == 0 {
            return None;
        }
        let (start, end) = segment.span(from, to);
        Some((Arc::clone(&segment.file), segment.path.clone(), start, end))
    }

    /// A chunk of records from `from` on, at most `to`: its file, byte
    /// range and last position.
    fn chunk(&self, from: u64, to: u64) -> Option<(Arc<File>, PathBuf, u64, u64, u64)> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let segment = find(&segments, from)?;
        let mut last = to.min(segment.first + segment.count() - 1);
        let (start, mut end) = segment.span(from, last);
        // Whole records, at most READ_CHUNK unless one alone is larger.
        while end - start > READ_CHUNK && last > from {
            last = from + (last - from) / 2;
            end = segment.span(from, last).1;
        }
        Some((
            Arc::clone(&segment.file),
            segment.path.clone(),
            start,
            end,
            last,
        ))
    }

    /// Replaces the records at the positions `records` name with their new
    /// payloads (a redaction's: docs/AUDIT.md, "Redaction"), every other
    /// record as it was. Each file holding one is written again beside
    /// itself, made durable and renamed over the old, so that a crash
    /// leaves either file whole; the old one's bytes leave the directory
    /// with it. Appends wait meanwhile. A position the log does not hold
    /// is refused before anything is written.
    pub(crate) fn rewrite(&self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let _appending = lock(&self.appending);
        // The records each file holds, by the file's first position.
        let mut by_file: Vec<(u64, Vec<&Payload>)> = Vec::new();
        {
            let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
            for record in records {
                let segment = find(&segments, record.0).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "a rewrite of position {}, which the log does not hold",
                        record.0
                    ))
                })?;
                match by_file
                    .iter_mut()
                    .find(|(first, _)| *first == segment.first)
                {
                    Some((_, held)) => held.push(record),
                    None => by_file.push((segment.first, vec![record])),
                }
            }
        }
        self.rewrites
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for (first, replaced) in by_file {
            self.rewrite_file(first, &replaced)?;
        }
        Ok(())
    }

    /// How many rewrites have begun in this process.
    pub(crate) fn rewrites(&self) -> u64 {
        self.rewrites.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Writes the file whose first record is at `first` again with the
    /// `replaced` records' new payloads, and swaps it in.
    fn rewrite_file(&self, first: u64, replaced: &[&Payload]) -> Result<(), StoreError> {
        let (path, file, count, end, last) = {
            let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
            let at = segments
                .iter()
                .position(|s| s.first == first)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("no file of the log begins at {first}"))
                })?;
            let s = &segments[at];
            (
                s.path.clone(),
                Arc::clone(&s.file),
                s.count(),
                s.end,
                at + 1 == segments.len(),
            )
        };
        let mut old = vec![0; end as usize];
        file.read_exact_at(&mut old, 0)
            .map_err(|e| io_error(&path, e))?;
        let (mut bytes, mut offsets, mut at) = (Vec::with_capacity(old.len()), Vec::new(), 0);
        for position in first..first + count {
            let (payload, len) =
                decode(&old[at..], position).ok_or_else(|| corrupt_record(&path, position))?;
            at += len;
            let payload = match replaced.iter().find(|(p, _)| *p == position) {
                Some((_, new)) => new.as_slice(),
                None => payload,
            };
            if payload.len() > MAX_PAYLOAD as usize {
                return Err(StoreError::Corrupt(format!(
                    "the commit at position {position} would take {} bytes, more than a record holds",
                    payload.len()
                )));
            }
            offsets.push(
                u32::try_from(bytes.len())
                    .map_err(|_| StoreError::Io(format!("{} would pass 4 GiB", path.display())))?,
            );
            encode(&mut bytes, position, payload);
        }
        let written = path.with_extension(REWRITE);
        // The old index goes first: the new file's records may end where
        // the old ones did, and a crash must not leave an index of other
        // offsets that still looks like the file's (`read_index`).
        match std::fs::remove_file(index_path(&path)) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| io_error(&self.dir, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, e)),
        }
        let write = || -> io::Result<File> {
            let mut new = OpenOptions::new()
                .create(true)
                .write(true)
                .read(true)
                .truncate(true)
                .open(&written)?;
            new.write_all(&bytes)?;
            new.sync_all()?;
            std::fs::rename(&written, &path)?;
            sync_dir(&self.dir)?;
            Ok(new)
        };
        let new = write().map_err(|e| {
            let _ = std::fs::remove_file(&written);
            StoreError::Wedged(format!("cannot rewrite {}: {e}", path.display()))
        })?;
        let mut segments = self.segments.write().unwrap_or_else(|e| e.into_inner());
        let segment = segments
            .iter_mut()
            .find(|s| s.first == first)
            .ok_or_else(|| StoreError::Corrupt(format!("no file of the log begins at {first}")))?;
        segment.file = Arc::new(new);
        segment.offsets = offsets;
        segment.end = bytes.len() as u64;
        segment.allocated = segment.end;
        if !last {
            write_index(segment)?;
        }
        Ok(())
    }

    /// Seals the file appended to (cut to its records, its index written)
    /// and starts a new one whose first record is at `first`.
    fn start_segment(&self, first: u64) -> io::Result<(Arc<File>, u64, u64)> {
        let segment = new_segment(&self.dir, first).map_err(io::Error::other)?;
        let file = Arc::clone(&segment.file);
        let mut segments = self.segments.write().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = segments.last_mut() {
            seal(last).map_err(io::Error::other)?;
        }
        segments.push(segment);
        Ok((file, 0, 0))
    }
}

/// A batch of records as one write lays them down in a file.
struct Batch {
    /// The records.
    bytes: Vec<u8>,
    /// Each record's offset in the file.
    offsets: Vec<u32>,
    /// Where the records end, and where the file will: zeros between,
    /// if the write reaches the file's end.
    end: u64,
    allocated: u64,
}

impl Batch {
    /// `records` laid down from offset `at` of a file `allocated` long.
    fn encode(records: &[(u64, &[u8])], at: u64, allocated: u64) -> io::Result<Self> {
        let mut bytes = Vec::with_capacity(records.iter().map(|(_, p)| HEAD + p.len()).sum());
        let mut offsets = Vec::with_capacity(records.len());
        for (position, payload) in records {
            let offset = u32::try_from(at + bytes.len() as u64)
                .map_err(|_| io::Error::other("a log file would pass 4 GiB"))?;
            offsets.push(offset);
            encode(&mut bytes, *position, payload);
        }
        let end = at + bytes.len() as u64;
        let allocated = if end <= allocated {
            allocated
        } else if (bytes.len() as u64) < ZEROED_AHEAD / 16 {
            // The next stretch of zeros, in the same sync.
            end.div_ceil(ZEROED_AHEAD) * ZEROED_AHEAD
        } else {
            // A large batch (a bulk import's): zeros ahead of it would
            // write each byte of the file twice, for a sync whose size
            // update the batch's own write outweighs.
            end
        };
        Ok(Self {
            bytes,
            offsets,
            end,
            allocated,
        })
    }
}

/// The segment holding `position`, if any.
fn find(segments: &[Segment], position: u64) -> Option<&Segment> {
    let after = segments.partition_point(|s| s.first <= position);
    let segment = segments.get(after.checked_sub(1)?)?;
    (position < segment.first + segment.count()).then_some(segment)
}

/// A new, empty file for records from `first` on.
fn new_segment(dir: &Path, first: u64) -> Result<Segment, StoreError> {
    let path = dir.join(name(first));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .read(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    sync_dir(dir).map_err(|e| io_error(dir, e))?;
    Ok(Segment {
        first,
        path,
        file: Arc::new(file),
        offsets: Vec::new(),
        end: 0,
        allocated: 0,
    })
}

/// Cuts a file no longer appended to back to its records (the zeros
/// ahead of them go) and writes its index.
fn seal(segment: &mut Segment) -> Result<(), StoreError> {
    if segment.allocated > segment.end {
        let cut = |e| io_error(&segment.path, e);
        segment.file.set_len(segment.end).map_err(cut)?;
        segment.file.sync_all().map_err(cut)?;
        segment.allocated = segment.end;
    }
    write_index(segment)
}

/// Opens a file of the log and learns its records' offsets: from its
/// index when that matches, else by reading it through. Zeros after the
/// records (zero-filled ahead, `ZEROED_AHEAD`) are cut off; so is the
/// last file's torn end (`last` is `Some(held)` for the last file), if it
/// lies past `held`; elsewhere one is corruption.
fn open_segment(first: u64, path: &Path, last: Option<u64>) -> Result<Segment, StoreError> {
    let last_file = last.is_some();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let indexed = if last_file {
        None
    } else {
        read_index(path, &file, first, len)
    };
    let unindexed = indexed.is_none();
    let (offsets, end) = match indexed {
        Some(offsets) => (offsets, len),
        None => {
            let mut bytes = Vec::new();
            (&file)
                .read_to_end(&mut bytes)
                .map_err(|e| io_error(path, e))?;
            let (offsets, whole) = scan(&bytes, first);
            if whole < len {
                let next = first + offsets.len() as u64;
                let zeros = bytes[whole as usize..].iter().all(|b| *b == 0);
                if !zeros {
                    if !last_file || record_after(&bytes, whole as usize + 1, next).is_some() {
                        return Err(StoreError::Corrupt(format!(
                            "{} holds a corrupt record at position {next} (byte {whole}) with records after it: not the end a crash leaves",
                            path.display()
                        )));
                    }
                    if last.is_some_and(|held| next <= held) {
                        return Err(StoreError::Corrupt(format!(
                            "{} holds a corrupt record at position {next} (byte {whole}), which was acknowledged (the store's indexes hold it): not the end a crash leaves",
                            path.display()
                        )));
                    }
                    tracing::warn!(file = %path.display(), at = whole, "cutting off a log record a crash left unfinished");
                } else if !last_file {
                    tracing::warn!(file = %path.display(), at = whole, "cutting off the zeros after the records of a file a crash left unsealed");
                }
                file.set_len(whole).map_err(|e| io_error(path, e))?;
                file.sync_all().map_err(|e| io_error(path, e))?;
            }
            let offsets = offsets
                .into_iter()
                .map(u32::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| StoreError::Corrupt(format!("{} passes 4 GiB", path.display())))?;
            (offsets, whole)
        }
    };
    let segment = Segment {
        first,
        path: path.to_owned(),
        file: Arc::new(file),
        offsets,
        end,
        allocated: end,
    };
    if unindexed && !last_file && segment.count() > 0 {
        write_index(&segment)?;
    }
    Ok(segment)
}

fn index_path(path: &Path) -> PathBuf {
    path.with_extension("idx")
}

/// The offsets the index of the file at `path` holds, if it is whole and
/// matches the file: its last record ends where the file does.
fn read_index(path: &Path, file: &File, first: u64, len: u64) -> Option<Vec<u32>> {
    let bytes = std::fs::read(index_path(path)).ok()?;
    let (offsets, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if offsets.len() % 4 != 0 || crc32fast::hash(offsets).to_be_bytes() != sum {
        return None;
    }
    let offsets: Vec<u32> = offsets
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let last = u64::from(*offsets.last()?);
    let mut head = [0u8; HEAD];
    file.read_exact_at(&mut head, last).ok()?;
    let (payload_len, position) = head_of(&head);
    let last_position = first + offsets.len() as u64 - 1;
    (position == last_position && last + HEAD as u64 + u64::from(payload_len) == len)
        .then_some(offsets)
}

/// Writes the index of `segment` (a file no longer appended to) and
/// makes it durable.
fn write_index(segment: &Segment) -> Result<(), StoreError> {
    let path = index_path(&segment.path);
    let mut bytes = Vec::with_capacity(segment.offsets.len() * 4 + 4);
    for offset in &segment.offsets {
        bytes.extend_from_slice(&offset.to_be_bytes());
    }
    let sum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&sum.to_be_bytes());
    let write = || -> io::Result<()> {
        let mut file = File::create(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    };
    write().map_err(|e| io_error(&path, e))
}

/// The bytes a record of a payload of `payload` bytes takes in a file.
pub(crate) fn record_len(payload: usize) -> u64 {
    (HEAD + payload) as u64
}

fn name(first: u64) -> String {
    format!("{first:020}.log")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn io_error(what: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", what.display()))
}

fn corrupt_record(path: &Path, position: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "the log's record at position {position} in {} is corrupt",
        path.display()
    ))
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

/// A record's payload length and position, from its head.
fn head_of(head: &[u8; HEAD]) -> (u32, u64) {
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let position = u64::from_be_bytes([
        head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
    ]);
    (len, position)
}

/// The record at the start of `bytes`, if it is whole, at `position` and
/// its CRC holds: its payload and its length with the head.
fn decode(bytes: &[u8], position: u64) -> Option<(&[u8], usize)> {
    let head: &[u8; HEAD] = bytes.get(..HEAD)?.try_into().ok()?;
    let (len, at) = head_of(head);
    let sum = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_PAYLOAD || at != position {
        return None;
    }
    let payload = bytes.get(HEAD..HEAD + len as usize)?;
    (crc(position, payload) == sum).then_some((payload, HEAD + len as usize))
}

/// The offsets of the whole records at the start of `bytes` (a file whose
/// first record is at `first`), and the length they take: where the first
/// torn one begins.
fn scan(bytes: &[u8], first: u64) -> (Vec<u64>, u64) {
    let mut offsets = Vec::new();
    let mut at = 0usize;
    let mut position = first;
    while let Some((_, len)) = bytes.get(at..).and_then(|b| decode(b, position)) {
        offsets.push(at as u64);
        at += len;
        position += 1;
    }
    (offsets, at as u64)
}

/// The offset of a whole record at or after `from` in `bytes` whose
/// position is past `position` (within a million of it): a record a torn
/// append cannot have left, since nothing is written after the batch that
/// tore.
fn record_after(bytes: &[u8], from: usize, position: u64) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEAD)).find(|&at| {
        let head: &[u8; HEAD] = match bytes[at..at + HEAD].try_into() {
            Ok(head) => head,
            Err(_) => return false,
        };
        let (_, found) = head_of(head);
        found > position && found - position < 1_000_000 && decode(&bytes[at..], found).is_some()
    })
}

/// The whole records of a file in the format of the log, whose first
/// record is at `first`: for reading what an older store kept in its
/// journal (`log_migration.rs`). Stops at the first torn record.
pub(crate) fn read_records(path: &Path, first: u64) -> Result<(Vec<Record>, bool), StoreError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    let (offsets, whole) = scan(&bytes, first);
    let records = offsets
        .iter()
        .enumerate()
        .filter_map(|(i, at)| {
            let position = first + i as u64;
            let (payload, _) = decode(&bytes[*at as usize..], position)?;
            Some((position, payload.to_vec()))
        })
        .collect();
    Ok((records, whole == bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(log: &LogFiles, from: u64, n: u64) {
        let payloads: Vec<Vec<u8>> = (from..from + n)
            .map(|p| format!("commit {p}").into_bytes())
            .collect();
        let records: Vec<(u64, &[u8])> = (from..from + n)
            .zip(&payloads)
            .map(|(p, b)| (p, b.as_slice()))
            .collect();
        log.append(&records).unwrap();
    }

    /// Each run `(from, n)` appended by an open of its own (a file each).
    fn append_in_opens(dir: &Path, runs: &[(u64, u64)]) {
        for &(from, n) in runs {
            let log = LogFiles::open(dir, 0).unwrap();
            append(&log, from, n);
        }
    }

    /// A log of positions 1–3 in one file (the last), and that file.
    fn three_records(dir: &Path) -> PathBuf {
        append_in_opens(dir, &[(1, 3)]);
        dir.join(DIR).join(name(1))
    }

    /// Whether an open (sled holding `held`) refuses the log as corrupt.
    fn refused(dir: &Path, held: u64) -> bool {
        matches!(LogFiles::open(dir, held), Err(StoreError::Corrupt(_)))
    }

    fn all(log: &LogFiles) -> Vec<Record> {
        let mut out = Vec::new();
        log.read_range(1, log.last_position(), |p, b| {
            out.push((p, b.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    fn files(dir: &Path, extension: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(extension))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn what_is_appended_reads_back_by_position_and_by_range_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 0);
        assert_eq!(log.read(1).unwrap(), None);
        append(&log, 1, 3);
        append(&log, 4, 2);
        assert_eq!(log.last_position(), 5);
        assert_eq!(log.read(4).unwrap().unwrap(), b"commit 4");
        assert_eq!(log.read(6).unwrap(), None);
        assert_eq!(log.read(0).unwrap(), None);
        assert!(matches!(
            log.read_range(4, 6, |_, _| Ok(())),
            Err(StoreError::Corrupt(_))
        ));
        drop(log);
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 5);
        append(&log, 6, 1);
        let mut seen = Vec::new();
        log.read_range(2, 6, |p, b| {
            seen.push((p, b.to_vec()));
            Ok(())
        })
        .unwrap();
        let expected: Vec<Record> = (2..=6)
            .map(|p| (p, format!("commit {p}").into_bytes()))
            .collect();
        assert_eq!(seen, expected);
        // Each open appended to a file of its own, and indexed the one
        // before it.
        assert_eq!(files(dir.path(), ".log"), [name(1), name(6)]);
        assert_eq!(files(dir.path(), ".idx"), ["00000000000000000001.idx"]);
    }

    #[test]
    fn the_file_appended_to_is_zero_filled_ahead_and_cut_back_to_its_records_when_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, 1, 3);
        let path = dir.path().join(DIR).join(name(1));
        let len = || std::fs::metadata(&path).unwrap().len();
        assert_eq!(len(), ZEROED_AHEAD, "zeros ahead of the records");
        let (offsets, whole) = scan(&std::fs::read(&path).unwrap(), 1);
        assert_eq!((offsets.len(), whole), (3, 3 * (HEAD as u64 + 8)));
        drop(log);
        // The next open cuts the zeros off (no index would match them) and
        // reads the same records.
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(len(), whole);
        assert_eq!(log.read(3).unwrap().unwrap(), b"commit 3");
        // A file left with its zeros (a crash before the cut reached the
        // disk), its index written before: its records all read back.
        drop(log);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(ZEROED_AHEAD).unwrap();
        drop(file);
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 3);
        assert_eq!(all(&log).len(), 3);
        assert_eq!(len(), whole);
    }

    #[test]
    fn an_append_that_does_not_follow_the_last_position_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, 1, 2);
        assert!(matches!(
            log.append(&[(4, b"x".as_slice())]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            log.append(&[(3, b"x".as_slice()), (5, b"y".as_slice())]),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(log.last_position(), 2);
    }

    #[test]
    fn a_record_cut_short_at_the_end_is_cut_off_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, 1, 2);
        drop(log);
        let path = dir.path().join(DIR).join(name(1));
        let (_, whole) = scan(&std::fs::read(&path).unwrap(), 1);
        let mut torn = Vec::new();
        encode(&mut torn, 3, b"commit 3");
        // Written over the zeros ahead of the records, cut short.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&torn[..torn.len() - 2], whole).unwrap();
        drop(file);

        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 2, "the torn record is not read");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        append(&log, 3, 1);
        drop(log);
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(all(&log).len(), 3);
        assert_eq!(log.read(3).unwrap().unwrap(), b"commit 3");
    }

    #[test]
    fn a_file_moves_on_past_its_size_and_a_lost_or_wrong_index_is_derived_again() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        let big = vec![7u8; (FILE_BYTES / 2) as usize];
        for position in 1..=5 {
            log.append(&[(position, big.as_slice())]).unwrap();
        }
        assert_eq!(files(dir.path(), ".log").len(), 3, "two records a file");
        assert_eq!(files(dir.path(), ".idx").len(), 2);
        drop(log);
        // One index gone, one wrong: both derived again from their files.
        let first = dir.path().join(DIR).join(name(1));
        std::fs::remove_file(index_path(&first)).unwrap();
        let second = dir.path().join(DIR).join(name(3));
        std::fs::write(index_path(&second), [0, 0, 0, 0, 1, 2, 3, 4]).unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        assert_eq!(log.last_position(), 5);
        for position in 1..=5 {
            assert_eq!(log.read(position).unwrap().unwrap(), big);
        }
        let mut count = 0;
        log.read_range(2, 4, |_, b| {
            assert_eq!(b, big.as_slice());
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 3);
        assert_eq!(
            read_index(&first, &File::open(&first).unwrap(), 1, {
                std::fs::metadata(&first).unwrap().len()
            })
            .map(|o| o.len()),
            Some(2),
            "the derived index is written back"
        );
    }

    #[test]
    fn a_gap_between_files_or_a_torn_record_before_the_last_file_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        append_in_opens(dir.path(), &[(1, 2), (3, 2), (5, 2)]);
        // The file of 3–4 gone: a gap.
        let log_dir = dir.path().join(DIR);
        let middle = log_dir.join(name(3));
        let kept = std::fs::read(&middle).unwrap();
        std::fs::remove_file(&middle).unwrap();
        assert!(refused(dir.path(), 0));
        std::fs::write(&middle, kept).unwrap();
        assert_eq!(LogFiles::open(dir.path(), 0).unwrap().last_position(), 6);
        // A bit flipped in the first file, its index gone: corruption.
        let first = log_dir.join(name(1));
        let mut bytes = std::fs::read(&first).unwrap();
        bytes[HEAD] ^= 1;
        std::fs::write(&first, bytes).unwrap();
        std::fs::remove_file(index_path(&first)).unwrap();
        assert!(refused(dir.path(), 0));
    }

    #[test]
    fn a_corrupt_record_with_whole_ones_after_it_is_not_cut_off_as_a_torn_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = three_records(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        // A byte of the second record's payload changed: the third is whole.
        bytes[HEAD + "commit 1".len() + HEAD] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(refused(dir.path(), 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, len);
    }

    #[test]
    fn a_torn_end_the_store_holds_the_indexes_of_is_refused_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = three_records(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let (_, whole) = scan(&bytes, 1);
        // The last record's last byte flipped: it reads as torn.
        bytes[whole as usize - 1] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        // sled holds position 3: acknowledged, so not a crash's torn end.
        assert!(refused(dir.path(), 3));
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing cut");
        // Past what sled holds, it is cut as a torn end.
        let log = LogFiles::open(dir.path(), 2).unwrap();
        assert_eq!(log.last_position(), 2);
    }

    #[test]
    fn a_file_without_records_before_others_is_refused_and_a_stray_file_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        append_in_opens(dir.path(), &[(1, 2), (3, 1)]);
        let log_dir = dir.path().join(DIR);
        std::fs::write(log_dir.join("notes.txt"), b"an operator's").unwrap();
        assert_eq!(LogFiles::open(dir.path(), 0).unwrap().last_position(), 3);
        assert!(log_dir.join("notes.txt").exists());
        // The first file emptied (its index gone): refused, and kept.
        std::fs::write(log_dir.join(name(1)), b"").unwrap();
        std::fs::remove_file(index_path(&log_dir.join(name(1)))).unwrap();
        assert!(refused(dir.path(), 0));
        assert!(log_dir.join(name(1)).exists());
    }

    #[test]
    fn a_commit_larger_than_a_record_holds_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        let huge = vec![0u8; MAX_PAYLOAD as usize + 1];
        assert!(matches!(
            log.append(&[(1, huge.as_slice())]),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(log.last_position(), 0);
    }

    #[test]
    fn a_corrupt_record_read_by_position_is_an_error_not_a_wrong_commit() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, 1, 2);
        let path = dir.path().join(DIR).join(name(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let (_, whole) = scan(&bytes, 1);
        bytes[whole as usize - 1] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(log.read(2), Err(StoreError::Corrupt(_))));
        assert_eq!(log.read(1).unwrap().unwrap(), b"commit 1");
    }
}
