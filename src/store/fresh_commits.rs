//! The commits the writer made durable lately, as it made them, held for
//! the Merkle tree's thread: it hashes every commit once, soon after its
//! batch is durable, and reading each back from the log's files and
//! decoding it again was two fifths of that thread's time (BENCHMARKS.md).
//!
//! The writer puts a batch's appended commits here after its sync and
//! before the batch's position is published, so that a reader of a
//! published position finds it here or in the log, never neither. Each
//! commit is taken once; what is not here (taken, evicted, ingested rather
//! than appended) is read from the log as before. A redaction rewrites
//! earlier records of the log: the writer empties this before the rewrite
//! begins, so that no commit held here is older than what the log holds,
//! beyond the race every reader of the log already handles (`rewrites`).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::domain::Commit;

/// The most bytes of encoded commits held: a tree that falls further
/// behind reads the rest from the log.
const HELD_BYTES: usize = 8 << 20;

#[derive(Debug, Default)]
pub(super) struct FreshCommits {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// Increasing positions, each commit with its encoded size.
    commits: VecDeque<(Commit, usize)>,
    bytes: usize,
}

impl FreshCommits {
    /// Holds a durable batch's commits (increasing positions, after any
    /// held), forgetting the oldest beyond the bound.
    pub(super) fn extend(&self, commits: impl IntoIterator<Item = (Commit, usize)>) {
        let mut held = self.lock();
        for (commit, size) in commits {
            if held
                .commits
                .back()
                .is_some_and(|(last, _)| last.global_position >= commit.global_position)
            {
                // Out of order (never, as the writer appends): start again.
                held.commits.clear();
                held.bytes = 0;
            }
            held.bytes += size;
            held.commits.push_back((commit, size));
        }
        while held.bytes > HELD_BYTES {
            let Some((_, size)) = held.commits.pop_front() else {
                break;
            };
            held.bytes -= size;
        }
    }

    /// Forgets everything held.
    pub(super) fn clear(&self) {
        let mut held = self.lock();
        held.commits.clear();
        held.bytes = 0;
    }

    /// Takes the commits held at `positions` (increasing), one slot each,
    /// `None` where none is held; forgets those held before the first.
    pub(super) fn take(&self, positions: &[u64]) -> Vec<Option<Commit>> {
        let mut held = self.lock();
        let mut taken = Vec::with_capacity(positions.len());
        for &position in positions {
            while held
                .commits
                .front()
                .is_some_and(|(c, _)| c.global_position < position)
            {
                let (_, size) = held.commits.pop_front().expect("a front");
                held.bytes -= size;
            }
            let found = held
                .commits
                .front()
                .is_some_and(|(c, _)| c.global_position == position);
            taken.push(match found {
                true => held.commits.pop_front().map(|(commit, size)| {
                    held.bytes -= size;
                    commit
                }),
                false => None,
            });
        }
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(position: u64) -> (Commit, usize) {
        let commit = Commit {
            article_id: crate::domain::ArticleId::from_uuid(uuid::Uuid::nil()),
            version: position,
            global_position: position,
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            actor: "a".into(),
            reason: String::new(),
            command_id: crate::domain::CommandId::from_uuid(uuid::Uuid::nil()),
            provenance: crate::domain::Provenance::default(),
            request_hash: [0; 32],
            prev_hash: Vec::new(),
            hash: Vec::new(),
            events: Vec::new(),
            salts: None,
            redactions: Vec::new(),
            answer_digest: None,
        };
        (commit, 1 << 20)
    }

    fn positions(taken: &[Option<Commit>]) -> Vec<Option<u64>> {
        taken
            .iter()
            .map(|c| c.as_ref().map(|c| c.global_position))
            .collect()
    }

    #[test]
    fn commits_are_taken_once_gaps_and_all() {
        let fresh = FreshCommits::default();
        fresh.extend([1, 2, 4, 5].map(commit));
        assert_eq!(positions(&fresh.take(&[2, 3, 4])), [Some(2), None, Some(4)]);
        // 1 was passed over, 2 and 4 taken: only 5 is left.
        assert_eq!(
            positions(&fresh.take(&[1, 2, 5, 6])),
            [None, None, Some(5), None]
        );
        assert_eq!(fresh.lock().bytes, 0);
    }

    #[test]
    fn the_oldest_go_past_the_bound_and_a_clear_forgets_all() {
        let fresh = FreshCommits::default();
        fresh.extend((1..=10).map(commit));
        assert_eq!(
            positions(&fresh.take(&[1, 2, 3])),
            [None, None, Some(3)],
            "8 MiB of commits of 1 MiB held"
        );
        fresh.clear();
        assert_eq!(positions(&fresh.take(&[4])), [None]);
        fresh.extend([11].map(commit));
        assert_eq!(positions(&fresh.take(&[11])), [Some(11)]);
    }
}
