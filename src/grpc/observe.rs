//! Every call observed: a request id (taken from `x-request-id` or
//! generated, and returned in the response's headers), its status code and
//! duration counted in the metrics, and one log line when it ends, with its
//! method and request id (debug for OK, info for a refusal, warn for a
//! server-side failure). The call runs in a span `rpc` with its method and
//! request id at debug level: at info, creating and closing a span for
//! every call took about 4 % of the appends' rate at 64 in flight
//! (BENCHMARKS.md, session 42). The error lines of `status.rs` name the
//! request id all the same (`current_request_id`), in a handler, a
//! response body or an import's task. It knows no service: it sees paths,
//! headers and statuses.
//!
//! The status is read where gRPC puts it: the response headers of a
//! trailers-only answer, or the trailers at the body's end; a call whose
//! body is dropped before its end was cancelled.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::http;
use tonic::Code;
use tracing::Instrument;

use crate::metrics::{CallMetrics, MethodLabels, Metrics};

tokio::task_local! {
    /// The request id of the call being polled (`current_request_id`).
    static CALL_REQUEST_ID: Arc<str>;
}

/// The request id of the call whose task is being polled, if any: for a
/// log line written inside a call. Its handler's future and its response
/// body's frames see it; a task the call spawns sees it only when run in
/// [`in_call`].
pub(super) fn current_request_id() -> Option<Arc<str>> {
    CALL_REQUEST_ID
        .try_with(Arc::clone)
        .ok()
        .filter(|id| !id.is_empty())
}

/// `future`, in the current call's request id if there is one: for a task
/// a call spawns (an import's).
pub(super) fn in_call<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    let id = current_request_id().unwrap_or_else(|| Arc::from(""));
    CALL_REQUEST_ID.scope(id, future)
}

/// The header a caller's request id comes in, and goes back in.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The longest request id taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// A method this server knows: its path, for the log, and its metrics.
#[derive(Debug)]
struct Method {
    path: String,
    calls: CallMetrics,
}

/// The methods this server knows, so that a call to an unknown path does
/// not grow the metrics' label sets.
#[derive(Debug)]
struct Methods {
    by_path: HashMap<String, Arc<Method>>,
    unknown: Arc<Method>,
}

impl Methods {
    fn from_descriptors(metrics: &Metrics, sets: &[&[u8]]) -> Self {
        let mut by_path = HashMap::new();
        for set in sets {
            let Ok(pool) = prost_reflect::DescriptorPool::decode(*set) else {
                continue;
            };
            for service in pool.services() {
                for method in service.methods() {
                    let shape = match (method.is_client_streaming(), method.is_server_streaming()) {
                        (false, false) => "unary",
                        (false, true) => "server_stream",
                        (true, false) => "client_stream",
                        (true, true) => "bidi_stream",
                    };
                    let path = format!("/{}/{}", service.full_name(), method.name());
                    let calls = metrics.calls(MethodLabels {
                        grpc_service: service.full_name().to_owned(),
                        grpc_method: method.name().to_owned(),
                        grpc_type: shape,
                    });
                    by_path.insert(path.clone(), Arc::new(Method { path, calls }));
                }
            }
        }
        let unknown = metrics.calls(MethodLabels {
            grpc_service: "unknown".into(),
            grpc_method: "unknown".into(),
            grpc_type: "unknown",
        });
        Self {
            by_path,
            unknown: Arc::new(Method {
                path: "unknown".into(),
                calls: unknown,
            }),
        }
    }

