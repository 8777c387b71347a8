//! Why a command was refused, by cause: bad input, a missing thing, a state
//! that forbids it. Conflicts of concurrency are the store's, not these.

use std::fmt;

/// One malformed field: its path in the request and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Malformed or out-of-limit fields (INVALID_ARGUMENT).
    #[error("invalid request: {}", join(.0))]
    Invalid(Vec<FieldViolation>),
    /// A section or source the command names does not exist (NOT_FOUND).
    #[error("{field}: {what} {id:?} not found")]
    NotFound {
        field: String,
        what: &'static str,
        id: String,
    },
    /// The article does not exist (NOT_FOUND).
    #[error("article not found")]
    ArticleNotFound,
    /// A write to a retracted article (FAILED_PRECONDITION).
    #[error("the article is retracted; restore it first")]
    Retracted,
    /// A restore of an article that is not retracted (FAILED_PRECONDITION).
    #[error("the article is not retracted")]
    NotRetracted,
    /// A creation for an id that exists (ALREADY_EXISTS).
    #[error("the article already exists")]
    AlreadyExists,
    /// A suggestion resolved already (FAILED_PRECONDITION).
    #[error("the suggestion is {status} already")]
    Resolved { status: String },
    /// A redaction of an event redacted already (FAILED_PRECONDITION).
    #[error("event {event} of the commit at position {position} is redacted already")]
    AlreadyRedacted { position: u64, event: u32 },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    /// The same error with its fields named from an enclosing message:
    /// `prefix` then `.` then the field.
    pub(crate) fn within(self, prefix: &str) -> Self {
        let path = |field: &str| {
            if field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{field}")
            }
        };
        match self {
            Self::Invalid(violations) => Self::Invalid(
                violations
                    .into_iter()
                    .map(|v| FieldViolation::new(path(&v.field), v.description))
                    .collect(),
            ),
            Self::NotFound { field, what, id } => Self::NotFound {
                field: path(&field),
                what,
                id,
            },
            other => other,
        }
    }
}

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
