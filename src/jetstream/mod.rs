//! The log on NATS JetStream, for more than one machine.
//!
//! One stream (file storage, R1 or R3) holds every commit as one message
//! on the subject `<stream>.commit.<article id>`; the stream sequence is
//! the global position. That message is the commit's hash; the commit
//! itself is kept apart, in a stream that allows deletes, so that a
//! redaction can remove content for good (`content.rs`, `sweeper.rs`).
//! Any number of replicas share the stream: each keeps its own read
//! models (and a copy of the log's records) in a local sled store, fed in
//! stream order by an ordered consumer and resumed from its checkpoint
//! after a restart (`follower.rs`). A write goes through any replica
//! (`publisher.rs`): the replica hashes the commit onto the article's
//! head, claims its slugs in a key-value bucket (`slugs.rs`), publishes
//! its content, and then its hash with `Nats-Expected-Last-Subject-Sequence`
//! (optimistic concurrency) and `Nats-Msg-Id` = command id
//! (de-duplication); it answers once its own store has applied the
//! commit, so that the answer's position is readable there at once and
//! anywhere with `min_position`.
//!
//! The only module that knows NATS.

mod content;
mod follower;
mod local_server;
mod options;
mod publisher;
mod restore;
mod slugs;
mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use tokio::sync::{mpsc, watch};

pub use local_server::{LocalNatsConfig, LocalNatsServer};
pub use options::{JetStreamOptions, LogChoice};
pub(crate) use restore::publish_backup;
pub use restore::RestoreError;

use crate::log::{
    AppendError, AppendRequest, BoxFuture, Log, PendingAppend, StoreError, StreamBreak,
};
use crate::request_key::RequestKey;
use crate::store::SledStore;
use publisher::{Publisher, Queued};

/// How long a catch-up waits for this replica to apply what the stream
/// held when it asked.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(10);

/// How long a replica keeps trying to reach JetStream as it starts.
const JOIN_LIMIT: Duration = Duration::from_secs(60);
const JOIN_RETRY: Duration = Duration::from_millis(250);

/// The log of a replica: appends go to the stream, reads to the local store
/// that the stream feeds.
pub(crate) struct JetStreamLog {
    local: Arc<SledStore>,
    queue: mpsc::Sender<Queued>,
    stream: jetstream::stream::Stream,
    broken: watch::Receiver<Option<StreamBreak>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The log's request key, as its bucket keeps it.
    request_key: RequestKey,
}