    fn of(&self, path: &str) -> Option<&Arc<Method>> {
        self.by_path.get(path)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ObserveLayer {
    methods: Arc<Methods>,
}

impl ObserveLayer {
    /// Observes calls to the methods of `descriptor_sets` (encoded
    /// `FileDescriptorSet`s); any other path is counted as `unknown`.
    pub(crate) fn new(metrics: Arc<Metrics>, descriptor_sets: &[&[u8]]) -> Self {
        Self {
            methods: Arc::new(Methods::from_descriptors(&metrics, descriptor_sets)),
        }
    }
}

impl<S> tower_layer::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            methods: Arc::clone(&self.methods),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Observe<S> {
    inner: S,
    methods: Arc<Methods>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for Observe<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Body + Unpin + Send + 'static,
{
    type Response = http::Response<ObservedBody<R>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let path = request.uri().path();
        let (method, unknown_path) = match self.methods.of(path) {
            Some(method) => (Arc::clone(method), None),
            None => (Arc::clone(&self.methods.unknown), Some(path.to_owned())),
        };
        let (request_id, header) = request_id(request.headers());
        let logged_path = unknown_path.as_deref().unwrap_or(&method.path);
        let span = tracing::debug_span!("rpc", method = %logged_path, request_id = %request_id);
        method.calls.started();
        let end = CallEnd {
            method,
            unknown_path,
            request_id: Arc::clone(&request_id),
            started,
            span: span.clone(),
            recorded: false,
        };
        let call = CALL_REQUEST_ID.scope(request_id, self.inner.call(request).instrument(span));
        Box::pin(async move {
            let mut response = call.await?;
            let header = header.or_else(|| http::HeaderValue::from_str(&end.request_id).ok());
            if let Some(header) = header {
                response.headers_mut().insert(REQUEST_ID, header);
            }
            // A trailers-only answer (every error) has its status here.
            let status = status_of(response.headers());
            Ok(response.map(|body| {
                let mut body = ObservedBody {
                    inner: body,
                    request_id: Some(Arc::clone(&end.request_id)),
                    end: Some(end),
                };
                if let Some(code) = status {
                    body.ended(code);
                }
                body
            }))
        })
    }
}

/// The caller's request id if it is a sensible one, else a new UUID with
/// the header that carries it (none for the caller's, already there).
fn request_id(headers: &http::HeaderMap) -> (Arc<str>, Option<http::HeaderValue>) {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID);
    match given {
        Some(id) => (Arc::from(id), None),
        None => {
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let id: &str = new_request_id().hyphenated().encode_lower(&mut text);
            let header = http::HeaderValue::from_str(id).ok();
            (Arc::from(id), header)
        }
    }
}

/// A version 7 UUID whose random bits are this process's, drawn once, plus
/// a counter: unique within the process, and across processes as random
/// ids are, without a `getrandom` call each (a hundredth of the CPU of a
/// small write).
fn new_request_id() -> uuid::Uuid {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<u128> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 16];
        // Without the OS's randomness, ids stay unique within the process.
        let _ = getrandom::fill(&mut bytes);
        u128::from_be_bytes(bytes)
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bytes = seed.wrapping_add(u128::from(count)).to_be_bytes();
    let mut random = [0u8; 10];
    random.copy_from_slice(&bytes[6..]);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn status_of(headers: &http::HeaderMap) -> Option<Code> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(Code::from_i32(code))
}

/// What is recorded once a call ends; dropped unrecorded (the caller went
/// away before the answer's end), the call counts as cancelled.
struct CallEnd {
    method: Arc<Method>,
    /// The path called, when it is no method this server knows.
    unknown_path: Option<String>,
    request_id: Arc<str>,
    started: Instant,
    span: tracing::Span,
    recorded: bool,
}

impl Drop for CallEnd {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Code::Cancelled);
        }
    }
}

impl CallEnd {
    fn record(&mut self, code: Code) {
        self.recorded = true;
        let seconds = self.started.elapsed().as_secs_f64();
        let code_name = code_name(code);
        let index = usize::try_from(code as i32).unwrap_or(usize::MAX);
        self.method.calls.ended(index, code_name, seconds);
        let duration_ms = seconds * 1000.0;
        let method = self.unknown_path.as_deref().unwrap_or(&self.method.path);
        let request_id = &self.request_id;
        match code {
            Code::Ok => {
                tracing::debug!(parent: &self.span, %method, code = code_name, duration_ms, %request_id, "rpc ended")
            }
            Code::Unknown | Code::Internal | Code::Unavailable | Code::DataLoss => {
                tracing::warn!(parent: &self.span, %method, code = code_name, duration_ms, %request_id, "rpc ended")
            }
            _ => {
                tracing::info!(parent: &self.span, %method, code = code_name, duration_ms, %request_id, "rpc ended")
            }
        }
    }
}

