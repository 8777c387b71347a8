//! Audit queries: commits in full, across articles and filtered.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::read::ArticleRef;
use super::read::Page;
use super::{App, AppError};
use crate::domain::{
    attribute, commit_event_digests, stale_redates, ArticleId, ArticleVersion, Attribution, Commit,
    Hash, Revision, StaleRedate,
};
use crate::store::{articles_after, stream_range};

/// The most log positions one ListCommits call scans, so that a filter that
/// matches little still answers promptly (with a token to go on).
const SCAN_LIMIT: u64 = 10_000;

/// Each article's last version a reader of the log has seen, and the date
/// it left (`App::views_carrying_dates`).
pub(super) type Dates = HashMap<ArticleId, (u64, NaiveDate)>;

/// How many articles' dates a reader carries before it starts again (a
/// date not carried is read from the read models).
const DATES_CARRIED: usize = 1 << 16;

/// Starts `dates` again once it carries `DATES_CARRIED` articles.
pub(super) fn bound_dates(dates: &mut Dates) {
    if dates.len() > DATES_CARRIED {
        dates.clear();
    }
}

/// Commits read in full at a time by a scan of the log.
const VIEW_CHUNK: usize = 256;

/// A commit with its revision summary, its place in the log chain and its
/// events' payload digests: as the writer kept them, or made by `digested`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitView {
    pub(crate) commit: Commit,
    pub(crate) revision: Revision,
    pub(crate) log_hash: Hash,
    /// As the writer kept them (`SledStore::payload_digests`), else empty
    /// until `digested`; the edge makes them for a view without.
    pub(crate) payload_digests: Vec<Hash>,
}

impl CommitView {
    /// With its events' payload digests: those the writer kept, else made
    /// (`commit_event_digests`) by a stream's follower for each commit its
    /// filter admits: the
    /// follower's task hashes while the edge's task encodes and sends the
    /// commits before.
    pub(crate) fn digested(mut self) -> Self {
        if self.payload_digests.len() != self.commit.events.len() {
            self.payload_digests = commit_event_digests(&self.commit);
        }
        self
    }
}

/// Which commits to list; every filter given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommitFilter {
    pub(crate) actor: Option<String>,
    pub(crate) event_kinds: Vec<String>,
    pub(crate) recorded_from: Option<DateTime<Utc>>,
    pub(crate) recorded_before: Option<DateTime<Utc>>,
    pub(crate) ai_assisted_unreviewed: bool,
    pub(crate) article: Option<ArticleId>,
    pub(crate) last_updated_on_or_before: Option<NaiveDate>,
}

impl CommitFilter {
    fn admits(&self, view: &CommitView) -> bool {
        let c = &view.commit;
        self.actor.as_ref().is_none_or(|a| *a == c.actor)
            && (self.event_kinds.is_empty()
                || c.events
                    .iter()
                    .any(|e| self.event_kinds.iter().any(|k| k == e.kind())))
            && self.recorded_from.is_none_or(|t| c.recorded_at >= t)
            && self.recorded_before.is_none_or(|t| c.recorded_at < t)
            && (!self.ai_assisted_unreviewed
                || (c.provenance.ai_assisted && c.provenance.reviewed_by.is_empty()))
            && self.article.is_none_or(|a| a == c.article_id)
            && self
                .last_updated_on_or_before
                .is_none_or(|d| view.revision.last_updated <= d)
    }
}

/// How many articles one freshness page covers.
const FRESHNESS_PAGE: usize = 1000;

impl App {
    /// Who introduced and who last changed each part of an article, as of
    /// `version` (or the current one). Auditors: retracted articles too.
    pub(crate) async fn attribution(
        &self,
        r: &ArticleRef,
        version: Option<u64>,
    ) -> Result<(ArticleId, u64, Vec<Attribution>), AppError> {
        let current = self.current_of(r).await?;
        let id = current.article.id;
        let version = version.unwrap_or(current.article.version);
        if version == 0 || version > current.article.version {
            return Err(AppError::not_found(
                "version",
                format!(
                    "version {version} does not exist (the article is at version {})",
                    current.article.version
                ),
            ));
        }
        let commits: Vec<_> = self
            .commits_of(id, 1, version)?
            .into_iter()
            .map(|(_, _, commit)| commit)
            .collect();
        Ok((id, version, attribute(&commits)))
    }

