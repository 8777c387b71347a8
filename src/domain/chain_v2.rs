//! The commit encoding v2 (docs/AUDIT.md, "Commit hash v2"): what can be
//! redacted is salted and digested apart from what the fold needs to
//! place it.
//!
//! Each event's fields are split in two: its *structure* (ids, positions,
//! dates, the slug, reviewers: what says where a change goes) and its
//! *content* (the question, texts, headings, bodies, sources' titles and
//! URLs, reasons: what a person wrote). The content is hashed with a
//! random 32-byte salt of its own into a content digest, which the event's
//! payload digest covers beside the structure; the commit's reason is
//! salted and digested the same way, and its request hash is covered. A
//! content that is later removed leaves its digest, so every hash still
//! verifies, and the salt goes with it, so the digest cannot be matched
//! against guesses.

use super::article::Provenance;
use super::chain::{Canonical, Hash};
use super::commit::Commit;
use super::event::Event;

const COMMIT_TAG: &str = "answerlog.commit.v2";
const EVENT_TAG: &str = "answerlog.event.v2";
const CONTENT_TAG: &str = "answerlog.content.v2";
const REASON_TAG: &str = "answerlog.reason.v2";

/// A random 32 bytes, one a salted value.
pub(crate) type Salt = [u8; 32];

/// A v2 commit's salts: its reason's, and each event's content's, which
/// its hash covers; and the answer's after it, which only its Merkle leaf
/// covers (docs/AUDIT.md, "The Merkle tree").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSalts {
    pub reason: Salt,
    pub events: Vec<Salt>,
    /// The salt of the answer's digest in the commit's leaf (leaf v2);
    /// none in a commit written before answers were salted (leaf v1).
    pub answer: Option<Salt>,
}

/// `digests`: each event's payload digest (`chain::covered_digests`).
pub(super) fn write_commit(
    w: &mut Canonical,
    prev_hash: &Hash,
    commit: &Commit,
    salts: &CommitSalts,
    digests: &[Hash],
) {
    w.string(COMMIT_TAG);
    w.raw(prev_hash);
    w.raw(commit.article_id.as_bytes());
    w.u64(commit.version);
    w.i64(commit.recorded_at.timestamp_micros());
    w.string(&commit.actor);
    w.raw(&reason_digest(&commit.reason, &salts.reason));
    w.raw(commit.command_id.as_bytes());
    w.raw(&commit.request_hash);
    w.provenance(&commit.provenance);
    w.count(commit.events.len());
    // Each event's payload digest (`chain::covered_digests`).
    for (event, digest) in commit.events.iter().zip(digests) {
        w.string(event.kind());
        w.raw(digest);
    }
}

/// The digest of a commit's reason under its salt.
pub(crate) fn reason_digest(reason: &str, salt: &Salt) -> Hash {
    let mut w = Canonical::default();
    w.string(REASON_TAG);
    w.raw(salt);
    w.string(reason);
    w.finish()
}

/// An event's payload digest: its structure and its content's digest.
pub(crate) fn payload_digest(event: &Event, salt: &Salt) -> Hash {
    payload_digest_of(event, &content_digest(event, salt))
}

/// The payload digest from the structure and a content digest given (the
/// content itself gone).
pub(crate) fn payload_digest_of(event: &Event, content_digest: &Hash) -> Hash {
    let mut w = Canonical::default();
    write_payload(&mut w, event, content_digest);
    w.finish()
}

fn write_payload(w: &mut Canonical, event: &Event, content_digest: &Hash) {
    w.string(EVENT_TAG);
    w.string(event.kind());
    write_structure(w, event);
    w.raw(content_digest);
}

/// The digest of an event's content under its salt.
pub(crate) fn content_digest(event: &Event, salt: &Salt) -> Hash {
    let mut w = Canonical::default();
    write_content_bytes(&mut w, event, salt);
    w.finish()
}

fn write_content_bytes(w: &mut Canonical, event: &Event, salt: &Salt) {
    w.string(CONTENT_TAG);
    w.raw(salt);
    w.string(event.kind());
    write_content(w, event);
}

/// The bytes an event's payload digest and content digest hash (for
/// docs/audit-vectors).
#[cfg(test)]
pub(crate) fn vector_bytes(event: &Event, salt: &Salt) -> (Vec<u8>, Vec<u8>) {
    let mut content = Canonical::recording();
    write_content_bytes(&mut content, event, salt);
    let mut payload = Canonical::recording();
    write_payload(&mut payload, event, &content_digest(event, salt));
    (
        payload.recorded.unwrap_or_default(),
        content.recorded.unwrap_or_default(),
    )
}

/// The bytes an event's payload digest hashes, from its structure and a
/// content digest given (for docs/audit-vectors: a redacted event).
#[cfg(test)]
pub(crate) fn vector_bytes_of(event: &Event, content_digest: &Hash) -> Vec<u8> {
    let mut payload = Canonical::recording();
    write_payload(&mut payload, event, content_digest);
    payload.recorded.unwrap_or_default()
}

