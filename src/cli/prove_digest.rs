//! `answerlog audit prove-digest DIGEST --vkey KEY`: that a digest kept
//! from before still lies on the log the server signs today
//! (docs/AUDIT.md, "Old digests on today's log"). The digest's log hash at
//! position N, extended by the hashes of the commits after N, must give
//! the log hash that a checkpoint signed by the pinned key carries at its
//! size.

use std::path::Path;

use anyhow::Context as _;

use super::client::{audit, status_error};
use super::verify::read_digest;
use super::ServerArg;
use crate::domain::{hex, log_hash, Hash};
use crate::grpc::pb::{GetCheckpointRequest, ListCommitsRequest};
use crate::tlog::checkpoint::{Checkpoint, LOG_HASH_EXTENSION};
use crate::tlog::note::Note;
use crate::verifier_key::VerifierKey;

/// Commits asked for a page.
const PAGE: i32 = 1000;

pub(super) async fn prove_digest(
    file: &Path,
    vkey: &str,
    digest_vkey: Option<&str>,
    as_json: bool,
    server: &ServerArg,
) -> anyhow::Result<()> {
    let key = VerifierKey::parse(vkey).map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let digest_key = digest_vkey
        .map(|text| VerifierKey::parse(text).map_err(|e| anyhow::anyhow!("--digest-vkey: {e}")))
        .transpose()?;
    let (digest, digest_verdict) = read_digest(file, digest_key.as_ref())?;
    let position = digest.global_position;
    let mut client = audit(server).await?;
    let served = client
        // Every acknowledged write: a server whose log is shorter than the
        // digest's position is refused below as a rollback, not waited on.
        .get_checkpoint(GetCheckpointRequest { min_position: 0 })
        .await
        .map_err(status_error)?
        .into_inner();
    let refused = |why: String| anyhow::anyhow!("the digest is not proven on today's log: {why}");
    let opened = Note::open(&served.note, std::slice::from_ref(&key))
        .map_err(|e| refused(format!("the checkpoint: {e}")))?;
    let checkpoint = Checkpoint::parse(&opened.note.text)
        .map_err(|e| refused(format!("the checkpoint: {e}")))?;
    if checkpoint.origin != key.name {
        return Err(refused(format!(
            "the checkpoint's origin {:?} is not the pinned key's name {:?}",
            checkpoint.origin, key.name
        )));
    }
    let carried = checkpoint
        .log_hash()
        .map_err(|e| refused(format!("the checkpoint: {e}")))?
        .ok_or_else(|| {
            refused(format!(
                "the checkpoint carries no {LOG_HASH_EXTENSION} line (a server older than this command signed it)"
            ))
        })?;
    if checkpoint.size < position {
        return Err(refused(format!(
            "the checkpoint covers {} commits, fewer than the digest's position {position}: a rollback",
            checkpoint.size
        )));
    }
    // The log chain from the digest's hash through the checkpoint's size,
    // over the commit hashes the server gives: a wrong one gives another
    // chain, which the signed line does not match.
    let mut chain: Hash = digest.log_hash;
    let mut next = position + 1;
    while next <= checkpoint.size {
        let page = client
            .list_commits(ListCommitsRequest {
                page_size: PAGE,
                from_position: next,
                ..ListCommitsRequest::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if page.commits.is_empty() {
            return Err(refused(format!(
                "the server lists no commit at position {next}, within the checkpoint"
            )));
        }
        for commit in page.commits {
            let revision = commit.revision.unwrap_or_default();
            if next > checkpoint.size {
                break;
            }
            if revision.global_position != next {
                return Err(refused(format!(
                    "the server listed position {} where {next} was due",
                    revision.global_position
                )));
            }
            let hash: Hash = crate::signing::unhex::<32>(&revision.hash).with_context(|| {
                format!("the commit at position {next} has no 64-hex-digit hash")
            })?;
            chain = log_hash(&chain, next, &hash);
            next += 1;
        }
    }
    if chain != carried {
        return Err(refused(format!(
            "extended by the {} commits after position {position}, the digest's log hash gives {} at position {}, and the checkpoint signed by {} says {}: the log before position {position} is not the one the digest was taken of",
            checkpoint.size - position,
            hex(&chain),
            checkpoint.size,
            key.name,
            hex(&carried)
        )));
    }
    if as_json {
        outln!(
            "{}",
            serde_json::json!({
                "proven": true,
                "digestPosition": position.to_string(),
                "digestLogHash": hex(&digest.log_hash),
                "digestKeyId": digest.signed.key_id,
                "checkpoint": {
                    "origin": checkpoint.origin,
                    "treeSize": checkpoint.size.to_string(),
                    "logHash": hex(&carried),
                },
                "commitsSince": checkpoint.size - position,
            })
        )?;
    } else {
        outln!("{digest_verdict}")?;
        outln!(
            "the digest lies on today's log: its log hash at position {position}, extended by the {} commits since, is the log hash at {} that {} signed",
            checkpoint.size - position,
            checkpoint.size,
            key.name
        )?;
    }
    Ok(())
}
