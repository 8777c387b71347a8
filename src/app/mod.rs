//! The application: the command pipeline (load, decide, append) and the
//! queries, over the store and the read models.
//!
//! Knows the domain, the store, the projection, the JetStream log (which it
//! opens for a replica), the signing keys and the metrics; knows nothing of
//! tonic or the API messages.

mod audit;
mod background;
mod digest;
mod error;
mod follow;
mod followers;
mod import;
mod read;
mod rebuild;
mod receipt;
mod redact;
mod restore;
mod stream_view;
mod suggestions;
mod tree;
mod verify;
mod witnessing;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

/// What a write did: the article, its version and position, and whether it
/// was a retry of one already made. (The log's own answer, passed on.)
pub(crate) use crate::domain::Appended;
pub(crate) use audit::{CommitFilter, CommitView};
pub(crate) use digest::{BackupManifest, LogDigest};
pub(crate) use error::AppError;
pub(crate) use follow::{StreamBatch, StreamFilter, StreamItem};
use followers::Followers;
pub(crate) use import::Import;
pub(crate) use read::{ArticleRef, AsOf};
pub(crate) use redact::Redaction;
pub use restore::{ReplicaRestored, Restored};
pub(crate) use stream_view::{StoredView, StreamView};
pub(crate) use suggestions::Resolve;
pub use tree::TreeOptions;
pub(crate) use verify::ChainBreak;
pub use witnessing::WitnessPolicy;
pub(crate) use write::{Write, WriteMeta};

use crate::domain::Limits;
use crate::jetstream::{JetStreamLog, JetStreamOptions, JoinError};
use crate::log::{Log, StoreError, StreamBreak};
use crate::metrics::{Levels, Metrics};
use crate::projection::{self, Projection, StateCache, SNAPSHOT_INTERVAL_KEY};
use crate::request_key::RequestKey;
use crate::signing::KeyRing;
use crate::store::{Compacted, ReadModels, Record, SledStore, Space, StoreOptions};

/// How often a replica's store flushes the stream commits it applied.
const REPLICA_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

/// What the application needs to know from the configuration.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub limits: Limits,
    /// Every write must carry a reason (the edit summary auditors read).
    pub require_reason: bool,
    /// Snapshot every K versions (recorded in `meta`; changed by a rebuild).
    pub snapshot_interval: u64,
    /// Whether `snapshot_interval` was configured rather than defaulted: a
    /// store made with another K is only worth a warning then.
    pub snapshot_interval_chosen: bool,
    pub store: StoreOptions,
    /// A file with the Ed25519 secret key that signs digests; none: a key
    /// is generated into the data directory on first start.
    pub signing_key: Option<std::path::PathBuf>,
    /// A file with the secret request hashes are keyed with; none:
    /// `DATA_DIR/request-key`, or a JetStream replica's bucket's
    /// (`crate::request_key`).
    pub request_key: Option<std::path::PathBuf>,
    /// The bound of the articles' current states held in memory, in bytes.
    pub state_cache_bytes: u64,
    /// The Merkle tree's checkpoints: their origin and how often.
    pub tree: TreeOptions,
    /// The witnesses that cosign checkpoints, and how many must.
    pub witnesses: WitnessPolicy,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            require_reason: true,
            snapshot_interval: projection::DEFAULT_SNAPSHOT_INTERVAL,
            snapshot_interval_chosen: false,
            store: StoreOptions::default(),
            signing_key: None,
            request_key: None,
            state_cache_bytes: projection::DEFAULT_STATE_CACHE_BYTES,
            tree: TreeOptions::default(),
            witnesses: WitnessPolicy::default(),
        }
    }
}

/// The meta key of what the store records of its request key
/// (`RequestKey::id`), to warn when the key changed under it.
const REQUEST_KEY_ID: &str = "request_key_id";

