//! `answerlog verify FILE [--digest FILE]`: checks an export with no server:
//! every article chain, the log chain where the export holds the whole log,
//! and a kept digest's signature and hash.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

use super::json;
use crate::domain::{
    commit_hash, event_digest, hex, log_hash, Article, ArticleId, Hash, ZERO_HASH,
};
use crate::grpc::pb;
use crate::grpc::{commit_from_message, log_digest};
use crate::signing::{key_id_of, verify_with};
use crate::verifier_key::VerifierKey;

/// What a clean export proved.
struct Report {
    commits: u64,
    articles: usize,
    /// The last position of an export that holds the log from position 1.
    log_through: Option<u64>,
    log_hashes: HashMap<u64, Hash>,
}

/// Checks `file` (and a digest); prints what held, as text or one JSON
/// object; fails at the first thing that does not.
pub(super) fn verify(
    file: &Path,
    digest: Option<&Path>,
    vkey: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut said = Vec::new();
    let outcome = check(file, digest, vkey, &mut said);
    if as_json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "ok": outcome.is_ok(),
            "checked": said,
            "error": outcome.as_ref().err().map(super::out::sentence),
        });
        outln!("{out}")?;
        return outcome.map_err(|_| anyhow::anyhow!("the export does not verify"));
    }
    for line in &said {
        outln!("{line}")?;
    }
    outcome
}

