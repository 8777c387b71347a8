//! Each commit's content, kept apart from the commit stream, so that a
//! redaction can really remove it ("forgettable payloads", issue 16).
//!
//! The commit stream denies deletes and purges: a commit's message there
//! is its *stub*, the commit hash alone, marked by the header
//! `Answerlog-Content`. The commit itself, as encoded, is a message of
//! the content stream `<stream>_content`, which allows deletes, on the
//! subject `<stream>.content.<hex of the commit hash>`. It is published
//! first, and its stub only once JetStream has acknowledged it, so that no
//! stub is ever without its content (`publisher.rs`). Content whose stub
//! never came (its replica died between the two) is finished or removed
//! by `sweeper.rs`.
//!
//! A content message carries the subject sequence its stub expects
//! (`Answerlog-After`), which is what finishing it needs. A redaction's
//! carries its plan (`Answerlog-Redaction`: `domain::RedactionPlan`),
//! which is what each replica needs to rewrite its copy the same. A
//! redaction replaces the content of each commit it rewrites by the
//! rewritten commit, published on the same subject, and then erases the
//! earlier messages there: nats-server overwrites an erased message in
//! its files (unless the store is encrypted at rest, where it deletes
//! it, and the ciphertext stays until its block is compacted).
//!
//! Messages of the commit stream without the header hold the commit
//! whole, as every message did before content was kept apart: they are
//! read as before, and cannot be redacted.

use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use async_nats::jetstream::stream::{
    self, DeleteMessageErrorKind, LastRawMessageErrorKind, RawMessageErrorKind,
};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self};
use async_nats::HeaderMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{JetStreamOptions, JoinError};
use crate::codec::encode_commit;
use crate::domain::{hex, Commit, Hash, RedactionPlan};
use crate::signing::unhex;

/// On a commit stream message: the message is the commit's hash, and its
/// content is on the subject this header names.
pub(super) const STUB: &str = "Answerlog-Content";
/// On a content message: the subject sequence its stub expects.
const AFTER: &str = "Answerlog-After";
/// On a redaction's content message: its plan, as `plan_text` writes it.
const REDACTION: &str = "Answerlog-Redaction";

/// The content stream.
#[derive(Clone)]
pub(super) struct Contents {
    pub(super) stream: stream::Stream,
    context: jetstream::Context,
    prefix: String,
    /// What this replica's publisher sent lately, for its follower to take
    /// instead of reading it back (`fetch_sent`), and their bytes in all.
    sent: Arc<Mutex<(HashMap<Hash, Content>, usize)>>,
}

/// The most bytes of content `sent` keeps: more are forgotten (and read
/// back).
const SENT_KEPT: usize = 64 << 20;

/// A content message as a replica reads it.
pub(super) struct Content {
    pub(super) sequence: u64,
    pub(super) bytes: bytes::Bytes,
    /// The subject sequence its stub expects.
    pub(super) after: Option<u64>,
    /// A redaction's plan.
    pub(super) plan: Option<RedactionPlan>,
    /// Why a header did not read, if one did not (`after` and `plan` are
    /// then left out).
    pub(super) unread: Option<String>,
    /// When JetStream stored it, in nanoseconds since the epoch.
    pub(super) stored_nanos: i128,
}

impl Contents {
    /// The content stream of the commit stream `options` names, created
    /// if it does not exist. Deletes are allowed; nothing expires.
    pub(super) async fn open(
        context: &jetstream::Context,
        options: &JetStreamOptions,
    ) -> Result<Self, JoinError> {
        let name = options.content_stream();
        let prefix = format!("{}.content", options.stream);
        let failed = |why: String| JoinError::Stream {
            stream: name.clone(),
            why,
        };
        let stream = context
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                description: Some(
                    "answerlog commits' content, one message a commit, apart so that it can be redacted"
                        .into(),
                ),
                subjects: vec![format!("{prefix}.*")],
                storage: stream::StorageType::File,
                num_replicas: options.replicas,
                duplicate_window: options.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        let config = &stream.cached_info().config;
        if config.subjects != [format!("{prefix}.*")] || config.deny_delete {
            return Err(failed(format!(
                "it exists with subjects {:?}{}, not as answerlog makes it",
                config.subjects,
                if config.deny_delete {
                    " and denies deletes"
                } else {
                    ""
                }
            )));
        }
        Ok(Self {
            stream,
            context: context.clone(),
            prefix,
            sent: Arc::default(),
        })
    }

    /// The subject of the content of the commit hashing `hash`.
    pub(super) fn subject(&self, hash: &[u8]) -> String {
        format!("{}.{}", self.prefix, hex(hash))
    }

    /// Sends the content of the commit hashing `hash`, `bytes` (the
    /// commit encoded without its position): the acknowledgement to wait
    /// for before its stub is sent. `after` is the subject sequence the
    /// stub will expect.
    pub(super) async fn send(
        &self,
        hash: &[u8],
        bytes: bytes::Bytes,
        after: Option<u64>,
        plan: Option<&RedactionPlan>,
    ) -> Result<PublishAckFuture, PublishError> {
        let message = message(bytes, after, plan);
        self.context.send_publish(self.subject(hash), message).await
    }

