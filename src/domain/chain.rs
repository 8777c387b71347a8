//! The hash chains of docs/AUDIT.md: each commit's hash over its article's
//! previous hash, its envelope (without the global position) and a digest of
//! each event's payload; and the log chain over commits in log order.
//!
//! The canonical encoding is written out here field by field; it does not
//! rely on protobuf. Any change to it is a new version tag, never an edit.

use sha2::{Digest, Sha256};

use super::article::{Article, Provenance, Section, Source, Status};
use super::commit::Commit;
use super::event::{Event, OriginClaims};

/// A SHA-256 value.
pub(crate) type Hash = [u8; 32];

/// The hash before the first: 32 zero bytes.
pub(crate) const ZERO_HASH: Hash = [0; 32];

const COMMIT_TAG: &str = "answerlog.commit.v1";
const EVENT_TAG: &str = "answerlog.event.v1";
const LOG_TAG: &str = "answerlog.log.v1";
const DIGEST_TAG: &str = "answerlog.digest.v1";
const ANSWER_TAG: &str = "answerlog.answer.v1";
const ANSWER_V2_TAG: &str = "answerlog.answer.v2";

/// The commit's hash: SHA-256 of `prev_hash` and its canonical bytes, in
/// the encoding the commit was written in (v1, or v2 with salts). (The
/// code's callers take the digests with it: `commit_hash_and_digests`.)
#[cfg(test)]
pub(crate) fn commit_hash(prev_hash: &Hash, commit: &Commit) -> Hash {
    commit_hash_and_digests(prev_hash, commit).0
}

/// The commit's hash and the event digests it covers, each made once: the
/// writer keeps the digests beside the log chain, so that a reader need
/// not hash the events again (`commit_event_digests` gives the same).
pub(crate) fn commit_hash_and_digests(prev_hash: &Hash, commit: &Commit) -> (Hash, Vec<Hash>) {
    let digests = covered_digests(commit);
    (commit_hash_over(prev_hash, commit, &digests), digests)
}

/// The commit's hash over `digests`, its events' digests as the hash
/// covers them (`covered_digests`), made beforehand.
pub(crate) fn commit_hash_over(prev_hash: &Hash, commit: &Commit, digests: &[Hash]) -> Hash {
    let mut w = Canonical::default();
    write_commit_with(&mut w, prev_hash, commit, digests);
    w.finish()
}

/// Each event's digest as the commit's hash covers it. In encoding 2 a
/// salt missing stands in as zeros: a commit whose salts do not match its
/// events has no hash a verifier would recompute, and the codec refuses
/// such a record before it gets here.
fn covered_digests(commit: &Commit) -> Vec<Hash> {
    (0..commit.events.len())
        .map(|index| {
            commit_event_digest(commit, index)
                .unwrap_or_else(|| super::chain_v2::payload_digest(&commit.events[index], &[0; 32]))
        })
        .collect()
}

fn write_commit_with(w: &mut Canonical, prev_hash: &Hash, commit: &Commit, digests: &[Hash]) {
    match &commit.salts {
        None => write_commit(w, prev_hash, commit, digests),
        Some(salts) => super::chain_v2::write_commit(w, prev_hash, commit, salts, digests),
    }
}

/// The digest of each of `commit`'s events, in the commit's encoding (a
/// salt missing, which a decoded commit never lacks, leaves the rest out).
pub(crate) fn commit_event_digests(commit: &Commit) -> Vec<Hash> {
    (0..commit.events.len())
        .map_while(|index| commit_event_digest(commit, index))
        .collect()
}

/// The digest of event `index` of `commit`, in the commit's encoding.
pub(crate) fn commit_event_digest(commit: &Commit, index: usize) -> Option<Hash> {
    let event = commit.events.get(index)?;
    if let Some(redaction) = commit.redaction(index) {
        // The content is gone; its digest stands in (with the structure,
        // which stays, in encoding 2).
        return Some(match &commit.salts {
            None => redaction.digest,
            Some(_) => super::chain_v2::payload_digest_of(event, &redaction.digest),
        });
    }
    match &commit.salts {
        None => Some(event_digest(event)),
        Some(salts) => Some(super::chain_v2::payload_digest(
            event,
            salts.events.get(index)?,
        )),
    }
}

