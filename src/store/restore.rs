//! Restoring a log into an empty store: every commit written as it was
//! (its position, recorded_at, hashes), each checked: the positions follow
//! one another, and each commit follows its article's head by
//! `domain::link`'s rule (recorded_at increases along each article's chain,
//! not along the log, which replicas with different clocks may have
//! written). The whole log is checked
//! before anything is written, so that a bad backup leaves the directory
//! as it was. The read models are then rebuilt from the log by the caller.
//!
//! A backup's suggested questions (not part of the log) are restored with
//! it, in the order they were accepted, numbered again from 1.

use std::collections::HashMap;

use super::disk::Disk;
use super::keys::{key, meta_key, position_key, Keys, Space};
use super::log_files::LogFiles;
use super::log_index::LogIndex;
use super::stats::Stats;
use super::view::BatchView;
use super::writer_state::WriterState;
use super::StoreError;
use crate::codec::encode_suggestion;
use crate::domain::{
    follow_with_digests, log_hash, ArticleId, ChainHead, Commit, Hash, Suggestion,
};
use crate::log::StreamEntry;

/// Commits written in one batch.
const CHUNK: usize = 4096;

/// The log as far as it has been checked: where it ends, and each
/// article's head.
struct Chains {
    state: WriterState,
    heads: HashMap<ArticleId, ChainHead>,
    /// Whose commits these are, for what a refusal says.
    source: &'static str,
    /// Whether the log before `state` is out of sight (an incremental
    /// backup's): the first commit met of an article past its version 1
    /// is then taken to follow the head its own previous hash names.
    earlier_unseen: bool,
}

impl Chains {
    /// Checks commits that go on from `state`, the heads of articles the
    /// store holds already read from the log as they are met.
    fn after(state: WriterState) -> Self {
        Self {
            state,
            heads: HashMap::new(),
            source: "the log's",
            earlier_unseen: false,
        }
    }

    /// Checks a backup's commits, from position 1.
    fn of_backup() -> Self {
        Self {
            state: WriterState::default(),
            heads: HashMap::new(),
            source: "the backup's",
            earlier_unseen: false,
        }
    }

    /// Checks an incremental backup's commits, which go on from a log that
    /// ended at `position` with `log_hash`, unseen.
    fn of_increment(position: u64, log_hash: Hash) -> Self {
        Self {
            state: WriterState {
                last_position: position,
                last_log_hash: log_hash,
                ..WriterState::default()
            },
            heads: HashMap::new(),
            source: "the backup's",
            earlier_unseen: true,
        }
    }

    /// Looks up `commit`'s article head in the log unless known already.
    fn know_head(
        &mut self,
        log: &LogFiles,
        index: &LogIndex,
        commit: &Commit,
    ) -> Result<(), StoreError> {
        if let std::collections::hash_map::Entry::Vacant(vacant) =
            self.heads.entry(commit.article_id)
        {
            // Not past the position the check has reached: the index
            // holds the whole log, the commits replayed here included.
            let last = index.head(log, commit.article_id, self.state.last_position)?;
            vacant.insert(StreamEntry::head(last.map(StreamEntry::from)));
        }
        Ok(())
    }

    /// Checks that `commit` comes next: at the next position, following its
    /// article's head (`domain::link`). Returns it, its hash and the log
    /// chain's hash at its position.
    /// The commit checked to follow its article's head; its hash, the log
    /// chain's hash at its position, and its events' payload digests.
    fn take(&mut self, commit: Result<Commit, String>) -> Result<Taken, StoreError> {
        let next = self.state.last_position + 1;
        let source = self.source;
        let refuse = |position: u64, why: String| {
            StoreError::Corrupt(format!("{source} commit at position {position}: {why}"))
        };
        let commit = commit.map_err(|why| refuse(next, why))?;
        let position = commit.global_position;
        if position != next {
            return Err(refuse(
                position,
                format!("it follows position {}", self.state.last_position),
            ));
        }
        let head = match self.heads.get(&commit.article_id) {
            Some(head) => *head,
            None if self.earlier_unseen && commit.version > 1 => ChainHead {
                version: commit.version - 1,
                hash: commit.prev_hash.as_slice().try_into().unwrap_or([0; 32]),
                micros: i64::MIN,
            },
            None => ChainHead::START,
        };
        let (head, digests) =
            follow_with_digests(&head, &commit).map_err(|why| refuse(position, why.to_string()))?;
        let chained = log_hash(&self.state.last_log_hash, position, &head.hash);
        self.heads.insert(commit.article_id, head);
        self.state.last_position = position;
        self.state.record_time(head.micros);
        self.state.last_log_hash = chained;
        if commit.version == 1 {
            self.state.articles += 1;
        }
        Ok((commit, head.hash, chained, digests))
    }
}

