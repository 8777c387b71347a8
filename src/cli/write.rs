//! Client writes for people: edit a section, add a source, re-date.
//!
//! Each reads the current version first (unless `--expected-version` is
//! given), so a concurrent edit in between is refused, not overwritten.
//! Each is safe to run again: it is sent with a command id (`--command-id`,
//! or a new one, printed either way); after UNAVAILABLE or a deadline it is
//! sent again with that id, a few times, with backoff, which the server
//! applies once; and a run given the id of a write that got through
//! reports that write's outcome instead of writing again.

use std::future::Future;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use tonic::{Code, Request, Status};
use uuid::Uuid;

use super::client::{articles, audit, connect, current, reference as reference_of, status_error};
use super::ServerArg;
use super::WriteArgs;
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::article_service_client::ArticleServiceClient;
use crate::grpc::pb::import_command::Command as Arm;
use crate::grpc::pb::{
    get_answer_request, inspect_answer_request, AddSourceRequest, EditSectionRequest,
    GetCommandOutcomeRequest, GetRevisionRequest, InspectAnswerRequest, ListCommitsRequest,
    RedactPayloadRequest, RedateArticleRequest, Source,
};

/// How many times a write is sent in all before the CLI gives up.
const ATTEMPTS: u32 = 5;

/// The wait before the first resend; it doubles each time, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// The waits between attempts: [`FIRST_BACKOFF`], doubling up to
/// [`MAX_BACKOFF`], for at most [`ATTEMPTS`] attempts in all.
struct Backoff {
    next: Duration,
    tries: u32,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
            tries: 1,
        }
    }

    /// Whether another attempt may be made.
    fn left(&self) -> bool {
        self.tries < ATTEMPTS
    }

    /// Waits before the next attempt.
    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        self.tries += 1;
    }
}

/// The deadline of one attempt: a write the server has not acknowledged by
/// then is sent again (with the same command id).
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(10);

/// What every write request carries besides its own fields.
pub(super) struct Head {
    pub(super) article_id: String,
    pub(super) expected_version: u64,
    pub(super) command_id: String,
    pub(super) reason: String,
}

/// Where a write left its article.
#[derive(Default)]
struct Outcome {
    article_id: String,
    version: u64,
    global_position: u64,
    /// A redaction's: the positions of the commits it rewrote.
    rewritten: Vec<u64>,
    /// A redaction's: what it could not hide.
    warnings: Vec<String>,
}

/// The outcome a write response gives (every one has these three fields).
macro_rules! outcome {
    ($response:expr) => {{
        let response = $response;
        Outcome {
            article_id: response.article_id,
            version: response.version,
            global_position: response.global_position,
            ..Outcome::default()
        }
    }};
}

/// A write that failed as it was sent, and whether it may be sent again.
type Unsent = (anyhow::Error, bool);

/// A status, as a write that failed: sent again only if it may or may not
/// have been applied.
fn unsent(s: Status) -> Unsent {
    let retry = worth_retrying(s.code());
    (status_error(s), retry)
}

/// No connection: the write was not sent, and may be.
fn unconnected(e: anyhow::Error) -> Unsent {
    (e, true)
}

/// A request with the deadline of one attempt.
fn attempt<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(ATTEMPT_DEADLINE);
    request
}

/// Whether a write that failed this way may or may not have been applied
/// (the server went away, the call was cut, the connection broke: tonic
/// says UNKNOWN or CANCELLED for a dropped connection): sent again with its
/// id, it is applied once. Every other code is a definite refusal.
fn worth_retrying(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Internal
    )
}

