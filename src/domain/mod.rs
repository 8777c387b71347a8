//! The domain: articles, commands, events, and the rules that join them.
//!
//! Plain Rust. It knows nothing of tonic, the generated API types, sled or
//! tokio, does no I/O and reads no clock: time and ids are passed in.

mod appended;
mod apply;
mod article;
mod blame;
mod chain;
mod chain_v2;
mod command;
mod commit;
mod decide;
mod diff;
mod error;
mod event;
mod freshness;
mod ids;
mod limits;
mod link;
// Issue 16: `answerlog verify` computes the tree's root; the proofs and
// checkpoints that serve the rest land next, and only tests use them yet.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod merkle;
mod origin;
pub(crate) use origin::origin_problem;
mod redaction;
mod request_hash;
mod review;
mod suggestion;
mod validate;

#[cfg(test)]
mod tests;

pub(crate) use appended::Appended;
pub(crate) use article::{Article, ArticleVersion, Provenance, Section, Source, Status};
pub(crate) use blame::{attribute, Attribution, Stamp};
pub(crate) use chain::{
    answer_digest, backup_manifest_message, commit_event_digest, commit_event_digests,
    commit_hash_and_digests, commit_hash_over, digest_message, hex, leaf_answer_digest, log_hash,
    Hash, RequestHashes, ZERO_HASH,
};
#[cfg(test)]
pub(crate) use chain::{commit_hash, event_digest, vector_bytes as chain_bytes_for_vectors};
pub(crate) use chain_v2::{payload_digest, without_content, CommitSalts, Salt, REDACTED};
pub(crate) use command::{
    ArticleDraft, ArticleRevision, Command, RevisedSection, SectionDraft, SourceDraft,
};
pub(crate) use commit::{Commit, CommitEvents, CommitFold, CommitHead, Redaction, Revision};
pub(crate) use decide::{content_problem, decide, source_bytes, source_problem, Context};
pub(crate) use diff::{diff, ArticleDiff, ChangeKind};
pub(crate) use error::{DomainError, FieldViolation};
pub(crate) use event::{ArticleCreated, Event, OriginClaims, EVENT_KINDS};
pub(crate) use freshness::{stale_redates, StaleRedate};
pub(crate) use ids::{is_uuid_shaped, ArticleId, CommandId};
pub(crate) use limits::Limits;
pub(crate) use link::{follow, follow_with_digests, ChainHead, Unlinked};
pub(crate) use redaction::{redact, Plan as RedactionPlan};
pub(crate) use request_hash::RequestHash;
pub(crate) use review::check_claims as check_review_claims;
pub(crate) use suggestion::{
    check_suggestion, resolve as resolve_suggestion, Outcome, Resolution, Suggestion,
};
pub(crate) use validate::{derive_slug, quoted, slug_problem, url_problem};
