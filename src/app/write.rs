//! The command pipeline: look the command id up, load the durable state,
//! decide, append.

use chrono::Utc;
use uuid::Uuid;

use super::{App, AppError, ArticleRef};
use crate::domain::{
    decide, quoted, Article, ArticleDraft, ArticleId, ArticleVersion, Command, CommandId, Context,
    OriginClaims, RequestHash,
};
use crate::log::{AppendRequest, Appended};

/// One write, as the API's write requests and the bulk import give it.
#[derive(Clone, Debug)]
pub(crate) enum Write {
    Create {
        draft: ArticleDraft,
        meta: WriteMeta,
    },
    Edit {
        /// An id, or (in a bulk import) a slug.
        article: ArticleRef,
        expected_version: u64,
        command: Command,
        meta: WriteMeta,
    },
}

impl Write {
    pub(crate) fn meta(&self) -> &WriteMeta {
        match self {
            Write::Create { meta, .. } | Write::Edit { meta, .. } => meta,
        }
    }

    pub(crate) fn meta_mut(&mut self) -> &mut WriteMeta {
        match self {
            Write::Create { meta, .. } | Write::Edit { meta, .. } => meta,
        }
    }
}

/// A decided commit, ready for the log, and the article after it.
pub(super) struct Decided {
    pub(super) request: AppendRequest,
    pub(super) after: Article,
}

/// What every write carries besides its command.
#[derive(Clone, Debug)]
pub struct WriteMeta {
    pub command_id: CommandId,
    /// The plain SHA-256 of the caller, the RPC and the request, which
    /// the log's request key keys (`App::request_hash`), so that a retry
    /// can be told from a reuse.
    pub request_digest: [u8; 32],
    pub reason: String,
    /// The authenticated caller.
    pub actor: String,
    /// What another system's history says of the revision an imported
    /// write comes from: its commit ends with them, as an `OriginClaimed`.
    pub origin: Option<Box<OriginClaims>>,
}

impl App {
    /// Runs one write: decided on the article's durable state, appended,
    /// answered once durable.
    pub(crate) async fn write(&self, write: Write) -> Result<Appended, AppError> {
        match write {
            Write::Create { draft, meta } => self.create(draft, meta).await,
            Write::Edit {
                article,
                expected_version,
                command,
                meta,
            } => {
                let id = self.edited_article(&article).await?;
                self.edit(id, expected_version, command, meta).await
            }
        }
    }

    /// The id of the article an edit names. A slug is looked up once the
    /// read models hold every write answered (a creation or rename a moment
    /// ago).
    pub(super) async fn edited_article(&self, article: &ArticleRef) -> Result<ArticleId, AppError> {
        match article {
            ArticleRef::Id(id) => Ok(*id),
            ArticleRef::Slug(slug) => {
                self.wait_for_position(0, None).await?;
                crate::store::slug_owner(&self.read_models, slug)?.ok_or_else(|| {
                    AppError::not_found("article_id", format!("no article {}", quoted(slug)))
                })
            }
        }
    }

