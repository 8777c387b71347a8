//! The gRPC framing of a request, checked before tonic reads it, so that a
//! client's malformed frames are answered as the client's fault (and logged
//! and counted as refusals, never as server errors) with the status the
//! gRPC documents give. tonic alone answers them INTERNAL.
//!
//! The rules, from gRPC's `doc/PROTOCOL-HTTP2.md` and `doc/statuscodes.md`:
//!
//! - A Content-Type that does not begin with `application/grpc`: "gRPC
//!   servers SHOULD respond with HTTP status of 415 (Unsupported Media
//!   Type)" (PROTOCOL-HTTP2, Content-Type). The answer also carries
//!   `grpc-status` INVALID_ARGUMENT, for gRPC clients.
//! - A unary or server-streaming call whose request holds zero messages, or
//!   more than one: "Request cardinality violation (method requires exactly
//!   one request but client sent some other number of requests)" is
//!   UNIMPLEMENTED (statuscodes.md, the table of codes the library makes).
//! - A message cut short (its 5-byte prefix, or fewer bytes than its prefix
//!   announced, before the end of the stream), and a Compressed-Flag other
//!   than 0 or 1 (PROTOCOL-HTTP2 allows only those), or 1 with no
//!   `grpc-encoding` to say how: the documents mandate no code; it is the
//!   client's malformed request, so INVALID_ARGUMENT.
//!
//! Knows HTTP/2 request shapes and tonic's `Status`, nothing of the API.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use http_body_util::BodyExt as _;
use tonic::codegen::http;
use tonic::Status;

/// The length of a message's prefix: the Compressed-Flag byte and the
/// big-endian u32 length.
const PREFIX: usize = 5;

#[derive(Clone, Debug)]
pub(crate) struct FramingLayer {
    /// Paths of the methods whose request is exactly one message.
    single: Arc<HashSet<String>>,
    /// The largest request message accepted; a longer body is left to
    /// tonic, which refuses it as too large.
    max_message: usize,
}

impl FramingLayer {
    /// Checks the calls to the methods of `descriptor_sets` (encoded
    /// `FileDescriptorSet`s); `max_message` is the server's request limit.
    pub(crate) fn new(descriptor_sets: &[&[u8]], max_message: usize) -> Self {
        let mut single = HashSet::new();
        for set in descriptor_sets {
            let Ok(pool) = prost_reflect::DescriptorPool::decode(*set) else {
                continue;
            };
            for service in pool.services() {
                for method in service.methods().filter(|m| !m.is_client_streaming()) {
                    single.insert(format!("/{}/{}", service.full_name(), method.name()));
                }
            }
        }
        Self {
            single: Arc::new(single),
            max_message,
        }
    }
}

impl<S> tower_layer::Layer<S> for FramingLayer {
    type Service = Framing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Framing {
            inner,
            single: Arc::clone(&self.single),
            max_message: self.max_message,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Framing<S> {
    inner: S,
    single: Arc<HashSet<String>>,
    max_message: usize,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower_service::Service<http::Request<tonic::body::Body>> for Framing<S>
where
    S: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<R>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/grpc") {
            let status = Status::invalid_argument(format!(
                "content-type {:?} is not gRPC's: it must begin with application/grpc",
                cut(content_type)
            ));
            let mut response: http::Response<R> = status.into_http();
            *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return Box::pin(async move { Ok(response) });
        }
        if !self.single.contains(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The service that was made ready is the one that answers; a clone
        // takes its place for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let encoded = request.headers().contains_key("grpc-encoding");
        let limit = self.max_message.saturating_add(PREFIX);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // At most the limit and one frame more is read: a longer body
            // goes on to tonic, which refuses it as too large.
            let mut body = body;
            let mut bytes = Vec::new();
            let mut complete = true;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    // The client reset or broke the stream: tonic says so.
                    complete = false;
                    break;
                };
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        bytes.extend_from_slice(chunk);
                        let n = chunk.len();
                        data.advance(n);
                    }
                }
                if bytes.len() > limit {
                    complete = false;
                    break;
                }
            }
            if complete {
                if let Err(status) = check_single(&bytes, encoded) {
                    tracing::debug!(method = %parts.uri.path(), code = ?status.code(), message = status.message(), "malformed request framing");
                    return Ok(status.into_http());
                }
            }
            let rest = body;
            let body = if complete {
                tonic::body::Body::new(http_body_util::Full::new(Bytes::from(bytes)))
            } else {
                // What was read, then the rest as it comes.
                let head =
                    http_body_util::Full::new(Bytes::from(bytes)).map_err(|never| match never {});
                tonic::body::Body::new(Chain {
                    head: Some(head),
                    rest,
                })
            };
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

