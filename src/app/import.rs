//! Bulk import: writes decided one after another, each on the state that
//! the import's earlier writes leave, and queued to the writer without
//! waiting for each to be durable, so that group commit takes them in
//! large batches.
//!
//! Outcomes come back in the order the writes were given. A write decided
//! on an earlier write of the import that then fails is refused in turn:
//! it names the earlier write as its basis, and the writer appends it only
//! onto that write (not onto another writer's commit that took the same
//! version meanwhile). So the first failure is always the one reported
//! first, and no commit is decided on a state the log never had.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use super::write::{Decided, Write, WriteMeta};
use super::{App, AppError, ArticleRef};
use crate::domain::{Article, ArticleId, ArticleVersion, Command, CommandId};
use crate::log::{AppendError, Appended, PendingAppend};

/// The most writes of one import with the writer at once: enough for
/// several full batches, few enough to bound what a stalled import holds.
const WINDOW: usize = 2048;

/// One bulk import in progress.
pub(crate) struct Import {
    app: Arc<App>,
    /// Articles with writes of this import still queued: their state after
    /// those writes, so that the next write is decided on it.
    touched: HashMap<ArticleId, Touched>,
    /// The slugs of touched articles, so that a later write may name an
    /// article created earlier in the import before it is durable.
    slugs: HashMap<String, ArticleId>,
    queue: VecDeque<Queued>,
    /// How many of `queue` are still with the writer.
    in_flight: usize,
}

struct Touched {
    article: Article,
    /// The command id of the import's last write queued to the article:
    /// the basis of the next one.
    last_command: CommandId,
    /// Writes of this import to the article still in `queue`.
    queued: usize,
    /// The position of the article's last write taken from `queue`.
    position: u64,
    slugs: Vec<String>,
}

enum Queued {
    /// Answered at once: a retry of a command already durable, or a write
    /// that changes nothing on an article the import has not touched.
    Done(Appended),
    /// With the writer.
    Waiting {
        id: ArticleId,
        answer: PendingAppend,
        meta: WriteMeta,
    },
    /// Answered by the writer, not yet taken.
    Answered {
        id: ArticleId,
        result: Result<Appended, AppendError>,
        meta: WriteMeta,
    },
    /// Changes nothing, after earlier writes of the import to the same
    /// article: it stands where the last of them stands.
    Unchanged { id: ArticleId, version: u64 },
}

impl App {
    /// Starts a bulk import.
    pub(crate) fn import(self: &Arc<Self>) -> Import {
        Import {
            app: Arc::clone(self),
            touched: HashMap::new(),
            slugs: HashMap::new(),
            queue: VecDeque::new(),
            in_flight: 0,
        }
    }
}

impl Import {
    /// Decides `write` and queues it. A refusal is returned at once; the
    /// outcome of a queued write comes from [`Import::next`], in order.
    pub(crate) async fn submit(&mut self, write: Write) -> Result<(), AppError> {
        while self.in_flight >= WINDOW {
            self.settle_oldest().await;
        }
        let meta = write.meta().clone();
        if let Some(done) = self.app.retried(&meta).await? {
            self.queue.push_back(Queued::Done(done));
            return Ok(());
        }
        let decided = match write {
            Write::Create { draft, meta } => {
                let id = ArticleId::from_uuid(Uuid::now_v7());
                self.app
                    .decide_create(id, draft, meta)
                    .map(|(d, _)| Some(d))
            }
            Write::Edit {
                article,
                expected_version,
                command,
                meta,
            } => {
                self.decide_edit(&article, expected_version, command, meta)
                    .await
            }
        };
        let decided = match decided {
            Ok(decided) => decided,
            Err(e) => return self.app.unless_retried(Err(e), &meta).await.map(drop),
        };
        let Some(Decided { mut request, after }) = decided else {
            return Ok(());
        };
        let id = request.article_id;
        let command_id = request.command_id;
        // Decided on the state the import's last queued write to this
        // article leaves: appended only onto that write.
        request.decided_after = self.touched.get(&id).map(|t| t.last_command);
        let answer = self.app.log.enqueue(request).await?;
        self.in_flight += 1;
        self.queue.push_back(Queued::Waiting { id, answer, meta });
        let touched = self.touched.entry(id).or_insert_with(|| Touched {
            article: after.clone(),
            last_command: command_id,
            queued: 0,
            position: 0,
            slugs: Vec::new(),
        });
        touched.last_command = command_id;
        if !touched.slugs.contains(&after.slug) {
            touched.slugs.push(after.slug.clone());
            self.slugs.insert(after.slug.clone(), id);
        }
        touched.article = after;
        touched.queued += 1;
        Ok(())
    }