    /// As `send`, for a commit this replica's publisher writes: its
    /// follower takes the content as sent (`fetch_sent`).
    pub(super) async fn send_new(
        &self,
        hash: &Hash,
        bytes: Vec<u8>,
        after: u64,
        plan: Option<&RedactionPlan>,
    ) -> Result<PublishAckFuture, PublishError> {
        let bytes = bytes::Bytes::from(bytes);
        {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            let (kept, size) = &mut *sent;
            if *size + bytes.len() > SENT_KEPT {
                kept.clear();
                *size = 0;
            }
            *size += bytes.len();
            kept.insert(
                *hash,
                Content {
                    sequence: 0,
                    bytes: bytes.clone(),
                    after: Some(after),
                    plan: plan.cloned(),
                    unread: None,
                    stored_nanos: 0,
                },
            );
        }
        self.send(hash, bytes, Some(after), plan).await
    }

    /// Forgets a content sent for a commit that will not be stored.
    pub(super) fn unsent(&self, hash: &Hash) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let (kept, size) = &mut *sent;
        if let Some(content) = kept.remove(hash) {
            *size -= content.bytes.len();
        }
    }

    /// The content of the commit hashing `hash`, as it stands now (the
    /// last message on its subject, read from the stream's leader); none
    /// if the stream holds none.
    pub(super) async fn fetch(&self, hash: &[u8]) -> Result<Option<Content>, String> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.subject(hash))
            .await
        {
            Ok(message) => Ok(Some(content(message))),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(format!(
                "cannot read the content of commit {}: {e}",
                hex(hash)
            )),
        }
    }

    /// As `fetch`, but a content this replica sent lately is taken as it
    /// was sent, without reading it back: the content of a commit whose
    /// stub the stream holds is what its replica sent, unless a redaction
    /// rewrote it since, which this replica's follower applies when it
    /// comes to that redaction.
    pub(super) async fn fetch_sent(&self, hash: &Hash) -> Result<Option<Content>, String> {
        let sent = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            let (kept, size) = &mut *sent;
            let taken = kept.remove(hash);
            if let Some(content) = &taken {
                *size -= content.bytes.len();
            }
            taken
        };
        match sent {
            Some(content) => Ok(Some(content)),
            None => self.fetch(hash).await,
        }
    }

    /// The message at `sequence`; none if it was removed.
    pub(super) async fn at(&self, sequence: u64) -> Result<Option<Content>, String> {
        match self.stream.get_raw_message(sequence).await {
            Ok(message) => Ok(Some(content(message))),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(format!("cannot read content message {sequence}: {e}")),
        }
    }

    /// Makes `rewritten`, which is `held` (the last message on its
    /// subject) rewritten, the content of its commit: published after
    /// `held` unless it is the same, and only if `held` is still the last
    /// there (a copy rewritten from an older one could lack what a later
    /// redaction removed). What `held` says besides the commit goes on:
    /// the sequence its stub expects, and a redaction's plan (a later
    /// redaction rewrites an earlier one's commit when its answer
    /// changed). The sequence of the content that stands; the messages
    /// before it stay until `forget_before`.
    pub(super) async fn replace(&self, rewritten: &Commit, held: &Content) -> Result<u64, String> {
        let bytes = stored(rewritten);
        if held.bytes.as_ref() == bytes {
            return Ok(held.sequence);
        }
        let message = message(bytes.into(), held.after, held.plan.as_ref())
            .expected_last_subject_sequence(held.sequence);
        let ack = self
            .context
            .send_publish(self.subject(&rewritten.hash), message)
            .await
            .map_err(|e| format!("cannot publish a rewritten content: {e}"))?
            .await
            .map_err(|e| match e.kind() {
                PublishErrorKind::WrongLastSequence => format!(
                    "the content of commit {} changed while it was being rewritten: rewriting it again",
                    hex(&rewritten.hash)
                ),
                _ => format!("a rewritten content was not acknowledged: {e}"),
            })?;
        Ok(ack.sequence)
    }

    /// Erases every message on the subject of the commit hashing `hash`
    /// before sequence `last`.
    pub(super) async fn forget_before(&self, hash: &[u8], last: u64) -> Result<(), String> {
        let subject = self.subject(hash);
        let mut from = 1;
        while from < last {
            let next = self
                .stream
                .raw_message_builder()
                .next_by_subject(subject.clone())
                .sequence(from)
                .send()
                .await;
            let sequence = match next {
                Ok(message) => message.sequence,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(()),
                Err(e) => return Err(format!("cannot list the content on {subject}: {e}")),
            };
            if sequence >= last {
                return Ok(());
            }
            self.erase(sequence).await?;
            from = sequence + 1;
        }
        Ok(())
    }

    /// Erases the message at `sequence`: nats-server overwrites it in its
    /// files. One erased already is no failure.
    pub(super) async fn erase(&self, sequence: u64) -> Result<(), String> {
        match self.stream.delete_message(sequence).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind() {
                DeleteMessageErrorKind::JetStream(e)
                    if [ErrorCode::SEQUENCE_NOT_FOUND, ErrorCode::NO_MESSAGE_FOUND]
                        .contains(&e.error_code()) =>
                {
                    Ok(())
                }
                _ => Err(format!("cannot erase content message {sequence}: {e}")),
            },
        }
    }
}

