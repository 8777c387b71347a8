//! AnswerService: answers by id or slug, current or past, and lists.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::answer_response::RenderedAnswers;
use super::convert::{self, TokenKind};
use super::deadline::wait_deadline;
use super::pb::answer_service_server::AnswerService;
use super::pb::*;
use super::status::{invalid, to_status};
use crate::app::{App, AsOf};
use crate::domain::ArticleVersion;

/// The most refs one BatchGetAnswers may name.
const MAX_BATCH: usize = 100;

pub(crate) struct AnswerApi {
    app: Arc<App>,
    /// Current answers' encodings, kept with their states.
    rendered: RenderedAnswers,
}

impl AnswerApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self {
            rendered: RenderedAnswers::new(app.state_cache_bytes()),
            app,
        }
    }

    /// Waits until the read models include `min_position`, or answers
    /// DEADLINE_EXCEEDED a little before the caller's deadline.
    async fn wait(&self, deadline: tokio::time::Instant, min_position: u64) -> Result<(), Status> {
        self.app
            .wait_for_position(min_position, Some(deadline))
            .await
            .map_err(to_status)
    }
}

#[tonic::async_trait]
impl AnswerService for AnswerApi {
    async fn get_answer(
        &self,
        request: Request<GetAnswerRequest>,
    ) -> Result<Response<GetAnswerResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        let m = request.into_inner();
        let reference = match &m.r#ref {
            Some(get_answer_request::Ref::Id(id)) => convert::reference(Some(id), None)?,
            Some(get_answer_request::Ref::Slug(slug)) => convert::reference(None, Some(slug))?,
            None => convert::reference(None, None)?,
        };
        let current = m.as_of.is_none();
        let as_of = match &m.as_of {
            None => AsOf::Current,
            Some(get_answer_request::AsOf::Version(v)) => AsOf::Version(*v),
            Some(get_answer_request::AsOf::Time(t)) => AsOf::Time(convert::time("time", t)?),
            Some(get_answer_request::AsOf::OriginTime(t)) => {
                AsOf::OriginTime(convert::time("origin_time", t)?)
            }
        };
        self.wait(deadline, m.min_position).await?;
        let answer = self
            .app
            .answer(&reference, as_of)
            .await
            .map_err(to_status)?;
        let receipt = if m.receipt {
            receipt_of(&self.app, &answer, deadline).await?
        } else {
            Vec::new()
        };
        // A current answer is the state the app keeps until the next
        // commit: its encoding is kept with it. A past one is a state made
        // for this call.
        Ok(Response::new(if current {
            GetAnswerResponse::encoded(self.rendered.encoding(&answer, convert::answer), receipt)
        } else {
            GetAnswerResponse::new(convert::answer(&answer), receipt)
        }))
    }

    async fn batch_get_answers(
        &self,
        request: Request<BatchGetAnswersRequest>,
    ) -> Result<Response<BatchGetAnswersResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        let m = request.into_inner();
        if m.refs.len() > MAX_BATCH {
            return Err(invalid(
                "refs",
                format!(
                    "names {} articles, over the limit of {MAX_BATCH}",
                    m.refs.len()
                ),
            ));
        }
        let refs = m
            .refs
            .iter()
            .enumerate()
            .map(|(i, r)| convert::loose_reference(&format!("refs[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?;
        self.wait(deadline, m.min_position).await?;
        let (found, missing) = self.app.answers(&refs).await.map_err(to_status)?;
        let receipts = if m.receipts {
            self.app
                .receipts(&found, Some(deadline))
                .await
                .map_err(to_status)?
        } else {
            Vec::new()
        };
        Ok(Response::new(BatchGetAnswersResponse {
            answers: found.iter().map(|a| convert::answer(a)).collect(),
            missing_refs: missing.into_iter().map(|i| m.refs[i].clone()).collect(),
            receipts,
        }))
    }

    async fn list_answers(
        &self,
        request: Request<ListAnswersRequest>,
    ) -> Result<Response<ListAnswersResponse>, Status> {
        let deadline = wait_deadline(request.metadata());
        let m = request.into_inner();
        let page_size = convert::page_size(m.page_size)?;
        let after = convert::cursor(TokenKind::Answers, &m.page_token)?;
        let since = m
            .updated_since
            .as_ref()
            .map(|t| convert::time("updated_since", t))
            .transpose()?;
        self.wait(deadline, m.min_position).await?;
        let page = self
            .app
            .list_answers(since, after, page_size)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListAnswersResponse {
            answers: page.items.iter().map(|a| convert::summary(a)).collect(),
            next_page_token: convert::page_token(TokenKind::Answers, page.next),
        }))
    }
}

/// The receipt of one answer (GetAnswer's, InspectAnswer's), waiting for
/// a checkpoint that covers it until `deadline`.
pub(super) async fn receipt_of(
    app: &App,
    answer: &Arc<ArticleVersion>,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, Status> {
    let mut receipts = app
        .receipts(std::slice::from_ref(answer), Some(deadline))
        .await
        .map_err(to_status)?;
    Ok(receipts.pop().unwrap_or_default())
}
