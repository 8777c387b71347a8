//! StreamEvents' response, a commit's made from its stored bytes.
//!
//! A catch-up sends every commit of the log. Decoding each stored record
//! into the domain's commit, converting that into the API's message and
//! encoding it again allocates and copies every string twice and checks
//! its UTF-8: most of the server's work a streamed commit. Most events'
//! messages are the same on the wire in the stored schema and in the API
//! (`SAME_ON_THE_WIRE`, checked against the descriptors by a test), so
//! a commit whose events are all of those kinds is written here from the
//! slices of its record (`codec::CommitBytes`): its text and events'
//! contents copied once, as stored, its ids and hashes written as text.
//! The result is exactly the bytes the generated message would encode
//! (a test holds every kind to that); any other commit is converted as
//! before.
//!
//! So this message type is written by hand (build.rs maps
//! `answerlog.v1.StreamEventsResponse` here), as `GetAnswerResponse` is:
//! a client decodes it into `item` as it would the generated type.

use bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use super::convert;
use super::pb::{Commit, Heartbeat};
use crate::app::StoredView;
use crate::codec::{CommitBytes, EventBytes};

/// The oneof of `StreamEventsResponse`.
pub mod stream_events_response {
    /// What the response carries. Shaped as prost generates a oneof
    /// (clients match on it by value), the commit not boxed.
    #[derive(Clone, PartialEq, Debug)]
    #[allow(clippy::large_enum_variant)]
    pub enum Item {
        /// A commit: revision.global_position and log_hash let a client
        /// resume after a disconnect and check what it got.
        Commit(super::Commit),
        /// Sent while there is nothing to send, so that idle can be told
        /// from stalled.
        Heartbeat(super::Heartbeat),
    }
}

use stream_events_response::Item;

/// `answerlog.v1.StreamEventsResponse`.
#[derive(Clone, Default)]
pub struct StreamEventsResponse {
    /// The commit or heartbeat; `None` in a response made from a stored
    /// commit, until it is decoded.
    pub item: Option<Item>,
    /// A commit to write from its stored bytes, as the `commit` item.
    stored: Option<Box<Stored>>,
}

impl StreamEventsResponse {
    pub(crate) fn new(item: Item) -> Self {
        Self {
            item: Some(item),
            stored: None,
        }
    }

    /// The response for a commit as the log stores it: written from its
    /// stored bytes where its events allow, else converted in full.
    pub(crate) fn stored(view: Box<StoredView>) -> Result<Self, crate::app::AppError> {
        Ok(match Stored::new(view) {
            Ok(stored) => Self {
                item: None,
                stored: Some(Box::new(stored)),
            },
            Err(view) => Self::new(Item::Commit(convert::commit(view.into_view()?))),
        })
    }

    /// The item, decoded from the bytes it is written as when it was
    /// made from a stored commit.
    fn decoded_item(&self) -> Option<Item> {
        match (&self.item, &self.stored) {
            (Some(item), _) => Some(item.clone()),
            (None, Some(stored)) => {
                let mut bytes = Vec::with_capacity(stored.commit_len);
                stored.write(&mut bytes);
                Commit::decode(&bytes[..]).ok().map(Item::Commit)
            }
            (None, None) => None,
        }
    }
}

impl std::fmt::Debug for StreamEventsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEventsResponse")
            .field("item", &self.decoded_item())
            .finish()
    }
}

impl PartialEq for StreamEventsResponse {
    fn eq(&self, other: &Self) -> bool {
        self.decoded_item() == other.decoded_item()
    }
}

impl Message for StreamEventsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match (&self.stored, &self.item) {
            (Some(stored), _) => {
                encoding::encode_key(1, WireType::LengthDelimited, buf);
                encoding::encode_varint(stored.commit_len as u64, buf);
                stored.write(buf);
            }
            (None, Some(Item::Commit(commit))) => encoding::message::encode(1, commit, buf),
            (None, Some(Item::Heartbeat(beat))) => encoding::message::encode(2, beat, buf),
            (None, None) => {}
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let pushed = |field: &'static str| {
            move |mut e: DecodeError| {
                e.push("StreamEventsResponse", field);
                e
            }
        };
        if matches!(tag, 1 | 2) && self.item.is_none() {
            // One kept encoded is decoded first: a later field of the
            // oneof merges into it or replaces it, as protobuf says.
            self.item = self.decoded_item();
        }
        match tag {
            1 => {
                self.stored = None;
                if !matches!(self.item, Some(Item::Commit(_))) {
                    self.item = Some(Item::Commit(Commit::default()));
                }
                let Some(Item::Commit(commit)) = self.item.as_mut() else {
                    unreachable!("set just above")
                };
                encoding::message::merge(wire_type, commit, buf, ctx).map_err(pushed("item"))
            }
            2 => {
                self.stored = None;
                if !matches!(self.item, Some(Item::Heartbeat(_))) {
                    self.item = Some(Item::Heartbeat(Heartbeat::default()));
                }
                let Some(Item::Heartbeat(beat)) = self.item.as_mut() else {
                    unreachable!("set just above")
                };
                encoding::message::merge(wire_type, beat, buf, ctx).map_err(pushed("item"))
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        match (&self.stored, &self.item) {
            (Some(stored), _) => message_len(1, stored.commit_len),
            (None, Some(Item::Commit(commit))) => encoding::message::encoded_len(1, commit),
            (None, Some(Item::Heartbeat(beat))) => encoding::message::encoded_len(2, beat),
            (None, None) => 0,
        }
    }

    fn clear(&mut self) {
        self.item = None;
        self.stored = None;
    }
}

