//! Feeds the local store from the stream: an ordered consumer from the
//! position after the store's last, its messages handed to the writer in
//! batches as they come. A restart resumes from the store's checkpoint; a
//! break stops the feed where the stream stops being a valid log.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;

use crate::store::{IngestError, Log as _, SledStore, StoreError, StreamBreak, StreamCommit};

/// The most messages one ingest takes.
const BATCH: usize = 512;

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

    async fn follow(&self) -> Stop {
        let start = *self.local.durable_position().borrow() + 1;
        let consumer = match self
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: self.filter.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            })
            .await
        {
            Ok(consumer) => consumer,
            Err(e) => return Stop::Retry(format!("cannot create the consumer: {e}")),
        };
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => return Stop::Retry(format!("cannot consume: {e}")),
        };
        tracing::debug!(start, "following the stream");
        loop {
            let mut batch = Vec::new();
            match messages.next().await {
                Some(message) => match stream_commit(message) {
                    Ok(commit) => batch.push(commit),
                    Err(why) => return Stop::Retry(why),
                },
                None => return Stop::Retry("the consumer ended".into()),
            }
            // Whatever else has arrived goes in the same batch (one flush).
            while batch.len() < BATCH {
                match tokio::time::timeout(Duration::ZERO, messages.next()).await {
                    Ok(Some(message)) => match stream_commit(message) {
                        Ok(commit) => batch.push(commit),
                        Err(why) => return Stop::Retry(why),
                    },
                    Ok(None) | Err(_) => break,
                }
            }
            match self.local.ingest(batch).await {
                Ok(_) => {}
                Err(IngestError::Break(at)) => return Stop::Break(at),
                Err(IngestError::Store(StoreError::Closed(_))) => return Stop::Closed,
                Err(IngestError::Store(e)) => return Stop::Retry(e.to_string()),
            }
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
    Ok(StreamCommit {
        position,
        bytes: message.message.payload.clone(),
    })
}