    /// Re-dates with no content change since the previous date was set: of
    /// one article, or of every article after the cursor (a page of
    /// articles at a time). Returns the re-dates and the next cursor.
    pub(crate) async fn freshness(
        &self,
        article: Option<ArticleId>,
        after: Option<ArticleId>,
    ) -> Result<(Vec<(Arc<ArticleVersion>, StaleRedate)>, Option<ArticleId>), AppError> {
        let articles = match article {
            Some(id) => vec![self
                .current_durable(id)
                .await?
                .ok_or_else(|| AppError::not_found("article_id", "no such article"))?],
            None => articles_after(&self.read_models, after, FRESHNESS_PAGE)?
                .into_iter()
                .map(Arc::new)
                .collect(),
        };
        let next = (article.is_none() && articles.len() == FRESHNESS_PAGE)
            .then(|| articles.last().map(|a| a.article.id))
            .flatten();
        let mut found = Vec::new();
        for listed in articles {
            let Some(current) = self.current_durable(listed.article.id).await? else {
                continue;
            };
            let revisions = self.revisions_in(current.article.id, 1, current.article.version)?;
            for stale in stale_redates(&revisions) {
                found.push((current.clone(), stale));
            }
        }
        Ok((found, next))
    }

    /// One commit of an article in full.
    pub(crate) async fn commit_view(
        &self,
        id: ArticleId,
        version: u64,
        deadline: tokio::time::Instant,
    ) -> Result<CommitView, AppError> {
        let missing =
            || AppError::not_found("version", format!("article {id} has no version {version}"));
        let entry = self.store.stream_entry(id, version)?.ok_or_else(missing)?;
        let view = self
            .view_at(entry.global_position)
            .await?
            .ok_or_else(missing)?;
        self.redactions_held(std::slice::from_ref(&view), deadline)
            .await?;
        Ok(view)
    }

