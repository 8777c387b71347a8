//! SuggestionService: the page's "Suggest a question", and the writers'
//! queue of them.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::convert::{self, TokenKind};
use super::pb::suggestion_service_server::SuggestionService;
use super::pb::*;
use super::status::to_status;
use crate::app::{App, Resolve};

pub(crate) struct SuggestionApi {
    app: Arc<App>,
}

impl SuggestionApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl SuggestionService for SuggestionApi {
    async fn suggest_question(
        &self,
        request: Request<SuggestQuestionRequest>,
    ) -> Result<Response<SuggestQuestionResponse>, Status> {
        let actor = actor(&request)?;
        let m = request.into_inner();
        let article_id = if m.article_id.is_empty() {
            None
        } else {
            Some(convert::article_id("article_id", &m.article_id)?)
        };
        let suggestion = self
            .app
            .suggest(m.question, article_id, actor)
            .await
            .map_err(to_status)?;
        Ok(Response::new(SuggestQuestionResponse {
            suggestion_id: suggestion.id.to_string(),
        }))
    }

    async fn list_suggestions(
        &self,
        request: Request<ListSuggestionsRequest>,
    ) -> Result<Response<ListSuggestionsResponse>, Status> {
        let m = request.into_inner();
        let page_size = convert::page_size(m.page_size)?;
        let after = convert::cursor(TokenKind::Suggestions, &m.page_token)?;
        let page = self
            .app
            .suggestions(after, page_size)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListSuggestionsResponse {
            suggestions: page.items.iter().map(convert::suggestion).collect(),
            next_page_token: convert::page_token(TokenKind::Suggestions, page.next),
        }))
    }

    async fn resolve_suggestion(
        &self,
        request: Request<ResolveSuggestionRequest>,
    ) -> Result<Response<ResolveSuggestionResponse>, Status> {
        let actor = actor(&request)?;
        let m = request.into_inner();
        let id = uuid::Uuid::parse_str(&m.suggestion_id).map_err(|_| {
            super::status::invalid("suggestion_id", "must be a suggestion's id (a UUID)")
        })?;
        let how = match SuggestionResolution::try_from(m.resolution) {
            Ok(SuggestionResolution::Answered) if m.article.is_empty() => {
                return Err(super::status::invalid(
                    "article",
                    "name the article (id or slug) that answers it",
                ))
            }
            Ok(SuggestionResolution::Answered) => {
                Resolve::Answered(convert::loose_reference("article", &m.article)?)
            }
            Ok(SuggestionResolution::Declined) if !m.article.is_empty() => {
                return Err(super::status::invalid(
                    "article",
                    "a declined suggestion names no article",
                ))
            }
            Ok(SuggestionResolution::Declined) => Resolve::Declined,
            _ => {
                return Err(super::status::invalid(
                    "resolution",
                    "must be SUGGESTION_RESOLUTION_ANSWERED or SUGGESTION_RESOLUTION_DECLINED",
                ))
            }
        };
        let suggestion = self
            .app
            .resolve_suggestion(id, how, m.note, actor)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ResolveSuggestionResponse {
            suggestion: Some(convert::suggestion(&suggestion)),
        }))
    }
}