/// The kinds whose message is the same on the wire in the stored schema
/// (`EventRecord`'s `kind`) and in the API (`Event`'s `payload`): the
/// number of each in the one and in the other. The rest (a creation, a
/// section's or a source's addition or edit, a re-dating, claims) differ
/// and are converted.
const SAME_ON_THE_WIRE: [(u32, u32); 14] = [
    (2, 3),   // QuickAnswerEdited
    (3, 4),   // KeyFactsReplaced
    (5, 6),   // SectionEdited
    (6, 7),   // SectionRemoved
    (7, 8),   // SectionMoved
    (9, 10),  // SourceRemoved
    (11, 12), // QuestionEdited
    (12, 13), // SlugChanged
    (14, 15), // ArticleReviewed
    (15, 16), // ArticleRetracted
    (16, 17), // ArticleRestored
    (17, 19), // ReviewLapsed
    (18, 21), // PayloadRedacted
    (20, 24), // SlugAliased
];

fn api_payload_number(record_kind: u32) -> Option<u32> {
    SAME_ON_THE_WIRE
        .iter()
        .find(|(record, _)| *record == record_kind)
        .map(|(_, api)| *api)
}

/// A stored commit, with the lengths of the `Commit` message it is
/// written as and of that message's revision.
#[derive(Clone)]
struct Stored {
    view: StoredView,
    last_updated: [u8; 10],
    recorded_at: prost_types::Timestamp,
    revision_len: usize,
    commit_len: usize,
}

impl Stored {
    /// `view` to write, unless one of its events is not of a kind
    /// `SAME_ON_THE_WIRE` or its date has no ten-byte text.
    fn new(view: Box<StoredView>) -> Result<Self, Box<StoredView>> {
        let c = &view.commit;
        let sendable = c
            .events
            .iter()
            .all(|e| api_payload_number(e.record_kind).is_some());
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
    fn write(&self, buf: &mut impl BufMut) {
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
            put_message_head(buf, payload_number(event), content.len());
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

fn payload_number(event: &EventBytes) -> u32 {
    api_payload_number(event.record_kind).unwrap_or_default()
}

/// The length of an `Event` message of `event` (no redaction).
fn event_len(c: &CommitBytes, event: &EventBytes) -> usize {
    text_len(1, event.kind().len())
        + message_len(payload_number(event), c.content(event).len())
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
fn message_len(tag: u32, len: usize) -> usize {
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
    use super::*;
    use bytes::Bytes;

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
            match Stored::new(Box::new(view.clone())) {
                Ok(stored) => {
                    made += 1;
                    kinds.extend(view.commit.kinds());
                    let mut bytes = Vec::new();
                    stored.write(&mut bytes);
                    assert_eq!(bytes.len(), stored.commit_len);
                    assert_eq!(bytes, converted.encode_to_vec(), "{commit:?}");
                    assert_eq!(Commit::decode(&bytes[..]).expect("it decodes"), converted);
                }
                Err(_) => assert!(view
                    .commit
                    .events
                    .iter()
                    .any(|e| api_payload_number(e.record_kind).is_none())),
            }
            // The response either way is the generated message's.
            let response = StreamEventsResponse::stored(Box::new(view)).expect("it converts");
            let generated = StreamEventsResponse::new(Item::Commit(converted));
            assert_eq!(response.encode_to_vec(), generated.encode_to_vec());
        }
        assert_eq!(kinds.len(), SAME_ON_THE_WIRE.len(), "{kinds:?}");
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
        let record = pool
            .get_message_by_name("answerlog.v1.EventRecord")
            .expect("in the descriptors");
        let api = pool
            .get_message_by_name("answerlog.v1.Event")
            .expect("in the descriptors");
        for (stored, sent) in SAME_ON_THE_WIRE {
            let stored = record.get_field(stored).expect("a kind");
            let sent = api.get_field(sent).expect("a payload");
            assert_eq!(stored.name(), sent.name(), "the same kind");
            let (Some(stored), Some(sent)) = (
                stored.kind().as_message().cloned(),
                sent.kind().as_message().cloned(),
            ) else {
                panic!("both are messages");
            };
            let shape = |m: &prost_reflect::MessageDescriptor| {
                m.fields()
                    .map(|f| (f.number(), format!("{:?}", f.kind()), f.cardinality()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(shape(&stored), shape(&sent), "{}", stored.name());
        }
        // And a commit's provenance: the record's fields are the first of
        // the API's, the review's version left out.
        let stored = pool
            .get_message_by_name("answerlog.v1.ProvenanceRecord")
            .expect("in the descriptors");
        let sent = pool
            .get_message_by_name("answerlog.v1.Provenance")
            .expect("in the descriptors");
        for field in stored.fields() {
            let other = sent.get_field(field.number()).expect("the same number");
            assert_eq!(field.name(), other.name());
            assert_eq!(format!("{:?}", field.kind()), format!("{:?}", other.kind()));
        }
    }

    #[test]
    fn a_response_decodes_as_the_generated_one_would() {
        let beat = StreamEventsResponse::new(Item::Heartbeat(Heartbeat {
            last_position: 7,
            at: None,
        }));
        let bytes = beat.encode_to_vec();
        assert_eq!(StreamEventsResponse::decode(&bytes[..]).unwrap(), beat);
        // Two items: the last wins, as protobuf reads a oneof.
        let commit = StreamEventsResponse::new(Item::Commit(Commit {
            article_id: "x".into(),
            ..Default::default()
        }));
        let both = [commit.encode_to_vec(), bytes.clone()].concat();
        assert_eq!(StreamEventsResponse::decode(&both[..]).unwrap(), beat);
        let both = [bytes, commit.encode_to_vec()].concat();
        assert_eq!(StreamEventsResponse::decode(&both[..]).unwrap(), commit);
    }
}
