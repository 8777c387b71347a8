//! Reads of the read models, decoded: the keys and encodings the
//! projection's changes were written under (`projected.rs`), read back.
//! They return what is stored; waiting for durability is the caller's
//! (the app's) business.

use chrono::NaiveDate;

use super::keys::{position_key, Space};
use super::ReadModels;
use crate::codec::{decode_article, decode_date, decode_suggestion};
use crate::domain::{ArticleId, ArticleVersion, Suggestion};
use crate::log::StoreError;

/// The materialized current answer of an article.
pub(crate) fn current(
    rm: &ReadModels,
    id: ArticleId,
) -> Result<Option<ArticleVersion>, StoreError> {
    rm.get(Space::Current, &rm.keys().article(Space::Current, id))?
        .map(|bytes| decode_article(&bytes).map_err(StoreError::from))
        .transpose()
}

/// The article a slug (current or old) names.
pub(crate) fn slug_owner(rm: &ReadModels, slug: &str) -> Result<Option<ArticleId>, StoreError> {
    rm.get(
        Space::Slugs,
        &rm.keys().key(Space::Slugs, &[slug.as_bytes()]),
    )?
    .map(|bytes| {
        ArticleId::from_slice(&bytes)
            .ok_or_else(|| StoreError::Corrupt("a slug entry is corrupt".into()))
    })
    .transpose()
}

/// The snapshot at the greatest version ≤ `version`: one record read.
pub(crate) fn nearest_snapshot(
    rm: &ReadModels,
    id: ArticleId,
    version: u64,
) -> Result<Option<ArticleVersion>, StoreError> {
    last_at_or_before(rm, Space::Snapshots, id, version)?
        .map(|bytes| decode_article(&bytes).map_err(StoreError::from))
        .transpose()
}

/// The value of an article's last record in `space` at a version ≤
/// `version`: one record read, backwards.
fn last_at_or_before(
    rm: &ReadModels,
    space: Space,
    id: ArticleId,
    version: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let k = rm.keys();
    let found = rm.range(
        space,
        &k.version(space, id, 0),
        &k.version(space, id, version),
        true,
        1,
    )?;
    Ok(found.into_iter().next().map(|(_, bytes)| bytes))
}

/// The global positions of versions `from..=to` of an article, in order.
pub(crate) fn stream_range(
    rm: &ReadModels,
    id: ArticleId,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, u64)>, StoreError> {
    Ok(rm.positions(id, from, to))
}

/// The date an article displays at `version`: the last `dates` entry at
/// or before it (one read). `None` if the article has no such version.
pub(crate) fn date_at(
    rm: &ReadModels,
    id: ArticleId,
    version: u64,
) -> Result<Option<NaiveDate>, StoreError> {
    last_at_or_before(rm, Space::Dates, id, version)?
        .map(|bytes| decode_date(&bytes).map_err(StoreError::from))
        .transpose()
}

/// Up to `limit` entries of the change feed after `after_position`: the
/// position of each article's last change, and the article.
pub(crate) fn changed_after(
    rm: &ReadModels,
    after_position: u64,
    limit: usize,
) -> Result<Vec<(u64, ArticleId)>, StoreError> {
    Ok(rm.changed_after(after_position, limit))
}

/// Up to `limit` suggestions after sequence `after`, in order.
pub(crate) fn suggestions(
    rm: &ReadModels,
    after: u64,
    limit: usize,
) -> Result<Vec<Suggestion>, StoreError> {
    rm.range(
        Space::Suggestions,
        &position_key(Space::Suggestions, after.saturating_add(1)),
        &position_key(Space::Suggestions, u64::MAX),
        false,
        limit,
    )?
    .into_iter()
    .map(|(_, bytes)| decode_suggestion(&bytes).map_err(StoreError::from))
    .collect()
}

/// Up to `limit` current answers of articles whose id follows `after`, in
/// id order (all articles, retracted too).
pub(crate) fn articles_after(
    rm: &ReadModels,
    after: Option<ArticleId>,
    limit: usize,
) -> Result<Vec<ArticleVersion>, StoreError> {
    let k = rm.keys();
    let from = match after {
        // The key just past `after`'s: its 16 bytes and one more.
        Some(id) => {
            let mut key = k.article(Space::Current, id);
            key.push(0);
            key
        }
        None => k.prefix(Space::Current),
    };
    let to = k.key(Space::Current, &[&[0xff; 17]]);
    rm.range(Space::Current, &from, &to, false, limit)?
        .into_iter()
        .map(|(_, bytes)| decode_article(&bytes).map_err(StoreError::from))
        .collect()
}
