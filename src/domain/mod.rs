//! The domain: articles, commands, events, and the rules that join them.
//!
//! Plain Rust. It knows nothing of tonic, the generated API types, sled or
//! tokio, does no I/O and reads no clock: time and ids are passed in.

mod article;
mod command;
mod commit;
mod decide;
mod diff;
mod error;
mod event;
mod ids;
mod limits;
mod validate;

#[cfg(test)]
mod tests;

pub use article::{Article, Provenance, Section, Source, Status};
pub use command::{ArticleDraft, Command, SectionDraft, SourceDraft};
pub use commit::Commit;
pub use decide::{decide, Context};
pub use diff::{diff, line_diff, ArticleDiff, ChangeKind, FieldChange, SectionChange, SourceChange};
pub use error::{DomainError, FieldViolation};
pub use event::{ArticleCreated, Event, EVENT_KINDS};
pub use ids::{is_uuid_shaped, ArticleId, CommandId};
pub use limits::Limits;
pub use validate::{derive_slug, parse_date, slug_problem};
