//! ArticleService: the writes.

use std::sync::Arc;

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::auth::actor;
use super::convert;
use super::pb::article_service_server::ArticleService;
use super::pb::*;
use super::status::{invalid, to_status};
use crate::app::{App, WriteMeta};
use crate::domain::Command;
use crate::store::Appended;

pub(crate) struct ArticleApi {
    app: Arc<App>,
}

impl ArticleApi {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// Runs one edit: the envelope fields every write request carries,
    /// then the command.
    async fn edit<M: Message>(
        &self,
        request: Request<M>,
        rpc: &str,
        envelope: impl FnOnce(&M) -> (&str, u64, &str, &str),
        command: impl FnOnce(M) -> Command,
    ) -> Result<Appended, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let request_hash = hash(&actor, rpc, &message);
        let (article_id, expected_version, command_id, reason) = envelope(&message);
        let id = convert::article_id("article_id", article_id)?;
        if expected_version == 0 {
            return Err(invalid(
                "expected_version",
                "must name the version the edit was made on (from 1)",
            ));
        }
        let meta = WriteMeta {
            command_id: convert::command_id(command_id)?,
            request_hash,
            reason: reason.to_owned(),
            actor,
        };
        self.app
            .edit(id, expected_version, command(message), meta)
            .await
            .map_err(to_status)
    }
}

/// SHA-256 of the caller, the RPC's name and the request's bytes (prost
/// encodes one message one way), to tell a retry from a reuse of its
/// command id — by another request, or by another principal.
fn hash<M: Message>(actor: &str, rpc: &str, message: &M) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(actor.as_bytes());
    hasher.update([0]);
    hasher.update(rpc.as_bytes());
    hasher.update([0]);
    hasher.update(message.encode_to_vec());
    hasher.finalize().into()
}

macro_rules! envelope {
    () => {
        |m| {
            (
                m.article_id.as_str(),
                m.expected_version,
                m.command_id.as_str(),
                m.reason.as_str(),
            )
        }
    };
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
);

