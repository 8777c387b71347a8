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
use crate::log::{AppendRequest, Appended};

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
        if let Some(done) = self.retried(&meta).await? {
            return self.retry(done).await;
        }
        match self.redact_once(what, meta.clone()).await {
            Ok(redacted) => Ok(redacted),
            Err(e) => {
                let done = self.unless_retried(Err(e), &meta).await?;
                self.retry(done).await
            }
        }
    }

    /// The answer to a retry of a redaction done before: its outcome, and
    /// the warnings the log as it stands still gives (an event of encoding
    /// 1, and leaves of its commits).
    async fn retry(&self, done: Appended) -> Result<Redacted, AppError> {
        // The article's history is read through the read models, which
        // take an answered write a moment after its answer.
        self.wait_for_position(done.global_position, None).await?;
        let history: Vec<Commit> = self
            .commits_of(done.article_id, 1, done.version)?
            .into_iter()
            .map(|(_, _, commit)| commit)
            .collect();
        let mut warnings = Vec::new();
        if let Some(redaction) = history.last() {
            for e in &redaction.events {
                if let Event::PayloadRedacted { position, event } = e {
                    let rewritten: Vec<Commit> = history
                        .iter()
                        .filter(|c| {
                            c.global_position >= *position
                                && c.global_position < redaction.global_position
                                && c.answer_digest.is_some()
                                && c.salts.is_none()
                        })
                        .cloned()
                        .collect();
                    warnings.extend(unsalted(&history, &rewritten, *position, *event));
                }
            }
        }
        Ok(Redacted {
            appended: done,
            rewritten: Vec::new(),
            warnings,
        })
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
        // The history is read through the read models, which take an
        // answered write (the one that made `expected_version`, say) a
        // moment after its answer: they take every answered write first.
        self.wait_for_position(0, None).await?;
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
            presealed: None,
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
    // A leaf of v1: no answer salt, and none removed by an earlier
    // redaction (which kept the digest instead).
    let leaves: Vec<String> = rewrites
        .iter()
        .filter(|c| {
            c.answer_digest.is_some()
                && history.iter().any(|h| {
                    h.global_position == c.global_position
                        && (h.salts.is_none()
                            || (h.answer_salt().is_none() && h.answer_digest.is_none()))
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden_tests::{history, history_v1, redacted, salted};

    /// The golden history's last commit redacts position 3's key facts,
    /// which answers showed through position 16.
    #[test]
    fn a_redaction_warns_of_unsalted_digests_and_only_of_them() {
        let v1 = history_v1();
        let rewrites = redact(&v1[..17], 3, 0, 18).unwrap();
        let warnings = unsalted(&v1, &rewrites, 3, 0);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("encoding 1"), "{warnings:?}");
        assert!(warnings[1].contains("positions 3, 4,"), "{warnings:?}");
        // As a retry reads them from the log as it stands.
        let after = redacted(v1);
        let kept: Vec<Commit> = after
            .iter()
            .filter(|c| c.answer_digest.is_some())
            .cloned()
            .collect();
        assert_eq!(unsalted(&after, &kept, 3, 0), warnings);

        let v2 = salted(history());
        let rewrites = redact(&v2[..17], 3, 0, 18).unwrap();
        assert_eq!(unsalted(&v2, &rewrites, 3, 0), Vec::<String>::new());
        // A second redaction over leaves the first kept: still salted.
        let after = redacted(v2);
        let again = redact(&after[..17], 5, 0, 18).unwrap();
        assert!(again.len() > 1);
        assert_eq!(unsalted(&after, &again, 5, 0), Vec::<String>::new());
    }
}