/// The digest of an answer as `GetAnswer` serves it (docs/AUDIT.md, "The
/// Merkle tree"): what a commit's Merkle leaf binds besides the commit's
/// hash, so that a receipt proves the content a reader was given.
/// `article` is the state after the commit at `global_position`, recorded
/// at `recorded_at`; `salt` is the commit's answer salt (leaf v2), or none
/// for a commit written before answers were salted (leaf v1).
pub(crate) fn answer_digest(
    article: &Article,
    global_position: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    salt: Option<&super::Salt>,
) -> Hash {
    let mut w = Canonical::default();
    write_answer(&mut w, article, global_position, recorded_at, salt);
    w.finish()
}

/// The answer digest of `commit`'s Merkle leaf: the one kept where a
/// redaction changed the answer after it, else that of `article`, the
/// state after it, under its answer salt (docs/AUDIT.md, "The Merkle
/// tree").
pub(crate) fn leaf_answer_digest(commit: &Commit, article: &Article) -> Hash {
    commit.answer_digest.unwrap_or_else(|| {
        answer_digest(
            article,
            commit.global_position,
            commit.recorded_at,
            commit.answer_salt(),
        )
    })
}

/// The canonical bytes themselves, for docs/audit-vectors.
#[cfg(test)]
pub(crate) mod vector_bytes {
    pub(crate) use super::answer_bytes as answer;
    pub(crate) use super::commit_bytes as commit;
    pub(crate) use super::event_bytes as event;
    pub(crate) use crate::domain::chain_v2::reason_digest;
    pub(crate) use crate::domain::chain_v2::vector_bytes as event_v2;
    pub(crate) use crate::domain::chain_v2::vector_bytes_of as event_v2_of;
}

/// The bytes [`answer_digest`] hashes (for docs/audit-vectors).
#[cfg(test)]
pub(crate) fn answer_bytes(
    article: &Article,
    global_position: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    salt: Option<&super::Salt>,
) -> Vec<u8> {
    let mut w = Canonical::recording();
    write_answer(&mut w, article, global_position, recorded_at, salt);
    w.recorded.unwrap_or_default()
}

/// An `Answer`'s fields in the order of its message, each as served
/// (the provenance's review only while it stands); the etag, derived from
/// the id and version, is left out. Salted (v2), the salt follows the tag,
/// so that a leaf cannot be matched against guesses at its answer.
fn write_answer(
    w: &mut Canonical,
    a: &Article,
    global_position: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    salt: Option<&super::Salt>,
) {
    match salt {
        None => w.string(ANSWER_TAG),
        Some(salt) => {
            w.string(ANSWER_V2_TAG);
            w.raw(salt);
        }
    }
    w.raw(a.id.as_bytes());
    w.string(&a.slug);
    w.string(&a.question);
    w.string(&a.quick_answer);
    w.strings(&a.key_facts);
    w.count(a.sections.len());
    for section in &a.sections {
        w.section(section);
    }
    w.count(a.sources.len());
    for source in &a.sources {
        w.source(source);
    }
    w.string(&a.last_updated.to_string());
    let (reviewed_by, reviewed_version) = a.standing_review().unwrap_or_default();
    w.bool(a.provenance.ai_assisted);
    w.string(&a.provenance.generator);
    w.string(reviewed_by);
    w.u64(reviewed_version);
    w.string(&a.disclaimer);
    w.string(match a.status {
        Status::Published => "ARTICLE_STATUS_PUBLISHED",
        Status::Retracted => "ARTICLE_STATUS_RETRACTED",
    });
    w.u64(a.version);
    w.u64(global_position);
    w.i64(recorded_at.timestamp_micros());
}

