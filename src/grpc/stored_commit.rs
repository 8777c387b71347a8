//! A `Commit` message written from a commit's stored bytes
//! (`app::StoredView`), for StreamEvents (`stream_response.rs`).
//!
//! Most events' messages are the same on the wire in the stored schema
//! and in the API (`PAYLOAD_NUMBERS`, checked against the descriptors by
//! a test), so a commit whose events are all of those kinds is written
//! from the slices of its record: its text and events' contents copied
//! once, as stored, its ids and hashes written as text, straight into
//! the response's buffer. The bytes are exactly those `convert::commit`
//! and prost would give (a test holds every kind to that); any other
//! commit is converted. Knows the API's field numbers and the stored
//! kinds by name, not the stored schema's numbers (`codec/`'s).

use bytes::BufMut;
use prost::encoding::{self, WireType};

use super::convert;
use crate::app::StoredView;
use crate::codec::{CommitBytes, EventBytes};

/// The number in the API's `Event` payload of each kind the stored
/// schema keeps flat (`CommitBytes::flat`): its message is the same on
/// the wire in both (a test compares the descriptors), so its stored
/// bytes are sent as they are.
const PAYLOAD_NUMBERS: [(&str, u32); 15] = [
    ("QuickAnswerEdited", 3),
    ("KeyFactsReplaced", 4),
    ("SectionEdited", 6),
    ("SectionRemoved", 7),
    ("SectionMoved", 8),
    ("SourceRemoved", 10),
    ("ArticleRedated", 11),
    ("QuestionEdited", 12),
    ("SlugChanged", 13),
    ("ArticleReviewed", 15),
    ("ArticleRetracted", 16),
    ("ArticleRestored", 17),
    ("ReviewLapsed", 19),
    ("PayloadRedacted", 21),
    ("SlugAliased", 24),
];

fn payload_number(event: &EventBytes) -> Option<u32> {
    let kind = event.kind();
    PAYLOAD_NUMBERS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, number)| *number)
}

/// A stored commit, with the lengths of the `Commit` message it is
/// written as and of that message's revision.
#[derive(Clone)]
pub(super) struct StoredCommit {
    view: StoredView,
    last_updated: [u8; 10],
    recorded_at: prost_types::Timestamp,
    revision_len: usize,
    /// The `Commit` message's length.
    pub(super) commit_len: usize,
}

impl StoredCommit {
    /// `view` to write, unless an event is of a kind not in
    /// `PAYLOAD_NUMBERS`, the digests kept are not one for each event, or
    /// its date has no ten-byte text: then it is given back, to be
    /// converted.
    pub(super) fn new(view: Box<StoredView>) -> Result<Self, Box<StoredView>> {
        let c = &view.commit;
        let sendable = c.events.iter().all(|e| payload_number(e).is_some())
            && view.payload_digests.len() == c.events.len();
        let Some(last_updated) = convert::date_ascii(view.last_updated).filter(|_| sendable) else {
            return Err(view);
        };
        let recorded_at = convert::timestamp(c.recorded_at);
        let revision_len = varint_len(1, c.version)
            + varint_len(2, c.global_position)
            + message_len(3, timestamp_len(&recorded_at))
            + text_len(4, c.actor().len())
            + text_len(5, c.reason().len())
            + c.events
                .iter()
                .map(|e| message_len(6, e.kind().len()))
                .sum::<usize>()
            + text_len(7, 2 * c.hash().len())
            + text_len(8, last_updated.len());
        let events: usize = c
            .events
            .iter()
            .map(|e| message_len(5, event_len(c, e)))
            .sum();
        let commit_len = text_len(1, ID_TEXT)
            + message_len(2, revision_len)
            + text_len(3, ID_TEXT)
            + message_len(4, c.provenance().len())
            + events
            + text_len(6, 2 * c.prev_hash().len())
            + text_len(7, 2 * view.log_hash.len())
            + text_len(8, 2 * c.request_hash().len())
            + varint_len(9, ENCODING)
            + text_len(10, 2 * c.reason_salt().len())
            + text_len(11, 2 * c.answer_salt().len())
            + text_len(12, 2 * c.answer_digest().len());
        Ok(Self {
            view: *view,
            last_updated,
            recorded_at,
            revision_len,
            commit_len,
        })
    }

