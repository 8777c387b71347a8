//! Compaction of sled's files, offline (`answerlog compact`): every live
//! key and value copied into a new database, which then takes the old
//! one's place; the old files, with every value sled kept for a key since
//! overwritten or removed (a redacted article's old states:
//! docs/AUDIT.md, "Redaction"), are deleted.
//!
//! Where sled's files stand, and how a crash in the middle is settled:
//! `sled_dir.rs`.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use super::disk::{bytes_on_disk, open_db_waiting, OPEN_PATIENCE};
use super::sled_dir::{io, is_sled_file, settle, sync_dir, POINTER, PREFIX};
use super::StoreError;

/// What a compaction did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compacted {
    /// The keys copied, in every tree.
    pub keys: u64,
    /// The bytes sled's files took before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Compacts the store in `data_dir`, which no process may have open.
pub(crate) fn compact(data_dir: &Path, cache_bytes: u64) -> Result<Compacted, StoreError> {
    if !data_dir.join("log").exists() {
        return Err(StoreError::Corrupt(format!(
            "{} holds no store",
            data_dir.display()
        )));
    }
    let old = settle(data_dir)?;
    let bytes_before = sled_bytes(&old)?;
    let next = match old.file_name().and_then(|n| n.to_str()) {
        Some(name) if name.starts_with(PREFIX) => name[PREFIX.len()..]
            .parse::<u64>()
            .map_err(|_| StoreError::Corrupt(format!("{} is not sled's", old.display())))?,
        _ => 0,
    } + 1;
    let name = format!("{PREFIX}{next}");
    let new = data_dir.join(&name);
    let keys = {
        let from = open_db_waiting(&old, cache_bytes, OPEN_PATIENCE)?;
        let to = open_db_waiting(&new, cache_bytes, OPEN_PATIENCE)?;
        let mut keys = 0;
        for tree_name in from.tree_names() {
            let (source, target) = (from.open_tree(&tree_name)?, to.open_tree(&tree_name)?);
            for pair in source.iter() {
                let (key, value) = pair?;
                target.insert(key, value)?;
                keys += 1;
            }
        }
        to.flush()?;
        keys
    };
    // Opened once more, so that sled writes the snapshot the next open
    // starts from; then every file it wrote made durable.
    drop(open_db_waiting(&new, cache_bytes, OPEN_PATIENCE)?);
    sync_all(&new)?;
    sync_dir(data_dir)?;
    let pointer = data_dir.join(POINTER);
    let written = pointer.with_extension("new");
    let replace = || -> std::io::Result<()> {
        let mut file = File::create(&written)?;
        file.write_all(format!("{name}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&written, &pointer)
    };
    replace().map_err(|e| io(&pointer, e))?;
    sync_dir(data_dir)?;
    // The new database is the store's: the old files go.
    settle(data_dir)?;
    Ok(Compacted {
        keys,
        bytes_before,
        bytes_after: sled_bytes(&new)?,
    })
}

/// The bytes sled's files take in `dir`.
fn sled_bytes(dir: &Path) -> Result<u64, StoreError> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        if is_sled_file(&entry.file_name().to_string_lossy()) {
            use std::os::unix::fs::MetadataExt as _;
            let meta = entry.metadata().map_err(|e| io(&entry.path(), e))?;
            bytes += match meta.is_dir() {
                true => bytes_on_disk(&entry.path()),
                false => meta.blocks() * 512,
            };
        }
    }
    Ok(bytes)
}

/// Syncs every file under `dir`, and each directory after its files.
fn sync_all(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        if entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
            sync_all(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io(&path, e))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn holds(dir: &Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().any(|entry| {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => holds(&path, needle),
                false => std::fs::read(&path)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle),
            }
        })
    }

    /// A store's sled with a value overwritten: the old one lingers in its
    /// files until a compaction.
    fn store() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("log")).unwrap();
        let db = open_db_waiting(dir.path(), 1 << 20, OPEN_PATIENCE).unwrap();
        let tree = db.open_tree("answerlog").unwrap();
        tree.insert(b"k", b"an old value that must go".as_slice())
            .unwrap();
        db.flush().unwrap();
        tree.insert(b"k", b"the new value".as_slice()).unwrap();
        tree.insert(b"other", b"kept".as_slice()).unwrap();
        db.insert(b"default tree", b"kept too".as_slice()).unwrap();
        db.flush().unwrap();
        dir
    }

    #[test]
    fn a_compaction_keeps_every_live_value_and_nothing_else() {
        let dir = store();
        assert!(holds(dir.path(), b"an old value that must go"));
        let done = compact(dir.path(), 1 << 20).unwrap();
        assert_eq!(done.keys, 3);
        assert!(!holds(dir.path(), b"an old value that must go"));
        assert_eq!(names(dir.path()), ["log", "sled-dir", "sled.1"]);
        // Opened where the pointer says, the values are there; a second
        // compaction moves on to the next directory.
        let read = |dir: &Path| {
            let db = open_db_waiting(&settle(dir).unwrap(), 1 << 20, OPEN_PATIENCE).unwrap();
            let tree = db.open_tree("answerlog").unwrap();
            (
                tree.get(b"k").unwrap().unwrap().to_vec(),
                db.get(b"default tree").unwrap().unwrap().to_vec(),
            )
        };
        assert_eq!(
            read(dir.path()),
            (b"the new value".to_vec(), b"kept too".to_vec())
        );
        compact(dir.path(), 1 << 20).unwrap();
        assert_eq!(names(dir.path()), ["log", "sled-dir", "sled.2"]);
        assert_eq!(read(dir.path()).0, b"the new value");
    }

    /// A crash before the pointer names the new files leaves the old
    /// database whole, and the new files go; one after it leaves the new,
    /// and the old files go.
    #[test]
    fn a_compaction_cut_short_settles_on_one_whole_database() {
        let dir = store();
        std::fs::create_dir(dir.path().join("sled.1")).unwrap();
        std::fs::write(dir.path().join("sled.1/db"), b"half written").unwrap();
        std::fs::write(dir.path().join("sled-dir.new"), b"sled.1\n").unwrap();
        assert_eq!(settle(dir.path()).unwrap(), dir.path());
        assert!(names(dir.path()).iter().all(|n| !n.starts_with("sled")));

        compact(dir.path(), 1 << 20).unwrap();
        // As if the old files had not been removed yet.
        std::fs::write(dir.path().join("db"), b"an old value that must go").unwrap();
        std::fs::create_dir(dir.path().join("sled.7")).unwrap();
        assert_eq!(settle(dir.path()).unwrap(), dir.path().join("sled.1"));
        assert_eq!(names(dir.path()), ["log", "sled-dir", "sled.1"]);

        std::fs::write(dir.path().join("sled-dir"), b"../elsewhere\n").unwrap();
        assert!(matches!(settle(dir.path()), Err(StoreError::Corrupt(_))));
    }
}
