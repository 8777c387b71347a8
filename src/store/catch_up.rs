//! The read models brought up to the log: the catch-up an open (or an
//! offline rebuild) runs over the log past their checkpoint, and the
//! replay an online rebuild folds into its new generation. Both call the
//! `Projector` they are given.

use std::sync::{Arc, Mutex};

use super::applier::{apply_key_by_key, Applying, Unapplied};
use super::disk::Disk;
use super::keys::{meta_key, read_model_prefixes, u64_at, Keys, Space, CHECKPOINT, REBUILDING};
use super::lock;
use super::log_files::LogFiles;
use super::log_index::LogIndex;
use super::stats::Stats;
use super::view::{BatchView, WrittenKeys};
use super::StoreError;
use crate::codec::decode_commit_events;
use crate::domain::CommitEvents;
use crate::projection::{ProjectError, Projector, Settled};

/// How many commits a replay applies per write, at most.
pub(super) const REPLAY_CHUNK: usize = 512;

/// How many bytes of commits a replay applies per write, at most (a chunk
/// of large commits is cut short): with the chunks the reader keeps ahead
/// (`READ_AHEAD`), what bounds a catch-up's memory. Small in unit tests,
/// so that their replays cut chunks by bytes too.
#[cfg(not(test))]
const REPLAY_BYTES: usize = 8 << 20;
#[cfg(test)]
const REPLAY_BYTES: usize = 4 << 10;

/// How many decoded chunks the catch-up's reader keeps ahead of the fold.
const READ_AHEAD: usize = 2;

/// How many folded chunks wait for the catch-up's sled writer, besides
/// the one it writes.
const WRITE_BEHIND: usize = 1;

/// The most keys one batch of a rebuild's sweep removes.
const SWEEP_BATCH: usize = 10_000;

/// Projects the log's commits `from` through `to` into `view`, as an
/// online rebuild replays them into its new generation. Returns how many.
pub(super) fn replay_into(
    view: &mut BatchView<'_>,
    log: &LogFiles,
    stats: &Stats,
    projector: &dyn Projector,
    from: u64,
    to: u64,
) -> Result<u64, StoreError> {
    let mut applied = 0;
    log.read_range(from, to, |position, bytes| {
        stats.count_read(Space::Log);
        let commit = decode_commit_events(bytes)?;
        projector.project(view, commit.as_fold()).map_err(|e| {
            StoreError::Corrupt(format!("the rebuild cannot apply position {position}: {e}"))
        })?;
        applied += 1;
        Ok(())
    })?;
    Ok(applied)
}

/// Applies the log past the read models' checkpoint through `to` to the
/// read models of `keys`' generation. Returns how many commits it applied.
/// `replaying`: a crash may have left part of a batch in the read models
/// (an open); an offline rebuild's fold reads only keys it has written, in
/// log order, so it never meets one.
#[allow(clippy::too_many_arguments)]
pub(super) fn catch_up(
    disk: &Disk,
    log: &LogFiles,
    index: &LogIndex,
    stats: &Stats,
    keys: Keys,
    projector: &dyn Projector,
    to: u64,
    replaying: bool,
) -> Result<u64, StoreError> {
    let tree = disk.tree()?;
    // An offline rebuild, begun or stopped: every read model is replaced,
    // and until a key is written again it is not what it seems.
    let mut rebuilt = tree.get(meta_key(REBUILDING))?.map(|_| WrittenKeys::new());
    let from = match rebuilt {
        Some(_) => 1,
        None => {
            tree.get(meta_key(CHECKPOINT))?
                .and_then(|v| u64_at(&v, 0))
                .unwrap_or(0)
                + 1
        }
    };
    drop(tree);
    let mut applied = 0;
    let unapplied = Mutex::new(Unapplied::default());
    // Nothing to replay (an open after a clean stop): no reader thread.
    if from <= to {
        std::thread::scope(|scope| -> Result<(), StoreError> {
            // Reading and decoding the commits runs on a thread of its own,
            // a few chunks ahead of the fold, and writing the fold's keys
            // into sled on another, a chunk behind it: the fold reads
            // through the chunks not yet written (`Unapplied`).
            // The commits go back to the reader to be dropped: memory is
            // freed fastest by the thread that allocated it.
            let (chunks, decoded) = std::sync::mpsc::sync_channel(READ_AHEAD);
            let (spend, spent) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("answerlog-replay".into())
                .spawn_scoped(scope, move || {
                    read_chunks(log, stats, from, to, chunks, spent)
                })
                .map_err(|e| StoreError::Io(format!("cannot start a thread: {e}")))?;
            let (writes, to_write) = std::sync::mpsc::sync_channel::<Arc<Applying>>(WRITE_BEHIND);
            let writer = std::thread::Builder::new()
                .name("answerlog-replay-write".into())
                .spawn_scoped(scope, || write_chunks(disk, stats, &unapplied, to_write))
                .map_err(|e| StoreError::Io(format!("cannot start a thread: {e}")))?;
            let folded = (|| {
                for chunk in decoded {
                    let (end, commits) = chunk?;
                    let tree = disk.tree()?;
                    let behind = lock(&unapplied).clone();
                    let mut view = BatchView::over(&tree, log, index, stats, keys, &behind);
                    if replaying {
                        view = view.replaying();
                    }
                    if let Some(written) = &rebuilt {
                        view = view.trusting_only(written);
                    }
                    for commit in &commits {
                        projector
                            .project(&mut view, commit.as_fold())
                            .map_err(|e| match e {
                                ProjectError::Rejected(r) => StoreError::Corrupt(format!(
                                    "commit at position {} was refused on replay: {r}",
                                    commit.global_position
                                )),
                                ProjectError::Store(e) => e,
                            })?;
                        applied += 1;
                    }
                    view.put(meta_key(CHECKPOINT), end.to_be_bytes().to_vec());
                    let written = match rebuilt {
                        Some(_) => view.written_read_models(),
                        None => Vec::new(),
                    };
                    let batch = Arc::new(Applying {
                        last_position: end,
                        writes: view.into_writes(),
                        notices: Vec::new(),
                    });
                    if let Some(rebuilt) = &mut rebuilt {
                        written.iter().for_each(|key| rebuilt.insert(key));
                    }
                    lock(&unapplied).push(Arc::clone(&batch));
                    projector.settle(Settled::Written);
                    if writes.send(batch).is_err() {
                        // The writing thread failed: its error is the one.
                        break;
                    }
                    // Once the reader has stopped, they are dropped here.
                    let _ = spend.send(commits);
                }
                Ok(())
            })();
            drop(writes);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(StoreError::Io("the replay's writer panicked".into())));
            folded.and(written)
        })?;
    }
    let tree = disk.tree()?;
    if let Some(rebuilt) = &rebuilt {
        remove_unwritten(disk, &tree, keys, rebuilt)?;
    }
    if applied > 0 || rebuilt.is_some() {
        disk.flush(&tree)?;
    }
    Ok(applied)
}

