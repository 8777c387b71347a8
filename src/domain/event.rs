//! Events: the facts a commit appends, one per change.

use chrono::{DateTime, NaiveDate, Utc};

use super::article::{Provenance, Section, Source};

/// Everything of an article's first version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleCreated {
    pub slug: String,
    pub question: String,
    pub quick_answer: String,
    pub key_facts: Vec<String>,
    pub sections: Vec<Section>,
    pub sources: Vec<Source>,
    pub last_updated: NaiveDate,
    pub provenance: Provenance,
    pub disclaimer: String,
}

/// What the source of an imported commit says of the revision it came
/// from: claims, kept apart from the log's own facts (the commit's
/// `actor` and `recorded_at` stay the importer's and the server's). Who
/// made the revision, its comment and its text's checksum are content:
/// salted, and removable by a redaction like any other content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginClaims {
    /// The site and the page or post, e.g. `en.wikipedia.org/wiki/Tea`.
    pub origin: String,
    /// The source's id of the revision, and of the one before it (empty
    /// for a first revision).
    pub revision_id: String,
    pub parent_revision_id: String,
    /// When the source says the revision was made, to the microsecond.
    pub time: Option<DateTime<Utc>>,
    /// The source marked it a minor edit.
    pub minor: bool,
    /// Parts the source itself suppressed, which it did not give:
    /// `"actor"`, `"comment"`, `"text"`, in that order.
    pub suppressed: Vec<String>,
    /// Who the source says made the revision: a user name, id or address.
    pub actor: String,
    pub comment: String,
    /// The source's checksum of the revision's text (a MediaWiki `sha1`),
    /// as the source writes it; empty where it gives none.
    pub sha1: String,
    /// What the source calls the change, e.g. `edit body` or `closed` (a
    /// Stack Exchange history row's type); empty where it names none.
    pub kind: String,
    /// The format of the revision's text as the source keeps it, e.g.
    /// `wikitext` or `markdown`; empty where it says none.
    pub format: String,
    /// The licence the source gives the revision's content under, e.g.
    /// `CC BY-SA 4.0`; empty where it gives none.
    pub license: String,
}

impl OriginClaims {
    /// Whether the claims say any of `kind`, `format` and `license`: the
    /// hash then covers the three (docs/AUDIT.md, "Origin claims").
    pub(crate) fn describes(&self) -> bool {
        !(self.kind.is_empty() && self.format.is_empty() && self.license.is_empty())
    }
}

/// The parts of a revision a source can suppress, in the order a claim
/// lists them.
pub(crate) const SUPPRESSIBLE: [&str; 3] = ["actor", "comment", "text"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    ArticleCreated(Box<ArticleCreated>),
    QuestionEdited {
        question: String,
    },
    SlugChanged {
        slug: String,
    },
    QuickAnswerEdited {
        quick_answer: String,
    },
    KeyFactsReplaced {
        key_facts: Vec<String>,
    },
    /// `position` is the section's index once it is inserted.
    SectionAdded {
        section: Section,
        position: u32,
    },
    /// The section's new heading and body, both in full.
    SectionEdited {
        section_id: String,
        heading: String,
        body: String,
    },
    SectionRemoved {
        section_id: String,
    },
    /// `position` is the section's index once it is moved.
    SectionMoved {
        section_id: String,
        position: u32,
    },
    SourceAdded {
        source: Source,
        position: u32,
    },
    /// The source's new fields, all of them; `source.id` names it.
    SourceEdited {
        source: Source,
    },
    SourceRemoved {
        source_id: String,
    },
    ArticleRedated {
        last_updated: NaiveDate,
    },
    ArticleReviewed {
        reviewed_by: String,
    },
    ArticleRetracted {
        reason: String,
    },
    ArticleRestored {
        reason: String,
    },
    /// The content changed, so the standing review no longer covers it:
    /// `reviewed_by` reviewed the content of `reviewed_version`.
    ReviewLapsed {
        reviewed_by: String,
        reviewed_version: u64,
    },
    /// The content of event `event` (from 0) of the article's commit at
    /// log position `position` was removed, for the commit's reason: its
    /// digest stays, so every hash still verifies (docs/AUDIT.md,
    /// "Redaction"). The state it leaves is the fold of the commits with
    /// that content gone, which the commits as stored already give.
    PayloadRedacted {
        position: u64,
        event: u32,
    },
    /// The commit was imported from another system, which claims this of
    /// the revision (`OriginClaims`). It changes nothing of the article.
    OriginClaimed(Box<OriginClaims>),
    /// The slug also names the article, as an old slug does (an imported
    /// redirect's); the article itself is unchanged.
    SlugAliased {
        slug: String,
    },
}

impl Event {
    /// The event kind's name, as shown in revisions and filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ArticleCreated(_) => "ArticleCreated",
            Event::QuestionEdited { .. } => "QuestionEdited",
            Event::SlugChanged { .. } => "SlugChanged",
            Event::QuickAnswerEdited { .. } => "QuickAnswerEdited",
            Event::KeyFactsReplaced { .. } => "KeyFactsReplaced",
            Event::SectionAdded { .. } => "SectionAdded",
            Event::SectionEdited { .. } => "SectionEdited",
            Event::SectionRemoved { .. } => "SectionRemoved",
            Event::SectionMoved { .. } => "SectionMoved",
            Event::SourceAdded { .. } => "SourceAdded",
            Event::SourceEdited { .. } => "SourceEdited",
            Event::SourceRemoved { .. } => "SourceRemoved",
            Event::ArticleRedated { .. } => "ArticleRedated",
            Event::ArticleReviewed { .. } => "ArticleReviewed",
            Event::ArticleRetracted { .. } => "ArticleRetracted",
            Event::ArticleRestored { .. } => "ArticleRestored",
            Event::ReviewLapsed { .. } => "ReviewLapsed",
            Event::PayloadRedacted { .. } => "PayloadRedacted",
            Event::OriginClaimed(_) => "OriginClaimed",
            Event::SlugAliased { .. } => "SlugAliased",
        }
    }

    /// Whether the event ends a standing review: it changes what the answer
    /// shows (its date and slug included), not just its status or review.
    pub fn lapses_review(&self) -> bool {
        !matches!(
            self,
            Event::ArticleCreated(_)
                | Event::ArticleReviewed { .. }
                | Event::ReviewLapsed { .. }
                | Event::ArticleRetracted { .. }
                | Event::ArticleRestored { .. }
                // A redaction changes what earlier events hold, not what
                // this one says: whether the answer changed is the
                // decision's to say (a ReviewLapsed beside it).
                | Event::PayloadRedacted { .. }
                // A claim about where the commit came from.
                | Event::OriginClaimed(_)
                // Another name: what the answer shows is the same.
                | Event::SlugAliased { .. }
        )
    }
}

/// Every event kind's name, in a fixed order.
pub(crate) const EVENT_KINDS: [&str; 20] = [
    "ArticleCreated",
    "QuestionEdited",
    "SlugChanged",
    "QuickAnswerEdited",
    "KeyFactsReplaced",
    "SectionAdded",
    "SectionEdited",
    "SectionRemoved",
    "SectionMoved",
    "SourceAdded",
    "SourceEdited",
    "SourceRemoved",
    "ArticleRedated",
    "ArticleReviewed",
    "ArticleRetracted",
    "ArticleRestored",
    "ReviewLapsed",
    "PayloadRedacted",
    "OriginClaimed",
    "SlugAliased",
];
