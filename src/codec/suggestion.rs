//! Suggested questions, to and from stored bytes.

use prost::Message;
use uuid::Uuid;

use super::pb;
use super::{from_micros, micros, CodecError};
use crate::domain::{ArticleId, Outcome, Resolution, Suggestion};

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
        resolved_by: s
            .resolution
            .as_ref()
            .map(|r| r.by.clone())
            .unwrap_or_default(),
        resolved_at_micros: s.resolution.as_ref().map_or(0, |r| micros(r.at)),
        answered_by_article_id: match s.resolution.as_ref().map(|r| r.outcome) {
            Some(Outcome::Answered(id)) => id.as_bytes().to_vec(),
            _ => Vec::new(),
        },
        note: s
            .resolution
            .as_ref()
            .map(|r| r.note.clone())
            .unwrap_or_default(),
        resolution_sequence: s.resolution.as_ref().map_or(0, |r| r.sequence),
    }
    .encode_to_vec()
}

pub(crate) fn decode_suggestion(bytes: &[u8]) -> Result<Suggestion, CodecError> {
    const WHAT: &str = "suggestion";
    let r =
        pb::SuggestionRecord::decode(bytes).map_err(|e| CodecError::new(WHAT, e.to_string()))?;
    let resolution = match r.status.as_str() {
        "answered" | "declined" => Some(Resolution {
            outcome: if r.status == "declined" {
                Outcome::Declined
            } else {
                Outcome::Answered(
                    ArticleId::from_slice(&r.answered_by_article_id)
                        .ok_or_else(|| CodecError::new(WHAT, "bad answering article id"))?,
                )
            },
            by: r.resolved_by,
            at: from_micros(WHAT, r.resolved_at_micros)?,
            note: r.note,
            sequence: r.resolution_sequence,
        }),
        _ => None,
    };
    Ok(Suggestion {
        resolution,
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

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn a_suggestion_open_or_resolved_is_read_back_whole() {
        let open = Suggestion {
            id: Uuid::from_u128(7),
            question: "Is it rare?".into(),
            suggested_by: "rita".into(),
            suggested_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            status: "open".into(),
            sequence: 3,
            article_id: Some(ArticleId::from_uuid(Uuid::from_u128(8))),
            resolution: None,
        };
        assert_eq!(decode_suggestion(&encode_suggestion(&open)).unwrap(), open);
        for outcome in [
            Outcome::Declined,
            Outcome::Answered(ArticleId::from_uuid(Uuid::from_u128(9))),
        ] {
            let resolved = Suggestion {
                status: outcome.status().into(),
                resolution: Some(Resolution {
                    outcome,
                    by: "wanda".into(),
                    at: DateTime::from_timestamp(1_800_000_100, 0).unwrap(),
                    note: "why".into(),
                    sequence: 4,
                }),
                ..open.clone()
            };
            assert_eq!(
                decode_suggestion(&encode_suggestion(&resolved)).unwrap(),
                resolved
            );
        }
    }
}