/// The bytes [`commit_hash`] hashes (for docs/audit-vectors).
#[cfg(test)]
pub(crate) fn commit_bytes(prev_hash: &Hash, commit: &Commit) -> Vec<u8> {
    let mut w = Canonical::recording();
    write_commit_with(&mut w, prev_hash, commit, &covered_digests(commit));
    w.recorded.unwrap_or_default()
}

/// The bytes [`event_digest`] hashes (for docs/audit-vectors).
#[cfg(test)]
pub(crate) fn event_bytes(event: &Event) -> Vec<u8> {
    let mut w = Canonical::recording();
    write_event(&mut w, event);
    w.recorded.unwrap_or_default()
}

/// `digests`: each event's (`covered_digests`).
fn write_commit(w: &mut Canonical, prev_hash: &Hash, commit: &Commit, digests: &[Hash]) {
    w.string(COMMIT_TAG);
    w.raw(prev_hash);
    w.raw(commit.article_id.as_bytes());
    w.u64(commit.version);
    w.i64(commit.recorded_at.timestamp_micros());
    w.string(&commit.actor);
    w.string(&commit.reason);
    w.raw(commit.command_id.as_bytes());
    w.provenance(&commit.provenance);
    w.count(commit.events.len());
    for (event, digest) in commit.events.iter().zip(digests) {
        w.string(event.kind());
        w.raw(digest);
    }
}

/// The digest of one event's payload, so that a payload can one day be
/// redacted and the chain still verify.
pub(crate) fn event_digest(event: &Event) -> Hash {
    let mut w = Canonical::default();
    write_event(&mut w, event);
    w.finish()
}

fn write_event(w: &mut Canonical, event: &Event) {
    w.string(EVENT_TAG);
    w.string(event.kind());
    match event {
        Event::ArticleCreated(c) => {
            w.string(&c.slug);
            w.string(&c.question);
            w.string(&c.quick_answer);
            w.strings(&c.key_facts);
            w.count(c.sections.len());
            for s in &c.sections {
                w.section(s);
            }
            w.count(c.sources.len());
            for s in &c.sources {
                w.source(s);
            }
            w.string(&c.last_updated.to_string());
            w.provenance(&c.provenance);
            w.string(&c.disclaimer);
        }
        Event::QuestionEdited { question } => w.string(question),
        Event::SlugChanged { slug } | Event::SlugAliased { slug } => w.string(slug),
        Event::QuickAnswerEdited { quick_answer } => w.string(quick_answer),
        Event::KeyFactsReplaced { key_facts } => w.strings(key_facts),
        Event::SectionAdded { section, position } => {
            w.section(section);
            w.u64(u64::from(*position));
        }
        Event::SectionEdited {
            section_id,
            heading,
            body,
        } => {
            w.string(section_id);
            w.string(heading);
            w.string(body);
        }
        Event::SectionRemoved { section_id } => w.string(section_id),
        Event::SectionMoved {
            section_id,
            position,
        } => {
            w.string(section_id);
            w.u64(u64::from(*position));
        }
        Event::SourceAdded { source, position } => {
            w.source(source);
            w.u64(u64::from(*position));
        }
        Event::SourceEdited { source } => w.source(source),
        Event::SourceRemoved { source_id } => w.string(source_id),
        Event::ArticleRedated { last_updated } => w.string(&last_updated.to_string()),
        Event::ArticleReviewed { reviewed_by } => w.string(reviewed_by),
        Event::ArticleRetracted { reason } | Event::ArticleRestored { reason } => w.string(reason),
        Event::ReviewLapsed {
            reviewed_by,
            reviewed_version,
        } => {
            w.string(reviewed_by);
            w.u64(*reviewed_version);
        }
        Event::PayloadRedacted { position, event } => {
            w.u64(*position);
            w.u64(u64::from(*event));
        }
        Event::OriginClaimed(claims) => {
            w.origin_structure(claims);
            w.origin_content(claims);
        }
    }
}

