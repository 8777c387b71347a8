//! The persisted encoding: commits, materialized articles, dates and
//! suggestions as the protobuf messages of `proto/answerlog/v1/events.proto`.
//!
//! The only module that knows the persisted messages. It knows nothing of
//! the API messages, tonic or sled. prost writes fields in number order and
//! this schema has no maps, so one value always encodes to the same bytes:
//! a rebuild is byte-identical.

mod article;
mod commit;
mod commit_bytes;
mod suggestion;

// `RevisionRecord` is kept in the schema, no longer used.
#[allow(unreachable_pub, dead_code, clippy::all, clippy::pedantic)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/events/answerlog.v1.rs"));
}

pub(crate) use article::{decode_article, decode_date, encode_article, encode_date};
pub(crate) use commit::{decode_commit, decode_commit_events, decode_commit_head, encode_commit};
pub(crate) use commit_bytes::{commit_bytes, CommitBytes, EventBytes};
pub(crate) use suggestion::{decode_suggestion, encode_suggestion};

/// A stored record that does not decode, or decodes to nonsense.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} is corrupt: {detail}")]
pub struct CodecError {
    pub what: &'static str,
    pub detail: String,
}

impl CodecError {
    fn new(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            detail: detail.into(),
        }
    }
}

fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(
    what: &'static str,
    micros: i64,
) -> Result<chrono::DateTime<chrono::Utc>, CodecError> {
    chrono::DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| CodecError::new(what, format!("time {micros} is out of range")))
}

fn date(what: &'static str, text: &str) -> Result<chrono::NaiveDate, CodecError> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| CodecError::new(what, format!("bad date {text:?}")))
}
