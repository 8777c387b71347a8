//! Redaction (docs/AUDIT.md, "Redaction"): an event's content removed from
//! the log for good while every hash and every Merkle leaf still verifies.
//!
//! The redacted event keeps its structure and is blanked where its content
//! was (`chain_v2::without_content`); the digest that stood for the
//! content in its commit's hash is kept beside it, and its salt is
//! removed, so that the digest cannot be matched against guesses (in
//! encoding 2; an event of encoding 1 keeps its unsalted payload digest,
//! which can be). Each later commit of the article whose answer the
//! removal changes keeps its leaf's answer digest and loses its answer
//! salt, so that the tree regrows the same root and the leaf cannot be
//! matched either. The commit that redacts holds a `PayloadRedacted`
//! event naming the position and the event; it is appended like any
//! other, after the commits it changes are rewritten.

use super::chain::{event_digest, leaf_answer_digest};
use super::chain_v2::{content_digest, has_content, without_content};
use super::commit::{Commit, Redaction};
use super::error::DomainError;
use super::Article;

/// The commits of one article (`history`: every version from 1, in order)
/// that the redaction of event `event` of the commit at log position
/// `position`, by the commit that will stand at `by_position`, changes,
/// as they are to be stored: the redacted commit, and each one whose
/// answer changed. Refused if the position is not the article's, the
/// event has no content, or it is redacted already.
pub(crate) fn redact(
    history: &[Commit],
    position: u64,
    event: u32,
    by_position: u64,
) -> Result<Vec<Commit>, DomainError> {
    let at = history
        .iter()
        .position(|c| c.global_position == position)
        .ok_or_else(|| DomainError::NotFound {
            field: "position".into(),
            what: "commit of the article at log position",
            id: position.to_string(),
        })?;
    let target = &history[at];
    let index = event as usize;
    let original = target.events.get(index).ok_or_else(|| {
        DomainError::invalid(
            "event_index",
            format!(
                "the commit at position {position} has {} events, counted from 0",
                target.events.len()
            ),
        )
    })?;
    if target.redaction(index).is_some() {
        return Err(DomainError::AlreadyRedacted { position, event });
    }
    if !has_content(original) {
        return Err(DomainError::invalid(
            "event_index",
            format!(
                "event {event} at position {position} is a {}, which holds no content to redact",
                original.kind()
            ),
        ));
    }
    let digest = match (&target.salts, target.event_salt(index)) {
        (Some(_), Some(salt)) => content_digest(original, salt),
        (Some(_), None) => {
            return Err(DomainError::invalid(
                "event_index",
                format!("event {event} at position {position} has no salt"),
            ))
        }
        (None, _) => event_digest(original),
    };
    let mut redacted = target.clone();
    redacted.events[index] = without_content(original);
    redacted.redactions.push(Redaction {
        event,
        digest,
        by_position,
    });
    redacted.redactions.sort_by_key(|r| r.event);
    if let Some(salts) = redacted.salts.as_mut() {
        salts.events[index] = [0; 32];
    }

    // The answers before and after the removal, from the redacted version
    // on: a commit whose answer changed keeps its leaf's digest.
    let before = states(history)?;
    let mut after_history = history.to_vec();
    after_history[at] = redacted;
    let after = states(&after_history)?;
    let mut changed = Vec::new();
    for (i, commit) in after_history.into_iter().enumerate().skip(at) {
        let mut commit = commit;
        let answer_changed = before[i] != after[i];
        if answer_changed && commit.answer_digest.is_none() {
            commit.answer_digest = Some(leaf_answer_digest(&history[i], &before[i]));
            if let Some(salts) = commit.salts.as_mut() {
                salts.answer = None;
            }
        }
        if i == at || answer_changed {
            changed.push(commit);
        }
    }
    Ok(changed)
}

/// The state after each commit of an article's history.
fn states(history: &[Commit]) -> Result<Vec<Article>, DomainError> {
    let mut state: Option<Article> = None;
    history
        .iter()
        .map(|c| {
            state = Article::fold(state.take(), c.article_id, c.version, &c.events);
            state.clone().ok_or(DomainError::ArticleNotFound)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden_tests::{history, redacted, salted};

    #[test]
    fn a_redaction_is_refused_unless_its_event_has_content_not_yet_redacted() {
        let original = salted(history());
        let after = redacted(original.clone());
        let (history, by) = (&after[..17], 18);
        assert_eq!(
            redact(history, 3, 0, by),
            Err(DomainError::AlreadyRedacted {
                position: 3,
                event: 0
            })
        );
        // SectionRemoved holds no content; position 2 has one event.
        for (position, event) in [(6, 0), (2, 1)] {
            match redact(history, position, event, by) {
                Err(DomainError::Invalid(v)) => assert_eq!(v[0].field, "event_index"),
                other => panic!("{position}/{event}: {other:?}"),
            }
        }
        assert!(matches!(
            redact(history, 99, 0, by),
            Err(DomainError::NotFound { .. })
        ));
        // A second redaction keeps the digests the first kept.
        let again = redact(history, 5, 0, by).unwrap();
        for c in &again[1..] {
            let first = &after[c.global_position as usize - 1];
            if first.answer_digest.is_some() {
                assert_eq!(c.answer_digest, first.answer_digest);
            }
        }
    }
}
