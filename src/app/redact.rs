//! Redaction through the server (docs/AUDIT.md, "Redaction"): an admin
//! removes the content of one event of an article's history for good.
//! The commits it rewrites are worked out here from the article's
//! history as the log holds it (`domain::redact`), and go to the log
//! with the commit that records the redaction, which makes both durable
//! together; the read models fold the article again as the log then
//! holds it.

use super::write::WriteMeta;
use super::{App, AppError};
use crate::domain::{redact, ArticleId, Commit, Event};
use crate::store::{AppendRequest, Appended};

/// What to redact: event `event` of the commit at log position
/// `position`, which must be of article `article`, now at
/// `expected_version`.
#[derive(Clone, Copy, Debug)]
pub struct Redaction {
    pub article: ArticleId,
    pub expected_version: u64,
    pub position: u64,
    pub event: u32,
}

/// What a redaction did.
#[derive(Clone, Debug)]
pub struct Redacted {
    pub appended: Appended,
    /// The log positions of the commits rewritten: the redacted one, then
    /// each whose answer's leaf digest is now kept. Empty for a retry.
    pub rewritten: Vec<u64>,
    /// What the redaction could not hide: digests of the removed content
    /// that were not salted, against which a guess can be checked.
    pub warnings: Vec<String>,
}

impl App {
    /// Removes the content `what` names; `meta.reason` (required) says
    /// why.
    pub async fn redact(&self, what: Redaction, meta: WriteMeta) -> Result<Redacted, AppError> {
        if meta.reason.trim().is_empty() {
            return Err(AppError::invalid(
                "reason",
                "a redaction needs a reason, which the log keeps with it",
            ));
        }
        let retry = |appended| Redacted {
            appended,
            rewritten: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(done) = self.retried(&meta).await? {
            return Ok(retry(done));
        }
        match self.redact_once(what, meta.clone()).await {
            Ok(redacted) => Ok(redacted),
            Err(e) => self.unless_retried(Err(e), &meta).await.map(retry),
        }
    }

    async fn redact_once(&self, what: Redaction, meta: WriteMeta) -> Result<Redacted, AppError> {
        let Redaction {
            article: id,
            expected_version,
            position,
            event,
        } = what;
        let current = self.current_at_least(id, expected_version).await?;
        if current.article.version != expected_version {
            return Err(AppError::VersionMismatch {
                expected: expected_version,
                current: current.article.version,
            });
        }
        let history: Vec<Commit> = self
            .commits_of(id, 1, expected_version)?
            .into_iter()
            .map(|(_, _, commit)| commit)
            .collect();
        let rewrites = redact(&history, position, event, 0)?;
        let warnings = unsalted(&history, &rewrites, position, event);
        let request = AppendRequest {
            article_id: id,
            expected_version,
            command_id: meta.command_id,
            request_hash: self.request_hash(&meta),
            actor: meta.actor,
            reason: meta.reason,
            provenance: current.article.provenance.clone(),
            events: vec![Event::PayloadRedacted { position, event }],
            decided_after: None,
            rewrites,
        };
        let rewritten = request.rewrites.iter().map(|c| c.global_position).collect();
        let appended = self.log.append(request).await?;
        tracing::warn!(
            article = %id,
            position,
            event,
            by = appended.global_position,
            "redacted"
        );
        Ok(Redacted {
            appended,
            rewritten,
            warnings,
        })
    }
}

/// What of the removed content stays guessable: an event of encoding 1
/// keeps an unsalted payload digest, and a commit whose leaf is of v1
/// keeps an unsalted answer digest.
fn unsalted(history: &[Commit], rewrites: &[Commit], position: u64, event: u32) -> Vec<String> {
    let mut warnings = Vec::new();
    if history
        .iter()
        .any(|c| c.global_position == position && c.salts.is_none())
    {
        warnings.push(format!(
            "event {event} at position {position} was written in commit encoding 1: its payload digest is not salted, so whoever guesses the whole removed payload can check the guess against it"
        ));
    }
    let leaves: Vec<String> = rewrites
        .iter()
        .filter(|c| {
            history
                .iter()
                .any(|h| h.global_position == c.global_position && h.answer_salt().is_none())
                && c.answer_digest.is_some()
        })
        .map(|c| c.global_position.to_string())
        .collect();
    if !leaves.is_empty() {
        warnings.push(format!(
            "the answers after the commits at positions {} were digested without a salt (Merkle leaves of v1): whoever guesses such an answer whole can check the guess against its kept digest",
            leaves.join(", ")
        ));
    }
    warnings
}
