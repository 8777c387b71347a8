//! A commit's stored bytes read in place: the envelope's numbers and ids
//! decoded, its text, hashes, salts and each event's content left where
//! the record holds them. What a stream sends of a commit is made from
//! these without decoding the content into text and encoding it again
//! (src/grpc/stored_commit.rs); a commit that cannot be read so is
//! decoded in full (`decode_commit`), which also says what is wrong with
//! a record that is.
//!
//! Knows the persisted schema's numbers, no API message. What is not
//! checked here: the text's UTF-8 and the nested messages (a provenance,
//! an event's content), which are taken as prost's canonical encoding of
//! valid values. Every record in the log is `encode_commit`'s encoding
//! of a commit (the writer's, a replica's ingest, a restore, a
//! migration's copy), and the log's files check each record's bytes
//! (`store/log_files.rs`).

use std::ops::Range;

use bytes::Bytes;
use prost::encoding::{decode_key, decode_varint, WireType};

use super::from_micros;
use crate::domain::{ArticleId, CommandId};

/// One event of a stored commit: its kind (its number in `EventRecord`),
/// where that kind's message lies in the record, and its salt's place.
#[derive(Clone, Debug)]
pub(crate) struct EventBytes {
    record_kind: u32,
    content: Range<usize>,
    salt: Range<usize>,
}

impl EventBytes {
    /// The kind's name, as `Event::kind` gives it.
    pub(crate) fn kind(&self) -> &'static str {
        KINDS[self.record_kind as usize - 1]
    }
}

/// A stored commit (`CommitRecord`) read in place. Only a commit of
/// encoding 2 none of whose events was redacted reads so: its salts are
/// all there, 32 bytes each, as are its request hash and ids.
#[derive(Clone, Debug)]
pub(crate) struct CommitBytes {
    record: Bytes,
    pub(crate) article_id: ArticleId,
    pub(crate) version: u64,
    pub(crate) global_position: u64,
    pub(crate) recorded_at: chrono::DateTime<chrono::Utc>,
    pub(crate) command_id: CommandId,
    pub(crate) events: Vec<EventBytes>,
    actor: Range<usize>,
    reason: Range<usize>,
    provenance: Range<usize>,
    prev_hash: Range<usize>,
    hash: Range<usize>,
    request_hash: Range<usize>,
    reason_salt: Range<usize>,
    answer_salt: Range<usize>,
    answer_digest: Range<usize>,
}

impl CommitBytes {
    /// Whether an event sets the date the article shows: its date is then
    /// read from the decoded commit.
    pub(crate) fn sets_date(&self) -> bool {
        self.events
            .iter()
            .any(|e| SETS_DATE.contains(&e.record_kind))
    }

    /// Whether every event's kind holds only text and numbers (`FLAT`):
    /// a message that can be sent as stored, where the API's message of
    /// the kind is the same on the wire.
    pub(crate) fn flat(&self) -> bool {
        self.events.iter().all(|e| FLAT.contains(&e.record_kind))
    }

    /// The kinds of its events, in order.
    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(EventBytes::kind).collect()
    }

    /// The record's whole bytes.
    pub(crate) fn record(&self) -> &Bytes {
        &self.record
    }

    /// The actor's text (UTF-8).
    pub(crate) fn actor(&self) -> &[u8] {
        &self.record[self.actor.clone()]
    }

    /// The reason's text (UTF-8).
    pub(crate) fn reason(&self) -> &[u8] {
        &self.record[self.reason.clone()]
    }

    /// A `ProvenanceRecord`'s encoding; empty when the commit has none.
    pub(crate) fn provenance(&self) -> &[u8] {
        &self.record[self.provenance.clone()]
    }

    pub(crate) fn prev_hash(&self) -> &[u8] {
        &self.record[self.prev_hash.clone()]
    }

    pub(crate) fn hash(&self) -> &[u8] {
        &self.record[self.hash.clone()]
    }

    /// 32 bytes.
    pub(crate) fn request_hash(&self) -> &[u8] {
        &self.record[self.request_hash.clone()]
    }

    /// 32 bytes.
    pub(crate) fn reason_salt(&self) -> &[u8] {
        &self.record[self.reason_salt.clone()]
    }

    /// 32 bytes, or empty when the commit keeps none.
    pub(crate) fn answer_salt(&self) -> &[u8] {
        &self.record[self.answer_salt.clone()]
    }

    /// 32 bytes, or empty when the commit keeps none.
    pub(crate) fn answer_digest(&self) -> &[u8] {
        &self.record[self.answer_digest.clone()]
    }

    /// The encoding of `event`'s kind's message.
    pub(crate) fn content(&self, event: &EventBytes) -> &[u8] {
        &self.record[event.content.clone()]
    }

    /// `event`'s salt: 32 bytes.
    pub(crate) fn salt(&self, event: &EventBytes) -> &[u8] {
        &self.record[event.salt.clone()]
    }
}

