//! The embedded log: sled in a local data directory.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::applier::{Applier, ApplierHandle, Shared};
use super::catch_up::{catch_up, replay_into, REPLAY_CHUNK};
use super::crowding::Crowding;
use super::disk::Disk;
use super::faults::Faults;
use super::flush_gate::FlushGate;
use super::fresh_commits::FreshCommits;
use super::health::Health;
use super::job::Job;
use super::keys::{
    chain_hash_in, digests_of, key_suffix_u64, meta_key, payload_digests_in, position_key,
    read_model_prefixes, u64_at, Keys, Space, CHECKPOINT, REBUILDING,
};
use super::lock;
use super::log_files::LogFiles;
use super::log_index::LogIndex;
use super::stats::Stats;
use super::stream_commit::{IngestError, StreamCommit};
use super::view::BatchView;
use super::writer::Writer;
use super::writer_state::{completed_state, stored_state, WriterState};
use super::StoreError;
use crate::codec::{decode_commit, decode_commit_events, CodecError};
use crate::domain::{ArticleId, CommandId, Commit, CommitEvents, Hash, Suggestion, ZERO_HASH};
use crate::log::{
    AppendError, AppendRequest, Appended, BoxFuture, CommandEntry, Log, Notice, PendingAppend,
    StreamEntry,
};
use crate::projection::{Projector, Settled};

/// The meta key set while a restore writes a backup into the store.
const RESTORING: &str = "restoring";

/// How often sled flushes what the batches applied, on the embedded log:
/// the log's files hold what it has not, and it is derived again from
/// them after a crash.
const SLED_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

/// How far behind the head an online rebuild may be when it hands the rest
/// to the writer, which applies it in its switching batch.
const SWITCH_GAP: u64 = 512;

/// How long the old generation stays after a switch, for reads begun on it.
const DROP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Where an online rebuild stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RebuildProgress {
    pub(crate) phase: &'static str,
    pub(crate) done: u64,
    pub(crate) total: u64,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// The most jobs one batch takes.
    pub batch_limit: usize,
    /// The bounded queue before the writer.
    pub queue_depth: usize,
    /// The most article heads kept in memory.
    pub head_cache: usize,
    /// A gate before each flush, for tests that hold it.
    pub flush_gate: Option<Arc<FlushGate>>,
    /// A gate before the applier writes each durable batch into sled, for
    /// tests that hold the read models still.
    pub apply_gate: Option<Arc<FlushGate>>,
    /// The most durable batches the applier may lag behind the log
    /// before the writer waits for it (embedded log).
    pub apply_lag: usize,
    /// Storage faults on purpose, for tests that make writes fail.
    pub faults: Option<Arc<Faults>>,
    /// How many flushed batches the live feed holds for a slow follower
    /// before it must go back to the log.
    pub live_buffer: usize,
    /// Where the writer reports its batches, flushes and appends.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// A replica's store, fed by a replicated log that is the durable
    /// copy: batches of applied stream commits are flushed at most this
    /// often rather than each (a crash re-applies from the last flushed
    /// checkpoint). None: every batch is flushed.
    pub replica_flush: Option<std::time::Duration>,
    /// The clock this process stamps commits with.
    pub clock: crate::log::Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 256 * 1024 * 1024,
            batch_limit: 512,
            queue_depth: 4096,
            head_cache: 100_000,
            flush_gate: None,
            apply_gate: None,
            apply_lag: 8,
            faults: None,
            live_buffer: 1024,
            metrics: None,
            replica_flush: None,
            clock: crate::log::Clock::default(),
        }
    }
}

/// An opened store. Reading and writing `meta`, rebuilding and starting
/// the writer are done from here.
pub struct SledStore {
    /// The database, reopened by the writer after a storage failure.
    disk: Arc<Disk>,
    stats: Arc<Stats>,
    /// The generation of the read models that readers and the writer use;
    /// swapped when an online rebuild switches to a new one.
    generation: Arc<AtomicU8>,
    options: StoreOptions,
    state: WriterState,
    /// The log's clock lag as of the durable position (`WriterState`),
    /// shared with the writer, which raises it.
    clock_lag: Arc<AtomicI64>,
    /// The log's files (`log_files.rs`): the writer appends to them,
    /// readers read commits from them.
    log: Arc<LogFiles>,
    /// Where the log's commits stand, by article and version and by
    /// command id (`log_index.rs`).
    index: Arc<LogIndex>,
    /// The commits the writer made durable lately, until the Merkle
    /// tree's thread takes them (`take_commits`).
    fresh: Arc<FreshCommits>,
    running: Option<Running>,
}

