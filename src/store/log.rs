//! The log behind a trait, so that a replicated log can stand in for the
//! embedded one: appends with optimistic concurrency and idempotency, and
//! reads of what is durable.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};

use super::{StoreError, StreamBreak};
use crate::domain::{
    ArticleId, ChainHead, CommandId, Commit, Event, Hash, Provenance, RequestHash,
};

/// The clock commits are stamped with: the system's, or the system's set
/// back by a fixed amount, as another machine's may run behind. Replicas
/// of one log stamp with their own clocks, so time increases along each
/// article's chain only (`domain::link::follow`); tests run a replica
/// behind to write such a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    behind_micros: i64,
}

impl Clock {
    /// A clock that runs `by` behind the system's.
    pub fn behind(by: std::time::Duration) -> Self {
        Self {
            behind_micros: i64::try_from(by.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// Now, in microseconds since the epoch.
    pub(crate) fn now_micros(self) -> i64 {
        Utc::now()
            .timestamp_micros()
            .saturating_sub(self.behind_micros)
    }
}

/// One commit to append, decided on the article at `expected_version`.
#[derive(Clone, Debug)]
pub(crate) struct AppendRequest {
    pub article_id: ArticleId,
    /// The version the decision was made on; 0 for a creation.
    pub expected_version: u64,
    pub command_id: CommandId,
    /// The request's hash, to tell a retry from a reuse of the id: the
    /// commit keeps the keyed one (`crate::request_key`).
    pub request_hash: RequestHash,
    pub actor: String,
    pub reason: String,
    /// The article's provenance once the events are applied.
    pub provenance: Provenance,
    pub events: Vec<Event>,
    /// Set when the decision was made on the state an earlier append, not
    /// yet durable, leaves (a bulk import's writes to one article): that
    /// append's command id. Unless the article's head is that append, the
    /// commit was decided on a state the log never had and is refused.
    pub decided_after: Option<CommandId>,
    /// A redaction's (docs/AUDIT.md, "Redaction"): the article's commits
    /// it rewrites, as they are to be stored, their redactions' position
    /// left 0 for the log to fill in with this commit's. The commit and
    /// the rewrites are made durable together (`redaction_intent.rs`).
    /// Empty for any other commit.
    pub rewrites: Vec<Commit>,
}

impl AppendRequest {
    /// The rewritten commits' records, their redactions made by the commit
    /// at `position`.
    pub(crate) fn rewritten_records(&self, position: u64) -> Vec<(u64, Vec<u8>)> {
        self.rewrites
            .iter()
            .map(|c| {
                let mut c = c.clone();
                for r in &mut c.redactions {
                    if r.by_position == 0 {
                        r.by_position = position;
                    }
                }
                (c.global_position, crate::codec::encode_commit(&c))
            })
            .collect()
    }
}

impl AppendRequest {
    /// The commit this request makes: `version` of `article` onto
    /// `prev_hash`, recorded now by `clock` or 1 µs after `after_micros`
    /// (time strictly increases), and its hash.
    pub(crate) fn seal(
        &self,
        article: ArticleId,
        version: u64,
        global_position: u64,
        prev_hash: &Hash,
        after_micros: i64,
        clock: Clock,
    ) -> Result<(Commit, Hash), AppendError> {
        let micros = clock.now_micros().max(after_micros + 1);
        let recorded_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| AppendError::Unavailable("the clock is out of range".into()))?;
        let mut commit = Commit {
            article_id: article,
            version,
            global_position,
            recorded_at,
            actor: self.actor.clone(),
            reason: self.reason.clone(),
            command_id: self.command_id,
            provenance: self.provenance.clone(),
            request_hash: self.request_hash.keyed,
            prev_hash: prev_hash.to_vec(),
            hash: Vec::new(),
            events: self.events.clone(),
            // Encoding v2: a fresh salt for the reason and for each
            // event's content (docs/AUDIT.md, "Commit hash v2"), and one
            // for the answer's digest in its Merkle leaf.
            salts: Some(new_salts(self.events.len())?),
            redactions: Vec::new(),
            answer_digest: None,
        };
        let hash = crate::domain::commit_hash(prev_hash, &commit);
        commit.hash = hash.to_vec();
        Ok((commit, hash))
    }
}

/// Random salts for a commit of `events` events.
fn new_salts(events: usize) -> Result<crate::domain::CommitSalts, AppendError> {
    let mut bytes = vec![0u8; 32 * (events + 2)];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppendError::Unavailable(format!("no random salt: {e}")))?;
    let mut salts = bytes
        .chunks_exact(32)
        .map(|c| <[u8; 32]>::try_from(c).expect("32 bytes"));
    let reason = salts.next().expect("two salts at least");
    let answer = salts.next().expect("two salts at least");
    Ok(crate::domain::CommitSalts {
        reason,
        events: salts.collect(),
        answer: Some(answer),
    })
}

/// Where an appended commit stands: a domain value, so that what an
/// append answers crosses the app's edge without a store type.
pub(crate) use crate::domain::Appended;

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

/// The durable, append-only log of commits.
///
/// Reads return only what is durable: a record past the durable position
/// is waited for, never shown early.
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

    /// The commit at `position`, once durable.
    fn read(&self, position: u64) -> BoxFuture<'_, Result<Option<Commit>, StoreError>>;

    /// The stream entry of one version of an article, once durable.
    fn stream_entry(
        &self,
        article: ArticleId,
        version: u64,
    ) -> BoxFuture<'_, Result<Option<StreamEntry>, StoreError>>;

    /// The log chain's hash at `position`, once durable.
    fn log_hash(&self, position: u64) -> BoxFuture<'_, Result<Option<Hash>, StoreError>>;

    /// What a command id produced, once durable.
    fn find_command(
        &self,
        command: CommandId,
    ) -> BoxFuture<'_, Result<Option<CommandEntry>, StoreError>>;

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
