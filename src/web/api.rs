//! The JSON API under `/api/v1/`: `POST /api/v1/{Service}/{Method}` with
//! a request message's JSON, the readable GET paths (`routes`), and the
//! OpenAPI document. Bearer tokens only: it reads no cookie, so a page of
//! another site cannot act through a person's session here.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use prost_reflect::{DynamicMessage, MethodDescriptor};

use super::{gateway, routes, status, Web, BODY_TIMEOUT, JSON};

pub(super) async fn answer(web: &Web, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let pool = crate::grpc::descriptors();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
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
pub(super) fn refusal(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
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
