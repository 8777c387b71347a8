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

/// Where and as whom a client command connects: its flags and
/// environment, then the context's (`context.rs`), then the default.
struct Resolved {
    url: String,
    token: Option<String>,
    ca: Option<std::path::PathBuf>,
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
}

fn resolve(server: &ServerArg) -> anyhow::Result<Resolved> {
    // A server named on the command line or in the environment is not the
    // context's: its token file is not sent there unless asked.
    let saved = match (&server.server, &server.context) {
        (Some(_), None) => None,
        (_, named) => super::context::chosen(named.as_deref())?.map(|(_, saved)| saved),
    };
    let saved = saved.unwrap_or_default();
    let read_token = |file: &std::path::Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("token_file: cannot read {}", file.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.is_empty() {
            anyhow::bail!("token_file: {} holds no token", file.display());
        }
        Ok(token)
    };
    let token = match (&server.token, &server.token_file, &saved.token_file) {
        (Some(token), _, _) => Some(token.clone()),
        (None, Some(file), _) | (None, None, Some(file)) => Some(read_token(file)?),
        (None, None, None) => None,
    };
    let (cert, key) = match (&server.cert, &server.key) {
        (None, None) => (saved.cert, saved.key),
        given => (given.0.clone(), given.1.clone()),
    };
    Ok(Resolved {
        url: server
            .server
            .clone()
            .or((!saved.server.is_empty()).then_some(saved.server))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        token,
        ca: server.ca.clone().or(saved.ca),
        cert,
        key,
    })
}

pub(super) async fn connect(server: &ServerArg) -> anyhow::Result<Authed> {
    let server = resolve(server)?;
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
        endpoint = endpoint
            .tls_config(config)
            .context("the TLS configuration is not usable")?;
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
