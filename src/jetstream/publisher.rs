//! The write path of a replica: hash the commit onto the article's head,
//! claim its slugs, publish it with optimistic concurrency and
//! de-duplication, and answer once the local store has applied it.
//!
//! Appends are taken in queue order and sent in that order on one
//! connection. Their acknowledgements are awaited concurrently, except
//! that a write to an article whose previous publish is not yet
//! acknowledged waits for it (and the queue behind it waits too): it is
//! decided on the head that publish leaves, known here before the local
//! store applies it, so that a bulk import can queue many writes to one
//! article.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_nats::jetstream;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use super::content::{self, Contents};
use super::slugs::{slugs_taken, Claim, Made, Slugs};
use super::{applied, catch_up, JetStreamOptions};
use crate::codec::encode_commit;
use crate::domain::{ArticleId, CommandId, Event, Hash, RedactionPlan, ZERO_HASH};
use crate::log::{
    admit, retried, Admission, AppendError, AppendRequest, Appended, Facts, Log as _, Rejection,
    StreamBreak,
};
use crate::metrics::Metrics;
use crate::store::SledStore;

/// Bytes of a message's limit kept for its headers (`Nats-Msg-Id`,
/// `Nats-Expected-Last-Subject-Sequence` and their framing: about 120).
const HEADER_MARGIN: usize = 512;

/// How many publishes may wait for their acknowledgement at once.
const IN_FLIGHT: usize = 1024;

/// An append waiting for the publisher.
pub(crate) struct Queued {
    pub(crate) request: AppendRequest,
    pub(crate) reply: oneshot::Sender<Result<Appended, AppendError>>,
    pub(crate) queued_at: Instant,
}

/// An article's last commit, as far as this replica knows.
#[derive(Clone, Copy, Debug)]
struct Head {
    version: u64,
    /// Its stream sequence: what the next commit expects as the subject's last.
    position: u64,
    hash: Hash,
    micros: i64,
    command: Option<CommandId>,
}

const NO_HEAD: Head = Head {
    version: 0,
    position: 0,
    hash: ZERO_HASH,
    micros: 0,
    command: None,
};

pub(super) struct Publisher {
    shared: Arc<Shared>,
    stubs: mpsc::UnboundedReceiver<Stub>,
}

/// A stub to send once its commit's content is stored.
struct Stub {
    content: PublishAckFuture,
    subject: String,
    message: async_nats::jetstream::message::PublishMessage,
    reply: oneshot::Sender<Result<PublishAckFuture, AppendError>>,
}

/// Sends each stub once its content is stored, in the order the contents
/// were sent (which is the queue's): JetStream acknowledges them in that
/// order, so waiting for one at a time holds nothing up.
async fn send_stubs(context: jetstream::Context, mut stubs: mpsc::UnboundedReceiver<Stub>) {
    while let Some(stub) = stubs.recv().await {
        let sent = match stub.content.await {
            Ok(_) => context
                .send_publish(stub.subject, stub.message)
                .await
                .map_err(unacknowledged),
            Err(e) => Err(unacknowledged(e)),
        };
        let _ = stub.reply.send(sent);
    }
}

struct Shared {
    local: Arc<SledStore>,
    client: async_nats::Client,
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    contents: Contents,
    slugs: Slugs,
    options: JetStreamOptions,
    broken: watch::Receiver<Option<StreamBreak>>,
    metrics: Option<Arc<Metrics>>,
    /// Commits published from here that the local store may not have
    /// applied yet: the head the next publish to the article builds on.
    published: Mutex<HashMap<ArticleId, Head>>,
    /// One publish at a time per article.
    articles: Mutex<HashMap<ArticleId, Arc<tokio::sync::Mutex<()>>>>,
    /// To `send_stubs`.
    stubs: mpsc::UnboundedSender<Stub>,
}

impl Publisher {
    pub(super) fn new(
        local: Arc<SledStore>,
        (client, context, stream, slugs, contents): super::Opened,
        options: JetStreamOptions,
        broken: watch::Receiver<Option<StreamBreak>>,
    ) -> Self {
        let (stubs, sending) = mpsc::unbounded_channel();
        Self {
            stubs: sending,
            shared: Arc::new(Shared {
                stubs,
                metrics: local.metrics(),
                local,
                client,
                context,
                stream,
                contents,
                slugs,
                options,
                broken,
                published: Mutex::default(),
                articles: Mutex::default(),
            }),
        }
    }

