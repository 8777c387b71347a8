//! `answerlog rebuild --online`: asks the running server to rebuild its
//! read models and shows the progress as a bar, or with `--json` as one
//! `answerlog.v1.RebuildProjectionsResponse` a line.

use indicatif::{ProgressBar, ProgressStyle};

use super::client::{connect, status_error};
use super::{json, ServerArg};
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::RebuildProjectionsRequest;

pub(super) async fn online(
    server: &ServerArg,
    max_commits_per_second: u64,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut progress = AdminServiceClient::new(connect(server).await?)
        .rebuild_projections(RebuildProjectionsRequest {
            max_commits_per_second,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let bar = if as_json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} commits  {msg}",
        )?
        .progress_chars("=> "),
    );
    while let Some(p) = progress.message().await.map_err(status_error)? {
        if as_json {
            outln!(
                "{}",
                json::to_json_line("answerlog.v1.RebuildProjectionsResponse", &p)?
            )?;
        }
        bar.set_length(p.commits_total.max(p.commits_done));
        bar.set_position(p.commits_done);
        bar.set_message(format!(
            "{:.0}/s, ETA {:.0} s ({})",
            p.commits_per_second, p.eta_seconds, p.phase
        ));
        if p.phase == "done" {
            bar.finish_with_message(format!(
                "done: the read models are now generation {}",
                p.generation
            ));
            return Ok(());
        }
    }
    bar.abandon();
    anyhow::bail!("the server ended the rebuild before it was done")
}
