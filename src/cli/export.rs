//! `answerlog export REF | --all`: an article's history, or the whole log,
//! as JSON Lines (one `answerlog.v1.Commit` a line, protobuf JSON mapping).

use super::client::{audit, status_error};
use super::show::article_id;
use super::{json, ServerArg};
use crate::grpc::pb::ListCommitsRequest;

pub(super) async fn export(server: &ServerArg, reference: Option<&str>) -> anyhow::Result<()> {
    let article_id = match reference {
        Some(reference) => article_id(server, reference).await?,
        None => String::new(),
    };
    let mut client = audit(server).await?;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_commits(ListCommitsRequest {
                page_size: 1000,
                page_token,
                article_id: article_id.clone(),
                ..ListCommitsRequest::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        for commit in &page.commits {
            outln!("{}", json::to_json_line("answerlog.v1.Commit", commit)?)?;
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}
