//! Verification: recompute the article chains and the log chain from the
//! stored commits and report the first place where they do not hold.

use std::collections::HashMap;

use super::{App, AppError};
use crate::domain::{follow, log_hash, ArticleId, ChainHead, Commit, Hash, Unlinked, ZERO_HASH};
use crate::log::StoreError;
use crate::store::stream_range;

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
        let mut chained = self
            .store
            .log_hash(from - 1)?
            .ok_or_else(|| AppError::not_found("from_position", "is past the end of the log"))?;
        let mut heads: HashMap<ArticleId, ChainHead> = HashMap::new();
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
            let head = match heads.get(&id) {
                Some(head) => *head,
                None if commit.version == 1 => ChainHead::START,
                None => match self.stored_head(id, commit.version).await? {
                    Some(head) => head,
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
            let head = match check_commit(&commit, &head) {
                Ok(next) => next,
                Err(found) => {
                    outcome.first_break = Some(*found);
                    return Ok(outcome);
                }
            };
            let hash = head.hash;
            let recomputed = log_hash(&chained, position, &hash);
            let stored = match self.store.log_hash(position) {
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
            heads.insert(id, head);
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
        let mut head = ChainHead::START;
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
            match check_commit(&commit, &head) {
                Ok(next) => {
                    head = next;
                    outcome.head_hash = next.hash;
                    outcome.hashes.push(next.hash);
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
        match self.store.read(position) {
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

    /// The head recorded for the version before `version` (the boundary
    /// of a check that starts past position 1); `None` if there is none.
    async fn stored_head(
        &self,
        id: ArticleId,
        version: u64,
    ) -> Result<Option<ChainHead>, AppError> {
        let Some(previous) = version.checked_sub(1).filter(|v| *v > 0) else {
            return Ok(None);
        };
        match self.store.stream_entry(id, previous) {
            Ok(entry) => Ok(entry.map(|e| ChainHead {
                version: e.version,
                hash: e.hash,
                micros: e.recorded_at.timestamp_micros(),
            })),
            Err(StoreError::Corrupt(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Checks that a commit follows its article's head (`domain::link`);
/// returns the head it makes, or the break it is.
fn check_commit(commit: &Commit, head: &ChainHead) -> Result<ChainHead, Box<ChainBreak>> {
    follow(head, commit).map_err(|why| {
        let (expected, found) = match &why {
            Unlinked::PrevHash {
                expected, found, ..
            } => (expected.to_vec(), found.clone()),
            Unlinked::Hash {
                recomputed,
                recorded,
            } => (recorded.clone(), recomputed.to_vec()),
            _ => (Vec::new(), Vec::new()),
        };
        Box::new(broken(commit, "article", expected, found, why.to_string()))
    })
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
