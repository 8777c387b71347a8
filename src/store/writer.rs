//! The writer thread: the one owner of appends.
//!
//! It takes jobs from a bounded channel, drains what is waiting (up to a
//! batch limit), checks and projects each commit into one pending batch.
//! It appends the batch's commits to the log's files (`log_files.rs`) with
//! one write and one `fdatasync`. On the embedded log it then answers
//! every caller and hands the batch's keys to the applier thread
//! (`applier.rs`), which writes them into sled and then publishes the
//! durable position readers serve up to. On a replica it writes the keys
//! with one crash-atomic `apply_batch`, flushed now and then, and
//! publishes and answers after it. A dedicated std thread takes the
//! batches, so that a busy runtime's workers do not wait on syncs; a
//! lone append that finds it idle is written on its caller's worker
//! instead (`SledStore::lead`), which spares the two hand-overs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Instant;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::applier::{ApplierHandle, Applying, Unapplied};
use super::disk::Disk;
use super::faults::{FaultPoint, Faults};
use super::flush_gate::FlushGate;
use super::fresh_commits::FreshCommits;
use super::health::{unless_wedged, Health, EXIT_WEDGED};
use super::job::Job;
use super::keys::{meta_key, position_key, Keys, Space};
use super::lock;
use super::log_files::{record_len, LogFiles};
use super::log_index::LogIndex;
use super::stats::Stats;
use super::stream_commit::{IngestError, Ingested};
use super::view::BatchView;
use super::writer_state::{completed_state, stored_state, WriterState};
use super::StoreError;
use crate::codec::{decode_suggestion, encode_suggestion};
use crate::domain::{log_hash, ArticleId, ChainHead, CommandId, Commit, Suggestion};
use crate::log::{
    admit, Admission, AppendError, AppendRequest, Appended, Clock, CommandEntry, Facts, Notice,
    StreamEntry,
};
use crate::metrics::Metrics;
use crate::projection::{ProjectError, Projector, Settled};

enum Reply {
    Append(
        oneshot::Sender<Result<Appended, AppendError>>,
        Result<Appended, AppendError>,
    ),
    Suggest(
        oneshot::Sender<Result<Suggestion, StoreError>>,
        Result<Suggestion, StoreError>,
    ),
    Ingest(
        oneshot::Sender<Result<u64, IngestError>>,
        Result<u64, IngestError>,
    ),
}

pub(super) struct Writer {
    pub(super) disk: Arc<Disk>,
    pub(super) projector: Arc<dyn Projector>,
    pub(super) stats: Arc<Stats>,
    /// Publishes the durable position readers serve up to: after each
    /// batch here, or by the applier once it has written a batch to sled.
    pub(super) durable: Arc<watch::Sender<u64>>,
    /// The last position answered to its caller: durable, and readers wait
    /// until the durable position above reaches it (read-your-writes).
    pub(super) acknowledged: Arc<AtomicU64>,
    /// Whether writes are failing, and how often the database was reopened.
    pub(super) health: Arc<watch::Sender<Health>>,
    pub(super) faults: Option<Arc<Faults>>,
    pub(super) suggestions_durable: Arc<AtomicU64>,
    pub(super) metrics: Option<Arc<Metrics>>,
    /// The read-model generation the projector writes (shared with readers).
    pub(super) generation: Arc<AtomicU8>,
    /// The live feed: after each flush, the commits it made durable.
    pub(super) notices: broadcast::Sender<Arc<[Notice]>>,
    pub(super) gate: Option<Arc<FlushGate>>,
    pub(super) batch_limit: usize,
    pub(super) head_cache_limit: usize,
    pub(super) state: WriterState,
    /// Flush sled at most this often (the log's files make each batch
    /// durable, and what sled lost is derived from them again at the next
    /// open). None: flush every batch.
    pub(super) deferred_flush: Option<std::time::Duration>,
    /// The log's files, which every batch's commits are appended to.
    pub(super) log: Arc<LogFiles>,
    /// The log's index: takes each batch once it is durable.
    pub(super) index: Arc<LogIndex>,
    /// The embedded log's applier thread, which writes durable batches
    /// into sled; none on a replica.
    pub(super) applier: Option<ApplierHandle>,
    /// The batches handed to the applier and not yet written into sled:
    /// the batch's view reads through them, and so does a look-up of a
    /// command id (`SledStore::find_command`).
    pub(super) unapplied: Arc<Mutex<Unapplied>>,
    /// The state as of sled's last successful flush: what is on disk for
    /// sure, and where a repair of a torn batch goes back to (`torn.rs`).
    pub(super) flushed_state: WriterState,
    /// Since when applied stream commits wait for a flush.
    pub(super) unflushed_since: Option<Instant>,
    /// Article heads, looked up lazily.
    pub(super) heads: HashMap<ArticleId, ChainHead>,
    /// The clock commits are stamped with.
    pub(super) clock: Clock,
    /// `state.clock_lag` as readers see it: raised before each durable
    /// position is published.
    pub(super) clock_lag: Arc<AtomicI64>,
    /// Set after a storage failure, until a probe finds the disk writable
    /// again and the database is reopened: until then every write is
    /// refused without touching sled, and readers keep the old handle.
    pub(super) failed: Option<String>,
    /// Set when sled applied a batch in part (`torn.rs`): the database is
    /// never closed in this process, which would write the part.
    pub(super) torn: bool,
    /// The commits of a durable batch appended, for the Merkle tree's
    /// thread (`fresh_commits.rs`).
    pub(super) fresh: Arc<FreshCommits>,
    /// The commits the batch in hand appended, with their encoded sizes.
    pub(super) fresh_in_batch: Vec<(Commit, usize)>,
}