pub struct App {
    /// How often a follower fell out of the live feed and went back to the log.
    stream_lags: std::sync::atomic::AtomicU64,
    /// Set while an online rebuild runs: one at a time.
    rebuilding: std::sync::atomic::AtomicBool,
    /// Set when the server stops: every follower's stream then ends, so
    /// that the drain does not wait on subscribers that never hang up.
    stopping: tokio::sync::watch::Sender<bool>,
    store: Arc<SledStore>,
    /// Where appends go: the store itself, or the replicated log that
    /// feeds it.
    log: Arc<dyn Log>,
    keys: Arc<KeyRing>,
    /// The secret request hashes are keyed with (`crate::request_key`).
    request_key: RequestKey,
    /// The log's Merkle tree and checkpoints, grown off the write path.
    tree: tree::Tree,
    /// Witnesses' cosignatures of its checkpoints, gathered off the write
    /// path.
    witnessing: witnessing::Witnessing,
    /// The announcements of the signing key's rotations, oldest first.
    key_rotations: Vec<Vec<u8>>,
    read_models: ReadModels,
    /// The articles' current states, as the writer publishes them.
    states: Arc<StateCache>,
    limits: Limits,
    require_reason: bool,
    snapshot_interval: u64,
    metrics: Arc<Metrics>,
    /// The StreamEvents followers connected now, for the metrics.
    followers: Arc<Followers>,
}

impl App {
    /// Opens the store in `dir`, catches the read models up with the log
    /// (only past their checkpoint) and starts the writer.
    pub fn open(dir: &Path, options: AppOptions) -> Result<Self, OpenError> {
        Self::open_store(dir, options, false)
    }

    /// Opens the store in `dir` (a replica's when `replica`: a replica's
    /// directory is refused otherwise), rebuilds read models of another
    /// format, and starts the writer.
    fn open_store(dir: &Path, options: AppOptions, replica: bool) -> Result<Self, OpenError> {
        let metrics = options
            .store
            .metrics
            .clone()
            .unwrap_or_else(|| Arc::new(Metrics::new()));
        let store = SledStore::open(
            dir,
            StoreOptions {
                metrics: Some(Arc::clone(&metrics)),
                ..options.store.clone()
            },
        )?;
        if !replica {
            if let Some(stream) = store.meta(crate::jetstream::REPLICA_OF)? {
                return Err(OpenError::Replica(
                    String::from_utf8_lossy(&stream).into_owned(),
                ));
            }
        }
        let keys = Arc::new(KeyRing::open(dir, options.signing_key.as_deref())?);
        // A replica without a given key takes the log's bucket's when it
        // joins (`open_replica`); this one stands in until then.
        let request_key = match (&options.request_key, replica) {
            (Some(path), false) => RequestKey::given(path, dir),
            (Some(path), true) => RequestKey::read(path),
            (None, false) => RequestKey::in_data_dir(dir),
            (None, true) => RequestKey::random(),
        }
        .map_err(OpenError::RequestKey)?;
        if !replica {
            match store.meta(REQUEST_KEY_ID)? {
                Some(id) if id.as_slice() == request_key.id() => {}
                Some(_) => tracing::warn!(
                    "this store's request hashes were keyed with another request key (DATA_DIR/request-key was replaced or lost): retries of commands made before are refused as reuses of their command ids"
                ),
                None => {}
            }
            store.set_meta(REQUEST_KEY_ID, &request_key.id())?;
        }
        let k = match store.meta(SNAPSHOT_INTERVAL_KEY)? {
            Some(bytes) => decode_u64(&bytes)?,
            None => {
                store.set_meta(
                    SNAPSHOT_INTERVAL_KEY,
                    &options.snapshot_interval.to_be_bytes(),
                )?;
                options.snapshot_interval
            }
        };
        if k != options.snapshot_interval && options.snapshot_interval_chosen {
            tracing::warn!(
                stored = k,
                configured = options.snapshot_interval,
                "the store keeps the snapshot interval it was made with until `answerlog rebuild --snapshot-interval`"
            );
        }
        let format = store
            .meta(projection::FORMAT_KEY)?
            .map(|bytes| decode_u64(&bytes))
            .transpose()?;
        if format != Some(projection::FORMAT) {
            if store.last_position() > 0 {
                tracing::warn!(
                    stored = format.unwrap_or(1),
                    current = projection::FORMAT,
                    "the read models were written in another format: rebuilding them from the log"
                );
            }
            rebuild_read_models(&store, k)?;
        }
        let states = Arc::new(StateCache::new(options.state_cache_bytes));
        let store = store.start(Arc::new(Projection::with_states(k, Arc::clone(&states))))?;
        let tree = tree::Tree::start(
            dir,
            Arc::clone(&store),
            Arc::clone(&states),
            Arc::clone(&keys),
            &options.tree,
        )
        .map_err(|e| OpenError::Tree(e.to_string()))?;
        let witnessing = witnessing::Witnessing::start(
            &options.witnesses,
            tree.signed_checkpoints(),
            tree.nodes().clone(),
            Arc::clone(&metrics),
        )
        .map_err(|e| OpenError::Tree(e.to_string()))?;
        let key_rotations = crate::key_rotation::announcements(dir)
            .map_err(|e| OpenError::Tree(format!("the key rotations' announcements: {e}")))?;
        Ok(Self {
            tree,
            witnessing,
            key_rotations,
            rebuilding: std::sync::atomic::AtomicBool::new(false),
            stream_lags: std::sync::atomic::AtomicU64::new(0),
            stopping: tokio::sync::watch::channel(false).0,
            read_models: store.read_models(),
            states,
            log: Arc::clone(&store) as Arc<dyn Log>,
            store,
            keys,
            request_key,
            limits: options.limits,
            require_reason: options.require_reason,
            snapshot_interval: k,
            metrics,
            followers: Arc::default(),
        })
    }

