//! sled alone, doing what the store asks of it with nothing on top: the
//! baselines `answerlog bench` measures the store against, in the same run
//! and on the same disk. With the bench, outside the library's core: the
//! one file beside store/ that uses sled (`src/tidy.rs`), to measure it
//! bare; its durable inserts sync as the store does (`DurableFiles`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::log::StoreError;
use crate::store::DurableFiles;

/// How long each of `n` inserts of `value_bytes` took, made durable after
/// every `flush_every` of them as the store makes a batch durable (sled's
/// flush, then `fdatasync` of what it wrote), with the cache the store
/// uses; the sync's time goes to the insert that called it.
pub(crate) fn flushed_inserts(
    dir: &Path,
    n: u64,
    value_bytes: usize,
    flush_every: u64,
    cache_bytes: u64,
) -> Result<Vec<Duration>, StoreError> {
    let db = open(dir, cache_bytes)?;
    let mut files = DurableFiles::open(dir).map_err(sync_failed)?;
    let value = vec![b'v'; value_bytes];
    let mut latencies = Vec::with_capacity(n as usize);
    for i in 0..n {
        let started = Instant::now();
        db.insert(key(i), value.as_slice())?;
        if (i + 1) % flush_every.max(1) == 0 {
            db.flush()?;
            files.sync().map_err(sync_failed)?;
        }
        latencies.push(started.elapsed());
    }
    db.flush()?;
    files.sync().map_err(sync_failed)?;
    Ok(latencies)
}

/// What writing `commits` commits, each a key of `record_bytes` bytes
/// (key and value: the commit) and `keys_per_commit` keys of
/// `bytes_per_key` bytes, took, `commits_per_batch` commits to a batch,
/// each batch applied in one `apply_batch` and made durable as the store
/// makes a group commit durable (sled's flush, then `fdatasync` of what it
/// wrote): the writes of a bulk import, without the import.
pub(crate) fn flushed_batches(
    dir: &Path,
    commits: u64,
    record_bytes: usize,
    keys_per_commit: f64,
    bytes_per_key: usize,
    commits_per_batch: u64,
    cache_bytes: u64,
) -> Result<Duration, StoreError> {
    let db = open(dir, cache_bytes)?;
    let mut files = DurableFiles::open(dir).map_err(sync_failed)?;
    let value = vec![b'r'; bytes_per_key.saturating_sub(9).max(1)];
    let record = vec![b'c'; record_bytes.saturating_sub(9).max(1)];
    let keys_through = |commit: u64| (commit as f64 * keys_per_commit).round() as u64;
    let started = Instant::now();
    let mut next_key = 0;
    let mut commit = 0;
    while commit < commits {
        let first = commit;
        commit = (commit + commits_per_batch.max(1)).min(commits);
        let mut batch = sled::Batch::default();
        for position in first..commit {
            let mut record_key = key(position);
            record_key[0] = b'R';
            batch.insert(record_key.to_vec(), record.clone());
        }
        while next_key < keys_through(commit) {
            batch.insert(key(next_key).to_vec(), value.clone());
            next_key += 1;
        }
        db.apply_batch(batch)?;
        db.flush()?;
        files.sync().map_err(sync_failed)?;
    }
    Ok(started.elapsed())
}

/// What writing `keys` keys of `bytes_per_key` bytes (key and value) took,
/// in batches of `batch_keys` with no flush until the end: the writes of a
/// rebuild, without the rebuild.
pub(crate) fn unflushed_batches(
    dir: &Path,
    keys: u64,
    bytes_per_key: usize,
    batch_keys: u64,
    cache_bytes: u64,
) -> Result<Duration, StoreError> {
    let db = open(dir, cache_bytes)?;
    let started = Instant::now();
    write_batches(&db, keys, bytes_per_key, batch_keys)?;
    db.flush()?;
    Ok(started.elapsed())
}

/// Writes `keys` keys of `bytes_per_key` as [`unflushed_batches`] does,
/// then reads every key and value in order: how many, how many bytes, and
/// how long the read took.
pub(crate) fn full_scan(
    dir: &Path,
    keys: u64,
    bytes_per_key: usize,
    cache_bytes: u64,
) -> Result<(u64, u64, Duration), StoreError> {
    let db = open(dir, cache_bytes)?;
    write_batches(&db, keys, bytes_per_key, 4096)?;
    db.flush()?;
    let started = Instant::now();
    let (mut count, mut bytes) = (0, 0);
    for item in db.iter() {
        let (k, v) = item?;
        count += 1;
        bytes += (k.len() + v.len()) as u64;
    }
    Ok((count, bytes, started.elapsed()))
}

fn write_batches(
    db: &sled::Db,
    keys: u64,
    bytes_per_key: usize,
    batch_keys: u64,
) -> Result<(), StoreError> {
    let value = vec![b'r'; bytes_per_key.saturating_sub(9).max(1)];
    let mut batch = sled::Batch::default();
    for i in 0..keys {
        batch.insert(key(i).to_vec(), value.clone());
        if (i + 1) % batch_keys.max(1) == 0 {
            db.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    db.apply_batch(batch)?;
    Ok(())
}

fn sync_failed(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("cannot sync the baseline's database: {e}"))
}

fn open(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    Ok(sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .flush_every_ms(None)
        .open()?)
}

/// A prefix byte and a big-endian counter, as the store's keys are.
fn key(i: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = b'L';
    key[1..].copy_from_slice(&i.to_be_bytes());
    key
}
