//! Connecting to the server, and the small helpers every client command
//! shares.

use std::future::Future;

use anyhow::Context as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::{InterceptedService, Interceptor};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;
use uuid::Uuid;

use super::ServerArg;
use crate::grpc::pb::answer_service_client::AnswerServiceClient;
use crate::grpc::pb::article_service_client::ArticleServiceClient;
use crate::grpc::pb::audit_service_client::AuditServiceClient;
use crate::grpc::pb::suggestion_service_client::SuggestionServiceClient;
use crate::grpc::pb::{get_answer_request, Answer, GetAnswerRequest};

/// Answers can be large (an article is up to 1 MiB, a batch many of them).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Runs a client command on a small runtime of its own.
pub(super) fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// A connection that presents the bearer token, if one was given.
pub(super) type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub(super) struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The server a client command talks to when nothing names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Where and as whom a client command connects (`resolve`).
#[derive(Clone, Debug)]
pub(super) struct Resolved {
    url: String,
    token: Option<String>,
    ca: Option<std::path::PathBuf>,
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
}

/// A variable of the environment, if set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The first line of a token file.
fn read_token(file: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("token_file: cannot read {}", file.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        anyhow::bail!("token_file: {} holds no token", file.display());
    }
    Ok(token)
}

/// Where and as whom a client command connects. Flags come first, then a
/// context, then the environment, then the default; a context's token
/// goes only to its own server, or to a --server typed beside a typed
/// --context; a token from the environment never goes to a context's
/// server.
///
/// - The context: `--context`; else, when no server is named (by
///   `--server` or `ANSWERLOG_SERVER`), `ANSWERLOG_CONTEXT` or the current
///   one.
/// - The server: `--server`; else the context's; else `ANSWERLOG_SERVER`;
///   else the default.
/// - The token: `--token` or `--token-file`; else, with a context, its
///   token file (or none); else `ANSWERLOG_TOKEN` or `ANSWERLOG_TOKEN_FILE`.
fn resolve(server: &ServerArg) -> anyhow::Result<Resolved> {
    let named_server = server.server.is_some() || env("ANSWERLOG_SERVER").is_some();
    let context = match &server.context {
        Some(named) => super::context::chosen(Some(named))?,
        None if named_server => None,
        None => super::context::chosen(env("ANSWERLOG_CONTEXT").as_deref())?,
    };
    let saved = context.as_ref().map(|(_, saved)| saved);
    let url = server
        .server
        .clone()
        .or_else(|| saved.map(|s| s.server.clone()))
        .or_else(|| env("ANSWERLOG_SERVER"))
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let token = match (&server.token, &server.token_file, saved) {
        (Some(token), _, _) => Some(token.clone()),
        (None, Some(file), _) => Some(read_token(file)?),
        (None, None, Some(saved)) => saved.token_file.as_deref().map(read_token).transpose()?,
        (None, None, None) => match (env("ANSWERLOG_TOKEN"), env("ANSWERLOG_TOKEN_FILE")) {
            (Some(token), _) => Some(token),
            (None, Some(file)) => Some(read_token(std::path::Path::new(&file))?),
            (None, None) => None,
        },
    };
    let (cert, key) = match (&server.cert, &server.key, saved) {
        (None, None, Some(saved)) => (saved.cert.clone(), saved.key.clone()),
        (cert, key, _) => (cert.clone(), key.clone()),
    };
    Ok(Resolved {
        url,
        token,
        ca: server
            .ca
            .clone()
            .or_else(|| saved.and_then(|s| s.ca.clone())),
        cert,
        key,
    })
}

/// The connection a command resolved first: each attempt reuses it.
fn resolved(server: &ServerArg) -> anyhow::Result<Resolved> {
    if let Some(resolved) = server.resolved.get() {
        return Ok(resolved.clone());
    }
    let resolved = resolve(server)?;
    let _ = server.resolved.set(resolved.clone());
    Ok(resolved)
}

