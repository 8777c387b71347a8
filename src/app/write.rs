//! The command pipeline: look the command id up, load the durable state,
//! decide, append.

use chrono::Utc;
use uuid::Uuid;

use super::{App, AppError};
use crate::domain::{decide, Article, ArticleDraft, ArticleId, Command, CommandId, Context};
use crate::store::{AppendRequest, Appended, Log};

/// What every write carries besides its command.
#[derive(Clone, Debug)]
pub struct WriteMeta {
    pub command_id: CommandId,
    /// SHA-256 of the request, so that a retry can be told from a reuse.
    pub request_hash: [u8; 32],
    pub reason: String,
    /// The authenticated caller.
    pub actor: String,
}

impl App {
    /// Creates an article from a draft; the server assigns its id (UUID v7).
    pub async fn create(&self, draft: ArticleDraft, meta: WriteMeta) -> Result<Appended, AppError> {
        if let Some(done) = self.retried(&meta).await? {
            return Ok(done);
        }
        let id = ArticleId::from_uuid(Uuid::now_v7());
        let command = Command::CreateArticle { id, draft };
        let outcome = self
            .decide_and_append(id, None, 0, command, meta.clone())
            .await;
        self.unless_retried(outcome, &meta).await
    }

    /// Applies `command` to the article, decided on `expected_version`.
    pub async fn edit(
        &self,
        id: ArticleId,
        expected_version: u64,
        command: Command,
        meta: WriteMeta,
    ) -> Result<Appended, AppError> {
        if let Some(done) = self.retried(&meta).await? {
            return Ok(done);
        }
        let outcome = self
            .edit_once(id, expected_version, command, meta.clone())
            .await;
        self.unless_retried(outcome, &meta).await
    }

    /// A refusal may be caused by this very command: its original, still in
    /// flight at the first lookup, may have become durable since. Then the
    /// answer is the original's, as for any retry, not the conflict.
    async fn unless_retried(
        &self,
        outcome: Result<Appended, AppError>,
        meta: &WriteMeta,
    ) -> Result<Appended, AppError> {
        match outcome {
            Ok(done) => Ok(done),
            Err(e @ (AppError::Unavailable(_) | AppError::DataLoss(_))) => Err(e),
            Err(e) => Ok(self.retried(meta).await?.ok_or(e)?),
        }
    }

    async fn edit_once(
        &self,
        id: ArticleId,
        expected_version: u64,
        command: Command,
        meta: WriteMeta,
    ) -> Result<Appended, AppError> {
        let current = self
            .current_durable(id)
            .await?
            .ok_or_else(|| AppError::not_found("article_id", "no such article"))?;
        if current.article.version != expected_version {
            return Err(AppError::VersionMismatch {
                expected: expected_version,
                current: current.article.version,
            });
        }
        let command = match command {
            Command::RevertArticle { to_version, .. }
                if (1..=current.article.version).contains(&to_version) =>
            {
                let target = self.version_of(&current, to_version).await?;
                Command::RevertArticle {
                    to_version,
                    target: Some(Box::new(target.article)),
                }
            }
            other => other,
        };
        let position = current.global_position;
        let outcome = self
            .decide_and_append(id, Some(current.article), expected_version, command, meta)
            .await?;
        // A command that changes nothing answers with the current version.
        Ok(if outcome.version == 0 {
            Appended {
                global_position: position,
                version: expected_version,
                ..outcome
            }
        } else {
            outcome
        })
    }

    /// The original outcome if this command id was already appended.
    async fn retried(&self, meta: &WriteMeta) -> Result<Option<Appended>, AppError> {
        let Some(entry) = self.store.find_command(meta.command_id).await? else {
            return Ok(None);
        };
        if entry.request_hash != meta.request_hash {
            return Err(AppError::invalid(
                "command_id",
                format!(
                    "{} was already used for a different request",
                    meta.command_id
                ),
            ));
        }
        Ok(Some(Appended {
            article_id: entry.article_id,
            version: entry.version,
            global_position: entry.global_position,
            duplicate: true,
        }))
    }

    /// Decides; appends unless nothing changes (then version 0 is returned
    /// for the caller to fill in).
    async fn decide_and_append(
        &self,
        id: ArticleId,
        state: Option<Article>,
        expected_version: u64,
        command: Command,
        meta: WriteMeta,
    ) -> Result<Appended, AppError> {
        let ctx = Context {
            limits: &self.limits,
            today: Utc::now().date_naive(),
            actor: &meta.actor,
            reason: &meta.reason,
        };
        let events = decide(state.as_ref(), &command, &ctx)?;
        if events.is_empty() {
            return Ok(Appended {
                article_id: id,
                version: 0,
                global_position: 0,
                duplicate: false,
            });
        }
        let after = Article::fold(state, id, expected_version + 1, &events)
            .ok_or_else(|| AppError::DataLoss("the article's history does not fold".into()))?;
        let reason = match &command {
            Command::RevertArticle { to_version, .. } if meta.reason.is_empty() => {
                format!("Revert to version {to_version}")
            }
            Command::RevertArticle { to_version, .. } => {
                format!("Revert to version {to_version}: {}", meta.reason)
            }
            _ => meta.reason,
        };
        let request = AppendRequest {
            article_id: id,
            expected_version,
            command_id: meta.command_id,
            request_hash: meta.request_hash,
            actor: meta.actor,
            reason,
            provenance: after.provenance,
            events,
        };
        let appended = self.store.append(request).await?;
        tracing::debug!(
            command = command.name(),
            article = %appended.article_id,
            version = appended.version,
            position = appended.global_position,
            duplicate = appended.duplicate,
            "appended"
        );
        Ok(appended)
    }
}
