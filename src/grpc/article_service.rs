//! ArticleService: the writes.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::actor;
use super::deadline::reach;
use super::pb::article_service_server::ArticleService;
use super::pb::import_command::Command as Arm;
use super::pb::*;
use super::status::{to_status, to_write_status};
use super::write::{write, Naming};
use crate::app::App;
use crate::app::Appended;

pub(crate) struct ArticleApi {
    app: Arc<App>,
}

impl ArticleApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// Runs one write request: checked and turned into the app's write
    /// (`arm` says which write it is), decided, appended.
    async fn run<M, R: From<Appended>>(
        &self,
        request: Request<M>,
        arm: fn(M) -> Arm,
    ) -> Result<Response<R>, Status> {
        let actor = actor(&request)?;
        let write = write(&actor, arm(request.into_inner()), Naming::Id)?;
        let done = self.app.write(write).await.map_err(to_write_status)?;
        Ok(Response::new(done.into()))
    }
}

macro_rules! write_responses {
    ($($response:ident),* $(,)?) => {
        $(impl From<Appended> for $response {
            fn from(a: Appended) -> Self {
                Self {
                    article_id: a.article_id.to_string(),
                    version: a.version,
                    global_position: a.global_position,
                }
            }
        })*
    };
}

write_responses!(
    CreateArticleResponse,
    EditQuestionResponse,
    ChangeSlugResponse,
    EditQuickAnswerResponse,
    ReplaceKeyFactsResponse,
    AddSectionResponse,
    EditSectionResponse,
    RemoveSectionResponse,
    MoveSectionResponse,
    AddSourceResponse,
    EditSourceResponse,
    RemoveSourceResponse,
    RedateArticleResponse,
    ReviewArticleResponse,
    RevertArticleResponse,
    RetractArticleResponse,
    RestoreArticleResponse,
    ReviseArticleResponse,
    ApplyChangesResponse,
    GetCommandOutcomeResponse,
);

#[tonic::async_trait]
impl ArticleService for ArticleApi {
    async fn create_article(
        &self,
        request: Request<CreateArticleRequest>,
    ) -> Result<Response<CreateArticleResponse>, Status> {
        self.run(request, Arm::CreateArticle).await
    }

    async fn edit_question(
        &self,
        request: Request<EditQuestionRequest>,
    ) -> Result<Response<EditQuestionResponse>, Status> {
        self.run(request, Arm::EditQuestion).await
    }

    async fn change_slug(
        &self,
        request: Request<ChangeSlugRequest>,
    ) -> Result<Response<ChangeSlugResponse>, Status> {
        self.run(request, Arm::ChangeSlug).await
    }

    async fn edit_quick_answer(
        &self,
        request: Request<EditQuickAnswerRequest>,
    ) -> Result<Response<EditQuickAnswerResponse>, Status> {
        self.run(request, Arm::EditQuickAnswer).await
    }

    async fn replace_key_facts(
        &self,
        request: Request<ReplaceKeyFactsRequest>,
    ) -> Result<Response<ReplaceKeyFactsResponse>, Status> {
        self.run(request, Arm::ReplaceKeyFacts).await
    }

    async fn add_section(
        &self,
        request: Request<AddSectionRequest>,
    ) -> Result<Response<AddSectionResponse>, Status> {
        self.run(request, Arm::AddSection).await
    }

    async fn edit_section(
        &self,
        request: Request<EditSectionRequest>,
    ) -> Result<Response<EditSectionResponse>, Status> {
        self.run(request, Arm::EditSection).await
    }

    async fn remove_section(
        &self,
        request: Request<RemoveSectionRequest>,
    ) -> Result<Response<RemoveSectionResponse>, Status> {
        self.run(request, Arm::RemoveSection).await
    }

    async fn move_section(
        &self,
        request: Request<MoveSectionRequest>,
    ) -> Result<Response<MoveSectionResponse>, Status> {
        self.run(request, Arm::MoveSection).await
    }

    async fn add_source(
        &self,
        request: Request<AddSourceRequest>,
    ) -> Result<Response<AddSourceResponse>, Status> {
        self.run(request, Arm::AddSource).await
    }

    async fn edit_source(
        &self,
        request: Request<EditSourceRequest>,
    ) -> Result<Response<EditSourceResponse>, Status> {
        self.run(request, Arm::EditSource).await
    }

    async fn remove_source(
        &self,
        request: Request<RemoveSourceRequest>,
    ) -> Result<Response<RemoveSourceResponse>, Status> {
        self.run(request, Arm::RemoveSource).await
    }

    async fn redate_article(
        &self,
        request: Request<RedateArticleRequest>,
    ) -> Result<Response<RedateArticleResponse>, Status> {
        self.run(request, Arm::RedateArticle).await
    }

    async fn review_article(
        &self,
        request: Request<ReviewArticleRequest>,
    ) -> Result<Response<ReviewArticleResponse>, Status> {
        self.run(request, Arm::ReviewArticle).await
    }

    async fn revert_article(
        &self,
        request: Request<RevertArticleRequest>,
    ) -> Result<Response<RevertArticleResponse>, Status> {
        self.run(request, Arm::RevertArticle).await
    }

    async fn retract_article(
        &self,
        request: Request<RetractArticleRequest>,
    ) -> Result<Response<RetractArticleResponse>, Status> {
        self.run(request, Arm::RetractArticle).await
    }

    async fn restore_article(
        &self,
        request: Request<RestoreArticleRequest>,
    ) -> Result<Response<RestoreArticleResponse>, Status> {
        self.run(request, Arm::RestoreArticle).await
    }

    async fn revise_article(
        &self,
        request: Request<ReviseArticleRequest>,
    ) -> Result<Response<ReviseArticleResponse>, Status> {
        self.run(request, Arm::ReviseArticle).await
    }

    async fn apply_changes(
        &self,
        request: Request<ApplyChangesRequest>,
    ) -> Result<Response<ApplyChangesResponse>, Status> {
        self.run(request, Arm::ApplyChanges).await
    }

    async fn get_command_outcome(
        &self,
        request: Request<GetCommandOutcomeRequest>,
    ) -> Result<Response<GetCommandOutcomeResponse>, Status> {
        reach(
            &self.app,
            request.metadata(),
            request.get_ref().min_position,
        )
        .await?;
        let command_id = super::convert::command_id(&request.get_ref().command_id)?;
        let outcome = self
            .app
            .command_outcome(command_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(outcome.into()))
    }
}