/// The frames of a request that must hold exactly one message: `Ok` when
/// it does, else the status the gRPC documents give (see the module doc).
fn check_single(bytes: &[u8], encoded: bool) -> Result<(), Status> {
    let mut rest = bytes;
    let mut messages = 0usize;
    while !rest.is_empty() {
        if rest.len() < PREFIX {
            return Err(Status::invalid_argument(format!(
                "the request ends {} bytes into a message's 5-byte prefix",
                rest.len()
            )));
        }
        let flag = rest[0];
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        match flag {
            0 => {}
            1 if encoded => {}
            1 => {
                return Err(Status::invalid_argument(
                    "a message is marked compressed, but the request names no grpc-encoding",
                ))
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "a message's Compressed-Flag is {other}; gRPC allows only 0 or 1"
                )))
            }
        }
        rest = &rest[PREFIX..];
        if rest.len() < length {
            return Err(Status::invalid_argument(format!(
                "the request ends {} bytes into a message of {length} bytes",
                rest.len()
            )));
        }
        rest = &rest[length..];
        messages += 1;
    }
    if messages != 1 {
        // statuscodes.md: a request cardinality violation is UNIMPLEMENTED.
        return Err(Status::unimplemented(format!(
            "this method takes exactly one request message; the request held {messages}"
        )));
    }
    Ok(())
}

/// A header value quoted in a status: cut to 64 characters.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A body that yields `head`'s frames, then `rest`'s.
struct Chain<H, B> {
    head: Option<H>,
    rest: B,
}

impl<H, B> http_body::Body for Chain<H, B>
where
    H: http_body::Body<Data = Bytes, Error = tonic::Status> + Unpin,
    B: http_body::Body<Data = Bytes, Error = tonic::Status> + Unpin,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.as_mut() {
            match Pin::new(head).poll_frame(cx) {
                Poll::Ready(None) => self.head = None,
                other => return other,
            }
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(flag: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn one_whole_message_passes() {
        assert!(check_single(&message(0, b"abc"), false).is_ok());
        assert!(check_single(&message(0, b""), false).is_ok());
        assert!(check_single(&message(1, b"gz"), true).is_ok());
    }

    #[test]
    fn malformed_framing_gets_the_status_the_documents_give() {
        let mut two = message(0, b"a");
        two.extend(message(0, b"b"));
        let mut cut_short = message(0, &[7; 100]);
        cut_short.truncate(15);
        for (bytes, encoded, code, says) in [
            (Vec::new(), false, tonic::Code::Unimplemented, "held 0"),
            (two, false, tonic::Code::Unimplemented, "held 2"),
            (
                vec![0, 0, 0],
                false,
                tonic::Code::InvalidArgument,
                "5-byte prefix",
            ),
            (
                cut_short,
                false,
                tonic::Code::InvalidArgument,
                "10 bytes into a message of 100",
            ),
            (
                message(2, b"x"),
                false,
                tonic::Code::InvalidArgument,
                "Compressed-Flag is 2",
            ),
            (
                message(1, b"x"),
                false,
                tonic::Code::InvalidArgument,
                "no grpc-encoding",
            ),
        ] {
            let status = check_single(&bytes, encoded).unwrap_err();
            assert_eq!(status.code(), code, "{status:?}");
            assert!(status.message().contains(says), "{status:?}");
        }
    }
}
