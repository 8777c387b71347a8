//! The gRPC layer: the only module that knows tonic and the generated API
//! types. Each service converts requests to domain commands and queries
//! (validating as it converts, in `convert`), calls the app, and maps
//! errors to statuses in one place (`status`).

mod admin_service;
mod answer_response;
mod answer_service;
mod article_service;
mod audit_service;
mod auth;
mod codec;
mod convert;
mod deadline;
mod framing;
mod import;
mod observe;
mod status;
mod stored_commit;
mod stream_response;
mod suggestion_service;
mod write;

pub(crate) use admin_service::AdminApi;
pub(crate) use answer_service::AnswerApi;
pub(crate) use article_service::ArticleApi;
pub(crate) use audit_service::AuditApi;
pub(crate) use auth::AuthLayer;
pub(crate) use codec::{CheckedCodec, Streamed};
/// The served form of an answer, for docs/audit-vectors.
#[cfg(test)]
pub(crate) use convert::answer as answer_message;
pub(crate) use convert::{
    backup_manifest, commit_from_message, draft_message, log_digest, origin_claims_message,
    rendered_commit, served_answer, suggestion_from_message,
};
pub(crate) use deadline::DefaultDeadlineLayer;
pub(crate) use framing::FramingLayer;
pub(crate) use import::{FAILED_COMMAND, FAILED_REQUEST};
pub(crate) use observe::ObserveLayer;
pub(crate) use suggestion_service::SuggestionApi;

/// The compiled-in descriptors of the API, decoded once (the JSON
/// mapping of its messages, the JSON API's routes and OpenAPI document).
pub(crate) fn descriptors() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the descriptors compiled in decode")
    })
}

/// The generated API: messages, clients and servers.
#[allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/api/answerlog.v1.rs"));

    pub use super::answer_response::GetAnswerResponse;
    pub use super::stream_response::{stream_events_response, StreamEventsResponse};

    /// Every message and service, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
}
