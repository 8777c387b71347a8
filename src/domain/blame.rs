//! Attribution ("blame"): for each part of an article, the commit that
//! introduced it and the one that last changed it.

use chrono::{DateTime, Utc};

use super::commit::Commit;
use super::event::Event;

/// Who made a change, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub version: u64,
    pub actor: String,
    pub recorded_at: DateTime<Utc>,
    pub reason: String,
    /// What an imported commit's claims say: who made the revision at the
    /// source, and when (empty, none: no claims, or redacted).
    pub origin_actor: String,
    pub origin_time: Option<DateTime<Utc>>,
}

/// One part of the article and its two stamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attribution {
    /// `question`, `quick_answer`, `last_updated`, `status`, `review` (the
    /// reviewer, while a review stands), `key_facts[i]`, `section:<id>` or
    /// `source:<id>`.
    pub element: String,
    /// What the part says: the text, heading, title or date.
    pub label: String,
    pub introduced: Stamp,
    pub last_changed: Stamp,
}

#[derive(Clone)]
struct Tracked {
    id: String,
    label: String,
    introduced: Stamp,
    last_changed: Stamp,
}

/// Attributes every part of the article as of the last of `commits`, which
/// are one article's commits from version 1, in order.
pub(crate) fn attribute(commits: &[Commit]) -> Vec<Attribution> {
    let mut question: Option<Tracked> = None;
    let mut quick_answer: Option<Tracked> = None;
    let mut last_updated: Option<Tracked> = None;
    let mut status: Option<Tracked> = None;
    let mut review: Option<Tracked> = None;
    let mut key_facts: Vec<Tracked> = Vec::new();
    let mut sections: Vec<Tracked> = Vec::new();
    let mut sources: Vec<Tracked> = Vec::new();

    for commit in commits {
        let claims = commit.events.iter().find_map(|e| match e {
            Event::OriginClaimed(c) => Some(c),
            _ => None,
        });
        let stamp = Stamp {
            version: commit.version,
            actor: commit.actor.clone(),
            recorded_at: commit.recorded_at,
            reason: commit.reason.clone(),
            origin_actor: claims.map(|c| c.actor.clone()).unwrap_or_default(),
            origin_time: claims.and_then(|c| c.time),
        };
        let new = |id: &str, label: &str| Tracked {
            id: id.to_owned(),
            label: label.to_owned(),
            introduced: stamp.clone(),
            last_changed: stamp.clone(),
        };
        let touch = |t: &mut Option<Tracked>, label: &str| match t {
            Some(t) => {
                t.label = label.to_owned();
                t.last_changed = stamp.clone();
            }
            None => *t = Some(new("", label)),
        };
        for event in &commit.events {
            if event.lapses_review() {
                review = None;
            }
            match event {
                Event::ArticleCreated(c) => {
                    question = Some(new("", &c.question));
                    quick_answer = Some(new("", &c.quick_answer));
                    last_updated = Some(new("", &c.last_updated.to_string()));
                    status = Some(new("", "published"));
                    key_facts = c.key_facts.iter().map(|f| new("", f)).collect();
                    sections = c.sections.iter().map(|s| new(&s.id, &s.heading)).collect();
                    sources = c.sources.iter().map(|s| new(&s.id, &s.title)).collect();
                }
                Event::QuestionEdited { question: q } => touch(&mut question, q),
                Event::QuickAnswerEdited { quick_answer: a } => touch(&mut quick_answer, a),
                Event::ArticleRedated { last_updated: d } => {
                    touch(&mut last_updated, &d.to_string())
                }
                Event::ArticleRetracted { .. } => touch(&mut status, "retracted"),
                Event::ArticleRestored { .. } => touch(&mut status, "published"),
                Event::KeyFactsReplaced { key_facts: facts } => {
                    // A fact that stays keeps its stamps; a new one gets this commit's.
                    let mut old = std::mem::take(&mut key_facts);
                    key_facts = facts
                        .iter()
                        .map(|f| match old.iter().position(|t| t.label == *f) {
                            Some(i) => old.remove(i),
                            None => new("", f),
                        })
                        .collect();
                }
                Event::SectionAdded { section, position } => {
                    let at = (*position as usize).min(sections.len());
                    sections.insert(at, new(&section.id, &section.heading));
                }
                Event::SectionEdited {
                    section_id,
                    heading,
                    ..
                } => {
                    if let Some(t) = sections.iter_mut().find(|t| t.id == *section_id) {
                        t.label = heading.clone();
                        t.last_changed = stamp.clone();
                    }
                }
                Event::SectionMoved {
                    section_id,
                    position,
                } => {
                    if let Some(from) = sections.iter().position(|t| t.id == *section_id) {
                        let moved = sections.remove(from);
                        let at = (*position as usize).min(sections.len());
                        sections.insert(at, moved);
                    }
                }
                Event::SectionRemoved { section_id } => sections.retain(|t| t.id != *section_id),
                Event::SourceAdded { source, position } => {
                    let at = (*position as usize).min(sources.len());
                    sources.insert(at, new(&source.id, &source.title));
                }
                Event::SourceEdited { source } => {
                    if let Some(t) = sources.iter_mut().find(|t| t.id == source.id) {
                        t.label = source.title.clone();
                        t.last_changed = stamp.clone();
                    }
                }
                Event::SourceRemoved { source_id } => sources.retain(|t| t.id != *source_id),
                // Each review is its own: a later reviewer is not an edit
                // of an earlier one's review.
                Event::ArticleReviewed { reviewed_by } => review = Some(new("", reviewed_by)),
                Event::ReviewLapsed { .. } => review = None,
                Event::SlugChanged { .. }
                | Event::SlugAliased { .. }
                | Event::PayloadRedacted { .. }
                | Event::OriginClaimed(_) => {}
            }
        }
    }

    let one = |name: &str, t: Option<Tracked>| {
        t.map(|t| Attribution {
            element: name.to_owned(),
            label: t.label,
            introduced: t.introduced,
            last_changed: t.last_changed,
        })
    };
    let mut out: Vec<Attribution> = [
        one("question", question),
        one("quick_answer", quick_answer),
        one("last_updated", last_updated),
        one("status", status),
        one("review", review),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(key_facts.into_iter().enumerate().map(|(i, t)| Attribution {
        element: format!("key_facts[{i}]"),
        label: t.label,
        introduced: t.introduced,
        last_changed: t.last_changed,
    }));
    for (prefix, list) in [("section", sections), ("source", sources)] {
        out.extend(list.into_iter().map(|t| Attribution {
            element: format!("{prefix}:{}", t.id),
            label: t.label,
            introduced: t.introduced,
            last_changed: t.last_changed,
        }));
    }
    out
}

/// Event kinds that change what the page says (not its date, slug,
/// review or status).
pub(super) const CONTENT_KINDS: [&str; 10] = [
    "QuestionEdited",
    "QuickAnswerEdited",
    "KeyFactsReplaced",
    "SectionAdded",
    "SectionEdited",
    "SectionRemoved",
    "SectionMoved",
    "SourceAdded",
    "SourceEdited",
    "SourceRemoved",
];
