//! Restoring a backup into a stream: the way from the embedded log to
//! JetStream, and back from a stream with a break to a new one.
//!
//! Each commit is published at its position (`Nats-Expected-Last-Sequence`
//! is the position before it, so the stream sequence is the backup's
//! position), as a replica that wrote it publishes it: its content (the
//! commit without its position) in the content stream, and once that is
//! stored, its stub on its article's subject. Its slugs are claimed
//! first; an empty stream needs an empty slug bucket. A stream that already
//! holds messages is taken as a restore that stopped part way, if every
//! message it holds is the backup's at that position: the rest is
//! published after them. Anything else there is refused.

use std::collections::{HashMap, VecDeque};

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;

use super::content;
use super::slugs::{slugs_taken, Claim, Slugs};
use super::{JetStreamLog, JetStreamOptions, JoinError};
use crate::codec::encode_commit;
use crate::domain::{Commit, Event, Hash, RedactionPlan};
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
    let (_client, context, stream, slugs, contents) = JetStreamLog::open_retrying(options).await?;
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
    let mut sending = Sending::default();
    // The answer digests each article's commits keep: a redaction's plan
    // lists those from its position on (`content.rs`).
    let mut kept: HashMap<crate::domain::ArticleId, Vec<(u64, Hash)>> = HashMap::new();
    let mut position = 0;
    for commit in commits {
        position += 1;
        let mut commit = commit.map_err(|why| RestoreError::Backup { position, why })?;
        if let Some(digest) = commit.answer_digest {
            kept.entry(commit.article_id)
                .or_default()
                .push((position, digest));
        }
        let plan = match commit.events[..] {
            [Event::PayloadRedacted {
                position: at,
                event,
            }] => Some(RedactionPlan {
                position: at,
                event,
                answer_digests: kept
                    .get(&commit.article_id)
                    .into_iter()
                    .flatten()
                    .filter(|(p, _)| *p >= at)
                    .copied()
                    .collect(),
            }),
            _ => None,
        };
        commit.global_position = 0;
        let payload = encode_commit(&commit);
        let subject = options.subject(commit.article_id);
        if position <= held {
            let there = stream
                .get_raw_message(position)
                .await
                .map_err(|e| nats(position)(&e))?;
            let same = match content::stub_hash(Some(&there.headers), &there.payload) {
                Some(hash) => hash.is_ok_and(|h| h[..] == commit.hash[..]),
                None => there.payload.as_ref() == payload.as_slice(),
            };
            if there.subject.as_str() != subject || !same {
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
        // No `Answerlog-After`: a content whose stub a restore did not
        // send is not finished by a replica (`sweeper.rs`), but by the
        // restore run again.
        let content = contents
            .send(&commit.hash, payload.into(), None, plan.as_ref())
            .await
            .map_err(|e| nats(position)(&e))?;
        // No `Nats-Msg-Id`: the expected sequence keeps each commit to its
        // position, and a log may hold one command id twice (a retry that
        // outlived the duplicate window), which de-duplication would drop.
        let stub = content::stub(&contents, &commit.hash).expected_last_sequence(position - 1);
        sending
            .contents
            .push_back((position, content, subject, stub));
        if sending.contents.len() >= IN_FLIGHT {
            sending.next_stub(&context).await?;
        }
    }
    while !sending.contents.is_empty() {
        sending.next_stub(&context).await?;
    }
    for (at, ack) in sending.stubs {
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

/// Publishes on their way: contents, each with the stub to send once it
/// is stored, and stubs.
#[derive(Default)]
struct Sending {
    contents: VecDeque<(u64, PublishAckFuture, String, PublishMessage)>,
    stubs: VecDeque<(u64, PublishAckFuture)>,
}

impl Sending {
    /// Waits for the first content to be stored, and sends its stub.
    async fn next_stub(
        &mut self,
        context: &async_nats::jetstream::Context,
    ) -> Result<(), RestoreError> {
        let Some((position, content, subject, stub)) = self.contents.pop_front() else {
            return Ok(());
        };
        let failed = |e: &dyn std::fmt::Display| RestoreError::Nats {
            position,
            why: e.to_string(),
        };
        content.await.map_err(|e| failed(&e))?;
        let ack = context
            .send_publish(subject, stub)
            .await
            .map_err(|e| failed(&e))?;
        self.stubs.push_back((position, ack));
        if self.stubs.len() >= IN_FLIGHT {
            if let Some((at, ack)) = self.stubs.pop_front() {
                acknowledged(at, ack).await?;
            }
        }
        Ok(())
    }
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