/// Runs one write to the article at `(article_id, expected_version)`: the
/// outcome of an earlier run with the same command id if there was one,
/// else the write itself (`send` connects and sends it), sent again on
/// UNAVAILABLE or a deadline; then reports where it left the article, with
/// its command id.
async fn apply<F, Fut>(
    server: &ServerArg,
    what: &str,
    (article_id, expected_version): (String, u64),
    write: WriteArgs,
    send: F,
) -> anyhow::Result<()>
where
    F: Fn(Head) -> Fut,
    Fut: Future<Output = Result<Outcome, Unsent>>,
{
    let command_id = match &write.command_id {
        Some(id) => Uuid::parse_str(id)
            .map_err(|e| anyhow::anyhow!("--command-id {id:?} is not a UUID: {e}"))?
            .to_string(),
        None => Uuid::now_v7().to_string(),
    };
    let already = |outcome: Outcome| {
        report(
            &format!("{what} already (an earlier run)"),
            &outcome,
            &command_id,
            write.json,
        )
    };
    // A run given an id: the write may have got through before.
    if write.command_id.is_some() {
        if let Some(outcome) = earlier(server, &command_id, &article_id).await? {
            return already(outcome);
        }
    }
    let mut backoff = Backoff::new();
    loop {
        let head = Head {
            article_id: article_id.clone(),
            expected_version,
            command_id: command_id.clone(),
            reason: write.reason.clone(),
        };
        match send(head).await {
            Ok(outcome) => return report(what, &outcome, &command_id, write.json),
            Err((e, true)) if backoff.left() => {
                noteln!(
                    "{}; sending it again in {} ms with the same command id {command_id} (attempt {} of {ATTEMPTS})",
                    super::out::sentence(&e),
                    backoff.next.as_millis(),
                    backoff.tries + 1
                );
                backoff.wait().await;
            }
            Err((e, true)) => {
                return Err(e.context(format!(
                    "gave up after {ATTEMPTS} attempts; the write may or may not have been applied: run the same command with --command-id {command_id} to find out, or to apply it once"
                )))
            }
            // The id was taken meanwhile (an earlier run's write landed
            // after the look-up, and this one was decided on a newer
            // version): that write is this one's outcome.
            Err((e, false)) if e.to_string().contains("was already used for a different request") => {
                return match earlier(server, &command_id, &article_id).await? {
                    Some(outcome) => already(outcome),
                    None => Err(e),
                };
            }
            // Refused: not applied, so the id has nothing more to tell.
            Err((e, false)) => return Err(e),
        }
    }
}

/// The outcome of the write with `command_id`, if one is durable; a write
/// with that id to another article is an error (the id is not this
/// write's). Asked again, with backoff, while the server is unavailable.
async fn earlier(
    server: &ServerArg,
    command_id: &str,
    article_id: &str,
) -> anyhow::Result<Option<Outcome>> {
    let mut backoff = Backoff::new();
    loop {
        let looked_up = match articles(server).await {
            Ok(mut client) => client
                .get_command_outcome(attempt(GetCommandOutcomeRequest {
                    command_id: command_id.to_owned(),
                    min_position: 0,
                }))
                .await
                .map_err(|s| (Some(s.code()), status_error(s))),
            // No connection: as UNAVAILABLE.
            Err(e) => Err((None, e)),
        };
        match looked_up {
            Ok(done) => {
                let outcome = outcome!(done.into_inner());
                if outcome.article_id != article_id {
                    anyhow::bail!(
                        "command id {command_id} is the id of a write to another article ({}); give this write an id of its own",
                        outcome.article_id
                    );
                }
                return Ok(Some(outcome));
            }
            Err((Some(Code::NotFound), _)) => return Ok(None),
            Err((code, e)) if code.is_none_or(worth_retrying) && backoff.left() => {
                noteln!(
                    "{}; asking again in {} ms whether command {command_id} was applied",
                    super::out::sentence(&e),
                    backoff.next.as_millis()
                );
                backoff.wait().await;
            }
            Err((_, e)) => return Err(e),
        }
    }
}

/// The article id and the version to edit on, of an article readers see.
async fn target(
    server: &ServerArg,
    reference: &str,
    write: &WriteArgs,
) -> anyhow::Result<(String, u64)> {
    let answer = current(server, reference).await?;
    Ok((answer.id, write.expected_version.unwrap_or(answer.version)))
}

/// Where the write left the article, and its command id: a sentence, or
/// with `--json` one object with the response's fields and `commandId`.
fn report(what: &str, outcome: &Outcome, command_id: &str, json: bool) -> anyhow::Result<()> {
    let Outcome {
        article_id,
        version,
        global_position,
        rewritten,
        warnings,
    } = outcome;
    if json {
        let mut out = serde_json::json!({
            "articleId": article_id,
            "version": version.to_string(),
            "globalPosition": global_position.to_string(),
            "commandId": command_id,
        });
        if !rewritten.is_empty() || !warnings.is_empty() {
            out["rewrittenPositions"] = rewritten.iter().map(u64::to_string).collect();
            out["warnings"] = warnings.clone().into();
        }
        return outln!("{out}");
    }
    outln!(
        "{what}: article {article_id} is at version {version} (position {global_position}); command id {command_id}"
    )?;
    if !rewritten.is_empty() {
        let positions: Vec<String> = rewritten.iter().map(u64::to_string).collect();
        outln!(
            "rewritten in place: the commits at positions {}",
            positions.join(", ")
        )?;
    }
    for warning in warnings {
        noteln!("warning: {warning}");
    }
    Ok(())
}

