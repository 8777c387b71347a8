//! The article aggregate's state, and `apply`: how events change it.
//!
//! `apply` only changes state and cannot fail; every rule that could reject
//! an event lives in `decide`.

use chrono::NaiveDate;

use super::event::Event;
use super::ids::{self, ArticleId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub id: String,
    pub heading: String,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Source {
    pub id: String,
    pub title: String,
    pub publisher: String,
    /// Empty when not given.
    pub url: String,
    pub license: String,
    pub accessed_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Provenance {
    pub ai_assisted: bool,
    pub generator: String,
    /// Empty until someone reviews the article.
    pub reviewed_by: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Published,
    Retracted,
}

/// The state of one article at one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Article {
    pub id: ArticleId,
    pub slug: String,
    pub question: String,
    pub quick_answer: String,
    pub key_facts: Vec<String>,
    pub sections: Vec<Section>,
    pub sources: Vec<Source>,
    pub last_updated: NaiveDate,
    pub provenance: Provenance,
    pub disclaimer: String,
    pub status: Status,
    pub version: u64,
    /// The version whose commit made the last review (by
    /// `provenance.reviewed_by`); 0 when there is none.
    pub reviewed_version: u64,
    /// Content changed after that review with no `ReviewLapsed` (a log
    /// written before the event existed): the review no longer stands
    /// (`review.rs`).
    pub review_stale: bool,
    /// The sequence the next new section id is drawn from.
    pub next_section: u64,
    /// The sequence the next new source id is drawn from.
    pub next_source: u64,
}

impl Article {
    /// The state a creation event yields (version 1 once its commit is applied).
    pub fn created(id: ArticleId, event: &Event) -> Option<Self> {
        let Event::ArticleCreated(created) = event else {
            return None;
        };
        let mut article = Self {
            id,
            slug: created.slug.clone(),
            question: created.question.clone(),
            quick_answer: created.quick_answer.clone(),
            key_facts: created.key_facts.clone(),
            sections: created.sections.clone(),
            sources: created.sources.clone(),
            last_updated: created.last_updated,
            provenance: created.provenance.clone(),
            disclaimer: created.disclaimer.clone(),
            status: Status::Published,
            version: 0,
            reviewed_version: 0,
            review_stale: false,
            next_section: 1,
            next_source: 1,
        };
        article.bump_sequences();
        Some(article)
    }

    /// Folds one commit's events into the state and sets its version.
    ///
    /// The first commit of an article must start with `ArticleCreated`;
    /// `fold` returns `None` for a history that does not.
    pub fn fold(
        state: Option<Self>,
        id: ArticleId,
        version: u64,
        events: &[Event],
    ) -> Option<Self> {
        let mut events = events.iter();
        let mut article = match state {
            Some(article) => article,
            None => Self::created(id, events.next()?)?,
        };
        for event in events {
            article.apply(event);
            if matches!(event, Event::ArticleReviewed { .. }) {
                article.reviewed_version = version;
            }
        }
        article.version = version;
        Some(article)
    }

    /// Applies one event. Cannot fail: `decide` made sure it fits.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::ArticleCreated(_) => {}
            Event::QuestionEdited { question } => self.question = question.clone(),
            Event::SlugChanged { slug } => self.slug = slug.clone(),
            Event::QuickAnswerEdited { quick_answer } => self.quick_answer = quick_answer.clone(),
            Event::KeyFactsReplaced { key_facts } => self.key_facts = key_facts.clone(),
            Event::SectionAdded { section, position } => {
                let at = (*position as usize).min(self.sections.len());
                self.sections.insert(at, section.clone());
            }
            Event::SectionEdited {
                section_id,
                heading,
                body,
            } => {
                if let Some(section) = self.sections.iter_mut().find(|s| &s.id == section_id) {
                    section.heading = heading.clone();
                    section.body = body.clone();
                }
            }
            Event::SectionRemoved { section_id } => self.sections.retain(|s| &s.id != section_id),
            Event::SectionMoved {
                section_id,
                position,
            } => {
                if let Some(from) = self.section_index(section_id) {
                    let section = self.sections.remove(from);
                    let at = (*position as usize).min(self.sections.len());
                    self.sections.insert(at, section);
                }
            }
            Event::SourceAdded { source, position } => {
                let at = (*position as usize).min(self.sources.len());
                self.sources.insert(at, source.clone());
            }
            Event::SourceEdited { source } => {
                if let Some(existing) = self.sources.iter_mut().find(|s| s.id == source.id) {
                    *existing = source.clone();
                }
            }
            Event::SourceRemoved { source_id } => self.sources.retain(|s| &s.id != source_id),
            Event::ArticleRedated { last_updated } => self.last_updated = *last_updated,
            Event::ArticleReviewed { reviewed_by } => {
                self.provenance.reviewed_by = reviewed_by.clone();
                self.review_stale = false;
            }
            Event::ArticleRetracted { .. } => self.status = Status::Retracted,
            Event::ArticleRestored { .. } => self.status = Status::Published,
            Event::ReviewLapsed { .. } => {
                self.provenance.reviewed_by.clear();
                self.reviewed_version = 0;
                self.review_stale = false;
            }
            // The commits as stored hold the content already removed.
            Event::PayloadRedacted { .. } | Event::OriginClaimed(_) | Event::SlugAliased { .. } => {
            }
        }
        if event.lapses_review() && !self.provenance.reviewed_by.is_empty() {
            self.review_stale = true;
        }
        // Only an added section or source brings an id the sequences may
        // not have passed yet (an edited source keeps its id).
        match event {
            Event::SectionAdded { section, .. } => {
                self.next_section = past(self.next_section, &section.id, "s");
            }
            Event::SourceAdded { source, .. } => {
                self.next_source = past(self.next_source, &source.id, "src");
            }
            _ => {}
        }
    }

    pub fn section_index(&self, section_id: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.id == section_id)
    }

    pub fn source_index(&self, source_id: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.id == source_id)
    }

    /// The id the next new section gets.
    pub fn new_section_id(&self) -> String {
        ids::section_id(self.next_section)
    }

    /// The id the next new source gets.
    pub fn new_source_id(&self) -> String {
        ids::source_id(self.next_source)
    }

    /// An upper bound of the article's encoded size, in bytes: the text it
    /// holds plus a fixed allowance per field for framing.
    pub fn encoded_size_bound(&self) -> usize {
        const FIELD: usize = 16;
        let mut size = 128
            + self.slug.len()
            + self.question.len()
            + self.quick_answer.len()
            + self.disclaimer.len()
            + self.provenance.generator.len()
            + self.provenance.reviewed_by.len();
        size += self
            .key_facts
            .iter()
            .map(|f| f.len() + FIELD)
            .sum::<usize>();
        size += self
            .sections
            .iter()
            .map(|s| s.id.len() + s.heading.len() + s.body.len() + 4 * FIELD)
            .sum::<usize>();
        size += self
            .sources
            .iter()
            .map(|s| {
                s.id.len()
                    + s.title.len()
                    + s.publisher.len()
                    + s.url.len()
                    + s.license.len()
                    + 8 * FIELD
            })
            .sum::<usize>();
        size
    }

    /// Keeps the id sequences past every id in use, so that an id is never
    /// reused, even when a revert brings an old section back.
    fn bump_sequences(&mut self) {
        for section in &self.sections {
            self.next_section = past(self.next_section, &section.id, "s");
        }
        for source in &self.sources {
            self.next_source = past(self.next_source, &source.id, "src");
        }
    }
}

/// The sequence `next`, moved past `id` if `id` is `prefix` and a number.
fn past(next: u64, id: &str, prefix: &str) -> u64 {
    match id.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => next.max(n.saturating_add(1)),
        None => next,
    }
}

/// An article as of one commit: its state and where that commit stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleVersion {
    pub article: Article,
    pub global_position: u64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
impl ArticleVersion {
    /// A small published article at `version` (and at that log position),
    /// for tests that need a state and not its history.
    pub(crate) fn sample(id: super::ArticleId, version: u64) -> Self {
        let article = Article {
            id,
            slug: "a".into(),
            question: "Q?".into(),
            quick_answer: format!("at {version}"),
            key_facts: Vec::new(),
            sections: Vec::new(),
            sources: Vec::new(),
            last_updated: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            provenance: Provenance::default(),
            disclaimer: String::new(),
            status: Status::Published,
            version,
            reviewed_version: 0,
            review_stale: false,
            next_section: 1,
            next_source: 1,
        };
        Self {
            article,
            global_position: version,
            recorded_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }
}
