//! A commit: the envelope and the events appended atomically at one version.

use chrono::{DateTime, Utc};

use super::article::Provenance;
use super::event::Event;
use super::ids::{ArticleId, CommandId};

/// A commit as it stands in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The authenticated caller; never a request field.
    pub actor: String,
    pub reason: String,
    pub command_id: CommandId,
    /// The article's provenance once this commit is applied.
    pub provenance: Provenance,
    /// SHA-256 of the request that produced the commit.
    pub request_hash: [u8; 32],
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub events: Vec<Event>,
    /// The salts of a commit written in the encoding v2 (its reason's and
    /// each event's content's); none for one written in v1. A redacted
    /// event's salt is gone: 32 zero bytes stand in, never read.
    pub salts: Option<super::chain_v2::CommitSalts>,
    /// The events whose content a later commit redacted, by index: their
    /// content is blanked in `events` (docs/AUDIT.md, "Redaction").
    pub redactions: Vec<Redaction>,
    /// The answer digest of the commit's Merkle leaf, kept once a
    /// redaction changed the answer after it (its answer salt removed).
    pub answer_digest: Option<super::Hash>,
}

/// An event whose content a later commit removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    /// The event's index in its commit.
    pub event: u32,
    /// What stands for the removed content in the commit's hash: the
    /// content digest (encoding 2) or the payload digest (encoding 1).
    pub digest: super::Hash,
    /// The log position of the commit whose `PayloadRedacted` removed it.
    pub by_position: u64,
}

impl Commit {
    /// The salt of the answer in this commit's Merkle leaf (leaf v2), or
    /// none (leaf v1: written before answers were salted).
    pub(crate) fn answer_salt(&self) -> Option<&super::Salt> {
        self.salts.as_ref()?.answer.as_ref()
    }

    /// The redaction of event `index`, if it was redacted.
    pub(crate) fn redaction(&self, index: usize) -> Option<&Redaction> {
        self.redactions.iter().find(|r| r.event as usize == index)
    }

    /// The salt of event `index`'s content: none in encoding 1, or once
    /// the event is redacted.
    pub(crate) fn event_salt(&self, index: usize) -> Option<&super::Salt> {
        match self.redaction(index) {
            Some(_) => None,
            None => self.salts.as_ref()?.events.get(index),
        }
    }

    pub(crate) fn as_fold(&self) -> CommitFold<'_> {
        CommitFold {
            article_id: self.article_id,
            version: self.version,
            global_position: self.global_position,
            recorded_at: self.recorded_at,
            events: &self.events,
        }
    }

    pub fn event_kinds(&self) -> Vec<String> {
        self.events.iter().map(|e| e.kind().to_owned()).collect()
    }

    /// The date the commit's events set the article to display, if they
    /// set one (else the article keeps the date it had), by the fold's
    /// rule (`Article::fold`): the creation that opens version 1, then
    /// each re-date in order; a creation anywhere else changes nothing.
    pub fn date_set(&self) -> Option<chrono::NaiveDate> {
        let mut date = None;
        for (i, event) in self.events.iter().enumerate() {
            match event {
                Event::ArticleCreated(c) if i == 0 && self.version == 1 => {
                    date = Some(c.last_updated);
                }
                Event::ArticleRedated { last_updated } => date = Some(*last_updated),
                _ => {}
            }
        }
        date
    }
}

/// What folding a commit onto its article's state takes: where it stands,
/// when it was recorded and its events (read without the envelope's text,
/// hashes and salts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitEvents {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub events: Vec<Event>,
}

impl CommitEvents {
    pub(crate) fn as_fold(&self) -> CommitFold<'_> {
        CommitFold {
            article_id: self.article_id,
            version: self.version,
            global_position: self.global_position,
            recorded_at: self.recorded_at,
            events: &self.events,
        }
    }
}

/// A commit as a projection folds it, borrowed from a whole commit (the
/// writer's) or from its events alone (a replay's, which decodes no more).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CommitFold<'a> {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub events: &'a [Event],
}

/// What locates a commit and answers for it, read without its events:
/// the log's index takes its ids, a retry its outcome, a writer its
/// article's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CommitHead {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub command_id: CommandId,
    pub hash: super::Hash,
    pub request_hash: [u8; 32],
}

/// A commit's summary, as revision histories list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub version: u64,
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    pub event_kinds: Vec<String>,
    pub hash: Vec<u8>,
    /// The date the page displays once this commit is applied.
    pub last_updated: chrono::NaiveDate,
    /// What the source of an imported commit says of it (its
    /// OriginClaimed event, as redacted if it was).
    pub origin: Option<super::event::OriginClaims>,
}

impl Commit {
    /// The commit's summary; `last_updated` is the article's displayed date
    /// once the commit is applied.
    pub fn revision(&self, last_updated: chrono::NaiveDate) -> Revision {
        Revision {
            version: self.version,
            global_position: self.global_position,
            recorded_at: self.recorded_at,
            actor: self.actor.clone(),
            reason: self.reason.clone(),
            event_kinds: self.event_kinds(),
            hash: self.hash.clone(),
            last_updated,
            origin: self.events.iter().find_map(|e| match e {
                super::event::Event::OriginClaimed(c) => Some((**c).clone()),
                _ => None,
            }),
        }
    }
}
