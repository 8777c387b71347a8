//! A replica's messages of the replicated log, as the writer applies them,
//! and what applying them did.

use crate::domain::{Commit, Hash};
use crate::log::{StoreError, StreamBreak};

/// One message of the stream: its sequence (the global position) and the
/// commit as the writing replica encoded it (global position 0).
#[derive(Clone, Debug)]
pub(crate) struct StreamCommit {
    pub(crate) position: u64,
    pub(crate) bytes: bytes::Bytes,
    /// The article its subject names: the commit must be that article's
    /// (optimistic concurrency is per subject).
    pub(crate) article: Option<crate::domain::ArticleId>,
    /// The hash the stream holds for it, when the stream holds the hash
    /// and the commit is kept apart (its content): the commit must hash so.
    pub(crate) hash: Option<Hash>,
    /// A redaction's: the article's commits as it rewrites them (their
    /// redactions made by this commit). The writer applies such a commit
    /// alone, as the embedded log applies a redaction (`redaction_intent.rs`).
    pub(crate) rewrites: Vec<Commit>,
}

impl StreamCommit {
    /// The rewritten commits' records.
    pub(super) fn rewritten_records(&self) -> Vec<(u64, Vec<u8>)> {
        self.rewrites
            .iter()
            .map(|c| (c.global_position, crate::codec::encode_commit(c)))
            .collect()
    }
}

/// Why commits of the stream were not applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestError {
    /// The stream is not a valid log from here on.
    #[error(transparent)]
    Break(#[from] StreamBreak),
    /// The message is past the store's next position: the store holds
    /// the log up to `applied` (it lost an unflushed tail to a storage
    /// failure, or the feed skipped): send from `applied + 1`.
    #[error("the store holds the log up to position {applied}; send from the next")]
    Behind { applied: u64 },
    /// The local store failed: the replica retries from its checkpoint.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What applying one message did.
pub(super) enum Ingested {
    /// Applied at its position.
    Applied(Box<Commit>),
    /// Already applied (a redelivery after a restart or a consumer reset).
    Seen,
}
