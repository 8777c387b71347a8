//! What the writer thread is asked to do: the jobs on its bounded queue.

use std::time::Instant;

use tokio::sync::oneshot;

use super::stream_commit::{IngestError, StreamCommit};
use crate::domain::Suggestion;
use crate::log::{AppendError, AppendRequest, Appended, StoreError};

pub(super) enum Job {
    Append {
        request: AppendRequest,
        reply: oneshot::Sender<Result<Appended, AppendError>>,
        /// When it was handed to the writer, for the append-latency metric.
        queued_at: Instant,
    },
    Suggest {
        suggestion: Suggestion,
        reply: oneshot::Sender<Result<Suggestion, StoreError>>,
    },
    /// Record a suggestion's resolution, if it is still open; the reply is
    /// the suggestion as it then stands (resolved by this job, or before).
    Resolve {
        resolved: Suggestion,
        reply: oneshot::Sender<Result<Suggestion, StoreError>>,
    },
    /// Apply commits that the replicated log ordered (a replica).
    Ingest {
        commits: Vec<StreamCommit>,
        reply: oneshot::Sender<Result<u64, IngestError>>,
    },
    /// Flush what applied stream commits have not flushed yet (a replica
    /// whose stream has gone quiet).
    Flush,
    /// Finish an online rebuild: apply the log from `from` to the head to
    /// the read models of `generation`, and switch to them in the same
    /// flushed batch.
    Switch {
        generation: u8,
        from: u64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}
