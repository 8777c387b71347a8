//! `answerlog backup DIR` and `answerlog restore DIR`.
//!
//! A backup is taken from a running server over gRPC (role auditor): its
//! signed log digest first, then every commit up to the digest's position,
//! so that the copy is the log exactly as it stood at one position however
//! many writes run meanwhile. `DIR/log.jsonl` holds the commits (one
//! `answerlog.v1.Commit` a line, as `answerlog export --all` prints them),
//! `DIR/digest.json` the digest, `DIR/manifest.json` the server's signed
//! manifest of the log's request hashes through the digest's position
//! (which no commit hash of encoding 1 covers), `DIR/suggestions.jsonl` the suggested
//! questions (one `answerlog.v1.Suggestion` a line, in the order they were
//! accepted; not part of the log, so not covered by the digest). A restore
//! is offline: into an empty data directory, every commit checked and
//! written at its position with its times and hashes, the suggestions
//! after them, the read models rebuilt, and the restored log chain's hash
//! compared with the digest's. A backup without `suggestions.jsonl` (made
//! before it existed) restores with none.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::client::{audit, status_error};
use super::serve::{app_options, jetstream_options};
use super::{json, ServerArg};
use crate::app::App;
use crate::config::ConfigArgs;
use crate::domain::{hex, RequestHashes};
use crate::grpc::pb::{self, ListCommitsRequest};
use crate::grpc::{backup_manifest, commit_from_message, log_digest, suggestion_from_message};
use crate::jetstream::LogChoice;
use crate::signing::{unhex, verify_with, KeyRing};

const LOG: &str = "log.jsonl";
const DIGEST: &str = "digest.json";
const MANIFEST: &str = "manifest.json";
const SUGGESTIONS: &str = "suggestions.jsonl";
/// An incremental backup's link to the backup it goes on from.
const BASE: &str = "base.json";

pub(super) async fn backup(
    server: &ServerArg,
    dir: &Path,
    since: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty: a backup goes into a new directory",
            dir.display()
        );
    }
    let made = !dir.exists();
    let taken = back_up(server, dir, since, json).await;
    // A backup that failed leaves no part of itself behind, so that the
    // same command can be run again.
    if taken.is_err() {
        let _ = if made {
            std::fs::remove_dir_all(dir)
        } else {
            std::fs::read_dir(dir).and_then(|entries| {
                entries
                    .flatten()
                    .try_for_each(|e| std::fs::remove_file(e.path()))
            })
        };
    }
    taken
}