/// What `Chains::take` gives: the commit, its hash, the log chain's hash
/// at its position, and its events' payload digests.
type Taken = (Commit, Hash, Hash, Vec<Hash>);

/// Checks a backup, its log and its suggestions, without writing anything:
/// the position its log ends at and the log chain's hash there.
pub(crate) fn check_backup(
    commits: impl IntoIterator<Item = Result<Commit, String>>,
    suggestions: impl IntoIterator<Item = Result<Suggestion, String>>,
) -> Result<(u64, Hash), StoreError> {
    let log = check_log(commits)?;
    check_suggestions(suggestions)?;
    Ok((log.last_position, log.last_log_hash))
}

/// Checks an incremental backup's commits without writing anything: they
/// go on from a log that ended at `from` (position, log hash), each at
/// the next position, hashing as it records and linking the log chain;
/// the position and log hash they end at. Whether each commit follows its
/// article's previous version, which may lie before `from`, a restore of
/// the whole chain checks.
pub(crate) fn check_backup_increment(
    from: (u64, Hash),
    commits: impl IntoIterator<Item = Result<Commit, String>>,
) -> Result<(u64, Hash), StoreError> {
    let mut chains = Chains::of_increment(from.0, from.1);
    for commit in commits {
        chains.take(commit)?;
    }
    Ok((chains.state.last_position, chains.state.last_log_hash))
}

/// Checks a chain of backups' logs, each going on from the one before, as
/// one log from position 1, without writing anything: the position and
/// log hash each part ends at.
pub(crate) fn check_backup_chain<I>(
    parts: impl IntoIterator<Item = I>,
) -> Result<Vec<(u64, Hash)>, StoreError>
where
    I: IntoIterator<Item = Result<Commit, String>>,
{
    let mut chains = Chains::of_backup();
    let mut ends = Vec::new();
    for part in parts {
        for commit in part {
            chains.take(commit)?;
        }
        ends.push((chains.state.last_position, chains.state.last_log_hash));
    }
    Ok(ends)
}

/// Checks `commits` (the whole log from position 1, in order) without
/// writing anything; where it ends.
pub(super) fn check_log(
    commits: impl IntoIterator<Item = Result<Commit, String>>,
) -> Result<WriterState, StoreError> {
    let mut chains = Chains::of_backup();
    for commit in commits {
        chains.take(commit)?;
    }
    Ok(chains.state)
}

/// Writes `commits`, checked again as they go, into the empty store on
/// `disk` and `log` (the commits to the log's files, synced a chunk at a
/// time, and to its index; the chain's hashes to sled); the writer's
/// state after them.
pub(super) fn restore_log(
    disk: &Disk,
    log: &LogFiles,
    index: &LogIndex,
    stats: &Stats,
    commits: impl IntoIterator<Item = Result<Commit, String>>,
) -> Result<WriterState, StoreError> {
    let tree = disk.tree()?;
    // Both checked before anything is written: the suggestions are written
    // after the log.
    let holds = |what: &str| {
        StoreError::Io(format!(
            "{} already holds {what}: a restore needs an empty data directory",
            disk.path().display()
        ))
    };
    if log.last_position() > 0 {
        return Err(holds("a log"));
    }
    if tree
        .scan_prefix(key(Space::Suggestions, &[]))
        .next()
        .is_some()
    {
        return Err(holds("suggestions"));
    }
    let mut chains = Chains::of_backup();
    let mut view = BatchView::new(&tree, log, index, stats, Keys { generation: 0 });
    let mut in_view = 0;
    for commit in commits {
        let (commit, _, chained, digests) = chains.take(commit)?;
        view.put_commit(&commit, &chained, &digests);
        in_view += 1;
        if in_view == CHUNK {
            log.append(&view.log_records())?;
            index.add(view.index_entries())?;
            tree.apply_batch(view.into_batch())?;
            view = BatchView::new(&tree, log, index, stats, Keys { generation: 0 });
            in_view = 0;
        }
    }
    let state = chains.state;
    log.append(&view.log_records())?;
    index.add(view.index_entries())?;
    view.put(meta_key(WriterState::KEY), state.encode());
    view.put(
        meta_key(super::keys::CHECKPOINT),
        0u64.to_be_bytes().to_vec(),
    );
    tree.apply_batch(view.into_batch())?;
    disk.flush(&tree)?;
    Ok(state)
}