fn optional_date(w: &mut Canonical, date: Option<chrono::NaiveDate>) {
    match date {
        None => w.bool(false),
        Some(date) => {
            w.bool(true);
            w.string(&date.to_string());
        }
    }
}

fn provenance(w: &mut Canonical, p: &Provenance) {
    w.provenance(p);
}

/// What says where a change goes: kept in the commit for good.
fn write_structure(w: &mut Canonical, event: &Event) {
    match event {
        Event::ArticleCreated(c) => {
            w.string(&c.slug);
            w.count(c.sections.len());
            for s in &c.sections {
                w.string(&s.id);
            }
            w.count(c.sources.len());
            for s in &c.sources {
                w.string(&s.id);
                optional_date(w, s.accessed_on);
            }
            w.string(&c.last_updated.to_string());
            provenance(w, &c.provenance);
        }
        Event::QuestionEdited { .. }
        | Event::QuickAnswerEdited { .. }
        | Event::KeyFactsReplaced { .. }
        | Event::ArticleRetracted { .. }
        | Event::ArticleRestored { .. } => {}
        Event::SlugChanged { slug } | Event::SlugAliased { slug } => w.string(slug),
        Event::SectionAdded { section, position } => {
            w.string(&section.id);
            w.u64(u64::from(*position));
        }
        Event::SectionEdited { section_id, .. } | Event::SectionRemoved { section_id } => {
            w.string(section_id);
        }
        Event::SectionMoved {
            section_id,
            position,
        } => {
            w.string(section_id);
            w.u64(u64::from(*position));
        }
        Event::SourceAdded { source, position } => {
            w.string(&source.id);
            optional_date(w, source.accessed_on);
            w.u64(u64::from(*position));
        }
        Event::SourceEdited { source } => {
            w.string(&source.id);
            optional_date(w, source.accessed_on);
        }
        Event::SourceRemoved { source_id } => w.string(source_id),
        Event::ArticleRedated { last_updated } => w.string(&last_updated.to_string()),
        Event::ArticleReviewed { reviewed_by } => w.string(reviewed_by),
        Event::ReviewLapsed {
            reviewed_by,
            reviewed_version,
        } => {
            w.string(reviewed_by);
            w.u64(*reviewed_version);
        }
        Event::PayloadRedacted { position, event } => {
            w.u64(*position);
            w.u64(u64::from(*event));
        }
        Event::OriginClaimed(claims) => w.origin_structure(claims),
    }
}

/// What a person wrote: salted, digested apart, and removable.
fn write_content(w: &mut Canonical, event: &Event) {
    let source_text = |w: &mut Canonical, s: &super::article::Source| {
        w.string(&s.title);
        w.string(&s.publisher);
        w.string(&s.url);
        w.string(&s.license);
    };
    match event {
        Event::ArticleCreated(c) => {
            w.string(&c.question);
            w.string(&c.quick_answer);
            w.strings(&c.key_facts);
            w.count(c.sections.len());
            for s in &c.sections {
                w.string(&s.heading);
                w.string(&s.body);
            }
            w.count(c.sources.len());
            for s in &c.sources {
                source_text(w, s);
            }
            w.string(&c.disclaimer);
        }
        Event::QuestionEdited { question } => w.string(question),
        Event::QuickAnswerEdited { quick_answer } => w.string(quick_answer),
        Event::KeyFactsReplaced { key_facts } => w.strings(key_facts),
        Event::SectionAdded { section, .. } => {
            w.string(&section.heading);
            w.string(&section.body);
        }
        Event::SectionEdited { heading, body, .. } => {
            w.string(heading);
            w.string(body);
        }
        Event::SourceAdded { source, .. } | Event::SourceEdited { source } => {
            source_text(w, source)
        }
        Event::ArticleRetracted { reason } | Event::ArticleRestored { reason } => w.string(reason),
        Event::OriginClaimed(claims) => w.origin_content(claims),
        Event::SlugChanged { .. }
        | Event::SlugAliased { .. }
        | Event::SectionRemoved { .. }
        | Event::SectionMoved { .. }
        | Event::SourceRemoved { .. }
        | Event::ArticleRedated { .. }
        | Event::ArticleReviewed { .. }
        | Event::ReviewLapsed { .. }
        | Event::PayloadRedacted { .. } => {}
    }
}

/// What a redacted event shows where its content was: every text of the
/// content (`write_content`), and a list of texts as one.
pub(crate) const REDACTED: &str = "[redacted]";

/// Whether the event has content to redact: `write_content` writes any
/// byte for it.
pub(crate) fn has_content(event: &Event) -> bool {
    let mut w = Canonical::recording();
    write_content(&mut w, event);
    w.recorded.is_some_and(|bytes| !bytes.is_empty())
}