    /// Waits, until `deadline`, for this server's log to hold the
    /// redactions that `views` show. A replica catching up applies a
    /// commit as the stream holds it now, which may be after a redaction
    /// the replica has not reached yet; a reader shown that commit must be
    /// able to read the redaction too, or what it exports does not verify
    /// (docs/AUDIT.md, "Redaction": `byPosition` names a commit of the
    /// export).
    /// The last position waited for (0 if none).
    async fn redactions_held(
        &self,
        views: &[CommitView],
        deadline: tokio::time::Instant,
    ) -> Result<u64, AppError> {
        let Some(by) = views
            .iter()
            .flat_map(|v| v.commit.redactions.iter().map(|r| r.by_position))
            .max()
        else {
            return Ok(0);
        };
        match self.wait_for_position(by, Some(deadline)).await {
            Ok(()) => Ok(by),
            Err(AppError::NotReached { reached, .. }) => Err(AppError::Unavailable(format!(
                "a commit shown here was redacted at log position {by}, which this server has not applied yet (it is at {reached}): ask again, or ask the leader"
            ))),
            Err(AppError::DataLoss(why)) => Err(AppError::DataLoss(format!(
                "a commit shown here was redacted at log position {by}, which this server cannot reach: {why}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Commits after `after_position` that the filter admits, in log order.
    pub(crate) async fn list_commits(
        &self,
        filter: &CommitFilter,
        after_position: u64,
        page_size: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Page<CommitView>, AppError> {
        let durable = self.durable();
        let end = durable.min(after_position.saturating_add(SCAN_LIMIT));
        // One article: walk its stream rather than the whole log.
        let positions: Vec<u64> = match filter.article {
            Some(id) => {
                let head = self
                    .current_durable(id)
                    .await?
                    .map_or(0, |c| c.article.version);
                stream_range(&self.read_models, id, 1, head)?
                    .into_iter()
                    .map(|(_, position)| position)
                    .filter(|p| *p > after_position && *p <= end)
                    .collect()
            }
            None => (after_position.saturating_add(1)..=end).collect(),
        };
        let mut items = Vec::new();
        // Where the scan stopped: at a full page, or at the end of the window.
        let mut stopped = end;
        // Every position up to the durable one holds a commit. Read as many
        // at a time as the page still wants (at most VIEW_CHUNK): a small
        // page reads no more of the log than it shows.
        let mut rest = &positions[..];
        let mut dates = Dates::default();
        'scan: while !rest.is_empty() {
            let take = (page_size - items.len())
                .clamp(1, VIEW_CHUNK)
                .min(rest.len());
            let (chunk, after) = rest.split_at(take);
            rest = after;
            for view in self.views_carrying_dates(chunk, &mut dates)? {
                if filter.admits(&view) {
                    let position = view.commit.global_position;
                    items.push(view);
                    if items.len() == page_size {
                        stopped = position;
                        break 'scan;
                    }
                }
            }
        }
        // After that wait the log holds the redactions shown, which the
        // next page then reads; past them, the page ends where the scan's
        // log did, so that a reader of every page reaches an end.
        let durable = self.redactions_held(&items, deadline).await?.max(durable);
        Ok(Page {
            items,
            next: (stopped < durable).then_some(stopped),
        })
    }

    /// The commits at `positions` (increasing, each durable) in full: the
    /// log and its chain read in order, one scan each, and each article's
    /// date carried from one commit of it to its next.
    pub(super) fn views_of(&self, positions: &[u64]) -> Result<Vec<CommitView>, AppError> {
        self.views_carrying_dates(positions, &mut Dates::default())
    }

    /// As `views_of`, carrying each article's date in `dates` from one call
    /// to the next (a reader of the whole log reads each article's first
    /// date once, not once a call).
    pub(super) fn views_carrying_dates(
        &self,
        positions: &[u64],
        dates: &mut Dates,
    ) -> Result<Vec<CommitView>, AppError> {
        let commits = self.store.read_commits(positions)?;
        let hashes = self.store.log_hashes(positions)?;
        let mut digests = self.store.payload_digests(positions)?.into_iter();
        bound_dates(dates);
        let mut views = Vec::with_capacity(positions.len());
        for ((commit, log_hash), position) in commits.into_iter().zip(hashes).zip(positions) {
            let commit = commit
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            let date =
                self.carry_date(dates, commit.article_id, commit.version, commit.date_set())?;
            views.push(CommitView {
                revision: commit.revision(date),
                payload_digests: digests.next().flatten().unwrap_or_default(),
                commit,
                log_hash,
            });
        }
        Ok(views)
    }

    /// The date version `version` of article `id` leaves it showing:
    /// the one its events `set`, else the one `dates` carries from its
    /// previous version, else the one the dates model holds. `dates` then
    /// carries it.
    pub(super) fn carry_date(
        &self,
        dates: &mut Dates,
        id: ArticleId,
        version: u64,
        set: Option<NaiveDate>,
    ) -> Result<NaiveDate, AppError> {
        let carried = || {
            dates
                .get(&id)
                .filter(|(before, _)| before + 1 == version)
                .map(|(_, date)| *date)
        };
        let date = match set.or_else(carried) {
            Some(date) => date,
            None => self.date_at(id, version)?,
        };
        dates.insert(id, (version, date));
        Ok(date)
    }

    /// The commit at `position` in full; `None` past the durable position.
    pub(super) async fn view_at(&self, position: u64) -> Result<Option<CommitView>, AppError> {
        if position == 0 || position > self.durable() {
            return Ok(None);
        }
        Ok(self.views_of(&[position])?.pop())
    }
}
