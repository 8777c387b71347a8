//! `answerlog backup DIR` and `answerlog restore DIR`.
//!
//! A backup is taken from a running server over gRPC (role auditor): its
//! signed log digest first, then every commit up to the digest's position,
//! so that the copy is the log exactly as it stood at one position however
//! many writes run meanwhile. `DIR/log.jsonl` holds the commits (one
//! `answerlog.v1.Commit` a line, as `answerlog export --all` prints them),
//! `DIR/digest.json` the digest. A restore is offline: into an empty data
//! directory, every commit checked and written at its position with its
//! times and hashes, the read models rebuilt, and the restored log chain's
//! hash compared with the digest's.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;

use super::client::{audit, status_error};
use super::serve::app_options;
use super::{json, ServerArg};
use crate::app::App;
use crate::config::ConfigArgs;
use crate::domain::hex;
use crate::grpc::commit_from_message;
use crate::grpc::pb::{self, ListCommitsRequest};

const LOG: &str = "log.jsonl";
const DIGEST: &str = "digest.json";

pub(super) async fn backup(server: &ServerArg, dir: &Path, json: bool) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty: a backup goes into a new directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut client = audit(server).await?;
    let digest = super::audit::log_digest(&mut client).await?;
    let through = digest.global_position;
    let path = dir.join(LOG);
    let mut out = BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let mut page_token = String::new();
    let mut written = 0u64;
    'pages: loop {
        let page = client
            .list_commits(ListCommitsRequest {
                page_size: 1000,
                page_token,
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
            writeln!(
                out,
                "{}",
                json::to_json_line("answerlog.v1.Commit", commit)?
            )?;
            written += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    anyhow::ensure!(
        written == through,
        "the server listed {written} commits up to position {through}"
    );
    let file = out.into_inner().context("cannot finish the log file")?;
    file.sync_all()?;
    let digest_path = dir.join(DIGEST);
    let mut digest_file = std::fs::File::create(&digest_path)
        .with_context(|| format!("cannot write {}", digest_path.display()))?;
    writeln!(
        digest_file,
        "{}",
        json::to_json_line("answerlog.v1.LogDigest", &digest)?
    )?;
    digest_file.sync_all()?;
    if json {
        let out = serde_json::json!({
            "dir": dir.display().to_string(),
            "commits": written,
            "globalPosition": through.to_string(),
            "logHash": digest.log_hash,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "backed up {written} commits through position {through} (log hash {}) into {}",
        digest.log_hash,
        dir.display()
    );
    Ok(())
}

pub(super) fn restore(dir: &Path, config: &ConfigArgs) -> anyhow::Result<()> {
    let config = config.resolve()?;
    let digest_path = dir.join(DIGEST);
    let digest: pb::LogDigest = json::from_json(
        "answerlog.v1.LogDigest",
        std::fs::read_to_string(&digest_path)
            .with_context(|| format!("cannot read {}", digest_path.display()))?
            .trim(),
    )?;
    let log_path = dir.join(LOG);
    std::fs::metadata(&log_path).with_context(|| format!("cannot read {}", log_path.display()))?;
    // Read twice: once to check every commit, once to write them.
    let commits = || {
        let lines: Box<dyn Iterator<Item = std::io::Result<String>>> =
            match std::fs::File::open(&log_path) {
                Ok(file) => Box::new(std::io::BufReader::new(file).lines()),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        lines.enumerate().map(|(n, line)| {
            let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
            let message: pb::Commit = json::from_json("answerlog.v1.Commit", &line)
                .map_err(|e| format!("line {}: {e:#}", n + 1))?;
            commit_from_message(&message).map_err(|e| format!("line {}: {e}", n + 1))
        })
    };
    let (restored, log_hash) = App::restore(&config.data_dir, &app_options(&config), commits)
        .with_context(|| format!("cannot restore into {}", config.data_dir.display()))?;
    anyhow::ensure!(
        restored == digest.global_position && hex(&log_hash) == digest.log_hash,
        "the restored log ends at position {restored} with log hash {}, but the backup's digest is for position {} with log hash {}",
        hex(&log_hash),
        digest.global_position,
        digest.log_hash
    );
    println!(
        "restored {restored} commits into {}: the log hash {} is the backup's digest's",
        config.data_dir.display(),
        digest.log_hash
    );
    Ok(())
}
