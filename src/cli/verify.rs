//! `answerlog verify FILE [--digest FILE] [--checkpoint FILE]`: checks an
//! export with no server: every article chain, the log chain where the
//! export holds the whole log, a kept digest's signature and hash, and a
//! kept checkpoint's signature and root.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;

use super::json;
use crate::domain::{
    check_review_claims, commit_event_digest, follow, hex, leaf_answer_digest, log_hash, merkle,
    without_content, Article, ArticleId, ChainHead, Event, Hash, REDACTED, ZERO_HASH,
};
use crate::grpc::pb;
use crate::grpc::{commit_from_message, log_digest, rendered_commit};
use crate::signing::{key_id_of, unhex, verify_with};
use crate::verifier_key::VerifierKey;

/// Reads a kept digest (`audit digest --json`) and checks its signature:
/// with the pinned key if one is given, else with the key it carries
/// (self-asserted). The digest, and what was checked, said.
pub(super) fn read_digest(
    path: &Path,
    pinned: Option<&VerifierKey>,
) -> anyhow::Result<(crate::app::LogDigest, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let message: pb::LogDigest = json::from_json("answerlog.v1.LogDigest", text.trim())
        .with_context(|| format!("{} is not a digest", path.display()))?;
    let digest = log_digest(&message).map_err(|s| anyhow::anyhow!("{}", s.message()))?;
    // The key id is not signed: it must be the id of the key that checks
    // the signature, or the digest names a key it was not signed with.
    let carried = key_id_of(&digest.signed.public_key);
    if digest.signed.key_id != carried {
        anyhow::bail!(
            "the digest names the key {} but carries the public key of {carried}",
            digest.signed.key_id
        );
    }
    if let Some(pinned) = pinned {
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
    let verdict = match pinned {
        Some(pinned) => format!(
            "the digest's signature verifies with the pinned key {pinned} ({})",
            digest.signed.key_id
        ),
        None => format!(
            "the digest's signature verifies with {} ({}); pin the key you trust with --vkey",
            digest.signed.key_id,
            hex(&digest.signed.public_key)
        ),
    };
    Ok((digest, verdict))
}

/// What a clean export proved.
struct Report {
    commits: u64,
    articles: usize,
    /// The last position of an export that holds the log from position 1.
    log_through: Option<u64>,
    log_hashes: HashMap<u64, Hash>,
    /// The Merkle tree over the whole log (docs/AUDIT.md, "The Merkle
    /// tree"), when the export holds it from position 1.
    tree: Option<merkle::MemoryTree>,
}

impl Report {
    /// The root of the first `size` leaves of the whole log's tree.
    fn merkle_root(&self, size: u64) -> Option<Hash> {
        merkle::root(self.tree.as_ref()?, size).ok()
    }
}

/// What a kept digest and checkpoint are checked with.
pub(super) struct Kept<'a> {
    /// `audit digest --json`'s file.
    pub(super) digest: Option<&'a Path>,
    /// `audit checkpoint`'s note, as signed.
    pub(super) checkpoint: Option<&'a Path>,
    /// The only key either may be signed with (C2SP verifier key).
    pub(super) vkey: Option<&'a str>,
}

/// Checks `file` (and a digest); prints what held, as text or one JSON
/// object; fails at the first thing that does not.
pub(super) fn verify(file: &Path, kept: &Kept<'_>, as_json: bool) -> anyhow::Result<()> {
    let mut said = Vec::new();
    let outcome = check(file, kept, &mut said, as_json);
    if as_json {
        let merkle = outcome.as_ref().ok().copied().flatten();
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "ok": outcome.is_ok(),
            "checked": said,
            "merkle": merkle.map(|(size, root)| serde_json::json!({
                "size": size.to_string(),
                "root": base64::engine::general_purpose::STANDARD.encode(root),
            })),
            "error": outcome.as_ref().err().map(super::out::sentence),
        });
        outln!("{out}")?;
        return outcome
            .map(drop)
            .map_err(|_| anyhow::anyhow!("the export does not verify"));
    }
    for line in &said {
        outln!("{line}")?;
    }
    outcome.map(drop)
}