    /// The `Commit` message `convert::commit` would make, as prost writes
    /// it: fields in number order (a oneof where its lowest number falls),
    /// empty text and zero numbers left out, a set message always written.
    pub(super) fn write(&self, buf: &mut impl BufMut) {
        let view = &self.view;
        let c = &view.commit;
        put_text(buf, 1, &c.article_id.text_ascii());
        put_message_head(buf, 2, self.revision_len);
        {
            put_varint(buf, 1, c.version);
            put_varint(buf, 2, c.global_position);
            put_message_head(buf, 3, timestamp_len(&self.recorded_at));
            put_timestamp(buf, &self.recorded_at);
            put_text(buf, 4, c.actor());
            put_text(buf, 5, c.reason());
            for event in &c.events {
                // Repeated: each written, even an empty one.
                put_message_head(buf, 6, event.kind().len());
                buf.put_slice(event.kind().as_bytes());
            }
            put_hex(buf, 7, c.hash());
            put_text(buf, 8, &self.last_updated);
        }
        put_text(buf, 3, &c.command_id.text_ascii());
        // A commit's provenance: the stored record's fields and numbers,
        // the review's version (4) left at 0.
        put_message_head(buf, 4, c.provenance().len());
        buf.put_slice(c.provenance());
        for (event, digest) in c.events.iter().zip(&view.payload_digests) {
            put_message_head(buf, 5, event_len(c, event));
            put_text(buf, 1, event.kind().as_bytes());
            let content = c.content(event);
            put_message_head(
                buf,
                payload_number(event).unwrap_or_default(),
                content.len(),
            );
            buf.put_slice(content);
            put_hex(buf, 18, digest);
            put_hex(buf, 20, c.salt(event));
        }
        put_hex(buf, 6, c.prev_hash());
        put_hex(buf, 7, &view.log_hash);
        put_hex(buf, 8, c.request_hash());
        put_varint(buf, 9, ENCODING);
        put_hex(buf, 10, c.reason_salt());
        put_hex(buf, 11, c.answer_salt());
        put_hex(buf, 12, c.answer_digest());
    }
}

/// The length of an id's text.
const ID_TEXT: usize = 36;

/// The encoding of a commit read in place: 2 (`codec::CommitBytes`).
const ENCODING: u64 = 2;

/// The length of an `Event` message of `event` (no redaction).
fn event_len(c: &CommitBytes, event: &EventBytes) -> usize {
    text_len(1, event.kind().len())
        + message_len(
            payload_number(event).unwrap_or_default(),
            c.content(event).len(),
        )
        + text_len(18, 2 * HASH)
        + text_len(20, 2 * c.salt(event).len())
}

/// A payload digest's length.
const HASH: usize = 32;

fn timestamp_len(t: &prost_types::Timestamp) -> usize {
    varint_len(1, t.seconds as u64) + varint_len(2, i64::from(t.nanos) as u64)
}

fn put_timestamp(buf: &mut impl BufMut, t: &prost_types::Timestamp) {
    put_varint(buf, 1, t.seconds as u64);
    put_varint(buf, 2, i64::from(t.nanos) as u64);
}

/// A string or bytes field of `len` bytes: left out when empty.
fn text_len(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        message_len(tag, len)
    }
}

/// A length-delimited field of `len` bytes, written even when empty.
pub(super) fn message_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// An integer field: left out when zero.
fn varint_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(value)
    }
}

fn put_message_head(buf: &mut impl BufMut, tag: u32, len: usize) {
    encoding::encode_key(tag, WireType::LengthDelimited, buf);
    encoding::encode_varint(len as u64, buf);
}

fn put_text(buf: &mut impl BufMut, tag: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_message_head(buf, tag, bytes.len());
        buf.put_slice(bytes);
    }
}

/// Bytes as lowercase hex text: left out when empty.
fn put_hex(buf: &mut impl BufMut, tag: u32, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    put_message_head(buf, tag, 2 * bytes.len());
    let mut text = [0u8; 2 * HASH];
    for chunk in bytes.chunks(HASH) {
        let text = &mut text[..2 * chunk.len()];
        // The lengths agree by construction.
        let _ = const_hex::encode_to_slice(chunk, text);
        buf.put_slice(text);
    }
}

