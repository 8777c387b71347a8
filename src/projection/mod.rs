//! The read models: folds of commits into the articles' states (by id and
//! by slug), the dates the articles display (a revision's summary is read
//! from its commit and that date) and snapshots.
//!
//! A pure fold: the state before a commit and the commit in, `Change`s
//! out. What it reads (the stored states, snapshots and slugs, and the
//! log's earlier commits) and where its changes go is a `View` the store
//! gives it over the batch in hand; the keys and bytes they are kept in
//! are the store's (`store/projected.rs`, read back by
//! `store/queries.rs`). No sled, no keys, no codec (`src/tidy.rs`).
//! `states` holds the current states in memory.

mod states;

pub(crate) use states::{StateCache, DEFAULT_STATE_CACHE_BYTES};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::domain::{Article, ArticleId, ArticleVersion, CommitEvents, CommitFold, Event};
use crate::log::{Rejection, StoreError};

/// What the fold reads, as the batch in hand leaves the read models and
/// the log, and where its changes go.
pub(crate) trait View {
    /// The article's stored state (its `current` record), if any.
    fn stored_state(&self, id: ArticleId) -> Result<Option<ArticleVersion>, StoreError>;
    /// The article's snapshot at exactly `version`, if one was made.
    fn snapshot(&self, id: ArticleId, version: u64) -> Result<Option<ArticleVersion>, StoreError>;
    /// The article a slug (current or old) names.
    fn slug_owner(&self, slug: &str) -> Result<Option<ArticleId>, StoreError>;
    /// The log's commit of `version` of the article, if the log holds it.
    fn logged(&self, id: ArticleId, version: u64) -> Result<Option<CommitEvents>, StoreError>;
    /// Whether the batch replays the log after a crash (a stored state
    /// may then be ahead of the commit being folded).
    fn is_replaying(&self) -> bool;
    /// Takes one change of the read models.
    fn apply(&mut self, change: Change<'_>);
}

/// One change of the read models that a commit makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// The slug names `owner` (its current slug, or one kept for it).
    Slug { slug: &'a str, owner: ArticleId },
    /// From `version` on, the article displays `date`.
    Date {
        article: ArticleId,
        version: u64,
        date: NaiveDate,
    },
    /// The article's state at its version: kept as its snapshot at that
    /// version, as its stored current state, or both.
    State {
        state: &'a ArticleVersion,
        snapshot: bool,
        current: bool,
    },
}

/// Keeps the read models: applied to every commit, in log order, inside the
/// writer's batch, and again by a rebuild.
pub(crate) trait Projector: Send + Sync + 'static {
    /// Checks `commit` against the read models and applies it. A commit it
    /// rejects (a slug taken) must leave the view as it found it: check
    /// first, then write.
    fn project(&self, view: &mut dyn View, commit: CommitFold<'_>) -> Result<(), ProjectError>;

    /// What became of the batch `project` last applied to: told once per
    /// batch, after its write (or its failure), before anyone learns of it.
    fn settle(&self, settled: Settled);
}

/// What became of a batch of projected commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Written: durable, or on a replica as durable as the stream it came from.
    Written,
    /// Not written: forget what it changed.
    Dropped,
    /// The database was reopened after a failure and may hold less than
    /// was written: forget everything held beside it.
    Reopened,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    #[error("rejected: {0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The meta key holding the snapshot interval K the snapshots were made with.
pub(crate) const SNAPSHOT_INTERVAL_KEY: &str = "snapshot_interval";

/// The meta key holding the format of the read models' records.
pub(crate) const FORMAT_KEY: &str = "read_model_format";

/// The read models' format. Raised when a record gains a field that a
/// rebuild from the log would fill in (2: `ArticleRecord.reviewed_version`),
/// or when what a record holds changes (3: the `current` record holds the
/// article's state at its first version and every `STATE_EVERY`th, no
/// longer at every version; 4: no revision summary a version, the `dates`
/// model instead; 5: no change feed, which the log's index keeps in
/// memory), so that a store opened with read models of another format
/// rebuilds them first.
pub(crate) const FORMAT: u64 = 5;

/// K, the snapshot interval a new store takes unless configured: an as-of
/// read folds at most K − 1 commits onto the snapshot before it. 16 keeps
/// it within half again a current read's time (BENCHMARKS.md); each
/// snapshot costs one article state written every K versions.
pub(crate) const DEFAULT_SNAPSHOT_INTERVAL: u64 = 16;

/// The article's stored state (`Space::Current`) is rewritten at version 1
/// and every this many versions; a read folds the versions after it from
/// the log (at most `STATE_EVERY − 1`), unless the state cache holds the
/// article. Writing the whole article at every version made it most of
/// the bytes a commit wrote.
pub(crate) const STATE_EVERY: u64 = 8;

/// The states a batch made, by article.
type Pending = HashMap<ArticleId, ArticleVersion, foldhash::fast::RandomState>;

/// Applies commits to the read models; every K versions it also writes a
/// snapshot, so that an as-of read replays at most K−1 commits.
#[derive(Debug)]
pub(crate) struct Projection {
    snapshot_interval: u64,
    /// Current states: the server's (shared with readers), or a rebuild's own.
    states: Arc<StateCache>,
    /// The states the batch being applied made, published once it is
    /// written (`settle`).
    pending: Mutex<Pending>,
}

impl Projection {
    /// A projection with a state cache of its own (a rebuild's).
    pub(crate) fn new(snapshot_interval: u64) -> Self {
        Self::with_states(
            snapshot_interval,
            Arc::new(StateCache::new(DEFAULT_STATE_CACHE_BYTES)),
        )
    }

