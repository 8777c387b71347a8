//! Counters of the store's work: records read per keyspace, batches,
//! flushes, what the batches wrote.
//!
//! Tests use them to prove what a read or a start-up touched.

use std::sync::atomic::{AtomicU64, Ordering};

use super::keys::Space;

#[derive(Debug, Default)]
pub struct Stats {
    reads: [AtomicU64; Space::ALL.len()],
    /// Group commits made durable: the log's files' syncs.
    flushes: AtomicU64,
    batches: AtomicU64,
    commits: AtomicU64,
    /// Keys and bytes of values the store's own batches inserted.
    written_keys: AtomicU64,
    written_bytes: AtomicU64,
    /// Bytes of commits read from the log by a catch-up or rebuild.
    log_bytes_replayed: AtomicU64,
    commits_replayed: AtomicU64,
    /// Messages of a replicated log delivered again after they were
    /// applied (a consumer that began before the store's position).
    redelivered: AtomicU64,
}

impl Stats {
    pub fn count_read(&self, space: Space) {
        self.reads[space.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_reads(&self, space: Space, n: u64) {
        self.reads[space.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Records read from `space` since the store opened.
    pub fn reads(&self, space: Space) -> u64 {
        self.reads[space.index()].load(Ordering::Relaxed)
    }

    /// Records read from every keyspace.
    pub fn total_reads(&self) -> u64 {
        self.reads.iter().map(|r| r.load(Ordering::Relaxed)).sum()
    }

    pub fn count_batch(&self, commits: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.commits.fetch_add(commits, Ordering::Relaxed);
    }

    pub fn count_flush(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_redelivered(&self) {
        self.redelivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Stream messages delivered again after they were applied.
    pub fn redelivered(&self) -> u64 {
        self.redelivered.load(Ordering::Relaxed)
    }

    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    pub fn count_written(&self, keys: u64, bytes: u64) {
        self.written_keys.fetch_add(keys, Ordering::Relaxed);
        self.written_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Keys inserted by the store's batches since it opened.
    pub fn written_keys(&self) -> u64 {
        self.written_keys.load(Ordering::Relaxed)
    }

    /// Bytes of keys and values inserted by the store's batches.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes.load(Ordering::Relaxed)
    }

    /// One stored commit of `bytes` replayed.
    pub fn count_replayed(&self, bytes: u64) {
        self.log_bytes_replayed.fetch_add(bytes, Ordering::Relaxed);
        self.commits_replayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Stored commits a catch-up or rebuild replayed.
    pub fn commits_replayed(&self) -> u64 {
        self.commits_replayed.load(Ordering::Relaxed)
    }

    /// Bytes of stored commits a catch-up or rebuild replayed.
    pub fn log_bytes_replayed(&self) -> u64 {
        self.log_bytes_replayed.load(Ordering::Relaxed)
    }

    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}
