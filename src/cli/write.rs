//! Client writes for people: edit a section, add a source, re-date.
//!
//! Each reads the current version first (unless `--expected-version` is
//! given), so a concurrent edit in between is refused, not overwritten.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use uuid::Uuid;

use super::client::{articles, current, status_error};
use super::ServerArg;
use super::WriteArgs;
use crate::grpc::pb::{AddSourceRequest, EditSectionRequest, RedateArticleRequest, Source};

/// The article id and the version to edit on.
async fn target(
    server: &ServerArg,
    reference: &str,
    write: &WriteArgs,
) -> anyhow::Result<(String, u64)> {
    let answer = current(server, reference).await?;
    Ok((answer.id, write.expected_version.unwrap_or(answer.version)))
}

/// Where the write left the article: a sentence, or with `--json` one
/// object with the response's fields.
fn report(
    what: &str,
    article_id: &str,
    version: u64,
    position: u64,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let out = serde_json::json!({
            "articleId": article_id,
            "version": version,
            "globalPosition": position.to_string(),
        });
        return outln!("{out}");
    }
    outln!("{what}: article {article_id} is at version {version} (position {position})")
}

pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(super) async fn edit_section(
    server: &ServerArg,
    reference: &str,
    section_id: String,
    heading: Option<String>,
    body: Option<String>,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let (article_id, expected_version) = target(server, reference, &write).await?;
    let json = write.json;
    let r = articles(server)
        .await?
        .edit_section(EditSectionRequest {
            article_id,
            expected_version,
            command_id: Uuid::now_v7().to_string(),
            reason: write.reason,
            section_id,
            heading,
            body: body.map(|b| b.trim_end().to_owned()),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    report("edited", &r.article_id, r.version, r.global_position, json)
}

pub(super) async fn add_source(
    server: &ServerArg,
    reference: &str,
    source: Source,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let (article_id, expected_version) = target(server, reference, &write).await?;
    let json = write.json;
    let r = articles(server)
        .await?
        .add_source(AddSourceRequest {
            article_id,
            expected_version,
            command_id: Uuid::now_v7().to_string(),
            reason: write.reason,
            source: Some(source),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    report(
        "source added",
        &r.article_id,
        r.version,
        r.global_position,
        json,
    )
}

pub(super) async fn redate(
    server: &ServerArg,
    reference: &str,
    last_updated: String,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let (article_id, expected_version) = target(server, reference, &write).await?;
    let json = write.json;
    let r = articles(server)
        .await?
        .redate_article(RedateArticleRequest {
            article_id,
            expected_version,
            command_id: Uuid::now_v7().to_string(),
            reason: write.reason,
            last_updated,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    report(
        "re-dated",
        &r.article_id,
        r.version,
        r.global_position,
        json,
    )
}
