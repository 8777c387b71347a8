//! Suggested questions, to and from stored bytes.

use prost::Message;
use uuid::Uuid;

use super::pb;
use super::{from_micros, micros, CodecError};
use crate::domain::{ArticleId, Suggestion};

pub(crate) fn encode_suggestion(s: &Suggestion) -> Vec<u8> {
    pb::SuggestionRecord {
        id: s.id.as_bytes().to_vec(),
        question: s.question.clone(),
        suggested_by: s.suggested_by.clone(),
        suggested_at_micros: micros(s.suggested_at),
        status: s.status.clone(),
        sequence: s.sequence,
        article_id: s
            .article_id
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default(),
    }
    .encode_to_vec()
}

pub(crate) fn decode_suggestion(bytes: &[u8]) -> Result<Suggestion, CodecError> {
    const WHAT: &str = "suggestion";
    let r =
        pb::SuggestionRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    Ok(Suggestion {
        id: Uuid::from_slice(&r.id).map_err(|_| CodecError::new(WHAT, "bad id"))?,
        question: r.question,
        suggested_by: r.suggested_by,
        suggested_at: from_micros(WHAT, r.suggested_at_micros)?,
        status: r.status,
        sequence: r.sequence,
        article_id: if r.article_id.is_empty() {
            None
        } else {
            Some(
                ArticleId::from_slice(&r.article_id)
                    .ok_or_else(|| CodecError::new(WHAT, "bad article id"))?,
            )
        },
    })
}