    pub(super) async fn run(self, mut requests: mpsc::Receiver<Queued>) {
        let stubs = tokio::spawn(send_stubs(self.shared.context.clone(), self.stubs));
        let _stop_stubs = AbortOnDrop(stubs);
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        while let Some(queued) = requests.recv().await {
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                return;
            };
            // Writes to one article go one after another, each onto the
            // head the one before it left.
            let lock = self.shared.article_lock(queued.request.article_id);
            let turn = match Arc::clone(&lock).try_lock_owned() {
                Ok(turn) => turn,
                Err(_) => lock.lock_owned().await,
            };
            // Sent here, in queue order, on the one connection: JetStream
            // orders them as they were queued.
            let sent = self.shared.send(&queued.request).await;
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                let published = shared.acknowledged(&queued.request, sent).await;
                drop(turn);
                let outcome = match published {
                    Ok(appended) if !appended.duplicate => {
                        let mut broken = shared.broken.clone();
                        let applied =
                            applied(&shared.local, &mut broken, appended.global_position).await;
                        if let (Ok(()), Some(metrics)) = (&applied, &shared.metrics) {
                            metrics.appended(queued.queued_at);
                        }
                        applied.map(|()| appended)
                    }
                    other => other,
                };
                let _ = queued.reply.send(outcome);
                drop(permit);
            });
        }
    }
}

/// How far `send` took an append.
enum Sent {
    /// Answered without a publish: a retry the store knows, or a refusal.
    Done(Result<Appended, AppendError>),
    /// The head is not the one the write was decided on: settle it once
    /// the stream has been caught up with.
    Conflict(ArticleId),
    /// Its content on its way to JetStream, and its stub to follow once
    /// the content is stored (`send_stubs`): the stub's acknowledgement to
    /// wait for, the head the commit makes, and the slug claims made for it.
    Published {
        ack: oneshot::Receiver<Result<PublishAckFuture, AppendError>>,
        article: ArticleId,
        head: Head,
        made: Vec<Made>,
    },
}

