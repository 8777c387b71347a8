//! The HTTP listener (`serve --http-listen ADDR`, off unless configured):
//! the JSON API under `/api/v1/`. Its calls go to the gRPC services in the
//! same process through the gRPC listener's own stack (`gateway`), so the
//! two edges share every rule, role, limit and status; this edge knows
//! only JSON, paths and HTTP statuses (`status`). Its OpenAPI document is
//! generated from the API's descriptors (`openapi`).

mod gateway;
mod openapi;
mod routes;
mod status;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tokio::net::TcpListener;

pub(crate) use gateway::{grpc, Grpc};

/// The JSON content type of every answer.
const JSON: &str = "application/json";

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the listener serves with.
#[derive(Clone)]
pub(crate) struct Web {
    grpc: Grpc,
    /// The largest request body taken, in bytes: twice the gRPC request
    /// limit, since JSON spells bytes in base64 and escapes text; the
    /// gRPC limit still holds for the message the body makes.
    max_body: usize,
    /// The OpenAPI document, made once.
    openapi: Bytes,
    /// A plain (loopback) listener answers only requests addressed to a
    /// loopback name, so that a web page cannot reach it by rebinding a
    /// name of its own to 127.0.0.1.
    loopback_hosts_only: bool,
}

impl Web {
    pub(crate) fn new(grpc: Grpc, max_request_bytes: usize, loopback_hosts_only: bool) -> Self {
        let openapi = openapi::document(crate::grpc::descriptors()).to_string();
        Self {
            grpc,
            max_body: max_request_bytes.saturating_mul(2),
            openapi: Bytes::from(openapi),
            loopback_hosts_only,
        }
    }
}

/// Whether a `Host` header names this machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Serves the JSON API on `listener` (over TLS with `tls`) until
/// `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    web: Web,
    shutdown: impl Future<Output = ()>,
) {
    let web = Arc::new(web);
    let handler = move |request: Request<Incoming>| {
        let web = Arc::clone(&web);
        async move { answer(&web, request).await }
    };
    crate::http1::serve(listener, tls, "http", handler, shutdown).await;
}

async fn answer(web: &Web, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let pool = crate::grpc::descriptors();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    if web.loopback_hosts_only {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or(""));
        if host.is_some_and(|h| !loopback_host(h)) {
            return refusal(
                StatusCode::MISDIRECTED_REQUEST,
                "this listener answers requests to localhost only",
            );
        }
    }
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if path == "/api/v1/openapi.json" {
        return match reading {
            true => json_response(StatusCode::OK, web.openapi.clone()),
            false => not_allowed("GET, HEAD"),
        };
    }
    if let Some((alias, values)) = routes::alias(&path) {
        if !reading {
            return not_allowed("GET, HEAD");
        }
        let Some(method) = routes::method(pool, alias.method) else {
            return refusal(StatusCode::NOT_FOUND, "no such method");
        };
        let json = match routes::request_json(&method.input(), &values, query.as_deref()) {
            Ok(json) => json,
            Err((field, why)) => return invalid(&field, &why),
        };
        let message = match DynamicMessage::deserialize(method.input(), json) {
            Ok(message) => message,
            Err(e) => return invalid("query", &e.to_string()),
        };
        return call(web, &method, &message, &request).await;
    }
    if let Some(name) = path.strip_prefix("/api/v1/") {
        let Some(method) = routes::method(pool, name) else {
            return refusal(
                StatusCode::NOT_FOUND,
                &format!("no unary method {name} (streams are served over gRPC only); see /api/v1/openapi.json"),
            );
        };
        if *request.method() != Method::POST {
            return not_allowed("POST");
        }
        // JSON only: a web page can send a form or plain text to any
        // address without asking first, but not JSON.
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
        if !json {
            return refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the request as Content-Type: application/json",
            );
        }
        let (parts, body) = request.into_parts();
        let collected =
            tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, web.max_body).collect()).await;
        let bytes = match collected {
            Err(_) => {
                return refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the body did not arrive within {} s",
                        BODY_TIMEOUT.as_secs()
                    ),
                )
            }
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the body is over the limit of {} bytes", web.max_body),
                )
            }
            Ok(Err(e)) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    &format!("the body did not arrive: {e}"),
                )
            }
        };
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let message = match DynamicMessage::deserialize(method.input(), &mut deserializer)
            .and_then(|m| deserializer.end().map(|()| m))
        {
            Ok(message) => message,
            Err(e) => {
                return invalid(
                    "body",
                    &format!("is not a {} in JSON: {e}", method.input().name()),
                )
            }
        };
        let request = Request::from_parts(parts, ());
        return call(web, &method, &message, &request).await;
    }
    refusal(
        StatusCode::NOT_FOUND,
        "not found; the JSON API is under /api/v1/",
    )
}

async fn call<B>(
    web: &Web,
    method: &MethodDescriptor,
    message: &DynamicMessage,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    let authorization = request.headers().get(header::AUTHORIZATION);
    let timeout = request.headers().get("grpc-timeout");
    match gateway::call(&web.grpc, method, message, authorization, timeout).await {
        Ok(answer) => match serde_json::to_vec(&answer) {
            Ok(body) => json_response(StatusCode::OK, Bytes::from(body)),
            Err(e) => refused(&tonic::Status::internal(format!(
                "the answer is not JSON: {e}"
            ))),
        },
        Err(status) => refused(&status),
    }
}

/// A gRPC status as the API answers it, by the one table.
fn refused(status: &tonic::Status) -> Response<Full<Bytes>> {
    let mut response = json_response(
        status::http_status(status.code()),
        Bytes::from(status::body(status).to_string()),
    );
    if status.code() == tonic::Code::Unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// 405, with the methods the path takes.
fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("this path takes {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = crate::http1::with_type(crate::http1::text(status, body), JSON);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// A refusal of the request's shape, as the API's error body.
fn refusal(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let code = match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "UNIMPLEMENTED",
        StatusCode::PAYLOAD_TOO_LARGE => "RESOURCE_EXHAUSTED",
        StatusCode::REQUEST_TIMEOUT => "DEADLINE_EXCEEDED",
        StatusCode::MISDIRECTED_REQUEST => "PERMISSION_DENIED",
        _ => "INVALID_ARGUMENT",
    };
    let body = serde_json::json!({"code": code, "message": message});
    json_response(status, Bytes::from(body.to_string()))
}

/// INVALID_ARGUMENT naming `field`, with the `BadRequest` detail the gRPC
/// edge gives.
fn invalid(field: &str, why: &str) -> Response<Full<Bytes>> {
    use tonic_types::StatusExt as _;
    let mut details = tonic_types::ErrorDetails::new();
    details.add_bad_request_violation(field, why);
    refused(&tonic::Status::with_error_details(
        tonic::Code::InvalidArgument,
        format!("{field}: {why}"),
        details,
    ))
}
