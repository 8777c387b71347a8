//! The writer's view of one batch: the tree as it stands plus the batch's
//! own pending writes, so each commit in a batch sees those before it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

use super::applier::{Unapplied, Writes};
use super::keys::{position_key, Keys, Space};
use super::log_files::LogFiles;
use super::log_index::{IndexEntry, LogIndex};
use super::stats::Stats;
use super::StoreError;
use crate::codec::encode_commit;
use crate::domain::{Commit, Hash};

/// The keys an offline rebuild has written, each kept as two independent
/// 64-bit keyed hashes (16 bytes a key, whatever its length; two keys
/// share both hashes with odds of about n² in 2¹²⁹).
pub(super) struct WrittenKeys {
    hashes: HashSet<(u64, u64), foldhash::fast::RandomState>,
    first: std::collections::hash_map::RandomState,
    second: std::collections::hash_map::RandomState,
}

impl WrittenKeys {
    pub(super) fn new() -> Self {
        Self {
            hashes: HashSet::default(),
            first: Default::default(),
            second: Default::default(),
        }
    }

    fn hash(&self, key: &[u8]) -> (u64, u64) {
        (self.first.hash_one(key), self.second.hash_one(key))
    }

    pub(super) fn insert(&mut self, key: &[u8]) {
        let hash = self.hash(key);
        self.hashes.insert(hash);
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.hashes.contains(&self.hash(key))
    }
}

/// Reads through pending writes, then through the batches the applier
/// has not written yet, to the tree; writes stay pending until the writer
/// hands them to the applier or applies them in one `apply_batch`. The
/// batch's commits go to the log's files (`log_files.rs`), not to sled:
/// a commit is read from the batch, else from the files; where a version
/// of an article stands, from the batch, else from the log's index
/// (`log_index.rs`), which holds every durable commit.
pub(crate) struct BatchView<'a> {
    tree: &'a sled::Tree,
    log: &'a LogFiles,
    index: &'a LogIndex,
    stats: &'a Stats,
    keys: Keys,
    pending: Writes,
    /// The commits the batch appends, by position, encoded.
    commits: Vec<(u64, Vec<u8>)>,
    /// Records of the log a redaction in this batch rewrites, by position,
    /// encoded as they will stand (`rewrite`).
    rewritten: Vec<(u64, Vec<u8>)>,
    /// What the log's index takes of them, in the same order.
    entries: Vec<IndexEntry>,
    /// Where each version the batch appends stands.
    positions: HashMap<(crate::domain::ArticleId, u64), u64>,
    /// Durable batches not yet in sled (`applier.rs`), if any.
    unapplied: Option<&'a Unapplied>,
    /// The log chain's hashes this batch adds: the position they start at
    /// and the next, one `chain` record for the run (`put_chain`).
    chain_run: Option<(u64, u64)>,
    /// The payload digests this batch adds, likewise: the position they
    /// start at and the next (`put_digests`).
    digests_run: Option<(u64, u64)>,
    /// Whether the view replays the log into the read models (a catch-up),
    /// where a first part of a batch a crash cut short may be met again.
    replaying: bool,
    /// During an offline rebuild, the read-model keys it has written: any
    /// other read-model key in the tree is one it replaces, read as absent.
    trusted: Option<&'a WrittenKeys>,
}

impl<'a> BatchView<'a> {
    /// A view that writes the read models of `keys.generation`.
    pub(super) fn new(
        tree: &'a sled::Tree,
        log: &'a LogFiles,
        index: &'a LogIndex,
        stats: &'a Stats,
        keys: Keys,
    ) -> Self {
        Self {
            tree,
            log,
            index,
            stats,
            keys,
            pending: BTreeMap::new(),
            commits: Vec::new(),
            rewritten: Vec::new(),
            entries: Vec::new(),
            positions: HashMap::new(),
            unapplied: None,
            chain_run: None,
            digests_run: None,
            replaying: false,
            trusted: None,
        }
    }

    /// A view that also reads through the durable batches the applier
    /// has not written yet.
    pub(super) fn over(
        tree: &'a sled::Tree,
        log: &'a LogFiles,
        index: &'a LogIndex,
        stats: &'a Stats,
        keys: Keys,
        unapplied: &'a Unapplied,
    ) -> Self {
        Self {
            unapplied: Some(unapplied),
            ..Self::new(tree, log, index, stats, keys)
        }
    }

    /// The same view, replaying the log into the read models (`catch_up`).
    pub(super) fn replaying(self) -> Self {
        Self {
            replaying: true,
            ..self
        }
    }

    /// The same view, reading a read-model key from the tree only if it is
    /// in `written`: an offline rebuild's, over the read models it
    /// replaces.
    pub(super) fn trusting_only(self, written: &'a WrittenKeys) -> Self {
        Self {
            trusted: Some(written),
            ..self
        }
    }

    /// Whether this view replays the log into the read models: the
    /// projection may meet read models a crash left part-written by the
    /// very commits it replays (`log_files.rs`).
    pub(crate) fn is_replaying(&self) -> bool {
        self.replaying
    }

    /// The tree the view reads.
    pub(super) fn tree(&self) -> &sled::Tree {
        self.tree
    }

    /// The keys of the generation this view writes.
    pub(crate) fn keys(&self) -> Keys {
        self.keys
    }

