//! The one rule of a log's order: how a commit follows its article's head.
//!
//! A log is the article chains interleaved. Its positions order it; time
//! does not, across articles: each replica of a replicated log stamps its
//! commits with its own clock, so `recorded_at` increases along each
//! article's chain only. Every reader of a log applies this rule to each
//! commit: the writer's ingest of a replicated log, restore, and both
//! verifiers (the server's and `answerlog verify`).

use super::chain::{commit_hash_and_digests, hex, Hash, ZERO_HASH};
use super::commit::Commit;

/// Where an article's chain stands: its last version, that version's hash,
/// and when it was recorded (µs since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainHead {
    pub(crate) version: u64,
    pub(crate) hash: Hash,
    pub(crate) micros: i64,
}

impl ChainHead {
    /// Before version 1: no version, the zero hash, no time.
    pub(crate) const START: Self = Self {
        version: 0,
        hash: ZERO_HASH,
        micros: i64::MIN,
    };
}

/// Why a commit cannot come next in its article's chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unlinked {
    #[error("version {claimed} does not follow the article's version {head}")]
    Version { head: u64, claimed: u64 },
    #[error(
        "its previous hash {} is not the hash of the article's version {head} ({})",
        hex(found),
        hex(expected)
    )]
    PrevHash {
        head: u64,
        expected: Hash,
        found: Vec<u8>,
    },
    #[error(
        "its content hashes to {}, not to the recorded {}",
        hex(recomputed),
        hex(recorded)
    )]
    Hash { recomputed: Hash, recorded: Vec<u8> },
    #[error(
        "it was recorded at {micros} µs, not after the article's version {head} ({head_micros} µs)"
    )]
    Time {
        head: u64,
        head_micros: i64,
        micros: i64,
    },
    #[error("it holds no events")]
    Empty,
}

/// Checks that `commit` comes next after `head` in its article's chain:
/// the next version, linked to the head's hash, hashing to the hash it
/// records, recorded after the head, holding events. Returns the head the
/// commit makes.
pub(crate) fn follow(head: &ChainHead, commit: &Commit) -> Result<ChainHead, Unlinked> {
    follow_with_digests(head, commit).map(|(next, _)| next)
}

/// As `follow`, with the payload digests of the commit's events that its
/// hash covers, made once with it (`chain::commit_hash_and_digests`).
pub(crate) fn follow_with_digests(
    head: &ChainHead,
    commit: &Commit,
) -> Result<(ChainHead, Vec<Hash>), Unlinked> {
    if commit.version != head.version + 1 {
        return Err(Unlinked::Version {
            head: head.version,
            claimed: commit.version,
        });
    }
    if commit.prev_hash.as_slice() != head.hash {
        return Err(Unlinked::PrevHash {
            head: head.version,
            expected: head.hash,
            found: commit.prev_hash.clone(),
        });
    }
    let (hash, digests) = commit_hash_and_digests(&head.hash, commit);
    if commit.hash.as_slice() != hash {
        return Err(Unlinked::Hash {
            recomputed: hash,
            recorded: commit.hash.clone(),
        });
    }
    let micros = commit.recorded_at.timestamp_micros();
    if micros <= head.micros {
        return Err(Unlinked::Time {
            head: head.version,
            head_micros: head.micros,
            micros,
        });
    }
    if commit.events.is_empty() {
        return Err(Unlinked::Empty);
    }
    Ok((
        ChainHead {
            version: commit.version,
            hash,
            micros,
        },
        digests,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::commit_hash;
    use crate::golden_tests::history;

    #[test]
    fn a_chain_follows_from_the_start() {
        let mut head = ChainHead::START;
        for commit in history() {
            head = follow(&head, &commit).expect("the golden chain links");
        }
        assert_eq!(head.version, history().len() as u64);
    }

    #[test]
    fn each_way_of_not_following_is_named() {
        let commits = history();
        let v1 = follow(&ChainHead::START, &commits[0]).unwrap();
        let v2 = &commits[1];

        let mut skipped = v2.clone();
        skipped.version = 3;
        assert!(matches!(
            follow(&v1, &skipped),
            Err(Unlinked::Version {
                head: 1,
                claimed: 3
            })
        ));

        let mut unlinked = v2.clone();
        unlinked.prev_hash = vec![1; 32];
        assert!(matches!(
            follow(&v1, &unlinked),
            Err(Unlinked::PrevHash { head: 1, .. })
        ));

        let mut changed = v2.clone();
        changed.reason.push('!');
        assert!(matches!(follow(&v1, &changed), Err(Unlinked::Hash { .. })));

        // Recorded no later than version 1: refused even with its hash
        // recomputed (a tamperer's or a broken clock's).
        for micros in [v1.micros, v1.micros - 1] {
            let mut early = v2.clone();
            early.recorded_at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            early.hash = commit_hash(&v1.hash, &early).to_vec();
            assert!(matches!(
                follow(&v1, &early),
                Err(Unlinked::Time { head: 1, .. })
            ));
        }

        let mut empty = v2.clone();
        empty.events.clear();
        empty.hash = commit_hash(&v1.hash, &empty).to_vec();
        assert_eq!(follow(&v1, &empty), Err(Unlinked::Empty));
    }
}
