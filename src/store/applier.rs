//! The applier thread: on the embedded log, it writes into sled the
//! indexes and read models of the batches the log's files have made
//! durable, off the writer's path.
//!
//! The writer appends a batch to the log's files, syncs it, answers its
//! callers and hands the batch's keys here; it goes on with the next
//! batch while this thread writes the last one into sled key by key
//! (`meta` last) and only then publishes the durable position that
//! readers serve up to, and the live feed's notices. Until a batch is
//! applied the writer reads through it (`Unapplied`), so that admission
//! sees every acknowledged commit. The queue between the two is bounded:
//! when the applier lags that many batches behind, the writer waits.
//! sled is flushed here at most every `flush_every`; what a crash takes
//! from it is derived from the log's files again at the next open.
//!
//! When sled itself fails here (a full disk), what it wrote since its last
//! flush may reach the disk in part and out of order: sled 0.34's recovery
//! skips a record whose blob file a failed write left missing, and keeps
//! the records after it. So the applier marks the store torn back to the
//! writer state of its last successful flush (`torn.rs`) before anything
//! else happens, and the database is never closed in this process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::disk::Disk;
use super::faults::{FaultPoint, Faults};
use super::flush_gate::FlushGate;
use super::health::{unless_wedged, Health};
use super::job::Job;
use super::keys::{meta_key, Space};
use super::lock;
use super::stats::Stats;
use super::writer_state::WriterState;
use super::StoreError;
use crate::log::Notice;

/// A batch's sled writes: a key and its new value, or `None` to remove it.
pub(super) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A batch made durable by the log's files, waiting to be written into sled.
pub(super) struct Applying {
    /// The last log position it holds: published once it is applied.
    pub(super) last_position: u64,
    pub(super) writes: Writes,
    /// What the live feed learns once it is applied.
    pub(super) notices: Vec<Notice>,
}

/// The batches handed to the applier and not yet applied, oldest first:
/// the writer's view reads through them (`BatchView`). Cloned for each
/// batch's view: a few `Arc`s.
#[derive(Clone, Default)]
pub(super) struct Unapplied {
    batches: VecDeque<Arc<Applying>>,
}

impl Unapplied {
    /// Forgets the batches applied through `position`.
    pub(super) fn applied_through(&mut self, position: u64) {
        while self
            .batches
            .front()
            .is_some_and(|b| b.last_position <= position)
        {
            self.batches.pop_front();
        }
    }

    /// How many batches wait to be applied (one may be in the applier's
    /// hands).
    pub(super) fn len(&self) -> usize {
        self.batches.len()
    }

    pub(super) fn push(&mut self, batch: Arc<Applying>) {
        self.batches.push_back(batch);
    }

    pub(super) fn clear(&mut self) {
        self.batches.clear();
    }

    /// The newest value written to `key` by a batch not yet applied:
    /// `Some(None)` if it was removed, `None` if no such batch wrote it.
    pub(super) fn get(&self, key: &[u8]) -> Option<Option<&Vec<u8>>> {
        self.batches
            .iter()
            .rev()
            .find_map(|batch| batch.writes.get(key).map(Option::as_ref))
    }
}

/// What the applier is asked to do, in order.
pub(super) enum Work {
    Apply(Arc<Applying>),
    /// Answered once everything before it is applied (and sled flushed,
    /// if asked), or at once with the failure that stopped the applier.
    Barrier {
        flush: bool,
        done: mpsc::SyncSender<Result<(), String>>,
    },
}

/// What the writer and the applier share besides the queue.
#[derive(Default)]
pub(super) struct Shared {
    /// Why applying failed; until the writer clears it after a reopen,
    /// the applier applies nothing.
    failure: Mutex<Option<String>>,
    /// The writer state as of sled's last successful flush: on disk for
    /// sure, and where the repair of a torn store goes back to.
    flushed: Mutex<WriterState>,
    /// Set once sled itself failed as the applier wrote or flushed (not a
    /// fault injected before sled was touched), with the mark armed: the
    /// database must not be closed in this process, and only a restart,
    /// which repairs, goes on.
    torn: AtomicBool,
}

impl Shared {
    /// Shared state for a store whose sled holds `flushed`, flushed.
    pub(super) fn new(flushed: WriterState) -> Self {
        Self {
            flushed: Mutex::new(flushed),
            ..Self::default()
        }
    }

    pub(super) fn flushed(&self) -> WriterState {
        *lock(&self.flushed)
    }

