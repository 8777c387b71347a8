//! AdminService: the online rebuild of the read models, and the bulk
//! import (`import.rs`).

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::actor;
use super::pb::admin_service_server::AdminService;
use super::pb::*;
use super::status::{invalid, to_status};
use super::write::{envelope, Naming};
use crate::app::{App, ArticleRef, Redaction};

/// The default cap on commits replayed per second.
const DEFAULT_THROTTLE: u64 = 20_000;

pub(crate) struct AdminApi {
    app: Arc<App>,
}

impl AdminApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

type ProgressStream =
    Pin<Box<dyn Stream<Item = Result<RebuildProjectionsResponse, Status>> + Send>>;
type ImportStream = Pin<Box<dyn Stream<Item = Result<ImportCommitsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    type RebuildProjectionsStream = ProgressStream;
    type ImportCommitsStream = ImportStream;

    async fn import_commits(
        &self,
        request: Request<Streaming<ImportCommitsRequest>>,
    ) -> Result<Response<Self::ImportCommitsStream>, Status> {
        let actor = actor(&request)?;
        let (out, answers) = mpsc::channel(16);
        tokio::spawn(super::observe::in_call(super::import::run(
            Arc::clone(&self.app),
            actor,
            request.into_inner(),
            out,
        )));
        Ok(Response::new(Box::pin(ReceiverStream::new(answers))))
    }

    async fn redact_payload(
        &self,
        request: Request<RedactPayloadRequest>,
    ) -> Result<Response<RedactPayloadResponse>, Status> {
        let actor = actor(&request)?;
        let m = request.into_inner();
        let (article, expected_version, meta) = envelope(
            &actor,
            "RedactPayload",
            &m,
            [
                m.article_id.as_str(),
                m.command_id.as_str(),
                m.reason.as_str(),
            ],
            m.expected_version,
            Naming::Id,
        )?;
        let ArticleRef::Id(id) = article else {
            return Err(invalid("article_id", "must be an article id"));
        };
        if m.position == 0 {
            return Err(invalid("position", "log positions start at 1"));
        }
        let redacted = self
            .app
            .redact(
                Redaction {
                    article: id,
                    expected_version,
                    position: m.position,
                    event: m.event_index,
                },
                meta,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(RedactPayloadResponse {
            article_id: redacted.appended.article_id.to_string(),
            version: redacted.appended.version,
            global_position: redacted.appended.global_position,
            rewritten_positions: redacted.rewritten,
            warnings: redacted.warnings,
        }))
    }

    async fn rebuild_projections(
        &self,
        request: Request<RebuildProjectionsRequest>,
    ) -> Result<Response<Self::RebuildProjectionsStream>, Status> {
        let throttle = match request.into_inner().max_commits_per_second {
            0 => DEFAULT_THROTTLE,
            n => n,
        };
        let progress = self.app.rebuild_online(throttle).map_err(to_status)?;
        let stream = ReceiverStream::new(progress).map(|p| {
            p.map(|p| RebuildProjectionsResponse {
                phase: p.phase.to_owned(),
                commits_done: p.done,
                commits_total: p.total,
                commits_per_second: p.per_second,
                eta_seconds: p.eta_seconds,
                generation: p.generation.map_or(0, u32::from),
            })
            .map_err(to_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
