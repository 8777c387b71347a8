//! One exhaustive mapping from application errors to gRPC statuses.
//!
//! Field violations travel as a `BadRequest` detail, a version conflict as
//! an `ErrorInfo`. Internal details are logged, not shown.
//!
//! A status travels in the response's headers, and clients cap those (tonic
//! and grpc-go at 16 KiB, and they drop an answer over the cap as a
//! protocol error). So a status lists at most [`REPORTED_VIOLATIONS`] field
//! violations, as many as fit in [`HEADER_BUDGET`], and counts the rest
//! (each description cut at [`DESCRIPTION_BYTES`]); any other message is
//! cut at [`MESSAGE_BYTES`].

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::observe::current_request_id;
use crate::app::AppError;
use crate::domain::FieldViolation;

const DOMAIN: &str = "answerlog.v1";

/// The most field violations one status lists, in its message and its
/// `BadRequest`; the message says how many more there were.
const REPORTED_VIOLATIONS: usize = 20;

/// The most bytes the violations of one status take in its headers: the
/// message percent-encoded, and in base64 the `google.rpc.Status` that
/// repeats the message and holds the `BadRequest`. Clients accept 16 KiB
/// for all headers together.
const HEADER_BUDGET: usize = 10 * 1024;

/// The longest status message, in bytes.
const MESSAGE_BYTES: usize = 2 * 1024;

/// The longest description of one field violation, in bytes.
const DESCRIPTION_BYTES: usize = 512;

pub(super) fn to_status(error: AppError) -> Status {
    match error {
        AppError::Invalid(violations) => invalid_status(&violations),
        AppError::NotFound { field, message } => {
            let message = bounded(&message);
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation(field.clone(), message.clone());
            Status::with_error_details(Code::NotFound, format!("{field}: {message}"), details)
        }
        AppError::AlreadyExists { field, message } => {
            let message = bounded(&message);
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation(field.clone(), message.clone());
            Status::with_error_details(Code::AlreadyExists, format!("{field}: {message}"), details)
        }
        AppError::VersionMismatch { expected, current } => {
            let details = ErrorDetails::with_error_info(
                "VERSION_MISMATCH",
                DOMAIN,
                HashMap::from([
                    ("current_version".to_owned(), current.to_string()),
                    ("expected_version".to_owned(), expected.to_string()),
                ]),
            );
            Status::with_error_details(
                Code::Aborted,
                format!(
                    "expected_version: {expected} is stale; the article is at version {current}"
                ),
                details,
            )
        }
        AppError::FailedPrecondition(message) => Status::failed_precondition(bounded(&message)),
        AppError::NotReached { wanted, reached } => Status::deadline_exceeded(format!(
            "min_position: position {wanted} was not reached before the deadline (the read models are at {reached})"
        )),
        AppError::Unavailable(detail) => {
            tracing::error!(%detail, request_id = current_request_id().as_deref(), "unavailable");
            Status::unavailable(
                "the store is unavailable (a storage failure, or the server is stopping): retry later",
            )
        }
        AppError::NoCheckpoint(detail) => Status::unavailable(bounded(&detail)),
        AppError::DataLoss(detail) => {
            tracing::error!(%detail, request_id = current_request_id().as_deref(), "data loss");
            Status::data_loss(bounded(&format!(
                "a stored record failed to decode: {detail}"
            )))
        }
    }
}

/// [`to_status`] for a write: UNAVAILABLE there leaves the write in doubt
/// (it may be durable or not), so it says how to settle that.
pub(super) fn to_write_status(e: AppError) -> Status {
    match e {
        AppError::Unavailable(detail) => {
            tracing::error!(%detail, request_id = current_request_id().as_deref(), "unavailable");
            Status::unavailable(
                "the store is unavailable (a storage failure, or the server is stopping); the write may or may not have been applied: retry it with the same command_id, which applies it once",
            )
        }
        other => to_status(other),
    }
}

/// INVALID_ARGUMENT listing the first violations, as many as fit.
fn invalid_status(violations: &[FieldViolation]) -> Status {
    let mut lines = Vec::new();
    let mut details = ErrorDetails::new();
    let mut used = 0;
    for v in violations.iter().take(REPORTED_VIOLATIONS) {
        let description = cut(&v.description, DESCRIPTION_BYTES);
        let line = format!("{}: {description}", v.field);
        // The line percent-encoded with its "; ", then in base64 both the
        // line (the details header repeats the message) and the violation.
        let cost = encoded_len(&line)
            + 6
            + (line.len() + 2 + v.field.len() + description.len() + 8) * 4 / 3;
        if !lines.is_empty() && used + cost > HEADER_BUDGET {
            break;
        }
        used += cost;
        details.add_bad_request_violation(v.field.clone(), description);
        lines.push(line);
    }
    let mut message = lines.join("; ");
    let more = violations.len() - lines.len();
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// How many bytes `message` takes percent-encoded, as tonic sends it.
fn encoded_len(message: &str) -> usize {
    message
        .bytes()
        .map(|b| match b {
            b'"' | b'#' | b'%' | b'<' | b'>' | b'`' | b'?' | b'{' | b'}' => 3,
            b'!'..=b'~' => 1,
            _ => 3,
        })
        .sum()
}

/// `message`, cut to at most [`MESSAGE_BYTES`] bytes.
fn bounded(message: &str) -> String {
    cut(message, MESSAGE_BYTES)
}

/// `text`, cut at a character to at most `max` bytes, ending in "…" if cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A malformed request field.
pub(super) fn invalid(field: &str, description: impl Into<String>) -> Status {
    to_status(AppError::invalid(field, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_violations_are_listed_up_to_the_cap_and_counted() {
        let violations = (0..REPORTED_VIOLATIONS + 7)
            .map(|i| FieldViolation::new(format!("sections[{i}].heading"), "must not be empty"))
            .collect();
        let status = to_status(AppError::Invalid(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status
            .message()
            .starts_with("sections[0].heading: must not be empty; "));
        assert!(
            status.message().ends_with("; and 7 more"),
            "{}",
            status.message()
        );
        let bad = status.get_details_bad_request().expect("a BadRequest");
        assert_eq!(bad.field_violations.len(), REPORTED_VIOLATIONS);
    }

    #[test]
    fn violations_are_listed_while_they_fit_the_header_budget() {
        let violations: Vec<_> = (0..REPORTED_VIOLATIONS)
            .map(|i| FieldViolation::new(format!("f{i}"), "😀".repeat(1_000)))
            .collect();
        let status = to_status(AppError::Invalid(violations));
        let bad = status.get_details_bad_request().expect("a BadRequest");
        let listed = bad.field_violations.len();
        assert!((1..REPORTED_VIOLATIONS).contains(&listed), "{listed}");
        let more = format!("; and {} more", REPORTED_VIOLATIONS - listed);
        assert!(status.message().ends_with(&more));
        let details = status.details().len() * 4 / 3;
        assert!(encoded_len(status.message()) + details <= HEADER_BUDGET + 64);
    }

    #[test]
    fn long_messages_are_cut() {
        let status = to_status(AppError::FailedPrecondition("é".repeat(MESSAGE_BYTES)));
        assert!(status.message().len() <= MESSAGE_BYTES);
        assert!(status.message().ends_with("é…"));
        let short = to_status(AppError::FailedPrecondition("short".into()));
        assert_eq!(short.message(), "short");
    }
}
