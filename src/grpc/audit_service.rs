//! AuditService: revisions, one commit's events, diffs between versions.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{self, TokenKind};
use super::pb::audit_service_server::AuditService;
use super::pb::*;
use super::status::{invalid, to_status};
use crate::app::App;

pub(crate) struct AuditApi {
    app: Arc<App>,
}

impl AuditApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_revisions(
        &self,
        request: Request<ListRevisionsRequest>,
    ) -> Result<Response<ListRevisionsResponse>, Status> {
        let m = request.into_inner();
        let reference = match &m.r#ref {
            Some(list_revisions_request::Ref::Id(id)) => convert::reference(Some(id), None)?,
            Some(list_revisions_request::Ref::Slug(slug)) => convert::reference(None, Some(slug))?,
            None => convert::reference(None, None)?,
        };
        let page_size = convert::page_size(m.page_size)?;
        let after = convert::cursor(TokenKind::Revisions, &m.page_token)?;
        let (id, current_version, page) = self
            .app
            .revisions(&reference, after, page_size)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListRevisionsResponse {
            revisions: page.items.iter().map(convert::revision).collect(),
            next_page_token: convert::page_token(TokenKind::Revisions, page.next),
            article_id: id.to_string(),
            current_version,
        }))
    }

    async fn get_revision(
        &self,
        request: Request<GetRevisionRequest>,
    ) -> Result<Response<GetRevisionResponse>, Status> {
        let m = request.into_inner();
        let id = convert::article_id("article_id", &m.article_id)?;
        if m.version == 0 {
            return Err(invalid("version", "versions start at 1"));
        }
        let commit = self.app.revision(id, m.version).await.map_err(to_status)?;
        Ok(Response::new(GetRevisionResponse {
            article_id: id.to_string(),
            revision: Some(convert::revision(&commit.revision())),
            command_id: commit.command_id.to_string(),
            provenance: Some(Provenance {
                ai_assisted: commit.provenance.ai_assisted,
                generator: commit.provenance.generator.clone(),
                reviewed_by: commit.provenance.reviewed_by.clone(),
            }),
            events: commit
                .events
                .iter()
                .map(|e| convert::event(id, e))
                .collect(),
        }))
    }

    async fn diff_versions(
        &self,
        request: Request<DiffVersionsRequest>,
    ) -> Result<Response<DiffVersionsResponse>, Status> {
        let m = request.into_inner();
        let id = convert::article_id("article_id", &m.article_id)?;
        let diff = self
            .app
            .diff(id, m.from_version, m.to_version)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::diff_response(
            id,
            m.from_version,
            m.to_version,
            &diff,
        )))
    }
}