async fn back_up(
    server: &ServerArg,
    dir: &Path,
    since: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    // An incremental backup goes on from the previous one's digest.
    let base = since.map(Kept::read).transpose()?;
    let from = base.as_ref().map_or(0, |b| b.message.global_position);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut client = audit(server).await?;
    let digest = super::audit::log_digest(&mut client).await?;
    let through = digest.global_position;
    if let Some(base) = &base {
        anyhow::ensure!(
            through >= from,
            "the server's log ends at position {through}, before {}'s position {from}: that is a backup of another log",
            base.dir.display()
        );
    }
    let path = dir.join(LOG);
    let mut out = BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let mut page_token = String::new();
    let mut written = 0u64;
    let mut request_hashes = RequestHashes::default();
    let bar = super::progress::bar("backing up", "commits", Some(through - from), json);
    'pages: loop {
        let page = client
            .list_commits(ListCommitsRequest {
                page_size: 1000,
                page_token,
                from_position: from + 1,
                ..ListCommitsRequest::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        for commit in &page.commits {
            let position = commit.revision.as_ref().map_or(0, |r| r.global_position);
            if position > through {
                break 'pages;
            }
            if let (Some(base), Some(redacted)) = (&base, redacts_before(commit, from)) {
                anyhow::bail!(
                    "the commit at position {position} redacted the one at {redacted}, which {} holds unredacted: an increment cannot carry a redaction of what an earlier backup holds; take a full backup (and delete the older ones that hold the content)",
                    base.dir.display()
                );
            }
            writeln!(
                out,
                "{}",
                json::to_json_line("answerlog.v1.Commit", commit)?
            )?;
            request_hashes.add(&request_hash_of(commit)?);
            written += 1;
            bar.inc(1);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    anyhow::ensure!(
        written == through - from,
        "the server listed {written} commits from position {} to {through}",
        from + 1
    );
    bar.finish_and_clear();
    let file = out.into_inner().context("cannot finish the log file")?;
    file.sync_all()?;
    // What was written must restore: every commit, in whatever encoding,
    // hashes and links as its line says, and the log chain ends at the
    // digest's hash (a client that dropped fields it does not know would
    // fail here, not at the restore). An increment's chain starts at its
    // base's hash: a server whose log is not the base's fails here.
    let log_path = dir.join(LOG);
    let checked = match &base {
        None => crate::store::check_backup(read_log(&log_path), std::iter::empty()),
        Some(base) => {
            crate::store::check_backup_increment((from, base.signed.log_hash), read_log(&log_path))
        }
    };
    let (last, log_hash) =
        checked.map_err(|e| anyhow::anyhow!("the backup's log does not check out: {e}"))?;
    anyhow::ensure!(
        last == through && hex(&log_hash) == digest.log_hash,
        "the backup's log ends at position {last} with log hash {}, not at the digest's {through} with {}{}",
        hex(&log_hash),
        digest.log_hash,
        match &base {
            Some(b) => format!(
                ": the server's log does not go on from {}'s (position {from})",
                b.dir.display()
            ),
            None => String::new(),
        }
    );
    write_line(&dir.join(DIGEST), "answerlog.v1.LogDigest", &digest)?;
    // The server signs the request hashes it holds through the digest's
    // position. A full backup holds them all, and checks them now; an
    // increment's are checked by the restore of its chain, which reads
    // the rest.
    let manifest = client
        .get_backup_manifest(pb::GetBackupManifestRequest {
            global_position: through,
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .manifest
        .context("the server sent no manifest")?;
    anyhow::ensure!(
        manifest.log_hash == digest.log_hash
            && manifest.global_position == through
            && (base.is_some() || manifest.request_hashes == hex(&request_hashes.finish())),
        "the server's manifest does not match the commits it listed (position {through})"
    );
    write_line(
        &dir.join(MANIFEST),
        "answerlog.v1.BackupManifest",
        &manifest,
    )?;
    if let Some(base) = &base {
        base.write_link(&dir.join(BASE))?;
    }
    let suggested = back_up_suggestions(server, &dir.join(SUGGESTIONS)).await?;
    sync_dir(dir)?;
    if json {
        let mut out = serde_json::json!({
            "dir": dir.display().to_string(),
            "commits": written,
            "suggestions": suggested,
            "globalPosition": through.to_string(),
            "logHash": digest.log_hash,
        });
        if let Some(base) = &base {
            out["since"] = serde_json::json!({
                "dir": base.dir.display().to_string(),
                "globalPosition": from.to_string(),
                "logHash": base.message.log_hash,
            });
        }
        outln!("{out}")?;
        return Ok(());
    }
    match &base {
        None => outln!(
            "backed up {written} commits through position {through} (log hash {}) and {suggested} suggestions into {}",
            digest.log_hash,
            dir.display()
        ),
        Some(b) => outln!(
            "backed up {written} commits from position {} through {through} (log hash {}) and {suggested} suggestions into {}: an increment of {} (position {from})",
            from + 1,
            digest.log_hash,
            dir.display(),
            b.dir.display()
        ),
    }
}

/// The position of a commit at or before `through` that `commit` redacts,
/// if it redacts one.
fn redacts_before(commit: &pb::Commit, through: u64) -> Option<u64> {
    commit.events.iter().find_map(|e| match &e.payload {
        Some(pb::event::Payload::PayloadRedacted(r)) if r.position <= through => Some(r.position),
        _ => None,
    })
}

/// Writes one message as a JSON line to a new file at `path`, synced.
fn write_line<M: prost::Message>(path: &Path, name: &str, message: &M) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{}", json::to_json_line(name, message)?)?;
    file.sync_all()?;
    Ok(())
}

/// A backup's digest, as kept in its directory, its signature checked.
struct Kept {
    dir: std::path::PathBuf,
    message: pb::LogDigest,
    signed: crate::app::LogDigest,
    /// An increment's link: the digest of the backup it goes on from.
    base: Option<pb::LogDigest>,
}

impl Kept {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(DIGEST);
        let message: pb::LogDigest = json::from_json(
            "answerlog.v1.LogDigest",
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim(),
        )
        .with_context(|| format!("{} is not a log digest", path.display()))?;
        // The signature is checked with the key the digest names.
        let signed = log_digest(&message).map_err(|s| {
            anyhow::anyhow!("the backup's digest {}: {}", path.display(), s.message())
        })?;
        verify_with(
            &signed.signed.public_key,
            &signed.message(),
            &signed.signed.signature,
        )
        .map_err(|e| anyhow::anyhow!("the backup's digest {}: {e}", path.display()))?;
        let link = dir.join(BASE);
        let base = match std::fs::read_to_string(&link) {
            Ok(text) => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", link.display()))?;
                let digest = value
                    .get("digest")
                    .with_context(|| format!("{} names no digest", link.display()))?;
                Some(
                    json::from_json("answerlog.v1.LogDigest", &digest.to_string())
                        .with_context(|| format!("{}'s digest", link.display()))?,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", link.display())),
        };
        Ok(Self {
            dir: dir.to_owned(),
            message,
            signed,
            base,
        })
    }

    /// Writes an increment's link to this backup at `path`: its digest
    /// (evidence: the increment's log goes on from it), and where it was
    /// (a hint for a person, not evidence).
    fn write_link(&self, path: &Path) -> anyhow::Result<()> {
        let digest: serde_json::Value = serde_json::from_str(&json::to_json_line(
            "answerlog.v1.LogDigest",
            &self.message,
        )?)?;
        let dir = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let link = serde_json::json!({
            "digest": digest,
            "dir": dir.display().to_string(),
        });
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(file, "{link}")?;
        file.sync_all()?;
        Ok(())
    }
}

/// Writes every suggested question the server holds to `path`, in the
/// order they were accepted, and syncs it; how many.
async fn back_up_suggestions(server: &ServerArg, path: &Path) -> anyhow::Result<u64> {
    let mut out = BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let written = super::suggestions::each(server, |suggestion| {
        writeln!(
            out,
            "{}",
            json::to_json_line("answerlog.v1.Suggestion", suggestion)?
        )?;
        Ok(())
    })
    .await?;
    out.into_inner()
        .context("cannot finish the suggestions file")?
        .sync_all()?;
    Ok(written)
}

/// Makes the backup's file names durable too.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// A listed commit's request hash (zero for commits made before it was
/// kept).
fn request_hash_of(commit: &pb::Commit) -> anyhow::Result<[u8; 32]> {
    if commit.request_hash.is_empty() {
        return Ok([0; 32]);
    }
    unhex::<32>(&commit.request_hash).context("a listed commit's requestHash is not hex")
}

/// Checks the backup's manifest, when it has one: signed by the digest's
/// key, for the digest's position and log hash, and over exactly the
/// request hashes of `log.jsonl`. Whether there was one.
fn check_manifest(
    dir: &Path,
    digest: &crate::app::LogDigest,
    commits: impl IntoIterator<Item = Result<crate::domain::Commit, String>>,
) -> anyhow::Result<bool> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let message: pb::BackupManifest =
        json::from_json("answerlog.v1.BackupManifest", text.trim())
            .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    let manifest =
        backup_manifest(&message).map_err(|e| anyhow::anyhow!("the backup's manifest: {e}"))?;
    anyhow::ensure!(
        manifest.signed.public_key == digest.signed.public_key,
        "the backup's manifest is signed by another key than its digest"
    );
    verify_with(
        &manifest.signed.public_key,
        &manifest.message(),
        &manifest.signed.signature,
    )
    .map_err(|e| anyhow::anyhow!("the backup's manifest: {e}"))?;
    anyhow::ensure!(
        manifest.global_position == digest.global_position && manifest.log_hash == digest.log_hash,
        "the backup's manifest is for position {}, its digest for position {}",
        manifest.global_position,
        digest.global_position
    );
    let mut hashes = RequestHashes::default();
    for commit in commits {
        let commit = commit.map_err(anyhow::Error::msg)?;
        hashes.add(&commit.request_hash);
    }
    anyhow::ensure!(
        hashes.finish() == manifest.request_hashes,
        "the request hashes in {LOG} are not those the server signed in {MANIFEST}: a retry of an old command would be answered differently; refusing the backup"
    );
    Ok(true)
}

/// A backup's `log.jsonl`, a commit a line.
fn read_log(path: &Path) -> impl Iterator<Item = Result<crate::domain::Commit, String>> {
    read_lines(path, false, |line| {
        let message: pb::Commit =
            json::from_json("answerlog.v1.Commit", line).map_err(|e| format!("{e:#}"))?;
        commit_from_message(&message)
    })
}

/// Checks that backups form a chain: the first a full backup, each other
/// an increment of the one before it (its link names that backup's very
/// digest).
fn check_links(chain: &[Kept]) -> anyhow::Result<()> {
    if let Some(first) = chain.first() {
        if let Some(base) = &first.base {
            anyhow::bail!(
                "{} is an incremental backup, of the backup at position {} (log hash {}): give the backups it goes on from before it, starting with a full one",
                first.dir.display(),
                base.global_position,
                base.log_hash
            );
        }
    }
    for pair in chain.windows(2) {
        let (before, next) = (&pair[0], &pair[1]);
        match &next.base {
            None => anyhow::bail!(
                "{} is a full backup, not an increment of {}: restore it alone",
                next.dir.display(),
                before.dir.display()
            ),
            Some(base) if *base != before.message => anyhow::bail!(
                "{} goes on from the backup at position {} (log hash {}), not from {} (position {}, log hash {}): a backup of the chain is missing, or they are out of order",
                next.dir.display(),
                base.global_position,
                base.log_hash,
                before.dir.display(),
                before.message.global_position,
                before.message.log_hash
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses a chain in which an increment redacts a commit an earlier
/// backup holds: that backup holds the content unredacted, and a restore
/// would bring it back.
fn check_no_redaction_across(chain: &[Kept]) -> anyhow::Result<()> {
    for pair in chain.windows(2) {
        let (before, next) = (&pair[0], &pair[1]);
        let through = before.message.global_position;
        for commit in read_log(&next.dir.join(LOG)) {
            let commit = commit.map_err(anyhow::Error::msg)?;
            for event in &commit.events {
                if let crate::domain::Event::PayloadRedacted { position, .. } = event {
                    anyhow::ensure!(
                        *position > through,
                        "{} holds a redaction (at position {}) of the commit at position {position}, which {} holds unredacted: restoring the chain would bring the content back; restore a full backup taken after the redaction",
                        next.dir.display(),
                        commit.global_position,
                        before.dir.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// The lines of `path` as values of `T`, each error naming its line; no
/// lines at all when `path` does not exist and `optional`.
fn read_lines<'a, T: 'a>(
    path: &Path,
    optional: bool,
    parse: impl Fn(&str) -> Result<T, String> + 'a,
) -> Box<dyn Iterator<Item = Result<T, String>> + 'a> {
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match std::fs::File::open(path) {
        Ok(file) => Box::new(std::io::BufReader::new(file).lines()),
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
            Box::new(std::iter::empty())
        }
        Err(e) => Box::new(std::iter::once(Err(e))),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    Box::new(lines.enumerate().map(move |(n, line)| {
        let line = line.map_err(|e| format!("{name} line {}: {e}", n + 1))?;
        parse(&line).map_err(|e| format!("{name} line {}: {e}", n + 1))
    }))
}

pub(super) fn restore(dirs: &[PathBuf], config: &ConfigArgs, json: bool) -> anyhow::Result<()> {
    let config = config.resolve()?;
    let chain = dirs
        .iter()
        .map(|dir| Kept::read(dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_links(&chain)?;
    check_no_redaction_across(&chain)?;
    let last = chain.last().context("name the backup to restore")?;
    let (digest, signed, dir) = (&last.message, &last.signed, last.dir.as_path());
    for kept in &chain {
        let log_path = kept.dir.join(LOG);
        std::fs::metadata(&log_path)
            .with_context(|| format!("cannot read {}", log_path.display()))?;
    }
    // The chain's logs as one, read as often as needed: to check each
    // backup ends at its digest, to check the request hashes, to write
    // (the bar goes through the positions on each reading).
    let bar = super::progress::bar(
        "restoring (checked, then written)",
        "positions",
        Some(last.message.global_position),
        json,
    );
    let commits = || {
        chain
            .iter()
            .flat_map(|kept| read_log(&kept.dir.join(LOG)))
            .inspect(|commit| {
                if let Ok(commit) = commit {
                    bar.set_position(commit.global_position);
                }
            })
    };
    if chain.len() > 1 {
        let ends = crate::store::check_backup_chain(
            chain.iter().map(|kept| read_log(&kept.dir.join(LOG))),
        )
        .map_err(|e| anyhow::anyhow!("the chain of backups does not check out: {e}"))?;
        for (kept, (position, log_hash)) in chain.iter().zip(ends) {
            anyhow::ensure!(
                position == kept.message.global_position && hex(&log_hash) == kept.message.log_hash,
                "{}'s log ends at position {position} with log hash {}, not at its digest's {} with {}",
                kept.dir.display(),
                hex(&log_hash),
                kept.message.global_position,
                kept.message.log_hash
            );
        }
    }
    let manifest_checked = check_manifest(dir, signed, commits())?;
    if !manifest_checked {
        noteln!(
            "{} has no {MANIFEST} (a backup made before it was kept): its request hashes are not checked",
            dir.display()
        );
    }
    let suggestions_path = dir.join(SUGGESTIONS);
    let suggestions = || {
        read_lines(&suggestions_path, true, |line| {
            let message: pb::Suggestion =
                json::from_json("answerlog.v1.Suggestion", line).map_err(|e| format!("{e:#}"))?;
            suggestion_from_message(&message)
        })
    };
    let into = || format!("cannot restore into {}", config.data_dir.display());
    let (restored, held) = match &config.log {
        LogChoice::Sled => (
            App::restore(
                &config.data_dir,
                &app_options(&config),
                commits,
                suggestions,
            )
            .with_context(into)?,
            None,
        ),
        LogChoice::Nats(_) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let replica = runtime
                .block_on(App::restore_replica(
                    &config.data_dir,
                    app_options(&config),
                    &jetstream_options(&config),
                    (signed.global_position, signed.log_hash),
                    commits,
                    suggestions,
                ))
                .with_context(into)?;
            (replica.restored, Some(replica.held))
        }
    };
    bar.finish_and_clear();
    let log_hash = restored.log_hash;
    anyhow::ensure!(
        restored.commits == digest.global_position && hex(&log_hash) == digest.log_hash,
        "the restored log ends at position {} with log hash {}, but the backup's digest is for position {} with log hash {}",
        restored.commits,
        hex(&log_hash),
        digest.global_position,
        digest.log_hash
    );
    // Each backup's key, which a rotation between them may have changed.
    let mut adopted = String::new();
    for kept in &chain {
        adopted = KeyRing::adopt(&config.data_dir, &kept.signed.signed.public_key)
            .context("cannot add the digest's key to the restored key history")?;
    }
    if json {
        let out = serde_json::json!({
            "dataDir": config.data_dir.display().to_string(),
            "log": config.log.to_string(),
            "commits": restored.commits,
            "suggestions": restored.suggestions,
            "globalPosition": restored.commits.to_string(),
            "logHash": digest.log_hash,
            "alreadyInStream": held,
            "adoptedKeyId": adopted,
            "requestHashesChecked": manifest_checked,
        });
        outln!("{out}")?;
        return Ok(());
    }
    outln!(
        "the digest's key {adopted} is in the restored key history: the digests it signed verify there"
    )?;
    if let Some(held) = held.filter(|held| *held > 0) {
        outln!(
            "the stream held the first {held} commits already (a restore that stopped part way)"
        )?;
    }
    outln!(
        "restored {} commits and {} suggestions into {}{}: the log hash {} is the backup's digest's",
        restored.commits,
        restored.suggestions,
        config.data_dir.display(),
        match &config.log {
            LogChoice::Sled => String::new(),
            LogChoice::Nats(_) => format!(" and the stream {}", config.nats_stream),
        },
        digest.log_hash
    )?;
    Ok(())
}
