//! Feeds the local store from the stream: an ordered consumer from the
//! position after the store's last, its messages handed to the writer in
//! batches as they come, each stub joined to its content (`content.rs`).
//! A restart resumes from the store's checkpoint; a break stops the feed
//! where the stream stops being a valid log.
//!
//! A redaction is applied alone: first the content stream is made to hold
//! the commits it rewrites as rewritten (and nothing else for them), then
//! the local store rewrites its copies and applies the redaction's commit
//! together. A replica that dies in between does it again, which changes
//! nothing done already.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use tokio::sync::watch;
use tokio_stream::{Stream as _, StreamExt as _};

use super::content::{stub_hash, Content, Contents};
use crate::domain::{ArticleId, Commit, Hash, RedactionPlan};
use crate::log::{Log as _, StoreError, StreamBreak};
use crate::store::{IngestError, SledStore, StreamCommit};

/// The most messages one ingest takes.
const BATCH: usize = 512;

/// How long the consumer may be silent before the follower checks that
/// the stream is silent too.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// How long one attempt to create the consumer may take.
const CREATE_LIMIT: Duration = Duration::from_secs(2);

/// How long the follower waits before it consumes again after a failure.
const RETRY: Duration = Duration::from_millis(250);

pub(super) struct Follower {
    pub(super) local: Arc<SledStore>,
    pub(super) stream: Stream,
    pub(super) contents: Contents,
    pub(super) filter: String,
    pub(super) broken: watch::Sender<Option<StreamBreak>>,
}

/// Why a pass of the consumer ended.
enum Stop {
    Break(StreamBreak),
    /// The local store is shutting down.
    Closed,
    Retry(String),
}

/// A message of the commit stream.
enum Incoming {
    /// The commit, whole: a message written before content was kept apart.
    Whole(StreamCommit),
    /// A commit's hash (or why the message is not one); its content is
    /// in the content stream.
    Stub {
        position: u64,
        article: Option<ArticleId>,
        hash: Result<Hash, String>,
    },
}

impl Incoming {
    fn position(&self) -> u64 {
        match self {
            Incoming::Whole(commit) => commit.position,
            Incoming::Stub { position, .. } => *position,
        }
    }
}

