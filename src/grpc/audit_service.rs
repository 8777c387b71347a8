//! AuditService: revisions, one commit's events, diffs between versions.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{self, TokenKind};
use super::deadline::{reach, wait_deadline};
use super::pb::audit_service_server::AuditService;
use super::pb::*;
use super::status::{invalid, to_status};
use std::pin::Pin;
use std::time::Duration;

use std::task::{Context, Poll};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;

use crate::app::{App, AppError, AsOf, LogDigest, StreamBatch, StreamItem, StreamView};
use crate::domain::hex;
use crate::signing::unhex;

pub(crate) struct AuditApi {
    app: Arc<App>,
    /// How long a follower may wait in silence before a heartbeat.
    heartbeat: Duration,
    /// One permit per open StreamEvents, held as long as its stream.
    subscriptions: Arc<Semaphore>,
    max_subscriptions: usize,
}

impl AuditApi {
    pub(crate) fn new(app: Arc<App>, heartbeat: Duration, max_subscriptions: usize) -> Self {
        Self {
            app,
            heartbeat,
            subscriptions: Arc::new(Semaphore::new(max_subscriptions)),
            max_subscriptions,
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

/// A follower's batches as StreamEvents responses, one a commit or
/// heartbeat: a batch that is there is encoded in one go, so that a
/// catch-up's responses leave in large writes.
struct Responses {
    batches: mpsc::Receiver<Result<StreamBatch, AppError>>,
    ready: std::vec::IntoIter<StreamItem>,
    /// The subscription's place, held as long as the stream: a follower
    /// that leaves frees it.
    _place: OwnedSemaphorePermit,
}

impl Stream for Responses {
    type Item = Result<StreamEventsResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.ready.next() {
                return Poll::Ready(Some(stream_response(item)));
            }
            match std::task::ready!(self.batches.poll_recv(cx)) {
                Some(Ok(batch)) => self.ready = batch.into_iter(),
                Some(Err(e)) => return Poll::Ready(Some(Err(to_status(e)))),
                None => return Poll::Ready(None),
            }
        }
    }
}

fn stream_response(item: StreamItem) -> Result<StreamEventsResponse, Status> {
    Ok(match item {
        StreamItem::Commit(view) => match view {
            StreamView::Stored(stored) => {
                StreamEventsResponse::stored(stored).map_err(to_status)?
            }
            StreamView::Decoded(view) => StreamEventsResponse::new(
                stream_events_response::Item::Commit(convert::commit(*view)),
            ),
        },
        StreamItem::Heartbeat { last_position } => {
            StreamEventsResponse::new(stream_events_response::Item::Heartbeat(Heartbeat {
                last_position,
                at: Some(convert::timestamp(chrono::Utc::now())),
            }))
        }
    })
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_revisions(
        &self,
        request: Request<ListRevisionsRequest>,
    ) -> Result<Response<ListRevisionsResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
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
        let deadline = wait_deadline(request.metadata());
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let id = convert::article_id("article_id", &m.article_id)?;
        if m.version == 0 {
            return Err(invalid("version", "versions start at 1"));
        }
        let view = self
            .app
            .commit_view(id, m.version, deadline)
            .await
            .map_err(to_status)?;
        let c = convert::commit(view);
        Ok(Response::new(GetRevisionResponse {
            article_id: c.article_id,
            revision: c.revision,
            command_id: c.command_id,
            provenance: c.provenance,
            events: c.events,
            prev_hash: c.prev_hash,
            log_hash: c.log_hash,
            encoding: c.encoding,
            reason_salt: c.reason_salt,
            request_hash: c.request_hash,
            answer_salt: c.answer_salt,
            answer_digest: c.answer_digest,
        }))
    }

