//! The caller's deadline, from the `grpc-timeout` header, so that a wait
//! can answer DEADLINE_EXCEEDED a little before the caller gives up.

use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataMap;

/// How long a wait may last when the caller set no deadline.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// When to stop waiting: a tenth before the caller's deadline (at least
/// 5 ms before it), or after `DEFAULT_WAIT` if it set none.
pub(super) fn wait_deadline(metadata: &MetadataMap) -> Instant {
    let now = Instant::now();
    match metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)
    {
        Some(timeout) => {
            let margin = (timeout / 10).max(Duration::from_millis(5));
            now + timeout.saturating_sub(margin)
        }
        None => now + DEFAULT_WAIT,
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