/// Why the replica could not join the stream.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot connect to NATS at {servers}: {why}")]
    Connect { servers: String, why: String },
    #[error("cannot read the NATS credentials file {path}: {why}")]
    Credentials { path: String, why: String },
    #[error("cannot open JetStream stream {stream}: {why}")]
    Stream { stream: String, why: String },
    #[error("cannot open the slug bucket {bucket}: {why}")]
    Bucket { bucket: String, why: String },
    #[error("{0}")]
    RequestKey(String),
    #[error("this data directory holds a replica of {held}, not of {stream}: give this replica a data directory of its own")]
    WrongStream { held: String, stream: String },
    #[error("this data directory holds a log of its own (position {position}, the embedded log's): a replica needs an empty data directory")]
    NotAReplica { position: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The meta key naming the stream a replica's store applies.
pub(crate) const REPLICA_OF: &str = "replica_of";

impl JetStreamLog {
    /// Connects, opens (or creates) the stream and the slug bucket, and
    /// starts feeding `local` from its checkpoint and taking appends.
    /// `request_key` is the key this replica proposes for the log
    /// (`crate::request_key`): the bucket keeps the first one proposed.
    /// When `must_keep` (the key was given, or this replica kept one
    /// already), a bucket that keeps another is refused before anything
    /// starts.
    pub(crate) async fn join(
        local: Arc<SledStore>,
        options: &JetStreamOptions,
        request_key: &RequestKey,
        must_keep: bool,
    ) -> Result<Self, JoinError> {
        let (client, context, stream, slugs, contents) = Self::open_retrying(options).await?;
        claim_directory(&local, &stream)?;
        let proposed = request_key;
        let request_key = request_key_retrying(&slugs, proposed).await?;
        if must_keep && request_key.bytes() != proposed.bytes() {
            return Err(JoinError::RequestKey(format!(
                "the log's bucket {} keeps another request key than this replica was given or kept: every replica of a log keys request hashes with the bucket's (give none, or the log's, with --request-key)",
                options.bucket()
            )));
        }
        let (break_tx, broken) = watch::channel(None);
        let follower = follower::Follower {
            local: Arc::clone(&local),
            stream: stream.clone(),
            contents: contents.clone(),
            filter: options.subject_filter(),
            broken: break_tx,
        };
        let (queue, requests) = mpsc::channel(options.queue_depth.max(1));
        let sweeper = sweeper::Sweeper {
            local: Arc::clone(&local),
            contents: contents.clone(),
            context: context.clone(),
            stream: stream.clone(),
            options: options.clone(),
            broken: broken.clone(),
        };
        let publisher = Publisher::new(
            Arc::clone(&local),
            (client, context, stream.clone(), slugs, contents),
            options.clone(),
            broken.clone(),
        );
        let tasks = vec![
            tokio::spawn(follower.run()),
            tokio::spawn(publisher.run(requests)),
            tokio::spawn(sweeper.run()),
        ];
        Ok(Self {
            local,
            queue,
            stream,
            broken,
            tasks,
            request_key,
        })
    }

    /// The log's request key, which every replica keys request hashes with.
    pub(crate) fn request_key(&self) -> &RequestKey {
        &self.request_key
    }
}

/// A connection, the stream, the slug bucket and the content stream.
type Opened = (
    async_nats::Client,
    jetstream::Context,
    jetstream::stream::Stream,
    slugs::Slugs,
    content::Contents,
);

impl JetStreamLog {
    /// Opens the stream and the bucket, trying again for a while: a
    /// cluster that is starting has no JetStream leader yet.
    async fn open_retrying(options: &JetStreamOptions) -> Result<Opened, JoinError> {
        let started = std::time::Instant::now();
        loop {
            match Self::open(options).await {
                Ok(opened) => return Ok(opened),
                Err(e) if started.elapsed() < JOIN_LIMIT => {
                    tracing::warn!(error = %e, "JetStream is not ready; trying again");
                    tokio::time::sleep(JOIN_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn open(options: &JetStreamOptions) -> Result<Opened, JoinError> {
        let client = options.connect().await?;
        let context = jetstream::new(client.clone());
        let stream = options.open_stream(&context).await?;
        let slugs = slugs::Slugs::open(&context, options).await?;
        let contents = content::Contents::open(&context, options).await?;
        Ok((client, context, stream, slugs, contents))
    }
}

/// The log's request key as the bucket keeps it (`Slugs::request_key`),
/// trying again for a while as `open_retrying` does: a cluster that is
/// starting may time out a request (a put that timed out but was made is
/// found by the next try).
async fn request_key_retrying(
    slugs: &slugs::Slugs,
    proposed: &RequestKey,
) -> Result<RequestKey, JoinError> {
    let started = std::time::Instant::now();
    loop {
        match slugs.request_key(proposed).await {
            Ok(key) => return Ok(key),
            Err(e) if started.elapsed() < JOIN_LIMIT => {
                tracing::warn!(error = %e, "the request key cannot be read yet; trying again");
                tokio::time::sleep(JOIN_RETRY).await;
            }
            Err(e) => return Err(JoinError::RequestKey(e)),
        }
    }
}

/// Ties the store to the stream it applies: a store of another stream, or
/// one with a log of its own, would serve positions that are not this
/// stream's.
fn claim_directory(local: &SledStore, stream: &jetstream::stream::Stream) -> Result<(), JoinError> {
    let info = stream.cached_info();
    let identity = format!("stream {} created {}", info.config.name, info.created);
    match local.meta(REPLICA_OF)? {
        Some(held) if held == identity.as_bytes() => Ok(()),
        Some(held) => Err(JoinError::WrongStream {
            held: String::from_utf8_lossy(&held).into_owned(),
            stream: identity,
        }),
        None if local.last_position() > 0 => Err(JoinError::NotAReplica {
            position: local.last_position(),
        }),
        None => Ok(local.set_meta(REPLICA_OF, identity.as_bytes())?),
    }
}

impl Drop for JetStreamLog {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Waits until `local` has applied `position`; a break at or before it
/// ends the wait with DATA_LOSS.
pub(super) async fn applied(
    local: &SledStore,
    broken: &mut watch::Receiver<Option<StreamBreak>>,
    position: u64,
) -> Result<(), AppendError> {
    let mut durable = local.durable_position();
    loop {
        if *durable.borrow_and_update() >= position {
            return Ok(());
        }
        if let Some(at) = broken.borrow_and_update().as_ref() {
            if at.position <= position {
                return Err(AppendError::Corrupt(at.to_string()));
            }
        }
        tokio::select! {
            changed = durable.changed() => changed.map_err(|_| AppendError::Unavailable("the store stopped".into()))?,
            changed = broken.changed() => changed.map_err(|_| AppendError::Unavailable("the stream's follower stopped".into()))?,
        }
    }
}

/// Waits until `local` has applied everything the stream holds now.
pub(super) async fn catch_up(
    local: &SledStore,
    stream: &jetstream::stream::Stream,
    broken: &mut watch::Receiver<Option<StreamBreak>>,
) -> Result<(), AppendError> {
    let info = stream.get_info().await.map_err(|e| {
        AppendError::Unavailable(format!("cannot ask JetStream for the stream's head: {e}"))
    })?;
    let head = info.state.last_sequence;
    tokio::time::timeout(CATCH_UP_LIMIT, applied(local, broken, head))
        .await
        .map_err(|_| {
            AppendError::Unavailable(format!(
                "this replica has not applied the stream up to its head at position {head} within {CATCH_UP_LIMIT:?}"
            ))
        })?
}

impl Log for JetStreamLog {
    fn enqueue(&self, request: AppendRequest) -> BoxFuture<'_, Result<PendingAppend, AppendError>> {
        Box::pin(async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.queue
                .send(Queued {
                    request,
                    reply,
                    queued_at: std::time::Instant::now(),
                })
                .await
                .map_err(|_| AppendError::Unavailable("the replica is shutting down".into()))?;
            Ok(PendingAppend(answer))
        })
    }

    fn durable_position(&self) -> watch::Receiver<u64> {
        self.local.durable_position()
    }

    fn catch_up(&self) -> BoxFuture<'_, Result<(), AppendError>> {
        Box::pin(async move {
            let mut broken = self.broken.clone();
            catch_up(&self.local, &self.stream, &mut broken).await
        })
    }

    fn breaks(&self) -> watch::Receiver<Option<StreamBreak>> {
        self.broken.clone()
    }
}
