//! The projector thread: applies durable commits to the read models off
//! the write path. The writer hands it each batch once the batch is synced
//! (and answered); it applies them in log order, a run of batches at a
//! time, with its checkpoint in the same crash-atomic sled batch, and then
//! says how far the read models reach. It never flushes: sled's next flush
//! (the writer's) persists what it applied, and after a crash the store
//! replays the log past the checkpoint (`SledStore::catch_up`).
//!
//! If an apply fails (the disk is full), the projector says why in
//! `failure` and drops what it is handed until the writer, which then
//! refuses writes until the disk recovers and reopens the database, sends
//! `Restart` with the checkpoint the disk holds and the log past it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::disk::Disk;
use super::flush_gate::FlushGate;
use super::keys::{meta_key, Keys};
use super::sled_store::CHECKPOINT;
use super::stats::Stats;
use super::view::BatchView;
use super::{ProjectError, Projector, StoreError};
use crate::domain::Commit;

/// The most commits one apply takes, across the batches waiting.
const RUN_LIMIT: usize = 4096;

/// What the writer hands the projector.
pub(super) enum Work {
    /// A written batch's commits, in log order.
    Commits(Vec<Commit>),
    /// The database was reopened after a storage failure: the read models
    /// reach `checkpoint` as the disk holds them (what was applied past it
    /// was lost with the old handle); the commits past it follow.
    Restart { checkpoint: u64 },
}

/// How far the read models reach (the projector's checkpoint), for the
/// writer's thread, which waits on it without a runtime.
#[derive(Debug, Default)]
pub(super) struct Progress {
    position: Mutex<u64>,
    advanced: Condvar,
}

impl Progress {
    pub(super) fn new(position: u64) -> Self {
        Self {
            position: Mutex::new(position),
            advanced: Condvar::new(),
        }
    }

    pub(super) fn get(&self) -> u64 {
        *self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, to: u64) {
        let mut position = self.position.lock().unwrap_or_else(|e| e.into_inner());
        *position = to;
        self.advanced.notify_all();
    }

    /// Blocks until the read models reach `position` or `within` passes;
    /// whether they reached it.
    pub(super) fn wait_for_within(&self, position: u64, within: Duration) -> bool {
        let reached = self.position.lock().unwrap_or_else(|e| e.into_inner());
        let (reached, _) = self
            .advanced
            .wait_timeout_while(reached, within, |reached| *reached < position)
            .unwrap_or_else(|e| e.into_inner());
        *reached >= position
    }
}

pub(super) struct Projecting {
    pub(super) disk: Arc<Disk>,
    pub(super) projector: Arc<dyn Projector>,
    pub(super) stats: Arc<Stats>,
    /// The read-model generation in use (an online rebuild switches it).
    pub(super) generation: Arc<AtomicU8>,
    /// The position readers may read the read models at.
    pub(super) visible: watch::Sender<u64>,
    pub(super) progress: Arc<Progress>,
    /// A gate before each apply, for tests that hold the projector still.
    pub(super) gate: Option<Arc<FlushGate>>,
    /// Why the last apply failed, until the writer restarts the projector.
    pub(super) failure: Arc<Mutex<Option<String>>>,
    /// The last position applied.
    pub(super) checkpoint: u64,
    /// An apply failed: what is handed is dropped until a restart.
    pub(super) broken: bool,
}

impl Projecting {
    /// Applies what the writer sends until it stops sending.
    pub(super) fn run(mut self, work: mpsc::Receiver<Work>) {
        let mut next = work.recv().ok();
        while let Some(first) = next.take() {
            let mut commits = match first {
                Work::Commits(commits) => commits,
                Work::Restart { checkpoint } => {
                    self.restart(checkpoint);
                    next = work.recv().ok();
                    continue;
                }
            };
            while commits.len() < RUN_LIMIT {
                match work.try_recv() {
                    Ok(Work::Commits(more)) => commits.extend(more),
                    Ok(restart) => {
                        next = Some(restart);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if let Some(gate) = &self.gate {
                gate.pass();
            }
            self.apply(&commits);
            if next.is_none() {
                next = work.recv().ok();
            }
        }
        tracing::debug!(checkpoint = self.checkpoint, "projector stopped");
    }

    fn restart(&mut self, checkpoint: u64) {
        self.broken = false;
        self.checkpoint = checkpoint;
        self.progress.set(checkpoint);
        self.visible.send_replace(checkpoint);
    }

    /// Applies `commits`; on a failure, says why and drops what comes
    /// until a restart (the writer hands the log past the checkpoint again).
    fn apply(&mut self, commits: &[Commit]) {
        if self.broken {
            return;
        }
        match self.try_apply(commits) {
            Ok(last) => {
                self.checkpoint = last;
                self.progress.set(last);
                self.visible.send_replace(last);
            }
            Err(e) => {
                tracing::error!(error = %e, checkpoint = self.checkpoint, "cannot apply durable commits to the read models; writes are refused until the disk recovers");
                self.broken = true;
                *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            }
        }
    }

    fn try_apply(&self, commits: &[Commit]) -> Result<u64, StoreError> {
        let tree = self.disk.tree()?;
        let keys = Keys {
            generation: self.generation.load(Ordering::Acquire),
        };
        let mut view = BatchView::new(&tree, &self.stats, keys);
        let mut last = self.checkpoint;
        for commit in commits {
            // An online rebuild's switch may have applied it already.
            if commit.global_position <= last {
                continue;
            }
            self.projector
                .project(&mut view, commit)
                .map_err(|e| match e {
                    ProjectError::Rejected(r) => StoreError::Corrupt(format!(
                        "the read models refuse the durable commit at position {}: {r}",
                        commit.global_position
                    )),
                    ProjectError::Store(e) => e,
                })?;
            last = commit.global_position;
        }
        view.put(meta_key(CHECKPOINT), last.to_be_bytes().to_vec());
        tree.apply_batch(view.into_batch())?;
        Ok(last)
    }
}
