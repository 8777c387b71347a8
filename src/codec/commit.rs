//! Commits and their events, to and from their stored bytes.

use bytes::{Buf, Bytes};
use prost::Message;

use super::pb::event_record::Kind;
use super::pb::{self, EventRecord};
use super::{date, from_micros, micros, CodecError};
use crate::domain::{
    ArticleCreated, ArticleId, CommandId, Commit, CommitEvents, CommitHead, CommitSalts, Event,
    OriginClaims, Provenance, Redaction, Salt, Section, Source,
};

const WHAT: &str = "commit";

pub(crate) fn encode_commit(commit: &Commit) -> Vec<u8> {
    pb::CommitRecord {
        article_id: Bytes::copy_from_slice(commit.article_id.as_bytes()),
        version: commit.version,
        global_position: commit.global_position,
        recorded_at_micros: micros(commit.recorded_at),
        actor: commit.actor.clone(),
        reason: commit.reason.clone(),
        command_id: Bytes::copy_from_slice(commit.command_id.as_bytes()),
        provenance: Some(provenance_record(&commit.provenance)),
        prev_hash: Bytes::copy_from_slice(&commit.prev_hash),
        hash: Bytes::copy_from_slice(&commit.hash),
        events: commit.events.iter().map(event_record).collect(),
        request_hash: Bytes::copy_from_slice(&commit.request_hash),
        reason_salt: commit
            .salts
            .as_ref()
            .map(|s| Bytes::copy_from_slice(&s.reason))
            .unwrap_or_default(),
        // A redacted event's salt is gone: stored empty.
        event_salts: match &commit.salts {
            None => Vec::new(),
            Some(salts) => (0..salts.events.len())
                .map(|i| {
                    commit
                        .event_salt(i)
                        .map(|s| Bytes::copy_from_slice(s))
                        .unwrap_or_default()
                })
                .collect(),
        },
        answer_salt: commit
            .answer_salt()
            .map(|s| Bytes::copy_from_slice(s))
            .unwrap_or_default(),
        redactions: commit
            .redactions
            .iter()
            .map(|r| pb::RedactionRecord {
                event: r.event,
                digest: Bytes::copy_from_slice(&r.digest),
                by_position: r.by_position,
            })
            .collect(),
        answer_digest: commit
            .answer_digest
            .map(|d| Bytes::copy_from_slice(&d))
            .unwrap_or_default(),
    }
    .encode_to_vec()
}

/// A commit from its stored bytes: from a `Bytes`, its `bytes` fields are
/// slices of it, not copies.
pub(crate) fn decode_commit(bytes: impl Buf) -> Result<Commit, CodecError> {
    let r = pb::CommitRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    let article_id = ArticleId::from_slice(&r.article_id)
        .ok_or_else(|| CodecError::new(WHAT, "bad article id"))?;
    let command_id = CommandId::from_slice(&r.command_id)
        .ok_or_else(|| CodecError::new(WHAT, "bad command id"))?;
    let request_hash: [u8; 32] = r.request_hash[..]
        .try_into()
        .map_err(|_| CodecError::new(WHAT, "bad request hash"))?;
    let events = commit_events(r.events)?;
    let redactions = redactions(&r.redactions, events.len())?;
    let redacted: Vec<usize> = redactions.iter().map(|r| r.event as usize).collect();
    let salts = salts(
        &r.reason_salt,
        &r.event_salts,
        &r.answer_salt,
        events.len(),
        &redacted,
    )?;
    let answer_digest = match &r.answer_digest[..] {
        [] => None,
        bytes => Some(
            bytes
                .try_into()
                .map_err(|_| CodecError::new(WHAT, "an answer digest is not 32 bytes"))?,
        ),
    };
    if salts.is_none()
        && events
            .iter()
            .any(|e| matches!(e, Event::OriginClaimed(_) | Event::SlugAliased { .. }))
    {
        return Err(CodecError::new(
            WHAT,
            "an OriginClaimed or SlugAliased event in a commit of encoding 1, which has none",
        ));
    }
    if answer_digest.is_some() && salts.as_ref().is_some_and(|s| s.answer.is_some()) {
        return Err(CodecError::new(
            WHAT,
            "an answer digest kept beside an answer salt",
        ));
    }
    Ok(Commit {
        article_id,
        version: r.version,
        global_position: r.global_position,
        recorded_at: from_micros(WHAT, r.recorded_at_micros)?,
        actor: r.actor,
        reason: r.reason,
        command_id,
        provenance: provenance(r.provenance),
        request_hash,
        prev_hash: r.prev_hash.to_vec(),
        hash: r.hash.to_vec(),
        events,
        salts,
        redactions,
        answer_digest,
    })
}

