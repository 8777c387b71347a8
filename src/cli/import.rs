//! `answerlog import FILE...`: creates an article from each file.

use std::path::PathBuf;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::client::{articles, status_error};
use super::ServerArg;
use crate::grpc::draft_message;
use crate::grpc::pb::CreateArticleRequest;

pub(super) async fn import(server: &ServerArg, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut client = articles(server).await?;
    let mut failed = 0;
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let draft = match crate::import::parse(&text) {
            Ok(draft) => draft,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let request = CreateArticleRequest {
            // Derived from the file's name and bytes: importing a file
            // again is a retry of the same write, not a second article.
            command_id: command_id(&file_name(file), text.as_bytes()),
            reason: format!("Imported from {}", file_name(file)),
            article: Some(draft_message(draft)),
        };
        match client.create_article(request).await {
            Ok(response) => {
                let r = response.into_inner();
                println!(
                    "{}: article {} version {} at position {}",
                    file.display(),
                    r.article_id,
                    r.version,
                    r.global_position
                );
            }
            Err(status) => {
                eprintln!("{}: {}", file.display(), status_error(status));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files were not imported", files.len());
    }
    Ok(())
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
