//! What a review covers: exactly the content it was made on.
//!
//! `ArticleReviewed` names the reviewer (the commit's actor); the first
//! later change of content ends the review with a `ReviewLapsed` event at
//! the head of its commit, written by `decide`. A log written before
//! `ReviewLapsed` existed may carry a review over later changes: folding
//! marks such a review stale, it is not shown as standing, and the next
//! command on the article ends it.

use super::article::Article;
use super::commit::Commit;
use super::event::Event;

impl Article {
    /// The review that covers the content as it stands: the reviewer and
    /// the version whose commit made the review.
    pub fn standing_review(&self) -> Option<(&str, u64)> {
        (!self.provenance.reviewed_by.is_empty() && !self.review_stale)
            .then_some((self.provenance.reviewed_by.as_str(), self.reviewed_version))
    }
}

/// The event that ends `article`'s review before `events` (what a command
/// decided) are applied: when they change content, or the review is stale
/// already. A new review replaces a review without ending it.
pub(super) fn lapse(article: &Article, events: &[Event]) -> Option<Event> {
    let first = events.first()?;
    let reviewed = !article.provenance.reviewed_by.is_empty();
    let replaced = matches!(first, Event::ArticleReviewed { .. });
    let ends = article.review_stale || events.iter().any(Event::lapses_review);
    (reviewed && !replaced && ends).then(|| Event::ReviewLapsed {
        reviewed_by: article.provenance.reviewed_by.clone(),
        reviewed_version: article.reviewed_version,
    })
}

/// Checks what `commit` claims of reviews against the article before it
/// (`None` for a first commit) and after it: its provenance is the one the
/// events fold to, a review names the commit's actor, and a `ReviewLapsed`
/// names the review that stood before the commit.
pub(crate) fn check_claims(
    before: Option<&Article>,
    commit: &Commit,
    after: &Article,
) -> Result<(), String> {
    if commit.provenance != after.provenance {
        return Err(format!(
            "its provenance says reviewed by {:?}, and its events leave {:?}",
            commit.provenance.reviewed_by, after.provenance.reviewed_by
        ));
    }
    for event in &commit.events {
        match event {
            Event::ArticleReviewed { reviewed_by } if *reviewed_by != commit.actor => {
                return Err(format!(
                    "its review names {reviewed_by:?}, not its actor {:?}",
                    commit.actor
                ));
            }
            Event::ReviewLapsed {
                reviewed_by,
                reviewed_version,
            } => {
                let stood = before.map_or(("", 0), |b| {
                    (b.provenance.reviewed_by.as_str(), b.reviewed_version)
                });
                if (reviewed_by.as_str(), *reviewed_version) != stood {
                    return Err(format!(
                        "it ends the review by {reviewed_by:?} at version {reviewed_version}, but the review before it was by {:?} at version {}",
                        stood.0, stood.1
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