/// The kinds of `EventRecord`, by their number in its `kind` oneof, as
/// the domain names them (`Event::kind`).
const KINDS: [&str; 20] = [
    "ArticleCreated",
    "QuickAnswerEdited",
    "KeyFactsReplaced",
    "SectionAdded",
    "SectionEdited",
    "SectionRemoved",
    "SectionMoved",
    "SourceAdded",
    "SourceRemoved",
    "ArticleRedated",
    "QuestionEdited",
    "SlugChanged",
    "SourceEdited",
    "ArticleReviewed",
    "ArticleRetracted",
    "ArticleRestored",
    "ReviewLapsed",
    "PayloadRedacted",
    "OriginClaimed",
    "SlugAliased",
];

/// The record numbers of the kinds that set the date an article shows
/// (`Commit::date_set`): ArticleCreated and ArticleRedated.
const SETS_DATE: [u32; 2] = [1, 10];

/// The record numbers of the kinds whose message holds only text and
/// numbers, no message of its own: all but ArticleCreated, SectionAdded,
/// SourceAdded, SourceEdited and OriginClaimed.
const FLAT: [u32; 15] = [2, 3, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20];

/// A field of a record: a number, or where its bytes lie.
enum Value {
    Varint(u64),
    Bytes(Range<usize>),
}

/// Each field of the protobuf message `bytes[within]` in order, with its
/// number, given to `field`; `None` where they do not read or `field`
/// refuses one.
fn each_field(
    bytes: &[u8],
    within: Range<usize>,
    mut field: impl FnMut(u32, Value) -> Option<()>,
) -> Option<()> {
    let mut rest = bytes.get(within.clone())?;
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest).ok()?;
        let value = match wire_type {
            WireType::Varint => Value::Varint(decode_varint(&mut rest).ok()?),
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut rest).ok()?).ok()?;
                let start = within.end - rest.len();
                rest = rest.get(len..)?;
                Value::Bytes(start..start + len)
            }
            _ => return None,
        };
        field(tag, value)?;
    }
    Some(())
}

/// An `EventRecord` at `within`: its one kind's number and where that
/// kind's message lies.
fn event_kind(bytes: &[u8], within: Range<usize>) -> Option<(u32, Range<usize>)> {
    let mut kind = None;
    each_field(bytes, within, |tag, value| match (tag, value, &kind) {
        (1..=20, Value::Bytes(content), None) => {
            kind = Some((tag, content));
            Some(())
        }
        _ => None,
    })?;
    kind
}