/// A response body that records its call's end: at the trailers, at the
/// body's end, or (dropped before either) as cancelled.
pub(crate) struct ObservedBody<B> {
    inner: B,
    /// The call's request id, which the body's frames are polled in (a
    /// stream's answers are made there).
    request_id: Option<Arc<str>>,
    end: Option<CallEnd>,
}

impl<B> ObservedBody<B> {
    fn ended(&mut self, code: Code) {
        if let Some(mut end) = self.end.take() {
            end.record(code);
        }
    }
}

impl<B: Default> Default for ObservedBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            request_id: None,
            end: None,
        }
    }
}

impl<B: Body + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = match &this.request_id {
            Some(id) => CALL_REQUEST_ID
                .sync_scope(Arc::clone(id), || Pin::new(&mut this.inner).poll_frame(cx)),
            None => Pin::new(&mut this.inner).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.ended(status_of(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => this.ended(Code::Unknown),
            Poll::Ready(None) => this.ended(Code::Ok),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A status code as go-grpc-prometheus names it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_id_is_a_version_7_uuid_unlike_the_last() {
        let ids: Vec<uuid::Uuid> = (0..1000).map(|_| new_request_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let given = http::HeaderMap::from_iter([(
            http::header::HeaderName::from_static(REQUEST_ID),
            http::HeaderValue::from_static("abc"),
        )]);
        assert_eq!(request_id(&given), (Arc::from("abc"), None));
        let (id, header) = request_id(&http::HeaderMap::new());
        assert_eq!(header.unwrap().to_str().unwrap(), &*id);
    }

    /// Answers with the request id its future sees, in a header `seen`,
    /// after a wait that makes the call pending once; its body is the
    /// request id its frame is polled in.
    #[derive(Clone)]
    struct Reporter;

    /// One frame: the request id it was polled in.
    #[derive(Default)]
    struct SeenBody {
        done: bool,
    }

    impl Body for SeenBody {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if std::mem::replace(&mut self.done, true) {
                return Poll::Ready(None);
            }
            let seen = current_request_id().map_or_else(String::new, |id| id.to_string());
            Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from(seen)))))
        }
    }

    impl tower_service::Service<http::Request<()>> for Reporter {
        type Response = http::Response<SeenBody>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            Box::pin(async {
                tokio::task::yield_now().await;
                let seen = current_request_id().map_or_else(String::new, |id| id.to_string());
                let mut response = http::Response::new(SeenBody::default());
                response
                    .headers_mut()
                    .insert("seen", http::HeaderValue::from_str(&seen).unwrap());
                Ok(response)
            })
        }
    }

    #[tokio::test]
    async fn a_call_sees_its_request_id_and_returns_it() {
        use tower_layer::Layer as _;
        let layer = ObserveLayer::new(Arc::new(Metrics::new()), &[]);
        let mut service = layer.layer(Reporter);
        let header = |response: &http::Response<_>, name: &str| {
            response.headers()[name].to_str().unwrap().to_owned()
        };
        let mut given = http::Request::new(());
        given
            .headers_mut()
            .insert(REQUEST_ID, http::HeaderValue::from_static("trace-7"));
        let response = tower_service::Service::call(&mut service, given)
            .await
            .unwrap();
        assert_eq!(header(&response, REQUEST_ID), "trace-7");
        assert_eq!(header(&response, "seen"), "trace-7");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"trace-7", "the body's frames are polled in it");
        let response = tower_service::Service::call(&mut service, http::Request::new(()))
            .await
            .unwrap();
        let generated = header(&response, REQUEST_ID);
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        assert_eq!(header(&response, "seen"), generated);
        assert_eq!(current_request_id(), None, "outside a call");
    }
}
