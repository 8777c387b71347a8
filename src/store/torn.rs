//! What sled may have written in part when it failed, and its repair at
//! the next start.
//!
//! sled 0.34 makes a batch crash-atomic with a manifest it writes into the
//! log ahead of the batch's records and fills in once the last one is in.
//! When an I/O error strikes in the middle of `apply_batch` (a full disk as
//! it writes a blob file or a full log buffer), the manifest is cancelled
//! and the records already in the log stay: recovery then keeps the first
//! part of the batch (a command entry whose commit is missing, a read model
//! past the log) as if it were whole. Closing the database makes it worse:
//! sled writes what it holds, and may hang doing so.
//!
//! Key by key is no better after an I/O error: recovery skips a record
//! whose blob file a failed write left missing and keeps the records after
//! it, so the embedded log's applier, whose writes a crash cuts to a
//! prefix, can leave a writer state without the chain record before it.
//!
//! So when sled fails with writes it has not flushed (`apply_batch` on a
//! replica, the applier's writes or flush on the embedded log, a flush or
//! close that hangs), the store records where it stood at sled's last
//! successful flush in a mark beside the database (a small file made at
//! open, so that marking needs no new disk space), synced, and never lets
//! sled close the failed database: once the disk has room it exits for its
//! supervisor to restart it. The next open finds the mark and repairs:
//! whatever lies past the marked position (log, chain, suggestions, command
//! and stream entries) is removed, the writer state is the marked one, and
//! the read models are dropped, for the start to derive them again from
//! the log. Then the mark is cleared.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::health::EXIT_WEDGED;
use super::keys::CHECKPOINT;
use super::keys::{meta_key, position_key, Space, RETIRED_READ_MODELS};
use super::writer_state::WriterState;
use super::StoreError;

/// The mark's file in the data directory.
const FILE: &str = "torn-batch";

/// What an armed mark starts with.
const MAGIC: &[u8; 8] = b"TORNv1\0\0";

/// The mark's size: made with it at open, so that arming it overwrites
/// blocks it already has.
const SIZE: usize = 4096;

/// How many removals one repair batch holds.
const CHUNK: usize = 10_000;

/// The mark beside a database.
pub(crate) struct TornMark {
    path: PathBuf,
    file: File,
    /// Held while the mark is written: the applier and the writer may
    /// both arm it.
    writing: Mutex<()>,
}

impl TornMark {
    /// Opens the mark in `dir`, making it (cleared, full size, synced)
    /// where it is missing.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE);
        let io = |e: io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() < SIZE as u64 {
            file.write_all_at(&[0; SIZE], 0).map_err(io)?;
            file.sync_all().map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(Self {
            path,
            file,
            writing: Mutex::new(()),
        })
    }

    /// Records that a batch failed in the middle of being applied, and
    /// where the store stood before it. Synced before it returns.
    pub(crate) fn arm(&self, before: &WriterState) -> io::Result<()> {
        let state = before.encode();
        let mut record = Vec::with_capacity(MAGIC.len() + 4 + state.len());
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&(state.len() as u32).to_be_bytes());
        record.extend_from_slice(&state);
        let _writing = super::lock(&self.writing);
        self.file.write_all_at(&record, 0)?;
        self.file.sync_data()
    }

    /// Arms the mark with `before` after sled's failure (`failure` says
    /// which, for the log), or, if the mark cannot be written, ends the
    /// process with status `EXIT_WEDGED` now: unmarked, the part sled
    /// wrote could be taken for whole by the next open, so sled must not
    /// write more of it.
    pub(crate) fn arm_or_exit(&self, before: &WriterState, failure: &str) {
        match self.arm(before) {
            Ok(()) => tracing::error!(
                position = before.last_position,
                "{failure}: the mark is armed, and the next start repairs the store back to sled's last flush"
            ),
            Err(e) => {
                tracing::error!(error = %e, "{failure}, and the mark cannot be written; exiting with status {EXIT_WEDGED}");
                std::process::exit(EXIT_WEDGED);
            }
        }
    }

    /// The state the store stood at before a batch applied in part, if
    /// the mark is armed.
    pub(crate) fn armed(&self) -> Result<Option<WriterState>, StoreError> {
        let mut head = [0u8; SIZE];
        self.file
            .read_exact_at(&mut head, 0)
            .map_err(|e| StoreError::Io(format!("{}: {e}", self.path.display())))?;
        if head[..MAGIC.len()] != MAGIC[..] {
            return Ok(None);
        }
        let corrupt = || {
            StoreError::Corrupt(format!(
                "{} is armed but unreadable: the position to repair to is unknown",
                self.path.display()
            ))
        };
        let len = head
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(corrupt)? as usize;
        let state = head.get(12..12 + len).ok_or_else(corrupt)?;
        let (state, _) = WriterState::decode(state).ok_or_else(corrupt)?;
        Ok(Some(state))
    }

    /// Clears the mark once the repair is durable.
    pub(crate) fn clear(&self) -> io::Result<()> {
        let _writing = super::lock(&self.writing);
        self.file.write_all_at(&[0; SIZE], 0)?;
        self.file.sync_data()
    }
}

/// What a repair removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Repaired {
    /// Log positions, chain hashes and suggestions past the marked state.
    pub(crate) past_the_mark: u64,
    /// Read-model records, of every generation.
    pub(crate) read_models: u64,
}

/// Removes from `tree` everything a batch past `before` may have left,
/// and the read models, and makes `before` the writer state. Idempotent:
/// a repair cut short is done again at the next open, the mark still armed.
pub(crate) fn repair(tree: &sled::Tree, before: &WriterState) -> Result<Repaired, StoreError> {
    let mut removals = Removals::new(tree);
    let mut repaired = Repaired::default();
    let position = before.last_position;
    let past = |space: Space, from: u64| position_key(space, from)..=position_key(space, u64::MAX);
    for space in [Space::Log, Space::Chain, Space::Digests] {
        for item in tree.range(past(space, position.saturating_add(1))) {
            removals.remove(item?.0)?;
            repaired.past_the_mark += 1;
        }
    }
    for item in tree.range(past(
        Space::Suggestions,
        before.last_suggestion.saturating_add(1),
    )) {
        removals.remove(item?.0)?;
        repaired.past_the_mark += 1;
    }
    // Every generation: which read-model records the torn batch wrote is
    // not known, and the start derives them again from the log.
    let prefixes = Space::READ_MODELS.map(Space::prefix);
    for prefix in prefixes.into_iter().chain(RETIRED_READ_MODELS) {
        for item in tree.scan_prefix([prefix]) {
            removals.remove(item?.0)?;
            repaired.read_models += 1;
        }
    }
    let mut last = sled::Batch::default();
    last.insert(meta_key(WriterState::KEY), before.encode());
    last.insert(meta_key(CHECKPOINT), 0u64.to_be_bytes().to_vec());
    removals.finish(last)?;
    Ok(repaired)
}

/// Removals applied in batches of `CHUNK`.
struct Removals<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    held: usize,
}

impl<'a> Removals<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            batch: sled::Batch::default(),
            held: 0,
        }
    }

    fn remove(&mut self, key: sled::IVec) -> Result<(), StoreError> {
        self.batch.remove(key);
        self.held += 1;
        if self.held == CHUNK {
            self.tree.apply_batch(std::mem::take(&mut self.batch))?;
            self.held = 0;
        }
        Ok(())
    }

    /// Applies what is held with `last`'s writes.
    fn finish(self, last: sled::Batch) -> Result<(), StoreError> {
        self.tree.apply_batch(self.batch)?;
        self.tree.apply_batch(last)?;
        Ok(())
    }
}