/// `record` (a `CommitRecord`) read in place; `None` for a commit of
/// encoding 1, one with a redacted event, and any record that does not
/// read as `decode_commit` would read it: those are decoded in full.
pub(crate) fn commit_bytes(record: Bytes) -> Option<CommitBytes> {
    let mut numbers = [0u64; 3];
    let mut ranges: [Option<Range<usize>>; 17] = Default::default();
    let mut events = Vec::new();
    let mut event_salts = Vec::new();
    each_field(&record, 0..record.len(), |tag, value| {
        match (tag, value) {
            // version, global_position, recorded_at_micros: once each.
            (2..=4, Value::Varint(v)) if numbers[tag as usize - 2] == 0 => {
                numbers[tag as usize - 2] = v;
            }
            (11, Value::Bytes(event)) => events.push(event),
            (14, Value::Bytes(salt)) => event_salts.push(salt),
            (1 | 5..=10 | 12 | 13 | 15 | 17, Value::Bytes(range))
                if ranges[tag as usize - 1].is_none() =>
            {
                ranges[tag as usize - 1] = Some(range);
            }
            // Redactions (16), and anything unknown or given twice.
            _ => return None,
        }
        Some(())
    })?;
    let [version, global_position, micros] = numbers;
    let field = |tag: usize| ranges[tag - 1].clone().unwrap_or(0..0);
    let sized = |tag: usize, lens: &[usize]| Some(field(tag)).filter(|r| lens.contains(&r.len()));
    if events.is_empty() || event_salts.len() != events.len() {
        return None;
    }
    let events = events
        .into_iter()
        .zip(event_salts)
        .map(|(event, salt)| {
            let (record_kind, content) = event_kind(&record, event)?;
            (salt.len() == 32).then_some(EventBytes {
                record_kind,
                content,
                salt,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let answer_salt = sized(15, &[0, 32])?;
    let answer_digest = sized(17, &[0, 32])?;
    if !answer_salt.is_empty() && !answer_digest.is_empty() {
        return None;
    }
    Some(CommitBytes {
        article_id: ArticleId::from_slice(&record[sized(1, &[16])?])?,
        version,
        global_position,
        recorded_at: from_micros("commit", micros as i64).ok()?,
        command_id: CommandId::from_slice(&record[sized(7, &[16])?])?,
        events,
        actor: field(5),
        reason: field(6),
        provenance: field(8),
        prev_hash: field(9),
        hash: field(10),
        request_hash: sized(12, &[32])?,
        reason_salt: sized(13, &[32])?,
        answer_salt,
        answer_digest,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_commit, encode_commit};
    use crate::golden_tests::{history, history_v1, redacted, salted};

    fn read(commit: &crate::domain::Commit) -> Option<CommitBytes> {
        commit_bytes(Bytes::from(encode_commit(commit)))
    }

    #[test]
    fn every_kind_is_named_as_the_domain_names_it() {
        let mut named = std::collections::BTreeSet::new();
        for commit in salted(history()) {
            let b = read(&commit).expect("encoding 2, nothing redacted");
            let domain: Vec<&str> = commit.events.iter().map(|e| e.kind()).collect();
            assert_eq!(b.kinds(), domain);
            assert_eq!(b.sets_date(), commit.date_set().is_some(), "{domain:?}");
            let nested = [
                "ArticleCreated",
                "SectionAdded",
                "SourceAdded",
                "SourceEdited",
                "OriginClaimed",
            ];
            assert_eq!(
                b.flat(),
                !domain.iter().any(|k| nested.contains(k)),
                "{domain:?}"
            );
            named.extend(domain);
        }
        assert_eq!(named.len(), KINDS.len(), "the history has every kind");
    }

    #[test]
    fn the_slices_are_what_the_full_decoding_reads() {
        for commit in salted(history()) {
            let encoded = Bytes::from(encode_commit(&commit));
            let b = commit_bytes(encoded.clone()).unwrap();
            let c = decode_commit(encoded).unwrap();
            assert_eq!(b.article_id, c.article_id);
            assert_eq!(
                (b.version, b.global_position),
                (c.version, c.global_position)
            );
            assert_eq!(b.recorded_at, c.recorded_at);
            assert_eq!(b.actor(), c.actor.as_bytes());
            assert_eq!(b.reason(), c.reason.as_bytes());
            assert_eq!(b.command_id, c.command_id);
            assert_eq!(b.prev_hash(), &c.prev_hash[..]);
            assert_eq!(b.hash(), &c.hash[..]);
            assert_eq!(b.request_hash(), &c.request_hash[..]);
            let salts = c.salts.as_ref().expect("encoding 2");
            assert_eq!(b.reason_salt(), &salts.reason[..]);
            let event_salts: Vec<&[u8]> = b.events.iter().map(|e| b.salt(e)).collect();
            let expected: Vec<&[u8]> = salts.events.iter().map(|s| &s[..]).collect();
            assert_eq!(event_salts, expected);
            assert_eq!(
                b.answer_salt(),
                salts.answer.as_ref().map_or(&[][..], |s| &s[..])
            );
            assert_eq!(
                b.answer_digest(),
                c.answer_digest.as_ref().map_or(&[][..], |d| &d[..])
            );
            assert_eq!(&b.record()[..], &encode_commit(&c)[..]);
        }
    }

    #[test]
    fn encoding_1_and_redacted_commits_are_left_to_the_full_decoding() {
        for commit in history_v1() {
            assert!(read(&commit).is_none(), "encoding 1");
        }
        let redacted = redacted(salted(history()));
        let with = redacted.iter().filter(|c| !c.redactions.is_empty());
        assert!(with.clone().count() > 0, "the history redacts");
        for commit in with {
            assert!(read(commit).is_none(), "redacted");
        }
    }

    #[test]
    fn a_damaged_record_reads_as_the_full_decoding_reads_it_or_not_at_all() {
        for commit in salted(history()) {
            let encoded = encode_commit(&commit);
            // Every prefix, and each byte flipped in turn: never a panic,
            // and where both read it, both read the same. (Text is not
            // checked here: the log's files check each record's bytes.)
            let check = |bytes: Vec<u8>| {
                let (Some(b), Ok(c)) = (
                    commit_bytes(Bytes::from(bytes.clone())),
                    decode_commit(Bytes::from(bytes)),
                ) else {
                    return;
                };
                assert_eq!((b.article_id, b.command_id), (c.article_id, c.command_id));
                assert_eq!(
                    (b.version, b.global_position),
                    (c.version, c.global_position)
                );
                assert_eq!(b.recorded_at, c.recorded_at);
                assert_eq!(
                    (b.actor(), b.reason()),
                    (c.actor.as_bytes(), c.reason.as_bytes())
                );
                assert_eq!((b.prev_hash(), b.hash()), (&c.prev_hash[..], &c.hash[..]));
                let kinds: Vec<&str> = c.events.iter().map(|e| e.kind()).collect();
                assert_eq!(b.kinds(), kinds);
            };
            for end in 0..encoded.len() {
                check(encoded[..end].to_vec());
            }
            for at in 0..encoded.len() {
                let mut flipped = encoded.clone();
                flipped[at] ^= 0xff;
                check(flipped);
            }
        }
    }
}