/// Checks the export (and a digest and a checkpoint); the Merkle tree's
/// size and root when the export holds the whole log.
fn check(
    file: &Path,
    kept: &Kept<'_>,
    said: &mut Vec<String>,
    as_json: bool,
) -> anyhow::Result<Option<(u64, Hash)>> {
    let pinned = kept
        .vkey
        .map(VerifierKey::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bar = super::progress::bar(
        "verifying",
        "lines",
        Some(text.lines().count() as u64),
        as_json,
    );
    let report =
        check_lines_showing(&text, &bar).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    bar.finish_and_clear();
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
    if let Some(path) = kept.digest {
        let (digest, verdict) = read_digest(path, pinned.as_ref())?;
        said.push(verdict);
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
    if let Some(path) = kept.checkpoint {
        let key = pinned.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "--checkpoint needs --vkey: the log's key, as `audit checkpoint --vkey` prints it"
            )
        })?;
        said.push(check_checkpoint(path, key, &report)?);
    }
    // Said last: only an export that verified whole has a root to name.
    let whole = report
        .log_through
        .and_then(|through| Some((through, report.merkle_root(through)?)));
    if let Some((through, root)) = whole {
        said.push(format!(
            "the Merkle tree of the log's {through} commits (docs/AUDIT.md) has the root {} (hex {}): a checkpoint of size {through} must name it",
            base64::engine::general_purpose::STANDARD.encode(root),
            hex(&root)
        ));
    }
    Ok(whole)
}

/// Checks a kept checkpoint: signed by `key` under its name, of a size the
/// export holds, with the root (and the log hash) the export's commits
/// give at that size. What held, said.
fn check_checkpoint(path: &Path, key: &VerifierKey, report: &Report) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let checkpoint = crate::tlog::checkpoint::open(&bytes, std::slice::from_ref(key))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if checkpoint.origin != key.name {
        anyhow::bail!(
            "the checkpoint's origin {:?} is not the pinned key's name {:?}",
            checkpoint.origin,
            key.name
        );
    }
    let size = checkpoint.size;
    let Some(through) = report.log_through else {
        anyhow::bail!("a checkpoint is checked against an export of the whole log, from position 1, and this one is not")
    };
    if size > through {
        anyhow::bail!("the checkpoint is of {size} commits, and the export holds {through}");
    }
    let root = report
        .merkle_root(size)
        .ok_or_else(|| anyhow::anyhow!("the export's Merkle tree has no root at size {size}"))?;
    if root != checkpoint.root {
        anyhow::bail!(
            "the export does not match the checkpoint: its Merkle tree of {size} commits has the root {}, the checkpoint says {}",
            base64::engine::general_purpose::STANDARD.encode(root),
            base64::engine::general_purpose::STANDARD.encode(checkpoint.root)
        );
    }
    let chained = match size {
        0 => Some(ZERO_HASH),
        _ => report.log_hashes.get(&size).copied(),
    };
    if let Some(claimed) = checkpoint.log_hash().map_err(anyhow::Error::msg)? {
        if chained != Some(claimed) {
            anyhow::bail!(
                "the export does not match the checkpoint: its log hash at {size} is not the checkpoint's {}",
                hex(&claimed)
            );
        }
    }
    Ok(format!(
        "the export matches the checkpoint of {size} commit{} signed by the pinned key {key}: the same Merkle root{}",
        if size == 1 { "" } else { "s" },
        if chained.is_some() { " and log hash" } else { "" }
    ))
}

