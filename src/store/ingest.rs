//! A replica's side of a replicated log: commits that another process
//! (any replica) wrote to the stream, applied here in stream order.
//!
//! The stream orders the commits and numbers them; the writer checks each
//! one as it applies it (its position follows the last; it follows its
//! article's head by `domain::link`'s rule: the next version, linked,
//! hashing as recorded, recorded after the head), derives the log chain and writes the log's records and the read models
//! in the batch it flushes. A commit that fails a check is a break: it and
//! everything after it stay unapplied, and the replica says where and why.

use std::collections::HashMap;

use super::stream_commit::{IngestError, Ingested, StreamCommit};
use super::view::BatchView;
use super::writer::Writer;
use crate::codec::decode_commit;
use crate::domain::{follow_with_digests, log_hash, CommandId};
use crate::log::CommandEntry;
use crate::log::StreamBreak;
use crate::projection::ProjectError;

impl Writer {
    /// Checks one message of the stream and applies it to `view`.
    pub(super) fn ingest_one(
        &mut self,
        view: &mut BatchView<'_>,
        message: &StreamCommit,
        in_batch: &mut HashMap<CommandId, CommandEntry>,
    ) -> Result<Ingested, IngestError> {
        let position = message.position;
        let broken = |why: String| IngestError::Break(StreamBreak { position, why });
        if position <= self.state.last_position {
            self.stats.count_redelivered();
            return Ok(Ingested::Seen);
        }
        if position != self.state.last_position + 1 {
            // The follower asks the stream again from the next position;
            // if the stream itself skips it, that is the break.
            return Err(IngestError::Behind {
                applied: self.state.last_position,
            });
        }
        let mut commit = decode_commit(message.bytes.clone())
            .map_err(|e| broken(format!("the message does not decode as a commit: {e}")))?;
        commit.global_position = position;
        if message
            .hash
            .is_some_and(|h| h.as_slice() != commit.hash.as_slice())
        {
            return Err(broken(
                "its content is of another commit than the stream's hash names".into(),
            ));
        }
        if message.article.is_some_and(|a| a != commit.article_id) {
            return Err(broken(format!(
                "the message on the subject of article {} holds a commit of article {}",
                message.article.unwrap_or(commit.article_id),
                commit.article_id
            )));
        }
        let head = self.head(commit.article_id)?;
        let (next, digests) = follow_with_digests(&head, &commit).map_err(|why| {
            broken(format!(
                "version {} of article {}: {why}",
                commit.version, commit.article_id
            ))
        })?;
        let hash = next.hash;
        // A command id the stream already holds (a retry that both the
        // duplicate window and the command index missed) keeps its first
        // outcome: every replica finds the same one.
        let earlier = self.command_entry(commit.command_id, in_batch)?;
        match self.projector.project(view, commit.as_fold()) {
            Ok(()) => {}
            Err(ProjectError::Rejected(rejection)) => {
                return Err(broken(format!("the read models refuse it: {rejection}")))
            }
            Err(ProjectError::Store(e)) => return Err(e.into()),
        }
        let chained = log_hash(&self.state.last_log_hash, position, &hash);
        view.put_commit(&commit, &chained, &digests);
        let entry = match earlier {
            // The log's index keeps the first commit of an id, and a
            // look-up finds it first.
            Some(first) => {
                tracing::warn!(command = %commit.command_id, position, "a command id the stream already holds; its first outcome stands");
                first
            }
            None => CommandEntry {
                article_id: commit.article_id,
                version: commit.version,
                global_position: position,
                request_hash: commit.request_hash,
            },
        };
        self.state.last_position = position;
        self.state.record_time(next.micros);
        self.state.last_log_hash = chained;
        self.heads.insert(commit.article_id, next);
        in_batch.insert(commit.command_id, entry);
        Ok(Ingested::Applied(Box::new(commit)))
    }
}
