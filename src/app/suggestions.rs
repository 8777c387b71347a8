//! Suggested questions: a reader suggests one; writers list them and
//! resolve each once, answered by an article or declined with a note.
//!
//! A suggestion and its resolution each take a number of the suggestions'
//! sequence, and show only once the suggestions are durable through it:
//! a resolution written in a batch not yet flushed is not seen, and the
//! suggestion reads as open until it is.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::read::{ArticleRef, Page};
use super::{App, AppError};
use crate::domain::{
    check_suggestion, resolve_suggestion, ArticleId, DomainError, Outcome, Status, Suggestion,
};

/// How a writer resolves a suggestion: the article given by id or slug.
pub enum Resolve {
    Answered(ArticleRef),
    Declined,
}

impl App {
    pub async fn suggest(
        &self,
        question: String,
        article_id: Option<ArticleId>,
        actor: String,
    ) -> Result<Suggestion, AppError> {
        check_suggestion(&question, &self.limits)?;
        if let Some(id) = article_id {
            if self.current_durable(id).await?.is_none() {
                return Err(AppError::not_found("article_id", "no such article"));
            }
        }
        let suggestion = Suggestion {
            id: Uuid::now_v7(),
            question,
            suggested_by: actor,
            suggested_at: Utc::now(),
            status: "open".into(),
            sequence: 0,
            article_id,
            resolution: None,
        };
        Ok(self.store.suggest(suggestion).await?)
    }

    /// Up to `page_size` suggestions after sequence `after`, as durable.
    pub async fn suggestions(
        &self,
        after: u64,
        page_size: usize,
    ) -> Result<Page<Suggestion>, AppError> {
        let durable = self.store.suggestions_durable();
        let mut items = crate::store::suggestions(&self.read_models, after, page_size)?;
        items.retain(|s| s.sequence <= durable);
        for item in &mut items {
            item.open_unless_durable(durable);
        }
        let next = (items.len() == page_size)
            .then(|| items.last().map(|s| s.sequence))
            .flatten();
        Ok(Page { items, next })
    }

    /// Resolves the open suggestion `id` as `how`, by `actor`, durably;
    /// the suggestion as resolved. A suggestion resolved already (by
    /// anyone, even a moment before) is FAILED_PRECONDITION, unless it
    /// stands resolved as asked (a retry: answered with what stands).
    pub async fn resolve_suggestion(
        &self,
        id: Uuid,
        how: Resolve,
        note: String,
        actor: String,
    ) -> Result<Suggestion, AppError> {
        let (outcome, retracted) = match how {
            Resolve::Declined => (Outcome::Declined, false),
            Resolve::Answered(reference) => {
                let answering = match self.current_of(&reference).await {
                    Ok(answering) => answering,
                    Err(AppError::NotFound { message, .. }) => {
                        return Err(AppError::not_found("article", message))
                    }
                    Err(e) => return Err(e),
                };
                (
                    Outcome::Answered(answering.article.id),
                    answering.article.status == Status::Retracted,
                )
            }
        };
        let found = self
            .find_suggestion(id)
            .await?
            .ok_or_else(|| AppError::not_found("suggestion_id", format!("no suggestion {id}")))?;
        // The same resolution again (a retry whose answer was lost) is
        // answered with the one that stands.
        let same = |s: &Suggestion| {
            s.resolution.as_ref().is_some_and(|r| {
                (r.outcome, r.by.as_str(), r.note.as_str())
                    == (outcome, actor.as_str(), note.as_str())
            })
        };
        if same(&found) {
            return Ok(found);
        }
        if retracted {
            return Err(AppError::FailedPrecondition(
                "article: the article is retracted; readers would not see the answer".into(),
            ));
        }
        // Stored to the microsecond: the time said is the time kept.
        let now = Utc::now();
        let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let resolved = resolve_suggestion(&found, outcome, (&actor, now), &note, &self.limits)?;
        let stands = self.store.resolve_suggestion(resolved).await?;
        if !same(&stands) {
            return Err(DomainError::Resolved {
                status: stands.status,
            }
            .into());
        }
        Ok(stands)
    }

    /// The suggestion with this id, as durable.
    async fn find_suggestion(&self, id: Uuid) -> Result<Option<Suggestion>, AppError> {
        let mut after = 0;
        loop {
            let page = self.suggestions(after, 1000).await?;
            if let Some(found) = page.items.iter().find(|s| s.id == id) {
                return Ok(Some(found.clone()));
            }
            match page.next {
                Some(next) => after = next,
                None => return Ok(None),
            }
        }
    }
}
