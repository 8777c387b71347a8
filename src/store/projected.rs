//! The projection's view of a batch (`projection::View`): what its fold
//! reads, under the store's keys and in the codec's encodings, and its
//! changes written so. `queries.rs` reads them back.

use super::keys::Space;
use super::view::BatchView;
use crate::codec::{decode_article, decode_commit_events, encode_article, encode_date};
use crate::domain::{ArticleId, ArticleVersion, CommitEvents};
use crate::log::StoreError;
use crate::projection::{Change, View};

impl View for BatchView<'_> {
    fn stored_state(&self, id: ArticleId) -> Result<Option<ArticleVersion>, StoreError> {
        self.get(Space::Current, &self.keys().article(Space::Current, id))?
            .map(|bytes| decode_article(&bytes).map_err(StoreError::from))
            .transpose()
    }

    fn snapshot(&self, id: ArticleId, version: u64) -> Result<Option<ArticleVersion>, StoreError> {
        let key = self.keys().version(Space::Snapshots, id, version);
        self.get(Space::Snapshots, &key)?
            .map(|bytes| decode_article(&bytes).map_err(StoreError::from))
            .transpose()
    }

    fn slug_owner(&self, slug: &str) -> Result<Option<ArticleId>, StoreError> {
        let key = self.keys().key(Space::Slugs, &[slug.as_bytes()]);
        self.get(Space::Slugs, &key)?
            .map(|bytes| {
                ArticleId::from_slice(&bytes)
                    .ok_or_else(|| StoreError::Corrupt("a slug entry is corrupt".into()))
            })
            .transpose()
    }

    fn logged(&self, id: ArticleId, version: u64) -> Result<Option<CommitEvents>, StoreError> {
        let Some(position) = self.position(id, version) else {
            return Ok(None);
        };
        self.log_entry(position)?
            .map(|bytes| decode_commit_events(&bytes[..]).map_err(StoreError::from))
            .transpose()
    }

    fn is_replaying(&self) -> bool {
        BatchView::is_replaying(self)
    }

    fn apply(&mut self, change: Change<'_>) {
        let k = self.keys();
        match change {
            Change::Slug { slug, owner } => {
                self.put(
                    k.key(Space::Slugs, &[slug.as_bytes()]),
                    owner.as_bytes().to_vec(),
                );
            }
            Change::Date {
                article,
                version,
                date,
            } => self.put(k.version(Space::Dates, article, version), encode_date(date)),
            Change::State {
                state,
                snapshot,
                current,
            } => {
                let id = state.article.id;
                let bytes = encode_article(state);
                if snapshot {
                    let key = k.version(Space::Snapshots, id, state.article.version);
                    self.put(key, bytes.clone());
                }
                if current {
                    self.put(k.article(Space::Current, id), bytes);
                }
            }
        }
    }
}
