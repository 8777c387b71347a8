//! One exhaustive mapping from application errors to gRPC statuses.
//!
//! Field violations travel as a `BadRequest` detail, a version conflict as
//! an `ErrorInfo`. Internal details are logged, not shown.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;

const DOMAIN: &str = "answerlog.v1";

pub(super) fn to_status(error: AppError) -> Status {
    match error {
        AppError::Invalid(violations) => {
            let message = violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let mut details = ErrorDetails::new();
            for v in &violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        AppError::NotFound { field, message } => {
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation(field.clone(), message.clone());
            Status::with_error_details(Code::NotFound, format!("{field}: {message}"), details)
        }
        AppError::AlreadyExists { field, message } => {
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
        AppError::FailedPrecondition(message) => Status::failed_precondition(message),
        AppError::NotReached { wanted, reached } => Status::deadline_exceeded(format!(
            "min_position: position {wanted} was not reached before the deadline (the read models are at {reached})"
        )),
        AppError::Unavailable(detail) => {
            tracing::error!(%detail, "unavailable");
            Status::unavailable("the store is unavailable; retry with the same command_id")
        }
        AppError::DataLoss(detail) => {
            tracing::error!(%detail, "data loss");
            Status::data_loss(format!("a stored record failed to decode: {detail}"))
        }
    }
}

/// A malformed request field.
pub(super) fn invalid(field: &str, description: impl Into<String>) -> Status {
    to_status(AppError::invalid(field, description))
}
