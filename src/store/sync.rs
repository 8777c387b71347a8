//! The real sync that sled's `flush` leaves out: `fdatasync` of every file
//! a flush wrote, and of the directory that names a new one.
//!
//! sled 0.34 ends `flush` on Linux with `sync_file_range` (its
//! `pagecache/iobuf.rs`, spacejam/sled#1452), which writes the dirty pages
//! but flushes neither the file's size, as the log file grows, nor the
//! drive's write cache: a power cut or a kernel crash could lose what a
//! SIGKILL never shows lost. Values past sled's blob threshold (a page
//! message over `segment_size / 4`, 128 KiB by default: a large commit, or
//! a leaf of sixteen 8 KiB answers) go to files under `blobs/` that sled
//! never syncs at all. So after each `flush` the store syncs the log file
//! `db` (an inode is synced from any descriptor open on it), every blob
//! file it has not synced yet, and the `blobs` directory when it gained a
//! file. Knows sled's file layout, and nothing of keys or commits.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// What one [`DurableFiles::sync`] synced, for the stats and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Synced {
    /// Blob files synced for the first time.
    pub(crate) blobs: u64,
}

/// The files of one sled database that the store syncs itself.
pub(crate) struct DurableFiles {
    dir: PathBuf,
    /// sled's log file, opened once: syncing it syncs the inode sled
    /// writes through its own descriptor.
    db: File,
    /// The blob files synced already, with the size they had then. sled
    /// writes a blob once, under a new name; one that another thread was
    /// still writing while it was synced has grown since, and is synced
    /// again.
    synced_blobs: HashMap<OsString, u64>,
}

impl DurableFiles {
    /// Opens the log file of the database sled has just opened in `dir`,
    /// and makes what sled created as it opened durable: its files, and
    /// the directory entries that name them (a new database's `db`,
    /// `conf` and `blobs`, which sled creates without syncing a
    /// directory).
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let db = File::open(dir.join("db")).map_err(|e| named(&dir.join("db"), e))?;
        let mut files = Self {
            dir: dir.to_owned(),
            db,
            synced_blobs: HashMap::new(),
        };
        for name in ["conf", "db"] {
            let path = dir.join(name);
            match File::open(&path) {
                Ok(file) => file.sync_all().map_err(|e| named(&path, e))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(named(&path, e)),
            }
        }
        sync_dir(dir)?;
        // The data directory's own name, when sled has just made it.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        sync_dir(&files.blobs_dir())?;
        files.sync_blobs()?;
        Ok(files)
    }

    /// After a `flush`: syncs the log file's data (and its size), then
    /// every blob file not synced before, then the `blobs` directory if it
    /// gained one. Only when this returns is what the flush wrote durable.
    pub(crate) fn sync(&mut self) -> io::Result<Synced> {
        self.db
            .sync_data()
            .map_err(|e| named(&self.dir.join("db"), e))?;
        let blobs = self.sync_blobs()?;
        Ok(Synced { blobs })
    }

    fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// Syncs the blob files that are new, or have grown, since the last
    /// call, then their directory; forgets the names of blobs sled has
    /// removed.
    fn sync_blobs(&mut self) -> io::Result<u64> {
        let dir = self.blobs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(named(&dir, e)),
        };
        let mut present = HashMap::with_capacity(self.synced_blobs.len());
        let mut synced = 0;
        for entry in entries {
            let entry = entry.map_err(|e| named(&dir, e))?;
            let name = entry.file_name();
            let path = entry.path();
            let size = match entry.metadata() {
                Ok(m) => m.len(),
                // Removed by sled since it was listed: nothing to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(named(&path, e)),
            };
            if self.synced_blobs.get(&name) != Some(&size) {
                match File::open(&path) {
                    Ok(file) => file.sync_data().map_err(|e| named(&path, e))?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(named(&path, e)),
                }
                synced += 1;
            }
            present.insert(name, size);
        }
        self.synced_blobs = present;
        if synced > 0 {
            sync_dir(&dir)?;
        }
        Ok(synced)
    }
}

/// Syncs a directory, so that the names of files created in it survive a
/// crash; a directory that does not exist has nothing to sync.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir) {
        Ok(handle) => handle.sync_all().map_err(|e| named(dir, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(named(dir, e)),
    }
}

/// The error, with the path it concerns.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_blob_is_synced_once_and_a_removed_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let mut files = DurableFiles::open(dir.path()).unwrap();
        assert_eq!(files.sync().unwrap(), Synced { blobs: 0 });

        std::fs::write(dir.path().join("blobs/17"), b"big value").unwrap();
        assert_eq!(files.sync().unwrap(), Synced { blobs: 1 });
        assert_eq!(files.sync().unwrap(), Synced { blobs: 0 });

        // A blob that grew after it was synced (another thread was still
        // writing it) is synced again.
        std::fs::write(dir.path().join("blobs/17"), b"big value, whole").unwrap();
        assert_eq!(files.sync().unwrap(), Synced { blobs: 1 });

        std::fs::remove_file(dir.path().join("blobs/17")).unwrap();
        std::fs::write(dir.path().join("blobs/40"), b"another").unwrap();
        assert_eq!(files.sync().unwrap(), Synced { blobs: 1 });
        assert_eq!(files.synced_blobs.len(), 1);
    }

    #[test]
    fn a_store_without_its_log_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = DurableFiles::open(dir.path()).err().unwrap();
        assert!(error.to_string().contains("/db"), "{error}");
    }
}
