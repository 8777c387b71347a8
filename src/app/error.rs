//! The application's errors, by cause. `grpc::status` maps each to one
//! status code.

use crate::domain::{quoted, DomainError, FieldViolation};
use crate::log::{AppendError, Rejection, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed or out-of-limit fields (INVALID_ARGUMENT).
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The named thing does not exist, or is retracted for readers (NOT_FOUND).
    #[error("{field}: {message}")]
    NotFound { field: String, message: String },
    /// The slug belongs to another article (ALREADY_EXISTS).
    #[error("{field}: {message}")]
    AlreadyExists { field: String, message: String },
    /// Optimistic concurrency failed (ABORTED).
    #[error("expected_version {expected} is stale: the article is at version {current}")]
    VersionMismatch { expected: u64, current: u64 },
    /// The state forbids the command (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// `min_position` was not reached in time (DEADLINE_EXCEEDED).
    #[error("position {wanted} was not reached before the deadline (at {reached})")]
    NotReached { wanted: u64, reached: u64 },
    /// Storage failed or the server is stopping (UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// No checkpoint met the policy (signed, covering what was asked,
    /// with the witnesses' cosignatures it needs) before the deadline
    /// (UNAVAILABLE, saying which part is missing).
    #[error("{0}")]
    NoCheckpoint(String),
    /// A stored record is corrupt (DATA_LOSS).
    #[error("{0}")]
    DataLoss(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::NotFound {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(detail) => AppError::DataLoss(detail),
            StoreError::Io(_) | StoreError::Closed(_) | StoreError::Wedged(_) => {
                AppError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<AppendError> for AppError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::VersionMismatch { expected, current } => {
                AppError::VersionMismatch { expected, current }
            }
            AppendError::BasisLost { version } => AppError::VersionMismatch {
                expected: version,
                current: version,
            },
            AppendError::CommandReused(id) => AppError::invalid(
                "command_id",
                format!("{id} was already used for a different request"),
            ),
            AppendError::Rejected(Rejection::SlugTaken { slug }) => AppError::AlreadyExists {
                field: "slug".into(),
                message: format!("{} is taken by another article", quoted(&slug)),
            },
            e @ (AppendError::TooLarge { .. } | AppendError::Unsupported(_)) => {
                AppError::FailedPrecondition(e.to_string())
            }
            AppendError::Unavailable(why) => AppError::Unavailable(why),
            AppendError::Corrupt(why) => AppError::DataLoss(why),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(violations) => AppError::Invalid(violations),
            DomainError::NotFound { field, what, id } => AppError::NotFound {
                field,
                message: format!("the article has no {what} {id:?}"),
            },
            DomainError::ArticleNotFound => AppError::not_found("article_id", "no such article"),
            DomainError::Retracted
            | DomainError::NotRetracted
            | DomainError::Resolved { .. }
            | DomainError::AlreadyRedacted { .. } => AppError::FailedPrecondition(e.to_string()),
            DomainError::AlreadyExists => AppError::AlreadyExists {
                field: "article_id".into(),
                message: "the article already exists".into(),
            },
        }
    }
}