    /// The value at `key` (a full key, made with `keys::key`).
    pub(super) fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        debug_assert_eq!(key.first(), Some(&space.prefix()));
        if let Some(value) = self.pending.get(key) {
            return Ok(value.clone());
        }
        if let Some(value) = self.unapplied.and_then(|u| u.get(key)) {
            return Ok(value.cloned());
        }
        if space.is_read_model() && self.trusted.is_some_and(|t| !t.contains(key)) {
            return Ok(None);
        }
        self.stats.count_read(space);
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// The commit at `position`, encoded: appended by this batch, or in
    /// the log's files.
    pub(super) fn log_entry(&self, position: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if let Ok(i) = self.commits.binary_search_by_key(&position, |(p, _)| *p) {
            return Ok(Some(self.commits[i].1.clone()));
        }
        if let Some((_, record)) = self.rewritten.iter().find(|(p, _)| *p == position) {
            return Ok(Some(record.clone()));
        }
        self.stats.count_read(Space::Log);
        self.log.read(position)
    }

    /// The position of `version` of `article`: appended by this batch, or
    /// durable.
    pub(super) fn position(&self, article: crate::domain::ArticleId, version: u64) -> Option<u64> {
        match self.positions.get(&(article, version)) {
            Some(position) => Some(*position),
            None => self.index.position(article, version),
        }
    }

    /// Reads the log's records at these positions as a redaction in this
    /// batch rewrites them (the log's files take them before the batch's
    /// commits: `redaction_intent.rs`).
    pub(super) fn rewrite(&mut self, records: Vec<(u64, Vec<u8>)>) {
        self.rewritten = records;
    }

    /// The log's own records of `commit` (the log chain `chained` at its
    /// position; `digests` its events' payload digests, as its hash covers
    /// them): the commit, appended to the log's files and taken by the
    /// log's index once durable, and the chain's hash and the digests in
    /// sled. The read models are the projector's. Gives the commit's
    /// encoded size.
    pub(super) fn put_commit(
        &mut self,
        commit: &Commit,
        chained: &Hash,
        digests: &[Hash],
    ) -> usize {
        let entry = IndexEntry {
            position: commit.global_position,
            article: commit.article_id,
            version: commit.version,
            command: commit.command_id,
        };
        let encoded = encode_commit(commit);
        let size = encoded.len();
        self.put_log_entry(entry, encoded);
        self.put_chain(commit.global_position, chained);
        self.put_digests(commit.global_position, digests);
        size
    }

    /// The payload digests of the commit at `position`: one `digests`
    /// record a run of positions, as `put_chain` keeps the chain's hashes
    /// (`keys::payload_digests_in`).
    pub(super) fn put_digests(&mut self, position: u64, digests: &[Hash]) {
        let first = match &mut self.digests_run {
            Some((first, next)) if *next == position => *first,
            run => run.insert((position, position)).0,
        };
        self.digests_run = Some((first, position + 1));
        let record = self.run_record(position_key(Space::Digests, first), first == position);
        super::keys::encode_payload_digests(digests, record);
    }

    /// The value of the run's record `key`, to extend in place: new when
    /// the run `starts`.
    fn run_record(&mut self, key: Vec<u8>, starts: bool) -> &mut Vec<u8> {
        let value = self.pending.entry(key).or_insert_with(|| Some(Vec::new()));
        if starts {
            *value = Some(Vec::new());
        }
        value.get_or_insert_with(Vec::new)
    }

    /// Appends a commit (`entry` says where and what), encoded, after the
    /// batch's last.
    pub(super) fn put_log_entry(&mut self, entry: IndexEntry, commit: Vec<u8>) {
        self.commits.push((entry.position, commit));
        self.positions
            .insert((entry.article, entry.version), entry.position);
        self.entries.push(entry);
    }

    /// What the log's index takes of the batch's commits once they are
    /// durable.
    pub(super) fn index_entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub(super) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    /// The log chain's hash at `position`. A batch's positions follow one
    /// another, and their hashes go into one `chain` record keyed by the
    /// first of them (`keys::chain_hash_in`): one sled key a batch, not
    /// one a commit. A position that does not follow the run starts a new
    /// record.
    pub(super) fn put_chain(&mut self, position: u64, hash: &[u8; 32]) {
        let first = match &mut self.chain_run {
            Some((first, next)) if *next == position => *first,
            run => run.insert((position, position)).0,
        };
        self.chain_run = Some((first, position + 1));
        let record = self.run_record(position_key(Space::Chain, first), first == position);
        record.extend_from_slice(hash);
    }

    /// The commits the batch appends, by position: what the log's files
    /// take.
    pub(super) fn log_records(&self) -> Vec<(u64, &[u8])> {
        self.commits
            .iter()
            .map(|(position, bytes)| (*position, bytes.as_slice()))
            .collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.commits.is_empty()
    }

    /// The sled keys the batch writes (inserted or removed), and the
    /// bytes of those keys and of the values inserted.
    pub(super) fn size(&self) -> (u64, u64) {
        let bytes = self
            .pending
            .iter()
            .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
            .sum();
        (self.pending.len() as u64, bytes)
    }

    /// The read-model keys the batch writes.
    pub(super) fn written_read_models(&self) -> Vec<Vec<u8>> {
        let read_models: Vec<u8> = Space::READ_MODELS.iter().map(|s| s.prefix()).collect();
        self.pending
            .iter()
            .filter(|(key, value)| {
                value.is_some() && key.first().is_some_and(|p| read_models.contains(p))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The batch's writes, for the applier (`applier.rs`).
    pub(super) fn into_writes(self) -> Writes {
        self.pending
    }

    pub(super) fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        let (mut keys, mut bytes) = (0, 0);
        for (key, value) in self.pending {
            match value {
                Some(value) => {
                    keys += 1;
                    bytes += (key.len() + value.len()) as u64;
                    batch.insert(key, value);
                }
                None => batch.remove(key),
            }
        }
        self.stats.count_written(keys, bytes);
        batch
    }
}
