//! A reader's suggested question ("Suggest a question").

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::DomainError;
use super::ids::ArticleId;
use super::limits::Limits;
use super::validate::{Text, Violations};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub id: Uuid,
    pub question: String,
    pub suggested_by: String,
    pub suggested_at: DateTime<Utc>,
    /// "open" when suggested.
    pub status: String,
    /// The order in which suggestions were accepted, from 1.
    pub sequence: u64,
    /// The article the reader was on, if any.
    pub article_id: Option<ArticleId>,
    /// How it was resolved, once it is.
    pub resolution: Option<Resolution>,
}

impl Suggestion {
    /// Drops a resolution numbered past the suggestions durable through
    /// `durable` (not yet durable, or never acknowledged): the suggestion
    /// is open as far as anyone was told. Whether it did.
    pub fn open_unless_durable(&mut self, durable: u64) -> bool {
        if self
            .resolution
            .as_ref()
            .is_some_and(|r| r.sequence > durable)
        {
            self.resolution = None;
            self.status = "open".into();
            return true;
        }
        false
    }
}

/// An open suggestion answered or declined, by whom, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub outcome: Outcome,
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
    /// The suggestion sequence the resolution was written at, which says
    /// when it is durable (0: as durable as the suggestion).
    pub sequence: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This article answers it.
    Answered(ArticleId),
    Declined,
}

impl Outcome {
    /// The suggestion's status once resolved so.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Answered(_) => "answered",
            Outcome::Declined => "declined",
        }
    }
}

/// `suggestion` resolved as `outcome` by `by` at `at`, its note checked
/// (a decline must say why); refused if it is resolved already.
pub(crate) fn resolve(
    suggestion: &Suggestion,
    outcome: Outcome,
    (by, at): (&str, DateTime<Utc>),
    note: &str,
    limits: &Limits,
) -> Result<Suggestion, DomainError> {
    if suggestion.resolution.is_some() {
        return Err(DomainError::Resolved {
            status: suggestion.status.clone(),
        });
    }
    let mut v = Violations::default();
    let rule = Text::line(limits.reason_chars);
    let rule = match outcome {
        Outcome::Declined => rule,
        Outcome::Answered(_) => rule.optional(),
    };
    v.text("note", note, rule);
    if !v.is_empty() {
        return Err(DomainError::Invalid(v.into_inner()));
    }
    Ok(Suggestion {
        status: outcome.status().to_owned(),
        resolution: Some(Resolution {
            outcome,
            by: by.to_owned(),
            at,
            note: note.to_owned(),
            sequence: 0,
        }),
        ..suggestion.clone()
    })
}

/// Checks a suggested question with the same rules as an article's.
pub(crate) fn check_suggestion(question: &str, limits: &Limits) -> Result<(), DomainError> {
    let mut v = Violations::default();
    v.text("question", question, Text::line(limits.question_chars));
    if v.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(v.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Suggestion {
        Suggestion {
            id: Uuid::from_u128(7),
            question: "Is it rare?".into(),
            suggested_by: "rita".into(),
            suggested_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            status: "open".into(),
            sequence: 3,
            article_id: None,
            resolution: None,
        }
    }

    #[test]
    fn a_suggestion_is_resolved_once_and_a_decline_says_why() {
        let limits = Limits::default();
        let at = DateTime::from_timestamp(1_800_000_100, 0).unwrap();
        let refused = resolve(&open(), Outcome::Declined, ("wanda", at), " ", &limits);
        assert!(matches!(refused, Err(DomainError::Invalid(v)) if v[0].field == "note"));
        let article = ArticleId::from_uuid(Uuid::from_u128(9));
        let answered = resolve(
            &open(),
            Outcome::Answered(article),
            ("wanda", at),
            "",
            &limits,
        )
        .expect("an answer needs no note");
        assert_eq!(answered.status, "answered");
        assert_eq!(answered.sequence, 3);
        let resolution = answered.resolution.clone().unwrap();
        assert_eq!((resolution.by.as_str(), resolution.at), ("wanda", at));
        let again = resolve(&answered, Outcome::Declined, ("wes", at), "no", &limits);
        assert_eq!(
            again,
            Err(DomainError::Resolved {
                status: "answered".into()
            })
        );
    }
}
