//! Where sled's files stand: in the data directory, or in the directory
//! `sled.<n>` that the file `sled-dir` names once a compaction has run.
//! A compaction writes `sled.<n + 1>`, makes it durable, then replaces
//! `sled-dir` (written beside, synced, renamed in), and only then deletes
//! the old files. A crash leaves `sled-dir` naming a whole database,
//! the old or the new; `settle`, as the store opens, deletes the other.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::StoreError;

/// The file naming the directory of sled's files, once a compaction ran.
pub(super) const POINTER: &str = "sled-dir";

/// The prefix of the directories compactions write.
pub(super) const PREFIX: &str = "sled.";

/// The files sled keeps in the directory it is given.
pub(super) fn is_sled_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.")
}

pub(super) fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

/// The directory of sled's files in `data_dir`, the files of an
/// unfinished or finished compaction that are not it deleted.
pub(super) fn settle(data_dir: &Path) -> Result<PathBuf, StoreError> {
    let pointer = data_dir.join(POINTER);
    let _ = std::fs::remove_file(pointer.with_extension("new"));
    let current = match std::fs::read_to_string(&pointer) {
        Ok(name) => {
            let name = name.trim();
            if name
                .strip_prefix(PREFIX)
                .is_none_or(|n| n.parse::<u64>().is_err())
            {
                return Err(StoreError::Corrupt(format!(
                    "{} names {name:?}, not a directory a compaction writes",
                    pointer.display()
                )));
            }
            Some(name.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&pointer, e)),
    };
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        // A data directory sled is about to make.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(data_dir.to_owned()),
        Err(e) => return Err(io(data_dir, e)),
    };
    let mut removed = false;
    for entry in entries {
        let entry = entry.map_err(|e| io(data_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let stale = match &current {
            // The old files of a compaction that finished, or other ones.
            Some(current) => (name.starts_with(PREFIX) && name != *current) || is_sled_file(&name),
            // A compaction that did not finish: its new files.
            None => name.starts_with(PREFIX),
        };
        if stale {
            tracing::warn!(file = %path.display(), "removing sled's files that a compaction left");
            match entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            }
            .map_err(|e| io(&path, e))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(data_dir)?;
    }
    Ok(match current {
        Some(name) => data_dir.join(name),
        None => data_dir.to_owned(),
    })
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}