/// Writes a catch-up's folded chunks into sled in order, key by key as
/// the applier does (`apply_key_by_key`: the checkpoint last), and
/// forgets each from `unapplied` once it is written. Stops at the first
/// failure, which it returns.
fn write_chunks(
    disk: &Disk,
    stats: &Stats,
    unapplied: &Mutex<Unapplied>,
    chunks: std::sync::mpsc::Receiver<Arc<Applying>>,
) -> Result<(), StoreError> {
    for chunk in chunks {
        apply_key_by_key(&disk.tree()?, stats, &chunk.writes)?;
        lock(unapplied).applied_through(chunk.last_position);
    }
    Ok(())
}

/// The end of an offline rebuild: the read-model keys of `keys`'
/// generation it did not write go, a bounded batch at a time, while the
/// mark stays (a batch sled takes in part, or a crash, leaves the mark for
/// the next open to start over); then the mark, once the removals are
/// durable.
fn remove_unwritten(
    disk: &Disk,
    tree: &sled::Tree,
    keys: Keys,
    written: &WrittenKeys,
) -> Result<(), StoreError> {
    let mut stale = 0u64;
    for prefix in read_model_prefixes(keys.generation) {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in tree.scan_prefix(prefix) {
            let (key, _) = item?;
            if !written.contains(&key) {
                batch.remove(key);
                in_batch += 1;
                if in_batch == SWEEP_BATCH {
                    tree.apply_batch(std::mem::take(&mut batch))?;
                    stale += in_batch as u64;
                    in_batch = 0;
                }
            }
        }
        tree.apply_batch(batch)?;
        stale += in_batch as u64;
    }
    if stale > 0 {
        tracing::info!(stale, "removed read-model keys the rebuild did not make");
    }
    disk.flush(tree)?;
    tree.remove(meta_key(REBUILDING))?;
    Ok(())
}

/// A catch-up's commits from `from` through `to`, read from the log's
/// files and decoded, sent in chunks of at most `REPLAY_CHUNK` commits and
/// `REPLAY_BYTES` bytes with the last position of each; an error ends
/// them. Stops early when no one listens. Drops the chunks that come back
/// on `spent`.
fn read_chunks(
    log: &LogFiles,
    stats: &Stats,
    from: u64,
    to: u64,
    chunks: std::sync::mpsc::SyncSender<Result<(u64, Vec<CommitEvents>), StoreError>>,
    spent: std::sync::mpsc::Receiver<Vec<CommitEvents>>,
) {
    let stopped = || StoreError::Closed("the catch-up stopped".into());
    let mut commits = Vec::with_capacity(REPLAY_CHUNK);
    let mut bytes = 0;
    let mut position = from;
    while position <= to {
        let end = (position + REPLAY_CHUNK as u64 - 1).min(to);
        let read = log.read_range(position, end, |at, record| {
            stats.count_read(Space::Log);
            stats.count_replayed(record.len() as u64);
            bytes += record.len();
            commits.push(decode_commit_events(record)?);
            if commits.len() == REPLAY_CHUNK || bytes >= REPLAY_BYTES {
                spent.try_iter().for_each(drop);
                let full = std::mem::replace(&mut commits, Vec::with_capacity(REPLAY_CHUNK));
                bytes = 0;
                chunks.send(Ok((at, full))).map_err(|_| stopped())?;
            }
            Ok(())
        });
        if let Err(e) = read {
            let _ = chunks.send(Err(e));
            return;
        }
        position = end + 1;
    }
    if !commits.is_empty() {
        let _ = chunks.send(Ok((to, commits)));
    }
}
