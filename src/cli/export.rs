//! `answerlog export REF | --all`: an article's history, or the whole log,
//! as JSON Lines (one `answerlog.v1.Commit` a line, protobuf JSON mapping).

use super::client::{audit, status_error};
use super::show::article_id;
use super::{json, ServerArg};
use crate::grpc::pb::event::Payload;
use crate::grpc::pb::ListCommitsRequest;

pub(super) async fn export(server: &ServerArg, reference: Option<&str>) -> anyhow::Result<()> {
    let article_id = match reference {
        Some(reference) => article_id(server, reference).await?,
        None => String::new(),
    };
    let mut client = audit(server).await?;
    let bar = super::progress::bar("exporting", "commits", None, false);
    let mut page_token = String::new();
    // The last position an earlier page printed: a page reads one state
    // of the log, pages after it may read a later one.
    let mut printed = 0;
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
            let redacted = commit.events.iter().find_map(|e| match &e.payload {
                Some(Payload::PayloadRedacted(r)) if r.position <= printed => Some(r.position),
                _ => None,
            });
            if let Some(position) = redacted {
                anyhow::bail!(
                    "the commit at position {position}, printed above, was redacted while the export ran (docs/AUDIT.md, \"Redaction\"): the lines are not of one state of the log, and verify would refuse them; export again"
                );
            }
            outln!("{}", json::to_json_line("answerlog.v1.Commit", commit)?)?;
            bar.inc(1);
        }
        if let Some(last) = page.commits.last() {
            printed = last
                .revision
                .as_ref()
                .map_or(printed, |r| r.global_position);
        }
        if page.next_page_token.is_empty() {
            bar.finish_and_clear();
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}