    /// Opens a replica: the store in `dir` keeps its read models and a copy
    /// of the log, fed from the JetStream stream from its checkpoint on;
    /// appends go to the stream.
    pub async fn open_replica(
        dir: &Path,
        options: AppOptions,
        jetstream: &JetStreamOptions,
    ) -> Result<Self, OpenError> {
        // The stream is the durable copy: the local store need not flush
        // each batch it applies (a crash re-applies from its checkpoint).
        let options = AppOptions {
            store: StoreOptions {
                replica_flush: Some(REPLICA_FLUSH),
                ..options.store
            },
            ..options
        };
        let given = options.request_key.is_some();
        let kept = dir.join(crate::request_key::FILE);
        let mut app = Self::open_store(dir, options, true)?;
        let was_kept = kept.exists();
        if was_kept {
            let copy = RequestKey::read(&kept).map_err(OpenError::RequestKey)?;
            if given && copy.bytes() != app.request_key.bytes() {
                return Err(OpenError::RequestKey(format!(
                    "{} keeps another request key than --request-key gives: a replica keys request hashes with its log's key (give none, or the log's)",
                    kept.display()
                )));
            }
            app.request_key = copy;
        }
        // A key given or kept must be the bucket's: a replica never keys
        // hashes differently from the others.
        let log = JetStreamLog::join(
            Arc::clone(&app.store),
            jetstream,
            &app.request_key,
            given || was_kept,
        )
        .await?;
        app.request_key = log.request_key().clone();
        if !was_kept {
            // A copy in the data directory, which an operator can carry to
            // a restore of this log's backup.
            app.request_key
                .keep_in(dir)
                .map_err(OpenError::RequestKey)?;
        }
        app.log = Arc::new(log);
        Ok(app)
    }

    /// Where the replicated log stopped being valid, if it did.
    pub fn stream_break(&self) -> Option<StreamBreak> {
        self.log.stream_break()
    }

    /// The server's metrics, in Prometheus' text format, with the levels
    /// (queue, disk, followers) read now.
    pub fn metrics_text(&self) -> Result<String, std::fmt::Error> {
        let (subscribers, max_subscriber_lag) = self.followers.levels(self.durable());
        let (tree_leaves, checkpoint_size, checkpoint_refused) = self.tree.levels();
        self.metrics.encode(Levels {
            queue_depth: self.store.queued() as u64,
            disk_bytes: self.store.bytes_on_disk(),
            subscribers,
            max_subscriber_lag,
            tree_leaves,
            checkpoint_size,
            checkpoint_refused,
        })
    }

    pub(crate) fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Replays the whole log into the read models in `dir`, offline,
    /// replacing what they held.
    /// Snapshots are made every `snapshot_interval` versions if given, else
    /// with the interval the store records (so that the result is
    /// byte-identical to what was written inline). Returns what it
    /// replayed and wrote.
    /// Compacts the store in `dir` offline (`answerlog compact`): sled's
    /// live keys copied into new files, which take the old ones' place, so
    /// that values sled kept for overwritten keys (a redacted article's old
    /// states: docs/AUDIT.md, "Redaction") leave the data directory.
    pub(crate) fn compact(dir: &Path, options: &AppOptions) -> Result<Compacted, StoreError> {
        crate::store::compact(dir, options.store.cache_bytes)
    }

    pub fn rebuild(
        dir: &Path,
        options: &AppOptions,
        snapshot_interval: Option<u64>,
    ) -> Result<Rebuilt, StoreError> {
        Self::rebuild_showing(dir, options, snapshot_interval, &|_, _| {})
    }

