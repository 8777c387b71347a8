//! The JSON API's calls, made on the gRPC services in the same process:
//! a request's JSON (the protobuf JSON mapping of the method's request
//! message) is framed as a gRPC call and sent through the same tower stack
//! as the gRPC listener's calls (observed, given a deadline, authenticated
//! and checked for framing), so that every rule, right and limit is the
//! gRPC edge's own and exists once. This is what grpc-gateway does for
//! etcd, without the network hop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf as _, Bytes};
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tonic::codegen::http;

/// A call's answer as the gRPC stack gave it.
pub(crate) struct Answer {
    headers: http::HeaderMap,
    trailers: Option<http::HeaderMap>,
    body: Bytes,
}

type Pending = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>>;

/// The gRPC services, callable in process.
pub(crate) type Grpc = Arc<dyn Fn(http::Request<tonic::body::Body>) -> Pending + Send + Sync>;

/// `service` (the gRPC listener's stack) as a [`Grpc`].
pub(crate) fn grpc<S, R>(service: S) -> Grpc
where
    S: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<R>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: std::fmt::Display,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: std::fmt::Display,
{
    Arc::new(move |request| {
        let mut service = service.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(|e| e.to_string())?;
            let response = service.call(request).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let collected = body.collect().await.map_err(|e| e.to_string())?;
            let trailers = collected.trailers().cloned();
            Ok(Answer {
                headers: parts.headers,
                trailers,
                body: collected.to_bytes(),
            })
        })
    })
}

/// Calls `method` with `request`, as the caller who presented
/// `authorization` (a bearer token, or none), within the caller's
/// `grpc-timeout` if it sent one (else the server's default deadline).
pub(crate) async fn call(
    grpc: &Grpc,
    method: &MethodDescriptor,
    request: &DynamicMessage,
    authorization: Option<&http::HeaderValue>,
    timeout: Option<&http::HeaderValue>,
) -> Result<DynamicMessage, tonic::Status> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let answer = exchange(
        grpc,
        &path,
        &request.encode_to_vec(),
        authorization,
        timeout,
    )
    .await?;
    DynamicMessage::decode(method.output(), answer)
        .map_err(|e| tonic::Status::internal(format!("the call's answer does not decode: {e}")))
}

/// Calls the method at `path` (`/answerlog.v1.Service/Method`) with a
/// generated request message, for the pages: as [`call`], within the
/// server's default deadline.
pub(crate) async fn call_typed<Q, A>(
    grpc: &Grpc,
    path: &str,
    request: &Q,
    authorization: Option<&http::HeaderValue>,
) -> Result<A, tonic::Status>
where
    Q: prost::Message,
    A: prost::Message + Default,
{
    let answer = exchange(grpc, path, &request.encode_to_vec(), authorization, None).await?;
    A::decode(answer)
        .map_err(|e| tonic::Status::internal(format!("the call's answer does not decode: {e}")))
}

/// One call: `message` framed, sent through the stack, and the answer's
/// message unframed, or the status the call ended with.
async fn exchange(
    grpc: &Grpc,
    path: &str,
    message: &[u8],
    authorization: Option<&http::HeaderValue>,
    timeout: Option<&http::HeaderValue>,
) -> Result<Bytes, tonic::Status> {
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .map_err(|_| tonic::Status::resource_exhausted("the request is too large"))?
            .to_be_bytes(),
    );
    framed.extend_from_slice(message);
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://answerlog{path}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers");
    if let Some(authorization) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, authorization);
    }
    if let Some(timeout) = timeout {
        builder = builder.header("grpc-timeout", timeout);
    }
    let request = builder
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(framed),
        )))
        .map_err(|e| tonic::Status::internal(format!("a call could not be made: {e}")))?;
    let answer = grpc(request).await.map_err(tonic::Status::internal)?;
    // The status is in the trailers, or in the headers of an answer that
    // has only them.
    let status = answer
        .trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
        .or_else(|| tonic::Status::from_header_map(&answer.headers))
        .ok_or_else(|| tonic::Status::internal("the call answered without a status"))?;
    if status.code() != tonic::Code::Ok {
        return Err(status);
    }
    let mut body = answer.body;
    if body.len() < 5 || body[0] != 0 {
        return Err(tonic::Status::internal(
            "the call answered with no message, or a compressed one",
        ));
    }
    body.advance(1);
    let length = body.get_u32() as usize;
    if body.len() < length {
        return Err(tonic::Status::internal("the call's answer is cut short"));
    }
    Ok(body.slice(..length))
}
