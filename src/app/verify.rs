//! Verification: recompute the article chains and the log chain from the
//! stored commits and report the first place where they do not hold.

use std::collections::HashMap;

use super::{App, AppError};
use crate::domain::{commit_hash, log_hash, ArticleId, Commit, Hash, ZERO_HASH};
use crate::projection::stream_range;
use crate::store::{Log, StoreError};

/// The most commits one VerifyLog call checks.
pub(crate) const MAX_VERIFY: u64 = 100_000;

/// The first place where a chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChainBreak {
    pub(crate) global_position: u64,
    pub(crate) article_id: Option<ArticleId>,
    pub(crate) version: u64,
    /// "article", "log", "record", or "stream" (a replicated log that a
    /// replica found invalid from this position on).
    pub(crate) chain: &'static str,
    /// What the chain says should be there.
    pub(crate) expected: Vec<u8>,
    /// What was found: the stored content's hash, or the stored link.
    pub(crate) found: Vec<u8>,
    pub(crate) detail: String,
}

/// The outcome of checking a range of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogVerification {
    pub(crate) from: u64,
    /// The last position checked (before `from` if none).
    pub(crate) through: u64,
    /// The log chain's hash at `through`, as recomputed.
    pub(crate) log_hash: Hash,
    /// Where to continue, if the durable end was not reached.
    pub(crate) next: Option<u64>,
    pub(crate) first_break: Option<ChainBreak>,
    /// The recomputed log hash at `probe`, if the range reached it.
    pub(crate) probed: Option<Hash>,
}

/// The outcome of checking one article's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArticleVerification {
    pub(crate) versions: u64,
    pub(crate) head_hash: Hash,
    pub(crate) first_break: Option<ChainBreak>,
    /// The recomputed hash of every version, in order.
    pub(crate) hashes: Vec<Hash>,
}

impl App {
    /// Checks positions `from..` (at most `max` of them) of the durable log.
    /// `probe` names a position whose recomputed log hash to report (a
    /// digest's).
    pub(crate) async fn verify_log(
        &self,
        from: u64,
        max: u64,
        probe: Option<u64>,
    ) -> Result<LogVerification, AppError> {
        let from = from.max(1);
        let max = if max == 0 {
            MAX_VERIFY
        } else {
            max.min(MAX_VERIFY)
        };
        let durable = self.durable();
        let to = durable.min(from.saturating_add(max - 1));
        let mut chained =
            self.store.log_hash(from - 1).await?.ok_or_else(|| {
                AppError::not_found("from_position", "is past the end of the log")
            })?;
        let mut heads: HashMap<ArticleId, (u64, Hash)> = HashMap::new();
        let mut outcome = LogVerification {
            from,
            through: from - 1,
            log_hash: chained,
            next: (to < durable).then_some(to + 1),
            first_break: None,
            // Position 0's hash is a constant; any other is only reported
            // once recomputed here, never taken from storage.
            probed: (probe == Some(0)).then_some(ZERO_HASH),
        };
        for position in from..=to {
            let commit = match self.read_for_verify(position).await? {
                Ok(commit) => commit,
                Err(found) => {
                    outcome.first_break = Some(*found);
                    return Ok(outcome);
                }
            };
            let id = commit.article_id;
            let expected_prev = match heads.get(&id) {
                Some((version, hash)) if version + 1 == commit.version => *hash,
                Some((version, _)) => {
                    outcome.first_break = Some(broken(
                        &commit,
                        "article",
                        Vec::new(),
                        Vec::new(),
                        format!("version {} follows version {version}", commit.version),
                    ));
                    return Ok(outcome);
                }
                None if commit.version == 1 => ZERO_HASH,
                None => match self.stored_hash(id, commit.version).await? {
                    Some(hash) => hash,
                    None => {
                        outcome.first_break = Some(broken(
                            &commit,
                            "article",
                            Vec::new(),
                            Vec::new(),
                            format!(
                                "version {} of the article has no recorded predecessor",
                                commit.version
                            ),
                        ));
                        return Ok(outcome);
                    }
                },
            };
            let hash = match check_commit(&commit, &expected_prev) {
                Ok(hash) => hash,
                Err(found) => {
                    outcome.first_break = Some(*found);
                    return Ok(outcome);
                }
            };
            let recomputed = log_hash(&chained, position, &hash);
            let stored = match self.store.log_hash(position).await {
                Ok(stored) => stored.unwrap_or(ZERO_HASH),
                Err(StoreError::Corrupt(_)) => ZERO_HASH,
                Err(e) => return Err(e.into()),
            };
            if stored != recomputed {
                outcome.first_break = Some(broken(
                    &commit,
                    "log",
                    stored.to_vec(),
                    recomputed.to_vec(),
                    "the log chain's stored hash is not the one recomputed here".into(),
                ));
                return Ok(outcome);
            }
            heads.insert(id, (commit.version, hash));
            chained = recomputed;
            outcome.through = position;
            outcome.log_hash = chained;
            if probe == Some(position) {
                outcome.probed = Some(chained);
            }
        }
        if outcome.next.is_none() {
            // What this replica applied holds; the replicated log past it
            // does not, and is not served as valid.
            if let Some(at) = self.log.stream_break() {
                outcome.first_break = Some(ChainBreak {
                    global_position: at.position,
                    article_id: None,
                    version: 0,
                    chain: "stream",
                    expected: Vec::new(),
                    found: Vec::new(),
                    detail: format!("the replicated log is not applied from here on: {}", at.why),
                });
            }
        }
        Ok(outcome)
    }