    pub(crate) fn with_states(snapshot_interval: u64, states: Arc<StateCache>) -> Self {
        Self {
            snapshot_interval: snapshot_interval.max(1),
            states,
            pending: Mutex::new(Pending::default()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The article's state just before `commit`: from this batch, from the
    /// cache, or folded from its stored state and the log (the log entries
    /// of this batch included).
    fn previous(
        &self,
        view: &dyn View,
        commit: CommitFold<'_>,
    ) -> Result<Option<ArticleVersion>, ProjectError> {
        let id = commit.article_id;
        let wanted = commit.version.saturating_sub(1);
        if wanted > 0 {
            // Taken, as the commit replaces it; cloned if the commit may be
            // refused (a slug it takes may be taken), which must leave the
            // batch's state as it was.
            let mut pending = self.pending();
            if pending
                .get(&id)
                .is_some_and(|state| state.article.version == wanted)
            {
                return Ok(if may_be_refused(commit) {
                    pending.get(&id).cloned()
                } else {
                    pending.remove(&id)
                });
            }
            drop(pending);
            if let Some(state) = self.states.get(id) {
                if state.article.version == wanted {
                    return Ok(Some(ArticleVersion::clone(&state)));
                }
            }
        }
        let mut state = match view.stored_state(id)? {
            None => return Ok(None),
            Some(state) if state.article.version <= wanted => Some(state),
            // A catch-up after a crash, replaying what the log's files
            // gave back (`store::log_files`): written by this commit or a later
            // one of its batch before the crash cut the batch short (in log
            // order, nothing else stores a state from a later position).
            // Fold from the snapshot before it, or from the first version.
            Some(state)
                if view.is_replaying() && state.global_position >= commit.global_position =>
            {
                self.snapshot_at_or_before(view, id, wanted)?
            }
            Some(_) => return Err(corrupt(commit, "its version does not follow the article's")),
        };
        let from = state.as_ref().map_or(1, |s| s.article.version + 1);
        for version in from..=wanted {
            state = Some(fold_logged(view, commit, state, version)?);
        }
        Ok(state)
    }

    /// A redaction (docs/AUDIT.md, "Redaction") changed what the
    /// article's earlier commits hold: every stored state of it (its
    /// snapshots, its `current` record) is folded again from the log as
    /// the redaction left it (the view reads the rewritten records), and
    /// the `current` record takes the state after this commit, so that no
    /// read model keeps what was removed.
    fn project_redaction(
        &self,
        view: &mut dyn View,
        commit: CommitFold<'_>,
    ) -> Result<(), ProjectError> {
        let id = commit.article_id;
        let mut state = None;
        for version in 1..commit.version {
            let at = fold_logged(view, commit, state, version)?;
            if version % self.snapshot_interval == 0 {
                view.apply(Change::State {
                    state: &at,
                    snapshot: true,
                    current: false,
                });
            }
            state = Some(at);
        }
        let before = state
            .as_ref()
            .ok_or_else(|| corrupt(commit, "a redaction must follow the article's creation"))?;
        let state = ArticleVersion {
            article: Article::fold(
                Some(before.article.clone()),
                id,
                commit.version,
                commit.events,
            )
            .ok_or_else(|| corrupt(commit, "it does not fold"))?,
            global_position: commit.global_position,
            recorded_at: commit.recorded_at,
        };
        view.apply(Change::State {
            state: &state,
            snapshot: commit.version % self.snapshot_interval == 0,
            current: true,
        });
        self.pending().insert(id, state);
        Ok(())
    }

    /// The article's snapshot at the last multiple of the snapshot
    /// interval at or before `version`, if there is one.
    fn snapshot_at_or_before(
        &self,
        view: &dyn View,
        id: ArticleId,
        version: u64,
    ) -> Result<Option<ArticleVersion>, ProjectError> {
        let at = version - version % self.snapshot_interval.max(1);
        if at == 0 {
            return Ok(None);
        }
        Ok(view.snapshot(id, at)?)
    }
}

impl Projector for Projection {
    fn project(&self, view: &mut dyn View, commit: CommitFold<'_>) -> Result<(), ProjectError> {
        if commit
            .events
            .iter()
            .any(|e| matches!(e, Event::PayloadRedacted { .. }))
        {
            return self.project_redaction(view, commit);
        }
        let id = commit.article_id;
        let previous = self.previous(view, commit)?;
        let expected = previous.as_ref().map_or(0, |p| p.article.version) + 1;
        if commit.version != expected {
            return Err(corrupt(commit, "its version does not follow the article's"));
        }
        let previous_slug = previous.as_ref().map(|p| p.article.slug.clone());
        let previous_date = previous.as_ref().map(|p| p.article.last_updated);
        let article = Article::fold(
            previous.map(|p| p.article),
            id,
            commit.version,
            commit.events,
        )
        .ok_or_else(|| corrupt(commit, "an article's first commit must create it"))?;

        // Check everything before writing anything. The slugs the commit
        // names the article by besides its own (a redirect's), each free or
        // the article's already:
        let mut aliases = Vec::new();
        for event in commit.events {
            let Event::SlugAliased { slug } = event else {
                continue;
            };
            match view.slug_owner(slug)? {
                Some(owner) if owner != id => {
                    return Err(ProjectError::Rejected(Rejection::SlugTaken {
                        slug: slug.clone(),
                    }))
                }
                Some(_) => {}
                None => aliases.push(slug.as_str()),
            }
        }
        let slug_is_new = previous_slug.as_deref() != Some(article.slug.as_str());
        if slug_is_new {
            if let Some(owner) = view.slug_owner(&article.slug)? {
                if owner != id {
                    return Err(ProjectError::Rejected(Rejection::SlugTaken {
                        slug: article.slug.clone(),
                    }));
                }
            }
            view.apply(Change::Slug {
                slug: &article.slug,
                owner: id,
            });
        }
        for slug in aliases {
            view.apply(Change::Slug { slug, owner: id });
        }
        if previous_date != Some(article.last_updated) {
            view.apply(Change::Date {
                article: id,
                version: commit.version,
                date: article.last_updated,
            });
        }
        let version = commit.version;
        let state = ArticleVersion {
            article,
            global_position: commit.global_position,
            recorded_at: commit.recorded_at,
        };
        let snapshot = version % self.snapshot_interval == 0;
        let current = version == 1 || version % STATE_EVERY == 0;
        if snapshot || current {
            view.apply(Change::State {
                state: &state,
                snapshot,
                current,
            });
        }
        self.pending().insert(id, state);
        Ok(())
    }

    fn settle(&self, settled: Settled) {
        let states = std::mem::take(&mut *self.pending());
        match settled {
            Settled::Written => self.states.publish(states.into_values()),
            Settled::Dropped => {}
            Settled::Reopened => self.states.clear(),
        }
    }
}

/// The article at `version`, folded onto `state` (the version before)
/// from the log's record of it; `commit`, being projected, names a
/// failure.
fn fold_logged(
    view: &dyn View,
    commit: CommitFold<'_>,
    state: Option<ArticleVersion>,
    version: u64,
) -> Result<ArticleVersion, ProjectError> {
    let id = commit.article_id;
    let earlier = view
        .logged(id, version)?
        .ok_or_else(|| corrupt(commit, "the log lacks an earlier version"))?;
    Ok(ArticleVersion {
        article: Article::fold(state.map(|s| s.article), id, version, &earlier.events)
            .ok_or_else(|| corrupt(commit, "an earlier version does not fold"))?,
        global_position: earlier.global_position,
        recorded_at: earlier.recorded_at,
    })
}

/// Whether `project` may refuse the commit: only a slug it takes can be
/// taken already.
fn may_be_refused(commit: CommitFold<'_>) -> bool {
    commit.events.iter().any(|event| {
        matches!(
            event,
            Event::ArticleCreated(_) | Event::SlugChanged { .. } | Event::SlugAliased { .. }
        )
    })
}

fn corrupt(commit: CommitFold<'_>, why: &str) -> ProjectError {
    ProjectError::Store(StoreError::Corrupt(format!(
        "the commit at position {} (article {}, version {}) cannot be applied: {why}",
        commit.global_position, commit.article_id, commit.version
    )))
}
