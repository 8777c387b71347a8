//! `answerlog import FILE...`: creates an article from each file.
//!
//! One file is one CreateArticle (the writer role suffices). Many files go
//! through the bulk import (`AdminService.ImportCommits`, the admin role),
//! which group-commits them, with a progress bar on a terminal; a file the
//! server refuses is reported and the rest go on in a new call (the files
//! already sent again are retries: their command ids are the same).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;
use sha2::{Digest, Sha256};

use super::client::{articles, connect, status_error};
use super::ServerArg;
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::import_command::Command as Arm;
use crate::grpc::pb::{CreateArticleRequest, ImportCommand, ImportCommitsRequest, ImportResult};
use crate::grpc::{draft_message, FAILED_COMMAND, FAILED_REQUEST};

/// A request of the bulk import stays well under the server's request
/// limit (1 MiB by default).
const REQUEST_BYTES: usize = 512 * 1024;
const REQUEST_COMMANDS: usize = 256;

/// One file, parsed, as the write that creates it.
struct Item {
    file: PathBuf,
    request: CreateArticleRequest,
}

pub(super) async fn import(
    server: &ServerArg,
    files: &[PathBuf],
    one_by_one: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut items = Vec::with_capacity(files.len());
    for file in files {
        match parse(file) {
            Ok(item) => items.push(item),
            Err(e) => {
                noteln!("{}: {}", file.display(), super::out::sentence(&e));
                failed += 1;
            }
        }
    }
    failed += if one_by_one || items.len() <= 1 {
        create_each(server, items, json).await?
    } else {
        bulk(server, items, json).await?
    };
    if failed > 0 {
        anyhow::bail!("{failed} of {} files were not imported", files.len());
    }
    Ok(())
}

fn parse(file: &Path) -> anyhow::Result<Item> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let draft = crate::import::parse(&text)?;
    Ok(Item {
        file: file.to_owned(),
        request: CreateArticleRequest {
            // Derived from the file's name and bytes: importing a file
            // again is a retry of the same write, not a second article.
            command_id: command_id(&file_name(file), text.as_bytes()),
            reason: format!("Imported from {}", file_name(file)),
            article: Some(draft_message(draft)),
        },
    })
}

/// One CreateArticle a file; the number refused.
async fn create_each(server: &ServerArg, items: Vec<Item>, json: bool) -> anyhow::Result<usize> {
    let mut client = articles(server).await?;
    let mut failed = 0;
    for item in items {
        match client.create_article(item.request).await {
            Ok(response) => {
                let r = response.into_inner();
                outln!(
                    "{}",
                    imported(
                        &item.file,
                        &r.article_id,
                        r.version,
                        r.global_position,
                        json
                    )
                )?;
            }
            Err(status) => {
                noteln!("{}: {}", item.file.display(), status_error(status));
                failed += 1;
            }
        }
    }
    Ok(failed)
}

/// The bulk import; the number of files refused.
async fn bulk(server: &ServerArg, items: Vec<Item>, json: bool) -> anyhow::Result<usize> {
    let mut client = AdminServiceClient::new(connect(server).await?);
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files {per_sec}",
        )?
        .progress_chars("=> "),
    );
    let mut left = items;
    let mut failed = 0;
    while !left.is_empty() {
        let batch = std::mem::take(&mut left);
        let (requests, starts) = requests(&batch);
        let mut done = 0;
        // A failure to print (standard output gone) ends the import.
        let mut printed = Ok(());
        let outcome = async {
            let mut answers = client
                .import_commits(tokio_stream::iter(requests))
                .await?
                .into_inner();
            while let Some(answer) = answers.message().await? {
                for result in answer.results {
                    if let Some(item) = batch.get(done) {
                        if let Err(e) = report(&bar, item, &result, json) {
                            printed = Err(e);
                            return Ok(());
                        }
                    }
                    done += 1;
                }
            }
            Ok::<_, tonic::Status>(())
        }
        .await;
        if let Err(e) = printed {
            bar.abandon();
            return Err(e);
        }
        let Err(status) = outcome else {
            break;
        };
        // Not one file's fault (rights, the server, the connection): stop.
        let refused = failed_at(&status, &starts)
            .filter(|_| file_fault(status.code()))
            .and_then(|at| Some((at, batch.get(at)?)));
        let Some((at, item)) = refused else {
            bar.abandon();
            return Err(status_error(status));
        };
        bar.suspend(|| noteln!("{}: {}", item.file.display(), status_error(status)));
        bar.inc(1);
        failed += 1;
        // The rest goes again: those before the refused file are durable
        // (sent again, each is a retry answered with the original), those
        // after it may or may not be.
        left = batch
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i >= done && *i != at)
            .map(|(_, item)| item)
            .collect();
    }
    bar.finish_and_clear();
    Ok(failed)
}

fn report(bar: &ProgressBar, item: &Item, result: &ImportResult, json: bool) -> anyhow::Result<()> {
    let line = imported(
        &item.file,
        &result.article_id,
        result.version,
        result.global_position,
        json,
    );
    bar.suspend(|| outln!("{line}"))?;
    bar.inc(1);
    Ok(())
}

/// A file's outcome: a line of text, or with `--json` one JSON object.
fn imported(file: &Path, article_id: &str, version: u64, position: u64, json: bool) -> String {
    if json {
        return serde_json::json!({
            "file": file.display().to_string(),
            "articleId": article_id,
            "version": version.to_string(),
            "globalPosition": position.to_string(),
        })
        .to_string();
    }
    format!(
        "{}: article {article_id} version {version} at position {position}",
        file.display()
    )
}

/// The items as requests of a bounded size, and the index of each
/// request's first item.
fn requests(items: &[Item]) -> (Vec<ImportCommitsRequest>, Vec<usize>) {
    let mut requests = Vec::new();
    let mut starts = Vec::new();
    let mut current = ImportCommitsRequest::default();
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let command = ImportCommand {
            origin: None,
            command: Some(Arm::CreateArticle(item.request.clone())),
        };
        let size = command.encoded_len() + 8;
        if !current.commands.is_empty()
            && (bytes + size > REQUEST_BYTES || current.commands.len() >= REQUEST_COMMANDS)
        {
            requests.push(std::mem::take(&mut current));
            bytes = 0;
        }
        if current.commands.is_empty() {
            starts.push(i);
        }
        current.commands.push(command);
        bytes += size;
    }
    if !current.commands.is_empty() {
        requests.push(current);
    }
    (requests, starts)
}

/// Whether a status refuses the file itself (another file may still go).
fn file_fault(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::InvalidArgument
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::NotFound
            | Code::Aborted
            | Code::OutOfRange
    )
}

/// The item a failed import names, from its trailers.
fn failed_at(status: &tonic::Status, starts: &[usize]) -> Option<usize> {
    let number =
        |key: &str| -> Option<usize> { status.metadata().get(key)?.to_str().ok()?.parse().ok() };
    Some(starts.get(number(FAILED_REQUEST)?)? + number(FAILED_COMMAND)?)
}

fn command_id(name: &str, bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(bytes);
    let digest = hasher.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(id).into_uuid().to_string()
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
