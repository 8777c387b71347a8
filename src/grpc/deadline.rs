//! The caller's deadline, from the `grpc-timeout` header, so that a wait
//! can answer DEADLINE_EXCEEDED a little before the caller gives up; and
//! the default deadline of unary calls that set none.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic::Status;

/// How long a wait may last when no deadline reached the service (only
/// calls that bypass `DefaultDeadlineLayer`, which always sets one).
const FALLBACK_WAIT: Duration = Duration::from_secs(30);

/// The header that carries a call's deadline.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// When to stop waiting: a fifth before the caller's deadline (at least
/// 10 ms before it), or after `FALLBACK_WAIT` if there is none. The
/// `DefaultDeadline` layer cuts the call off a tenth before the deadline,
/// timed from a moment earlier than this one: a wait must end well before
/// that, so that the caller hears why (`min_position` not reached) rather
/// than that the call ran out of time.
pub(super) fn wait_deadline(metadata: &MetadataMap) -> Instant {
    let now = Instant::now();
    match metadata
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)
    {
        Some(timeout) => now + answer_within(answer_within(timeout)),
        None => now + FALLBACK_WAIT,
    }
}

/// How long to work on a call with `timeout`: a tenth less (at least 5 ms
/// less), so that the answer reaches the caller before it gives up.
fn answer_within(timeout: Duration) -> Duration {
    let margin = (timeout / 10).max(Duration::from_millis(5));
    timeout.saturating_sub(margin)
}

/// Gives every unary call a deadline: the caller's, or `default` when it
/// set none (written into `grpc-timeout`, so that waits inside the call
/// see it too). A call still running when its deadline nears is answered
/// DEADLINE_EXCEEDED; a write it started is not undone, and a retry with
/// the same `command_id` finds it. StreamEvents, which lives as long as
/// its follower, has no default deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DefaultDeadlineLayer {
    default: Duration,
}

impl DefaultDeadlineLayer {
    pub(crate) fn new(default: Duration) -> Self {
        Self { default }
    }
}

impl<S> tower_layer::Layer<S> for DefaultDeadlineLayer {
    type Service = DefaultDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DefaultDeadline {
            inner,
            default: self.default,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct DefaultDeadline<S> {
    inner: S,
    default: Duration,
}

/// Methods whose calls last as long as the caller wants.
fn is_long_lived(path: &str) -> bool {
    path == "/answerlog.v1.AuditService/StreamEvents"
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for DefaultDeadline<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if is_long_lived(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let given = request
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_timeout);
        let timeout = match given {
            Some(timeout) => timeout,
            None => {
                let millis = self.default.as_millis().clamp(1, 99_999_999);
                if let Ok(value) = http::HeaderValue::from_str(&format!("{millis}m")) {
                    request.headers_mut().insert(GRPC_TIMEOUT, value);
                }
                Duration::from_millis(millis as u64)
            }
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(answer_within(timeout), call).await {
                Ok(answered) => answered,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call did not finish within its deadline of {} ms",
                    timeout.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// Waits until the read models include `position`, or answers
/// DEADLINE_EXCEEDED a little before the caller's deadline.
pub(super) async fn reach(
    app: &crate::app::App,
    metadata: &MetadataMap,
    position: u64,
) -> Result<(), tonic::Status> {
    app.wait_for_position(position, Some(wait_deadline(metadata)))
        .await
        .map_err(super::status::to_status)
}

/// Parses the gRPC timeout format: up to 8 digits and a unit letter.
fn parse_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("5"), None);
        assert_eq!(parse_timeout("m"), None);
        assert_eq!(parse_timeout("123456789S"), None);
        assert_eq!(parse_timeout(""), None);
    }
}