/// A commit's redactions: each of an event it holds, once, in order.
fn redactions(records: &[pb::RedactionRecord], count: usize) -> Result<Vec<Redaction>, CodecError> {
    let mut out: Vec<Redaction> = Vec::with_capacity(records.len());
    for r in records {
        if r.event as usize >= count || out.last().is_some_and(|last| last.event >= r.event) {
            return Err(CodecError::new(
                WHAT,
                format!("a redaction of event {} of {count}, out of order", r.event),
            ));
        }
        out.push(Redaction {
            event: r.event,
            digest: r.digest[..]
                .try_into()
                .map_err(|_| CodecError::new(WHAT, "a redaction's digest is not 32 bytes"))?,
            by_position: r.by_position,
        });
    }
    Ok(out)
}

/// A v2 commit's salts (none for v1: no reason salt): 32 bytes each, one
/// for each of its `events` (none for one `redacted`: zeros stand in),
/// and the answer's unless it has none.
fn salts(
    reason: &[u8],
    events: &[Bytes],
    answer: &[u8],
    count: usize,
    redacted: &[usize],
) -> Result<Option<CommitSalts>, CodecError> {
    if reason.is_empty() && events.is_empty() {
        if !answer.is_empty() {
            return Err(CodecError::new(WHAT, "an answer salt in a commit of v1"));
        }
        return Ok(None);
    }
    let salt = |bytes: &[u8]| -> Result<Salt, CodecError> {
        bytes
            .try_into()
            .map_err(|_| CodecError::new(WHAT, "a salt is not 32 bytes"))
    };
    if events.len() != count {
        return Err(CodecError::new(
            WHAT,
            format!("{} event salts for {count} events", events.len()),
        ));
    }
    Ok(Some(CommitSalts {
        reason: salt(reason)?,
        events: events
            .iter()
            .enumerate()
            .map(|(i, e)| match redacted.contains(&i) {
                true if e.is_empty() => Ok([0; 32]),
                true => Err(CodecError::new(WHAT, "a redacted event keeps its salt")),
                false => salt(e),
            })
            .collect::<Result<_, _>>()?,
        answer: match answer {
            [] => None,
            bytes => Some(salt(bytes)?),
        },
    }))
}

/// The head of a commit's stored bytes (`CommitHead`), its events and
/// envelope text left undecoded.
pub(crate) fn decode_commit_head(bytes: impl Buf) -> Result<CommitHead, CodecError> {
    let r =
        pb::CommitHeadRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    let bad = |what: &str| CodecError::new(WHAT, format!("bad {what}"));
    Ok(CommitHead {
        article_id: ArticleId::from_slice(&r.article_id).ok_or_else(|| bad("article id"))?,
        version: r.version,
        global_position: r.global_position,
        recorded_at: from_micros(WHAT, r.recorded_at_micros)?,
        command_id: CommandId::from_slice(&r.command_id).ok_or_else(|| bad("command id"))?,
        hash: r.hash[..].try_into().map_err(|_| bad("hash"))?,
        request_hash: r.request_hash[..]
            .try_into()
            .map_err(|_| bad("request hash"))?,
    })
}

/// Where a commit's stored bytes stand, when they were recorded and their
/// events, the rest left undecoded: what a fold needs.
pub(crate) fn decode_commit_events(bytes: impl Buf) -> Result<CommitEvents, CodecError> {
    let r =
        pb::CommitEventsRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    let events = commit_events(r.events)?;
    Ok(CommitEvents {
        article_id: ArticleId::from_slice(&r.article_id)
            .ok_or_else(|| CodecError::new(WHAT, "bad article id"))?,
        version: r.version,
        global_position: r.global_position,
        recorded_at: from_micros(WHAT, r.recorded_at_micros)?,
        events,
    })
}

/// A commit's events, of which it has at least one.
fn commit_events(records: Vec<EventRecord>) -> Result<Vec<Event>, CodecError> {
    let events = records
        .into_iter()
        .map(event)
        .collect::<Result<Vec<_>, _>>()?;
    if events.is_empty() {
        return Err(CodecError::new(WHAT, "a commit without events"));
    }
    Ok(events)
}

