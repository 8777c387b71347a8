//! The read models: folds of commits into the articles' states (by id and
//! by slug), the dates the articles display (a revision's summary is read
//! from its commit and that date), the change feed and snapshots. Not yet
//! pure folds: they write through the store's `BatchView` in the codec's
//! bytes (docs/ARCHITECTURE.md, `src/projection/`).
//!
//! Implements the store's `Projector`; knows the keyspaces it owns but not
//! sled, tonic or the API. The store reads back what `project` wrote
//! (`store/queries.rs`), and `states` holds the current states in memory.

mod states;

pub(crate) use states::{StateCache, DEFAULT_STATE_CACHE_BYTES};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::codec::{decode_article, decode_commit_events, encode_article, encode_date};
use crate::domain::{Article, ArticleId, ArticleVersion, CommitFold, Event};
use crate::log::{Rejection, StoreError};
use crate::store::{BatchView, ProjectError, Projector, Settled, Space};

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
        view: &BatchView<'_>,
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
        let stored = match view.get(Space::Current, &view.keys().article(Space::Current, id))? {
            Some(bytes) => Some(decode_article(&bytes)?),
            None => None,
        };
        let mut state = match stored {
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
        view: &mut BatchView<'_>,
        commit: CommitFold<'_>,
    ) -> Result<(), ProjectError> {
        let (id, k) = (commit.article_id, view.keys());
        let mut state = None;
        for version in 1..commit.version {
            let at = fold_logged(view, commit, state, version)?;
            if version % self.snapshot_interval == 0 {
                view.put(
                    k.version(Space::Snapshots, id, version),
                    encode_article(&at),
                );
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
        let materialized = encode_article(&state);
        if commit.version % self.snapshot_interval == 0 {
            view.put(
                k.version(Space::Snapshots, id, commit.version),
                materialized.clone(),
            );
        }
        view.put(k.article(Space::Current, id), materialized);
        self.pending().insert(id, state);
        Ok(())
    }

    /// The article's snapshot at the last multiple of the snapshot
    /// interval at or before `version`, if there is one.
    fn snapshot_at_or_before(
        &self,
        view: &BatchView<'_>,
        id: ArticleId,
        version: u64,
    ) -> Result<Option<ArticleVersion>, ProjectError> {
        let at = version - version % self.snapshot_interval.max(1);
        if at == 0 {
            return Ok(None);
        }
        match view.get(
            Space::Snapshots,
            &view.keys().version(Space::Snapshots, id, at),
        )? {
            Some(bytes) => Ok(Some(decode_article(&bytes)?)),
            None => Ok(None),
        }
    }
}

impl Projector for Projection {
    fn project(
        &self,
        view: &mut BatchView<'_>,
        commit: CommitFold<'_>,
    ) -> Result<(), ProjectError> {
        if commit
            .events
            .iter()
            .any(|e| matches!(e, Event::PayloadRedacted { .. }))
        {
            return self.project_redaction(view, commit);
        }
        let id = commit.article_id;
        let k = view.keys();
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
            let key = k.key(Space::Slugs, &[slug.as_bytes()]);
            match view.get(Space::Slugs, &key)? {
                Some(owner) if owner.as_slice() != id.as_bytes() => {
                    return Err(ProjectError::Rejected(Rejection::SlugTaken {
                        slug: slug.clone(),
                    }))
                }
                Some(_) => {}
                None => aliases.push(key),
            }
        }
        let slug_key = k.key(Space::Slugs, &[article.slug.as_bytes()]);
        let slug_is_new = previous_slug.as_deref() != Some(article.slug.as_str());
        if slug_is_new {
            if let Some(owner) = view.get(Space::Slugs, &slug_key)? {
                if owner.as_slice() != id.as_bytes() {
                    return Err(ProjectError::Rejected(Rejection::SlugTaken {
                        slug: article.slug.clone(),
                    }));
                }
            }
            view.put(slug_key, id.as_bytes().to_vec());
        }
        for key in aliases {
            view.put(key, id.as_bytes().to_vec());
        }
        if previous_date != Some(article.last_updated) {
            view.put(
                k.version(Space::Dates, id, commit.version),
                encode_date(article.last_updated),
            );
        }
        let version = commit.version;
        let state = ArticleVersion {
            article,
            global_position: commit.global_position,
            recorded_at: commit.recorded_at,
        };
        let snapshot = version % self.snapshot_interval == 0;
        let stored = version == 1 || version % STATE_EVERY == 0;
        if snapshot || stored {
            let materialized = encode_article(&state);
            if snapshot {
                view.put(
                    k.version(Space::Snapshots, id, version),
                    materialized.clone(),
                );
            }
            if stored {
                view.put(k.article(Space::Current, id), materialized);
            }
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
    view: &BatchView<'_>,
    commit: CommitFold<'_>,
    state: Option<ArticleVersion>,
    version: u64,
) -> Result<ArticleVersion, ProjectError> {
    let id = commit.article_id;
    let position = view
        .position(id, version)
        .ok_or_else(|| corrupt(commit, "the log's index lacks an earlier version"))?;
    let bytes = view
        .log_entry(position)?
        .ok_or_else(|| corrupt(commit, "an earlier version's log entry is missing"))?;
    let earlier = decode_commit_events(&bytes)?;
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