fn put_varint(buf: &mut impl BufMut, tag: u32, value: u64) {
    if value != 0 {
        encoding::encode_key(tag, WireType::Varint, buf);
        encoding::encode_varint(value, buf);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message;

    use super::super::pb::stream_events_response::Item;
    use super::super::pb::{Commit, StreamEventsResponse};
    use super::*;

    use crate::codec::{commit_bytes, encode_commit};
    use crate::domain::{commit_event_digests, Commit as DomainCommit};
    use crate::golden_tests::{history, redacted, salted};

    /// `commit` as the follower reads it: its record's slices, its digests
    /// as the writer keeps them, a log hash and the date it leaves.
    fn stored(commit: &DomainCommit) -> Option<StoredView> {
        let bytes = commit_bytes(Bytes::from(encode_commit(commit)))?;
        Some(StoredView::new(
            bytes,
            [0x3c; 32],
            commit_event_digests(commit),
            chrono::NaiveDate::from_ymd_opt(2026, 4, 9).expect("a date"),
        ))
    }

    #[test]
    fn a_commit_made_from_its_record_is_the_converted_one_byte_for_byte() {
        let mut made = 0;
        let mut kinds = std::collections::BTreeSet::new();
        // Each commit of the history, and each with only its events of
        // the kinds sent as stored (a kind may come only beside others).
        let only_same = |mut c: DomainCommit| {
            let keep: Vec<bool> = c
                .events
                .iter()
                .map(|e| {
                    !matches!(
                        e.kind(),
                        "ArticleCreated"
                            | "SectionAdded"
                            | "SourceAdded"
                            | "SourceEdited"
                            | "ArticleRedated"
                            | "OriginClaimed"
                    )
                })
                .collect();
            let mut k = keep.iter();
            c.events.retain(|_| *k.next().expect("one each"));
            if let Some(salts) = c.salts.as_mut() {
                let mut k = keep.iter();
                salts.events.retain(|_| *k.next().expect("one each"));
            }
            c
        };
        let commits = salted(history());
        let trimmed: Vec<DomainCommit> = commits
            .iter()
            .cloned()
            .map(only_same)
            .filter(|c| !c.events.is_empty())
            .collect();
        for commit in commits.into_iter().chain(trimmed) {
            let Some(view) = stored(&commit) else {
                continue;
            };
            let converted = convert::commit(view.clone().into_view().expect("it decodes"));
            match StoredCommit::new(Box::new(view.clone())) {
                Ok(stored) => {
                    made += 1;
                    kinds.extend(view.commit.kinds());
                    let mut bytes = Vec::new();
                    stored.write(&mut bytes);
                    assert_eq!(bytes.len(), stored.commit_len);
                    assert_eq!(bytes, converted.encode_to_vec(), "{commit:?}");
                    assert_eq!(Commit::decode(&bytes[..]).expect("it decodes"), converted);
                }
                Err(_) => assert!(!view.commit.flat(), "a flat commit is sent as stored"),
            }
            // The response either way is the generated message's.
            let response = StreamEventsResponse::stored(Box::new(view)).expect("it converts");
            let generated = StreamEventsResponse::new(Item::Commit(converted));
            assert_eq!(response.encode_to_vec(), generated.encode_to_vec());
            assert_eq!(response, generated);
        }
        assert_eq!(kinds.len(), PAYLOAD_NUMBERS.len(), "{kinds:?}");
        assert!(made > 0);
    }

    #[test]
    fn a_redacted_commit_is_not_read_as_slices() {
        for commit in redacted(salted(history())) {
            if !commit.redactions.is_empty() {
                assert!(stored(&commit).is_none());
            }
        }
    }

    #[test]
    fn the_kinds_sent_as_stored_are_alike_in_both_schemas() {
        let pool = super::super::descriptors();
        let message = |name: &str| {
            pool.get_message_by_name(&format!("answerlog.v1.{name}"))
                .expect("in the descriptors")
        };
        let (record, api) = (message("EventRecord"), message("Event"));
        let field_shape = |f: prost_reflect::FieldDescriptor| {
            let kind = format!("{:?}", f.kind());
            (
                f.number(),
                kind,
                f.cardinality(),
                f.supports_presence(),
                f.is_packed(),
            )
        };
        let shape =
            |m: &prost_reflect::MessageDescriptor| m.fields().map(field_shape).collect::<Vec<_>>();
        for (kind, number) in PAYLOAD_NUMBERS {
            let sent = api.get_field(number).expect("a payload");
            let stored = record
                .get_field_by_name(sent.name())
                .unwrap_or_else(|| panic!("{kind}: a kind of both"));
            assert_eq!(
                sent.kind().as_message().map(|m| m.name().to_owned()),
                Some(format!("{kind}Event")),
                "{kind}: the API's number"
            );
            let (Some(stored), Some(sent)) = (
                stored.kind().as_message().cloned(),
                sent.kind().as_message().cloned(),
            ) else {
                panic!("{kind}: both are messages");
            };
            assert_eq!(stored.name(), kind, "the stored kind");
            assert_eq!(shape(&stored), shape(&sent), "{kind}");
        }
        // And a commit's provenance: the record's fields are the first of
        // the API's, the review's version (last) left out. (The wire knows
        // numbers and types, not names: PayloadRedacted's `event` is the
        // API's `event_index`.)
        let sent = shape(&message("Provenance"));
        assert_eq!(
            shape(&message("ProvenanceRecord"))[..],
            sent[..sent.len() - 1]
        );
        let last = message("Provenance").get_field(sent.len() as u32);
        assert_eq!(
            last.map(|f| f.name().to_owned()).as_deref(),
            Some("reviewed_version")
        );
    }
}
