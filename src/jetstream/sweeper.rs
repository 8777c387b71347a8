//! Content without its commit: a replica that stored a commit's content
//! and died (or lost JetStream) before it sent the commit's stub leaves
//! content that no commit names (`content.rs`). Each replica goes through
//! the content stream in order and settles every such message:
//!
//! - its commit's place (the article's version) is taken by its commit:
//!   it stays;
//! - the place is taken by another commit: the stub can never be stored
//!   (it expects a subject sequence the stream has passed), so the
//!   content is erased;
//! - the place is still open once `orphan_grace` has passed since the
//!   content was stored: the replica sends the stub itself, as the
//!   replica that wrote it would have (the same bytes, the same
//!   `Nats-Msg-Id`, the same expected subject sequence). Either it is
//!   stored, and the commit stands, as a write in doubt may; or another
//!   commit took the place first, and the content is erased.
//!
//! So no content stays without its commit, and no commit is ever without
//! its content: nothing is erased while its stub could still be stored. A
//! message on a subject that holds a later one (a redaction replaced it)
//! is erased too. Where it got to is kept in the store's meta, so that a
//! restart goes on from there.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use tokio::sync::watch;

use super::content::{stub, Content, Contents};
use super::{catch_up, JetStreamOptions};
use crate::domain::Commit;
use crate::log::{StoreError, StreamBreak};
use crate::store::SledStore;

/// The meta key of the last content message settled.
const SWEPT: &str = "content_swept";

/// How many settled messages between two saves of where the sweep got to.
const SAVE_EVERY: u64 = 256;

pub(super) struct Sweeper {
    pub(super) local: Arc<SledStore>,
    pub(super) contents: Contents,
    pub(super) context: async_nats::jetstream::Context,
    pub(super) stream: async_nats::jetstream::stream::Stream,
    pub(super) options: JetStreamOptions,
    pub(super) broken: watch::Receiver<Option<StreamBreak>>,
}

/// What becomes of a content message.
enum Settled {
    Keep,
    Erase(&'static str),
    /// Its place is open and its grace not over: look again later.
    Wait,
}

/// Why a sweep ended early.
enum Halt {
    /// The local store is shutting down.
    Closed,
    Failed(String),
}

impl From<String> for Halt {
    fn from(why: String) -> Self {
        Halt::Failed(why)
    }
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed(_) => Halt::Closed,
            e => Halt::Failed(e.to_string()),
        }
    }
}

impl Sweeper {
    pub(super) async fn run(self) {
        let every = (self.options.orphan_grace / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            if self.broken.borrow().is_none() {
                match self.sweep().await {
                    Ok(()) => {}
                    Err(Halt::Closed) => return,
                    Err(Halt::Failed(why)) => {
                        tracing::warn!(error = %why, "settling content without its commit failed; trying again")
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn sweep(&self) -> Result<(), Halt> {
        let mut swept = match self.local.meta(SWEPT)? {
            Some(bytes) => bytes
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(format!("the meta key {SWEPT} is not 8 bytes")))?,
            None => 0,
        };
        let last = self
            .contents
            .stream
            .get_info()
            .await
            .map_err(|e| format!("cannot ask for the content stream's head: {e}"))?
            .state
            .last_sequence;
        let mut saved = swept;
        while swept < last {
            let sequence = swept + 1;
            if let Some(content) = self.contents.at(sequence).await? {
                match self.settle(&content).await? {
                    Settled::Keep => {}
                    Settled::Erase(why) => {
                        tracing::info!(sequence, why, "erasing content without its commit");
                        self.contents.erase(sequence).await?;
                    }
                    Settled::Wait => break,
                }
            }
            swept = sequence;
            if swept - saved >= SAVE_EVERY {
                self.local.set_meta(SWEPT, &swept.to_be_bytes())?;
                saved = swept;
            }
        }
        if swept != saved {
            self.local.set_meta(SWEPT, &swept.to_be_bytes())?;
        }
        Ok(())
    }

    async fn settle(&self, content: &Content) -> Result<Settled, Halt> {
        let commit = match crate::codec::decode_commit(content.bytes.clone()) {
            Ok(commit) => commit,
            Err(e) => {
                // Not erased: what cannot be read here may be another
                // version's, and a stub may name it.
                tracing::warn!(sequence = content.sequence, error = %e, "a content message that does not decode is kept");
                return Ok(Settled::Keep);
            }
        };
        if self
            .contents
            .fetch(&commit.hash)
            .await?
            .is_some_and(|last| last.sequence > content.sequence)
        {
            return Ok(Settled::Erase("a later message holds its commit's content"));
        }
        if let Some(settled) = self.placed(&commit).await? {
            return Ok(settled);
        }
        let age = chrono::Utc::now()
            .timestamp_nanos_opt()
            .map_or(0, i128::from)
            - content.stored_nanos;
        if age < self.options.orphan_grace.as_nanos() as i128 {
            return Ok(Settled::Wait);
        }
        let mut broken = self.broken.clone();
        catch_up(&self.local, &self.stream, &mut broken)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(settled) = self.placed(&commit).await? {
            return Ok(settled);
        }
        // A restore's content: the restore, run again, sends its stub
        // (and a redaction of its commit erases this copy).
        let Some(after) = content.after else {
            return Ok(Settled::Keep);
        };
        // A retry of its command, decided anew, made another commit: this
        // one is never to be.
        if self.local.find_command(commit.command_id).await?.is_some() {
            return Ok(Settled::Erase("a retry of its command made another commit"));
        }
        let message = stub(&self.contents, &commit.hash)
            .message_id(commit.command_id.to_string())
            .expected_last_subject_sequence(after);
        let sent = self
            .context
            .send_publish(self.options.subject(commit.article_id), message)
            .await
            .map_err(|e| format!("cannot send a stub: {e}"))?
            .await;
        match sent {
            // The command's id was stored within the duplicate window:
            // this commit, just sent by its own replica, or another one
            // of the command (a retry, decided anew), which makes this
            // one never to be.
            Ok(ack) if ack.duplicate => {
                catch_up(&self.local, &self.stream, &mut broken)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(match self.placed(&commit).await? {
                    Some(Settled::Keep) => Settled::Keep,
                    _ => Settled::Erase("a retry of its command made another commit"),
                })
            }
            Ok(ack) => {
                tracing::warn!(
                    article = %commit.article_id,
                    version = commit.version,
                    position = ack.sequence,
                    "a commit whose replica stored its content but not the commit is finished here"
                );
                Ok(Settled::Keep)
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                catch_up(&self.local, &self.stream, &mut broken)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(self.placed(&commit).await?.unwrap_or(Settled::Wait))
            }
            Err(e) => Err(Halt::Failed(format!("a stub was not acknowledged: {e}"))),
        }
    }

    /// Whether the commit's place (its article's version) is taken here,
    /// and by it: none while it is open.
    async fn placed(&self, commit: &Commit) -> Result<Option<Settled>, Halt> {
        let entry = self.local.stream_entry(commit.article_id, commit.version)?;
        Ok(entry.map(|entry| match entry.hash[..] == commit.hash[..] {
            true => Settled::Keep,
            false => Settled::Erase("another commit took its place"),
        }))
    }
}
