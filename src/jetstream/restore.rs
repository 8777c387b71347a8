//! Restoring a backup into a stream: the way from the embedded log to
//! JetStream, and back from a stream with a break to a new one.
//!
//! Each commit is published at its position (`Nats-Expected-Last-Sequence`
//! is the position before it, so the stream sequence is the backup's
//! position), as the replica that wrote it published it: the commit
//! without its position, on its article's subject. Its slugs are claimed
//! first; an empty stream needs an empty slug bucket. A stream that already
//! holds messages is taken as a restore that stopped part way, if every
//! message it holds is the backup's at that position: the rest is
//! published after them. Anything else there is refused.

use std::collections::VecDeque;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;

use super::slugs::{slugs_taken, Claim, Slugs};
use super::{JetStreamLog, JetStreamOptions, JoinError};
use crate::codec::encode_commit;
use crate::domain::Commit;
use crate::request_key::RequestKey;

/// Publishes awaiting their acknowledgement at once.
const IN_FLIGHT: usize = 256;

/// What a restore into the stream did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    /// Commits the stream held already, each the backup's.
    pub(crate) held: u64,
    /// Commits published now.
    pub(crate) published: u64,
}

/// Why a backup could not go into the stream.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error("the backup's commit at position {position}: {why}")]
    Backup { position: u64, why: String },
    #[error("the stream holds {held} messages, more than the backup's {backup}: restore into a new stream (--nats-stream)")]
    Longer { held: u64, backup: u64 },
    #[error("the stream's message at position {position} is not the backup's commit there: restore into a new stream (--nats-stream)")]
    Differs { position: u64 },
    #[error("the stream is empty, but its slug bucket {bucket} holds {claims} messages (of another log?): restore into a new stream (--nats-stream), or remove the bucket")]
    Claims { bucket: String, claims: u64 },
    #[error("slug {slug:?} (position {position}): {why}")]
    Slug {
        slug: String,
        position: u64,
        why: String,
    },
    #[error("JetStream, at position {position}: {why}")]
    Nats { position: u64, why: String },
    #[error("{0}")]
    RequestKey(String),
}

/// Makes the stream's bucket keep `given` as the log's request key;
/// refuses a bucket that keeps another.
async fn keep_request_key(
    slugs: &Slugs,
    options: &JetStreamOptions,
    given: &RequestKey,
) -> Result<(), RestoreError> {
    let kept = super::request_key_retrying(slugs, given).await?;
    if kept.bytes() != given.bytes() {
        return Err(RestoreError::RequestKey(format!(
            "the stream's bucket {} keeps another request key than --request-key gives: restore into a new stream (--nats-stream)",
            options.bucket()
        )));
    }
    Ok(())
}

/// Publishes `commits` (a checked backup's log, from position 1, in order)
/// into the stream `options` names, creating it if need be. A
/// `request_key` given is the log's (`crate::request_key`): once what the
/// stream holds is found to be the backup's, and before anything is
/// published, the stream's bucket is made to keep it; a bucket that keeps
/// another is refused.
pub(crate) async fn publish_backup(
    options: &JetStreamOptions,
    commits: impl IntoIterator<Item = Result<Commit, String>>,
    request_key: Option<&RequestKey>,
) -> Result<Published, RestoreError> {
    let (_client, context, stream, slugs) = JetStreamLog::open_retrying(options).await?;
    let mut key_to_keep = request_key;
    let nats = |position: u64| {
        move |e: &dyn std::fmt::Display| RestoreError::Nats {
            position,
            why: e.to_string(),
        }
    };
    let held = stream
        .get_info()
        .await
        .map_err(|e| nats(0)(&e))?
        .state
        .last_sequence;
    if held == 0 {
        // Claims of another log would keep its slugs from this one.
        let claims = slugs.claims().await.map_err(|e| nats(0)(&e))?;
        if claims > 0 {
            return Err(RestoreError::Claims {
                bucket: options.bucket(),
                claims,
            });
        }
    }
    let mut acks: VecDeque<(u64, PublishAckFuture)> = VecDeque::new();
    let mut position = 0;
    for commit in commits {
        position += 1;
        let mut commit = commit.map_err(|why| RestoreError::Backup { position, why })?;
        commit.global_position = 0;
        let payload = encode_commit(&commit);
        let subject = options.subject(commit.article_id);
        if position <= held {
            let there = stream
                .get_raw_message(position)
                .await
                .map_err(|e| nats(position)(&e))?;
            if there.subject.as_str() != subject || there.payload.as_ref() != payload.as_slice() {
                return Err(RestoreError::Differs { position });
            }
            continue;
        }
        if let Some(given) = key_to_keep.take() {
            keep_request_key(&slugs, options, given).await?;
        }
        for slug in slugs_taken(&commit.events) {
            let refused = |why: String| RestoreError::Slug {
                slug: slug.to_owned(),
                position,
                why,
            };
            match slugs
                .claim(slug, commit.article_id, commit.command_id)
                .await
            {
                Ok(Claim::Made(_) | Claim::Held) => {}
                Ok(Claim::EarlierAttempt(owner)) => {
                    return Err(refused(format!("the bucket gives it to article {owner}")))
                }
                Err(e) => return Err(refused(e.to_string())),
            }
        }
        // No `Nats-Msg-Id`: the expected sequence keeps each commit to its
        // position, and a log may hold one command id twice (a retry that
        // outlived the duplicate window), which de-duplication would drop.
        let message = PublishMessage::build()
            .payload(payload.into())
            .expected_last_sequence(position - 1);
        let ack = context
            .send_publish(subject, message)
            .await
            .map_err(|e| nats(position)(&e))?;
        acks.push_back((position, ack));
        if acks.len() >= IN_FLIGHT {
            if let Some((at, ack)) = acks.pop_front() {
                acknowledged(at, ack).await?;
            }
        }
    }
    for (at, ack) in acks {
        acknowledged(at, ack).await?;
    }
    // Every commit was there already: the key still goes to the bucket.
    if let Some(given) = key_to_keep {
        keep_request_key(&slugs, options, given).await?;
    }
    if position < held {
        return Err(RestoreError::Longer {
            held,
            backup: position,
        });
    }
    Ok(Published {
        held,
        published: position - held,
    })
}

/// Checks that the commit sent for `position` was stored there, once.
async fn acknowledged(position: u64, ack: PublishAckFuture) -> Result<(), RestoreError> {
    let ack = ack.await.map_err(|e| RestoreError::Nats {
        position,
        why: e.to_string(),
    })?;
    if ack.duplicate || ack.sequence != position {
        return Err(RestoreError::Nats {
            position,
            why: format!(
                "stored at {}{}",
                ack.sequence,
                if ack.duplicate { " already" } else { "" }
            ),
        });
    }
    Ok(())
}
