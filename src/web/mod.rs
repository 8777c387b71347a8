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

/// What the listener serves with.
#[derive(Clone)]
pub(crate) struct Web {
    grpc: Grpc,
    /// The largest request body taken, in bytes (the gRPC request limit).
    max_body: usize,
    /// The OpenAPI document, made once.
    openapi: Bytes,
}

impl Web {
    pub(crate) fn new(grpc: Grpc, max_body: usize) -> Self {
        let openapi = openapi::document(crate::grpc::descriptors()).to_string();
        Self {
            grpc,
            max_body,
            openapi: Bytes::from(openapi),
        }
    }
}

/// Serves the JSON API on `listener` until `shutdown` resolves.
pub(crate) async fn serve(listener: TcpListener, web: Web, shutdown: impl Future<Output = ()>) {
    let web = Arc::new(web);
    let handler = move |request: Request<Incoming>| {
        let web = Arc::clone(&web);
        async move { answer(&web, request).await }
    };
    crate::http1::serve(listener, "http", handler, shutdown).await;
}

async fn answer(web: &Web, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let pool = crate::grpc::descriptors();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    if path == "/api/v1/openapi.json" {
        return match *request.method() {
            Method::GET | Method::HEAD => json_response(StatusCode::OK, web.openapi.clone()),
            _ => refusal(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        };
    }
    if let Some((alias, values)) = routes::alias(&path) {
        if *request.method() != Method::GET {
            return refusal(StatusCode::METHOD_NOT_ALLOWED, "use GET");
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
            return refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "use POST with the request's JSON",
            );
        }
        let (parts, body) = request.into_parts();
        let bytes = match Limited::new(body, web.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the body is over the limit of {} bytes", web.max_body),
                )
            }
            Err(e) => {
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
    match gateway::call(&web.grpc, method, message, authorization).await {
        Ok(answer) => match serde_json::to_vec(&answer) {
            Ok(body) => json_response(StatusCode::OK, Bytes::from(body)),
            Err(e) => {
                let status = tonic::Status::internal(format!("the answer is not JSON: {e}"));
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Bytes::from(status::body(&status).to_string()),
                )
            }
        },
        Err(refused) => json_response(
            status::http_status(refused.code()),
            Bytes::from(status::body(&refused).to_string()),
        ),
    }
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
        _ => "INVALID_ARGUMENT",
    };
    let body = serde_json::json!({"code": code, "message": message});
    json_response(status, Bytes::from(body.to_string()))
}

/// INVALID_ARGUMENT naming `field`.
fn invalid(field: &str, why: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "code": "INVALID_ARGUMENT",
        "message": format!("{field}: {why}"),
        "fieldViolations": [{"field": field, "description": why}],
    });
    json_response(StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
}
