//! The sled database behind a slot the writer can refill.
//!
//! sled latches an I/O error: once a flush fails, every later write fails
//! too, until the database is opened again. Reopening needs every handle of
//! the old one gone (sled locks its files), so no one keeps a handle: each
//! read or write takes one from here for the time it works, and the writer
//! empties the slot, waits for the last handle to go, and opens anew.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::StoreError;

/// The name of the tree that holds every keyspace.
const TREE: &str = "answerlog";

/// How long a reopen waits for readers to let go of the old handles.
const LET_GO: Duration = Duration::from_secs(10);

pub(crate) struct Disk {
    path: PathBuf,
    cache_bytes: u64,
    slot: RwLock<Option<sled::Tree>>,
}

impl Disk {
    pub(crate) fn open(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let tree = open_tree(path, cache_bytes)?;
        Ok(Self {
            path: path.to_owned(),
            cache_bytes,
            slot: RwLock::new(Some(tree)),
        })
    }

    /// A handle to the tree, for one read or one write; UNAVAILABLE while
    /// the store is being reopened after a storage failure.
    pub(crate) fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Io("the store is reopening after a storage failure".into()))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database and opens it again, so that a latched I/O
    /// error is cleared and what is in memory but not on disk is dropped.
    /// Blocks until readers let go of their handles (they hold them for
    /// one query) or `LET_GO` passes. On error the slot stays empty and
    /// a later reopen may succeed.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        let old = self.slot.write().unwrap_or_else(|e| e.into_inner()).take();
        // sled flushes what it can as the last handle goes; a disk that is
        // still failing refuses, and that is logged by sled.
        drop(old);
        let give_up = Instant::now() + LET_GO;
        loop {
            match open_tree(&self.path, self.cache_bytes) {
                Ok(tree) => {
                    *self.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(tree);
                    return Ok(());
                }
                // A reader still holds an old handle: the file lock is
                // taken until it lets go.
                Err(StoreError::Io(why)) if why.contains("could not acquire lock") => {
                    if Instant::now() >= give_up {
                        return Err(StoreError::Io(why));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn open_tree(path: &Path, cache_bytes: u64) -> Result<sled::Tree, StoreError> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // Only the writer's flush syncs: the flush policy is ours.
        .flush_every_ms(None)
        .open()?;
    Ok(db.open_tree(TREE)?)
}
