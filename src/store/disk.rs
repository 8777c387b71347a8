//! The sled database behind a slot the writer can refill.
//!
//! sled latches an I/O error: once a flush fails, every later write fails
//! too, until the database is opened again. Reopening needs every handle of
//! the old one gone (sled locks its files), so no one keeps a handle: each
//! read or write takes one from here for the time it works, and the writer
//! empties the slot, waits for the last handle to go, and opens anew.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::sync::{DurableFiles, Synced};
use super::torn::TornMark;
use super::StoreError;

/// The name of the tree that holds every keyspace.
const TREE: &str = "answerlog";

/// How long a reopen waits for readers to let go of the old handles.
pub(super) const LET_GO: Duration = Duration::from_secs(10);

/// How long an open waits for a database closed a moment ago to let go of
/// its lock.
pub(super) const OPEN_PATIENCE: Duration = Duration::from_secs(3);

pub(crate) struct Disk {
    /// The data directory.
    path: PathBuf,
    /// Where sled's files are: the data directory, or the directory a
    /// compaction wrote (`compaction.rs`).
    sled: PathBuf,
    cache_bytes: u64,
    slot: RwLock<Option<sled::Tree>>,
    /// The files a flush wrote, which the store syncs itself (`sync.rs`):
    /// opened with the database, and again when it is reopened. Taken by
    /// whoever flushes, for the flush and the sync.
    files: Mutex<Option<DurableFiles>>,
    /// Set once the store has stopped and let go of the database.
    closed: std::sync::atomic::AtomicBool,
    /// Where a batch sled applied in part is recorded (`torn.rs`).
    torn: TornMark,
}

impl Disk {
    pub(crate) fn open(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let sled = super::sled_dir::settle(path)?;
        let tree = open_tree_waiting(&sled, cache_bytes, OPEN_PATIENCE)?;
        let files = open_files(&sled)?;
        let torn = TornMark::open(path)?;
        Ok(Self {
            path: path.to_owned(),
            sled,
            cache_bytes,
            slot: RwLock::new(Some(tree)),
            files: Mutex::new(Some(files)),
            closed: std::sync::atomic::AtomicBool::new(false),
            torn,
        })
    }

    /// The mark of a batch sled applied in part.
    pub(crate) fn torn(&self) -> &TornMark {
        &self.torn
    }

    /// Makes everything written to `tree` so far durable: sled's `flush`
    /// (which writes it out, ending with `sync_file_range`), then a real
    /// `fdatasync` of every file it wrote (`sync.rs`). What a caller is
    /// told is durable must have passed through here.
    pub(crate) fn flush(&self, tree: &sled::Tree) -> Result<Synced, StoreError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        tree.flush()?;
        let files = files.as_mut().ok_or_else(|| {
            StoreError::Io("the store is reopening after a storage failure".into())
        })?;
        // A failed fdatasync is not retried in this process: Linux may
        // have marked the pages clean, so a reopened database would read
        // back what never reached the disk as if it had.
        files
            .sync()
            .map_err(|e| StoreError::Wedged(format!("cannot sync the database: {e}")))
    }

    /// A handle to the tree, for one read or one write; UNAVAILABLE while
    /// the store is being reopened after a storage failure.
    pub(crate) fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                if self.closed.load(std::sync::atomic::Ordering::Acquire) {
                    StoreError::Closed("the store has stopped".into())
                } else {
                    StoreError::Io("the store is reopening after a storage failure".into())
                }
            })
    }

    /// Lets go of the database once the writer has stopped, so that its
    /// files are unlocked even while tasks that read it still wind down.
    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        drop(self.slot.write().unwrap_or_else(|e| e.into_inner()).take());
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database and opens it again so that sled writes the
    /// recovery snapshot the next open starts from. sled 0.34 writes one
    /// only as it opens (`snapshot_after_ops` is ignored), so without this
    /// the next start reads every log segment written since this open:
    /// seconds for a store filled in one run. Done once writes have
    /// stopped (a clean shutdown, the end of an offline rebuild); it takes
    /// as long as that next open would have.
    pub(crate) fn snapshot_for_next_open(&self) {
        let started = Instant::now();
        match self.reopen() {
            Ok(()) => tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "sled wrote its recovery snapshot"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "sled could not write its recovery snapshot; the next start will read its log")
            }
        }
    }

    /// Closes the database and opens it again, so that a latched I/O
    /// error is cleared and what is in memory but not on disk is dropped.
    /// Blocks until readers let go of their handles (they hold them for
    /// one query). On error the slot stays empty and a later reopen may
    /// succeed; `Wedged` when sled hangs as it closes (after some I/O
    /// errors it waits forever for a buffer it will never write) or its
    /// files stay locked: then only a new process can open the database.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        let old = self.slot.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(self.files.lock().unwrap_or_else(|e| e.into_inner()).take());
        // sled flushes what it can as the last handle goes, and may hang
        // doing so: close on a thread of its own, and wait a while.
        let (closed, on_close) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("answerlog-close".into())
            .spawn(move || {
                drop(old);
                let _ = closed.send(());
            })
            .map_err(|e| StoreError::Io(format!("cannot start a thread: {e}")))?;
        if on_close.recv_timeout(LET_GO).is_err() {
            return Err(StoreError::Wedged(format!(
                "sled did not close within {} s",
                LET_GO.as_secs()
            )));
        }
        // A reader may still hold an old handle: the lock is taken until
        // it lets go.
        match open_tree_waiting(&self.sled, self.cache_bytes, LET_GO) {
            Ok(tree) => {
                let files = open_files(&self.sled)?;
                *self.files.lock().unwrap_or_else(|e| e.into_inner()) = Some(files);
                *self.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(tree);
                Ok(())
            }
            Err(StoreError::Io(why)) if is_locked(&why) => Err(StoreError::Wedged(why)),
            Err(e) => Err(e),
        }
    }
}