impl Shared {
    fn article_lock(&self, article: ArticleId) -> Arc<tokio::sync::Mutex<()>> {
        let mut articles = self.articles.lock().unwrap_or_else(|e| e.into_inner());
        if articles.len() > 4 * IN_FLIGHT {
            articles.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(articles.entry(article).or_default())
    }

    /// The article's head: what this replica published last, unless its
    /// store has applied that already (then the store knows best).
    fn head(&self, article: ArticleId) -> Result<Head, AppendError> {
        let applied = *self.local.durable_position().borrow();
        {
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            match published.get(&article) {
                Some(head) if head.position > applied => return Ok(*head),
                Some(_) => {
                    published.remove(&article);
                }
                None => {}
            }
        }
        Ok(match self.local.head_entry(article)? {
            Some(entry) => Head {
                version: entry.version,
                position: entry.global_position,
                hash: entry.hash,
                micros: entry.recorded_at.timestamp_micros(),
                command: None,
            },
            None => NO_HEAD,
        })
    }

    /// The original outcome of a command the local store has applied.
    async fn earlier(&self, request: &AppendRequest) -> Result<Option<Appended>, AppendError> {
        retried(request, self.local.find_command(request.command_id).await?)
    }

    /// Checks an append against the head, hashes it, claims its slugs and
    /// sends it.
    async fn send(&self, request: &AppendRequest) -> Sent {
        match self.prepare(request).await {
            Ok(sent) => sent,
            Err(e) => Sent::Done(Err(e)),
        }
    }

    async fn prepare(&self, request: &AppendRequest) -> Result<Sent, AppendError> {
        if let Some(at) = self.broken.borrow().as_ref() {
            return Err(AppendError::Corrupt(format!(
                "this replica does not write onto a broken stream: {at}"
            )));
        }
        let earlier = self.local.find_command(request.command_id).await?;
        let mut article = request.article_id;
        let mut head = match earlier {
            // A retry needs no head.
            Some(_) => NO_HEAD,
            None => self.head(article)?,
        };
        let basis = match (request.decided_after, head.command) {
            (None, _) => None,
            // The head is an append this replica published: the basis
            // made it, or the basis is not the head.
            (Some(basis), Some(command)) => (command == basis).then_some((article, head.version)),
            (Some(basis), None) => self
                .local
                .find_command(basis)
                .await?
                .map(|e| (e.article_id, e.version)),
        };
        let facts = Facts {
            earlier,
            head: head.version,
            basis,
        };
        match admit(request, &facts) {
            Ok(Admission::Retry(done)) => return Ok(Sent::Done(Ok(done))),
            Ok(Admission::Next { .. }) => {}
            // The head this replica knows may be behind the stream's:
            // JetStream's expected sequence settles it (`settle`).
            Err(AppendError::VersionMismatch { .. }) => return Ok(Sent::Conflict(article)),
            Err(e) => return Err(e),
        }
        let plan = self.redaction_plan(request).await?;
        // Sealed before any slug is claimed, so that a commit too large
        // for the stream claims nothing.
        let clock = self.local.clock();
        let seal = |article: ArticleId, head: &Head| {
            // The digests are the replicas' to keep, made as they ingest.
            request
                .clone()
                .seal(article, head.version + 1, 0, &head.hash, head.micros, clock)
                .map(|(commit, hash, _)| (commit, hash))
        };
        let mut version = head.version + 1;
        let (mut commit, mut hash) = seal(article, &head)?;
        let mut payload = encode_commit(&commit);
        // nats-server counts the headers too (the message id and the
        // expected sequence, well under the margin).
        let limit = self
            .client
            .server_info()
            .max_payload
            .saturating_sub(HEADER_MARGIN);
        // A redaction's plan goes in its content's headers.
        let bytes = payload.len() + content::plan_len(plan.as_ref());
        if bytes > limit {
            return Err(AppendError::TooLarge { bytes, limit });
        }
        // Claims made here are released if the commit is refused before
        // it is published.
        let mut made = Vec::new();
        for slug in slugs_taken(&request.events) {
            let claimed = match self.slugs.claim(slug, article, request.command_id).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    self.release(&made).await;
                    return Err(e);
                }
            };
            match claimed {
                Claim::Made(claim) => made.push(claim),
                Claim::Held => {}
                // A retry of a creation whose first attempt claimed the
                // slug: create that article, or find it created. (Its slug
                // comes first, so nothing was claimed for the new id yet.)
                Claim::EarlierAttempt(owner) if request.expected_version == 0 => {
                    self.release(&std::mem::take(&mut made)).await;
                    article = owner;
                    head = self.head(article)?;
                    if head.version != 0 {
                        return Ok(Sent::Conflict(article));
                    }
                    version = head.version + 1;
                    (commit, hash) = seal(article, &head)?;
                    payload = encode_commit(&commit);
                }
                Claim::EarlierAttempt(_) => {
                    self.release(&made).await;
                    return Err(AppendError::Rejected(Rejection::SlugTaken {
                        slug: slug.to_owned(),
                    }));
                }
            }
        }
        let micros = commit.recorded_at.timestamp_micros();
        // The content first; the stub once it is stored (`acknowledged`).
        // A send that fails may have reached JetStream: its claims stay.
        let content = self
            .contents
            .send_new(&hash, payload, head.position, plan.as_ref())
            .await
            .map_err(unacknowledged)?;
        let (reply, ack) = oneshot::channel();
        let stub = Stub {
            content,
            subject: self.options.subject(article),
            message: content::stub(&self.contents, &hash)
                .message_id(request.command_id.to_string())
                .expected_last_subject_sequence(head.position),
            reply,
        };
        self.stubs
            .send(stub)
            .map_err(|_| AppendError::Unavailable("the replica is shutting down".into()))?;
        Ok(Sent::Published {
            ack,
            article,
            made,
            head: Head {
                version,
                position: 0,
                hash,
                micros,
                command: Some(request.command_id),
            },
        })
    }

    /// Waits for JetStream's answer to a sent append: its position, the
    /// original's for a duplicate, or the conflict settled.
    async fn acknowledged(
        &self,
        request: &AppendRequest,
        sent: Sent,
    ) -> Result<Appended, AppendError> {
        let (ack, article, mut head, made) = match sent {
            Sent::Done(outcome) => return outcome,
            Sent::Conflict(article) => return self.settle(request, article, &[]).await,
            Sent::Published {
                ack,
                article,
                head,
                made,
            } => (ack, article, head, made),
        };
        let ack = ack
            .await
            .map_err(|_| AppendError::Unavailable("the replica is shutting down".into()))?
            .inspect_err(|_| self.contents.unsent(&head.hash))?;
        let acknowledged = ack.await;
        if !matches!(&acknowledged, Ok(ack) if !ack.duplicate) {
            // Its follower will not come to this content, or not as sent
            // from here.
            self.contents.unsent(&head.hash);
        }
        match acknowledged {
            Ok(ack) if ack.duplicate => {
                // JetStream holds this command id already (at `ack.sequence`,
                // or, while the original is still being stored, at 0).
                let mut broken = self.broken.clone();
                catch_up(&self.local, &self.stream, &mut broken).await?;
                self.earlier(request)
                    .await?
                    .ok_or_else(|| {
                        AppendError::Unavailable(format!(
                            "JetStream holds command {} already (position {}), but this replica has not applied it yet: retry with the same command_id",
                            request.command_id, ack.sequence
                        ))
                    })
            }
            Ok(ack) => {
                head.position = ack.sequence;
                let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
                if published.len() >= 4 * IN_FLIGHT {
                    // What the store has applied, it knows best.
                    let applied = *self.local.durable_position().borrow();
                    published.retain(|_, head| head.position > applied);
                }
                published.insert(article, head);
                drop(published);
                Ok(Appended {
                    article_id: article,
                    version: head.version,
                    global_position: ack.sequence,
                    duplicate: false,
                })
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                self.settle(request, article, &made).await
            }
            Err(e) => Err(unacknowledged(e)),
        }
    }

    /// A redaction's plan (`content.rs`), once every commit it rewrites is
    /// found kept apart from the commit stream; none for another commit.
    async fn redaction_plan(
        &self,
        request: &AppendRequest,
    ) -> Result<Option<RedactionPlan>, AppendError> {
        if request.rewrites.is_empty() {
            return Ok(None);
        }
        let [Event::PayloadRedacted { position, event }] = request.events[..] else {
            return Err(AppendError::Corrupt(
                "a redaction's commit holds its one PayloadRedacted event".into(),
            ));
        };
        for rewritten in &request.rewrites {
            let at = rewritten.global_position;
            let message = self.stream.get_raw_message(at).await.map_err(|e| {
                AppendError::Unavailable(format!(
                    "cannot read the stream's message at position {at}: {e}"
                ))
            })?;
            if content::stub_hash(Some(&message.headers), &message.payload).is_none() {
                return Err(AppendError::Unsupported(format!(
                    "the commit at position {at} was written before this stream kept commits' content apart: its message holds the content, and the stream denies deletes, so it cannot be redacted (restore a backup into a new stream to redact it)"
                )));
            }
        }
        Ok(Some(RedactionPlan::of(position, event, &request.rewrites)))
    }

    /// Releases the slug claims `made` for a commit that can never be in
    /// the stream, and counts them.
    async fn release(&self, made: &[Made]) {
        if made.is_empty() {
            return;
        }
        let released = self.slugs.release(made).await;
        if let Some(metrics) = &self.metrics {
            metrics.slug_claims_released(released);
        }
    }

    /// Another commit reached the article first: catch up with the stream,
    /// then answer as a retry if this command is among what it held, or
    /// with the version conflict. The conflict is for good (the commit
    /// expected a subject sequence the stream has passed), so the slug
    /// claims `made` for it are released.
    async fn settle(
        &self,
        request: &AppendRequest,
        article: ArticleId,
        made: &[Made],
    ) -> Result<Appended, AppendError> {
        let mut broken = self.broken.clone();
        catch_up(&self.local, &self.stream, &mut broken).await?;
        if let Some(done) = self.earlier(request).await? {
            return Ok(done);
        }
        self.release(made).await;
        Err(AppendError::VersionMismatch {
            expected: request.expected_version,
            current: self.head(article)?.version,
        })
    }
}

/// Ends a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A publish that JetStream did not acknowledge: in doubt.
fn unacknowledged(e: async_nats::jetstream::context::PublishError) -> AppendError {
    AppendError::Unavailable(format!(
        "JetStream did not acknowledge the commit ({e}); it may or may not be in the stream: retry with the same command_id"
    ))
}
