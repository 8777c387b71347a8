//! What a stream sends of a commit: the commit as the log stores it, with
//! what its message needs beside, so that the edge makes the message from
//! the stored bytes (a catch-up reads every commit of the log); or, for a
//! commit those bytes cannot make a message of, the commit decoded in full.

use chrono::NaiveDate;

use super::audit::{CommitView, Dates};
use super::{App, AppError};
use crate::codec::{commit_bytes, decode_commit, CommitBytes};
use crate::domain::{ArticleId, Hash};
use crate::log::StoreError;

/// A commit as the log stores it, read in place (`CommitBytes`): one of
/// encoding 2, nothing redacted, its events' kinds flat, with its payload
/// digests as the writer kept them (one an event) and the date it leaves
/// its article showing.
#[derive(Clone, Debug)]
pub(crate) struct StoredView {
    pub(crate) commit: CommitBytes,
    pub(crate) log_hash: Hash,
    /// One for each event, as the writer kept them.
    pub(crate) payload_digests: Vec<Hash>,
    pub(crate) last_updated: NaiveDate,
}

impl StoredView {
    pub(crate) fn new(
        commit: CommitBytes,
        log_hash: Hash,
        payload_digests: Vec<Hash>,
        last_updated: NaiveDate,
    ) -> Self {
        Self {
            commit,
            log_hash,
            payload_digests,
            last_updated,
        }
    }

    /// The commit decoded in full, as `App::views_carrying_dates` reads it.
    pub(crate) fn into_view(self) -> Result<CommitView, AppError> {
        let commit = decode_commit(self.commit.record().clone()).map_err(StoreError::from)?;
        Ok(CommitView {
            revision: commit.revision(self.last_updated),
            payload_digests: self.payload_digests,
            commit,
            log_hash: self.log_hash,
        })
    }
}

/// A commit a stream sends.
#[derive(Clone, Debug)]
pub(crate) enum StreamView {
    Stored(Box<StoredView>),
    Decoded(Box<CommitView>),
}

impl StreamView {
    pub(crate) fn global_position(&self) -> u64 {
        match self {
            StreamView::Stored(v) => v.commit.global_position,
            StreamView::Decoded(v) => v.commit.global_position,
        }
    }

    pub(crate) fn article_id(&self) -> ArticleId {
        match self {
            StreamView::Stored(v) => v.commit.article_id,
            StreamView::Decoded(v) => v.commit.article_id,
        }
    }

    /// Its events' kinds, in order.
    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        match self {
            StreamView::Stored(v) => v.commit.kinds(),
            StreamView::Decoded(v) => v.commit.events.iter().map(|e| e.kind()).collect(),
        }
    }

    /// With every payload digest (`CommitView::digested`).
    pub(crate) fn digested(self) -> Self {
        match self {
            StreamView::Decoded(v) => StreamView::Decoded(Box::new(v.digested())),
            stored => stored,
        }
    }
}

impl App {
    /// The commits at `positions` (increasing, each durable) as a stream
    /// sends them, `dates` carried from one call to the next as
    /// `views_carrying_dates` carries them.
    pub(super) fn stream_views(
        &self,
        positions: &[u64],
        dates: &mut Dates,
    ) -> Result<Vec<StreamView>, AppError> {
        let records = self.store.read_records(positions)?;
        let hashes = self.store.log_hashes(positions)?;
        let mut digests = self.store.payload_digests(positions)?.into_iter();
        super::audit::bound_dates(dates);
        let mut views = Vec::with_capacity(positions.len());
        for ((record, log_hash), position) in records.into_iter().zip(hashes).zip(positions) {
            let record = record
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            let payload_digests = digests.next().flatten().unwrap_or_default();
            // A record that does not read in place is decoded in full,
            // which says what is wrong with it; so is one with an event
            // whose kind holds a message, one that sets its article's
            // date, and one without its digests.
            let stored = commit_bytes(record.clone())
                .filter(|c| c.flat() && !c.sets_date() && payload_digests.len() == c.events.len());
            if let Some(commit) = stored {
                let date = self.carry_date(dates, commit.article_id, commit.version, None)?;
                views.push(StreamView::Stored(Box::new(StoredView::new(
                    commit,
                    log_hash,
                    payload_digests,
                    date,
                ))));
                continue;
            }
            let commit = decode_commit(record).map_err(StoreError::from)?;
            let date =
                self.carry_date(dates, commit.article_id, commit.version, commit.date_set())?;
            views.push(StreamView::Decoded(Box::new(CommitView {
                revision: commit.revision(date),
                payload_digests,
                commit,
                log_hash,
            })));
        }
        Ok(views)
    }
}
