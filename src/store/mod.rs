//! The store: the append-only log and its indexes, and the writer thread
//! that appends to them with group commit.
//!
//! The only module that knows sled. It calls a `Projector` it is given to
//! keep the read models inside its write batches, and does not know what
//! those read models are.

mod applier;
mod catch_up;
mod compaction;
mod disk;
mod faults;
mod flush_gate;
mod health;
mod ingest;
mod job;
mod keys;
mod log_files;
mod log_index;
mod log_migration;
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
pub(crate) use view::BatchView;

use crate::codec::CodecError;
use crate::domain::CommitFold;
use crate::log::{Rejection, StoreError};

/// Keeps the read models: applied to every commit, in log order, inside the
/// writer's batch, and again by a rebuild.
pub trait Projector: Send + Sync + 'static {
    /// Checks `commit` against the read models and applies it. A commit it
    /// rejects (a slug taken) must leave the view as it found it: check
    /// first, then write.
    fn project(&self, view: &mut BatchView<'_>, commit: CommitFold<'_>)
        -> Result<(), ProjectError>;

    /// What became of the batch `project` last applied to: told once per
    /// batch, after its write (or its failure), before anyone learns of it.
    fn settle(&self, settled: Settled);
}

/// What became of a batch of projected commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Written: durable, or on a replica as durable as the stream it came from.
    Written,
    /// Not written: forget what it changed.
    Dropped,
    /// The database was reopened after a failure and may hold less than
    /// was written: forget everything held beside it.
    Reopened,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("rejected: {0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CodecError> for ProjectError {
    fn from(e: CodecError) -> Self {
        ProjectError::Store(StoreError::Corrupt(e.to_string()))
    }
}

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
