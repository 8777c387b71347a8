//! Restoring a backup: into an empty sled store (offline), or into a
//! JetStream stream and a new replica built from it.

use std::path::Path;

use super::{App, AppOptions, OpenError};
use crate::domain::{hex, Commit, Suggestion, ZERO_HASH};
use crate::jetstream::{publish_backup, JetStreamOptions};
use crate::log::{Log as _, StoreError};
use crate::projection::SNAPSHOT_INTERVAL_KEY;
use crate::store::{check_backup, SledStore};

/// What a restore wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Commits, the last at this global position.
    pub commits: u64,
    /// Suggested questions.
    pub suggestions: u64,
    /// The log chain's hash at the last commit.
    pub log_hash: [u8; 32],
}

/// How long the restoring replica may apply nothing before the restore
/// gives up on it.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a restore into a stream did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaRestored {
    pub restored: Restored,
    /// Commits the stream held already (a restore that stopped part way).
    pub held: u64,
}

impl App {
    /// Restores a backed-up log (every commit from position 1, in order)
    /// and its suggested questions (in the order they were accepted) into
    /// the empty store in `dir`, offline, and builds its read models: the
    /// same positions, times and hashes as the store it came from.
    pub fn restore<I, J>(
        dir: &Path,
        options: &AppOptions,
        commits: impl Fn() -> I,
        suggestions: impl Fn() -> J,
    ) -> Result<Restored, StoreError>
    where
        I: IntoIterator<Item = Result<crate::domain::Commit, String>>,
        J: IntoIterator<Item = Result<crate::domain::Suggestion, String>>,
    {
        if let Some(path) = &options.request_key {
            // Read before anything is written, kept once the log is.
            crate::request_key::RequestKey::read(path).map_err(StoreError::Closed)?;
        }
        let mut store = SledStore::open(dir, options.store.clone())?;
        let (commits, suggestions) = store.restore_log(commits, suggestions)?;
        if let Some(path) = &options.request_key {
            // The log's key, kept with the restored store: it answers
            // retries of commands made before the backup as the log did.
            crate::request_key::RequestKey::given(path, dir).map_err(StoreError::Closed)?;
        }
        store.set_meta(
            SNAPSHOT_INTERVAL_KEY,
            &options.snapshot_interval.to_be_bytes(),
        )?;
        super::rebuild_read_models(&store, options.snapshot_interval)?;
        Ok(Restored {
            commits,
            suggestions,
            log_hash: store.last_log_hash(),
        })
    }

    /// Restores a backed-up log into the stream `jetstream` names (empty,
    /// or left part way by an earlier restore of the same backup), then
    /// builds a replica in the empty `dir` from the stream and gives it the
    /// backup's suggestions. Everything is checked before anything is
    /// published, the log against `digest` (its last position and log
    /// hash) too.
    pub async fn restore_replica<I, J>(
        dir: &Path,
        options: AppOptions,
        jetstream: &JetStreamOptions,
        digest: (u64, [u8; 32]),
        commits: impl Fn() -> I,
        suggestions: impl Fn() -> J,
    ) -> Result<ReplicaRestored, OpenError>
    where
        I: IntoIterator<Item = Result<Commit, String>>,
        J: IntoIterator<Item = Result<Suggestion, String>>,
    {
        if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(OpenError::Restored(format!(
                "{} is not empty: a restore needs an empty data directory",
                dir.display()
            )));
        }
        let (last, log_hash) = check_backup(commits(), suggestions())?;
        if (last, log_hash) != digest {
            return Err(OpenError::Restored(format!(
                "the backup's log ends at position {last} with log hash {}, but its digest is for position {} with log hash {}",
                hex(&log_hash),
                digest.0,
                hex(&digest.1)
            )));
        }
        let request_key = options
            .request_key
            .as_deref()
            .map(crate::request_key::RequestKey::read)
            .transpose()
            .map_err(OpenError::RequestKey)?;
        let published = publish_backup(jetstream, commits(), request_key.as_ref()).await?;
        let app = App::open_replica(dir, options, jetstream).await?;
        let outcome = app.apply_backup(last, suggestions).await;
        tokio::task::block_in_place(|| app.shutdown());
        let (suggested, log_hash) = outcome?;
        Ok(ReplicaRestored {
            restored: Restored {
                commits: last,
                suggestions: suggested,
                log_hash,
            },
            held: published.held,
        })
    }

    /// Waits until this replica has applied the stream through `last`,
    /// then writes `suggestions`: how many, and the log hash at `last`.
    async fn apply_backup<J>(
        &self,
        last: u64,
        suggestions: impl Fn() -> J,
    ) -> Result<(u64, [u8; 32]), OpenError>
    where
        J: IntoIterator<Item = Result<Suggestion, String>>,
    {
        let mut applied = self.store.durable_position();
        let mut broken = self.log.breaks();
        while *applied.borrow_and_update() < last {
            if let Some(at) = broken.borrow_and_update().as_ref() {
                return Err(OpenError::Restored(format!(
                    "the restored stream is broken: {at}"
                )));
            }
            let stopped = || OpenError::Restored("the replica stopped".into());
            let moved = tokio::time::timeout(STALL_LIMIT, async {
                tokio::select! {
                    changed = applied.changed() => changed.map_err(|_| stopped()),
                    changed = broken.changed() => changed.map_err(|_| stopped()),
                }
            });
            moved.await.map_err(|_| {
                OpenError::Restored(format!(
                    "the replica applied nothing from the stream for {STALL_LIMIT:?}, at position {} of {last}",
                    *applied.borrow()
                ))
            })??;
        }
        let mut suggested = 0;
        for suggestion in suggestions() {
            let suggestion = suggestion
                .map_err(|why| StoreError::Corrupt(format!("the backup's suggestions: {why}")))?;
            self.store.suggest(suggestion).await?;
            suggested += 1;
        }
        let log_hash = match last {
            0 => ZERO_HASH,
            _ => self
                .store
                .log_hash(last)?
                .ok_or_else(|| OpenError::Restored(format!("no log hash at position {last}")))?,
        };
        Ok((suggested, log_hash))
    }
}