/// The log chain's value at `position`, from the one before it.
pub(crate) fn log_hash(previous: &Hash, position: u64, commit_hash: &Hash) -> Hash {
    let mut w = Canonical::default();
    w.string(LOG_TAG);
    w.raw(previous);
    w.u64(position);
    w.raw(commit_hash);
    w.finish()
}

/// The bytes a log digest's signature covers.
pub(crate) fn digest_message(position: u64, log_hash: &Hash, recorded_at_micros: i64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + 19 + 8 + 32 + 8);
    bytes.extend_from_slice(&(DIGEST_TAG.len() as u32).to_be_bytes());
    bytes.extend_from_slice(DIGEST_TAG.as_bytes());
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(log_hash);
    bytes.extend_from_slice(&recorded_at_micros.to_be_bytes());
    bytes
}

/// The tag of a backup manifest's signed bytes.
const BACKUP_TAG: &str = "answerlog.backup.v1";

/// The SHA-256 of the request hashes of a log, in position order: what a
/// backup manifest signs, so that a backup's request hashes (which no
/// commit hash of encoding 1 covers) cannot be changed unseen.
#[derive(Clone, Default)]
pub(crate) struct RequestHashes(Sha256);

impl RequestHashes {
    /// The next position's request hash.
    pub(crate) fn add(&mut self, request_hash: &[u8; 32]) {
        self.0.update(request_hash);
    }

    pub(crate) fn finish(self) -> Hash {
        self.0.finalize().into()
    }
}

/// The bytes a backup manifest's signature covers.
pub(crate) fn backup_manifest_message(
    position: u64,
    log_hash: &Hash,
    request_hashes: &Hash,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + BACKUP_TAG.len() + 8 + 32 + 32);
    bytes.extend_from_slice(&(BACKUP_TAG.len() as u32).to_be_bytes());
    bytes.extend_from_slice(BACKUP_TAG.as_bytes());
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(log_hash);
    bytes.extend_from_slice(request_hashes);
    bytes
}

/// Writes values in the canonical form: integers big-endian, strings and
/// lists prefixed with their length as a big-endian u32.
#[derive(Default)]
pub(super) struct Canonical {
    hasher: Sha256,
    /// The bytes written, when they are wanted as well as their hash.
    pub(super) recorded: Option<Vec<u8>>,
}

impl Canonical {
    pub(super) fn recording() -> Self {
        Self {
            hasher: Sha256::default(),
            recorded: Some(Vec::new()),
        }
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        if let Some(recorded) = &mut self.recorded {
            recorded.extend_from_slice(bytes);
        }
    }

    pub(super) fn u64(&mut self, n: u64) {
        self.raw(&n.to_be_bytes());
    }

    pub(super) fn i64(&mut self, n: i64) {
        self.raw(&n.to_be_bytes());
    }