fn event_record(event: &Event) -> EventRecord {
    let kind = match event {
        Event::ArticleCreated(c) => Kind::ArticleCreated(pb::ArticleCreated {
            slug: c.slug.clone(),
            question: c.question.clone(),
            quick_answer: c.quick_answer.clone(),
            key_facts: c.key_facts.clone(),
            sections: c.sections.iter().map(section_record).collect(),
            sources: c.sources.iter().map(source_record).collect(),
            last_updated: c.last_updated.to_string(),
            provenance: Some(provenance_record(&c.provenance)),
            disclaimer: c.disclaimer.clone(),
        }),
        Event::QuestionEdited { question } => Kind::QuestionEdited(pb::QuestionEdited {
            question: question.clone(),
        }),
        Event::SlugChanged { slug } => Kind::SlugChanged(pb::SlugChanged { slug: slug.clone() }),
        Event::SlugAliased { slug } => Kind::SlugAliased(pb::SlugAliased { slug: slug.clone() }),
        Event::QuickAnswerEdited { quick_answer } => {
            Kind::QuickAnswerEdited(pb::QuickAnswerEdited {
                quick_answer: quick_answer.clone(),
            })
        }
        Event::KeyFactsReplaced { key_facts } => Kind::KeyFactsReplaced(pb::KeyFactsReplaced {
            key_facts: key_facts.clone(),
        }),
        Event::SectionAdded { section, position } => Kind::SectionAdded(pb::SectionAdded {
            section: Some(section_record(section)),
            position: *position,
        }),
        Event::SectionEdited {
            section_id,
            heading,
            body,
        } => Kind::SectionEdited(pb::SectionEdited {
            section_id: section_id.clone(),
            heading: heading.clone(),
            body: body.clone(),
        }),
        Event::SectionRemoved { section_id } => Kind::SectionRemoved(pb::SectionRemoved {
            section_id: section_id.clone(),
        }),
        Event::SectionMoved {
            section_id,
            position,
        } => Kind::SectionMoved(pb::SectionMoved {
            section_id: section_id.clone(),
            position: *position,
        }),
        Event::SourceAdded { source, position } => Kind::SourceAdded(pb::SourceAdded {
            source: Some(source_record(source)),
            position: *position,
        }),
        Event::SourceEdited { source } => Kind::SourceEdited(pb::SourceEdited {
            source: Some(source_record(source)),
        }),
        Event::SourceRemoved { source_id } => Kind::SourceRemoved(pb::SourceRemoved {
            source_id: source_id.clone(),
        }),
        Event::ArticleRedated { last_updated } => Kind::ArticleRedated(pb::ArticleRedated {
            last_updated: last_updated.to_string(),
        }),
        Event::ArticleReviewed { reviewed_by } => Kind::ArticleReviewed(pb::ArticleReviewed {
            reviewed_by: reviewed_by.clone(),
        }),
        Event::ArticleRetracted { reason } => Kind::ArticleRetracted(pb::ArticleRetracted {
            reason: reason.clone(),
        }),
        Event::ArticleRestored { reason } => Kind::ArticleRestored(pb::ArticleRestored {
            reason: reason.clone(),
        }),
        Event::ReviewLapsed {
            reviewed_by,
            reviewed_version,
        } => Kind::ReviewLapsed(pb::ReviewLapsed {
            reviewed_by: reviewed_by.clone(),
            reviewed_version: *reviewed_version,
        }),
        Event::PayloadRedacted { position, event } => Kind::PayloadRedacted(pb::PayloadRedacted {
            position: *position,
            event: *event,
        }),
        Event::OriginClaimed(c) => Kind::OriginClaimed(pb::OriginClaimed {
            origin: c.origin.clone(),
            revision_id: c.revision_id.clone(),
            parent_revision_id: c.parent_revision_id.clone(),
            time_micros: c.time.map(micros),
            minor: c.minor,
            suppressed: c.suppressed.clone(),
            actor: c.actor.clone(),
            comment: c.comment.clone(),
            sha1: c.sha1.clone(),
            kind: c.kind.clone(),
            format: c.format.clone(),
            license: c.license.clone(),
        }),
    };
    EventRecord { kind: Some(kind) }
}