    /// As [`App::rebuild`], telling `progress` the commits replayed and
    /// the log's length, a few times a second.
    pub fn rebuild_showing(
        dir: &Path,
        options: &AppOptions,
        snapshot_interval: Option<u64>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Rebuilt, StoreError> {
        let store = SledStore::open(dir, options.store.clone())?;
        let stored = store
            .meta(SNAPSHOT_INTERVAL_KEY)?
            .map(|bytes| decode_u64(&bytes))
            .transpose()?;
        let k = snapshot_interval
            .or(stored)
            .unwrap_or(options.snapshot_interval);
        store.set_meta(SNAPSHOT_INTERVAL_KEY, &k.to_be_bytes())?;
        let total = store.last_position();
        /// Tells the progress thread to stop when dropped: when the
        /// rebuild returns, and when it panics too.
        struct Finished<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        let finished = std::sync::atomic::AtomicBool::new(false);
        let commits = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !finished.load(std::sync::atomic::Ordering::Acquire) {
                    progress(store.stats().commits_replayed(), total);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let _finished = Finished(&finished);
            rebuild_read_models(&store, k)
        })?;
        progress(commits, total);
        Ok(Rebuilt {
            commits,
            keys_written: store.stats().written_keys(),
            bytes_written: store.stats().written_bytes(),
            log_bytes: store.stats().log_bytes_replayed(),
        })
    }

    /// Every record of the read models and `meta` in `dir`, keyspace by
    /// keyspace, offline: for checking that a rebuild is byte-identical.
    pub fn dump_read_models(dir: &Path) -> Result<Vec<(String, Vec<Record>)>, StoreError> {
        let store = SledStore::open(dir, StoreOptions::default())?;
        // As a start would serve them: caught up with what the log's
        // files gave back (`store::log_files`).
        let k = store
            .meta(SNAPSHOT_INTERVAL_KEY)?
            .map(|bytes| decode_u64(&bytes))
            .transpose()?
            .unwrap_or(AppOptions::default().snapshot_interval);
        store.catch_up(&Projection::new(k))?;
        let read_models = store.read_models();
        let mut dump = Vec::new();
        for space in Space::READ_MODELS.into_iter().chain([Space::Meta]) {
            dump.push((space.name().to_owned(), read_models.dump(space)?));
        }
        Ok(dump)
    }

    pub fn snapshot_interval(&self) -> u64 {
        self.snapshot_interval
    }

    /// The bound, in bytes, of the articles' current states kept in memory
    /// (`state_cache_bytes`).
    pub(crate) fn state_cache_bytes(&self) -> u64 {
        self.states.capacity_bytes()
    }

    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// How often an event stream fell out of the live feed and caught up
    /// from the log.
    pub fn stream_lags(&self) -> u64 {
        self.stream_lags.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes to true when the server starts draining.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Whether the server is draining.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Ends every event stream (the server is draining).
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// Stops the tree's thread, then the writer after it has flushed what
    /// it holds. Blocks.
    pub fn shutdown(&self) {
        self.witnessing.stop();
        self.tree.stop();
        self.store.shutdown();
    }
}

/// What an offline rebuild did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// Commits replayed.
    pub commits: u64,
    /// Keys, and bytes of keys and values, it wrote to the read models.
    pub keys_written: u64,
    pub bytes_written: u64,
    /// Bytes of the stored commits it replayed.
    pub log_bytes: u64,
}

/// Why the app could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::signing::SigningError),
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error("this data directory holds a replica of JetStream {0}: start it with --log nats://… (the embedded log would serve it as its own)")]
    Replica(String),
    #[error(transparent)]
    Restore(#[from] crate::jetstream::RestoreError),
    #[error("{0}")]
    Restored(String),
    #[error("{0}")]
    Tree(String),
    #[error("{0}")]
    RequestKey(String),
}

/// Replays the whole log into the read models (offline), then records
/// that they have today's format. Returns the commits replayed. The format
/// goes first: a version that does not know the rebuild's mark, opening a
/// store whose rebuild was stopped, rebuilds it too rather than trusting
/// read models half replaced.
fn rebuild_read_models(store: &SledStore, snapshot_interval: u64) -> Result<u64, StoreError> {
    store.remove_meta(projection::FORMAT_KEY)?;
    let commits = store.rebuild(&Projection::new(snapshot_interval))?;
    store.set_meta(projection::FORMAT_KEY, &projection::FORMAT.to_be_bytes())?;
    Ok(commits)
}

fn decode_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("a meta value is corrupt".into()))
}
