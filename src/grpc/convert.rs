//! Conversions between API messages and domain types, validating as they
//! convert. The one place where the two vocabularies meet.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use tonic::Status;

use super::pb;
use super::status::invalid;
use crate::app::{ArticleRef, ChainBreak, CommitFilter, CommitView, LogDigest, StreamFilter};
use crate::domain::{
    hex, is_uuid_shaped, quoted, slug_problem, ArticleDiff, ArticleDraft, ArticleId,
    ArticleVersion, Attribution, ChangeKind, CommandId, Event, Hash, OriginClaims, Outcome,
    Provenance, Redaction, Resolution, Revision, Salt, Section, SectionDraft, Source, SourceDraft,
    StaleRedate, Stamp, Status as ArticleStatus, Suggestion,
};
use crate::signing::{unhex, Signed};

/// Default and maximum page sizes (a larger request is coerced, AIP-158).
pub(super) const DEFAULT_PAGE: usize = 50;
pub(super) const MAX_PAGE: usize = 1000;

pub(super) fn article_id(field: &str, text: &str) -> Result<ArticleId, Status> {
    if text.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    ArticleId::parse(text).ok_or_else(|| {
        invalid(
            field,
            format!("{} is not an article id (a UUID)", quoted(text)),
        )
    })
}

pub(super) fn command_id(text: &str) -> Result<CommandId, Status> {
    if text.is_empty() {
        return Err(invalid(
            "command_id",
            "must be a UUID chosen by the client, the same on every retry of one write",
        ));
    }
    CommandId::parse(text)
        .ok_or_else(|| invalid("command_id", format!("{} is not a UUID", quoted(text))))
}

pub(super) fn slug(field: &str, slug: &str) -> Result<String, Status> {
    match slug_problem(slug) {
        None => Ok(slug.to_owned()),
        Some(problem) => Err(invalid(field, problem)),
    }
}

/// An `id`/`slug` oneof.
pub(super) fn reference(id: Option<&str>, slug_text: Option<&str>) -> Result<ArticleRef, Status> {
    match (id, slug_text) {
        (Some(id), _) => Ok(ArticleRef::Id(article_id("id", id)?)),
        (None, Some(s)) => Ok(ArticleRef::Slug(slug("slug", s)?)),
        (None, None) => Err(invalid("ref", "give an article id or a slug")),
    }
}

/// A reference that is an id if it is shaped like a UUID, else a slug.
pub(super) fn loose_reference(field: &str, text: &str) -> Result<ArticleRef, Status> {
    if is_uuid_shaped(text) {
        Ok(ArticleRef::Id(article_id(field, text)?))
    } else {
        Ok(ArticleRef::Slug(slug(field, text)?))
    }
}