    /// Creates an article from a draft; the server assigns its id (UUID v7).
    pub async fn create(&self, draft: ArticleDraft, meta: WriteMeta) -> Result<Appended, AppError> {
        if let Some(done) = self.retried(&meta).await? {
            return Ok(done);
        }
        let id = ArticleId::from_uuid(Uuid::now_v7());
        let outcome = match self.decide_create(id, draft, meta.clone()) {
            Ok((decided, command)) => self.append(decided.request, &command).await,
            Err(e) => Err(e),
        };
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
    pub(super) async fn unless_retried(
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
        let current = self.current_at_least(id, expected_version).await?;
        let position = current.global_position;
        let command = self
            .checked_edit(&current, expected_version, command)
            .await?;
        match self.decide_commit(id, Some(current.article), expected_version, &command, meta)? {
            Some(decided) => self.append(decided.request, &command).await,
            // A command that changes nothing answers with the current version.
            None => Ok(Appended {
                article_id: id,
                version: expected_version,
                global_position: position,
                duplicate: false,
            }),
        }
    }

    /// The article's durable state to decide a write on, once it holds
    /// `expected_version` if the log does.
    pub(super) async fn current_at_least(
        &self,
        id: ArticleId,
        expected_version: u64,
    ) -> Result<ArticleVersion, AppError> {
        let mut current = self.current_for_write(id).await?;
        if current
            .as_ref()
            .is_none_or(|c| c.article.version < expected_version)
        {
            // The read models take an answered write a moment after its
            // answer, and a replica may be behind the log that others
            // write: the caller has seen more than they hold.
            self.wait_for_position(0, None).await?;
            self.log.catch_up().await?;
            current = self.current_for_write(id).await?;
        }
        current.ok_or_else(|| AppError::not_found("article_id", "no such article"))
    }

    /// Checks `expected_version` against the state an edit is decided on,
    /// and gives a revert the version it returns to.
    pub(super) async fn checked_edit(
        &self,
        current: &ArticleVersion,
        expected_version: u64,
        command: Command,
    ) -> Result<Command, AppError> {
        if current.article.version != expected_version {
            return Err(AppError::VersionMismatch {
                expected: expected_version,
                current: current.article.version,
            });
        }
        Ok(match command {
            Command::RevertArticle {
                to_version,
                last_updated,
                ..
            } if (1..=current.article.version).contains(&to_version) => {
                // The version returned to is read from the read models:
                // they first take every write answered.
                self.wait_for_position(0, None).await?;
                let target = self.version_of(current, to_version).await?;
                Command::RevertArticle {
                    to_version,
                    target: Some(Box::new(target.article)),
                    last_updated,
                }
            }
            other => other,
        })
    }

    /// Where the write with `command_id` left its article, once durable;
    /// NOT_FOUND naming `command_id` when no such write is.
    pub async fn command_outcome(&self, command_id: CommandId) -> Result<Appended, AppError> {
        let entry = self.store.find_command(command_id).await?.ok_or_else(|| {
            AppError::not_found(
                "command_id",
                format!("no write with command id {command_id} is durable on this server"),
            )
        })?;
        Ok(Appended {
            article_id: entry.article_id,
            version: entry.version,
            global_position: entry.global_position,
            duplicate: true,
        })
    }

    /// The request's hash under the log's request key, and the unkeyed
    /// one that commits made before hashes were keyed kept.
    pub(super) fn request_hash(&self, meta: &WriteMeta) -> RequestHash {
        self.request_key.hash(&meta.request_digest)
    }

    /// The original outcome if this command id was already appended.
    pub(super) async fn retried(&self, meta: &WriteMeta) -> Result<Option<Appended>, AppError> {
        let Some(entry) = self.store.find_command(meta.command_id).await? else {
            return Ok(None);
        };
        if !self.request_hash(meta).matches(&entry.request_hash) {
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

    /// Decides a creation; the command is kept for the log line.
    pub(super) fn decide_create(
        &self,
        id: ArticleId,
        draft: ArticleDraft,
        meta: WriteMeta,
    ) -> Result<(Decided, Command), AppError> {
        let command = Command::CreateArticle { id, draft };
        let decided = self
            .decide_commit(id, None, 0, &command, meta)?
            .ok_or_else(|| AppError::DataLoss("a creation decided on nothing".into()))?;
        Ok((decided, command))
    }

    /// Decides a command on `state` (at `expected_version`; none for a
    /// creation); `None` when it changes nothing.
    pub(super) fn decide_commit(
        &self,
        id: ArticleId,
        state: Option<Article>,
        expected_version: u64,
        command: &Command,
        meta: WriteMeta,
    ) -> Result<Option<Decided>, AppError> {
        let ctx = Context {
            limits: &self.limits,
            today: Utc::now().date_naive(),
            actor: &meta.actor,
            reason: &meta.reason,
            reason_required: self.require_reason,
            origin: meta.origin.as_deref(),
        };
        let events = decide(state.as_ref(), command, &ctx)?;
        if events.is_empty() {
            return Ok(None);
        }
        let after = Article::fold(state, id, expected_version + 1, &events)
            .ok_or_else(|| AppError::DataLoss("the article's history does not fold".into()))?;
        let request_hash = self.request_hash(&meta);
        let reason = match command {
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
            request_hash,
            actor: meta.actor,
            reason,
            provenance: after.provenance.clone(),
            events,
            decided_after: None,
            rewrites: Vec::new(),
            presealed: None,
        };
        Ok(Some(Decided { request, after }))
    }

    async fn append(
        &self,
        request: AppendRequest,
        command: &Command,
    ) -> Result<Appended, AppError> {
        let appended = self.log.append(request).await?;
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
