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