fn check(
    file: &Path,
    digest: Option<&Path>,
    vkey: Option<&str>,
    said: &mut Vec<String>,
) -> anyhow::Result<()> {
    let pinned = vkey
        .map(VerifierKey::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = check_lines(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    said.push(format!(
        "{}: {} commits of {} articles; every article chain verifies",
        file.display(),
        report.commits,
        report.articles
    ));
    said.push(match report.log_through {
        Some(through) => format!("the log chain verifies from position 1 through {through}"),
        None => "the log chain is not checked: the export does not hold the whole log".into(),
    });
    if let Some(path) = digest {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let message: pb::LogDigest = json::from_json("answerlog.v1.LogDigest", text.trim())
            .with_context(|| format!("{} is not a digest", path.display()))?;
        let digest = log_digest(&message).map_err(|s| anyhow::anyhow!("{}", s.message()))?;
        // The key id is not signed: it must be the id of the key that
        // checks the signature, or the digest names a key it was not
        // signed with.
        let carried = key_id_of(&digest.signed.public_key);
        if digest.signed.key_id != carried {
            anyhow::bail!(
                "the digest names the key {} but carries the public key of {carried}",
                digest.signed.key_id
            );
        }
        if let Some(pinned) = &pinned {
            if pinned.public_key != digest.signed.public_key {
                anyhow::bail!(
                    "the digest is signed with {carried} ({}), not with the pinned key {pinned}",
                    hex(&digest.signed.public_key)
                );
            }
        }
        verify_with(
            &digest.signed.public_key,
            &digest.message(),
            &digest.signed.signature,
        )
        .map_err(|e| anyhow::anyhow!("the digest: {e}"))?;
        said.push(match &pinned {
            Some(pinned) => format!(
                "the digest's signature verifies with the pinned key {pinned} ({})",
                digest.signed.key_id
            ),
            None => format!(
                "the digest's signature verifies with {} ({}); pin the key you trust with --vkey",
                digest.signed.key_id,
                hex(&digest.signed.public_key)
            ),
        });
        match report.log_hashes.get(&digest.global_position) {
            Some(hash) if *hash == digest.log_hash => said.push(format!(
                "the export matches the digest at position {}",
                digest.global_position
            )),
            Some(hash) => anyhow::bail!(
                "the export does not match the digest: the log hash at position {} is {}, the digest says {}",
                digest.global_position,
                hex(hash),
                hex(&digest.log_hash)
            ),
            None if digest.global_position == 0 => {}
            None => anyhow::bail!(
                "the export does not reach the digest's position {} with its log chain",
                digest.global_position
            ),
        }
    }
    Ok(())
}

/// Checks every line; the first failure names its line.
fn check_lines(text: &str) -> Result<Report, String> {
    let mut heads: HashMap<ArticleId, (u64, Hash)> = HashMap::new();
    let mut states: HashMap<ArticleId, Article> = HashMap::new();
    let mut last_position = 0;
    let mut log = Some((0u64, ZERO_HASH));
    // Where the positions first skipped one: the missing position, the line
    // where it was expected, and the position that line holds instead.
    let mut first_gap: Option<(u64, usize, u64)> = None;
    let mut report = Report {
        commits: 0,
        articles: 0,
        log_through: None,
        log_hashes: HashMap::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let message: pb::Commit = json::from_json("answerlog.v1.Commit", line)
            .map_err(|e| format!("line {n}: not a commit: {e:#}"))?;
        let commit = commit_from_message(&message).map_err(|e| format!("line {n}: {e}"))?;
        let at = format!(
            "line {n}: version {} of article {}",
            commit.version, commit.article_id
        );
        let expected_prev = match heads.get(&commit.article_id) {
            Some((version, hash)) if version + 1 == commit.version => *hash,
            None if commit.version == 1 => ZERO_HASH,
            _ => {
                return Err(format!(
                    "{at} does not follow the previous version in this file"
                ))
            }
        };
        if commit.prev_hash.as_slice() != expected_prev {
            return Err(format!(
                "{at}: prev_hash {} does not link to the previous version ({})",
                hex(&commit.prev_hash),
                hex(&expected_prev)
            ));
        }
        let hash = commit_hash(&expected_prev, &commit);
        if commit.hash.as_slice() != hash {
            return Err(format!(
                "{at}: the content hashes to {}, not to the recorded {}",
                hex(&hash),
                hex(&commit.hash)
            ));
        }
        for (event, shown) in commit.events.iter().zip(&message.events) {
            if !shown.payload_digest.is_empty() && shown.payload_digest != hex(&event_digest(event))
            {
                return Err(format!(
                    "{at}: the {} event's payload does not match its digest",
                    shown.kind
                ));
            }
        }
        let revision = message
            .revision
            .as_ref()
            .ok_or_else(|| format!("{at}: no revision"))?;
        if revision.event_kinds != commit.event_kinds() {
            return Err(format!(
                "{at}: the revision's event kinds are not its events'"
            ));
        }
        // The displayed date the revision claims is the one the events give.
        let state = Article::fold(
            states.remove(&commit.article_id),
            commit.article_id,
            commit.version,
            &commit.events,
        )
        .ok_or_else(|| format!("{at}: the article's first commit does not create it"))?;
        if revision.last_updated != state.last_updated.to_string() {
            return Err(format!(
                "{at}: the revision claims the date {}, the events give {}",
                revision.last_updated, state.last_updated
            ));
        }
        states.insert(commit.article_id, state);
        if commit.global_position <= last_position {
            return Err(format!(
                "{at}: position {} does not follow {last_position}",
                commit.global_position
            ));
        }
        last_position = commit.global_position;
        heads.insert(commit.article_id, (commit.version, hash));
        // The log chain, while the lines hold the log from position 1 on.
        log = match log {
            Some((last, chained)) if commit.global_position == last + 1 => {
                let next = log_hash(&chained, commit.global_position, &hash);
                if hex(&next) != message.log_hash {
                    return Err(format!(
                        "line {n}: the log hash at position {} recomputes to {}, not to the recorded {}",
                        commit.global_position,
                        hex(&next),
                        message.log_hash
                    ));
                }
                report.log_hashes.insert(commit.global_position, next);
                Some((commit.global_position, next))
            }
            Some((last, _)) => {
                first_gap = Some((last + 1, n, commit.global_position));
                None
            }
            None => None,
        };
        report.commits += 1;
    }
    report.articles = heads.len();
    // Lines of several articles are an export of the whole log: it must hold
    // every position, else commits are missing.
    if report.articles > 1 && log.is_none() {
        return Err(match first_gap {
            Some((missing, n, found)) => format!(
                "line {n}: position {missing} is missing (the line holds position {found}); a file of several articles must hold every position from 1"
            ),
            None => "the file holds several articles but not every position from 1: commits are missing".into(),
        });
    }
    report.log_through = log.map(|(last, _)| last).filter(|last| *last > 0);
    if report.log_through.is_none() {
        report.log_hashes.clear();
    }
    Ok(report)
}