/// What a write's command is called, and the request it sends: built
/// from the head (article, version, command id, reason) each attempt.
pub(super) type MakeWrite<'a> = dyn Fn(Head) -> Arm + Send + Sync + 'a;

/// Runs the write `make` builds on the article `reference` names (at
/// `--expected-version`, or the version readers see): sent with its
/// command id, again after UNAVAILABLE, reported as `what`.
pub(super) async fn write_to(
    server: &ServerArg,
    what: &str,
    reference: &str,
    write: WriteArgs,
    make: &MakeWrite<'_>,
) -> anyhow::Result<()> {
    let at = target(server, reference, &write).await?;
    write_at(server, what, at, write, make).await
}

/// As [`write_to`], at an article id and version already known.
pub(super) async fn write_at(
    server: &ServerArg,
    what: &str,
    at: (String, u64),
    write: WriteArgs,
    make: &MakeWrite<'_>,
) -> anyhow::Result<()> {
    apply(server, what, at, write, |head| {
        let arm = make(head);
        async move {
            let mut client = articles(server).await.map_err(unconnected)?;
            send_arm(&mut client, arm).await.map_err(unsent)
        }
    })
    .await
}

/// Sends one ArticleService write (as the import's command names it).
async fn send_arm(
    client: &mut ArticleServiceClient<super::client::Authed>,
    arm: Arm,
) -> Result<Outcome, Status> {
    Ok(match arm {
        Arm::CreateArticle(m) => outcome!(client.create_article(attempt(m)).await?.into_inner()),
        Arm::EditQuestion(m) => outcome!(client.edit_question(attempt(m)).await?.into_inner()),
        Arm::ChangeSlug(m) => outcome!(client.change_slug(attempt(m)).await?.into_inner()),
        Arm::EditQuickAnswer(m) => {
            outcome!(client.edit_quick_answer(attempt(m)).await?.into_inner())
        }
        Arm::ReplaceKeyFacts(m) => {
            outcome!(client.replace_key_facts(attempt(m)).await?.into_inner())
        }
        Arm::AddSection(m) => outcome!(client.add_section(attempt(m)).await?.into_inner()),
        Arm::EditSection(m) => outcome!(client.edit_section(attempt(m)).await?.into_inner()),
        Arm::RemoveSection(m) => outcome!(client.remove_section(attempt(m)).await?.into_inner()),
        Arm::MoveSection(m) => outcome!(client.move_section(attempt(m)).await?.into_inner()),
        Arm::AddSource(m) => outcome!(client.add_source(attempt(m)).await?.into_inner()),
        Arm::EditSource(m) => outcome!(client.edit_source(attempt(m)).await?.into_inner()),
        Arm::RemoveSource(m) => outcome!(client.remove_source(attempt(m)).await?.into_inner()),
        Arm::RedateArticle(m) => outcome!(client.redate_article(attempt(m)).await?.into_inner()),
        Arm::ReviewArticle(m) => outcome!(client.review_article(attempt(m)).await?.into_inner()),
        Arm::RevertArticle(m) => outcome!(client.revert_article(attempt(m)).await?.into_inner()),
        Arm::RetractArticle(m) => {
            outcome!(client.retract_article(attempt(m)).await?.into_inner())
        }
        Arm::RestoreArticle(m) => {
            outcome!(client.restore_article(attempt(m)).await?.into_inner())
        }
        Arm::ReviseArticle(m) => outcome!(client.revise_article(attempt(m)).await?.into_inner()),
        Arm::ApplyChanges(m) => outcome!(client.apply_changes(attempt(m)).await?.into_inner()),
        Arm::AddSlugAlias(_) => {
            return Err(Status::invalid_argument(
                "an alias is an import's command: no RPC makes one",
            ))
        }
    })
}

pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(super) async fn edit_section(
    server: &ServerArg,
    reference: &str,
    section_id: String,
    heading: Option<String>,
    body: Option<String>,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let body = body.map(|b| b.trim_end().to_owned());
    write_to(server, "edited", reference, write, &|head| {
        Arm::EditSection(EditSectionRequest {
            article_id: head.article_id,
            expected_version: head.expected_version,
            command_id: head.command_id,
            reason: head.reason,
            section_id: section_id.clone(),
            heading: heading.clone(),
            body: body.clone(),
        })
    })
    .await
}