pub(super) fn time(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Status> {
    let nanos = u32::try_from(t.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| invalid(field, "nanos must be in 0..1e9"))?;
    DateTime::from_timestamp(t.seconds, nanos).ok_or_else(|| invalid(field, "is out of range"))
}

pub(super) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub(super) fn page_size(requested: i32) -> Result<usize, Status> {
    match usize::try_from(requested) {
        Err(_) => Err(invalid("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE),
        Ok(n) => Ok(n.min(MAX_PAGE)),
    }
}

/// Page tokens are opaque: a tag naming the list, and a cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    Answers = 1,
    Revisions = 2,
    Suggestions = 3,
    Commits = 4,
}

pub(super) fn page_token(kind: TokenKind, cursor: Option<u64>) -> String {
    match cursor {
        None => String::new(),
        Some(cursor) => {
            let mut bytes = vec![kind as u8];
            bytes.extend_from_slice(&cursor.to_be_bytes());
            bytes.push(checksum(&bytes));
            crate::domain::hex(&bytes)
        }
    }
}

pub(super) fn cursor(kind: TokenKind, token: &str) -> Result<u64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    let bad = || invalid("page_token", "is not a page token this list returned");
    if token.len() != 20 || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..10)
        .map(|i| u8::from_str_radix(&token[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    if bytes[0] != kind as u8 || checksum(&bytes[..9]) != bytes[9] {
        return Err(bad());
    }
    Ok(u64::from_be_bytes(
        bytes[1..9].try_into().map_err(|_| bad())?,
    ))
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0x5au8, |acc, b| acc.rotate_left(3) ^ b)
}

pub(super) fn draft(d: pb::ArticleDraft) -> ArticleDraft {
    ArticleDraft {
        slug: d.slug,
        question: d.question,
        quick_answer: d.quick_answer,
        key_facts: d.key_facts,
        sections: d.sections.into_iter().map(section_draft).collect(),
        sources: d.sources.into_iter().map(source_draft).collect(),
        last_updated: d.last_updated,
        reviewed_version: d.provenance.as_ref().map_or(0, |p| p.reviewed_version),
        provenance: d.provenance.map(provenance).unwrap_or_default(),
        disclaimer: d.disclaimer,
    }
}

pub(super) fn section_draft(s: pb::SectionDraft) -> SectionDraft {
    SectionDraft {
        heading: s.heading,
        body: s.body,
    }
}

pub(super) fn source_draft(s: pb::Source) -> SourceDraft {
    SourceDraft {
        id: s.id,
        title: s.title,
        publisher: s.publisher,
        url: s.url,
        license: s.license,
        accessed_on: s.accessed_on,
    }
}

fn provenance(p: pb::Provenance) -> Provenance {
    Provenance {
        ai_assisted: p.ai_assisted,
        generator: p.generator,
        reviewed_by: p.reviewed_by,
    }
}

/// A commit's or a draft's provenance: what the commit hash covers, so no
/// `reviewed_version` (an article's, see [`answer`]).
fn provenance_message(p: &Provenance) -> pb::Provenance {
    pb::Provenance {
        ai_assisted: p.ai_assisted,
        generator: p.generator.clone(),
        reviewed_by: p.reviewed_by.clone(),
        reviewed_version: 0,
    }
}

/// An article's provenance as an answer shows it: the review only while
/// it stands (`domain/review.rs`), with the version that made it.
fn answer_provenance(a: &crate::domain::Article) -> pb::Provenance {
    let (reviewed_by, reviewed_version) = a.standing_review().unwrap_or_default();
    pb::Provenance {
        ai_assisted: a.provenance.ai_assisted,
        generator: a.provenance.generator.clone(),
        reviewed_by: reviewed_by.to_owned(),
        reviewed_version,
    }
}

fn section_message(s: &Section) -> pb::Section {
    pb::Section {
        id: s.id.clone(),
        heading: s.heading.clone(),
        body: s.body.clone(),
    }
}

fn source_message(s: &Source) -> pb::Source {
    pb::Source {
        id: s.id.clone(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: s.accessed_on.map(date_text).unwrap_or_default(),
    }
}

pub(crate) fn answer(v: &ArticleVersion) -> pb::Answer {
    let a = &v.article;
    pb::Answer {
        id: a.id.text(),
        slug: a.slug.clone(),
        question: a.question.clone(),
        quick_answer: a.quick_answer.clone(),
        key_facts: a.key_facts.clone(),
        sections: a.sections.iter().map(section_message).collect(),
        sources: a.sources.iter().map(source_message).collect(),
        last_updated: date_text(a.last_updated),
        provenance: Some(answer_provenance(a)),
        disclaimer: a.disclaimer.clone(),
        status: match a.status {
            ArticleStatus::Published => pb::ArticleStatus::Published,
            ArticleStatus::Retracted => pb::ArticleStatus::Retracted,
        } as i32,
        version: a.version,
        global_position: v.global_position,
        recorded_at: Some(timestamp(v.recorded_at)),
        etag: format!("{}:{}", a.id, a.version),
    }
}

/// An answer as a reader was served it, back in the domain's terms: what
/// its receipt's leaf digests (`domain::answer_digest`). Refused unless
/// `answer` renders it again exactly (canonical id, dates and time, the
/// etag the id and version make), so that no two messages stand for one
/// answer.
pub(crate) fn served_answer(a: &pb::Answer) -> Result<ArticleVersion, String> {
    let date = |field: &str, text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("{field}: {} is not a date (YYYY-MM-DD)", quoted(text)))
    };
    let provenance = a.provenance.clone().unwrap_or_default();
    let article = crate::domain::Article {
        id: ArticleId::parse(&a.id)
            .ok_or_else(|| format!("id: {} is not an article id", quoted(&a.id)))?,
        slug: a.slug.clone(),
        question: a.question.clone(),
        quick_answer: a.quick_answer.clone(),
        key_facts: a.key_facts.clone(),
        sections: a.sections.iter().map(section_from_message).collect(),
        sources: a
            .sources
            .iter()
            .map(source_from_message)
            .collect::<Result<_, String>>()?,
        last_updated: date("last_updated", &a.last_updated)?,
        provenance: Provenance {
            ai_assisted: provenance.ai_assisted,
            generator: provenance.generator,
            reviewed_by: provenance.reviewed_by,
        },
        disclaimer: a.disclaimer.clone(),
        status: match pb::ArticleStatus::try_from(a.status) {
            Ok(pb::ArticleStatus::Published) => ArticleStatus::Published,
            Ok(pb::ArticleStatus::Retracted) => ArticleStatus::Retracted,
            _ => return Err(format!("status: {} is not a served answer's", a.status)),
        },
        version: a.version,
        reviewed_version: provenance.reviewed_version,
        review_stale: false,
        next_section: 0,
        next_source: 0,
    };
    let recorded_at = a
        .recorded_at
        .as_ref()
        .filter(|t| t.nanos % 1000 == 0)
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .ok_or("recorded_at: missing, out of range or finer than whole microseconds")?;
    if a.global_position == 0 {
        return Err("global_position: a served answer's commit is at position 1 or later".into());
    }
    let served = ArticleVersion {
        article,
        global_position: a.global_position,
        recorded_at,
    };
    if answer(&served) != *a {
        return Err(
            "the answer is not one the server serves: an id, date or time not in its canonical form, whole microseconds, a review version without a reviewer, or an etag other than id:version"
                .into(),
        );
    }
    Ok(served)
}

pub(super) fn summary(v: &ArticleVersion) -> pb::AnswerSummary {
    let a = &v.article;
    pb::AnswerSummary {
        id: a.id.text(),
        slug: a.slug.clone(),
        question: a.question.clone(),
        last_updated: date_text(a.last_updated),
        version: a.version,
        global_position: v.global_position,
        recorded_at: Some(timestamp(v.recorded_at)),
    }
}

pub(super) fn revision(r: &Revision) -> pb::Revision {
    revision_taken(r.clone())
}

/// A revision's message, taking its text rather than copying it.
fn revision_taken(r: Revision) -> pb::Revision {
    pb::Revision {
        version: r.version,
        global_position: r.global_position,
        recorded_at: Some(timestamp(r.recorded_at)),
        actor: r.actor,
        reason: r.reason,
        event_kinds: r.event_kinds,
        hash: hex(&r.hash),
        last_updated: date_text(r.last_updated),
        origin: r.origin.map(origin_claims_message),
    }
}

/// A date as the API writes it, `YYYY-MM-DD`: what chrono's `Display`
/// writes, without a formatter (a catch-up writes one for every commit).
fn date_text(date: NaiveDate) -> String {
    match date_ascii(date) {
        Some(ascii) => ascii.iter().map(|&b| char::from(b)).collect(),
        None => date.to_string(),
    }
}

/// `date_text` of a date in the years 0 to 9999, whose text is ten
/// ASCII bytes; `None` for another.
pub(super) fn date_ascii(date: NaiveDate) -> Option<[u8; 10]> {
    let (Ok(year @ 0..=9999), month, day) = (u32::try_from(date.year()), date.month(), date.day())
    else {
        return None;
    };
    let digit = |n: u32| b'0' + (n % 10) as u8;
    Some([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
    ])
}

pub(super) fn attribution(a: &Attribution) -> pb::Attribution {
    let stamp = |s: &Stamp| pb::ChangeStamp {
        version: s.version,
        actor: s.actor.clone(),
        recorded_at: Some(timestamp(s.recorded_at)),
        reason: s.reason.clone(),
        origin_actor: s.origin_actor.clone(),
        origin_time: s.origin_time.map(timestamp),
    };
    pb::Attribution {
        element: a.element.clone(),
        label: a.label.clone(),
        introduced: Some(stamp(&a.introduced)),
        last_changed: Some(stamp(&a.last_changed)),
    }
}

pub(super) fn stale_redate(article: &ArticleVersion, s: &StaleRedate) -> pb::StaleRedate {
    pb::StaleRedate {
        article_id: article.article.id.text(),
        slug: article.article.slug.clone(),
        revision: Some(revision(&s.revision)),
        previous_last_updated: date_text(s.previous_last_updated),
        dated_version: s.dated_version,
    }
}

/// An export line as the commit itself renders it: the revision derived
/// from the commit and the date its events leave (`last_updated`), with the
/// log hash at its position. What `answerlog verify` compares each line
/// with, so that no byte of a line differs from what its hashed content
/// gives (docs/AUDIT.md, "What is not evidence").
pub(crate) fn rendered_commit(
    c: &crate::domain::Commit,
    last_updated: chrono::NaiveDate,
    log_hash: &Hash,
) -> pb::Commit {
    commit(CommitView {
        commit: c.clone(),
        revision: c.revision(last_updated),
        log_hash: *log_hash,
        payload_digests: Vec::new(),
    })
}

/// A commit in full (GetRevision, StreamEvents), its events' text taken
/// rather than copied.
pub(super) fn commit(v: CommitView) -> pb::Commit {
    // Kept by the writer or made by a follower; else made here.
    let v = v.digested();
    let c = v.commit;
    let id = c.article_id;
    let digests = v.payload_digests;
    pb::Commit {
        article_id: id.text(),
        // The commit's events hold its claims: its summary does not repeat
        // them (an export line shows each value once).
        revision: Some(revision_taken(Revision {
            origin: None,
            ..v.revision
        })),
        command_id: c.command_id.text(),
        provenance: Some(provenance_message(&c.provenance)),
        prev_hash: hex(&c.prev_hash),
        log_hash: hex(&v.log_hash),
        request_hash: hex(&c.request_hash),
        encoding: encoding(&c),
        reason_salt: c.salts.as_ref().map(|s| hex(&s.reason)).unwrap_or_default(),
        answer_salt: c.answer_salt().map(|s| hex(s)).unwrap_or_default(),
        answer_digest: c.answer_digest.map(|d| hex(&d)).unwrap_or_default(),
        events: {
            let salts: Vec<Option<Salt>> = (0..c.events.len())
                .map(|i| c.event_salt(i).copied())
                .collect();
            let redactions: Vec<Option<pb::EventRedaction>> = (0..c.events.len())
                .map(|i| {
                    c.redaction(i).map(|r| pb::EventRedaction {
                        by_position: r.by_position,
                        content_digest: match c.salts {
                            Some(_) => hex(&r.digest),
                            None => String::new(),
                        },
                    })
                })
                .collect();
            c.events
                .into_iter()
                .zip(salts.iter().zip(redactions))
                .enumerate()
                .map(|(i, (e, (salt, redaction)))| pb::Event {
                    redaction,
                    ..event(id, e, salt.as_ref(), digests.get(i))
                })
                .collect()
        },
    }
}

/// The encoding a commit's hash is in: 2, or 0 (absent: 1) for one
/// written before encodings were named, whose export lines stay as they were.
fn encoding(c: &crate::domain::Commit) -> u32 {
    if c.salts.is_some() {
        2
    } else {
        0
    }
}

pub(super) fn stream_filter(m: &pb::StreamEventsRequest) -> Result<StreamFilter, Status> {
    check_kinds(&m.event_kinds)?;
    Ok(StreamFilter {
        articles: m
            .article_ids
            .iter()
            .enumerate()
            .map(|(i, id)| article_id(&format!("article_ids[{i}]"), id))
            .collect::<Result<_, _>>()?,
        kinds: m.event_kinds.clone(),
    })
}

fn check_kinds(kinds: &[String]) -> Result<(), Status> {
    let known = crate::domain::EVENT_KINDS;
    for (i, kind) in kinds.iter().enumerate() {
        if !known.contains(&kind.as_str()) {
            return Err(invalid(
                &format!("event_kinds[{i}]"),
                format!("{kind:?} is not an event kind; one of {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

pub(super) fn commit_filter(m: &pb::ListCommitsRequest) -> Result<CommitFilter, Status> {
    check_kinds(&m.event_kinds)?;
    let date = (!m.last_updated_on_or_before.is_empty())
        .then(|| {
            chrono::NaiveDate::parse_from_str(&m.last_updated_on_or_before, "%Y-%m-%d")
                .map_err(|_| invalid("last_updated_on_or_before", "must be a date YYYY-MM-DD"))
        })
        .transpose()?;
    Ok(CommitFilter {
        actor: (!m.actor.is_empty()).then(|| m.actor.clone()),
        event_kinds: m.event_kinds.clone(),
        recorded_from: m
            .recorded_from
            .as_ref()
            .map(|t| time("recorded_from", t))
            .transpose()?,
        recorded_before: m
            .recorded_before
            .as_ref()
            .map(|t| time("recorded_before", t))
            .transpose()?,
        ai_assisted_unreviewed: m.ai_assisted_unreviewed,
        article: (!m.article_id.is_empty())
            .then(|| article_id("article_id", &m.article_id))
            .transpose()?,
        last_updated_on_or_before: date,
    })
}

pub(super) fn suggestion(s: &Suggestion) -> pb::Suggestion {
    pb::Suggestion {
        id: s.id.to_string(),
        question: s.question.clone(),
        suggested_by: s.suggested_by.clone(),
        suggested_at: Some(timestamp(s.suggested_at)),
        status: s.status.clone(),
        article_id: s.article_id.map(|id| id.to_string()).unwrap_or_default(),
        resolved_by: s
            .resolution
            .as_ref()
            .map(|r| r.by.clone())
            .unwrap_or_default(),
        resolved_at: s.resolution.as_ref().map(|r| timestamp(r.at)),
        answered_by_article_id: match s.resolution.as_ref().map(|r| r.outcome) {
            Some(Outcome::Answered(id)) => id.to_string(),
            _ => String::new(),
        },
        note: s
            .resolution
            .as_ref()
            .map(|r| r.note.clone())
            .unwrap_or_default(),
    }
}

/// An event's message, taking its text rather than copying it; its
/// payload digest as the commit's encoding makes it (`commit_event_digests`).
fn event(id: ArticleId, e: Event, salt: Option<&Salt>, digest: Option<&Hash>) -> pb::Event {
    use pb::event::Payload;
    let kind = e.kind().to_owned();
    let payload_digest = digest.map(|d| hex(d)).unwrap_or_default();
    let payload = match e {
        Event::ArticleCreated(c) => Payload::ArticleCreated(pb::ArticleCreatedEvent {
            article: Some(pb::Answer {
                id: id.text(),
                slug: c.slug,
                question: c.question,
                quick_answer: c.quick_answer,
                key_facts: c.key_facts,
                sections: c.sections.iter().map(section_message).collect(),
                sources: c.sources.iter().map(source_message).collect(),
                last_updated: date_text(c.last_updated),
                provenance: Some(provenance_message(&c.provenance)),
                disclaimer: c.disclaimer,
                status: pb::ArticleStatus::Published as i32,
                version: 1,
                ..Default::default()
            }),
        }),
        Event::QuestionEdited { question } => {
            Payload::QuestionEdited(pb::QuestionEditedEvent { question })
        }
        Event::SlugChanged { slug } => Payload::SlugChanged(pb::SlugChangedEvent { slug }),
        Event::SlugAliased { slug } => Payload::SlugAliased(pb::SlugAliasedEvent { slug }),
        Event::QuickAnswerEdited { quick_answer } => {
            Payload::QuickAnswerEdited(pb::QuickAnswerEditedEvent { quick_answer })
        }
        Event::KeyFactsReplaced { key_facts } => {
            Payload::KeyFactsReplaced(pb::KeyFactsReplacedEvent { key_facts })
        }
        Event::SectionAdded { section, position } => Payload::SectionAdded(pb::SectionAddedEvent {
            section: Some(section_message(&section)),
            position,
        }),
        Event::SectionEdited {
            section_id,
            heading,
            body,
        } => Payload::SectionEdited(pb::SectionEditedEvent {
            section_id,
            heading,
            body,
        }),
        Event::SectionRemoved { section_id } => {
            Payload::SectionRemoved(pb::SectionRemovedEvent { section_id })
        }
        Event::SectionMoved {
            section_id,
            position,
        } => Payload::SectionMoved(pb::SectionMovedEvent {
            section_id,
            position,
        }),
        Event::SourceAdded { source, position } => Payload::SourceAdded(pb::SourceAddedEvent {
            source: Some(source_message(&source)),
            position,
        }),
        Event::SourceEdited { source } => Payload::SourceEdited(pb::SourceEditedEvent {
            source: Some(source_message(&source)),
        }),
        Event::SourceRemoved { source_id } => {
            Payload::SourceRemoved(pb::SourceRemovedEvent { source_id })
        }
        Event::ArticleRedated { last_updated } => {
            Payload::ArticleRedated(pb::ArticleRedatedEvent {
                last_updated: date_text(last_updated),
            })
        }
        Event::ArticleReviewed { reviewed_by } => {
            Payload::ArticleReviewed(pb::ArticleReviewedEvent { reviewed_by })
        }
        Event::ArticleRetracted { reason } => {
            Payload::ArticleRetracted(pb::ArticleRetractedEvent { reason })
        }
        Event::ArticleRestored { reason } => {
            Payload::ArticleRestored(pb::ArticleRestoredEvent { reason })
        }
        Event::ReviewLapsed {
            reviewed_by,
            reviewed_version,
        } => Payload::ReviewLapsed(pb::ReviewLapsedEvent {
            reviewed_by,
            reviewed_version,
        }),
        Event::PayloadRedacted { position, event } => {
            Payload::PayloadRedacted(pb::PayloadRedactedEvent {
                position,
                event_index: event,
            })
        }
        Event::OriginClaimed(c) => Payload::OriginClaimed(origin_claims_message(*c)),
    };
    pb::Event {
        kind,
        payload: Some(payload),
        payload_digest,
        salt: salt.map(|s| hex(s)).unwrap_or_default(),
        redaction: None,
    }
}

pub(super) fn diff_response(
    id: ArticleId,
    from_version: u64,
    to_version: u64,
    d: &ArticleDiff,
) -> pb::DiffVersionsResponse {
    let kind = |k: ChangeKind| match k {
        ChangeKind::Added => pb::ChangeKind::Added,
        ChangeKind::Removed => pb::ChangeKind::Removed,
        ChangeKind::Modified => pb::ChangeKind::Modified,
        ChangeKind::Moved => pb::ChangeKind::Moved,
    } as i32;
    let position = |p: Option<usize>| p.map_or(-1, |p| i32::try_from(p).unwrap_or(i32::MAX));
    pb::DiffVersionsResponse {
        article_id: id.text(),
        from_version,
        to_version,
        fields: d
            .fields
            .iter()
            .map(|f| pb::FieldChange {
                field: f.field.to_owned(),
                old_value: f.old.clone(),
                new_value: f.new.clone(),
                line_diff: f.line_diff.clone(),
            })
            .collect(),
        sections: d
            .sections
            .iter()
            .map(|s| pb::SectionChange {
                section_id: s.id.clone(),
                change: kind(s.kind),
                old_heading: s
                    .old
                    .as_ref()
                    .map(|(_, s)| s.heading.clone())
                    .unwrap_or_default(),
                new_heading: s
                    .new
                    .as_ref()
                    .map(|(_, s)| s.heading.clone())
                    .unwrap_or_default(),
                body_diff: s.body_diff.clone(),
                old_position: position(s.old.as_ref().map(|(p, _)| *p)),
                new_position: position(s.new.as_ref().map(|(p, _)| *p)),
            })
            .collect(),
        sources: d
            .sources
            .iter()
            .map(|s| pb::SourceChange {
                source_id: s.id.clone(),
                change: kind(s.kind),
                old_source: s.old.as_ref().map(source_message),
                new_source: s.new.as_ref().map(source_message),
            })
            .collect(),
    }
}

pub(super) fn chain_break(b: &ChainBreak) -> pb::ChainBreak {
    pb::ChainBreak {
        global_position: b.global_position,
        article_id: b.article_id.map(|id| id.to_string()).unwrap_or_default(),
        version: b.version,
        chain: b.chain.to_owned(),
        expected_hash: hex(&b.expected),
        found_hash: hex(&b.found),
        detail: b.detail.clone(),
    }
}

pub(super) fn log_digest_message(d: &LogDigest) -> pb::LogDigest {
    pb::LogDigest {
        global_position: d.global_position,
        log_hash: hex(&d.log_hash),
        recorded_at: d.recorded_at.map(timestamp),
        signature: hex(&d.signed.signature),
        key_id: d.signed.key_id.clone(),
        public_key: hex(&d.signed.public_key),
    }
}

pub(super) fn backup_manifest_message(m: &crate::app::BackupManifest) -> pb::BackupManifest {
    pb::BackupManifest {
        global_position: m.global_position,
        log_hash: hex(&m.log_hash),
        request_hashes: hex(&m.request_hashes),
        signature: hex(&m.signed.signature),
        key_id: m.signed.key_id.clone(),
        public_key: hex(&m.signed.public_key),
    }
}

/// A backup manifest as a backup keeps it, checked for shape (not yet
/// signature).
pub(crate) fn backup_manifest(
    m: &pb::BackupManifest,
) -> Result<crate::app::BackupManifest, String> {
    let hash = |field: &str, text: &str| {
        unhex::<32>(text).ok_or_else(|| format!("{field} is not a SHA-256 in hex"))
    };
    Ok(crate::app::BackupManifest {
        global_position: m.global_position,
        log_hash: hash("logHash", &m.log_hash)?,
        request_hashes: hash("requestHashes", &m.request_hashes)?,
        signed: crate::signing::Signed {
            signature: unhex::<64>(&m.signature).ok_or("signature is not 64 bytes in hex")?,
            key_id: m.key_id.clone(),
            public_key: hash("publicKey", &m.public_key)?,
        },
    })
}

/// A digest an auditor sends back, checked for shape (not yet signature).
pub(crate) fn log_digest(d: &pb::LogDigest) -> Result<LogDigest, Status> {
    let field = |name: &str| format!("digest.{name}");
    Ok(LogDigest {
        global_position: d.global_position,
        log_hash: unhex::<32>(&d.log_hash)
            .ok_or_else(|| invalid(&field("log_hash"), "must be 64 hex digits"))?,
        recorded_at: d
            .recorded_at
            .as_ref()
            .map(|t| time(&field("recorded_at"), t))
            .transpose()?,
        signed: Signed {
            signature: unhex::<64>(&d.signature)
                .ok_or_else(|| invalid(&field("signature"), "must be 128 hex digits"))?,
            key_id: d.key_id.clone(),
            public_key: unhex::<32>(&d.public_key)
                .ok_or_else(|| invalid(&field("public_key"), "must be 64 hex digits"))?,
        },
    })
}

/// A commit as exported (one line of `answerlog export`), back into the
/// domain, for offline verification. `Err` says what does not fit.
pub(crate) fn commit_from_message(m: &pb::Commit) -> Result<crate::domain::Commit, String> {
    let revision = m.revision.as_ref().ok_or("no revision")?;
    let recorded = revision.recorded_at.as_ref().ok_or("no recorded_at")?;
    let recorded_at = chrono::DateTime::from_timestamp(
        recorded.seconds,
        u32::try_from(recorded.nanos).map_err(|_| "bad recorded_at")?,
    )
    .ok_or("bad recorded_at")?;
    let provenance = m.provenance.clone().map(provenance).unwrap_or_default();
    Ok(crate::domain::Commit {
        article_id: ArticleId::parse(&m.article_id).ok_or("bad article_id")?,
        version: revision.version,
        global_position: revision.global_position,
        recorded_at,
        actor: revision.actor.clone(),
        reason: revision.reason.clone(),
        command_id: CommandId::parse(&m.command_id).ok_or("bad command_id")?,
        provenance,
        // Exports made before the field existed have none.
        request_hash: if m.request_hash.is_empty() {
            [0; 32]
        } else {
            unhex::<32>(&m.request_hash).ok_or("bad request_hash")?
        },
        prev_hash: unhex::<32>(&m.prev_hash).ok_or("bad prev_hash")?.to_vec(),
        hash: unhex::<32>(&revision.hash).ok_or("bad hash")?.to_vec(),
        events: m
            .events
            .iter()
            .map(event_from_message)
            .collect::<Result<_, _>>()?,
        salts: salts_from_message(m)?,
        redactions: redactions_from_message(m)?,
        answer_digest: match (m.answer_digest.as_str(), m.answer_salt.as_str()) {
            ("", _) => None,
            (text, "") => Some(unhex::<32>(text).ok_or("bad answer_digest: 64 hex digits")?),
            // A kept digest replaces the salt (docs/AUDIT.md, "Redaction").
            (_, _) => return Err("an answer_digest beside an answer_salt".into()),
        },
    })
}

/// A commit's redacted events as exported: in encoding 2 each names its
/// content digest; in encoding 1 its payload digest stands for it.
fn redactions_from_message(m: &pb::Commit) -> Result<Vec<Redaction>, String> {
    m.events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((i, e.redaction.as_ref()?)))
        .map(|(i, r)| {
            let digest = match (m.encoding, r.content_digest.as_str()) {
                (0, "") => m.events[i].payload_digest.as_str(),
                (0, _) => return Err("a content digest in a commit of encoding 1".into()),
                (_, digest) => digest,
            };
            Ok(Redaction {
                event: u32::try_from(i).map_err(|_| "too many events")?,
                digest: unhex::<32>(digest)
                    .ok_or("bad events[].redaction digest: 64 hex digits")?,
                by_position: r.by_position,
            })
        })
        .collect()
}

/// A commit's salts as exported: none for encoding 1 (`encoding` left
/// out), every one for encoding 2.
fn salts_from_message(m: &pb::Commit) -> Result<Option<crate::domain::CommitSalts>, String> {
    match m.encoding {
        0 => {
            if !m.reason_salt.is_empty()
                || !m.answer_salt.is_empty()
                || m.events.iter().any(|e| !e.salt.is_empty())
            {
                return Err("salts in a commit of encoding 1".into());
            }
            Ok(None)
        }
        2 => {
            if m.request_hash.is_empty() {
                return Err("no request_hash in a commit of encoding 2, which covers it".into());
            }
            let salt = |text: &str, what: &str| {
                unhex::<32>(text).ok_or_else(|| format!("bad {what}: 64 hex digits"))
            };
            Ok(Some(crate::domain::CommitSalts {
                reason: salt(&m.reason_salt, "reason_salt")?,
                events: m
                    .events
                    .iter()
                    .map(|e| match e.redaction {
                        // Its salt is gone.
                        Some(_) if e.salt.is_empty() => Ok([0; 32]),
                        Some(_) => Err("a redacted event shows a salt".to_owned()),
                        None => salt(&e.salt, "events[].salt"),
                    })
                    .collect::<Result<_, _>>()?,
                // Absent in a commit written before answers were salted.
                answer: match m.answer_salt.as_str() {
                    "" => None,
                    text => Some(salt(text, "answer_salt")?),
                },
            }))
        }
        other => Err(format!(
            "encoding {other}: a commit of encoding 1 leaves it out, one of encoding 2 says 2"
        )),
    }
}

/// A suggested question as `backup` wrote it, for `restore`; its sequence
/// is given again when it is written.
pub(crate) fn suggestion_from_message(m: &pb::Suggestion) -> Result<Suggestion, String> {
    let at = m.suggested_at.as_ref().ok_or("no suggested_at")?;
    let suggested_at =
        chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(u32::MAX))
            .ok_or("bad suggested_at")?;
    if m.question.trim().is_empty() {
        return Err("no question".into());
    }
    let resolution = match m.status.as_str() {
        "open" => None,
        "answered" | "declined" => {
            let at = m.resolved_at.as_ref().ok_or("no resolved_at")?;
            Some(Resolution {
                outcome: if m.status == "declined" {
                    Outcome::Declined
                } else {
                    Outcome::Answered(
                        ArticleId::parse(&m.answered_by_article_id)
                            .ok_or("bad answered_by_article_id")?,
                    )
                },
                by: m.resolved_by.clone(),
                at: chrono::DateTime::from_timestamp(
                    at.seconds,
                    u32::try_from(at.nanos).unwrap_or(u32::MAX),
                )
                .ok_or("bad resolved_at")?,
                note: m.note.clone(),
                sequence: 0,
            })
        }
        other => return Err(format!("bad status {other:?}")),
    };
    Ok(Suggestion {
        resolution,
        id: uuid::Uuid::parse_str(&m.id).map_err(|_| "bad id")?,
        question: m.question.clone(),
        suggested_by: m.suggested_by.clone(),
        suggested_at,
        status: m.status.clone(),
        sequence: 0,
        article_id: if m.article_id.is_empty() {
            None
        } else {
            Some(ArticleId::parse(&m.article_id).ok_or("bad article_id")?)
        },
    })
}

fn section_from_message(s: &pb::Section) -> Section {
    Section {
        id: s.id.clone(),
        heading: s.heading.clone(),
        body: s.body.clone(),
    }
}

fn source_from_message(s: &pb::Source) -> Result<Source, String> {
    Ok(Source {
        id: s.id.clone(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: match s.accessed_on.as_str() {
            "" => None,
            text => Some(
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    format!("accessed_on: {} is not a date (YYYY-MM-DD)", quoted(text))
                })?,
            ),
        },
    })
}

/// Origin claims as the API shows them.
pub(crate) fn origin_claims_message(c: OriginClaims) -> pb::OriginClaims {
    pb::OriginClaims {
        origin: c.origin,
        revision_id: c.revision_id,
        parent_revision_id: c.parent_revision_id,
        time: c.time.map(timestamp),
        minor: c.minor,
        suppressed: c.suppressed,
        actor: c.actor,
        comment: c.comment,
        sha1: c.sha1,
        kind: c.kind,
        format: c.format,
        license: c.license,
    }
}

/// The seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z: the
/// range of protobuf's JSON timestamps, in which every export and backup
/// writes a time.
const JSON_TIMES: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Origin claims from the API, or the field that is wrong and why. Their
/// time counts in whole microseconds (docs/AUDIT.md), so a finer one is
/// refused rather than cut, and lies in the years 1 to 9999, which an
/// export can write.
pub(super) fn origin_claims(m: &pb::OriginClaims) -> Result<OriginClaims, (&'static str, String)> {
    let time = match &m.time {
        None => None,
        Some(t) => Some(
            u32::try_from(t.nanos)
                .ok()
                .filter(|n| n % 1000 == 0 && *n < 1_000_000_000 && JSON_TIMES.contains(&t.seconds))
                .and_then(|n| DateTime::from_timestamp(t.seconds, n))
                .ok_or((
                    "time",
                    "must be a time in the years 1 to 9999, in whole microseconds".into(),
                ))?,
        ),
    };
    Ok(OriginClaims {
        origin: m.origin.clone(),
        revision_id: m.revision_id.clone(),
        parent_revision_id: m.parent_revision_id.clone(),
        time,
        minor: m.minor,
        suppressed: m.suppressed.clone(),
        actor: m.actor.clone(),
        comment: m.comment.clone(),
        sha1: m.sha1.clone(),
        kind: m.kind.clone(),
        format: m.format.clone(),
        license: m.license.clone(),
    })
}

fn event_from_message(e: &pb::Event) -> Result<Event, String> {
    use pb::event::Payload;
    let date = |text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("bad date {text:?}"))
    };
    let section = section_from_message;
    let source = source_from_message;
    let payload = e.payload.as_ref().ok_or("an event without a payload")?;
    let position = |p: u32| p;
    let event = match payload {
        Payload::ArticleCreated(c) => {
            let a = c
                .article
                .as_ref()
                .ok_or("ArticleCreated without an article")?;
            Event::ArticleCreated(Box::new(crate::domain::ArticleCreated {
                slug: a.slug.clone(),
                question: a.question.clone(),
                quick_answer: a.quick_answer.clone(),
                key_facts: a.key_facts.clone(),
                sections: a.sections.iter().map(section).collect(),
                sources: a.sources.iter().map(source).collect::<Result<_, _>>()?,
                last_updated: date(&a.last_updated)?,
                provenance: a.provenance.clone().map(provenance).unwrap_or_default(),
                disclaimer: a.disclaimer.clone(),
            }))
        }
        Payload::QuestionEdited(x) => Event::QuestionEdited {
            question: x.question.clone(),
        },
        Payload::SlugChanged(x) => Event::SlugChanged {
            slug: x.slug.clone(),
        },
        Payload::SlugAliased(x) => Event::SlugAliased {
            slug: x.slug.clone(),
        },
        Payload::QuickAnswerEdited(x) => Event::QuickAnswerEdited {
            quick_answer: x.quick_answer.clone(),
        },
        Payload::KeyFactsReplaced(x) => Event::KeyFactsReplaced {
            key_facts: x.key_facts.clone(),
        },
        Payload::SectionAdded(x) => Event::SectionAdded {
            section: section(x.section.as_ref().ok_or("SectionAdded without a section")?),
            position: position(x.position),
        },
        Payload::SectionEdited(x) => Event::SectionEdited {
            section_id: x.section_id.clone(),
            heading: x.heading.clone(),
            body: x.body.clone(),
        },
        Payload::SectionRemoved(x) => Event::SectionRemoved {
            section_id: x.section_id.clone(),
        },
        Payload::SectionMoved(x) => Event::SectionMoved {
            section_id: x.section_id.clone(),
            position: position(x.position),
        },
        Payload::SourceAdded(x) => Event::SourceAdded {
            source: source(x.source.as_ref().ok_or("SourceAdded without a source")?)?,
            position: position(x.position),
        },
        Payload::SourceEdited(x) => Event::SourceEdited {
            source: source(x.source.as_ref().ok_or("SourceEdited without a source")?)?,
        },
        Payload::SourceRemoved(x) => Event::SourceRemoved {
            source_id: x.source_id.clone(),
        },
        Payload::ArticleRedated(x) => Event::ArticleRedated {
            last_updated: date(&x.last_updated)?,
        },
        Payload::ArticleReviewed(x) => Event::ArticleReviewed {
            reviewed_by: x.reviewed_by.clone(),
        },
        Payload::ArticleRetracted(x) => Event::ArticleRetracted {
            reason: x.reason.clone(),
        },
        Payload::ArticleRestored(x) => Event::ArticleRestored {
            reason: x.reason.clone(),
        },
        Payload::ReviewLapsed(x) => Event::ReviewLapsed {
            reviewed_by: x.reviewed_by.clone(),
            reviewed_version: x.reviewed_version,
        },
        Payload::PayloadRedacted(x) => Event::PayloadRedacted {
            position: x.position,
            event: x.event_index,
        },
        Payload::OriginClaimed(x) => Event::OriginClaimed(Box::new(
            origin_claims(x).map_err(|(field, why)| format!("OriginClaimed {field}: {why}"))?,
        )),
    };
    if event.kind() != e.kind {
        return Err(format!(
            "an event of kind {:?} holds a {} payload",
            e.kind,
            event.kind()
        ));
    }
    Ok(event)
}

/// A domain draft as the API message (for clients: the import command).
pub(crate) fn draft_message(d: ArticleDraft) -> pb::ArticleDraft {
    pb::ArticleDraft {
        slug: d.slug,
        question: d.question,
        quick_answer: d.quick_answer,
        key_facts: d.key_facts,
        sections: d
            .sections
            .into_iter()
            .map(|s| pb::SectionDraft {
                heading: s.heading,
                body: s.body,
            })
            .collect(),
        sources: d
            .sources
            .into_iter()
            .map(|s| pb::Source {
                id: s.id,
                title: s.title,
                publisher: s.publisher,
                url: s.url,
                license: s.license,
                accessed_on: s.accessed_on,
            })
            .collect(),
        last_updated: d.last_updated,
        provenance: Some(pb::Provenance {
            reviewed_version: d.reviewed_version,
            ..provenance_message(&d.provenance)
        }),
        disclaimer: d.disclaimer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_tampering() {
        let token = page_token(TokenKind::Answers, Some(42));
        assert_eq!(cursor(TokenKind::Answers, &token).unwrap(), 42);
        assert!(cursor(TokenKind::Revisions, &token).is_err());
        let mut tampered = token.into_bytes();
        tampered[17] = if tampered[17] == b'0' { b'1' } else { b'0' };
        assert!(cursor(TokenKind::Answers, std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(cursor(TokenKind::Answers, "garbage").is_err());
        assert!(cursor(TokenKind::Answers, "éééééééééé").is_err());
        assert_eq!(cursor(TokenKind::Answers, "").unwrap(), 0);
        assert_eq!(page_token(TokenKind::Answers, None), "");
    }

    #[test]
    fn page_sizes_are_coerced() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_size(5).unwrap(), 5);
        assert_eq!(page_size(1_000_000).unwrap(), MAX_PAGE);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn a_dates_text_is_what_display_writes() {
        let dates = [
            (0, 1, 1),
            (1, 2, 3),
            (999, 12, 31),
            (2026, 2, 28),
            (9999, 12, 31),
        ]
        .into_iter()
        .chain([(-1, 6, 15), (10_000, 1, 1), (-262_000, 1, 1)]);
        for (y, m, d) in dates {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("a date");
            assert_eq!(date_text(date), date.to_string(), "{y}-{m}-{d}");
        }
    }
}
