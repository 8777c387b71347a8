//! Queries: answers current and past, lists, revisions, diffs.
//!
//! Every read serves only what is durable: a record newer than the durable
//! position is waited for (at most one batch away), never shown early.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{App, AppError};
use crate::domain::{
    diff, quoted, Article, ArticleDiff, ArticleId, ArticleVersion, Commit, CommitEvents, Hash,
    Revision, Status,
};
use crate::log::{Log, StoreError};
use crate::store::{changed_after, nearest_snapshot, stream_range};
use crate::store::{ReadModels, SledStore};

/// An article named by id or by slug (current or old).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArticleRef {
    Id(ArticleId),
    Slug(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    Current,
    Version(u64),
    /// The last version recorded at or before this instant.
    Time(DateTime<Utc>),
    /// Of the versions imported with origin claims, the one whose claimed
    /// time is the latest at or before this instant (the later version of
    /// two claimed at one time): the page as its source showed it then.
    OriginTime(DateTime<Utc>),
}

/// One page of a list, and the cursor after its last item if more may follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<u64>,
}

impl App {
    /// Waits until the read models include `position` and every write
    /// answered before the call (read-your-writes: a write is answered once
    /// durable, and the read models take it a moment later), or until
    /// `deadline`. While writes are failing, what was answered and is not
    /// yet in the read models waits for the disk: reads serve what is.
    pub async fn wait_for_position(
        &self,
        position: u64,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), AppError> {
        let wanted = position;
        let position = position.max(self.store.acknowledged());
        if position == 0 || self.durable() >= position {
            return Ok(());
        }
        // A replica that finds the stream broken at or before `position`
        // will never serve it: that ends the wait too.
        let mut breaks = self.log.breaks();
        let broken = async {
            loop {
                let at = breaks.borrow_and_update().clone();
                if let Some(at) = at.filter(|at| at.position <= position) {
                    return at;
                }
                if breaks.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        // A reopen after a storage failure also ends a wait: look again.
        let durable = async {
            while self.durable() < position {
                match self.store.wait_durable(position).await {
                    Ok(()) => {}
                    // Writes are failing. The answered batches still reach
                    // the read models unless the applier failed too; then a
                    // read asking for no more than they hold is served what
                    // they hold until the disk recovers.
                    Err(_) if self.durable() >= wanted => {
                        self.store.wait_applied(position).await;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok::<(), crate::log::StoreError>(())
        };
        let wait = async {
            tokio::select! {
                done = durable => done.map_err(AppError::from),
                at = broken => Err(AppError::DataLoss(format!(
                    "min_position {position} is not served here: {at}"
                ))),
            }
        };
        match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, wait).await {
                Ok(done) => done,
                Err(_) => Err(AppError::NotReached {
                    wanted: position,
                    reached: self.durable(),
                }),
            },
            None => wait.await,
        }
    }

    /// Calls waiting now for the read models to take writes answered
    /// before them (`SledStore::wait_durable`).
    pub fn reads_waiting(&self) -> u64 {
        self.metrics.reads_waiting()
    }

    /// The durable position: every commit up to it is on disk.
    pub fn durable(&self) -> u64 {
        *self.store.durable_position().borrow()
    }

    /// An answer for readers: a retracted article is not found.
    pub async fn answer(
        &self,
        r: &ArticleRef,
        as_of: AsOf,
    ) -> Result<Arc<ArticleVersion>, AppError> {
        let current = self.current_of(r).await?;
        if current.article.status == Status::Retracted {
            return Err(not_found(r));
        }
        let answer = self.as_of(&current, as_of).await?;
        // A version in which the article stood retracted was not served.
        if answer.article.status == Status::Retracted {
            return Err(AppError::not_found(
                "as_of",
                format!(
                    "the article was retracted as of version {}",
                    answer.article.version
                ),
            ));
        }
        Ok(answer)
    }

    /// An answer for auditors, whatever its status, and whether readers
    /// were served it then (it stood published at that version).
    pub(crate) async fn inspect(
        &self,
        r: &ArticleRef,
        as_of: AsOf,
    ) -> Result<(Arc<ArticleVersion>, bool), AppError> {
        let current = self.current_of(r).await?;
        let answer = self.as_of(&current, as_of).await?;
        let served = answer.article.status == Status::Published;
        Ok((answer, served))
    }

    /// Answers for readers, in order; the indexes of refs not found.
    pub async fn answers(
        &self,
        refs: &[ArticleRef],
    ) -> Result<(Vec<Arc<ArticleVersion>>, Vec<usize>), AppError> {
        let mut found = Vec::with_capacity(refs.len());
        let mut missing = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            match self.answer(r, AsOf::Current).await {
                Ok(answer) => found.push(answer),
                Err(AppError::NotFound { .. }) => missing.push(i),
                Err(e) => return Err(e),
            }
        }
        Ok((found, missing))
    }

    /// Current answers in the order of their last change, after the cursor
    /// `after_position`, changed at or after `updated_since`.
    pub async fn list_answers(
        &self,
        updated_since: Option<DateTime<Utc>>,
        after_position: u64,
        page_size: usize,
    ) -> Result<Page<Arc<ArticleVersion>>, AppError> {
        let durable = self.durable();
        let mut after = after_position;
        if let Some(since) = updated_since {
            after = after.max(self.last_position_before(since, durable).await?);
        }
        let entries = changed_after(&self.read_models, after, page_size)?;
        let full = entries.len() == page_size;
        let mut items = Vec::new();
        let mut last = after;
        for (position, id) in entries {
            // Past the durable position: the change (and the removal of the
            // article's older entry, which a scan cannot see) is at most
            // one flush away; wait for it rather than skip the article.
            let mut failed_batch = false;
            if position > durable {
                match self.store.wait_durable(position).await {
                    Ok(()) => {}
                    Err(_) if self.store.is_failing() => failed_batch = true,
                    Err(e) => return Err(e.into()),
                }
            }
            last = position;
            // The entry may be gone already if the article changed since.
            if let Some(current) = self.current_durable(id).await? {
                // A change in a batch that failed is not listed; the
                // article's last durable change is, if this page covers it.
                let listed = if failed_batch {
                    current.global_position > after
                } else {
                    current.global_position == position
                } && updated_since.is_none_or(|since| current.recorded_at >= since);
                if current.article.status == Status::Published && listed {
                    items.push(current);
                }
            }
        }
        items.sort_by_key(|item| item.global_position);
        Ok(Page {
            items,
            next: full.then_some(last),
        })
    }

    /// An article's revisions after `after_version` (auditors: retracted too).
    pub async fn revisions(
        &self,
        r: &ArticleRef,
        after_version: u64,
        page_size: usize,
    ) -> Result<(ArticleId, u64, Page<Revision>), AppError> {
        let current = self.current_of(r).await?;
        let id = current.article.id;
        // Revisions past the durable head of the article are not yet visible.
        let from = after_version.saturating_add(1);
        let to = current
            .article
            .version
            .min(after_version.saturating_add(page_size as u64));
        let revisions = self.revisions_in(id, from, to)?;
        let next = (revisions.len() == page_size)
            .then(|| revisions.last().map(|r| r.version))
            .flatten()
            .filter(|v| *v < current.article.version);
        Ok((
            id,
            current.article.version,
            Page {
                items: revisions,
                next,
            },
        ))
    }

    /// The log chain's hash at a durable position.
    pub(crate) async fn log_hash(&self, position: u64) -> Result<Hash, AppError> {
        self.store
            .log_hash(position)?
            .ok_or_else(|| AppError::DataLoss(format!("the log chain has no hash at {position}")))
    }

    /// What changed from one version to another (either order).
    pub async fn diff(&self, id: ArticleId, from: u64, to: u64) -> Result<ArticleDiff, AppError> {
        let current = self.current_of(&ArticleRef::Id(id)).await?;
        for (field, version) in [("from_version", from), ("to_version", to)] {
            if version == 0 || version > current.article.version {
                return Err(AppError::not_found(
                    field,
                    format!(
                        "version {version} does not exist (the article is at version {})",
                        current.article.version
                    ),
                ));
            }
        }
        let old = self.version_of(&current, from).await?;
        let new = self.version_of(&current, to).await?;
        Ok(diff(&old.article, &new.article))
    }

    /// The durable current state of an article, whatever its status.
    pub(super) async fn current_durable(
        &self,
        id: ArticleId,
    ) -> Result<Option<Arc<ArticleVersion>>, AppError> {
        loop {
            let Some(current) = self.state_of(id).await? else {
                return Ok(None);
            };
            if current.global_position <= self.durable() {
                return Ok(Some(current));
            }
            if self.store.is_failing() {
                // The newer state is in a batch that failed and may never
                // be durable: serve the last durable version instead.
                return Ok(self.last_durable_version(&current).await?.map(Arc::new));
            }
            match self.store.wait_durable(current.global_position).await {
                Ok(()) => {}
                Err(_) if self.store.is_failing() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The state a write is decided on: the newest one answered, which is
    /// durable (in the log's files) though the read
    /// models may not hold it yet, when the state cache has it; else the
    /// durable current state as a read sees it.
    pub(super) async fn current_for_write(
        &self,
        id: ArticleId,
    ) -> Result<Option<ArticleVersion>, AppError> {
        if let Some(state) = self.states.get(id) {
            if state.global_position <= self.store.acknowledged() {
                return Ok(Some(Arc::unwrap_or_clone(state)));
            }
        }
        Ok(self.current_durable(id).await?.map(Arc::unwrap_or_clone))
    }

    /// The date an article displays at `version`, which it has.
    pub(super) fn date_at(&self, id: ArticleId, version: u64) -> Result<NaiveDate, AppError> {
        crate::store::date_at(&self.read_models, id, version)?.ok_or_else(|| {
            AppError::DataLoss(format!("article {id} has no date at version {version}"))
        })
    }

    /// The article's revisions `from..=to` (those it has), in order: each
    /// commit, with the date it leaves the article showing.
    pub(super) fn revisions_in(
        &self,
        id: ArticleId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Revision>, AppError> {
        let commits = self.commits_of(id, from, to)?;
        let mut revisions: Vec<Revision> = Vec::with_capacity(commits.len());
        for (_, _, commit) in commits {
            let before = revisions
                .last()
                .filter(|r| r.version + 1 == commit.version)
                .map(|r| r.last_updated);
            revisions.push(commit.revision(self.date_left(&commit, before)?));
        }
        Ok(revisions)
    }

    /// The date `commit` leaves its article showing: the one its events
    /// set, else `before` (the date after the article's previous version,
    /// when the caller has it), else the one the dates model holds.
    pub(super) fn date_left(
        &self,
        commit: &Commit,
        before: Option<NaiveDate>,
    ) -> Result<NaiveDate, AppError> {
        match (commit.date_set(), before) {
            (Some(date), _) | (None, Some(date)) => Ok(date),
            (None, None) => self.date_at(commit.article_id, commit.version),
        }
    }

    /// The article's versions `from..=to` that the read models list, each
    /// with its log position and commit.
    pub(super) fn commits_of(
        &self,
        id: ArticleId,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, u64, Commit)>, AppError> {
        self.log_of(id, from, to, |positions| self.store.read_commits(positions))
    }

    /// As `commits_of`, each commit's place, recorded time and events
    /// alone: what a fold takes.
    pub(super) fn events_of(
        &self,
        id: ArticleId,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, u64, CommitEvents)>, AppError> {
        self.log_of(id, from, to, |positions| {
            self.store.read_commit_events(positions)
        })
    }

    fn log_of<T>(
        &self,
        id: ArticleId,
        from: u64,
        to: u64,
        read: impl FnOnce(&[u64]) -> Result<Vec<Option<T>>, StoreError>,
    ) -> Result<Vec<(u64, u64, T)>, AppError> {
        log_of(&self.store, &self.read_models, id, from, to, read)
    }

    /// The article's newest state, durable or not yet: from the state cache,
    /// or its stored state with the versions after it folded from the log
    /// (at most `projection::STATE_EVERY` − 1 of them).
    async fn state_of(&self, id: ArticleId) -> Result<Option<Arc<ArticleVersion>>, AppError> {
        if let Some(state) = self.states.get(id) {
            return Ok(Some(state));
        }
        let stamp = self.states.stamp();
        let Some(mut state) = crate::store::current(&self.read_models, id)? else {
            return Ok(None);
        };
        let after = state.article.version + 1;
        for (version, position, commit) in self.events_of(id, after, u64::MAX)? {
            state = ArticleVersion {
                article: Article::fold(Some(state.article), id, version, &commit.events)
                    .ok_or_else(|| {
                        AppError::DataLoss(format!(
                            "version {version} of article {id} does not fold"
                        ))
                    })?,
                global_position: position,
                recorded_at: commit.recorded_at,
            };
        }
        let state = Arc::new(state);
        if state.global_position <= self.durable() {
            self.states.offer(Arc::clone(&state), stamp);
        }
        Ok(Some(state))
    }

    /// The article at its last version that is durable, if it has one.
    async fn last_durable_version(
        &self,
        current: &ArticleVersion,
    ) -> Result<Option<ArticleVersion>, AppError> {
        let id = current.article.id;
        let mut version = current.article.version;
        while version > 1 {
            version -= 1;
            // The stream index shows only durable entries.
            if self.store.stream_entry(id, version)?.is_some() {
                return self.version_of(current, version).await.map(Some);
            }
        }
        Ok(None)
    }

    pub(super) async fn current_of(&self, r: &ArticleRef) -> Result<Arc<ArticleVersion>, AppError> {
        let id = match r {
            ArticleRef::Id(id) => *id,
            ArticleRef::Slug(slug) => {
                crate::store::slug_owner(&self.read_models, slug)?.ok_or_else(|| not_found(r))?
            }
        };
        self.current_durable(id).await?.ok_or_else(|| not_found(r))
    }

    async fn as_of(
        &self,
        current: &Arc<ArticleVersion>,
        as_of: AsOf,
    ) -> Result<Arc<ArticleVersion>, AppError> {
        match as_of {
            AsOf::Current => Ok(Arc::clone(current)),
            AsOf::Version(version) => {
                if version == 0 {
                    return Err(AppError::invalid("version", "versions start at 1"));
                }
                if version > current.article.version {
                    return Err(AppError::not_found(
                        "version",
                        format!(
                            "version {version} does not exist (the article is at version {})",
                            current.article.version
                        ),
                    ));
                }
                if version == current.article.version {
                    return Ok(Arc::clone(current));
                }
                self.version_of(current, version).await.map(Arc::new)
            }
            AsOf::Time(time) => {
                let version = self.version_at(current, time).await?;
                self.version_of(current, version).await.map(Arc::new)
            }
            AsOf::OriginTime(time) => {
                let version = self.version_at_origin(current, time)?;
                self.version_of(current, version).await.map(Arc::new)
            }
        }
    }

    /// The version whose origin claims' time is the latest at or before
    /// `time`: a scan of the article's commits (claimed times need not
    /// increase along a history). A version counts from the latest time
    /// claimed up to it, never before a version it builds on (a Stack
    /// Exchange edit made while its question was deleted is imported
    /// after the undelete, and so counts from the undelete). A commit that
    /// only names the article anew (an imported redirect's alias, claimed
    /// at the redirect's time) is not one: it shows nothing the source
    /// showed then.
    fn version_at_origin(
        &self,
        current: &ArticleVersion,
        time: DateTime<Utc>,
    ) -> Result<u64, AppError> {
        let id = current.article.id;
        let mut best: Option<(DateTime<Utc>, u64)> = None;
        let mut since: Option<DateTime<Utc>> = None;
        for (_, _, commit) in self.events_of(id, 1, current.article.version)? {
            use crate::domain::Event;
            let alias_only = commit
                .events
                .iter()
                .any(|e| matches!(e, Event::SlugAliased { .. }))
                && commit
                    .events
                    .iter()
                    .all(|e| matches!(e, Event::SlugAliased { .. } | Event::OriginClaimed(_)));
            if alias_only {
                continue;
            }
            let claimed = commit.events.iter().find_map(|e| match e {
                Event::OriginClaimed(c) => c.time,
                _ => None,
            });
            let Some(claimed) = claimed else { continue };
            let at = since.map_or(claimed, |s| s.max(claimed));
            since = Some(at);
            if at <= time && best.is_none_or(|(t, _)| at >= t) {
                best = Some((at, commit.version));
            }
        }
        best.map(|(_, version)| version).ok_or_else(|| {
            AppError::not_found(
                "origin_time",
                format!(
                    "no version of the article is claimed at or before {}",
                    time.to_rfc3339()
                ),
            )
        })
    }

    /// The article as of `version`: the nearest snapshot at or below it and
    /// at most K−1 commits replayed, whatever the length of the history.
    pub(super) async fn version_of(
        &self,
        current: &ArticleVersion,
        version: u64,
    ) -> Result<ArticleVersion, AppError> {
        if version == current.article.version {
            return Ok(current.clone());
        }
        fold_version(&self.store, &self.read_models, current.article.id, version)
    }

    /// The last version recorded at or before `time`: a binary search of
    /// the article's stream (recorded_at strictly increases).
    async fn version_at(
        &self,
        current: &ArticleVersion,
        time: DateTime<Utc>,
    ) -> Result<u64, AppError> {
        if current.recorded_at <= time {
            return Ok(current.article.version);
        }
        let id = current.article.id;
        let recorded = |version: u64| async move {
            self.store
                .stream_entry(id, version)?
                .map(|e| e.recorded_at)
                .ok_or_else(|| {
                    AppError::DataLoss(format!("article {id} has no stream entry {version}"))
                })
        };
        if recorded(1).await? > time {
            return Err(AppError::not_found(
                "time",
                format!("the article did not exist yet at {}", time.to_rfc3339()),
            ));
        }
        // Invariant: version `lo` was recorded at or before `time`, `hi` after.
        let (mut lo, mut hi) = (1, current.article.version);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if recorded(mid).await? <= time {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// A log position through which every commit was recorded before
    /// `time` (0 if none is known to be): a binary search of the log,
    /// widened by its clock lag. Time increases along each article's chain,
    /// not along the log (`domain::link`): no commit lies more than the lag
    /// before an earlier position's time, so a position recorded more than
    /// the lag before `time` has only earlier-recorded positions before it.
    /// With one clock (lag 0) this is the last position recorded before
    /// `time`.
    async fn last_position_before(
        &self,
        time: DateTime<Utc>,
        durable: u64,
    ) -> Result<u64, AppError> {
        let lag = self.store.clock_lag();
        let time = time.timestamp_micros();
        let before = |micros: i64| micros.saturating_add(lag) < time;
        // Invariant: `lo` qualifies (0 trivially); `hi` was found not to,
        // or is past the end.
        let (mut lo, mut hi) = (0, durable + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let commit = self
                .store
                .read(mid)?
                .ok_or_else(|| AppError::DataLoss(format!("log position {mid} is missing")))?;
            if before(commit.recorded_at.timestamp_micros()) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

fn log_of<T>(
    store: &SledStore,
    read_models: &ReadModels,
    id: ArticleId,
    from: u64,
    to: u64,
    read: impl FnOnce(&[u64]) -> Result<Vec<Option<T>>, StoreError>,
) -> Result<Vec<(u64, u64, T)>, AppError> {
    // The applier writes a batch's stream entries before the durable
    // position moves past them: entries beyond it are not read yet.
    let durable = *store.durable_position().borrow();
    let mut versions = stream_range(read_models, id, from, to)?;
    versions.retain(|(_, position)| *position <= durable);
    let positions: Vec<u64> = versions.iter().map(|(_, p)| *p).collect();
    let entries = read(&positions)?;
    versions
        .into_iter()
        .zip(entries)
        .map(|((version, position), entry)| {
            let entry = entry
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            Ok((version, position, entry))
        })
        .collect()
}

/// The article as of `version` (durable): the nearest snapshot at or
/// below it and at most K−1 commits replayed from the log.
pub(super) fn fold_version(
    store: &SledStore,
    read_models: &ReadModels,
    id: ArticleId,
    version: u64,
) -> Result<ArticleVersion, AppError> {
    let snapshot = nearest_snapshot(read_models, id, version)?;
    let from = snapshot.as_ref().map_or(1, |s| s.article.version + 1);
    let mut state: Option<Article> = None;
    let mut at = None;
    if let Some(s) = snapshot {
        at = Some((s.global_position, s.recorded_at));
        state = Some(s.article);
    }
    for (v, position, commit) in log_of(store, read_models, id, from, version, |positions| {
        store.read_commit_events(positions)
    })? {
        state = Article::fold(state, id, v, &commit.events);
        at = Some((position, commit.recorded_at));
    }
    match (state, at) {
        (Some(article), Some((global_position, recorded_at))) if article.version == version => {
            Ok(ArticleVersion {
                article,
                global_position,
                recorded_at,
            })
        }
        _ => Err(AppError::DataLoss(format!(
            "version {version} of article {id} cannot be rebuilt from the log"
        ))),
    }
}

fn not_found(r: &ArticleRef) -> AppError {
    match r {
        ArticleRef::Id(id) => AppError::not_found("id", format!("no article {id}")),
        ArticleRef::Slug(slug) => {
            AppError::not_found("slug", format!("no article {}", quoted(slug)))
        }
    }
}
