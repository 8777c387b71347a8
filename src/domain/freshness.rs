//! The freshness report: re-dates that moved "Last updated" while the
//! content stayed as it was since the date was last set.

use chrono::NaiveDate;

use super::blame::CONTENT_KINDS;
use super::commit::Revision;

/// A re-date with no content change since the previous date was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StaleRedate {
    /// The revision that re-dated.
    pub revision: Revision,
    pub previous_last_updated: NaiveDate,
    /// The version that set the previous date (creation or a re-date).
    pub dated_version: u64,
}

/// Finds the stale re-dates in one article's revisions (version order).
pub(crate) fn stale_redates(revisions: &[Revision]) -> Vec<StaleRedate> {
    let mut found = Vec::new();
    let mut dated: Option<(u64, NaiveDate)> = None;
    let mut changed = false;
    for r in revisions {
        let has = |kind: &str| r.event_kinds.iter().any(|k| k == kind);
        if has("ArticleCreated") {
            dated = Some((r.version, r.last_updated));
            changed = false;
            continue;
        }
        if r.event_kinds
            .iter()
            .any(|k| CONTENT_KINDS.contains(&k.as_str()))
        {
            changed = true;
        }
        if has("ArticleRedated") {
            if let Some((version, date)) = dated {
                if !changed {
                    found.push(StaleRedate {
                        revision: r.clone(),
                        previous_last_updated: date,
                        dated_version: version,
                    });
                }
            }
            dated = Some((r.version, r.last_updated));
            changed = false;
        }
    }
    found
}
