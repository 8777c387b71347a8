//! `answerlog verify-receipt`: an answer's receipt checked offline
//! (docs/AUDIT.md, "Receipts"): the leaf recomputed from the answer and
//! the commit hash the receipt carries, the inclusion proof against the
//! checkpoint's root, and the checkpoint's signature by the pinned key.

use std::path::Path;

use anyhow::Context as _;

use super::json;
use crate::domain::{answer_digest, hex, merkle};
use crate::grpc::pb;
use crate::tlog::proof::{TlogProof, Trust};
use crate::tlog::receipt::ReceiptExtra;
use crate::verifier_key::VerifierKey;

/// The keys the receipt is checked against, as given on the command line.
pub(super) struct Pinned<'a> {
    pub(super) vkey: &'a str,
    pub(super) witnesses: &'a [String],
    /// Of the witnesses; none: every one.
    pub(super) quorum: Option<usize>,
}

pub(super) fn verify_receipt(
    file: &Path,
    answer: &Path,
    pinned: &Pinned<'_>,
    as_json: bool,
) -> anyhow::Result<()> {
    let key = VerifierKey::parse(pinned.vkey).map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let (witnesses, quorum) =
        crate::tlog::cosignature::pinned_witnesses(pinned.witnesses, pinned.quorum)
            .map_err(anyhow::Error::msg)?;
    let receipt = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = std::fs::read_to_string(answer)
        .with_context(|| format!("cannot read {}", answer.display()))?;
    let message: pb::Answer = json::from_json("answerlog.v1.Answer", &text).with_context(|| {
        format!(
            "{} is not an answer as `get --json` prints it",
            answer.display()
        )
    })?;
    let served = crate::grpc::served_answer(&message)
        .map_err(|e| anyhow::anyhow!("{}: {e}", answer.display()))?;
    let refused = |why: String| anyhow::anyhow!("the receipt does not verify: {why}");
    let proof = TlogProof::parse(&receipt).map_err(refused)?;
    let extra = proof
        .extra
        .as_deref()
        .ok_or_else(|| {
            refused("it has no extra line naming the article, version and commit".into())
        })
        .and_then(|bytes| ReceiptExtra::parse(bytes).map_err(refused))?;
    let a = &served.article;
    if (extra.article, extra.version) != (a.id, a.version) {
        return Err(refused(format!(
            "it is for article {} version {}, and the answer is article {} version {}",
            extra.article, extra.version, a.id, a.version
        )));
    }
    if proof.index.checked_add(1) != Some(served.global_position) {
        return Err(refused(format!(
            "it proves leaf {}, and the answer's commit, at position {}, is leaf {}",
            proof.index,
            served.global_position,
            served.global_position.saturating_sub(1)
        )));
    }
    let leaf = merkle::commit_leaf(
        &extra.commit,
        &answer_digest(
            a,
            served.global_position,
            served.recorded_at,
            extra.answer_salt.as_ref(),
        ),
    );
    let checkpoint = proof
        .verify(
            &leaf,
            &Trust {
                log: &key,
                origin: None,
                witnesses: &witnesses,
                quorum,
            },
        )
        .map_err(refused)?;
    let root = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, checkpoint.root);
    if as_json {
        outln!(
            "{}",
            serde_json::json!({
                "verified": true,
                "articleId": a.id.to_string(),
                "version": a.version.to_string(),
                "globalPosition": served.global_position.to_string(),
                "commitHash": hex(&extra.commit),
                "leafIndex": proof.index.to_string(),
                "witnesses": witnesses.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
                "witnessQuorum": quorum,
                "checkpoint": {
                    "origin": checkpoint.origin,
                    "treeSize": checkpoint.size.to_string(),
                    "rootHash": root,
                },
            })
        )?;
    } else {
        let cosigned = if witnesses.is_empty() {
            String::new()
        } else {
            format!(
                ", cosigned by at least {quorum} of {}",
                witnesses
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        outln!(
            "the receipt verifies: article {} version {} (position {}) is leaf {} of the tree of {} commits whose root {root} {} signed{cosigned}",
            a.id,
            a.version,
            served.global_position,
            proof.index,
            checkpoint.size,
            key.name
        )?;
    }
    Ok(())
}