struct Running {
    /// The writer's queue. Dropping it (at shutdown) ends the writer.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer's state: locked by its thread for each batch, or by a
    /// caller that finds it idle (`SledStore::lead`).
    writer_state: Arc<Mutex<Writer>>,
    /// 1 while the writer's thread holds a job it took and waits for a
    /// leading caller to free the lock (`Writer::run`).
    waiting: Arc<AtomicUsize>,
    /// The appends whose callers wait (`Log::append`), in flight now.
    appending: Arc<AtomicUsize>,
    /// Whether they have come one at a time lately (`lead`).
    crowding: Crowding,
    durable: watch::Receiver<u64>,
    /// The last position answered to a writer (`Writer::acknowledged`).
    acknowledged: Arc<AtomicU64>,
    /// Whether writes are failing, and the writer's reopens: a wait for a
    /// position that a failed batch had taken must not wait for it.
    health: watch::Receiver<Health>,
    suggestions_durable: Arc<AtomicU64>,
    notices: broadcast::Sender<Arc<[Notice]>>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Reads `meta`, and of the log
    /// only what sled had not taken in when it stopped (a crash).
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let disk = Disk::open(dir, options.cache_bytes)?;
        repair_torn_batch(&disk)?;
        if disk.tree()?.get(meta_key(RESTORING))?.is_some() {
            return Err(StoreError::Corrupt(format!(
                "a restore into {} did not finish: remove the directory and restore again",
                dir.display()
            )));
        }
        super::log_migration::migrate(&disk)?;
        let (state, generation, held) = stored_state(&disk.tree()?)?;
        let log = Arc::new(LogFiles::open(dir, state.last_position)?);
        // A redaction a crash interrupted is done before anything reads
        // the log (docs/RELIABILITY.md).
        super::redaction_intent::complete(dir, &log)?;
        let index = Arc::new(LogIndex::open(dir, &log)?);
        let state = completed_state(state, held, &log, &index)?;
        let stats = Arc::new(Stats::default());
        let state = super::restore::replay_log(&disk, &log, &index, &stats, state)
            .map_err(|e| torn_at_open(&disk, &state, e))?;
        let reopened = super::resolutions::forget_unacknowledged(&disk, state.last_suggestion)
            .map_err(|e| torn_at_open(&disk, &state, e))?;
        if reopened > 0 {
            tracing::warn!(
                reopened,
                "suggestions whose resolution was never acknowledged are open again"
            );
        }
        Ok(Self {
            log,
            index,
            disk: Arc::new(disk),
            stats,
            generation: Arc::new(AtomicU8::new(generation)),
            options,
            clock_lag: Arc::new(AtomicI64::new(state.clock_lag)),
            state,
            fresh: Arc::default(),
            running: None,
        })
    }

    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.disk.tree()?.get(meta_key(name))?.map(|v| v.to_vec()))
    }

    /// Writes a meta value durably. Only before `start` or offline.
    pub fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let tree = self.disk.tree()?;
        tree.insert(meta_key(name), value)?;
        self.disk.flush(&tree)?;
        Ok(())
    }

    /// Removes a meta value durably. Only before `start` or offline.
    pub fn remove_meta(&self, name: &str) -> Result<(), StoreError> {
        let tree = self.disk.tree()?;
        tree.remove(meta_key(name))?;
        self.disk.flush(&tree)?;
        Ok(())
    }

    /// Arms the torn-batch mark with a writer state read from `meta`, as
    /// the writer does when sled fails in the middle of a batch.
    #[cfg(test)]
    pub(crate) fn arm_torn_mark(&self, writer_state: &[u8]) {
        let (state, _) = WriterState::decode(writer_state).unwrap();
        self.disk.torn().arm(&state).unwrap();
    }

    /// The writer state the torn-batch mark is armed with, encoded, if it
    /// is armed.
    #[cfg(test)]
    pub(crate) fn torn_mark(&self) -> Option<Vec<u8>> {
        self.disk
            .torn()
            .armed()
            .unwrap()
            .map(|state| state.encode())
    }

    /// Writes a record as it is, as an older version may have left it.
    #[cfg(test)]
    pub(crate) fn insert_raw(&self, key: &[u8], value: &[u8]) {
        let tree = self.disk.tree().unwrap();
        tree.insert(key, value).unwrap();
        self.disk.flush(&tree).unwrap();
    }

    /// Removes every record of `space`, as a store an older version wrote
    /// may lack one.
    #[cfg(test)]
    pub(crate) fn remove_space_raw(&self, space: Space) {
        let tree = self.disk.tree().unwrap();
        for item in tree.scan_prefix([space.prefix()]) {
            tree.remove(item.unwrap().0).unwrap();
        }
        self.disk.flush(&tree).unwrap();
    }

    /// How many records start with `prefix`.
    #[cfg(test)]
    pub(crate) fn count_raw(&self, prefix: &[u8]) -> usize {
        self.disk.tree().unwrap().scan_prefix(prefix).count()
    }

    pub fn last_position(&self) -> u64 {
        self.state.last_position
    }

    /// The read models' checkpoint: the last log position applied to them.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta(CHECKPOINT)?
            .and_then(|v| u64_at(&v, 0))
            .unwrap_or(0))
    }

    /// Writes a backed-up log and its suggested questions into this empty
    /// store (`restore.rs`): what `commits()` and `suggestions()` give is
    /// all checked first, then written; the read models are still to be
    /// built (`rebuild`). Returns the number of commits and of suggestions.
    pub fn restore_log<I, J>(
        &mut self,
        commits: impl Fn() -> I,
        suggestions: impl Fn() -> J,
    ) -> Result<(u64, u64), StoreError>
    where
        I: IntoIterator<Item = Result<Commit, String>>,
        J: IntoIterator<Item = Result<Suggestion, String>>,
    {
        super::restore::check_log(commits())?;
        super::restore::check_suggestions(suggestions())?;
        // Until the last write, the directory holds a part of the backup
        // that would open as a store of its own: the mark refuses it.
        self.set_meta(RESTORING, &[1])?;
        let state = super::restore::restore_log(
            &self.disk,
            &self.log,
            &self.index,
            &self.stats,
            commits(),
        )?;
        self.state = super::restore::restore_suggestions(&self.disk, state, suggestions())?;
        self.remove_meta(RESTORING)?;
        self.clock_lag
            .fetch_max(self.state.clock_lag, Ordering::AcqRel);
        Ok((self.state.last_position, self.state.last_suggestion))
    }

    /// The log chain's hash at the last position.
    pub fn last_log_hash(&self) -> Hash {
        self.state.last_log_hash
    }

    /// Replays the whole log through `projector` into the read models,
    /// over the ones there. It writes every key the fold makes in place
    /// and then removes the keys it did not make, rather than removing
    /// every key first: in sled a removal costs what a write does, and
    /// most keys are made again. While it runs a mark says so
    /// (`REBUILDING`): reads see only the keys it has written, and a
    /// catch-up that finds the mark starts over.
    pub(crate) fn rebuild(&self, projector: &dyn Projector) -> Result<u64, StoreError> {
        let tree = self.disk.tree()?;
        let mut batch = sled::Batch::default();
        batch.insert(meta_key(CHECKPOINT), 0u64.to_be_bytes().to_vec());
        batch.insert(meta_key(REBUILDING), vec![1]);
        tree.apply_batch(batch)?;
        // Offline, nothing reads other generations: drop what an online
        // rebuild that crashed may have left.
        let keys = self.keys();
        for generation in (0..=u8::MAX).filter(|g| *g != keys.generation) {
            self.drop_generation(generation)?;
        }
        self.disk.flush(&tree)?;
        drop(tree);
        let applied = catch_up(
            &self.disk,
            &self.log,
            &self.index,
            &self.stats,
            keys,
            projector,
            self.state.last_position,
            false,
        )?;
        self.disk.snapshot_for_next_open();
        Ok(applied)
    }

    /// Builds a new generation of the read models from the log while the
    /// writer goes on, then has the writer finish it and switch to it in one
    /// flushed batch; finally drops the old generation. Blocks: run it on a
    /// blocking thread. `throttle` caps the commits replayed per second (0:
    /// no cap), so that the rebuild does not starve the writer. `progress`
    /// hears of each step; when it returns false the rebuild stops (the
    /// partial generation is unused and cleared by the next rebuild).
    pub(crate) fn rebuild_online(
        &self,
        projector: &dyn Projector,
        throttle: u64,
        progress: &mut dyn FnMut(RebuildProgress) -> bool,
    ) -> Result<u8, StoreError> {
        let old = self.keys().generation;
        let new = old.wrapping_add(1);
        let cancelled = || StoreError::Closed("the rebuild was cancelled".into());
        // Whatever an earlier rebuild left of other generations goes first.
        for generation in (0..=u8::MAX).filter(|g| *g != old) {
            self.drop_generation(generation)?;
        }
        let started = std::time::Instant::now();
        let mut done = 0u64;
        loop {
            let head = self.durable_now();
            // Close enough: the writer applies the rest as it switches.
            if head.saturating_sub(done) <= SWITCH_GAP {
                break;
            }
            let end = head.min(done + REPLAY_CHUNK as u64);
            let tree = self.disk.tree()?;
            let mut view = BatchView::new(
                &tree,
                &self.log,
                &self.index,
                &self.stats,
                Keys { generation: new },
            );
            replay_into(&mut view, &self.log, &self.stats, projector, done + 1, end)?;
            tree.apply_batch(view.into_batch())?;
            projector.settle(Settled::Written);
            drop(tree);
            done = end;
            if !progress(RebuildProgress {
                phase: "replaying",
                done,
                total: self.durable_now(),
            }) {
                return Err(cancelled());
            }
            if throttle > 0 {
                let due = std::time::Duration::from_secs_f64(done as f64 / throttle as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let (reply, answer) = oneshot::channel();
        let sender = self
            .running
            .as_ref()
            .and_then(|r| lock(&r.jobs).clone())
            .ok_or_else(|| StoreError::Closed("the server is shutting down".into()))?;
        sender
            .blocking_send(Job::Switch {
                generation: new,
                from: done + 1,
                reply,
            })
            .map_err(|_| StoreError::Closed("the writer stopped".into()))?;
        let applied = answer
            .blocking_recv()
            .map_err(|_| StoreError::Closed("the writer stopped".into()))??;
        done += applied;
        progress(RebuildProgress {
            phase: "switched",
            done,
            total: done,
        });
        // A reader that took the old generation's keys just before the
        // switch finishes on them first (queries take milliseconds).
        std::thread::sleep(DROP_GRACE);
        self.drop_generation(old)?;
        Ok(new)
    }

    /// Removes every read-model record of `generation`, a chunk at a time.
    fn drop_generation(&self, generation: u8) -> Result<(), StoreError> {
        for prefix in read_model_prefixes(generation) {
            loop {
                let tree = self.disk.tree()?;
                let mut batch = sled::Batch::default();
                let mut n = 0;
                for item in tree.scan_prefix(&prefix).take(10_000) {
                    let (k, _) = item?;
                    batch.remove(k);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                tree.apply_batch(batch)?;
            }
        }
        Ok(())
    }

    /// Applies the log past the checkpoint, if any, to the read models.
    /// Returns how many commits it applied.
    pub(crate) fn catch_up(&self, projector: &dyn Projector) -> Result<u64, StoreError> {
        catch_up(
            &self.disk,
            &self.log,
            &self.index,
            &self.stats,
            self.keys(),
            projector,
            self.state.last_position,
            true,
        )
    }

    /// Catches the read models up, then starts the writer thread.
    pub(crate) fn start(mut self, projector: Arc<dyn Projector>) -> Result<Arc<Self>, StoreError> {
        let applied = self
            .catch_up(projector.as_ref())
            .map_err(|e| torn_at_open(&self.disk, &self.state, e))?;
        if applied > 0 {
            tracing::info!(applied, "read models caught up with the log");
        }
        if let Some(metrics) = &self.options.metrics {
            metrics.stored(self.state.last_position, self.state.articles);
        }
        let (tx, rx) = mpsc::channel(self.options.queue_depth.max(1));
        let (durable_tx, durable_rx) = watch::channel(self.state.last_position);
        let durable_tx = Arc::new(durable_tx);
        let (health_tx, health_rx) = watch::channel(Health::default());
        let health_tx = Arc::new(health_tx);
        let acknowledged = Arc::new(AtomicU64::new(self.state.last_position));
        let unapplied = Arc::new(std::sync::Mutex::new(Default::default()));
        let suggestions_durable = Arc::new(AtomicU64::new(self.state.last_suggestion));
        let (notices, _) = broadcast::channel(self.options.live_buffer.max(1));
        // The embedded log's durable batches go into sled off the writer's
        // path; a replica's writer applies its own.
        let applier = match self.options.replica_flush {
            None => Some(ApplierHandle::start(
                Applier {
                    disk: Arc::clone(&self.disk),
                    stats: Arc::clone(&self.stats),
                    shared: Arc::new(Shared::new(self.state)),
                    durable: Arc::clone(&durable_tx),
                    health: Arc::clone(&health_tx),
                    notices: notices.clone(),
                    faults: self.options.faults.clone(),
                    gate: self.options.apply_gate.clone(),
                    flush_every: SLED_FLUSH,
                    writer: tx.downgrade(),
                },
                self.options.apply_lag,
            )?),
            Some(_) => None,
        };
        let writer = Writer {
            disk: Arc::clone(&self.disk),
            projector,
            stats: Arc::clone(&self.stats),
            durable: durable_tx,
            acknowledged: Arc::clone(&acknowledged),
            health: health_tx,
            faults: self.options.faults.clone(),
            suggestions_durable: Arc::clone(&suggestions_durable),
            metrics: self.options.metrics.clone(),
            notices: notices.clone(),
            generation: Arc::clone(&self.generation),
            gate: self.options.flush_gate.clone(),
            batch_limit: self.options.batch_limit.max(1),
            head_cache_limit: self.options.head_cache,
            state: self.state,
            // The log's files make each batch durable; sled flushes now
            // and then.
            deferred_flush: Some(self.options.replica_flush.unwrap_or(SLED_FLUSH)),
            log: Arc::clone(&self.log),
            index: Arc::clone(&self.index),
            applier,
            unapplied: Arc::clone(&unapplied),
            flushed_state: self.state,
            unflushed_since: None,
            heads: Default::default(),
            clock: self.options.clock,
            clock_lag: Arc::clone(&self.clock_lag),
            failed: None,
            torn: false,
            fresh: Arc::clone(&self.fresh),
            fresh_in_batch: Vec::new(),
        };
        let writer = Arc::new(Mutex::new(writer));
        let shared = Arc::clone(&writer);
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        let appending = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::clone(&appending);
        let handle = std::thread::Builder::new()
            .name("answerlog-writer".into())
            .spawn(move || Writer::run(shared, rx, taken, &in_flight))
            .map_err(|e| StoreError::Io(format!("cannot start the writer thread: {e}")))?;
        self.running = Some(Running {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            writer_state: writer,
            waiting,
            appending,
            crowding: Crowding::new(),
            durable: durable_rx,
            acknowledged,
            health: health_rx,
            suggestions_durable,
            notices,
        });
        Ok(Arc::new(self))
    }

    /// Stops taking jobs, lets the writer finish what it has (and flush),
    /// and waits for it. Blocks: call it from a blocking context.
    pub fn shutdown(&self) {
        let Some(running) = &self.running else {
            return;
        };
        drop(lock(&running.jobs).take());
        if let Some(handle) = lock(&running.writer).take() {
            if handle.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
            self.disk.close();
        }
    }

    /// The live feed of durable commits. A receiver that falls more than
    /// `live_buffer` batches behind is told it lagged.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<[Notice]>> {
        match &self.running {
            Some(running) => running.notices.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Where the store's work is counted, if anywhere.
    pub(crate) fn metrics(&self) -> Option<Arc<crate::metrics::Metrics>> {
        self.options.metrics.clone()
    }

    /// The clock this process stamps commits with.
    pub(crate) fn clock(&self) -> crate::log::Clock {
        self.options.clock
    }

    /// The most a commit's recorded_at lies before an earlier position's,
    /// through (at least) the durable position: 0 while one clock wrote
    /// the log. Read it after the durable position.
    pub(crate) fn clock_lag(&self) -> i64 {
        self.clock_lag.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The bytes the store's files take on disk.
    pub fn bytes_on_disk(&self) -> u64 {
        super::disk::bytes_on_disk(self.disk.path())
    }

    /// Jobs waiting for the writer.
    pub fn queued(&self) -> usize {
        self.running
            .as_ref()
            .and_then(|r| {
                lock(&r.jobs)
                    .as_ref()
                    .map(|tx| tx.max_capacity() - tx.capacity() + r.waiting.load(Ordering::Acquire))
            })
            .unwrap_or(0)
    }

    /// The keys of the read-model generation in use.
    pub(crate) fn keys(&self) -> Keys {
        Keys {
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    pub fn read_models(&self) -> ReadModels {
        ReadModels {
            generation: Arc::clone(&self.generation),
            disk: Arc::clone(&self.disk),
            stats: Arc::clone(&self.stats),
            index: Arc::clone(&self.index),
        }
    }

    /// Records a suggested question durably; assigns its sequence.
    pub async fn suggest(&self, suggestion: Suggestion) -> Result<Suggestion, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Suggest { suggestion, reply }).await?;
        answer
            .await
            .map_err(|_| StoreError::Closed("the writer stopped".into()))?
    }

    /// Records a suggestion's resolution durably unless it was resolved
    /// before; the suggestion as it then stands.
    pub async fn resolve_suggestion(&self, resolved: Suggestion) -> Result<Suggestion, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Resolve { resolved, reply }).await?;
        answer
            .await
            .map_err(|_| StoreError::Closed("the writer stopped".into()))?
    }

    /// Applies commits that the replicated log ordered, in order; resolves
    /// with the last position applied once they are durable here.
    pub(crate) async fn ingest(&self, commits: Vec<StreamCommit>) -> Result<u64, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Ingest { commits, reply }).await?;
        answer
            .await
            .map_err(|_| StoreError::Closed("the writer stopped".into()))?
    }

    /// Asks the writer to flush what applied stream commits left
    /// unflushed (the stream went quiet); does not wait.
    pub(crate) fn flush_soon(&self) {
        if let Some(sender) = self.running.as_ref().and_then(|r| lock(&r.jobs).clone()) {
            let _ = sender.try_send(Job::Flush);
        }
    }

    /// The article's last durable stream entry; none before its creation.
    pub(crate) fn head_entry(&self, article: ArticleId) -> Result<Option<StreamEntry>, StoreError> {
        let head = self.index.head(&self.log, article, self.durable_now())?;
        Ok(head.map(StreamEntry::from))
    }

    /// The last suggestion sequence that is durable.
    pub fn suggestions_durable(&self) -> u64 {
        self.running
            .as_ref()
            .map_or(self.state.last_suggestion, |r| {
                r.suggestions_durable.load(Ordering::Acquire)
            })
    }

    /// Waits until every commit up to `position` is durable, or until the
    /// writer reopens the database after a storage failure (a batch that
    /// failed may have held `position`): callers look again then. While
    /// writes are failing, a position past the durable one is not waited
    /// for: that is a storage failure (UNAVAILABLE).
    /// Waits until the read models hold `position`, or until the applier
    /// fails (what it has not written waits for the reopen) or stops.
    /// Counts a wait for the read models to reach `position` among the
    /// metrics' waiting reads while it lasts, unless they are there.
    fn waiting_read(&self, position: u64) -> Option<crate::metrics::WaitingRead> {
        if *self.durable_position().borrow() >= position {
            return None;
        }
        self.options.metrics.as_ref().map(|m| m.read_waiting())
    }

    pub(crate) async fn wait_applied(&self, position: u64) {
        let _counted = self.waiting_read(position);
        let mut durable = self.durable_position();
        let mut health = self.health();
        loop {
            if *durable.borrow_and_update() >= position || health.borrow_and_update().applier_failed
            {
                return;
            }
            tokio::select! {
                changed = durable.changed() => if changed.is_err() { return },
                changed = health.changed() => if changed.is_err() { return },
            }
        }
    }

    pub async fn wait_durable(&self, position: u64) -> Result<(), StoreError> {
        let _counted = self.waiting_read(position);
        let mut durable = self.durable_position();
        let mut health = self.health();
        let seen = health.borrow_and_update().reopens;
        let stopped = || StoreError::Closed("the writer stopped".into());
        loop {
            if *durable.borrow_and_update() >= position {
                return Ok(());
            }
            let now = *health.borrow_and_update();
            if now.reopens != seen {
                return Ok(());
            }
            if now.failed {
                return Err(StoreError::Io(
                    "writes are failing; what is not yet durable waits for the disk".into(),
                ));
            }
            tokio::select! {
                changed = durable.changed() => changed.map_err(|_| stopped())?,
                changed = health.changed() => changed.map_err(|_| stopped())?,
            }
        }
    }

    /// The last position answered to a writer: durable (in the log's files),
    /// if not yet in the read models. A read waits for the durable
    /// position to reach it (read-your-writes).
    pub(crate) fn acknowledged(&self) -> u64 {
        self.running.as_ref().map_or(self.state.last_position, |r| {
            r.acknowledged.load(Ordering::Acquire)
        })
    }

    /// Whether writes are failing (the disk has not recovered).
    pub(crate) fn is_failing(&self) -> bool {
        self.health().borrow().failed
    }

    /// Whether writes are failing, as it changes (for the health service).
    pub(crate) fn health(&self) -> watch::Receiver<Health> {
        match &self.running {
            Some(running) => running.health.clone(),
            None => watch::channel(Health::default()).1,
        }
    }

    fn durable_now(&self) -> u64 {
        self.running
            .as_ref()
            .map_or(self.state.last_position, |r| *r.durable.borrow())
    }

    /// Writes `job` on the caller's thread when appends come one at a time
    /// (`crowding.rs`: it is the only one in flight, and has been for a
    /// while) and the writer is idle (its queue empty and its state free),
    /// and returns `None`; else returns the job, to be queued. One append
    /// alone then pays no hand-over to the writer's thread and no wake-up
    /// back (BENCHMARKS.md, session 15, has the p50 at one call in flight).
    /// Appends beside others queue and share the writer's next sync: a
    /// caller that led while others were in flight wrote a batch of one,
    /// and held its worker through the sync that the others' requests
    /// waited to be read on (BENCHMARKS.md, sessions 20 and 39). Only on a
    /// multi-threaded runtime: the call holds its worker for the sync, and
    /// the other workers go on.
    fn lead(&self, job: Job) -> Option<Job> {
        let Some(running) = &self.running else {
            return Some(job);
        };
        if !running
            .crowding
            .alone(running.appending.load(Ordering::Acquire))
        {
            return Some(job);
        }
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_threaded {
            return Some(job);
        }
        // Held until the write is done, so that the writer's thread cannot
        // find its queue closed and stop while a caller writes.
        let Some(sender) = lock(&running.jobs).clone() else {
            return Some(job);
        };
        if sender.capacity() < sender.max_capacity() {
            return Some(job);
        }
        let Ok(mut writer) = running.writer_state.try_lock() else {
            return Some(job);
        };
        // The writer's thread has a job in hand: it goes first.
        if running.waiting.load(Ordering::Acquire) > 0 {
            return Some(job);
        }
        if let Some(job) = writer.lead(job) {
            return Some(job);
        }
        // The writer's thread checks the disk again and again only once it
        // knows writes fail: wake it, as the applier does.
        if writer.failing() {
            let _ = sender.try_send(Job::Flush);
        }
        drop(writer);
        drop(sender);
        None
    }

    async fn submit(&self, job: Job) -> Result<(), StoreError> {
        let closed = || StoreError::Closed("the server is shutting down".into());
        let sender = self
            .running
            .as_ref()
            .and_then(|r| lock(&r.jobs).clone())
            .ok_or_else(closed)?;
        sender.send(job).await.map_err(|_| closed())
    }

    /// How many rewrites of the log's records (redactions) have begun
    /// in this process: a reader of several records compares it before
    /// and after.
    pub(crate) fn rewrites(&self) -> u64 {
        self.log.rewrites()
    }

    /// The commits at `positions` (increasing), each `None` where the log
    /// has none that is durable. Positions close together (an article
    /// edited in a burst: they span less than twice their number) are
    /// read with one range scan; scattered ones one by one.
    pub(crate) fn read_commits(
        &self,
        positions: &[u64],
    ) -> Result<Vec<Option<Commit>>, StoreError> {
        self.read_log_as(positions, decode_commit)
    }

    /// As `read_commits`, for the one reader that reads each commit once,
    /// soon after it is durable (the Merkle tree's thread): the commits the
    /// writer appended lately are taken as it made them, not read back.
    pub(crate) fn take_commits(
        &self,
        positions: &[u64],
    ) -> Result<Vec<Option<Commit>>, StoreError> {
        let mut taken = self.fresh.take(positions);
        let missing: Vec<u64> = positions
            .iter()
            .zip(&taken)
            .filter(|(_, c)| c.is_none())
            .map(|(&p, _)| p)
            .collect();
        if missing.is_empty() {
            return Ok(taken);
        }
        let mut read = self.read_commits(&missing)?.into_iter();
        for slot in taken.iter_mut().filter(|c| c.is_none()) {
            *slot = read.next().flatten();
        }
        Ok(taken)
    }

    /// As `read_commits`, each commit's stored bytes (a `CommitRecord`'s
    /// encoding), each copied out of what the log read: a record held
    /// for long (a stream's, queued for a slow subscriber) holds only
    /// itself, and the read's buffer is kept for the next read.
    pub(crate) fn read_records(&self, positions: &[u64]) -> Result<Vec<Option<Bytes>>, StoreError> {
        self.read_log_as(positions, |record| Ok(Bytes::copy_from_slice(&record)))
    }

    /// As `read_commits`, each commit's place, recorded time and events
    /// alone (`CommitEvents`).
    pub(crate) fn read_commit_events(
        &self,
        positions: &[u64],
    ) -> Result<Vec<Option<CommitEvents>>, StoreError> {
        self.read_log_as(positions, decode_commit_events)
    }

    /// The log chain's hashes at `positions` (increasing, each durable):
    /// read from the chain records in order, one scan for the lot.
    pub(crate) fn log_hashes(&self, positions: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let Some(&first) = positions.first() else {
            return Ok(Vec::new());
        };
        let durable = self.durable_now();
        let missing = |p: u64| StoreError::Corrupt(format!("the log chain has no hash at {p}"));
        let tree = self.disk.tree()?;
        // The record holding `first`, then the ones after it.
        let start = tree
            .range(position_key(Space::Chain, 0)..=position_key(Space::Chain, first))
            .next_back()
            .transpose()?
            .map_or_else(|| position_key(Space::Chain, 0), |(key, _)| key.to_vec());
        let mut records = tree.range(start..=position_key(Space::Chain, durable));
        let mut record: Option<(u64, sled::IVec)> = None;
        let mut hashes = Vec::with_capacity(positions.len());
        for &position in positions {
            if position == 0 || position > durable {
                return Err(missing(position));
            }
            self.stats.count_read(Space::Chain);
            loop {
                if let Some((at, bytes)) = &record {
                    if let Some(hash) = chain_hash_in(*at, bytes, position) {
                        hashes.push(hash);
                        break;
                    }
                }
                let (key, bytes) = records
                    .next()
                    .transpose()?
                    .ok_or_else(|| missing(position))?;
                let at = key_suffix_u64(&key).ok_or_else(|| missing(position))?;
                if at > position {
                    return Err(missing(position));
                }
                record = Some((at, bytes));
            }
        }
        Ok(hashes)
    }

    /// The payload digests the writer kept for `positions` (increasing;
    /// `keys::Space::Digests`): `None` for a position without (a commit
    /// written before they were kept, or past the durable position), whose
    /// reader hashes its events. Positions close together are read in one
    /// scan, others a look-up each.
    pub(crate) fn payload_digests(
        &self,
        positions: &[u64],
    ) -> Result<Vec<Option<Vec<Hash>>>, StoreError> {
        let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
            return Ok(Vec::new());
        };
        let durable = self.durable_now();
        let mut found = vec![None; positions.len()];
        if first > durable {
            return Ok(found);
        }
        let tree = self.disk.tree()?;
        let mut take = |at: u64, record: &[u8]| {
            for (position, digests) in payload_digests_in(at, record).unwrap_or_default() {
                if position > durable.min(last) {
                    break;
                }
                if let Ok(i) = positions.binary_search(&position) {
                    found[i] = Some(digests_of(digests));
                }
            }
        };
        let record_at = |position: u64| {
            tree.range(position_key(Space::Digests, 0)..=position_key(Space::Digests, position))
                .next_back()
                .transpose()
        };
        self.stats
            .count_reads(Space::Digests, positions.len() as u64);
        if last.saturating_sub(first) < 2 * positions.len() as u64 {
            // The record holding `first`, then the ones after it; a later
            // record of a position wins (`torn.rs` cut an earlier one's run).
            let start = record_at(first)?
                .map_or_else(|| position_key(Space::Digests, 0), |(key, _)| key.to_vec());
            for item in tree.range(start..=position_key(Space::Digests, last.min(durable))) {
                let (key, record) = item?;
                if let Some(at) = key_suffix_u64(&key) {
                    take(at, &record);
                }
            }
        } else {
            for &position in positions {
                if let Some((key, record)) = record_at(position)? {
                    if let Some(at) = key_suffix_u64(&key) {
                        take(at, &record);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The log entries at `positions` (increasing), decoded by `decode`:
    /// one range scan when they lie close together, else a read each.
    fn read_log_as<T>(
        &self,
        positions: &[u64],
        decode: fn(Bytes) -> Result<T, CodecError>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
            return Ok(Vec::new());
        };
        let clustered = first > 0
            && last.saturating_sub(first) < 2 * positions.len() as u64
            && positions.windows(2).all(|w| w[0] < w[1]);
        if !clustered {
            return positions
                .iter()
                .map(|&p| self.read_log_with(p, decode))
                .collect();
        }
        let end = last.min(self.durable_now());
        let mut found = Vec::with_capacity(positions.len());
        let mut wanted = positions.iter().copied().peekable();
        if first <= end {
            self.log.read_range(first, end, |position, bytes| {
                while wanted.next_if(|&w| w < position).is_some() {
                    found.push(None);
                }
                if wanted.next_if_eq(&position).is_some() {
                    self.stats.count_read(Space::Log);
                    found.push(Some(decode(bytes)?));
                }
                Ok(())
            })?;
        }
        found.extend(wanted.map(|_| None));
        Ok(found)
    }

    fn read_log(&self, position: u64) -> Result<Option<Commit>, StoreError> {
        self.read_log_with(position, decode_commit)
    }

    fn read_log_with<T>(
        &self,
        position: u64,
        decode: fn(Bytes) -> Result<T, CodecError>,
    ) -> Result<Option<T>, StoreError> {
        if position == 0 || position > self.durable_now() {
            return Ok(None);
        }
        self.stats.count_read(Space::Log);
        match self.log.read(position)? {
            Some(bytes) => Ok(Some(decode(Bytes::from(bytes))?)),
            None => Ok(None),
        }
    }
}

impl Log for SledStore {
    fn enqueue(
        &self,
        mut request: AppendRequest,
    ) -> BoxFuture<'_, Result<PendingAppend, AppendError>> {
        Box::pin(async move {
            // The writer seals one commit after another: what needs no
            // head is hashed here, on the caller's thread.
            request.preseal()?;
            let (reply, answer) = oneshot::channel();
            self.submit(Job::Append {
                request,
                reply,
                queued_at: std::time::Instant::now(),
            })
            .await?;
            Ok(PendingAppend(answer))
        })
    }

    /// One append its caller waits for: written on the caller's thread if
    /// the writer is idle (`lead`). Queued appends (`enqueue`, a bulk
    /// import's pipeline) always go to the writer, which groups them.
    fn append(&self, mut request: AppendRequest) -> BoxFuture<'_, Result<Appended, AppendError>> {
        Box::pin(async move {
            request.preseal()?;
            let _in_flight = self.running.as_ref().map(|r| InFlight::new(&r.appending));
            let (reply, answer) = oneshot::channel();
            let job = Job::Append {
                request,
                reply,
                queued_at: std::time::Instant::now(),
            };
            if let Some(job) = self.lead(job) {
                self.submit(job).await?;
            }
            PendingAppend(answer).await
        })
    }

    fn durable_position(&self) -> watch::Receiver<u64> {
        match &self.running {
            Some(running) => running.durable.clone(),
            None => watch::channel(self.state.last_position).1,
        }
    }
}

/// The log's own records, read back from this store: whichever log feeds
/// it (the embedded one, or a replicated one this replica applies), what
/// is read is what this process holds, and nothing past what is durable.
impl SledStore {
    /// The commit at `position`, once durable.
    pub(crate) fn read(&self, position: u64) -> Result<Option<Commit>, StoreError> {
        self.read_log(position)
    }

    /// The stream entry of one version of an article, once durable.
    pub(crate) fn stream_entry(
        &self,
        article: ArticleId,
        version: u64,
    ) -> Result<Option<StreamEntry>, StoreError> {
        let head = self
            .index
            .version(&self.log, article, version, self.durable_now())?;
        Ok(head.map(StreamEntry::from))
    }

    /// The log chain's hash at `position`, once durable.
    pub(crate) fn log_hash(&self, position: u64) -> Result<Option<Hash>, StoreError> {
        if position == 0 {
            return Ok(Some(ZERO_HASH));
        }
        if position > self.durable_now() {
            return Ok(None);
        }
        self.stats.count_read(Space::Chain);
        let tree = self.disk.tree()?;
        let found = tree
            .range(position_key(Space::Chain, 0)..=position_key(Space::Chain, position))
            .next_back()
            .transpose()?;
        let Some((key, hashes)) = found else {
            return Ok(None);
        };
        let first = key_suffix_u64(&key).ok_or_else(|| {
            StoreError::Corrupt(format!("the log chain record before {position} is corrupt"))
        })?;
        Ok(chain_hash_in(first, &hashes, position))
    }

    /// What a command id produced, once durable: a retry learns of a
    /// commit once it was answered.
    pub(crate) async fn find_command(
        &self,
        command: CommandId,
    ) -> Result<Option<CommandEntry>, StoreError> {
        // The index holds what is durable in the log's files.
        let Some(head) = self.index.find_command(&self.log, command)? else {
            return Ok(None);
        };
        // A retry learns of a commit once it was answered (durable, and
        // reads wait for it), even while the read models lag behind a
        // storage failure.
        if head.global_position > self.acknowledged() {
            self.wait_durable(head.global_position).await?;
        }
        Ok(Some(CommandEntry::from(head)))
    }
}

/// One stored record: its full key and its value.
pub(crate) type Record = (Vec<u8>, Vec<u8>);

/// Reads of the read-model keyspaces (raw bytes; the projection decodes).
#[derive(Clone)]
pub struct ReadModels {
    generation: Arc<AtomicU8>,
    disk: Arc<Disk>,
    stats: Arc<Stats>,
    index: Arc<LogIndex>,
}

impl ReadModels {
    /// The keys of the generation in use now; take them once per query, so
    /// that a switch between two keys of one query cannot mix generations.
    pub(crate) fn keys(&self) -> Keys {
        Keys {
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    /// The versions `from..=to` of `article` and their positions, in
    /// order (the log's index).
    pub(crate) fn positions(&self, article: ArticleId, from: u64, to: u64) -> Vec<(u64, u64)> {
        self.index.positions(article, from, to, u64::MAX)
    }

    /// Up to `limit` entries of the change feed after `after_position`:
    /// the position of each article's last change, and the article.
    pub(crate) fn changed_after(&self, after_position: u64, limit: usize) -> Vec<(u64, ArticleId)> {
        self.index.changed_after(after_position, limit)
    }

    pub fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.stats.count_read(space);
        Ok(self.disk.tree()?.get(key)?.map(|v| v.to_vec()))
    }

    /// Up to `limit` entries of `space` with keys in `[from, to]`, in key
    /// order or (with `reverse`) backwards from `to`.
    pub fn range(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let tree = self.disk.tree()?;
        let range = tree.range(from.to_vec()..=to.to_vec());
        let items: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut out = Vec::new();
        for item in items.take(limit) {
            let (k, v) = item?;
            self.stats.count_read(space);
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Every record of `space`, in key order (for checks that compare
    /// whole keyspaces).
    pub fn dump(&self, space: Space) -> Result<Vec<Record>, StoreError> {
        // Keys without their prefix (and generation): comparable across
        // generations.
        let prefix = self.keys().prefix(space);
        let mut out = Vec::new();
        for item in self.disk.tree()?.scan_prefix(&prefix) {
            let (k, v) = item?;
            out.push((k[prefix.len()..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

/// One append in flight, counted while it lives (`Running::appending`).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A write into sled as the store opened failed (a full disk): what it
/// wrote may be on disk in part (`torn.rs`), so the mark is armed with
/// `flushed`, a state sled holds on disk, for the next open to repair back
/// to it. Corruption is not a write's failure, and arms nothing. Returns
/// the error.
fn torn_at_open(disk: &Disk, flushed: &WriterState, e: StoreError) -> StoreError {
    if matches!(e, StoreError::Corrupt(_)) {
        return e;
    }
    match disk.torn().arm(flushed) {
        Ok(()) => tracing::error!(
            error = %e,
            position = flushed.last_position,
            "sled failed as the store opened; the next open repairs the store back to where this one found it"
        ),
        Err(arm) => tracing::error!(
            error = %e,
            mark = %arm,
            "sled failed as the store opened, and the mark that would repair what it wrote cannot be written"
        ),
    }
    e
}

/// Repairs what a batch sled applied in part left, if the mark says one
/// did (`torn.rs`), and clears the mark once the repair is durable.
fn repair_torn_batch(disk: &Disk) -> Result<(), StoreError> {
    let Some(before) = disk.torn().armed()? else {
        return Ok(());
    };
    tracing::warn!(
        position = before.last_position,
        "a batch was applied in part when the disk failed: removing what lies past the position before it, and deriving the read models again from the log"
    );
    let tree = disk.tree()?;
    let repaired = super::torn::repair(&tree, &before)?;
    disk.flush(&tree)?;
    disk.torn()
        .clear()
        .map_err(|e| StoreError::Io(format!("cannot clear the torn-batch mark: {e}")))?;
    tracing::warn!(
        removed = repaired.past_the_mark,
        read_models_dropped = repaired.read_models,
        "repaired the torn batch"
    );
    Ok(())
}