    /// After a flush of everything through `state`, or a reopen that
    /// replayed the log through it.
    pub(super) fn set_flushed(&self, state: WriterState) {
        *lock(&self.flushed) = state;
    }

    pub(super) fn is_torn(&self) -> bool {
        self.torn.load(Ordering::Acquire)
    }

    pub(super) fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    fn fail(&self, why: String) {
        lock(&self.failure).get_or_insert(why);
    }

    /// After a reopen that replayed the log: apply again.
    pub(super) fn clear_failure(&self) {
        *lock(&self.failure) = None;
    }
}

/// How often `ApplierHandle::idle_within` tries again to queue its
/// barrier while the applier's queue is full.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(10);

/// Why the writer's end found the applier gone.
fn stopped() -> String {
    "the applier thread has stopped".to_owned()
}

/// The writer's end: the bounded queue and the thread.
pub(super) struct ApplierHandle {
    work: mpsc::SyncSender<Work>,
    /// The queue's bound, in batches.
    lag: usize,
    pub(super) shared: Arc<Shared>,
    thread: std::thread::JoinHandle<()>,
}

impl ApplierHandle {
    /// Starts the thread; the writer waits once `lag` batches are queued.
    pub(super) fn start(applier: Applier, lag: usize) -> Result<Self, StoreError> {
        let (work, queue) = mpsc::sync_channel(lag.max(1));
        let shared = Arc::clone(&applier.shared);
        let thread = std::thread::Builder::new()
            .name("answerlog-apply".into())
            .spawn(move || applier.run(queue))
            .map_err(|e| StoreError::Io(format!("cannot start the applier thread: {e}")))?;
        Ok(Self {
            work,
            lag: lag.max(1),
            shared,
            thread,
        })
    }

    /// Whether a batch can be queued without waiting, with `unapplied`
    /// batches not yet applied (the queue's and the one being applied).
    pub(super) fn has_room(&self, unapplied: usize) -> bool {
        unapplied < self.lag
    }

    /// Queues a durable batch; waits while the queue is full.
    pub(super) fn send(&self, batch: Arc<Applying>) -> Result<(), String> {
        self.work.send(Work::Apply(batch)).map_err(|_| stopped())
    }

    /// Waits until everything queued is applied (and sled flushed, if
    /// `flush`); the failure that stopped the applier, if one did.
    pub(super) fn barrier(&self, flush: bool) -> Result<(), String> {
        let (done, answer) = mpsc::sync_channel(1);
        self.work
            .send(Work::Barrier { flush, done })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    /// As `barrier(true)`, waiting at most `within`: `None` if the
    /// applier has not answered by then. A full disk can hold sled's flush
    /// (as it can hold its close, `Disk::reopen`), and an applier stuck
    /// there must not hold a recovery, and every write queued behind it,
    /// without a word.
    pub(super) fn idle_within(&self, within: Duration) -> Option<Result<(), String>> {
        let deadline = Instant::now() + within;
        let (done, answer) = mpsc::sync_channel(1);
        let mut barrier = Work::Barrier { flush: true, done };
        // The queue is bounded: a stuck applier may have filled it.
        loop {
            match self.work.try_send(barrier) {
                Ok(()) => break,
                Err(mpsc::TrySendError::Disconnected(_)) => return Some(Err(stopped())),
                Err(mpsc::TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    barrier = back;
                    std::thread::sleep(QUEUE_FULL_RETRY);
                }
            }
        }
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => Some(result),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(stopped())),
        }
    }

    /// Lets the thread finish what is queued, and waits for it.
    pub(super) fn stop(self) {
        drop(self.work);
        if self.thread.join().is_err() {
            tracing::error!("the applier thread panicked");
        }
    }
}

/// The applier thread's nice value (Linux's is a thread's own). Its work
/// is behind the answers: at the default priority, its wake-up after each
/// batch took the CPU from the thread about to answer, and from the
/// callers (at one call in flight, 20–30 µs of an append's latency). Lower
/// priority lets it run on idle time; when it is starved for long, the
/// bounded queue makes the writer wait for it.
#[cfg(target_os = "linux")]
pub(crate) const APPLIER_NICE: i32 = 10;

