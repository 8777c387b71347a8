//! Materialized articles and the dates model's dates, to and from stored bytes.

use prost::Message;

use super::commit::{
    provenance, provenance_record, section, section_record, source, source_record,
};
use super::pb;
use super::{date, from_micros, micros, CodecError};
use crate::domain::{Article, ArticleId, ArticleVersion, Status};

pub(crate) fn encode_article(v: &ArticleVersion) -> Vec<u8> {
    let a = &v.article;
    pb::ArticleRecord {
        id: a.id.as_bytes().to_vec(),
        slug: a.slug.clone(),
        question: a.question.clone(),
        quick_answer: a.quick_answer.clone(),
        key_facts: a.key_facts.clone(),
        sections: a.sections.iter().map(section_record).collect(),
        sources: a.sources.iter().map(source_record).collect(),
        last_updated: a.last_updated.to_string(),
        provenance: Some(provenance_record(&a.provenance)),
        disclaimer: a.disclaimer.clone(),
        retracted: a.status == Status::Retracted,
        version: a.version,
        reviewed_version: a.reviewed_version,
        review_stale: a.review_stale,
        global_position: v.global_position,
        recorded_at_micros: micros(v.recorded_at),
        next_section: a.next_section,
        next_source: a.next_source,
    }
    .encode_to_vec()
}

pub(crate) fn decode_article(bytes: &[u8]) -> Result<ArticleVersion, CodecError> {
    const WHAT: &str = "article";
    let r = pb::ArticleRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    let id = ArticleId::from_slice(&r.id).ok_or_else(|| CodecError::new(WHAT, "bad id"))?;
    let article = Article {
        id,
        slug: r.slug,
        question: r.question,
        quick_answer: r.quick_answer,
        key_facts: r.key_facts,
        sections: r.sections.into_iter().map(section).collect(),
        sources: r
            .sources
            .into_iter()
            .map(source)
            .collect::<Result<_, _>>()?,
        last_updated: date(WHAT, &r.last_updated)?,
        provenance: provenance(r.provenance),
        disclaimer: r.disclaimer,
        status: if r.retracted {
            Status::Retracted
        } else {
            Status::Published
        },
        version: r.version,
        reviewed_version: r.reviewed_version,
        review_stale: r.review_stale,
        next_section: r.next_section,
        next_source: r.next_source,
    };
    Ok(ArticleVersion {
        article,
        global_position: r.global_position,
        recorded_at: from_micros(WHAT, r.recorded_at_micros)?,
    })
}

/// A date as the read models store it: `YYYY-MM-DD`, ten bytes.
pub(crate) fn encode_date(date: chrono::NaiveDate) -> Vec<u8> {
    date.to_string().into_bytes()
}

pub(crate) fn decode_date(bytes: &[u8]) -> Result<chrono::NaiveDate, CodecError> {
    const WHAT: &str = "date";
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::new(WHAT, "not UTF-8"))?;
    date(WHAT, text)
}