#[tonic::async_trait]
impl ArticleService for ArticleApi {
    async fn create_article(
        &self,
        request: Request<CreateArticleRequest>,
    ) -> Result<Response<CreateArticleResponse>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let request_hash = hash(&actor, "CreateArticle", &message);
        let meta = WriteMeta {
            command_id: convert::command_id(&message.command_id)?,
            request_hash,
            reason: message.reason,
            actor,
        };
        let draft = message
            .article
            .ok_or_else(|| invalid("article", "the article to create is required"))?;
        let done = self
            .app
            .create(convert::draft(draft), meta)
            .await
            .map_err(to_status)?;
        Ok(Response::new(done.into()))
    }

    async fn edit_question(
        &self,
        request: Request<EditQuestionRequest>,
    ) -> Result<Response<EditQuestionResponse>, Status> {
        let done = self
            .edit(request, "EditQuestion", envelope!(), |m| {
                Command::EditQuestion {
                    question: m.question,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn change_slug(
        &self,
        request: Request<ChangeSlugRequest>,
    ) -> Result<Response<ChangeSlugResponse>, Status> {
        let done = self
            .edit(request, "ChangeSlug", envelope!(), |m| {
                Command::ChangeSlug { slug: m.slug }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn edit_quick_answer(
        &self,
        request: Request<EditQuickAnswerRequest>,
    ) -> Result<Response<EditQuickAnswerResponse>, Status> {
        let done = self
            .edit(request, "EditQuickAnswer", envelope!(), |m| {
                Command::EditQuickAnswer {
                    quick_answer: m.quick_answer,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn replace_key_facts(
        &self,
        request: Request<ReplaceKeyFactsRequest>,
    ) -> Result<Response<ReplaceKeyFactsResponse>, Status> {
        let done = self
            .edit(request, "ReplaceKeyFacts", envelope!(), |m| {
                Command::ReplaceKeyFacts {
                    key_facts: m.key_facts,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn add_section(
        &self,
        request: Request<AddSectionRequest>,
    ) -> Result<Response<AddSectionResponse>, Status> {
        if request.get_ref().section.is_none() {
            return Err(invalid("section", "the section to add is required"));
        }
        let done = self
            .edit(request, "AddSection", envelope!(), |m| {
                Command::AddSection {
                    section: convert::section_draft(m.section.unwrap_or_default()),
                    after_section_id: m.after_section_id,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn edit_section(
        &self,
        request: Request<EditSectionRequest>,
    ) -> Result<Response<EditSectionResponse>, Status> {
        let done = self
            .edit(request, "EditSection", envelope!(), |m| {
                Command::EditSection {
                    section_id: m.section_id,
                    heading: m.heading,
                    body: m.body,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn remove_section(
        &self,
        request: Request<RemoveSectionRequest>,
    ) -> Result<Response<RemoveSectionResponse>, Status> {
        let done = self
            .edit(request, "RemoveSection", envelope!(), |m| {
                Command::RemoveSection {
                    section_id: m.section_id,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn move_section(
        &self,
        request: Request<MoveSectionRequest>,
    ) -> Result<Response<MoveSectionResponse>, Status> {
        let done = self
            .edit(request, "MoveSection", envelope!(), |m| {
                Command::MoveSection {
                    section_id: m.section_id,
                    after_section_id: m.after_section_id,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn add_source(
        &self,
        request: Request<AddSourceRequest>,
    ) -> Result<Response<AddSourceResponse>, Status> {
        if request.get_ref().source.is_none() {
            return Err(invalid("source", "the source to add is required"));
        }
        let done = self
            .edit(request, "AddSource", envelope!(), |m| Command::AddSource {
                source: convert::source_draft(m.source.unwrap_or_default()),
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn edit_source(
        &self,
        request: Request<EditSourceRequest>,
    ) -> Result<Response<EditSourceResponse>, Status> {
        if request.get_ref().source.is_none() {
            return Err(invalid("source", "the source's new fields are required"));
        }
        let done = self
            .edit(request, "EditSource", envelope!(), |m| {
                Command::EditSource {
                    source: convert::source_draft(m.source.unwrap_or_default()),
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn remove_source(
        &self,
        request: Request<RemoveSourceRequest>,
    ) -> Result<Response<RemoveSourceResponse>, Status> {
        let done = self
            .edit(request, "RemoveSource", envelope!(), |m| {
                Command::RemoveSource {
                    source_id: m.source_id,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn redate_article(
        &self,
        request: Request<RedateArticleRequest>,
    ) -> Result<Response<RedateArticleResponse>, Status> {
        let done = self
            .edit(request, "RedateArticle", envelope!(), |m| {
                Command::RedateArticle {
                    last_updated: m.last_updated,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn review_article(
        &self,
        request: Request<ReviewArticleRequest>,
    ) -> Result<Response<ReviewArticleResponse>, Status> {
        let done = self
            .edit(request, "ReviewArticle", envelope!(), |_| {
                Command::ReviewArticle
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn revert_article(
        &self,
        request: Request<RevertArticleRequest>,
    ) -> Result<Response<RevertArticleResponse>, Status> {
        let done = self
            .edit(request, "RevertArticle", envelope!(), |m| {
                Command::RevertArticle {
                    to_version: m.to_version,
                    target: None,
                }
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn retract_article(
        &self,
        request: Request<RetractArticleRequest>,
    ) -> Result<Response<RetractArticleResponse>, Status> {
        let done = self
            .edit(request, "RetractArticle", envelope!(), |_| {
                Command::RetractArticle
            })
            .await?;
        Ok(Response::new(done.into()))
    }

    async fn restore_article(
        &self,
        request: Request<RestoreArticleRequest>,
    ) -> Result<Response<RestoreArticleResponse>, Status> {
        let done = self
            .edit(request, "RestoreArticle", envelope!(), |_| {
                Command::RestoreArticle
            })
            .await?;
        Ok(Response::new(done.into()))
    }
}