pub(super) struct Applier {
    pub(super) disk: Arc<Disk>,
    pub(super) stats: Arc<Stats>,
    pub(super) shared: Arc<Shared>,
    /// The position readers serve up to: raised after each batch applied.
    pub(super) durable: Arc<watch::Sender<u64>>,
    pub(super) health: Arc<watch::Sender<Health>>,
    pub(super) notices: broadcast::Sender<Arc<[Notice]>>,
    pub(super) faults: Option<Arc<Faults>>,
    /// A gate before each batch applied, for tests that hold the applier.
    pub(super) gate: Option<Arc<FlushGate>>,
    pub(super) flush_every: Duration,
    /// The writer's queue, held weakly (it must not keep the writer from
    /// stopping): a failure wakes the writer through it.
    pub(super) writer: tokio::sync::mpsc::WeakSender<Job>,
}

impl Applier {
    /// Runs until the writer drops its end of the queue.
    pub(super) fn run(self, work: mpsc::Receiver<Work>) {
        // Linux's nice value is the calling thread's own; elsewhere it
        // would be the whole process's.
        #[cfg(target_os = "linux")]
        if let Err(e) = rustix::process::setpriority_process(None, APPLIER_NICE) {
            tracing::debug!(error = %e, "the applier thread keeps the default priority");
        }
        let mut unflushed: Option<Instant> = None;
        // The writer state (encoded) of the last batch applied: flushed
        // with it.
        let mut applied: Option<Vec<u8>> = None;
        for job in work {
            match job {
                Work::Apply(batch) => {
                    if self.shared.failure().is_some() {
                        // Nothing past a failure is applied: the reopen
                        // replays it from the log's files.
                        continue;
                    }
                    if let Err(failure) = self.apply(&batch) {
                        self.fail(failure);
                        continue;
                    }
                    if let Some(Some(state)) = batch.writes.get(&meta_key(WriterState::KEY)) {
                        applied = Some(state.clone());
                    }
                    let since = *unflushed.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.flush_every {
                        if let Err(e) = self.flush(applied.take()) {
                            self.fail(Failure::Sled(e));
                            continue;
                        }
                        unflushed = None;
                    }
                }
                Work::Barrier { flush, done } => {
                    let result = match self.shared.failure() {
                        Some(why) => {
                            // The reopen replays and flushes what was
                            // applied: what this thread last applied is
                            // older than what it will stand at.
                            applied = None;
                            unflushed = None;
                            Err(why)
                        }
                        // A flush asked for is made even with nothing of
                        // this thread's unflushed: sled reports an error
                        // it latched elsewhere (a read that wrote), which
                        // then marks the store torn before a reopen.
                        None if flush => match self.flush(applied.take()) {
                            Ok(()) => {
                                unflushed = None;
                                Ok(())
                            }
                            Err(e) => {
                                let why = e.to_string();
                                self.fail(Failure::Sled(e));
                                Err(why)
                            }
                        },
                        None => Ok(()),
                    };
                    let _ = done.send(result);
                }
            }
        }
        tracing::debug!("applier stopped");
    }

    /// Writes one batch into sled, then publishes it.
    fn apply(&self, batch: &Applying) -> Result<(), Failure> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        if let Some(faults) = &self.faults {
            faults
                .check(FaultPoint::Apply)
                .map_err(Failure::Untouched)?;
        }
        let tree = self.disk.tree().map_err(Failure::Untouched)?;
        apply_key_by_key(&tree, &self.stats, &batch.writes).map_err(|e| Failure::Sled(e.into()))?;
        if let Some(faults) = &self.faults {
            faults.check(FaultPoint::Sled).map_err(Failure::Sled)?;
        }
        self.durable.send_replace(batch.last_position);
        if !batch.notices.is_empty() && self.notices.receiver_count() > 0 {
            // No follower lost: a lagging one goes back to the log.
            let _ = self.notices.send(batch.notices.clone().into());
        }
        Ok(())
    }

    /// Flushes sled; once it has, `applied` (the encoded writer state of
    /// the last batch applied, if one was since the last flush) is what a
    /// repair goes back to.
    fn flush(&self, applied: Option<Vec<u8>>) -> Result<(), StoreError> {
        if let Err(e) = self.disk.tree().and_then(|tree| self.disk.flush(&tree)) {
            // Marked before a failed sync ends the process (`unless_wedged`).
            self.mark_torn();
            return Err(unless_wedged(e));
        }
        if let Some((state, _)) = applied.as_deref().and_then(WriterState::decode) {
            self.shared.set_flushed(state);
        }
        Ok(())
    }

    /// Stops applying until the writer has reopened the database and
    /// replayed the log: readers stop waiting for what is not applied.
    /// A failure of sled's own marks the store torn first.
    fn fail(&self, failure: Failure) {
        let e = match failure {
            Failure::Untouched(e) => e,
            Failure::Sled(e) => {
                self.mark_torn();
                e
            }
        };
        let why = e.to_string();
        tracing::error!(error = %why, "storage failure while applying durable commits: writes are refused until the disk recovers");
        self.shared.fail(why);
        self.health.send_modify(|h| {
            h.failed = true;
            h.applier_failed = true;
        });
        // Wake an idle writer: it reopens the database once the disk has
        // room, whether or not a write comes.
        if let Some(jobs) = self.writer.upgrade() {
            let _ = jobs.try_send(Job::Flush);
        }
    }

    /// Arms the torn-batch mark with the state of sled's last flush,
    /// before the writer learns of the failure: the next open removes what
    /// lies past it and derives it again from the log's files. A mark that
    /// cannot be written ends the process now, before sled writes more.
    fn mark_torn(&self) {
        if self.shared.is_torn() {
            return;
        }
        self.disk.torn().arm_or_exit(
            &self.shared.flushed(),
            "sled failed with writes it had not flushed",
        );
        self.shared.torn.store(true, Ordering::Release);
    }
}

