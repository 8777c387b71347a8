//! The store: the append-only log and its indexes, and the writer thread
//! that appends to them with group commit.
//!
//! The only module that knows sled. It calls the `Projector` it is given
//! to keep the read models, and writes the changes its fold makes under
//! its own keys (`projected.rs`).

mod applier;
mod catch_up;
mod compaction;
mod crowding;
mod disk;
mod faults;
mod flush_gate;
mod fresh_commits;
mod health;
mod ingest;
mod job;
mod keys;
mod log_files;
mod log_index;
mod log_migration;
mod projected;
mod queries;
mod redaction_intent;
mod resolutions;
mod restore;
mod sled_dir;
mod sled_store;
mod stats;
mod stream_commit;
mod sync;
mod torn;
mod tree_files;
mod view;
mod writer;
mod writer_state;

/// The nice value of the threads that work off the write path (the
/// applier's, and the Merkle tree's in `app/`).
#[cfg(target_os = "linux")]
pub(crate) use applier::APPLIER_NICE as LOW_PRIORITY_NICE;
pub(crate) use compaction::compact;
pub(crate) use compaction::Compacted;
pub(crate) use disk::bytes_on_disk;
pub use faults::{FaultPoint, Faults};
pub use flush_gate::FlushGate;
pub(crate) use health::Health;
pub(crate) use keys::Space;
pub(crate) use queries::{
    articles_after, changed_after, current, date_at, nearest_snapshot, slug_owner, stream_range,
    suggestions,
};
pub(crate) use restore::{check_backup, check_backup_chain, check_backup_increment};
pub(crate) use sled_store::Record;
pub use sled_store::StoreOptions;
pub(crate) use sled_store::{ReadModels, RebuildProgress, SledStore};
pub(crate) use stream_commit::{IngestError, StreamCommit};
pub(crate) use sync::DurableFiles;
pub(crate) use tree_files::{default_origin, recorded_checkpoint, TreeNodes, TreeWriter, TREE_DIR};

use crate::log::StoreError;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Io(other.to_string()),
        }
    }
}

/// A mutex's guard, poisoned or not (what it guards stays consistent).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