pub(super) async fn connect(server: &ServerArg) -> anyhow::Result<Authed> {
    let server = resolved(server)?;
    let mut endpoint = Endpoint::from_shared(server.url.clone())
        .with_context(|| format!("{:?} is not a server URL", server.url))?;
    let tls = server.ca.is_some() || server.cert.is_some() || server.url.starts_with("https:");
    if tls {
        if server.url.starts_with("http:") {
            anyhow::bail!("TLS options were given: use an https:// server URL");
        }
        // No --ca: the system's trusted CAs.
        let config = crate::tls::client_config(
            server.ca.as_deref(),
            server.cert.as_deref(),
            server.key.as_deref(),
        )?;
        endpoint = endpoint.tls_config(config).with_context(|| {
            match server.ca {
                None => "the TLS configuration is not usable: no --ca was given, and the system's trusted CAs cannot be read",
                Some(_) => "the TLS configuration is not usable",
            }
        })?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| {
            format!(
                "cannot connect to {} (is the server running there? --server, ANSWERLOG_SERVER or a context names it){}",
                server.url,
                if tls && server.ca.is_none() {
                    "; its certificate was checked against the system's trusted CAs, as no --ca was given"
                } else {
                    ""
                }
            )
        })?;
    let bearer = match &server.token {
        Some(token) => Some(
            format!("Bearer {token}")
                .parse()
                .context("the token is not a valid header value")?,
        ),
        None => None,
    };
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

pub(super) async fn answers(server: &ServerArg) -> anyhow::Result<AnswerServiceClient<Authed>> {
    Ok(AnswerServiceClient::new(connect(server).await?)
        .max_decoding_message_size(MAX_RESPONSE_BYTES))
}

pub(super) async fn articles(server: &ServerArg) -> anyhow::Result<ArticleServiceClient<Authed>> {
    Ok(ArticleServiceClient::new(connect(server).await?)
        .max_decoding_message_size(MAX_RESPONSE_BYTES))
}

pub(super) async fn audit(server: &ServerArg) -> anyhow::Result<AuditServiceClient<Authed>> {
    Ok(AuditServiceClient::new(connect(server).await?)
        .max_decoding_message_size(MAX_RESPONSE_BYTES))
}

pub(super) async fn suggestions(
    server: &ServerArg,
) -> anyhow::Result<SuggestionServiceClient<Authed>> {
    Ok(SuggestionServiceClient::new(connect(server).await?)
        .max_decoding_message_size(MAX_RESPONSE_BYTES))
}

/// The id/slug oneof for a reference: an id if it is shaped like a UUID.
pub(super) fn reference(text: &str) -> get_answer_request::Ref {
    if Uuid::parse_str(text).is_ok() {
        get_answer_request::Ref::Id(text.to_owned())
    } else {
        get_answer_request::Ref::Slug(text.to_owned())
    }
}

/// The current answer a reference names.
pub(super) async fn current(server: &ServerArg, text: &str) -> anyhow::Result<Answer> {
    let response = answers(server)
        .await?
        .get_answer(GetAnswerRequest {
            r#ref: Some(reference(text)),
            ..GetAnswerRequest::default()
        })
        .await
        .map_err(status_error)?;
    response
        .into_inner()
        .answer
        .context("the server sent no answer")
}

/// The current version of the article a reference names, as an auditor
/// reads it: a retracted article too.
pub(super) async fn inspect(server: &ServerArg, text: &str) -> anyhow::Result<Answer> {
    use crate::grpc::pb::{inspect_answer_request, InspectAnswerRequest};
    let r#ref = match reference(text) {
        get_answer_request::Ref::Id(id) => inspect_answer_request::Ref::Id(id),
        get_answer_request::Ref::Slug(slug) => inspect_answer_request::Ref::Slug(slug),
    };
    let response = audit(server)
        .await?
        .inspect_answer(InspectAnswerRequest {
            r#ref: Some(r#ref),
            ..InspectAnswerRequest::default()
        })
        .await
        .map_err(status_error)?;
    response
        .into_inner()
        .answer
        .context("the server sent no answer")
}

/// A status as one sentence a person can read: what kind of refusal, and
/// the server's message (which names the field).
pub(super) fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", plain(status.code()), status.message())
}

fn plain(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "the call succeeded",
        Cancelled => "the call was cancelled",
        Unknown => "the server failed in an unknown way",
        InvalidArgument => "the request is invalid",
        DeadlineExceeded => "the call ran out of time",
        NotFound => "not found",
        AlreadyExists => "already exists",
        PermissionDenied => "permission denied",
        ResourceExhausted => "the server is at a limit",
        FailedPrecondition => "the article's state forbids it",
        Aborted => "a concurrent change came first (retry on the new version)",
        OutOfRange => "out of range",
        Unimplemented => "the server does not implement it",
        Internal => "the server failed",
        Unavailable => "the server is unavailable (retry later)",
        DataLoss => "stored data is damaged",
        Unauthenticated => "not authenticated (give --token)",
    }
}