fn event(record: EventRecord) -> Result<Event, CodecError> {
    let kind = record
        .kind
        .ok_or_else(|| CodecError::new(WHAT, "an event of unknown kind"))?;
    Ok(match kind {
        Kind::ArticleCreated(c) => Event::ArticleCreated(Box::new(ArticleCreated {
            slug: c.slug,
            question: c.question,
            quick_answer: c.quick_answer,
            key_facts: c.key_facts,
            sections: c.sections.into_iter().map(section).collect(),
            sources: c
                .sources
                .into_iter()
                .map(source)
                .collect::<Result<_, _>>()?,
            last_updated: date(WHAT, &c.last_updated)?,
            provenance: provenance(c.provenance),
            disclaimer: c.disclaimer,
        })),
        Kind::QuestionEdited(e) => Event::QuestionEdited {
            question: e.question,
        },
        Kind::SlugChanged(e) => Event::SlugChanged { slug: e.slug },
        Kind::SlugAliased(e) => Event::SlugAliased { slug: e.slug },
        Kind::QuickAnswerEdited(e) => Event::QuickAnswerEdited {
            quick_answer: e.quick_answer,
        },
        Kind::KeyFactsReplaced(e) => Event::KeyFactsReplaced {
            key_facts: e.key_facts,
        },
        Kind::SectionAdded(e) => Event::SectionAdded {
            section: section(e.section.unwrap_or_default()),
            position: e.position,
        },
        Kind::SectionEdited(e) => Event::SectionEdited {
            section_id: e.section_id,
            heading: e.heading,
            body: e.body,
        },
        Kind::SectionRemoved(e) => Event::SectionRemoved {
            section_id: e.section_id,
        },
        Kind::SectionMoved(e) => Event::SectionMoved {
            section_id: e.section_id,
            position: e.position,
        },
        Kind::SourceAdded(e) => Event::SourceAdded {
            source: source(e.source.unwrap_or_default())?,
            position: e.position,
        },
        Kind::SourceEdited(e) => Event::SourceEdited {
            source: source(e.source.unwrap_or_default())?,
        },
        Kind::SourceRemoved(e) => Event::SourceRemoved {
            source_id: e.source_id,
        },
        Kind::ArticleRedated(e) => Event::ArticleRedated {
            last_updated: date(WHAT, &e.last_updated)?,
        },
        Kind::ArticleReviewed(e) => Event::ArticleReviewed {
            reviewed_by: e.reviewed_by,
        },
        Kind::ArticleRetracted(e) => Event::ArticleRetracted { reason: e.reason },
        Kind::ArticleRestored(e) => Event::ArticleRestored { reason: e.reason },
        Kind::ReviewLapsed(e) => Event::ReviewLapsed {
            reviewed_by: e.reviewed_by,
            reviewed_version: e.reviewed_version,
        },
        Kind::PayloadRedacted(e) => Event::PayloadRedacted {
            position: e.position,
            event: e.event,
        },
        Kind::OriginClaimed(e) => Event::OriginClaimed(Box::new(OriginClaims {
            origin: e.origin,
            revision_id: e.revision_id,
            parent_revision_id: e.parent_revision_id,
            time: e.time_micros.map(|t| from_micros(WHAT, t)).transpose()?,
            minor: e.minor,
            suppressed: e.suppressed,
            actor: e.actor,
            comment: e.comment,
            sha1: e.sha1,
            kind: e.kind,
            format: e.format,
            license: e.license,
        })),
    })
}

pub(super) fn section_record(s: &Section) -> pb::SectionRecord {
    pb::SectionRecord {
        id: s.id.clone(),
        heading: s.heading.clone(),
        body: s.body.clone(),
    }
}

pub(super) fn section(r: pb::SectionRecord) -> Section {
    Section {
        id: r.id,
        heading: r.heading,
        body: r.body,
    }
}

pub(super) fn source_record(s: &Source) -> pb::SourceRecord {
    pb::SourceRecord {
        id: s.id.clone(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: s.accessed_on.map(|d| d.to_string()).unwrap_or_default(),
    }
}

pub(super) fn source(r: pb::SourceRecord) -> Result<Source, CodecError> {
    Ok(Source {
        accessed_on: if r.accessed_on.is_empty() {
            None
        } else {
            Some(date(WHAT, &r.accessed_on)?)
        },
        id: r.id,
        title: r.title,
        publisher: r.publisher,
        url: r.url,
        license: r.license,
    })
}

pub(super) fn provenance_record(p: &Provenance) -> pb::ProvenanceRecord {
    pb::ProvenanceRecord {
        ai_assisted: p.ai_assisted,
        generator: p.generator.clone(),
        reviewed_by: p.reviewed_by.clone(),
    }
}

pub(super) fn provenance(r: Option<pb::ProvenanceRecord>) -> Provenance {
    let r = r.unwrap_or_default();
    Provenance {
        ai_assisted: r.ai_assisted,
        generator: r.generator,
        reviewed_by: r.reviewed_by,
    }
}