    /// Checks every version of one article (auditors: retracted too).
    pub(crate) async fn verify_article(
        &self,
        id: ArticleId,
    ) -> Result<ArticleVerification, AppError> {
        let current = self
            .current_durable(id)
            .await?
            .ok_or_else(|| AppError::not_found("article_id", "no such article"))?;
        let mut outcome = ArticleVerification {
            versions: 0,
            head_hash: ZERO_HASH,
            first_break: None,
            hashes: Vec::new(),
        };
        let positions = stream_range(&self.read_models, id, 1, current.article.version)?;
        for (version, position) in positions {
            let commit = match self.read_for_verify(position).await? {
                Ok(commit) => commit,
                Err(found) => {
                    outcome.first_break = Some(*found);
                    return Ok(outcome);
                }
            };
            if commit.article_id != id || commit.version != version {
                outcome.first_break = Some(broken(
                    &commit,
                    "article",
                    Vec::new(),
                    Vec::new(),
                    format!(
                        "the stream index points version {version} of {id} at position {position}, which holds another commit"
                    ),
                ));
                return Ok(outcome);
            }
            match check_commit(&commit, &outcome.head_hash) {
                Ok(hash) => {
                    outcome.head_hash = hash;
                    outcome.hashes.push(hash);
                }
                Err(found) => {
                    outcome.first_break = Some(*found);
                    return Ok(outcome);
                }
            }
            outcome.versions = version;
        }
        Ok(outcome)
    }

    /// The commit at `position`, or the break a record that does not decode is.
    async fn read_for_verify(
        &self,
        position: u64,
    ) -> Result<Result<Commit, Box<ChainBreak>>, AppError> {
        let record_break = |detail: String| ChainBreak {
            global_position: position,
            article_id: None,
            version: 0,
            chain: "record",
            expected: Vec::new(),
            found: Vec::new(),
            detail,
        };
        match self.store.read(position).await {
            Ok(Some(commit)) if commit.global_position != position => {
                Ok(Err(Box::new(record_break(format!(
                    "the record at position {position} says it is at position {}",
                    commit.global_position
                )))))
            }
            Ok(Some(commit)) if commit.version == 0 => Ok(Err(Box::new(record_break(
                "the record says version 0".into(),
            )))),
            Ok(Some(commit)) => Ok(Ok(commit)),
            Ok(None) => Ok(Err(Box::new(record_break(
                "the log has no commit here".into(),
            )))),
            Err(StoreError::Corrupt(detail)) => Ok(Err(Box::new(record_break(detail)))),
            Err(e) => Err(e.into()),
        }
    }

    /// The hash recorded for the version before `version` (the boundary of
    /// a check that starts past position 1); `None` if there is none.
    async fn stored_hash(&self, id: ArticleId, version: u64) -> Result<Option<Hash>, AppError> {
        let Some(previous) = version.checked_sub(1).filter(|v| *v > 0) else {
            return Ok(None);
        };
        match self.store.stream_entry(id, previous).await {
            Ok(entry) => Ok(entry.map(|e| e.hash)),
            Err(StoreError::Corrupt(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Checks a commit's link and its hash; returns the recomputed hash.
fn check_commit(commit: &Commit, expected_prev: &Hash) -> Result<Hash, Box<ChainBreak>> {
    if commit.prev_hash.as_slice() != expected_prev {
        return Err(Box::new(broken(
            commit,
            "article",
            expected_prev.to_vec(),
            commit.prev_hash.clone(),
            format!(
                "prev_hash does not link to version {}",
                commit.version.saturating_sub(1)
            ),
        )));
    }
    let hash = commit_hash(expected_prev, commit);
    if commit.hash.as_slice() != hash {
        return Err(Box::new(broken(
            commit,
            "article",
            commit.hash.clone(),
            hash.to_vec(),
            "the commit's content does not hash to the hash recorded for it".into(),
        )));
    }
    Ok(hash)
}

fn broken(
    commit: &Commit,
    chain: &'static str,
    expected: Vec<u8>,
    found: Vec<u8>,
    detail: String,
) -> ChainBreak {
    ChainBreak {
        global_position: commit.global_position,
        article_id: Some(commit.article_id),
        version: commit.version,
        chain,
        expected,
        found,
        detail,
    }
}