/// Why the applier did not apply a batch or flush.
enum Failure {
    /// sled was not touched (a fault a test injected before it, or no
    /// database to write to): it holds nothing of the batch, and the
    /// writer may reopen it in process.
    Untouched(StoreError),
    /// sled's own failure.
    Sled(StoreError),
}

/// Applies a batch's writes key by key, without a sled batch: the log's files
/// holds every commit of it already. sled's batches roll its log buffer
/// twice each, a write of its own every batch; key by key, sled writes
/// its buffer when it fills or is flushed. A crash may keep a first part
/// of the keys (sled recovers a prefix of its log), so `meta` goes last,
/// the read models' checkpoint after the writer's state: a part without
/// them is written again, the same, as the log is replayed and the
/// read models catch up.
pub(super) fn apply_key_by_key(
    tree: &sled::Tree,
    stats: &Stats,
    writes: &Writes,
) -> Result<(), sled::Error> {
    let meta = Space::Meta.prefix();
    let is_meta = |key: &Vec<u8>| key.first() == Some(&meta);
    // `mwriter` after `mcheckpoint` in key order: reversed, the checkpoint
    // is the last key written.
    let metas = writes.iter().filter(|(k, _)| is_meta(k)).rev();
    let (mut keys, mut bytes) = (0, 0);
    for (key, value) in writes.iter().filter(|(k, _)| !is_meta(k)).chain(metas) {
        match value {
            Some(value) => {
                keys += 1;
                bytes += (key.len() + value.len()) as u64;
                tree.insert(key.as_slice(), value.as_slice())?;
            }
            None => {
                tree.remove(key.as_slice())?;
            }
        }
    }
    stats.count_written(keys, bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_applier(gate: &Arc<FlushGate>, disk: Arc<Disk>) -> ApplierHandle {
        let (writer, _) = tokio::sync::mpsc::channel(1);
        let applier = Applier {
            disk,
            stats: Arc::new(Stats::default()),
            shared: Arc::default(),
            durable: Arc::new(watch::channel(0).0),
            health: Arc::new(watch::channel(Health::default()).0),
            notices: broadcast::channel(1).0,
            faults: None,
            gate: Some(Arc::clone(gate)),
            flush_every: Duration::from_secs(3600),
            writer: writer.downgrade(),
        };
        ApplierHandle::start(applier, 1).unwrap()
    }

    #[test]
    fn a_recovery_stops_waiting_for_an_applier_held_in_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(Disk::open(dir.path(), 1 << 20).unwrap());
        let gate = Arc::new(FlushGate::default());
        let applier = held_applier(&gate, disk);
        assert_eq!(applier.idle_within(Duration::from_secs(30)), Some(Ok(())));

        let batch = Applying {
            last_position: 1,
            writes: Writes::new(),
            notices: Vec::new(),
        };
        applier.send(Arc::new(batch)).unwrap();
        gate.wait_until_waiting();
        // Held in the batch: the barrier is queued and not answered.
        assert_eq!(applier.idle_within(Duration::from_millis(50)), None);
        // The queue (one batch long) is full now: not even queued.
        assert_eq!(applier.idle_within(Duration::from_millis(50)), None);

        gate.release(1);
        assert_eq!(applier.idle_within(Duration::from_secs(30)), Some(Ok(())));
        applier.stop();
    }
}