pub(super) async fn add_source(
    server: &ServerArg,
    reference: &str,
    source: Source,
    write: WriteArgs,
) -> anyhow::Result<()> {
    write_to(server, "source added", reference, write, &|head| {
        Arm::AddSource(AddSourceRequest {
            article_id: head.article_id,
            expected_version: head.expected_version,
            command_id: head.command_id,
            reason: head.reason,
            source: Some(source.clone()),
        })
    })
    .await
}

pub(super) async fn redate(
    server: &ServerArg,
    reference: &str,
    last_updated: String,
    write: WriteArgs,
) -> anyhow::Result<()> {
    write_to(server, "re-dated", reference, write, &|head| {
        Arm::RedateArticle(RedateArticleRequest {
            article_id: head.article_id,
            expected_version: head.expected_version,
            command_id: head.command_id,
            reason: head.reason,
            last_updated: last_updated.clone(),
        })
    })
    .await
}

/// How a redaction names the commit that holds its event.
pub(super) enum Commit {
    Position(u64),
    /// The article's version: its position is looked up.
    Version(u64),
}

/// What of a commit `redact` removes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// The content of the event with this index.
    Event(u32),
    /// The commit's origin claims (its OriginClaimed event).
    OriginClaims,
}

/// The index of the OriginClaimed event of `article`'s commit at
/// `position`.
async fn origin_claims_index(
    server: &ServerArg,
    article: &str,
    position: u64,
) -> anyhow::Result<u32> {
    let page = audit(server)
        .await?
        .list_commits(ListCommitsRequest {
            article_id: article.to_owned(),
            from_position: position,
            page_size: 1,
            ..ListCommitsRequest::default()
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let commit = page
        .commits
        .into_iter()
        .find(|c| c.revision.as_ref().map(|r| r.global_position) == Some(position))
        .ok_or_else(|| {
            anyhow::anyhow!("article {article} has no commit at log position {position}")
        })?;
    let index = commit
        .events
        .iter()
        .position(|e| e.kind == "OriginClaimed")
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the commit at log position {position} holds no origin claims: it was not imported with them"
            )
        })?;
    Ok(u32::try_from(index)?)
}

/// Removes the content of one event of an article's history
/// (`AdminService.RedactPayload`; docs/AUDIT.md, "Redaction"). The article
/// is named as an auditor sees it, retracted or not.
pub(super) async fn redact(
    server: &ServerArg,
    reference: &str,
    commit: Commit,
    target: Target,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let inspected = audit(server)
        .await?
        .inspect_answer(InspectAnswerRequest {
            r#ref: Some(match reference_of(reference) {
                get_answer_request::Ref::Id(id) => inspect_answer_request::Ref::Id(id),
                get_answer_request::Ref::Slug(slug) => inspect_answer_request::Ref::Slug(slug),
            }),
            ..InspectAnswerRequest::default()
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let answer = inspected
        .answer
        .ok_or_else(|| anyhow::anyhow!("the server answered without the article"))?;
    let position = match commit {
        Commit::Position(position) => position,
        Commit::Version(version) => audit(server)
            .await?
            .get_revision(GetRevisionRequest {
                article_id: answer.id.clone(),
                version,
                min_position: 0,
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .revision
            .map(|r| r.global_position)
            .ok_or_else(|| anyhow::anyhow!("the server answered without the revision"))?,
    };
    let event_index = match target {
        Target::Event(index) => index,
        Target::OriginClaims => origin_claims_index(server, &answer.id, position).await?,
    };
    let at = (answer.id, write.expected_version.unwrap_or(answer.version));
    apply(server, "redacted", at, write, |head| {
        let request = RedactPayloadRequest {
            article_id: head.article_id,
            expected_version: head.expected_version,
            command_id: head.command_id,
            reason: head.reason,
            position,
            event_index,
        };
        async move {
            let mut client = AdminServiceClient::new(connect(server).await.map_err(unconnected)?);
            let r = client
                .redact_payload(attempt(request))
                .await
                .map_err(unsent)?
                .into_inner();
            Ok(Outcome {
                article_id: r.article_id,
                version: r.version,
                global_position: r.global_position,
                rewritten: r.rewritten_positions,
                warnings: r.warnings,
            })
        }
    })
    .await
}