/// Checks the log's commits past `state` (what sled had not taken in when
/// the process stopped: a crash) and writes their chain hashes into sled,
/// and flushes them: the writer's state after them. The log ending before
/// `state` is corruption: sled is never written past what the log's files
/// hold.
pub(super) fn replay_log(
    disk: &Disk,
    log: &LogFiles,
    index: &LogIndex,
    stats: &Stats,
    state: WriterState,
) -> Result<WriterState, StoreError> {
    let last = log.last_position();
    if last < state.last_position {
        return Err(StoreError::Corrupt(format!(
            "sled holds the log's indexes through position {}, and the log's files end at {last}",
            state.last_position
        )));
    }
    if last == state.last_position {
        return Ok(state);
    }
    let tree = disk.tree()?;
    let mut chains = Chains::after(state);
    let mut from = state.last_position + 1;
    while from <= last {
        let to = (from + CHUNK as u64 - 1).min(last);
        let mut view = BatchView::new(&tree, log, index, stats, Keys { generation: 0 });
        log.read_range(from, to, |position, bytes| {
            let commit = crate::codec::decode_commit(bytes).map_err(|e| {
                StoreError::Corrupt(format!("the log's commit at position {position}: {e}"))
            })?;
            chains.know_head(log, index, &commit)?;
            let (commit, _, chained, digests) = chains.take(Ok(commit))?;
            view.put_chain(commit.global_position, &chained);
            view.put_digests(commit.global_position, &digests);
            Ok(())
        })?;
        view.put(meta_key(WriterState::KEY), chains.state.encode());
        tree.apply_batch(view.into_batch())?;
        from = to + 1;
    }
    disk.flush(&tree)?;
    tracing::info!(
        commits = last - state.last_position,
        position = last,
        "checked the log's commits sled had not taken in"
    );
    Ok(chains.state)
}

/// Checks that every one of `suggestions` was read whole; how many.
pub(super) fn check_suggestions(
    suggestions: impl IntoIterator<Item = Result<Suggestion, String>>,
) -> Result<u64, StoreError> {
    let mut count = 0;
    for suggestion in suggestions {
        suggestion.map_err(refused_suggestion)?;
        count += 1;
    }
    Ok(count)
}

/// Writes `suggestions` (in the order they were accepted) after the log
/// that `state` ends (`restore_log` found the store without any); the
/// writer's state after them.
pub(super) fn restore_suggestions(
    disk: &Disk,
    mut state: WriterState,
    suggestions: impl IntoIterator<Item = Result<Suggestion, String>>,
) -> Result<WriterState, StoreError> {
    let tree = disk.tree()?;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for suggestion in suggestions {
        let mut suggestion = suggestion.map_err(refused_suggestion)?;
        state.last_suggestion += 1;
        suggestion.sequence = state.last_suggestion;
        batch.insert(
            position_key(Space::Suggestions, suggestion.sequence),
            encode_suggestion(&suggestion),
        );
        in_batch += 1;
        if in_batch == CHUNK {
            tree.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    batch.insert(meta_key(WriterState::KEY), state.encode());
    tree.apply_batch(batch)?;
    disk.flush(&tree)?;
    Ok(state)
}

fn refused_suggestion(why: String) -> StoreError {
    StoreError::Corrupt(format!("the backup's suggestions: {why}"))
}
