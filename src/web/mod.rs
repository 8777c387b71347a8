//! The HTTP listener (`serve --http-listen ADDR`, off unless configured):
//! the JSON API under `/api/v1/` (`api`) and the pages for people
//! (`pages`, with their sessions in `session`). Their calls go to the gRPC services in the
//! same process through the gRPC listener's own stack (`gateway`), so the
//! two edges share every rule, role, limit and status; this edge knows
//! only JSON, paths and HTTP statuses (`status`). Its OpenAPI document is
//! generated from the API's descriptors (`openapi`).

mod api;
mod gateway;
mod openapi;
mod pages;
mod routes;
mod session;
mod status;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use tokio::net::TcpListener;

pub(crate) use gateway::{grpc, Grpc};
pub(crate) use session::Sessions;

/// The JSON content type of every answer.
const JSON: &str = "application/json";

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the listener serves with.
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
    /// Whether the listener serves TLS (a page's own origin is https).
    tls: bool,
    /// People's sessions on the pages.
    sessions: Sessions,
}

impl Web {
    /// Over TLS when `tls`; a plain listener is on loopback, and answers
    /// requests to loopback names only.
    pub(crate) fn new(grpc: Grpc, max_request_bytes: usize, tls: bool, sessions: Sessions) -> Self {
        let openapi = openapi::document(crate::grpc::descriptors()).to_string();
        Self {
            grpc,
            max_body: max_request_bytes.saturating_mul(2),
            openapi: Bytes::from(openapi),
            loopback_hosts_only: !tls,
            tls,
            sessions,
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
    if web.loopback_hosts_only {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or(""));
        if host.is_some_and(|h| !loopback_host(h)) {
            return api::refusal(
                StatusCode::MISDIRECTED_REQUEST,
                "this listener answers requests to localhost only",
            );
        }
    }
    if request.uri().path().starts_with("/api/") {
        api::answer(web, request).await
    } else {
        pages::answer(web, request).await
    }
}