/// The event with its content (`write_content`) replaced by [`REDACTED`]
/// and its structure (`write_structure`) kept: what a redacted event is
/// stored, folded and shown as.
pub(crate) fn without_content(event: &Event) -> Event {
    let text = || REDACTED.to_owned();
    let source = |s: &super::article::Source| super::article::Source {
        title: text(),
        publisher: text(),
        url: text(),
        license: text(),
        ..s.clone()
    };
    let section = |s: &super::article::Section| super::article::Section {
        heading: text(),
        body: text(),
        ..s.clone()
    };
    match event {
        Event::ArticleCreated(c) => Event::ArticleCreated(Box::new(super::event::ArticleCreated {
            question: text(),
            quick_answer: text(),
            key_facts: vec![text()],
            sections: c.sections.iter().map(section).collect(),
            sources: c.sources.iter().map(source).collect(),
            disclaimer: text(),
            ..(**c).clone()
        })),
        Event::QuestionEdited { .. } => Event::QuestionEdited { question: text() },
        Event::QuickAnswerEdited { .. } => Event::QuickAnswerEdited {
            quick_answer: text(),
        },
        Event::KeyFactsReplaced { .. } => Event::KeyFactsReplaced {
            key_facts: vec![text()],
        },
        Event::SectionAdded {
            section: s,
            position,
        } => Event::SectionAdded {
            section: section(s),
            position: *position,
        },
        Event::SectionEdited { section_id, .. } => Event::SectionEdited {
            section_id: section_id.clone(),
            heading: text(),
            body: text(),
        },
        Event::SourceAdded {
            source: s,
            position,
        } => Event::SourceAdded {
            source: source(s),
            position: *position,
        },
        Event::SourceEdited { source: s } => Event::SourceEdited { source: source(s) },
        Event::ArticleRetracted { .. } => Event::ArticleRetracted { reason: text() },
        Event::ArticleRestored { .. } => Event::ArticleRestored { reason: text() },
        Event::OriginClaimed(c) => Event::OriginClaimed(Box::new(super::event::OriginClaims {
            actor: text(),
            comment: text(),
            sha1: text(),
            ..(**c).clone()
        })),
        Event::SlugChanged { .. }
        | Event::SlugAliased { .. }
        | Event::SectionRemoved { .. }
        | Event::SectionMoved { .. }
        | Event::SourceRemoved { .. }
        | Event::ArticleRedated { .. }
        | Event::ArticleReviewed { .. }
        | Event::ReviewLapsed { .. }
        | Event::PayloadRedacted { .. } => event.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chain::commit_hash;
    use crate::domain::ids::{ArticleId, CommandId};
    use uuid::Uuid;

    fn edit(heading: &str, section: &str) -> Event {
        Event::SectionEdited {
            section_id: section.into(),
            heading: heading.into(),
            body: "body".into(),
        }
    }

    #[test]
    fn the_content_digest_stands_in_for_the_content_and_the_salt_hides_it() {
        let event = edit("Causes", "s1");
        let salt = [5; 32];
        // The payload digest needs only the structure and the content's
        // digest: what is left once the content is removed.
        assert_eq!(
            payload_digest(&event, &salt),
            payload_digest_of(&event, &content_digest(&event, &salt))
        );
        // Another salt: another content digest for the same content, so a
        // guess cannot be checked without the salt.
        assert_ne!(
            content_digest(&event, &salt),
            content_digest(&event, &[6; 32])
        );
        // Content and structure each count.
        assert_ne!(
            payload_digest(&event, &salt),
            payload_digest(&edit("Effects", "s1"), &salt)
        );
        assert_ne!(
            payload_digest(&event, &salt),
            payload_digest(&edit("Causes", "s2"), &salt)
        );
        assert_eq!(
            content_digest(&event, &salt),
            content_digest(&edit("Causes", "s2"), &salt),
            "the section's id is structure, not content"
        );
    }

    #[test]
    fn the_reason_its_salt_and_the_request_hash_count_in_a_commit_of_encoding_2() {
        let commit = Commit {
            article_id: ArticleId::from_uuid(Uuid::from_u128(1)),
            version: 1,
            global_position: 1,
            recorded_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
            actor: "alice".into(),
            reason: "why".into(),
            command_id: CommandId::from_uuid(Uuid::from_u128(2)),
            provenance: Provenance::default(),
            request_hash: [1; 32],
            prev_hash: Vec::new(),
            hash: Vec::new(),
            events: vec![edit("Causes", "s1")],
            salts: Some(CommitSalts {
                reason: [2; 32],
                events: vec![[3; 32]],
                answer: Some([5; 32]),
            }),
            redactions: Vec::new(),
            answer_digest: None,
        };
        let base = commit_hash(&[0; 32], &commit);
        let mut other = commit.clone();
        other.reason = "because".into();
        assert_ne!(commit_hash(&[0; 32], &other), base);
        let mut other = commit.clone();
        other.request_hash = [9; 32];
        assert_ne!(commit_hash(&[0; 32], &other), base);
        let mut other = commit.clone();
        other.salts.as_mut().unwrap().reason = [4; 32];
        assert_ne!(commit_hash(&[0; 32], &other), base);
        let mut v1 = commit.clone();
        v1.salts = None;
        assert_ne!(
            commit_hash(&[0; 32], &v1),
            base,
            "encoding 1 hashes otherwise"
        );
    }
}
