//! Feeds the local store from the stream: an ordered consumer from the
//! position after the store's last, its messages handed to the writer in
//! batches as they come. A restart resumes from the store's checkpoint; a
//! break stops the feed where the stream stops being a valid log.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use tokio::sync::watch;
use tokio_stream::{Stream as _, StreamExt as _};

use crate::store::{IngestError, Log as _, SledStore, StoreError, StreamBreak, StreamCommit};

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
            let first_position = batch[0].position;
            match self.local.ingest(batch).await {
                Ok(_) => first = false,
                Err(IngestError::Break(at)) => return Stop::Break(at),
                // The consumer began where the store asked and still skips:
                // the stream lacks that position.
                Err(IngestError::Behind { applied }) if first && first_position > start => {
                    return Stop::Break(StreamBreak {
                        position: start,
                        why: format!(
                            "position {start} is missing (after {applied}, the stream holds {first_position})"
                        ),
                    })
                }
                Err(IngestError::Behind { applied }) => {
                    return Stop::Retry(format!(
                        "the store holds the log up to position {applied}; consuming from the next"
                    ))
                }
                Err(IngestError::Store(StoreError::Closed(_))) => return Stop::Closed,
                Err(IngestError::Store(e)) => return Stop::Retry(e.to_string()),
            }
        }
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
        let here = match self.local.read(applied).await {
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
            Ok(Ok(message)) => match crate::codec::decode_commit(&message.payload) {
                Ok(there) if there.hash == here.hash => Ok(()),
                _ => lost(format!(
                    "the stream holds another message at position {applied} than the commit this replica applied there"
                )),
            },
        }
    }
}

fn stream_commit<E: std::fmt::Display>(
    message: Result<async_nats::jetstream::Message, E>,
) -> Result<StreamCommit, String> {
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
    Ok(StreamCommit {
        position,
        bytes: message.message.payload.clone(),
        article,
    })
}
