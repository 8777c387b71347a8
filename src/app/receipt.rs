//! Receipts and proofs of the log's Merkle tree (issue 16): a receipt is
//! a C2SP tlog-proof of the leaf of the commit that made an answer, at a
//! checkpoint that covers it (docs/AUDIT.md, "Receipts"); a consistency
//! proof shows that a tree of one size is the start of a larger one.

use std::sync::Arc;

use tokio::time::Instant;

use super::{App, AppError};
use crate::domain::{merkle, ArticleVersion, Hash, Salt};
use crate::tlog::proof::TlogProof;
use crate::tlog::receipt::ReceiptExtra;

impl App {
    /// A receipt for each answer, all at one checkpoint: the latest once
    /// one covers every answer's commit (signed at once if need be),
    /// waiting until `deadline`.
    pub(crate) async fn receipts(
        &self,
        answers: &[Arc<ArticleVersion>],
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<u8>>, AppError> {
        let Some(last) = answers.iter().map(|a| a.global_position).max() else {
            return Ok(Vec::new());
        };
        let signed = self.checkpoint_covering(last, deadline).await?;
        let positions: Vec<u64> = {
            let mut positions: Vec<u64> = answers.iter().map(|a| a.global_position).collect();
            positions.sort_unstable();
            positions.dedup();
            positions
        };
        let commits = self.store.read_commits(&positions)?;
        // The commit's hash and answer salt: what its leaf takes besides
        // the answer.
        let leaf_of = |position: u64| -> Result<(Hash, Option<Salt>), AppError> {
            let i = positions.binary_search(&position).unwrap_or(usize::MAX);
            let commit = commits
                .get(i)
                .and_then(Option::as_ref)
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            if commit.answer_digest.is_some() {
                // docs/AUDIT.md, "Redaction": the leaf keeps the digest of
                // the answer as it was, which no reader is served now.
                return Err(AppError::FailedPrecondition(format!(
                    "a redaction changed the answer of the commit at position {position}: its leaf keeps the digest of the answer as it was before, so no receipt proves the answer served now"
                )));
            }
            let hash = Hash::try_from(commit.hash.as_slice()).map_err(|_| {
                AppError::DataLoss(format!("the commit at {position} has no 32-byte hash"))
            })?;
            Ok((hash, commit.answer_salt().copied()))
        };
        answers
            .iter()
            .map(|answer| {
                let index = answer.global_position.checked_sub(1).ok_or_else(|| {
                    AppError::DataLoss("an answer at position 0 has no leaf".into())
                })?;
                let hashes =
                    merkle::inclusion_proof(self.tree.nodes(), index, signed.checkpoint.size)
                        .map_err(files_failed)?
                        .map_err(|e| AppError::DataLoss(e.to_string()))?;
                let (commit, answer_salt) = leaf_of(answer.global_position)?;
                let extra = ReceiptExtra {
                    article: answer.article.id,
                    version: answer.article.version,
                    commit,
                    answer_salt,
                };
                Ok(TlogProof {
                    extra: Some(extra.to_bytes()),
                    index,
                    hashes,
                    checkpoint: signed.note.clone(),
                }
                .to_bytes())
            })
            .collect()
    }

    /// RFC 6962's proof that the tree of `old` leaves is the start of the
    /// tree of `new`, both within the tree grown so far.
    pub(crate) fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, AppError> {
        let size = self.tree.size();
        if new > size {
            return Err(AppError::invalid(
                "new_size",
                format!("{new} is beyond the Merkle tree, which holds {size} commits"),
            ));
        }
        if old > new {
            return Err(AppError::invalid(
                "old_size",
                format!("{old} is larger than new_size {new}"),
            ));
        }
        merkle::consistency_proof(self.tree.nodes(), old, new)
            .map_err(files_failed)?
            .map_err(|e| AppError::invalid("old_size", e.to_string()))
    }
}

fn files_failed(e: std::io::Error) -> AppError {
    AppError::Unavailable(format!("the Merkle tree's files: {e}"))
}