    async fn list_commits(
        &self,
        request: Request<ListCommitsRequest>,
    ) -> Result<Response<ListCommitsResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let page_size = convert::page_size(m.page_size)?;
        let after = convert::cursor(TokenKind::Commits, &m.page_token)?
            .max(m.from_position.saturating_sub(1));
        let filter = convert::commit_filter(&m)?;
        let page = self
            .app
            .list_commits(&filter, after, page_size, deadline)
            .await
            .map_err(to_status)?;
        let next_page_token = convert::page_token(TokenKind::Commits, page.next);
        Ok(Response::new(ListCommitsResponse {
            commits: page.items.into_iter().map(convert::commit).collect(),
            next_page_token,
        }))
    }

    async fn diff_versions(
        &self,
        request: Request<DiffVersionsRequest>,
    ) -> Result<Response<DiffVersionsResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
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

    async fn verify_article(
        &self,
        request: Request<VerifyArticleRequest>,
    ) -> Result<Response<VerifyArticleResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let id = convert::article_id("article_id", &m.article_id)?;
        let kept = if m.kept_hash.is_empty() {
            None
        } else {
            let hash = unhex::<32>(&m.kept_hash)
                .ok_or_else(|| invalid("kept_hash", "must be 64 hex digits"))?;
            if m.kept_version == 0 {
                return Err(invalid(
                    "kept_version",
                    "name the version the hash was kept for",
                ));
            }
            Some((m.kept_version, hash))
        };
        let v = self.app.verify_article(id).await.map_err(to_status)?;
        let kept_hash_matches = kept.is_some_and(|(version, hash)| {
            usize::try_from(version - 1)
                .ok()
                .and_then(|i| v.hashes.get(i))
                == Some(&hash)
        });
        Ok(Response::new(VerifyArticleResponse {
            ok: v.first_break.is_none() && (kept.is_none() || kept_hash_matches),
            versions_checked: v.versions,
            head_hash: hex(&v.head_hash),
            first_break: v.first_break.as_ref().map(convert::chain_break),
            kept_hash_matches,
        }))
    }

    async fn verify_log(
        &self,
        request: Request<VerifyLogRequest>,
    ) -> Result<Response<VerifyLogResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let digest: Option<LogDigest> = m.digest.as_ref().map(convert::log_digest).transpose()?;
        let probe = digest.as_ref().map(|d| d.global_position);
        let v = self
            .app
            .verify_log(m.from_position, m.max_commits, probe)
            .await
            .map_err(to_status)?;
        // The log ends before the digest's position: commits it covered are gone.
        let cut_short = |d: &LogDigest| {
            v.next.is_none() && v.first_break.is_none() && d.global_position > v.through
        };
        let digest_check = digest.as_ref().map(|d| {
            let signature = self.app.check_digest_signature(d);
            let matches = v.probed == Some(d.log_hash);
            let detail = match (&signature, v.probed) {
                (Err(why), _) => why.clone(),
                (Ok(()), None) if cut_short(d) => format!(
                    "the log ends at position {}, before the digest's position {}: commits it covered are gone",
                    v.through, d.global_position
                ),
                (Ok(()), None) => format!(
                    "position {} is outside the range checked ({}..={}); check the range that holds it",
                    d.global_position, v.from, v.through
                ),
                (Ok(()), Some(_)) if matches => "the log still holds what the digest signed".into(),
                (Ok(()), Some(found)) => format!(
                    "the log hash at position {} is now {}, not {}",
                    d.global_position,
                    hex(&found),
                    hex(&d.log_hash)
                ),
            };
            DigestCheck {
                signature_valid: signature.is_ok(),
                reached: v.probed.is_some(),
                matches,
                detail,
            }
        });
        let digest_ok = match (&digest_check, &digest) {
            (Some(c), Some(d)) => c.signature_valid && (c.matches || (!c.reached && !cut_short(d))),
            _ => true,
        };
        Ok(Response::new(VerifyLogResponse {
            ok: v.first_break.is_none() && digest_ok,
            from_position: v.from,
            through_position: v.through,
            log_hash: hex(&v.log_hash),
            next_position: if v.first_break.is_none() {
                v.next.unwrap_or(0)
            } else {
                0
            },
            first_break: v.first_break.as_ref().map(convert::chain_break),
            digest_check,
            log_ok: v.first_break.is_none(),
        }))
    }

    async fn inspect_answer(
        &self,
        request: Request<InspectAnswerRequest>,
    ) -> Result<Response<InspectAnswerResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let reference = match &m.r#ref {
            Some(inspect_answer_request::Ref::Id(id)) => convert::reference(Some(id), None)?,
            Some(inspect_answer_request::Ref::Slug(slug)) => convert::reference(None, Some(slug))?,
            None => convert::reference(None, None)?,
        };
        let as_of = match &m.as_of {
            None => AsOf::Current,
            Some(inspect_answer_request::AsOf::Version(v)) => AsOf::Version(*v),
            Some(inspect_answer_request::AsOf::Time(t)) => AsOf::Time(convert::time("time", t)?),
            Some(inspect_answer_request::AsOf::OriginTime(t)) => {
                AsOf::OriginTime(convert::time("origin_time", t)?)
            }
        };
        let (answer, served) = self
            .app
            .inspect(&reference, as_of)
            .await
            .map_err(to_status)?;
        let receipt = if m.receipt {
            super::answer_service::receipt_of(&self.app, &answer, deadline).await?
        } else {
            Vec::new()
        };
        Ok(Response::new(InspectAnswerResponse {
            answer: Some(convert::answer(&answer)),
            served,
            receipt,
        }))
    }

    async fn get_attribution(
        &self,
        request: Request<GetAttributionRequest>,
    ) -> Result<Response<GetAttributionResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let reference = match &m.r#ref {
            Some(get_attribution_request::Ref::Id(id)) => convert::reference(Some(id), None)?,
            Some(get_attribution_request::Ref::Slug(slug)) => convert::reference(None, Some(slug))?,
            None => convert::reference(None, None)?,
        };
        let version = (m.version != 0).then_some(m.version);
        let (id, version, attributions) = self
            .app
            .attribution(&reference, version)
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetAttributionResponse {
            article_id: id.to_string(),
            version,
            attributions: attributions.iter().map(convert::attribution).collect(),
        }))
    }

    async fn get_freshness_report(
        &self,
        request: Request<GetFreshnessReportRequest>,
    ) -> Result<Response<GetFreshnessReportResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let m = request.into_inner();
        let article = (!m.article_id.is_empty())
            .then(|| convert::article_id("article_id", &m.article_id))
            .transpose()?;
        let after = (!m.page_token.is_empty())
            .then(|| convert::article_id("page_token", &m.page_token))
            .transpose()?;
        let (found, next) = self
            .app
            .freshness(article, after)
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetFreshnessReportResponse {
            redates: found
                .iter()
                .map(|(article, stale)| convert::stale_redate(article, stale))
                .collect(),
            next_page_token: next.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    type StreamEventsStream = EventStream;

    async fn stream_events(
        &self,
        request: Request<StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let m = request.into_inner();
        let filter = convert::stream_filter(&m)?;
        let permit = Arc::clone(&self.subscriptions)
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "the server follows at most {} event streams at once; retry later",
                    self.max_subscriptions
                ))
            })?;
        let batches = self.app.follow(m.from_position, filter, self.heartbeat);
        Ok(Response::new(Box::pin(Responses {
            batches,
            ready: Vec::new().into_iter(),
            _place: permit,
        })))
    }

    async fn get_backup_manifest(
        &self,
        request: Request<GetBackupManifestRequest>,
    ) -> Result<Response<GetBackupManifestResponse>, Status> {
        let position = request.get_ref().global_position;
        let manifest = self
            .app
            .backup_manifest(position)
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetBackupManifestResponse {
            manifest: Some(convert::backup_manifest_message(&manifest)),
        }))
    }

    async fn get_log_digest(
        &self,
        request: Request<GetLogDigestRequest>,
    ) -> Result<Response<GetLogDigestResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let digest = self.app.log_digest().await.map_err(to_status)?;
        Ok(Response::new(GetLogDigestResponse {
            digest: Some(convert::log_digest_message(&digest)),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<GetCheckpointResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        let signed = self
            .app
            .checkpoint(request.get_ref().min_position, Some(deadline))
            .await
            .map_err(to_status)?;
        let verifier_key = self.app.checkpoint_key().map_err(to_status)?.to_string();
        Ok(Response::new(GetCheckpointResponse {
            note: signed.note.clone(),
            origin: signed.checkpoint.origin.clone(),
            tree_size: signed.checkpoint.size,
            root_hash: signed.checkpoint.root.to_vec(),
            verifier_key,
            key_rotations: self.app.key_rotations().to_vec(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<GetConsistencyProofResponse>, Status> {
        let m = request.into_inner();
        let hashes = self
            .app
            .consistency_proof(m.old_size, m.new_size)
            .map_err(to_status)?;
        Ok(Response::new(GetConsistencyProofResponse {
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