/// The free space a failed disk must have again before writes resume.
const PROBE_HEADROOM: u64 = 64 * 1024 * 1024;

/// How long the writer waits between checks of a failing disk when no
/// write comes to prompt one.
const REOPEN_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

impl Writer {
    /// Runs until every sender is gone, then flushes once more and returns.
    /// Each batch is taken under `shared`'s lock, which a caller that finds
    /// the writer idle takes to write its own append (`SledStore::lead`).
    /// A write that panicked leaves the lock poisoned and the state in
    /// doubt: the writer stops there, and writes are refused until a
    /// restart recovers from the disk.
    /// `waiting` is 1 while the thread holds a job it has taken and waits
    /// for the lock (a caller leads): the job is still queued
    /// (`SledStore::queued`). `appending` counts the appends whose callers
    /// wait, queued or not yet (`SledStore::append`).
    pub(super) fn run(
        shared: Arc<Mutex<Writer>>,
        mut jobs: mpsc::Receiver<Job>,
        waiting: Arc<AtomicUsize>,
        appending: &AtomicUsize,
    ) {
        let unpoisoned = || match shared.lock() {
            Ok(writer) => Some(writer),
            Err(poisoned) => {
                poisoned.into_inner().poisoned();
                None
            }
        };
        loop {
            let Some(failed) = unpoisoned().map(|w| w.failed.is_some()) else {
                return;
            };
            // The lock is free while the writer waits: a caller may lead.
            let first = if failed {
                // Writes are failing: check the disk now and then without
                // waiting for a write (a retry of a write in doubt waits
                // for the recovery without reaching the writer, and after a
                // failed reopen readers wait for it too).
                match jobs.try_recv() {
                    Ok(job) => job,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        std::thread::sleep(REOPEN_RETRY);
                        if let Some(mut writer) = unpoisoned() {
                            let _ = writer.ready();
                        }
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match jobs.blocking_recv() {
                    Some(job) => job,
                    None => break,
                }
            };
            if jobs.is_empty() && appending.load(Ordering::Acquire) > 1 {
                // Woken by the first job of a burst, this thread may have
                // taken the core of a caller about to queue the next (other
                // appends are in flight, not queued yet): yield it once, so
                // that the batch holds what they queue meanwhile: 13-19 %
                // fewer syncs at 64 in flight and about 2 % more appends
                // (BENCHMARKS.md, session 42). On an idle core it returns
                // at once; an append alone in flight skips it.
                std::thread::yield_now();
            }
            waiting.store(1, Ordering::Release);
            let writer = unpoisoned();
            waiting.store(0, Ordering::Release);
            let Some(mut writer) = writer else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < writer.batch_limit {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            writer.take(batch);
        }
        if let Some(mut writer) = unpoisoned() {
            writer.finish();
        }
    }

    /// Writes one append, a batch of its own, on the caller's thread
    /// (`SledStore::lead`); returns it untouched when the writer's thread
    /// must take it instead: on a replica; when writes are failing (a
    /// recovery waits for the applier with a blocking call, which must not
    /// run on a runtime's worker); when the applier's queue may be full
    /// (the hand-over would block the worker).
    pub(super) fn lead(&mut self, job: Job) -> Option<Job> {
        self.heed_applier();
        let room = self
            .applier
            .as_ref()
            .is_some_and(|a| a.has_room(lock(&self.unapplied).len()));
        if self.failed.is_some() || !room {
            return Some(job);
        }
        self.write_batch(vec![job]);
        None
    }

    /// Whether writes are failing until the disk recovers.
    pub(super) fn failing(&self) -> bool {
        self.failed.is_some()
    }

    /// A write panicked under the lock: the state is in doubt. Writes are
    /// refused (health says so) and the applier stops; a restart recovers
    /// from the disk.
    fn poisoned(&mut self) {
        tracing::error!("a write panicked: writes are refused until a restart");
        self.fail("a write panicked");
        if let Some(applier) = self.applier.take() {
            applier.stop();
        }
    }

    fn take(&mut self, batch: Vec<Job>) {
        // A switch stands alone: what came before it is written first,
        // and what comes after it is projected into the new generation.
        let mut pending = Vec::with_capacity(batch.len());
        for job in batch {
            match job {
                Job::Switch {
                    generation,
                    from,
                    reply,
                } => {
                    if !pending.is_empty() {
                        self.process(std::mem::take(&mut pending));
                    }
                    let _ = reply.send(self.switch(generation, from));
                }
                // So does a redaction: its rewrites of the log's files
                // go with its commit alone (`redaction_intent.rs`).
                Job::Append { ref request, .. } if !request.rewrites.is_empty() => {
                    if !pending.is_empty() {
                        self.process(std::mem::take(&mut pending));
                    }
                    self.process(vec![job]);
                }
                Job::Ingest { ref commits, .. }
                    if commits.iter().any(|c| !c.rewrites.is_empty()) =>
                {
                    if !pending.is_empty() {
                        self.process(std::mem::take(&mut pending));
                    }
                    self.process(vec![job]);
                }
                other => pending.push(other),
            }
        }
        if !pending.is_empty() {
            self.process(pending);
        }
    }

    fn finish(&mut self) {
        if let Some(applier) = &self.applier {
            // Every durable batch into sled and flushed (a flush sled
            // refuses marks the store torn); after a failure the log's
            // files keep them for the next open.
            if let Err(why) = applier.barrier(true) {
                self.fail(&why);
            }
        }
        if self.failed.is_none() {
            match self.disk.tree().and_then(|tree| self.disk.flush(&tree)) {
                Ok(_) => self.disk.snapshot_for_next_open(),
                Err(e) => {
                    // The database closes as the store stops: what sled
                    // holds unflushed may reach the disk in part.
                    tracing::error!(error = %e, "final flush failed");
                    self.mark_torn();
                }
            }
        }
        if let Some(applier) = self.applier.take() {
            applier.stop();
        }
        tracing::debug!("writer stopped");
    }

    /// Reopens the database after a failed batch and takes up where the
    /// disk says the log ends (a failed batch may have reached it after
    /// all, as sled flushes what it can when the old handle goes).
    fn recover(&mut self) -> Result<(), StoreError> {
        if let Some(applier) = &self.applier {
            // The applier idle, and what it wrote flushed, before the
            // database goes: what it did not write is in the log's files,
            // replayed below. A flush sled fails marks the store torn
            // (`applier.rs`), and closing the database would then write
            // what it holds in part. One stuck in sled is as a database
            // that does not close: only a new process goes on (its
            // failure, if it has one, is expected).
            if applier.idle_within(super::disk::LET_GO).is_none() {
                self.exit_wedged(&format!(
                    "the applier did not let go of the database within {} s",
                    super::disk::LET_GO.as_secs()
                ));
            }
            if applier.shared.is_torn() {
                self.exit_torn();
            }
        }
        self.heads.clear();
        self.projector.settle(Settled::Reopened);
        let reopened = self
            .disk
            .reopen()
            .and_then(|()| stored_state(&self.disk.tree()?))
            .and_then(|(state, generation, held)| {
                let state = completed_state(state, held, &self.log, &self.index)?;
                Ok((state, generation))
            });
        let (state, generation) = match reopened {
            Ok(stored) => stored,
            Err(StoreError::Wedged(why)) => {
                // Crash-only recovery: every acknowledged write is durable,
                // and a new process opens the database as after a crash.
                self.exit_wedged(&format!(
                    "the database cannot be reopened in this process: {why}"
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the database; reads and writes are refused until it opens");
                return Err(e);
            }
        };
        // What sled had not flushed is in the log's files: its indexes
        // derived again, and the read models caught up with it.
        // What the reopen read is on disk; a replay sled fails may leave
        // part of what it wrote: the store is then torn back to it.
        let reopened = state;
        let state = self.replay_log(state, generation).and_then(|state| {
            // Suggestions and resolutions of the failed batches are not
            // in the log's files: what sled kept of them past `meta` goes.
            super::resolutions::forget_unacknowledged(&self.disk, state.last_suggestion)?;
            Ok(state)
        });
        let state = match state {
            Ok(replayed) => replayed,
            Err(e) => {
                tracing::error!(error = %e, "cannot replay the log into the reopened database");
                if !matches!(e, StoreError::Corrupt(_)) {
                    self.flushed_state = reopened;
                    if let Some(applier) = &self.applier {
                        applier.shared.set_flushed(reopened);
                    }
                    self.mark_torn();
                }
                return Err(e);
            }
        };
        self.flushed_state = state;
        let published = *self.durable.borrow();
        if state.last_position < published {
            tracing::error!(
                on_disk = state.last_position,
                published,
                "the reopened log ends before the acknowledged position"
            );
        }
        self.state = state;
        self.generation.store(generation, Ordering::Release);
        self.durable
            .send_replace(state.last_position.max(published));
        let durable = *self.durable.borrow();
        if self.embedded() {
            self.acknowledged.fetch_max(durable, Ordering::AcqRel);
        } else {
            self.acknowledged.store(durable, Ordering::Release);
        }
        if let Some(applier) = &self.applier {
            // sled holds every answered batch now: the view and look-ups
            // of command ids need not read through them any more (until
            // this replay succeeded, they did: a failed reopen keeps them).
            lock(&self.unapplied).clear();
            applier.shared.set_flushed(state);
            applier.shared.clear_failure();
            self.health.send_modify(|h| h.applier_failed = false);
        }
        self.suggestions_durable
            .store(state.last_suggestion, Ordering::Release);
        self.health.send_modify(|h| h.reopens += 1);
        tracing::warn!(
            position = state.last_position,
            "reopened the database after a storage failure"
        );
        Ok(())
    }

    /// After a reopen: the indexes of the log's commits past `state`
    /// written into sled, and the read models caught up with them.
    fn replay_log(
        &mut self,
        state: WriterState,
        generation: u8,
    ) -> Result<WriterState, StoreError> {
        let state =
            super::restore::replay_log(&self.disk, &self.log, &self.index, &self.stats, state)?;
        super::catch_up::catch_up(
            &self.disk,
            &self.log,
            &self.index,
            &self.stats,
            Keys { generation },
            self.projector.as_ref(),
            state.last_position,
            true,
        )?;
        Ok(state)
    }

    /// Marks the store failed: writes are refused, and readers stop waiting
    /// for positions past the durable one.
    fn fail(&mut self, why: &str) {
        self.failed = Some(why.to_owned());
        self.health.send_modify(|h| h.failed = true);
    }

    /// Before a batch, after a failure: is the disk writable again? If so,
    /// reopen the database (sled latches I/O errors, and holds the failed
    /// batch in memory) and resume.
    fn ready(&mut self) -> Result<(), String> {
        let Some(why) = self.failed.clone() else {
            return Ok(());
        };
        let refused = |e: StoreError| format!("the disk still fails ({e}); first failure: {why}");
        // Reopening on a full disk would fail (sled writes a snapshot as it
        // opens) and leave readers without a handle: probe first.
        self.probe().map_err(refused)?;
        if self.torn || self.applier.as_ref().is_some_and(|a| a.shared.is_torn()) {
            self.exit_torn();
        }
        self.recover().map_err(refused)?;
        tracing::info!("the disk is writable again; writes resume");
        self.failed = None;
        self.health.send_modify(|h| h.failed = false);
        Ok(())
    }

    /// sled hangs as it closes or flushes: what it wrote since its last
    /// flush may be on disk in part, so the store is marked torn back to
    /// that flush (`torn.rs`) and the process ends, for the supervisor to
    /// restart it and the restart to repair.
    fn exit_wedged(&mut self, why: &str) -> ! {
        self.mark_torn();
        tracing::error!(
            error = %why,
            "exiting with status {EXIT_WEDGED} so that the supervisor restarts the server"
        );
        std::process::exit(EXIT_WEDGED);
    }

    /// Closing the database would write the part of what sled holds that
    /// it had not written: a new process repairs from what the disk has.
    fn exit_torn(&self) -> ! {
        tracing::error!(
            "the disk has room again; exiting with status {EXIT_WEDGED} so that the restart repairs what sled wrote in part"
        );
        std::process::exit(EXIT_WEDGED);
    }

    /// Checks that the disk has room again (`PROBE_HEADROOM` free: a disk
    /// that merely took back a failed write's few blocks is still full
    /// for sled) and takes a small synced write beside the database.
    fn probe(&self) -> Result<(), StoreError> {
        if let Some(faults) = &self.faults {
            faults.check_probe()?;
        }
        let io = |e: std::io::Error| StoreError::Io(format!("probe: {e}"));
        let room = rustix::fs::statvfs(self.disk.path())
            .map_err(|e| io(e.into()))
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))?;
        if room < PROBE_HEADROOM {
            return Err(StoreError::Io(format!(
                "probe: {room} bytes free, less than the {PROBE_HEADROOM} needed to resume"
            )));
        }
        let path = self.disk.path().join("probe");
        let result = (|| {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&path)?;
            file.write_all(&[0u8; 4096])?;
            file.sync_all()
        })();
        let _ = std::fs::remove_file(&path);
        result.map_err(io)
    }

    fn process(&mut self, batch: Vec<Job>) {
        self.heed_applier();
        if let Err(why) = self.ready() {
            return send_all(fail_all(batch, &why));
        }
        self.write_batch(batch);
    }

    /// `process` once the writer is known ready.
    fn write_batch(&mut self, batch: Vec<Job>) {
        let flush_due = match (self.deferred_flush, self.unflushed_since) {
            (None, _) => true,
            (Some(every), Some(since)) => since.elapsed() >= every,
            (Some(_), None) => false,
        };
        let embedded = self.embedded();
        let must_flush = flush_due
            || batch.iter().any(|job| match job {
                Job::Ingest { .. } | Job::Flush => false,
                // The log's files make appends durable.
                Job::Append { .. } => !embedded,
                _ => true,
            });
        let asked_to_flush = batch.iter().any(|job| matches!(job, Job::Flush));
        let tree = match self.disk.tree() {
            Ok(tree) => tree,
            Err(e) => return send_all(fail_all(batch, &e.to_string())),
        };
        if self.heads.len() > self.head_cache_limit {
            self.heads.clear();
        }
        let before = self.state;
        self.fresh_in_batch.clear();
        let stats = Arc::clone(&self.stats);
        let keys = Keys {
            generation: self.generation.load(Ordering::Acquire),
        };
        let unapplied = lock(&self.unapplied).clone();
        let log = Arc::clone(&self.log);
        let index = Arc::clone(&self.index);
        let mut view = BatchView::over(&tree, &log, &index, &stats, keys, &unapplied);
        let mut in_batch: HashMap<CommandId, CommandEntry> = HashMap::new();
        let mut replies = Vec::with_capacity(batch.len());
        let mut appended = 0;
        let mut notices = Vec::new();
        let mut queued_since = Vec::new();
        let mut fatal = None;
        let mut storage_failed = false;
        let mut broken = false;
        // Whether a redaction of this batch rewrote the log's files: its
        // commit must follow, or the process must end so that the next
        // open completes it.
        let mut redacting = false;
        for job in batch {
            match job {
                Job::Append {
                    request,
                    reply,
                    queued_at,
                } => {
                    if fatal.is_some() {
                        replies.push(Reply::Append(
                            reply,
                            Err(AppendError::Unavailable(String::new())),
                        ));
                        continue;
                    }
                    let rewrites = match request.rewrites.is_empty() {
                        true => Vec::new(),
                        false => {
                            let records = request.rewritten_records(self.state.last_position + 1);
                            view.rewrite(records.clone());
                            records
                        }
                    };
                    let kinds: Vec<_> = request.events.iter().map(|e| e.kind()).collect();
                    let mut result = self.append_one(&mut view, request, &mut in_batch);
                    if let (Ok(a), false) = (&result, rewrites.is_empty()) {
                        if !a.duplicate {
                            if let Err(e) = self.redact(&view, rewrites) {
                                result = Err(e.into());
                            } else {
                                redacting = true;
                            }
                        }
                    }
                    match &result {
                        Ok(a) if !a.duplicate => {
                            appended += 1;
                            queued_since.push(queued_at);
                            if a.version == 1 {
                                self.state.articles += 1;
                            }
                            notices.push(Notice {
                                position: a.global_position,
                                article_id: a.article_id,
                                kinds,
                            });
                        }
                        Err(AppendError::Unavailable(why)) => {
                            fatal = Some(why.clone());
                            storage_failed = true;
                        }
                        Err(AppendError::Corrupt(why)) => fatal = Some(why.clone()),
                        _ => {}
                    }
                    replies.push(Reply::Append(reply, result));
                }
                Job::Ingest { commits, reply } => {
                    if fatal.is_some() || broken {
                        replies.push(Reply::Ingest(
                            reply,
                            Err(
                                StoreError::Closed("an earlier job of the batch failed".into())
                                    .into(),
                            ),
                        ));
                        continue;
                    }
                    let mut outcome = Ok(self.state.last_position);
                    for message in &commits {
                        let rewrites = message.rewritten_records();
                        if !rewrites.is_empty() {
                            view.rewrite(rewrites.clone());
                        }
                        let mut ingested = self.ingest_one(&mut view, message, &mut in_batch);
                        if let (Ok(Ingested::Applied(_)), false) = (&ingested, rewrites.is_empty())
                        {
                            match self.redact(&view, rewrites) {
                                Ok(()) => redacting = true,
                                Err(e) => ingested = Err(IngestError::Store(e)),
                            }
                        }
                        match ingested {
                            Ok(Ingested::Applied(commit)) => {
                                appended += 1;
                                if commit.version == 1 {
                                    self.state.articles += 1;
                                }
                                notices.push(Notice {
                                    position: commit.global_position,
                                    article_id: commit.article_id,
                                    kinds: commit.events.iter().map(|e| e.kind()).collect(),
                                });
                                outcome = Ok(commit.global_position);
                            }
                            Ok(Ingested::Seen) => {}
                            Err(IngestError::Break(at)) => {
                                // What came before the break is written.
                                broken = true;
                                outcome = Err(IngestError::Break(at));
                                break;
                            }
                            Err(behind @ IngestError::Behind { .. }) => {
                                outcome = Err(behind);
                                break;
                            }
                            Err(IngestError::Store(e)) => {
                                storage_failed = !matches!(e, StoreError::Corrupt(_));
                                fatal = Some(e.to_string());
                                outcome = Err(IngestError::Store(e));
                                break;
                            }
                        }
                    }
                    replies.push(Reply::Ingest(reply, outcome));
                }
                Job::Flush => {}
                // `take` takes switches out of every batch; one here is refused.
                Job::Switch { reply, .. } => {
                    let _ = reply.send(Err(StoreError::Closed(
                        "a switch must not share a batch".into(),
                    )));
                }
                Job::Suggest {
                    mut suggestion,
                    reply,
                } => {
                    self.state.last_suggestion += 1;
                    suggestion.sequence = self.state.last_suggestion;
                    view.put(
                        position_key(Space::Suggestions, suggestion.sequence),
                        encode_suggestion(&suggestion),
                    );
                    replies.push(Reply::Suggest(reply, Ok(suggestion)));
                }
                Job::Resolve {
                    mut resolved,
                    reply,
                } => {
                    let key = position_key(Space::Suggestions, resolved.sequence);
                    let stored = match view.get(Space::Suggestions, &key) {
                        Ok(Some(bytes)) => decode_suggestion(&bytes).map_err(StoreError::from),
                        Ok(None) => Err(StoreError::Corrupt(format!(
                            "suggestion {} is not stored",
                            resolved.sequence
                        ))),
                        Err(e) => Err(e),
                    };
                    // A resolution numbered past the durable ones was never
                    // acknowledged (a batch that failed): as if absent.
                    let last = self.state.last_suggestion;
                    let open =
                        |s: &Suggestion| s.resolution.as_ref().is_none_or(|r| r.sequence > last);
                    let answer = match stored {
                        Ok(stored) if stored.id != resolved.id => {
                            Err(StoreError::Corrupt(format!(
                                "suggestion {} is stored under another id",
                                resolved.sequence
                            )))
                        }
                        Ok(stored) if open(&stored) => {
                            // Its own sequence number: the resolution shows
                            // once the suggestions are durable through it.
                            self.state.last_suggestion += 1;
                            if let Some(resolution) = resolved.resolution.as_mut() {
                                resolution.sequence = self.state.last_suggestion;
                            }
                            view.put(key, encode_suggestion(&resolved));
                            Ok(resolved)
                        }
                        other => other,
                    };
                    replies.push(Reply::Suggest(reply, answer));
                }
            }
        }
        if let Some(why) = fatal {
            // Nothing of this batch is written: forget what it changed.
            self.state = before;
            self.heads.clear();
            self.projector.settle(Settled::Dropped);
            tracing::error!(error = %why, "a batch failed before it was written");
            if storage_failed {
                // sled failed as it read or wrote (a read may consolidate
                // pages, which writes): treat it as a failed write.
                drop(view);
                drop(tree);
                self.fail(&why);
            }
            return send_all(fail_replies(replies, &why));
        }
        if !view.is_empty() {
            view.put(meta_key(WriterState::KEY), self.state.encode());
            view.put(
                meta_key(super::keys::CHECKPOINT),
                self.state.last_position.to_be_bytes().to_vec(),
            );
            let (keys_written, bytes_written) = view.size();
            let appended_log = self.append_log(&view).map_err(|e| match redacting {
                true => unless_wedged(StoreError::Wedged(format!(
                    "a redaction's commit was not appended ({e}); the next open completes it"
                ))),
                false => e,
            });
            if appended_log.is_ok() && redacting {
                if let Err(e) = super::redaction_intent::done(self.disk.path()) {
                    // The next open does it again, which changes nothing.
                    tracing::warn!(error = %e, "a redaction is done, but its intent stays");
                }
            }
            let appended_log = appended_log.and_then(|()| {
                // The batch is durable: an index that cannot take it is out
                // of step with the log, which only a new process, deriving
                // it from the log, puts right.
                self.index
                    .add(view.index_entries())
                    .map_err(|e| unless_wedged(StoreError::Wedged(e.to_string())))
            });
            if let Err(e) = appended_log {
                let why = e.to_string();
                tracing::error!(error = %why, "storage failure: writes are refused until the disk recovers");
                drop(view);
                self.projector.settle(Settled::Dropped);
                self.fail(&why);
                self.state = before;
                return send_all(fail_replies(replies, &why));
            }
            if self.applier.is_some() {
                // Durable: answered now, written into sled by the applier.
                let batch = Applying {
                    last_position: self.state.last_position,
                    writes: view.into_writes(),
                    notices,
                };
                return self.hand_over(
                    batch,
                    replies,
                    must_flush,
                    appended,
                    &queued_since,
                    (keys_written, bytes_written),
                );
            }
            if let Err(e) = self.write(view, must_flush || asked_to_flush) {
                let why = e.to_string();
                tracing::error!(error = %why, "storage failure: writes are refused until the disk recovers");
                self.projector.settle(Settled::Dropped);
                self.fail(&why);
                self.state = before;
                return send_all(fail_replies(replies, &why));
            }
            self.projector.settle(Settled::Written);
            self.stats.count_batch(appended);
            if let Some(metrics) = &self.metrics {
                metrics.batched(
                    appended,
                    &queued_since,
                    self.state.last_position,
                    self.state.articles,
                    (keys_written, bytes_written),
                );
            }
            self.clock_lag
                .fetch_max(self.state.clock_lag, Ordering::AcqRel);
            self.acknowledged
                .store(self.state.last_position, Ordering::Release);
            self.durable.send_replace(self.state.last_position);
            if !notices.is_empty() && self.notices.receiver_count() > 0 {
                // No follower lost: a lagging one goes back to the log.
                let _ = self.notices.send(notices.into());
            }
            self.suggestions_durable
                .store(self.state.last_suggestion, Ordering::Release);
        } else if asked_to_flush && self.unflushed_since.is_some() {
            if let Err(e) = self.flush(&tree) {
                tracing::error!(error = %e, "storage failure: writes are refused until the disk recovers");
                self.fail(&e.to_string());
            }
        }
        send_all(replies);
    }

    /// Applies commits `from..=head` to the read models of `generation` and
    /// makes that generation the one in use, in one flushed batch. Returns
    /// how many commits it applied.
    fn switch(&mut self, generation: u8, from: u64) -> Result<u64, StoreError> {
        self.heed_applier();
        self.ready().map_err(StoreError::Closed)?;
        if let Some(applier) = &self.applier {
            // The log's indexes through the head in sled, and flushed: a
            // failed switch's repair (`torn.rs`) goes back to this state.
            applier.barrier(true).map_err(StoreError::Io)?;
            lock(&self.unapplied).clear();
            self.flushed_state = self.state;
        }
        let tree = self.disk.tree()?;
        let stats = Arc::clone(&self.stats);
        let log = Arc::clone(&self.log);
        let index = Arc::clone(&self.index);
        let mut view = BatchView::new(&tree, &log, &index, &stats, Keys { generation });
        let applied = super::catch_up::replay_into(
            &mut view,
            &log,
            &stats,
            self.projector.as_ref(),
            from,
            self.state.last_position,
        )?;
        view.put(meta_key(super::keys::GENERATION), vec![generation]);
        view.put(
            meta_key(super::keys::CHECKPOINT),
            self.state.last_position.to_be_bytes().to_vec(),
        );
        if let Err(e) = self.write(view, true) {
            // As for any batch: sled latches the error; reopen.
            self.projector.settle(Settled::Dropped);
            tracing::error!(error = %e, "storage failure while switching generations");
            self.fail(&e.to_string());
            return Err(e);
        }
        self.projector.settle(Settled::Written);
        // Readers and the next batch use the new generation from here on.
        self.generation.store(generation, Ordering::Release);
        tracing::info!(generation, applied, "switched to the rebuilt read models");
        Ok(applied)
    }

    /// One crash-atomic write and, unless a replica defers it, one flush
    /// for the whole batch: a replica's batch, or a switch of generations.
    fn write(&mut self, view: BatchView<'_>, flush: bool) -> Result<(), StoreError> {
        let tree = view.tree().clone();
        if let Some(faults) = &self.faults {
            faults.check(FaultPoint::Apply)?;
        }
        if let Err(e) = tree.apply_batch(view.into_batch()) {
            // Only a repair removes what sled kept of a failed batch.
            self.mark_torn();
            return Err(e.into());
        }
        if !self.embedded() {
            if let Some(gate) = &self.gate {
                gate.pass();
            }
        }
        if !flush {
            self.unflushed_since.get_or_insert_with(Instant::now);
            return Ok(());
        }
        self.flush(&tree)
    }

    /// Whether this store's log is the embedded one, whose batches the
    /// applier writes into sled (not a replica): fixed for the writer's
    /// life.
    fn embedded(&self) -> bool {
        self.applier.is_some()
    }

    /// Takes in what the applier did: a failure (writes are refused until
    /// the reopen), and the batches it has written (the view no longer
    /// reads through them).
    fn heed_applier(&mut self) {
        let Some(shared) = self.applier.as_ref().map(|a| Arc::clone(&a.shared)) else {
            return;
        };
        if let (None, Some(why)) = (&self.failed, shared.failure()) {
            self.fail(&why);
        }
        self.torn |= shared.is_torn();
        lock(&self.unapplied).applied_through(*self.durable.borrow());
    }

    /// After a batch's sync: answers its callers and hands its
    /// keys to the applier, which may make the writer wait while it lags
    /// (bounded). A batch with suggestions (which the log's files do not
    /// hold) is answered once the applier has written and flushed it, one
    /// of stream commits (whose callers learn what is applied) once it is
    /// written.
    fn hand_over(
        &mut self,
        batch: Applying,
        replies: Vec<Reply>,
        flush: bool,
        appended: u64,
        queued_since: &[Instant],
        written: (u64, u64),
    ) {
        let Some(applier) = &self.applier else {
            return send_all(fail_replies(replies, "no applier"));
        };
        // Answered before its states are published: a state the cache
        // serves is never past what was answered.
        self.acknowledged
            .store(self.state.last_position, Ordering::Release);
        self.projector.settle(Settled::Written);
        self.stats.count_batch(appended);
        if let Some(metrics) = &self.metrics {
            metrics.batched(
                appended,
                queued_since,
                self.state.last_position,
                self.state.articles,
                written,
            );
        }
        self.clock_lag
            .fetch_max(self.state.clock_lag, Ordering::AcqRel);
        self.fresh.extend(self.fresh_in_batch.drain(..));
        let batch = Arc::new(batch);
        lock(&self.unapplied).push(Arc::clone(&batch));
        let ingested = replies.iter().any(|r| matches!(r, Reply::Ingest(..)));
        if !flush && !ingested {
            send_all(replies);
            if let Err(why) = applier.send(batch) {
                // Answered and in the log's files: the reopen writes it.
                self.fail(&why);
                self.health.send_modify(|h| h.applier_failed = true);
            }
            return;
        }
        let flushed = applier.send(batch).and_then(|()| applier.barrier(flush));
        match flushed {
            Ok(()) => {
                self.suggestions_durable
                    .store(self.state.last_suggestion, Ordering::Release);
                send_all(replies);
            }
            Err(why) => {
                // The appends are in the log's files, the suggestions nowhere:
                // in doubt, each caller retries with its id.
                self.fail(&why);
                send_all(fail_replies(replies, &why));
            }
        }
    }

    /// Makes a redaction's commit (the batch's one commit) and its rewrites
    /// durable as one intent, then rewrites the log's files; the commit is
    /// appended next, like any other (`redaction_intent.rs`). A failure
    /// after the intent is kept ends the process, so that the next open
    /// completes the redaction.
    fn redact(
        &mut self,
        view: &BatchView<'_>,
        rewrites: Vec<(u64, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        // Nothing held for the tree may be older than the log's files.
        self.fresh.clear();
        let [(position, commit)] = view.log_records()[..] else {
            return Err(StoreError::Corrupt(
                "a redaction must be its batch's one commit".into(),
            ));
        };
        let intent = super::redaction_intent::Intent {
            commit: (position, commit.to_vec()),
            rewrites,
        };
        if let Err(e) = intent.keep(self.disk.path()) {
            // The intent may have been renamed in before the failure: gone
            // again, the batch is dropped as any other; else only the next
            // open may go on, completing it.
            return Err(match super::redaction_intent::done(self.disk.path()) {
                Ok(()) => e,
                Err(left) => unless_wedged(StoreError::Wedged(format!(
                    "a redaction's intent could not be kept ({e}) nor removed ({left}); the next open completes it"
                ))),
            });
        }
        self.log.rewrite(&intent.rewrites).map_err(|e| {
            unless_wedged(StoreError::Wedged(format!(
                "a redaction's rewrite failed ({e}); the next open completes it"
            )))
        })
    }

    /// Makes the batch's commits durable in the log's files, before sled
    /// takes the batch: one write and one `fdatasync`. A failed sync ends
    /// the process (`LogFiles::append`).
    fn append_log(&mut self, view: &BatchView<'_>) -> Result<(), StoreError> {
        let records = view.log_records();
        if records.is_empty() {
            return Ok(());
        }
        if self.embedded() {
            if let Some(gate) = &self.gate {
                gate.pass();
            }
        }
        if let Some(faults) = &self.faults {
            faults.check(FaultPoint::Flush)?;
        }
        let syncing = Instant::now();
        self.log.append(&records).map_err(unless_wedged)?;
        if let Some(metrics) = &self.metrics {
            let bytes = records.iter().map(|(_, r)| record_len(r.len())).sum();
            metrics.flushed(syncing.elapsed().as_secs_f64(), bytes);
        }
        self.stats.count_flush();
        Ok(())
    }

    /// sled failed in the middle of a batch, or hangs: part of what it
    /// wrote since its last flush may reach the disk, and only a repair at
    /// the next open removes it (`torn.rs`), back to what sled last
    /// flushed (the log's files replay the rest).
    fn mark_torn(&mut self) {
        self.torn = true;
        self.disk.torn().arm_or_exit(
            &self.flushed(),
            "sled may hold on disk part of what it wrote since its last flush",
        );
    }

    /// The state as of sled's last successful flush. On the embedded log
    /// the applier flushes sled, and knows what it last flushed (the
    /// writer's own flushes, a switch's, follow one of the same state).
    fn flushed(&self) -> WriterState {
        match &self.applier {
            Some(applier) => applier.shared.flushed(),
            None => self.flushed_state,
        }
    }

    fn flush(&mut self, tree: &sled::Tree) -> Result<(), StoreError> {
        if let Some(faults) = &self.faults {
            faults.check(FaultPoint::Flush)?;
        }
        if let Err(e) = self.disk.flush(tree) {
            // sled's own failure: what it wrote since its last flush may
            // reach the disk in part (`torn.rs`). Marked before a failed
            // sync ends the process.
            self.mark_torn();
            return Err(unless_wedged(e));
        }
        self.flushed_state = self.state;
        self.unflushed_since = None;
        Ok(())
    }

    fn append_one(
        &mut self,
        view: &mut BatchView<'_>,
        request: AppendRequest,
        in_batch: &mut HashMap<CommandId, CommandEntry>,
    ) -> Result<Appended, AppendError> {
        let earlier = self.command_entry(request.command_id, in_batch)?;
        let ChainHead {
            version: head,
            hash: prev_hash,
            ..
        } = match earlier {
            // A retry needs no head.
            Some(_) => ChainHead::START,
            None => self.head(request.article_id)?,
        };
        let basis = match request.decided_after {
            Some(basis) => self
                .command_entry(basis, in_batch)?
                .map(|e| (e.article_id, e.version)),
            None => None,
        };
        let version = match admit(
            &request,
            &Facts {
                earlier,
                head,
                basis,
            },
        )? {
            Admission::Retry(appended) => return Ok(appended),
            Admission::Next { version } => version,
        };
        let position = self.state.last_position + 1;
        let (article_id, command_id) = (request.article_id, request.command_id);
        let request_hash = request.request_hash.keyed;
        let (commit, hash, digests) = request.seal(
            article_id,
            version,
            position,
            &prev_hash,
            self.state.last_micros,
            self.clock,
        )?;
        let micros = commit.recorded_at.timestamp_micros();
        let chained = log_hash(&self.state.last_log_hash, position, &hash);
        match self.projector.project(view, commit.as_fold()) {
            Ok(()) => {}
            Err(ProjectError::Rejected(rejection)) => return Err(AppendError::Rejected(rejection)),
            Err(ProjectError::Store(e)) => return Err(e.into()),
        }
        let entry = CommandEntry {
            article_id,
            version,
            global_position: position,
            request_hash,
        };
        let size = view.put_commit(&commit, &chained, &digests);
        self.state.last_position = position;
        self.state.record_time(micros);
        self.state.last_log_hash = chained;
        self.heads.insert(
            article_id,
            ChainHead {
                version,
                hash,
                micros,
            },
        );
        in_batch.insert(command_id, entry);
        self.fresh_in_batch.push((commit, size));
        Ok(Appended {
            article_id,
            version,
            global_position: position,
            duplicate: false,
        })
    }

    /// What the command id was answered with before: in this batch, or
    /// durable (the log's index).
    pub(super) fn command_entry(
        &self,
        command: CommandId,
        in_batch: &HashMap<CommandId, CommandEntry>,
    ) -> Result<Option<CommandEntry>, StoreError> {
        if let Some(entry) = in_batch.get(&command) {
            return Ok(Some(*entry));
        }
        Ok(self
            .index
            .find_command(&self.log, command)?
            .map(CommandEntry::from))
    }

    /// The article's last version and hash: cached, or read from its last
    /// durable commit; (0, zero hash) for an article not yet created.
    pub(super) fn head(&mut self, article: ArticleId) -> Result<ChainHead, StoreError> {
        if let Some(head) = self.heads.get(&article) {
            return Ok(*head);
        }
        let last = self.index.head(&self.log, article, u64::MAX)?;
        let head = StreamEntry::head(last.map(StreamEntry::from));
        self.heads.insert(article, head);
        Ok(head)
    }
}

fn fail_all(batch: Vec<Job>, why: &str) -> Vec<Reply> {
    batch
        .into_iter()
        .filter_map(|job| {
            Some(match job {
                Job::Append { reply, .. } => {
                    Reply::Append(reply, Err(AppendError::Unavailable(why.to_owned())))
                }
                Job::Suggest { reply, .. } | Job::Resolve { resolved: _, reply } => {
                    Reply::Suggest(reply, Err(StoreError::Closed(why.to_owned())))
                }
                Job::Ingest { reply, .. } => {
                    Reply::Ingest(reply, Err(StoreError::Io(why.to_owned()).into()))
                }
                Job::Flush => return None,
                Job::Switch { reply, .. } => {
                    let _ = reply.send(Err(StoreError::Closed(why.to_owned())));
                    return None;
                }
            })
        })
        .collect()
}

/// Turns every reply of a batch that was not written into a failure.
fn fail_replies(replies: Vec<Reply>, why: &str) -> Vec<Reply> {
    replies
        .into_iter()
        .map(|reply| match reply {
            Reply::Append(tx, _) => {
                Reply::Append(tx, Err(AppendError::Unavailable(why.to_owned())))
            }
            Reply::Suggest(tx, _) => Reply::Suggest(tx, Err(StoreError::Closed(why.to_owned()))),
            Reply::Ingest(tx, _) => Reply::Ingest(tx, Err(StoreError::Io(why.to_owned()).into())),
        })
        .collect()
}

fn send_all(replies: Vec<Reply>) {
    for reply in replies {
        // A caller that went away (deadline, cancel) no longer needs an answer.
        match reply {
            Reply::Append(tx, result) => drop(tx.send(result)),
            Reply::Suggest(tx, result) => drop(tx.send(result)),
            Reply::Ingest(tx, result) => drop(tx.send(result)),
        }
    }
}