    pub(super) fn count(&mut self, n: usize) {
        self.raw(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    }

    pub(super) fn bool(&mut self, b: bool) {
        self.raw(&[u8::from(b)]);
    }

    pub(super) fn string(&mut self, s: &str) {
        self.count(s.len());
        self.raw(s.as_bytes());
    }

    pub(super) fn strings(&mut self, items: &[String]) {
        self.count(items.len());
        for item in items {
            self.string(item);
        }
    }

    pub(super) fn section(&mut self, s: &Section) {
        self.string(&s.id);
        self.string(&s.heading);
        self.string(&s.body);
    }

    pub(super) fn source(&mut self, s: &Source) {
        self.string(&s.id);
        self.string(&s.title);
        self.string(&s.publisher);
        self.string(&s.url);
        self.string(&s.license);
        match s.accessed_on {
            None => self.bool(false),
            Some(date) => {
                self.bool(true);
                self.string(&date.to_string());
            }
        }
    }

    /// An origin claim's structure: where the revision was, and when.
    pub(super) fn origin_structure(&mut self, c: &OriginClaims) {
        self.string(&c.origin);
        self.string(&c.revision_id);
        self.string(&c.parent_revision_id);
        match c.time {
            None => self.bool(false),
            Some(time) => {
                self.bool(true);
                self.i64(time.timestamp_micros());
            }
        }
        self.bool(c.minor);
        self.strings(&c.suppressed);
        // Claims made before the three existed hash as they did: the
        // encoding above is self-delimiting, so one that goes on is
        // another value.
        if c.describes() {
            self.string(&c.kind);
            self.string(&c.format);
            self.string(&c.license);
        }
    }

    /// An origin claim's content: who, what they said, and the checksum.
    pub(super) fn origin_content(&mut self, c: &OriginClaims) {
        self.string(&c.actor);
        self.string(&c.comment);
        self.string(&c.sha1);
    }

    pub(super) fn provenance(&mut self, p: &Provenance) {
        self.bool(p.ai_assisted);
        self.string(&p.generator);
        self.string(&p.reviewed_by);
    }

    pub(super) fn finish(self) -> Hash {
        self.hasher.finalize().into()
    }
}

/// Lowercase hex of `bytes`, two digits a byte: how hashes are shown in
/// every answer and commit. A StreamEvents catch-up writes about ten a
/// commit; `const_hex` makes them with SIMD where a byte-at-a-time loop
/// took a tenth of a catch-up's instructions (callgrind).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const_hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
        // Longer than the digits made at a time.
        let long: Vec<u8> = (0..=80).collect();
        let expected: String = long.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&long), expected);
    }

    use chrono::{DateTime, NaiveDate};
    use uuid::Uuid;

    use super::*;
    use crate::domain::{ArticleId, CommandId};

    fn commit(events: Vec<Event>) -> Commit {
        Commit {
            article_id: ArticleId::from_uuid(Uuid::from_u128(1)),
            version: 2,
            global_position: 9,
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap(),
            actor: "alice".into(),
            reason: "why".into(),
            command_id: CommandId::from_uuid(Uuid::from_u128(2)),
            provenance: Provenance::default(),
            request_hash: [0; 32],
            prev_hash: Vec::new(),
            hash: Vec::new(),
            events,
            salts: None,
            redactions: Vec::new(),
            answer_digest: None,
        }
    }

    #[test]
    fn every_field_counts_but_the_position() {
        let base = commit(vec![Event::QuestionEdited {
            question: "Q".into(),
        }]);
        let h = commit_hash(&ZERO_HASH, &base);
        let mut moved = base.clone();
        moved.global_position = 10;
        assert_eq!(commit_hash(&ZERO_HASH, &moved), h);
        let mut other = base.clone();
        other.actor = "bob".into();
        assert_ne!(commit_hash(&ZERO_HASH, &other), h);
        assert_ne!(commit_hash(&[1; 32], &base), h);
        let redated = commit(vec![Event::ArticleRedated {
            last_updated: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        }]);
        assert_ne!(commit_hash(&ZERO_HASH, &redated), h);
    }

    #[test]
    fn strings_are_length_prefixed_so_boundaries_count() {
        let a = commit(vec![Event::SectionEdited {
            section_id: "s1".into(),
            heading: "ab".into(),
            body: "c".into(),
        }]);
        let b = commit(vec![Event::SectionEdited {
            section_id: "s1".into(),
            heading: "a".into(),
            body: "bc".into(),
        }]);
        assert_ne!(commit_hash(&ZERO_HASH, &a), commit_hash(&ZERO_HASH, &b));
    }

    #[test]
    fn the_log_chain_binds_the_position() {
        let h = [5; 32];
        assert_ne!(log_hash(&ZERO_HASH, 1, &h), log_hash(&ZERO_HASH, 2, &h));
    }
}