/// Where a line differs from what its commit renders, for the message: the
/// first field (as a JSON path) that differs, what the line says there, and
/// what the hashed content gives.
fn first_difference(shown: &pb::Commit, rendered: &pb::Commit) -> String {
    fn walk(
        path: &str,
        shown: &serde_json::Value,
        rendered: &serde_json::Value,
    ) -> Option<(String, String, String)> {
        use serde_json::Value;
        match (shown, rendered) {
            (Value::Object(a), Value::Object(b)) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|k| {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &child,
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                    )
                })
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| walk(&format!("{path}[{i}]"), x, y)),
            (a, b) if a == b => None,
            (a, b) => Some((path.to_owned(), a.to_string(), b.to_string())),
        }
    }
    let json = |m: &pb::Commit| {
        json::to_json_line("answerlog.v1.Commit", m)
            .ok()
            .and_then(|line| serde_json::from_str(&line).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    match walk("", &json(shown), &json(rendered)) {
        Some((path, said, renders)) => format!(
            "{path} is {said}, but the hashed content renders {renders} there: no hash covers it, so it must be exactly that"
        ),
        None => "the line differs from what its hashed content renders".into(),
    }
}

/// Checks every line; the first failure names its line.
#[cfg(test)]
fn check_lines(text: &str) -> Result<Report, String> {
    check_lines_showing(text, &indicatif::ProgressBar::hidden())
}

/// As `check_lines`, moving `bar` a line at a time.
fn check_lines_showing(text: &str, bar: &indicatif::ProgressBar) -> Result<Report, String> {
    let mut heads: HashMap<ArticleId, ChainHead> = HashMap::new();
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
        tree: None,
    };
    let mut tree = merkle::MemoryTree::default();
    // Redactions as the redacted commits show them, and as the commits that
    // made them say: (article, position, event, by position). They must be
    // the same.
    let mut shown = BTreeSet::new();
    let mut made = BTreeSet::new();
    // The commits that keep their leaf's answer digest: (article, position).
    let mut kept = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        bar.inc(1);
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
        let head = match heads.get(&commit.article_id) {
            Some(head) => *head,
            None if commit.version == 1 => ChainHead::START,
            None => {
                return Err(format!(
                    "{at} does not follow the previous version in this file"
                ))
            }
        };
        let head = follow(&head, &commit).map_err(|why| format!("{at}: {why}"))?;
        let hash = head.hash;
        for r in &commit.redactions {
            let event = &commit.events[r.event as usize];
            if *event != without_content(event) {
                return Err(format!(
                    "{at}: event {} is redacted but shows content: a redacted event shows \"{REDACTED}\" for each text",
                    r.event
                ));
            }
            if r.by_position <= commit.global_position {
                return Err(format!(
                    "{at}: event {} is redacted by position {}, which does not come after it",
                    r.event, r.by_position
                ));
            }
            shown.insert((
                commit.article_id,
                commit.global_position,
                r.event,
                r.by_position,
            ));
        }
        if commit.answer_digest.is_some() {
            kept.push((commit.article_id, commit.global_position));
        }
        for e in &commit.events {
            if let Event::PayloadRedacted { position, event } = e {
                made.insert((commit.article_id, *position, *event, commit.global_position));
            }
            // Encoding 1 would cover a redacted claim's structure by
            // nothing: claims came after it, and only in encoding 2.
            if matches!(e, Event::OriginClaimed(_) | Event::SlugAliased { .. })
                && commit.salts.is_none()
            {
                return Err(format!(
                    "{at}: an OriginClaimed or SlugAliased event in a commit of encoding 1, which has none"
                ));
            }
        }
        for (i, shown) in message.events.iter().enumerate() {
            let digest = commit_event_digest(&commit, i)
                .ok_or_else(|| format!("{at}: event {i} has no salt"))?;
            if !shown.payload_digest.is_empty() && shown.payload_digest != hex(&digest) {
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
        let before = states.remove(&commit.article_id);
        let state = Article::fold(
            before.clone(),
            commit.article_id,
            commit.version,
            &commit.events,
        )
        .ok_or_else(|| format!("{at}: the article's first commit does not create it"))?;
        check_review_claims(before.as_ref(), &commit, &state).map_err(|e| format!("{at}: {e}"))?;
        if revision.last_updated != state.last_updated.to_string() {
            return Err(format!(
                "{at}: the revision claims the date {}, the events give {}",
                revision.last_updated, state.last_updated
            ));
        }
        // The hash covers recorded_at to the microsecond, as the server
        // records it: finer digits would be bytes no hash covers.
        if revision
            .recorded_at
            .as_ref()
            .is_some_and(|t| t.nanos % 1000 != 0)
        {
            return Err(format!(
                "{at}: recordedAt has digits below the microsecond, which no hash covers"
            ));
        }
        // Every other byte of the line must be what its hashed content
        // renders: the revision, the exported article of ArticleCreated
        // (its id, status and version), the payload digests.
        let shown_log_hash = unhex::<32>(&message.log_hash)
            .ok_or_else(|| format!("{at}: logHash is not a SHA-256 in hex"))?;
        let mut rendered = rendered_commit(&commit, state.last_updated, &shown_log_hash);
        if message.request_hash.is_empty() {
            // Exports made before the field existed.
            rendered.request_hash.clear();
        }
        if rendered != message {
            return Err(format!("{at}: {}", first_difference(&message, &rendered)));
        }
        // The commit's leaf: its hash, and the answer it leaves.
        tree.push(merkle::commit_leaf(
            &hash,
            &leaf_answer_digest(&commit, &state),
        ));
        states.insert(commit.article_id, state);
        if commit.global_position <= last_position {
            return Err(format!(
                "{at}: position {} does not follow {last_position}",
                commit.global_position
            ));
        }
        last_position = commit.global_position;
        heads.insert(commit.article_id, head);
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
    // Each redaction is one a PayloadRedacted of the article made, and each
    // PayloadRedacted's event is redacted.
    if let Some((article, position, event, by)) = shown.symmetric_difference(&made).next() {
        return Err(if made.contains(&(*article, *position, *event, *by)) {
            format!(
                "position {by} redacts event {event} at position {position} of article {article}, which the file shows unredacted"
            )
        } else {
            format!(
                "event {event} at position {position} of article {article} shows a redaction by position {by}, which no PayloadRedacted made"
            )
        });
    }
    // A leaf keeps its answer's digest only where a redaction of the
    // article, of a commit at or before it, by a commit after it, changed
    // the answer; anywhere else the answer must be the fold's.
    for (article, position) in kept {
        let redacted = shown
            .iter()
            .any(|(a, at, _, by)| *a == article && *at <= position && position < *by);
        if !redacted {
            return Err(format!(
                "position {position} of article {article} keeps an answerDigest, but no redaction of the article before it, by a commit after it, changed its answer: its leaf must be of the answer its commits fold to"
            ));
        }
    }
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
    } else {
        report.tree = Some(tree);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    //! Issue 14, item A.1: every field of every export line is evidence,
    //! or is named as not evidence in docs/AUDIT.md. Generated from the
    //! message descriptors, so that a field added later is covered too.

    use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, Value};

    use super::*;
    use crate::domain::{log_hash, Article};

    /// The golden history (one commit of every event kind), then a second
    /// article's creation, as an export of the whole log: one JSON line a
    /// commit. Two articles, so that `verify` holds it to every position.
    fn export() -> Vec<String> {
        export_commits().1
    }

    /// The commits of [`export`], their lines, and the log hash after each.
    fn export_commits() -> (Vec<crate::domain::Commit>, Vec<String>, Vec<Hash>) {
        let unredacted = crate::golden_tests::history_v1();
        let mut commits = crate::golden_tests::redacted(unredacted.clone());
        let mut second = commits[0].clone();
        second.article_id = crate::domain::ArticleId::from_uuid(uuid::Uuid::from_u128(7));
        second.global_position = commits.len() as u64 + 1;
        // Recorded before the first article's last commit, as a replica
        // with a slower clock may: time is ordered along each article only.
        second.recorded_at = commits.last().unwrap().recorded_at - chrono::Duration::seconds(1);
        second.hash = crate::domain::commit_hash(&ZERO_HASH, &second).to_vec();
        let history = crate::golden_tests::history();
        commits.push(second);
        // A third article: the first's history again, written in encoding
        // 2 (every event kind salted), with fixed salts.
        let third = crate::domain::ArticleId::from_uuid(uuid::Uuid::from_u128(9));
        let first_position = commits.len() as u64 + 1;
        let again: Vec<_> = history
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.article_id = third;
                c.global_position = first_position + i as u64;
                c.recorded_at += chrono::Duration::days(1);
                for e in &mut c.events {
                    if let crate::domain::Event::PayloadRedacted { position, .. } = e {
                        *position += first_position - 1;
                    }
                }
                c
            })
            .collect();
        commits.extend(crate::golden_tests::redacted(crate::golden_tests::salted(
            again,
        )));
        let mut chained = ZERO_HASH;
        let mut states: HashMap<ArticleId, Article> = HashMap::new();
        let mut log_hashes = Vec::new();
        let lines = commits
            .iter()
            .map(|c| {
                let state = Article::fold(
                    states.remove(&c.article_id),
                    c.article_id,
                    c.version,
                    &c.events,
                );
                states.insert(c.article_id, state.clone().unwrap());
                let hash: Hash = c.hash.as_slice().try_into().unwrap();
                chained = log_hash(&chained, c.global_position, &hash);
                log_hashes.push(chained);
                let line = rendered_commit(c, state.unwrap().last_updated, &chained);
                json::to_json_line("answerlog.v1.Commit", &line).unwrap()
            })
            .collect();
        (commits, lines, log_hashes)
    }

    /// docs/audit-vectors: an export of every event kind, a digest of it
    /// signed by a fixed test key, and every intermediate value. The files
    /// must be what this code computes (regenerate them with
    /// `ANSWERLOG_BLESS_VECTORS=1 cargo test --lib audit_vectors`), `verify`
    /// must accept them, and `check.py`, a second implementation written
    /// from docs/AUDIT.md alone, must recompute every hash.
    #[test]
    fn audit_vectors_are_the_codes_and_a_second_implementation_agrees() {
        use crate::domain::{chain_bytes_for_vectors as bytes, digest_message, event_digest};
        let (commits, lines, log_hashes) = export_commits();
        check_lines(&lines.join("\n")).expect("the vectors' export verifies");
        let vectors = serde_json::json!({
            "commits": commits.iter().zip(&log_hashes).map(|(c, log)| {
                let mut commit = serde_json::json!({
                    "canonicalBytes": hex(&bytes::commit(c.prev_hash.as_slice().try_into().unwrap(), c)),
                    "hash": hex(&c.hash),
                    "logHash": hex(log),
                    "events": c.events.iter().enumerate().map(|(i, e)| match (&c.salts, c.redaction(i)) {
                        // Redacted: what stands for the removed content.
                        (None, Some(r)) => serde_json::json!({
                            "kind": e.kind(),
                            "redacted": true,
                            "payloadDigest": hex(&r.digest),
                        }),
                        (Some(_), Some(r)) => {
                            let payload = bytes::event_v2_of(e, &r.digest);
                            serde_json::json!({
                                "kind": e.kind(),
                                "redacted": true,
                                "contentDigest": hex(&r.digest),
                                "canonicalBytes": hex(&payload),
                                "payloadDigest": hex(&<sha2::Sha256 as sha2::Digest>::digest(&payload)),
                            })
                        }
                        (None, None) => serde_json::json!({
                            "kind": e.kind(),
                            "canonicalBytes": hex(&bytes::event(e)),
                            "payloadDigest": hex(&event_digest(e)),
                        }),
                        (Some(salts), None) => {
                            let (payload, content) = bytes::event_v2(e, &salts.events[i]);
                            serde_json::json!({
                                "kind": e.kind(),
                                "contentBytes": hex(&content),
                                "contentDigest": hex(&<sha2::Sha256 as sha2::Digest>::digest(&content)),
                                "canonicalBytes": hex(&payload),
                                "payloadDigest": hex(&<sha2::Sha256 as sha2::Digest>::digest(&payload)),
                            })
                        }
                    }).collect::<Vec<_>>(),
                });
                if let Some(salts) = &c.salts {
                    commit["encoding"] = 2.into();
                    commit["reasonDigest"] =
                        hex(&bytes::reason_digest(&c.reason, &salts.reason)).into();
                }
                commit
            }).collect::<Vec<_>>(),
        });
        // Each commit's answer as GetAnswer serves it, its digest and its
        // Merkle leaf, and the tree's root (issue 16: not served yet).
        let mut vectors = vectors;
        let mut states: HashMap<ArticleId, Article> = HashMap::new();
        let mut tree = crate::domain::merkle::MemoryTree::default();
        let answers: Vec<serde_json::Value> = commits
            .iter()
            .map(|c| {
                let previous = states.remove(&c.article_id);
                let article = Article::fold(previous, c.article_id, c.version, &c.events).unwrap();
                states.insert(c.article_id, article.clone());
                let version = crate::domain::ArticleVersion {
                    article,
                    global_position: c.global_position,
                    recorded_at: c.recorded_at,
                };
                let digest = leaf_answer_digest(c, &version.article);
                let hash: Hash = c.hash.as_slice().try_into().unwrap();
                let leaf = crate::domain::merkle::commit_leaf(&hash, &digest);
                tree.push(leaf);
                let served = crate::grpc::answer_message(&version);
                let served = json::to_json_line("answerlog.v1.Answer", &served).unwrap();
                // An answer a redaction changed: its digest is kept, and the
                // answer served now no longer hashes to it.
                let canonical = match c.answer_digest {
                    Some(_) => serde_json::Value::Null,
                    None => hex(&bytes::answer(
                        &version.article,
                        version.global_position,
                        version.recorded_at,
                        c.answer_salt(),
                    ))
                    .into(),
                };
                serde_json::json!({
                    "answer": serde_json::from_str::<serde_json::Value>(&served).unwrap(),
                    "canonicalBytes": canonical,
                    "digest": hex(&digest),
                    "leafHash": hex(&leaf),
                })
            })
            .collect();
        vectors["answers"] = answers.into();
        vectors["merkleRoot"] =
            hex(&crate::domain::merkle::root(&tree, tree.size()).unwrap()).into();
        let last = commits.last().unwrap();
        let end = *log_hashes.last().unwrap();
        let signed_bytes = digest_message(
            last.global_position,
            &end,
            last.recorded_at.timestamp_micros(),
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let signature = ed25519_dalek::Signer::sign(&key, &signed_bytes);
        let public = key.verifying_key().to_bytes();
        let digest = pb::LogDigest {
            global_position: last.global_position,
            log_hash: hex(&end),
            recorded_at: Some(prost_types::Timestamp {
                seconds: last.recorded_at.timestamp(),
                nanos: last.recorded_at.timestamp_subsec_nanos() as i32,
            }),
            signature: hex(&signature.to_bytes()),
            key_id: key_id_of(&public),
            public_key: hex(&public),
        };
        vectors["digest"] = serde_json::json!({ "signedBytes": hex(&signed_bytes) });
        let files = [
            ("export.jsonl", lines.join("\n") + "\n"),
            (
                "vectors.json",
                serde_json::to_string_pretty(&vectors).unwrap() + "\n",
            ),
            (
                "digest.json",
                json::to_json_line("answerlog.v1.LogDigest", &digest).unwrap() + "\n",
            ),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit-vectors");
        let bless = std::env::var_os("ANSWERLOG_BLESS_VECTORS").is_some();
        for (name, text) in &files {
            let path = dir.join(name);
            if bless {
                std::fs::write(&path, text).unwrap();
            }
            let kept = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                &kept == text,
                "docs/audit-vectors/{name} is not what the code computes: regenerate with ANSWERLOG_BLESS_VECTORS=1 cargo test --lib audit_vectors (and say why the encoding changed)"
            );
        }
        // The digest verifies offline, pinned to the test key.
        let mut said = Vec::new();
        let vkey = crate::verifier_key::VerifierKey::new("vectors", public)
            .unwrap()
            .to_string();
        let merkle = check(
            &dir.join("export.jsonl"),
            &Kept {
                digest: Some(&dir.join("digest.json")),
                checkpoint: None,
                vkey: Some(&vkey),
            },
            &mut said,
            true,
        )
        .expect("verify accepts the vectors and their digest");
        // verify's Merkle root is the vectors' (which check.py recomputes).
        assert_eq!(
            merkle.map(|(size, root)| (size, hex(&root))),
            Some((
                commits.len() as u64,
                vectors["merkleRoot"].as_str().unwrap().to_owned()
            ))
        );
        // A second implementation, from the document.
        let out = std::process::Command::new("python3")
            .arg(dir.join("check.py"))
            .arg(&dir)
            .output()
            .expect("python3 runs docs/audit-vectors/check.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("OK"),
            "check.py disagrees:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("goes back across articles"),
            "the vectors hold a log whose time goes back across articles: {stdout}"
        );
    }

    /// The fields docs/AUDIT.md names as not evidence in an export of the
    /// whole log (its table's rows that do not say otherwise).
    fn not_evidence() -> Vec<String> {
        let audit = include_str!("../../docs/AUDIT.md");
        let section = audit
            .split("### Every byte is evidence, or named here")
            .nth(1)
            .expect("AUDIT.md names what is not evidence")
            .split("\n## ")
            .next()
            .unwrap();
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('|').nth(1))
            .filter(|cell| !cell.contains("in an export of one article"))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned))
            .collect()
    }

    /// Every leaf field of `message`, as a path of fields (messages are
    /// entered, a repeated one at its first element).
    fn leaves(
        message: &prost_reflect::MessageDescriptor,
        prefix: &[FieldDescriptor],
        out: &mut Vec<Vec<FieldDescriptor>>,
    ) {
        for field in message.fields() {
            let mut path = prefix.to_vec();
            path.push(field.clone());
            match field.kind() {
                Kind::Message(inner) if path.len() < 8 => leaves(&inner, &path, out),
                _ => out.push(path),
            }
        }
    }

    /// The JSON name of a path, with `[]` for a repeated field.
    fn name(path: &[FieldDescriptor]) -> String {
        path.iter()
            .map(|f| {
                let list = if f.is_list() { "[]" } else { "" };
                format!("{}{list}", f.json_name())
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn changed_scalar(value: &mut Value) {
        match value {
            Value::Bool(b) => *b = !*b,
            Value::I32(n) => *n = n.wrapping_add(1),
            Value::I64(n) => *n = n.wrapping_add(1),
            Value::U32(n) => *n = n.wrapping_add(1),
            Value::U64(n) => *n = n.wrapping_add(1),
            Value::F32(n) => *n += 1.0,
            Value::F64(n) => *n += 1.0,
            Value::String(s) if s.is_empty() => s.push('x'),
            Value::String(s) => {
                // Another character in the first place (hex stays hex).
                let first = s.remove(0);
                let other = if first == '1' { '2' } else { '1' };
                s.insert(0, other);
            }
            Value::Bytes(b) => {
                let mut bytes = b.to_vec();
                bytes.push(1);
                *b = bytes.into();
            }
            Value::EnumNumber(n) => *n += 1,
            Value::Message(_) | Value::List(_) | Value::Map(_) => {}
        }
    }

    /// Changes the field at `path` (setting it, or an element of it, where
    /// it is empty).
    fn change(message: &mut DynamicMessage, path: &[FieldDescriptor]) {
        let field = &path[0];
        let value = message.get_field_mut(field);
        let element = match value {
            Value::List(items) => {
                if items.is_empty() {
                    let fresh = match field.kind() {
                        Kind::Message(m) => Value::Message(DynamicMessage::new(m)),
                        _ => Value::default_value(&field.kind()),
                    };
                    items.push(fresh);
                    if path.len() == 1 {
                        return;
                    }
                }
                &mut items[0]
            }
            other => other,
        };
        match element {
            Value::Message(inner) if path.len() > 1 => change(inner, &path[1..]),
            scalar => changed_scalar(scalar),
        }
    }

    /// AUDIT.md's answer digest names every field of the `Answer` message
    /// but the etag, in the message's order (provenance's fields in
    /// place): the text an outsider reimplements is the code's.
    #[test]
    fn audit_md_s_answer_digest_lists_the_answer_s_fields_in_order() {
        let audit = include_str!("../../docs/AUDIT.md");
        let block = audit
            .split("answer_digest = SHA-256(")
            .nth(1)
            .and_then(|rest| rest.split("\n)").next())
            .expect("AUDIT.md specifies the answer digest");
        let listed: Vec<&str> = block
            .lines()
            .filter_map(|line| line.split("--").next()?.split_whitespace().last())
            .filter(|name| !name.starts_with('"'))
            .collect();
        let pool = DescriptorPool::decode(crate::grpc::pb::FILE_DESCRIPTOR_SET).unwrap();
        let answer = pool.get_message_by_name("answerlog.v1.Answer").unwrap();
        let mut fields = Vec::new();
        for field in answer.fields() {
            match field.kind() {
                Kind::Message(inner) if field.name() == "provenance" => {
                    fields.extend(inner.fields().map(|f| format!("provenance.{}", f.name())))
                }
                _ if field.name() == "etag" => {}
                _ => fields.push(field.name().to_owned()),
            }
        }
        assert_eq!(listed, fields);
    }

    /// A kept answer digest stands only where a redaction kept it, and
    /// never beside an answer salt.
    #[test]
    fn an_answer_digest_is_refused_where_no_redaction_kept_it() {
        let lines = export();
        let with = |n: usize, field: &str, value: &str| {
            let mut lines = lines.clone();
            let mut line: serde_json::Value = serde_json::from_str(&lines[n]).unwrap();
            line[field] = value.into();
            lines[n] = line.to_string();
            check_lines(&lines.join("\n"))
        };
        let digest = hex(&[7; 32]);
        // Position 1: before the redacted commit at 3.
        let e = with(0, "answerDigest", &digest).err().unwrap();
        assert!(e.contains("keeps an answerDigest"), "{e}");
        // The third article's version 6, whose digest its redaction kept:
        // a salt beside it is refused.
        let third = lines.len() - 18 + 5;
        let e = with(third, "answerSalt", &digest).err().unwrap();
        assert!(e.contains("beside an answer_salt"), "{e}");
    }

    #[test]
    fn every_field_of_every_line_is_evidence_or_named_as_not() {
        let lines = export();
        let clean = check_lines(&lines.join("\n")).expect("the untouched export verifies");
        // What a leaf covers and the commit hash does not (the answer
        // salt) shows as another Merkle root, which a signed checkpoint's
        // must equal (`verify --checkpoint`).
        let root = |report: &Report| report.merkle_root(report.log_through.unwrap_or(0));
        let clean_root = root(&clean).expect("the export holds the whole log");
        let pool = DescriptorPool::decode(crate::grpc::pb::FILE_DESCRIPTOR_SET).unwrap();
        let descriptor = pool.get_message_by_name("answerlog.v1.Commit").unwrap();
        let mut paths = Vec::new();
        leaves(&descriptor, &[], &mut paths);
        let named = not_evidence();
        assert_eq!(
            named,
            ["requestHash"],
            "AUDIT.md's list for a whole-log export"
        );
        let mut checked = 0;
        let mut passed = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            for path in &paths {
                let mut message = DynamicMessage::deserialize(
                    descriptor.clone(),
                    &mut serde_json::Deserializer::from_str(line),
                )
                .unwrap();
                change(&mut message, path);
                let Ok(changed) = json::to_json_line("answerlog.v1.Commit", &message) else {
                    continue;
                };
                if &changed == line {
                    continue;
                }
                let mut tampered = lines.clone();
                tampered[n] = changed;
                checked += 1;
                match check_lines(&tampered.join("\n")) {
                    Ok(report) if root(&report) == Some(clean_root) => {
                        passed.push(format!("line {}: {}", n + 1, name(path)));
                    }
                    _ => {}
                }
            }
        }
        // Not evidence: a change of it passes, and AUDIT.md says so.
        passed.retain(|p| !named.iter().any(|f| p.ends_with(&format!(": {f}"))));
        assert!(
            passed.is_empty(),
            "{} of {checked} changes passed `verify` though AUDIT.md does not name them:\n{}",
            passed.len(),
            passed.join("\n")
        );
        assert!(checked > 1000, "only {checked} changes were tried");
    }
}
