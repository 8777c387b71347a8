//! The read models: pure folds of commits into the current answer (by id
//! and by slug), the revision list, the change feed and snapshots.
//!
//! Implements the store's `Projector`; knows the keyspaces it owns but not
//! sled, tonic or the API. `queries` reads what `project` wrote.

mod queries;

pub(crate) use queries::{
    articles_after, changed_after, current, nearest_snapshot, revision, revisions, slug_owner,
    stream_range, suggestions,
};

use crate::codec::{decode_article, encode_article, encode_revision};
use crate::domain::{Article, ArticleVersion, Commit};
use crate::store::{BatchView, ProjectError, Projector, Rejection, Space, StoreError};

/// The meta key holding the snapshot interval K the snapshots were made with.
pub(crate) const SNAPSHOT_INTERVAL_KEY: &str = "snapshot_interval";

/// The meta key holding the format of the read models' records.
pub(crate) const FORMAT_KEY: &str = "read_model_format";

/// The read models' format. Raised when a record gains a field that a
/// rebuild from the log would fill in (2: `ArticleRecord.reviewed_version`),
/// so that a store opened with read models of another format rebuilds them
/// first.
pub(crate) const FORMAT: u64 = 2;

/// Applies commits to the read models; every K versions it also writes a
/// snapshot, so that an as-of read replays at most K−1 commits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Projection {
    snapshot_interval: u64,
}

impl Projection {
    pub(crate) fn new(snapshot_interval: u64) -> Self {
        Self {
            snapshot_interval: snapshot_interval.max(1),
        }
    }
}

impl Projector for Projection {
    fn project(&self, view: &mut BatchView<'_>, commit: &Commit) -> Result<(), ProjectError> {
        let id = commit.article_id;
        let k = view.keys();
        let current_key = k.article(Space::Current, id);
        let previous = match view.get(Space::Current, &current_key)? {
            Some(bytes) => Some(decode_article(&bytes)?),
            None => None,
        };
        let expected = previous.as_ref().map_or(0, |p| p.article.version) + 1;
        if commit.version != expected {
            return Err(corrupt(commit, "its version does not follow the article's"));
        }
        let previous_slug = previous.as_ref().map(|p| p.article.slug.clone());
        let previous_position = previous.as_ref().map(|p| p.global_position);
        let article = Article::fold(
            previous.map(|p| p.article),
            id,
            commit.version,
            &commit.events,
        )
        .ok_or_else(|| corrupt(commit, "an article's first commit must create it"))?;

        // Check everything before writing anything.
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
        if let Some(position) = previous_position {
            view.delete(k.position(Space::Changed, position));
        }
        view.put(
            k.position(Space::Changed, commit.global_position),
            id.as_bytes().to_vec(),
        );
        view.put(
            k.version(Space::Revisions, id, commit.version),
            encode_revision(&commit.revision(article.last_updated)),
        );
        let version = commit.version;
        let materialized = encode_article(&ArticleVersion {
            article,
            global_position: commit.global_position,
            recorded_at: commit.recorded_at,
        });
        if version % self.snapshot_interval == 0 {
            view.put(
                k.version(Space::Snapshots, id, version),
                materialized.clone(),
            );
        }
        view.put(current_key, materialized);
        Ok(())
    }
}

fn corrupt(commit: &Commit, why: &str) -> ProjectError {
    ProjectError::Store(StoreError::Corrupt(format!(
        "the commit at position {} (article {}, version {}) cannot be applied: {why}",
        commit.global_position, commit.article_id, commit.version
    )))
}
