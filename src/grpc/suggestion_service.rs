//! SuggestionService: the page's "Suggest a question".

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::convert::{self, TokenKind};
use super::pb::suggestion_service_server::SuggestionService;
use super::pb::*;
use super::status::to_status;
use crate::app::App;

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
}