    /// Whether no outcome is left to take.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Resolves once the oldest outcome can be taken. Cancel-safe: an
    /// answer that arrives is kept for [`Import::next`].
    pub(crate) async fn ready(&mut self) {
        if let Some(Queued::Waiting { answer, .. }) = self.queue.front_mut() {
            let result = answer.await;
            self.answered(0, result);
        }
    }

    /// The oldest outcome, waiting for it if need be.
    pub(crate) async fn next(&mut self) -> Option<Result<Appended, AppError>> {
        self.ready().await;
        Some(match self.queue.pop_front()? {
            Queued::Done(done) => Ok(done),
            Queued::Unchanged { id, version } => {
                let global_position = self.touched.get(&id).map_or(0, |t| t.position);
                self.release(id, None);
                Ok(Appended {
                    article_id: id,
                    version,
                    global_position,
                    duplicate: false,
                })
            }
            Queued::Answered { id, result, meta } => {
                self.release(id, result.as_ref().ok().map(|a| a.global_position));
                match result {
                    Ok(done) => Ok(done),
                    Err(e) => self.app.unless_retried(Err(e.into()), &meta).await,
                }
            }
            Queued::Waiting { .. } => unreachable_waiting(),
        })
    }

    /// Waits for the oldest write still with the writer.
    async fn settle_oldest(&mut self) {
        let Some(at) = self
            .queue
            .iter()
            .position(|q| matches!(q, Queued::Waiting { .. }))
        else {
            return;
        };
        if let Some(Queued::Waiting { answer, .. }) = self.queue.get_mut(at) {
            let result = answer.await;
            self.answered(at, result);
        }
    }

    /// Records the writer's answer to the write at `at`.
    fn answered(&mut self, at: usize, result: Result<Appended, AppendError>) {
        match self.queue.remove(at) {
            Some(Queued::Waiting { id, meta, .. }) => {
                self.queue.insert(at, Queued::Answered { id, result, meta });
                self.in_flight -= 1;
            }
            Some(other) => self.queue.insert(at, other),
            None => {}
        }
    }

    /// One write of `id` left the queue; once none is left, the article is
    /// read from the store again.
    fn release(&mut self, id: ArticleId, position: Option<u64>) {
        let Some(touched) = self.touched.get_mut(&id) else {
            return;
        };
        if let Some(position) = position {
            touched.position = position;
        }
        touched.queued = touched.queued.saturating_sub(1);
        if touched.queued == 0 {
            if let Some(touched) = self.touched.remove(&id) {
                for slug in touched.slugs {
                    self.slugs.remove(&slug);
                }
            }
        }
    }

    /// Decides an edit on the article as the import's queued writes leave
    /// it, or as it is durable if the import has not touched it.
    async fn decide_edit(
        &mut self,
        article: &ArticleRef,
        expected_version: u64,
        command: Command,
        meta: WriteMeta,
    ) -> Result<Option<Decided>, AppError> {
        let id = match article {
            ArticleRef::Slug(slug) => match self.slugs.get(slug) {
                Some(id) => *id,
                None => self.app.edited_article(article).await?,
            },
            ArticleRef::Id(id) => *id,
        };
        let current = match self.touched.get(&id) {
            Some(touched) => ArticleVersion {
                article: touched.article.clone(),
                // Not known until the writer answers; not read below
                // unless the revert target is this very version, which
                // comes from `article`.
                global_position: 0,
                recorded_at: chrono::DateTime::UNIX_EPOCH,
            },
            None => self
                .app
                .current_durable(id)
                .await?
                .map(Arc::unwrap_or_clone)
                .ok_or_else(|| AppError::not_found("article_id", "no such article"))?,
        };
        if matches!(command, Command::RevertArticle { .. }) && self.touched.contains_key(&id) {
            // The version a revert returns to is read from the store: let
            // the import's queued writes become durable first.
            while self.in_flight > 0 {
                self.settle_oldest().await;
            }
        }
        let command = self
            .app
            .checked_edit(&current, expected_version, command)
            .await?;
        let position = current.global_position;
        let decided =
            self.app
                .decide_commit(id, Some(current.article), expected_version, &command, meta)?;
        if decided.is_none() {
            // Changes nothing: it stands where the article stands.
            self.queue.push_back(match self.touched.get_mut(&id) {
                Some(touched) => {
                    touched.queued += 1;
                    Queued::Unchanged {
                        id,
                        version: expected_version,
                    }
                }
                None => Queued::Done(Appended {
                    article_id: id,
                    version: expected_version,
                    global_position: position,
                    duplicate: false,
                }),
            });
        }
        Ok(decided)
    }
}

/// `next` waits for the front first, so it never takes a write still with
/// the writer; should it, the write is reported as unanswered.
fn unreachable_waiting() -> Result<Appended, AppError> {
    Err(AppError::Unavailable(
        "an import outcome was taken before the writer answered".into(),
    ))
}
