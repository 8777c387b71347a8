//! Why an append or a read of the log failed.

use crate::codec::CodecError;
use crate::domain::CommandId;

/// Why an append was refused or failed: each maps to one gRPC status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// `expected_version` is not the article's head (ABORTED).
    #[error("expected version {expected}, but the article is at version {current}")]
    VersionMismatch { expected: u64, current: u64 },
    /// The commit was decided on the state an earlier append would have
    /// left, and the article's head at `version` is not that append: the
    /// earlier one was refused and another writer took its version (ABORTED).
    #[error("the write was decided on version {version} as an earlier write of this import left it, but that write was not appended and version {version} is another's")]
    BasisLost { version: u64 },
    /// The command id was used before for a different request.
    #[error("command_id {0} was already used for a different request")]
    CommandReused(CommandId),
    /// A read model refused the commit.
    #[error("{0}")]
    Rejected(Rejection),
    /// The commit is larger than the log's largest message (a replicated
    /// log's setting; FAILED_PRECONDITION).
    #[error("the commit is {bytes} bytes, more than the log's largest message of {limit} bytes (nats-server's max_payload; raise it, up to 64 MiB)")]
    TooLarge { bytes: usize, limit: usize },
    /// The log cannot make this commit (FAILED_PRECONDITION): a
    /// redaction on a log that cannot rewrite its records.
    #[error("{0}")]
    Unsupported(String),
    /// Storage failed or the store is closed (UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// A stored record failed to decode (DATA_LOSS).
    #[error("{0}")]
    Corrupt(String),
}

impl From<StoreError> for AppendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(detail) => AppendError::Corrupt(detail),
            other => AppendError::Unavailable(other.to_string()),
        }
    }
}

/// Why a read model refused a commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("slug {slug:?} is taken by another article")]
    SlugTaken { slug: String },
}

/// Why the storage behind a log could not serve a read or a write: the
/// embedded log's database, or a replica's local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk or sled failed; the store refuses writes until reopened.
    #[error("storage failure: {0}")]
    Io(String),
    /// A stored record failed to decode or to make sense.
    #[error("{0}")]
    Corrupt(String),
    /// The store is shutting down or has stopped after a failure.
    #[error("the store is not accepting work: {0}")]
    Closed(String),
    /// sled cannot let go of a database that failed: its handle hangs as
    /// it closes, so only a new process can open the database again.
    #[error("the database cannot be closed after a storage failure: {0}")]
    Wedged(String),
}

impl From<CodecError> for StoreError {
    fn from(e: CodecError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Where the stream stops being a valid log, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the stream breaks at position {position}: {why}")]
pub struct StreamBreak {
    pub position: u64,
    pub why: String,
}
