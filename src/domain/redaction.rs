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
//!
//! A replicated log's copies each rewrite their own commits: `Plan` is
//! what they need besides the commits they hold (the answer digests to
//! keep, which only the original answers give), and it rewrites a commit
//! the same whether a copy holds it as written or rewritten already.

use super::chain::{event_digest, leaf_answer_digest, Hash};
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
    let at = find(history, position)?;
    let redacted = blank(&history[at], event, by_position)?;

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

/// A redaction as a copy of a replicated log carries it out on the
/// commits it holds: event `event` of the commit at `position` blanked,
/// and the answer digests kept at the positions listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) position: u64,
    pub(crate) event: u32,
    /// (log position, the answer digest its leaf keeps), in position order.
    pub(crate) answer_digests: Vec<(u64, Hash)>,
}

impl Plan {
    /// The plan that `commits` (what `redact` returned, or an article's
    /// commits as a log holds them after the redaction) carry out: every
    /// commit from `position` on that keeps an answer digest is listed.
    pub(crate) fn of(position: u64, event: u32, commits: &[Commit]) -> Self {
        let mut answer_digests: Vec<(u64, Hash)> = commits
            .iter()
            .filter(|c| c.global_position >= position)
            .filter_map(|c| c.answer_digest.map(|d| (c.global_position, d)))
            .collect();
        answer_digests.sort_by_key(|(p, _)| *p);
        answer_digests.dedup_by_key(|(p, _)| *p);
        Self {
            position,
            event,
            answer_digests,
        }
    }

    /// The commits of `history` (an article's, in order) the plan changes,
    /// as they are to be stored once the commit at `by_position` has
    /// redacted: the redacted one, then each listed. A commit held
    /// rewritten already is rewritten the same; one that another
    /// redaction changed otherwise is refused.
    pub(crate) fn apply(
        &self,
        history: &[Commit],
        by_position: u64,
    ) -> Result<Vec<Commit>, DomainError> {
        let at = find(history, self.position)?;
        let target = &history[at];
        let redacted = match target.redaction(self.event as usize) {
            Some(r) if r.by_position == by_position => target.clone(),
            Some(_) => {
                return Err(DomainError::AlreadyRedacted {
                    position: self.position,
                    event: self.event,
                })
            }
            None => blank(target, self.event, by_position)?,
        };
        let mut changed = Vec::new();
        for (i, commit) in history.iter().enumerate().skip(at) {
            let mut commit = if i == at {
                redacted.clone()
            } else {
                commit.clone()
            };
            let kept = self
                .answer_digests
                .iter()
                .find(|(p, _)| *p == commit.global_position)
                .map(|(_, d)| *d);
            match (kept, commit.answer_digest) {
                (Some(d), None) => {
                    commit.answer_digest = Some(d);
                    if let Some(salts) = commit.salts.as_mut() {
                        salts.answer = None;
                    }
                }
                (Some(d), Some(held)) if d != held => {
                    return Err(DomainError::invalid(
                        "answer_digests",
                        format!(
                            "the commit at position {} keeps another answer digest than the redaction's",
                            commit.global_position
                        ),
                    ))
                }
                _ => {}
            }
            if i == at || kept.is_some() {
                changed.push(commit);
            }
        }
        if let Some((p, _)) = self
            .answer_digests
            .iter()
            .find(|(p, _)| !history.iter().any(|c| c.global_position == *p))
        {
            return Err(DomainError::invalid(
                "answer_digests",
                format!("position {p} is not a commit of the article"),
            ));
        }
        Ok(changed)
    }
}

/// The index in `history` of the commit at log position `position`.
fn find(history: &[Commit], position: u64) -> Result<usize, DomainError> {
    history
        .iter()
        .position(|c| c.global_position == position)
        .ok_or_else(|| DomainError::NotFound {
            field: "position".into(),
            what: "commit of the article at log position",
            id: position.to_string(),
        })
}

/// `target` with event `event`'s content removed by the commit at
/// `by_position`: the content blanked, the digest that stood for it kept,
/// its salt gone. Refused unless the event has content not yet redacted.
fn blank(target: &Commit, event: u32, by_position: u64) -> Result<Commit, DomainError> {
    let position = target.global_position;
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
    Ok(redacted)
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

    /// A copy of a replicated log may hold any of the commits as written
    /// or as rewritten already: the plan rewrites each the same as
    /// `redact` does.
    #[test]
    fn a_plan_rewrites_originals_and_rewritten_commits_alike() {
        let original = salted(history());
        let (history, by) = (&original[..17], 18);
        let rewrites = redact(history, 3, 0, by).unwrap();
        let plan = Plan::of(3, 0, &rewrites);
        assert!(!plan.answer_digests.is_empty());
        assert_eq!(plan.apply(history, by).unwrap(), rewrites);
        let mut mixed = history.to_vec();
        for (n, rewritten) in rewrites.iter().enumerate() {
            if n % 2 == 0 {
                mixed[rewritten.global_position as usize - 1] = rewritten.clone();
            }
        }
        assert_eq!(plan.apply(&mixed, by).unwrap(), rewrites);
        let mut all = history.to_vec();
        for rewritten in &rewrites {
            all[rewritten.global_position as usize - 1] = rewritten.clone();
        }
        assert_eq!(plan.apply(&all, by).unwrap(), rewrites);
        // A plan read off the log after the redaction is the same plan.
        assert_eq!(Plan::of(3, 0, &all), plan);
        // Redacted by another commit, or keeping another digest: refused.
        assert!(matches!(
            plan.apply(&all, by + 1),
            Err(DomainError::AlreadyRedacted { .. })
        ));
        let mut wrong = plan.clone();
        wrong.answer_digests[0].1 = [7; 32];
        assert!(matches!(
            wrong.apply(&all, by),
            Err(DomainError::Invalid(_))
        ));
        wrong.answer_digests[0] = (99, [7; 32]);
        assert!(matches!(
            wrong.apply(history, by),
            Err(DomainError::Invalid(_))
        ));
    }
}
