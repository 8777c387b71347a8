//! The append seam: the log behind a trait, so that a replicated log can
//! stand in for the embedded one. Appends with optimistic concurrency and
//! idempotency, decided by one admission check (`admission.rs`) on either
//! log, and reads of what is durable.
//!
//! It knows neither log's storage: no sled, no NATS (`src/tidy.rs`).

mod admission;
mod error;
mod request;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};

pub(crate) use admission::{admit, retried, Admission, Facts};
pub(crate) use error::{AppendError, Rejection};
pub use error::{StoreError, StreamBreak};
pub(crate) use request::AppendRequest;
pub use request::Clock;

use crate::domain::{ArticleId, ChainHead, Hash};

/// Where an appended commit stands: a domain value, so that what an
/// append answers crosses the app's edge without a store type.
pub(crate) use crate::domain::Appended;

/// The live feed's word that a commit is durable: enough to filter on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) position: u64,
    pub(crate) article_id: ArticleId,
    pub(crate) kinds: Vec<&'static str>,
}

/// An article's commit as the stream index records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamEntry {
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The commit's hash (its article chain).
    pub hash: Hash,
}

impl StreamEntry {
    /// The article head an article's last stream entry gives; the start of
    /// a chain for an article not yet created.
    pub(crate) fn head(last: Option<StreamEntry>) -> ChainHead {
        last.map_or(ChainHead::START, |e| ChainHead {
            version: e.version,
            hash: e.hash,
            micros: e.recorded_at.timestamp_micros(),
        })
    }
}

/// What a command id produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CommandEntry {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    pub request_hash: [u8; 32],
}

impl From<crate::domain::CommitHead> for StreamEntry {
    fn from(head: crate::domain::CommitHead) -> Self {
        Self {
            version: head.version,
            global_position: head.global_position,
            recorded_at: head.recorded_at,
            hash: head.hash,
        }
    }
}

impl From<crate::domain::CommitHead> for CommandEntry {
    fn from(head: crate::domain::CommitHead) -> Self {
        Self {
            article_id: head.article_id,
            version: head.version,
            global_position: head.global_position,
            request_hash: head.request_hash,
        }
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An append that is queued: resolves once it is durable (or refused).
/// Appends queued one after another are decided in that order, so that a
/// caller can queue many without waiting for each (a bulk import).
#[derive(Debug)]
pub(crate) struct PendingAppend(pub(crate) oneshot::Receiver<Result<Appended, AppendError>>);

impl Future for PendingAppend {
    type Output = Result<Appended, AppendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|answer| {
            answer.unwrap_or_else(|_| Err(AppendError::Unavailable("the writer stopped".into())))
        })
    }
}

/// The durable, append-only log of commits: the seam appends go through,
/// and what a replicated log adds (catching up, breaks).
///
/// It has no reads. Whichever log feeds it, this process reads the log's
/// records from its own store (`store::SledStore`: the commit, stream
/// entry, chain hash or command at a position), and only what is durable
/// there, never a record past the durable position.
pub(crate) trait Log: Send + Sync + 'static {
    /// Queues one commit; resolves once it is queued (the queue is
    /// bounded), with the append to wait for.
    fn enqueue(&self, request: AppendRequest) -> BoxFuture<'_, Result<PendingAppend, AppendError>>;

    /// Appends one commit; resolves once it is durable (or refused).
    fn append(&self, request: AppendRequest) -> BoxFuture<'_, Result<Appended, AppendError>> {
        Box::pin(async move { self.enqueue(request).await?.await })
    }

    /// The position up to which every commit is durable.
    fn durable_position(&self) -> watch::Receiver<u64>;

    /// Waits until what this process reads holds every commit the log held
    /// when it was called: a replica fed by a replicated log may be behind
    /// it. The embedded log is never behind.
    fn catch_up(&self) -> BoxFuture<'_, Result<(), AppendError>> {
        Box::pin(async { Ok(()) })
    }

    /// Where a replicated log stopped being a valid log (a chain that does
    /// not verify, a gap), if it did: nothing past it is applied.
    fn stream_break(&self) -> Option<StreamBreak> {
        self.breaks().borrow().clone()
    }

    /// The same, as it changes (a replica finds a break as it applies the
    /// stream). The embedded log never breaks: its sender is gone.
    fn breaks(&self) -> watch::Receiver<Option<StreamBreak>> {
        watch::channel(None).1
    }
}
