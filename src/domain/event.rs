//! Events: the facts a commit appends, one per change.

use chrono::NaiveDate;

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
        )
    }
}

/// Every event kind's name, in a fixed order.
pub(crate) const EVENT_KINDS: [&str; 18] = [
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
];