/// The files of the database sled has just opened in `path`, with what
/// sled created as it opened made durable.
fn open_files(path: &Path) -> Result<DurableFiles, StoreError> {
    DurableFiles::open(path)
        .map_err(|e| StoreError::Io(format!("cannot sync the new database: {e}")))
}

/// Whether sled failed to open because another handle holds the lock.
fn is_locked(why: &str) -> bool {
    why.contains("could not acquire lock")
}

/// Opens the tree, waiting up to `patience` while its file lock is taken:
/// sled's IO threads keep it for a moment after a database's last handle
/// goes (a restart in one process, or right after a clean stop). Another
/// live process holding it fails after `patience`.
fn open_tree_waiting(
    path: &Path,
    cache_bytes: u64,
    patience: Duration,
) -> Result<sled::Tree, StoreError> {
    Ok(open_db_waiting(path, cache_bytes, patience)?.open_tree(TREE)?)
}

/// sled's database in `path`, waiting up to `patience` for a process that
/// closed it a moment ago to let go of its lock.
pub(super) fn open_db_waiting(
    path: &Path,
    cache_bytes: u64,
    patience: Duration,
) -> Result<sled::Db, StoreError> {
    let give_up = Instant::now() + patience;
    loop {
        match open_db(path, cache_bytes) {
            Err(StoreError::Io(why)) if is_locked(&why) && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(StoreError::Io(why)) if is_locked(&why) => {
                // sled's own words quote the OS error's Debug form.
                return Err(StoreError::Io(format!(
                    "the data directory {} is in use by another process (could not acquire lock on its database): stop that answerlog (serve, rebuild or restore), or choose another --data-dir",
                    path.display()
                )));
            }
            other => return other,
        }
    }
}

fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    remove_unfinished_snapshots(path)?;
    Ok(sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // Only the writer's flush syncs: the flush policy is ours.
        .flush_every_ms(None)
        .open()?)
}

/// Removes the snapshot files sled had not finished writing. sled writes a
/// snapshot to `snap.<lsn>.generating`, syncs it and renames it; a crash or
/// a full disk in between leaves the file, and sled 0.34 then takes it for
/// the newest snapshot and refuses to open ("corrupt snapshot file found",
/// spacejam/sled#1527). It is never a finished snapshot, and the log behind
/// the last finished one holds everything, so it can go.
fn remove_unfinished_snapshots(path: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::Io(e.to_string()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %name, "removing a snapshot sled did not finish writing");
            std::fs::remove_file(entry.path())
                .map_err(|e| StoreError::Io(format!("{}: {e}", entry.path().display())))?;
        }
    }
    Ok(())
}

/// The bytes a directory takes on disk (blocks allocated, not lengths).
pub(crate) fn bytes_on_disk(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => bytes_on_disk(&entry.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