impl Follower {
    pub(super) async fn run(self) {
        loop {
            match self.follow().await {
                Stop::Break(at) => {
                    tracing::error!(position = at.position, why = %at.why, "the stream is not a valid log from here: this replica stops applying it");
                    self.broken.send_replace(Some(at));
                    return;
                }
                Stop::Closed => return,
                Stop::Retry(why) => {
                    tracing::warn!(error = %why, "following the stream failed; consuming again");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    fn applied(&self) -> u64 {
        *self.local.durable_position().borrow()
    }

    async fn follow(&self) -> Stop {
        if let Err(stop) = self.still_holds(self.applied()).await {
            return stop;
        }
        let start = self.applied() + 1;
        // Short, so that an attempt that lands on a node that has just died
        // (an election is under way) is soon made again.
        let created = tokio::time::timeout(
            CREATE_LIMIT,
            self.stream.create_consumer(pull::OrderedConfig {
                filter_subject: self.filter.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            }),
        )
        .await;
        let consumer = match created {
            Ok(Ok(consumer)) => consumer,
            Ok(Err(e)) => return Stop::Retry(format!("cannot create the consumer: {e}")),
            Err(_) => {
                return Stop::Retry(format!(
                    "the consumer was not created within {CREATE_LIMIT:?}"
                ))
            }
        };
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => return Stop::Retry(format!("cannot consume: {e}")),
        };
        tracing::debug!(start, "following the stream");
        let mut first = true;
        loop {
            let mut batch = Vec::new();
            match tokio::time::timeout(STALL_CHECK, messages.next()).await {
                Ok(Some(message)) => match stream_commit(message) {
                    Ok(commit) => batch.push(commit),
                    Err(why) => return Stop::Retry(why),
                },
                Ok(None) => return Stop::Retry("the consumer ended".into()),
                Err(_) => {
                    self.local.flush_soon();
                    // Quiet: is the stream quiet too? A consumer whose node
                    // died says nothing until it misses two heartbeats
                    // (a minute); a new one takes over at once.
                    // Without a stream leader (a node died, an election
                    // runs) the question goes unanswered: consume anew.
                    let head = tokio::time::timeout(STALL_CHECK, self.stream.get_info()).await;
                    match head {
                        Err(_) => {
                            return Stop::Retry(
                                "the stream's head is not known: is a leader being elected?".into(),
                            )
                        }
                        Ok(Ok(info)) if info.state.last_sequence > self.applied() => {
                            return Stop::Retry(format!(
                                "the consumer stalled at position {} with the stream at {}",
                                self.applied(),
                                info.state.last_sequence
                            ))
                        }
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => {
                            return Stop::Retry(format!("cannot ask for the stream's head: {e}"))
                        }
                    }
                }
            }
            // Whatever else has arrived goes in the same batch: polled
            // once each, not waited for (a zero timeout would wait for the
            // timer's next millisecond tick).
            while batch.len() < BATCH {
                let ready = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(match std::pin::Pin::new(&mut messages).poll_next(cx) {
                        std::task::Poll::Ready(Some(message)) => Some(message),
                        _ => None,
                    })
                })
                .await;
                match ready {
                    Some(message) => match stream_commit(message) {
                        Ok(commit) => batch.push(commit),
                        Err(why) => return Stop::Retry(why),
                    },
                    None => break,
                }
            }
            if let Err(stop) = self.apply(batch, &mut first, start).await {
                return stop;
            }
        }
    }

    /// Joins each stub of `batch` to its content and hands the commits to
    /// the store, a redaction alone.
    async fn apply(&self, batch: Vec<Incoming>, first: &mut bool, start: u64) -> Result<(), Stop> {
        let mut pending = Vec::with_capacity(batch.len());
        for (commit, plan) in self.resolve(batch).await? {
            match plan {
                Some(plan) if commit.position > self.applied() => {
                    self.ingest(std::mem::take(&mut pending), first, start)
                        .await?;
                    let commit = self.redaction(commit, &plan).await?;
                    self.ingest(vec![commit], first, start).await?;
                }
                _ => pending.push(commit),
            }
        }
        self.ingest(pending, first, start).await
    }

    async fn ingest(
        &self,
        batch: Vec<StreamCommit>,
        first: &mut bool,
        start: u64,
    ) -> Result<(), Stop> {
        let Some(first_position) = batch.first().map(|c| c.position) else {
            return Ok(());
        };
        match self.local.ingest(batch).await {
            Ok(_) => {
                *first = false;
                Ok(())
            }
            Err(IngestError::Break(at)) => Err(Stop::Break(at)),
            // The consumer began where the store asked and still skips:
            // the stream lacks that position.
            Err(IngestError::Behind { applied }) if *first && first_position > start => {
                Err(Stop::Break(StreamBreak {
                    position: start,
                    why: format!(
                        "position {start} is missing (after {applied}, the stream holds {first_position})"
                    ),
                }))
            }
            Err(IngestError::Behind { applied }) => Err(Stop::Retry(format!(
                "the store holds the log up to position {applied}; consuming from the next"
            ))),
            Err(IngestError::Store(StoreError::Closed(_))) => Err(Stop::Closed),
            Err(IngestError::Store(e)) => Err(Stop::Retry(e.to_string())),
        }
    }

    /// Each message of `batch` as the store takes it, a stub with its
    /// content (read concurrently), and the plan of a redaction's.
    async fn resolve(
        &self,
        batch: Vec<Incoming>,
    ) -> Result<Vec<(StreamCommit, Option<RedactionPlan>)>, Stop> {
        let fetched = futures_util::future::join_all(batch.iter().map(|incoming| async move {
            match incoming {
                Incoming::Whole(_) => Ok(None),
                Incoming::Stub { hash: Ok(hash), .. } => {
                    self.contents.fetch_sent(hash).await.map(Some)
                }
                Incoming::Stub { hash: Err(_), .. } => Ok(None),
            }
        }))
        .await;
        let mut resolved = Vec::with_capacity(batch.len());
        for (incoming, content) in batch.into_iter().zip(fetched) {
            let position = incoming.position();
            let content = content.map_err(Stop::Retry)?.flatten();
            match (incoming, content) {
                (Incoming::Whole(commit), _) => resolved.push((commit, None)),
                (Incoming::Stub { hash: Err(why), .. }, _)
                | (
                    Incoming::Stub { .. },
                    Some(Content {
                        unread: Some(why), ..
                    }),
                ) => return Err(Stop::Break(StreamBreak { position, why })),
                (
                    Incoming::Stub {
                        article,
                        hash: Ok(hash),
                        ..
                    },
                    Some(content),
                ) => resolved.push((
                    StreamCommit {
                        position,
                        bytes: content.bytes,
                        article,
                        hash: Some(hash),
                        rewrites: Vec::new(),
                    },
                    content.plan,
                )),
                (Incoming::Stub { hash: Ok(hash), .. }, None) => {
                    return Err(Stop::Break(StreamBreak {
                        position,
                        why: format!(
                            "its content ({}) is not in the content stream",
                            self.contents.subject(&hash)
                        ),
                    }))
                }
            }
        }
        Ok(resolved)
    }

    /// A redaction's commit with the rewrites `plan` makes of this
    /// replica's copies, once the content stream holds them as rewritten.
    async fn redaction(
        &self,
        mut commit: StreamCommit,
        plan: &RedactionPlan,
    ) -> Result<StreamCommit, Stop> {
        let position = commit.position;
        let broken = |why: String| Stop::Break(StreamBreak { position, why });
        let redaction = crate::codec::decode_commit(commit.bytes.clone())
            .map_err(|e| broken(format!("the message does not decode as a commit: {e}")))?;
        let mut history = self
            .history(redaction.article_id, redaction.version)
            .await?;
        // The content stream's copies, where it holds them: a redaction
        // after this one may have removed more from them than this
        // replica's copies show (it lags), and the copies published here
        // must not put that back.
        let from = history.partition_point(|c| c.global_position < plan.position);
        let fetched = futures_util::future::join_all(
            history[from..]
                .iter()
                .map(|commit| self.contents.fetch(&commit.hash)),
        )
        .await;
        let mut held = HashMap::new();
        for (commit, content) in history[from..].iter_mut().zip(fetched) {
            // Every commit a redaction can rewrite was written with its
            // content apart (`publisher.rs` refuses others).
            let content = content.map_err(Stop::Retry)?.ok_or_else(|| {
                Stop::Retry(format!(
                    "the content of position {} is not readable yet",
                    commit.global_position
                ))
            })?;
            let mut copy = crate::codec::decode_commit(content.bytes.clone()).map_err(|e| {
                broken(format!(
                    "the content of position {} does not decode: {e}",
                    commit.global_position
                ))
            })?;
            if copy.hash != commit.hash {
                return Err(broken(format!(
                    "the content stream holds another commit for position {}",
                    commit.global_position
                )));
            }
            copy.global_position = commit.global_position;
            *commit = copy;
            held.insert(commit.global_position, content);
        }
        let rewrites = plan
            .apply(&history, position)
            .map_err(|e| broken(format!("the redaction does not apply to the log: {e}")))?;
        // Every rewritten content is published before any earlier one is
        // erased: each commit keeps a content throughout. One that changed
        // meanwhile (another replica applied a later redaction) makes
        // this one start again from the copies as they are then.
        let mut standing = Vec::with_capacity(rewrites.len());
        for rewritten in &rewrites {
            let from = held.get(&rewritten.global_position).ok_or_else(|| {
                broken(format!(
                    "position {} is rewritten, but is not of the article from position {}",
                    rewritten.global_position, plan.position
                ))
            })?;
            let at = self
                .contents
                .replace(rewritten, from)
                .await
                .map_err(Stop::Retry)?;
            standing.push(at);
        }
        for (rewritten, at) in rewrites.iter().zip(standing) {
            self.contents
                .forget_before(&rewritten.hash, at)
                .await
                .map_err(Stop::Retry)?;
        }
        tracing::info!(
            position,
            rewritten = ?rewrites.iter().map(|c| c.global_position).collect::<Vec<_>>(),
            "applying a redaction"
        );
        commit.rewrites = rewrites;
        Ok(commit)
    }

    /// The article's commits before `version`, as this replica holds them.
    async fn history(&self, article: ArticleId, version: u64) -> Result<Vec<Commit>, Stop> {
        let mut positions = Vec::new();
        for v in 1..version {
            match self.local.stream_entry(article, v) {
                Ok(Some(entry)) => positions.push(entry.global_position),
                Ok(None) => {
                    return Err(Stop::Retry(format!(
                        "version {v} of article {article} is not applied here yet"
                    )))
                }
                Err(StoreError::Closed(_)) => return Err(Stop::Closed),
                Err(e) => return Err(Stop::Retry(e.to_string())),
            }
        }
        let commits = self
            .local
            .read_commits(&positions)
            .map_err(|e| Stop::Retry(e.to_string()))?;
        commits
            .into_iter()
            .zip(&positions)
            .map(|(commit, at)| {
                commit.ok_or_else(|| Stop::Retry(format!("position {at} is not readable here")))
            })
            .collect()
    }
}

impl Follower {
    /// Checks that the stream still holds, at the store's last position,
    /// the commit the store applied there. A stream that lost
    /// acknowledged commits (an R1 nats-server that died before it wrote
    /// them to its files, a stream restored from an older copy) would
    /// otherwise hand those positions out again, to other commits.
    async fn still_holds(&self, applied: u64) -> Result<(), Stop> {
        if applied == 0 {
            return Ok(());
        }
        let here = match self.local.read(applied) {
            Ok(Some(commit)) => commit,
            Ok(None) => {
                return Err(Stop::Retry(format!(
                    "position {applied} is not readable here yet"
                )))
            }
            Err(StoreError::Closed(_)) => return Err(Stop::Closed),
            Err(e) => return Err(Stop::Retry(e.to_string())),
        };
        let held = tokio::time::timeout(CREATE_LIMIT, self.stream.get_raw_message(applied)).await;
        let lost = |why: String| {
            Err(Stop::Break(StreamBreak {
                position: applied,
                why,
            }))
        };
        match held {
            Err(_) => Err(Stop::Retry(format!(
                "the stream's message at position {applied} was not read within {CREATE_LIMIT:?}"
            ))),
            Ok(Err(e)) if e.kind() == RawMessageErrorKind::NoMessageFound => lost(format!(
                "the stream no longer holds position {applied}, which this replica applied: it lost acknowledged commits"
            )),
            Ok(Err(e)) => Err(Stop::Retry(format!(
                "cannot read the stream's message at position {applied}: {e}"
            ))),
            Ok(Ok(message)) => match held_hash(&message) {
                Some(there) if there[..] == here.hash[..] => Ok(()),
                _ => lost(format!(
                    "the stream holds another message at position {applied} than the commit this replica applied there"
                )),
            },
        }
    }
}

/// The commit hash a commit stream message holds: a stub's, or a whole
/// commit's.
fn held_hash(message: &async_nats::jetstream::message::StreamMessage) -> Option<Vec<u8>> {
    match stub_hash(Some(&message.headers), &message.payload) {
        Some(hash) => hash.ok().map(|h| h.to_vec()),
        None => crate::codec::decode_commit(message.payload.clone())
            .ok()
            .map(|c| c.hash),
    }
}

fn stream_commit<E: std::fmt::Display>(
    message: Result<async_nats::jetstream::Message, E>,
) -> Result<Incoming, String> {
    let message = message.map_err(|e| format!("the consumer failed: {e}"))?;
    let position = message
        .info()
        .map_err(|e| format!("a message without its stream sequence: {e}"))?
        .stream_sequence;
    let article = message
        .subject
        .rsplit('.')
        .next()
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .map(crate::domain::ArticleId::from_uuid);
    if let Some(hash) = stub_hash(message.message.headers.as_ref(), &message.message.payload) {
        return Ok(Incoming::Stub {
            position,
            article,
            hash,
        });
    }
    Ok(Incoming::Whole(StreamCommit {
        position,
        bytes: message.message.payload.clone(),
        article,
        hash: None,
        rewrites: Vec::new(),
    }))
}
