//! The articles' current states, in memory: a bounded cache that serves
//! current answers and the projection's folds without reading or decoding
//! a stored record.
//!
//! Only durable states enter it, and a state never replaces a newer one of
//! the same article. The writer publishes each batch's states once the
//! batch is written; a reader may offer a state it folded from the store,
//! which is taken only if no batch was published since the reader began
//! (`stamp`), so that a state read before a write cannot replace the
//! write's after an eviction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::domain::{Article, ArticleId, ArticleVersion};

/// The default bound of the cache, in (estimated) bytes.
pub(crate) const DEFAULT_STATE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    state: Arc<ArticleVersion>,
    weight: u64,
}

#[derive(Clone, Copy)]
struct ByBytes;

impl Weighter<ArticleId, Entry> for ByBytes {
    fn weight(&self, _: &ArticleId, entry: &Entry) -> u64 {
        entry.weight
    }
}

pub(crate) struct StateCache {
    cache: Cache<ArticleId, Entry, ByBytes>,
    /// Serializes inserts, so that "never replace a newer state" and the
    /// stamp check hold; reads take no lock of ours.
    inserting: Mutex<()>,
    /// How many batches were published.
    stamp: AtomicU64,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCache")
            .field("entries", &self.cache.len())
            .field("weight", &self.cache.weight())
            .finish()
    }
}

impl StateCache {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        // Some 8 KB an article: the estimate only sizes the tables.
        let items = usize::try_from(capacity_bytes / 8192).unwrap_or(usize::MAX);
        Self {
            cache: Cache::with_weighter(items.max(16), capacity_bytes.max(1), ByBytes),
            inserting: Mutex::new(()),
            stamp: AtomicU64::new(0),
        }
    }

    /// The bound of the cache, in (estimated) bytes.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.cache.capacity()
    }

    pub(crate) fn get(&self, id: ArticleId) -> Option<Arc<ArticleVersion>> {
        self.cache.get(&id).map(|entry| entry.state)
    }

    /// The publications so far: read it before reading the store, and hand
    /// it to `offer`.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(Ordering::Acquire)
    }

    /// A written batch's states (durable, or as durable as the log they
    /// came from).
    pub(crate) fn publish(&self, states: impl IntoIterator<Item = ArticleVersion>) {
        let _guard = self.inserting.lock().unwrap_or_else(|e| e.into_inner());
        self.stamp.fetch_add(1, Ordering::AcqRel);
        for state in states {
            self.insert(Arc::new(state));
        }
    }

    /// A durable state a reader folded from the store: taken unless a
    /// batch was published since `stamp`.
    pub(crate) fn offer(&self, state: Arc<ArticleVersion>, stamp: u64) {
        let _guard = self.inserting.lock().unwrap_or_else(|e| e.into_inner());
        if self.stamp.load(Ordering::Acquire) == stamp {
            self.insert(state);
        }
    }

    /// A state made outside the writer's batches (the Merkle tree's own
    /// cache), unless a newer one is held.
    pub(crate) fn put(&self, state: Arc<ArticleVersion>) {
        let _guard = self.inserting.lock().unwrap_or_else(|e| e.into_inner());
        self.insert(state);
    }

    /// Forgets every state (the store was reopened and may hold less).
    pub(crate) fn clear(&self) {
        let _guard = self.inserting.lock().unwrap_or_else(|e| e.into_inner());
        self.stamp.fetch_add(1, Ordering::AcqRel);
        self.cache.clear();
    }

    fn insert(&self, state: Arc<ArticleVersion>) {
        let id = state.article.id;
        if let Some(held) = self.cache.peek(&id) {
            if held.state.article.version > state.article.version {
                return;
            }
        }
        let weight = weight(&state.article);
        self.cache.insert(id, Entry { state, weight });
    }
}

/// About the bytes an article holds on the heap.
fn weight(article: &Article) -> u64 {
    let strings = article.slug.len()
        + article.question.len()
        + article.quick_answer.len()
        + article.disclaimer.len()
        + article.provenance.generator.len()
        + article.provenance.reviewed_by.len()
        + article
            .key_facts
            .iter()
            .map(|f| f.len() + 24)
            .sum::<usize>()
        + article
            .sections
            .iter()
            .map(|s| s.id.len() + s.heading.len() + s.body.len() + 72)
            .sum::<usize>()
        + article
            .sources
            .iter()
            .map(|s| {
                s.id.len() + s.title.len() + s.publisher.len() + s.url.len() + s.license.len() + 128
            })
            .sum::<usize>();
    (strings + std::mem::size_of::<ArticleVersion>() + 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: ArticleId, version: u64) -> ArticleVersion {
        ArticleVersion::sample(id, version)
    }

    fn held(cache: &StateCache, id: ArticleId) -> Option<u64> {
        cache.get(id).map(|s| s.article.version)
    }

    #[test]
    fn a_state_never_replaces_a_newer_one() {
        let cache = StateCache::new(1 << 20);
        let id = ArticleId::from_uuid(uuid::Uuid::now_v7());
        cache.publish([state(id, 3)]);
        cache.publish([state(id, 2)]);
        assert_eq!(held(&cache, id), Some(3));
        cache.publish([state(id, 4)]);
        assert_eq!(held(&cache, id), Some(4));
        cache.offer(Arc::new(state(id, 1)), cache.stamp());
        assert_eq!(held(&cache, id), Some(4));
    }

    #[test]
    fn an_offer_is_refused_once_a_batch_was_published_since_the_reader_began() {
        let cache = StateCache::new(1 << 20);
        let (a, b) = (
            ArticleId::from_uuid(uuid::Uuid::now_v7()),
            ArticleId::from_uuid(uuid::Uuid::now_v7()),
        );
        // A reader folds `a` at version 1 from the store; meanwhile a batch
        // writes version 2, which is then evicted (here: never held).
        let stamp = cache.stamp();
        cache.publish([state(b, 1)]);
        cache.offer(Arc::new(state(a, 1)), stamp);
        assert_eq!(held(&cache, a), None);
        // With nothing published in between, the offer is taken.
        cache.offer(Arc::new(state(a, 1)), cache.stamp());
        assert_eq!(held(&cache, a), Some(1));
    }

    #[test]
    fn clear_forgets_and_refuses_offers_begun_before_it() {
        let cache = StateCache::new(1 << 20);
        let id = ArticleId::from_uuid(uuid::Uuid::now_v7());
        cache.publish([state(id, 5)]);
        let stamp = cache.stamp();
        cache.clear();
        assert_eq!(held(&cache, id), None);
        cache.offer(Arc::new(state(id, 5)), stamp);
        assert_eq!(held(&cache, id), None);
    }

    #[test]
    fn the_cache_holds_no_more_than_its_bound() {
        let cache = StateCache::new(64 * 1024);
        let ids: Vec<_> = (0..1000)
            .map(|_| ArticleId::from_uuid(uuid::Uuid::now_v7()))
            .collect();
        for id in &ids {
            cache.publish([state(*id, 1)]);
        }
        let held = ids.iter().filter(|id| cache.get(**id).is_some()).count();
        assert!(held > 0 && held < 1000, "{held} held");
        assert!(cache.cache.weight() <= 64 * 1024);
        let none = StateCache::new(0);
        none.publish([state(ids[0], 1)]);
        assert_eq!(none.get(ids[0]).map(|s| s.article.version), None);
    }
}