/// A content message: the commit's bytes, and its headers.
fn message(
    bytes: bytes::Bytes,
    after: Option<u64>,
    plan: Option<&RedactionPlan>,
) -> PublishMessage {
    let mut message = PublishMessage::build().payload(bytes);
    if let Some(after) = after {
        message = message.header(AFTER, after.to_string());
    }
    if let Some(plan) = plan {
        message = message.header(REDACTION, plan_text(plan));
    }
    message
}

/// The bytes a redaction's plan adds to its content message.
pub(super) fn plan_len(plan: Option<&RedactionPlan>) -> usize {
    plan.map_or(0, |plan| REDACTION.len() + plan_text(plan).len() + 4)
}

/// A commit as its content message holds it: without its position.
fn stored(commit: &Commit) -> Vec<u8> {
    let mut commit = commit.clone();
    commit.global_position = 0;
    encode_commit(&commit)
}

/// The stub of the commit hashing `hash`, sent as its commit's message.
pub(super) fn stub(contents: &Contents, hash: &[u8]) -> PublishMessage {
    PublishMessage::build()
        .payload(bytes::Bytes::copy_from_slice(hash))
        .header(STUB, contents.subject(hash))
}

/// The hash a commit stream message holds, if it is a stub.
pub(super) fn stub_hash(
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Option<Result<Hash, String>> {
    headers.and_then(|h| h.get(STUB))?;
    Some(payload.try_into().map_err(|_| {
        format!(
            "a stub of {} bytes, not a 32-byte commit hash",
            payload.len()
        )
    }))
}

/// A content message as read; headers that do not read are left out, and
/// why is kept (`Content::unread`).
fn content(message: StreamMessage) -> Content {
    let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
    let sequence = message.sequence;
    let read = || -> Result<(Option<u64>, Option<RedactionPlan>), String> {
        let after = match header(AFTER) {
            Some(text) => Some(
                text.parse()
                    .map_err(|_| format!("content message {sequence}: {AFTER} {text:?}"))?,
            ),
            None => None,
        };
        let plan = match header(REDACTION) {
            Some(text) => Some(
                parse_plan(&text)
                    .map_err(|why| format!("content message {sequence}: {REDACTION}: {why}"))?,
            ),
            None => None,
        };
        Ok((after, plan))
    };
    let (after, plan, unread) = match read() {
        Ok((after, plan)) => (after, plan, None),
        Err(why) => (None, None, Some(why)),
    };
    Content {
        sequence,
        bytes: message.payload,
        after,
        plan,
        unread,
        stored_nanos: message.time.unix_timestamp_nanos(),
    }
}

/// A plan as its header holds it: `<position>/<event>`, then
/// `<position>:<hex answer digest>` for each answer digest, space apart.
fn plan_text(plan: &RedactionPlan) -> String {
    let mut text = format!("{}/{}", plan.position, plan.event);
    for (position, digest) in &plan.answer_digests {
        text.push_str(&format!(" {position}:{}", hex(digest)));
    }
    text
}

fn parse_plan(text: &str) -> Result<RedactionPlan, String> {
    let mut words = text.split(' ');
    let (position, event) = words
        .next()
        .and_then(|w| w.split_once('/'))
        .and_then(|(p, e)| Some((p.parse().ok()?, e.parse().ok()?)))
        .ok_or_else(|| format!("{text:?} does not begin with <position>/<event>"))?;
    let answer_digests = words
        .map(|word| {
            let (p, d) = word.split_once(':')?;
            let digest: Hash = unhex::<32>(d)?;
            Some((p.parse().ok()?, digest))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("{text:?}: an answer digest is not <position>:<64 hex digits>"))?;
    Ok(RedactionPlan {
        position,
        event,
        answer_digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_back_as_its_header_writes_it() {
        let plan = RedactionPlan {
            position: 3,
            event: 1,
            answer_digests: vec![(3, [1; 32]), (17, [0xab; 32])],
        };
        assert_eq!(parse_plan(&plan_text(&plan)), Ok(plan));
        let bare = RedactionPlan {
            position: 9,
            event: 0,
            answer_digests: Vec::new(),
        };
        assert_eq!(parse_plan(&plan_text(&bare)), Ok(bare));
        for bad in ["", "3", "3/x", "3/0 4", "3/0 4:00", "3/0 x:00"] {
            assert!(parse_plan(bad).is_err(), "{bad:?}");
        }
    }
}
