//! The hash chains: recomputed here from docs/AUDIT.md alone (no calls into
//! the crate's hashing), and verified by the server, clean and tampered.

use answerlog::pb::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(
    stored_hashes_match_the_specification,
    verification_finds_the_first_changed_byte,
    a_log_cut_short_below_a_kept_digest_fails,
);

/// The canonical encoding of docs/AUDIT.md, written from the document:
/// hashed, and kept (encoding 2 hashes an event's parts apart).
#[derive(Default)]
struct Spec {
    hasher: Sha256,
    written: Vec<u8>,
}

impl Spec {
    fn u32(&mut self, n: u32) {
        self.bytes(&n.to_be_bytes());
    }
    fn u64(&mut self, n: u64) {
        self.bytes(&n.to_be_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.bytes(&[b as u8]);
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes(s.as_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.hasher.update(b);
        self.written.extend_from_slice(b);
    }
    fn strings(&mut self, items: &[String]) {
        self.u32(items.len() as u32);
        for s in items {
            self.string(s);
        }
    }
    fn section(&mut self, s: &Section) {
        self.string(&s.id);
        self.string(&s.heading);
        self.string(&s.body);
    }
    fn source(&mut self, s: &Source) {
        self.string(&s.id);
        self.string(&s.title);
        self.string(&s.publisher);
        self.string(&s.url);
        self.string(&s.license);
        if s.accessed_on.is_empty() {
            self.bool(false);
        } else {
            self.bool(true);
            self.string(&s.accessed_on);
        }
    }
    /// An origin claim's structure: `optional timestamp time` is a bool,
    /// then the time's microseconds since the epoch as an i64.
    fn origin_structure(&mut self, c: &OriginClaims) {
        self.string(&c.origin);
        self.string(&c.revision_id);
        self.string(&c.parent_revision_id);
        match &c.time {
            None => self.bool(false),
            Some(t) => {
                self.bool(true);
                self.bytes(&(t.seconds * 1_000_000 + i64::from(t.nanos) / 1000).to_be_bytes());
            }
        }
        self.bool(c.minor);
        self.strings(&c.suppressed);
        // Then kind, format and license, when one of them is set.
        if !(c.kind.is_empty() && c.format.is_empty() && c.license.is_empty()) {
            self.string(&c.kind);
            self.string(&c.format);
            self.string(&c.license);
        }
    }
    fn origin_content(&mut self, c: &OriginClaims) {
        self.string(&c.actor);
        self.string(&c.comment);
        self.string(&c.sha1);
    }
    fn provenance(&mut self, p: &Provenance) {
        self.bool(p.ai_assisted);
        self.string(&p.generator);
        self.string(&p.reviewed_by);
    }
    fn done(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn payload_digest(e: &Event) -> [u8; 32] {
    use event::Payload;
    let mut w = Spec::default();
    w.string("answerlog.event.v1");
    w.string(&e.kind);
    match e.payload.as_ref().expect("a payload") {
        Payload::ArticleCreated(c) => {
            let a = c.article.as_ref().unwrap();
            w.string(&a.slug);
            w.string(&a.question);
            w.string(&a.quick_answer);
            w.strings(&a.key_facts);
            w.u32(a.sections.len() as u32);
            a.sections.iter().for_each(|s| w.section(s));
            w.u32(a.sources.len() as u32);
            a.sources.iter().for_each(|s| w.source(s));
            w.string(&a.last_updated);
            w.provenance(a.provenance.as_ref().unwrap());
            w.string(&a.disclaimer);
        }
        Payload::QuestionEdited(x) => w.string(&x.question),
        Payload::SlugChanged(x) => w.string(&x.slug),
        Payload::SlugAliased(x) => w.string(&x.slug),
        Payload::QuickAnswerEdited(x) => w.string(&x.quick_answer),
        Payload::KeyFactsReplaced(x) => w.strings(&x.key_facts),
        Payload::SectionAdded(x) => {
            w.section(x.section.as_ref().unwrap());
            w.u64(u64::from(x.position));
        }
        Payload::SectionEdited(x) => {
            w.string(&x.section_id);
            w.string(&x.heading);
            w.string(&x.body);
        }
        Payload::SectionRemoved(x) => w.string(&x.section_id),
        Payload::SectionMoved(x) => {
            w.string(&x.section_id);
            w.u64(u64::from(x.position));
        }
        Payload::SourceAdded(x) => {
            w.source(x.source.as_ref().unwrap());
            w.u64(u64::from(x.position));
        }
        Payload::SourceEdited(x) => w.source(x.source.as_ref().unwrap()),
        Payload::SourceRemoved(x) => w.string(&x.source_id),
        Payload::ArticleRedated(x) => w.string(&x.last_updated),
        Payload::ArticleReviewed(x) => w.string(&x.reviewed_by),
        Payload::ArticleRetracted(x) => w.string(&x.reason),
        Payload::ArticleRestored(x) => w.string(&x.reason),
        Payload::ReviewLapsed(x) => {
            w.string(&x.reviewed_by);
            w.u64(x.reviewed_version);
        }
        Payload::PayloadRedacted(x) => {
            w.u64(x.position);
            w.u64(u64::from(x.event_index));
        }
        Payload::OriginClaimed(x) => {
            w.origin_structure(x);
            w.origin_content(x);
        }
    }
    w.done()
}

fn commit_hash(prev: &[u8; 32], r: &GetRevisionResponse) -> [u8; 32] {
    let revision = r.revision.as_ref().unwrap();
    let t = revision.recorded_at.unwrap();
    let micros = t.seconds * 1_000_000 + i64::from(t.nanos) / 1000;
    let mut w = Spec::default();
    w.string("answerlog.commit.v1");
    w.bytes(prev);
    w.bytes(Uuid::parse_str(&r.article_id).unwrap().as_bytes());
    w.u64(revision.version);
    w.bytes(&micros.to_be_bytes());
    w.string(&revision.actor);
    w.string(&revision.reason);
    w.bytes(Uuid::parse_str(&r.command_id).unwrap().as_bytes());
    w.provenance(r.provenance.as_ref().unwrap());
    w.u32(r.events.len() as u32);
    for e in &r.events {
        w.string(&e.kind);
        // A redacted event's payload is gone: its digest stands.
        match &e.redaction {
            Some(_) => w.bytes(&unhex32(&e.payload_digest)),
            None => w.bytes(&payload_digest(e)),
        }
    }
    w.done()
}

/// Encoding 2 (docs/AUDIT.md, "Commit hash v2"): an event's structure
/// and content, apart.
fn structure_and_content(e: &Event) -> (Spec, Spec) {
    use event::Payload;
    let (mut st, mut co) = (Spec::default(), Spec::default());
    let optional_date = |w: &mut Spec, d: &str| {
        if d.is_empty() {
            w.bool(false);
        } else {
            w.bool(true);
            w.string(d);
        }
    };
    let source_text = |w: &mut Spec, s: &Source| {
        w.string(&s.title);
        w.string(&s.publisher);
        w.string(&s.url);
        w.string(&s.license);
    };
    match e.payload.as_ref().expect("a payload") {
        Payload::ArticleCreated(c) => {
            let a = c.article.as_ref().unwrap();
            st.string(&a.slug);
            st.u32(a.sections.len() as u32);
            a.sections.iter().for_each(|s| st.string(&s.id));
            st.u32(a.sources.len() as u32);
            for s in &a.sources {
                st.string(&s.id);
                optional_date(&mut st, &s.accessed_on);
            }
            st.string(&a.last_updated);
            st.provenance(a.provenance.as_ref().unwrap());
            co.string(&a.question);
            co.string(&a.quick_answer);
            co.strings(&a.key_facts);
            co.u32(a.sections.len() as u32);
            for s in &a.sections {
                co.string(&s.heading);
                co.string(&s.body);
            }
            co.u32(a.sources.len() as u32);
            a.sources.iter().for_each(|s| source_text(&mut co, s));
            co.string(&a.disclaimer);
        }
        Payload::QuestionEdited(x) => co.string(&x.question),
        Payload::SlugChanged(x) => st.string(&x.slug),
        Payload::SlugAliased(x) => st.string(&x.slug),
        Payload::QuickAnswerEdited(x) => co.string(&x.quick_answer),
        Payload::KeyFactsReplaced(x) => co.strings(&x.key_facts),
        Payload::SectionAdded(x) => {
            let s = x.section.as_ref().unwrap();
            st.string(&s.id);
            st.u64(u64::from(x.position));
            co.string(&s.heading);
            co.string(&s.body);
        }
        Payload::SectionEdited(x) => {
            st.string(&x.section_id);
            co.string(&x.heading);
            co.string(&x.body);
        }
        Payload::SectionRemoved(x) => st.string(&x.section_id),
        Payload::SectionMoved(x) => {
            st.string(&x.section_id);
            st.u64(u64::from(x.position));
        }
        Payload::SourceAdded(x) => {
            let s = x.source.as_ref().unwrap();
            st.string(&s.id);
            optional_date(&mut st, &s.accessed_on);
            st.u64(u64::from(x.position));
            source_text(&mut co, s);
        }
        Payload::SourceEdited(x) => {
            let s = x.source.as_ref().unwrap();
            st.string(&s.id);
            optional_date(&mut st, &s.accessed_on);
            source_text(&mut co, s);
        }
        Payload::SourceRemoved(x) => st.string(&x.source_id),
        Payload::ArticleRedated(x) => st.string(&x.last_updated),
        Payload::ArticleReviewed(x) => st.string(&x.reviewed_by),
        Payload::ArticleRetracted(x) => co.string(&x.reason),
        Payload::ArticleRestored(x) => co.string(&x.reason),
        Payload::ReviewLapsed(x) => {
            st.string(&x.reviewed_by);
            st.u64(x.reviewed_version);
        }
        Payload::PayloadRedacted(x) => {
            st.u64(x.position);
            st.u64(u64::from(x.event_index));
        }
        Payload::OriginClaimed(x) => {
            st.origin_structure(x);
            co.origin_content(x);
        }
    }
    (st, co)
}

fn unhex32(text: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().expect("32 bytes")
}

fn payload_digest_v2(e: &Event) -> [u8; 32] {
    let (structure, content) = structure_and_content(e);
    // A redacted event's content is gone: its digest stands in.
    let content_digest = match &e.redaction {
        Some(r) => unhex32(&r.content_digest),
        None => {
            let mut c = Spec::default();
            c.string("answerlog.content.v2");
            c.bytes(&unhex32(&e.salt));
            c.string(&e.kind);
            c.bytes(&content.written);
            c.done()
        }
    };
    let mut w = Spec::default();
    w.string("answerlog.event.v2");
    w.string(&e.kind);
    w.bytes(&structure.written);
    w.bytes(&content_digest);
    w.done()
}

fn commit_hash_v2(prev: &[u8; 32], r: &GetRevisionResponse) -> [u8; 32] {
    let revision = r.revision.as_ref().unwrap();
    let t = revision.recorded_at.unwrap();
    let micros = t.seconds * 1_000_000 + i64::from(t.nanos) / 1000;
    let mut reason = Spec::default();
    reason.string("answerlog.reason.v2");
    reason.bytes(&unhex32(&r.reason_salt));
    reason.string(&revision.reason);
    let mut w = Spec::default();
    w.string("answerlog.commit.v2");
    w.bytes(prev);
    w.bytes(Uuid::parse_str(&r.article_id).unwrap().as_bytes());
    w.u64(revision.version);
    w.bytes(&micros.to_be_bytes());
    w.string(&revision.actor);
    w.bytes(&reason.done());
    w.bytes(Uuid::parse_str(&r.command_id).unwrap().as_bytes());
    w.bytes(&unhex32(&r.request_hash));
    w.provenance(r.provenance.as_ref().unwrap());
    w.u32(r.events.len() as u32);
    for e in &r.events {
        w.string(&e.kind);
        w.bytes(&payload_digest_v2(e));
    }
    w.done()
}

fn log_hash(prev: &[u8; 32], position: u64, hash: &[u8; 32]) -> [u8; 32] {
    let mut w = Spec::default();
    w.string("answerlog.log.v1");
    w.bytes(prev);
    w.u64(position);
    w.bytes(hash);
    w.done()
}

/// A small fixed history of one article; returns its id and versions.
async fn history(server: &TestServer, question: &str) -> (String, u64) {
    let mut articles = server.articles().await;
    let id = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "Created — with ünïcode".into(),
            article: Some(ArticleDraft {
                question: question.into(),
                quick_answer: "JMT is…\n\nTwo paragraphs.".into(),
                key_facts: vec!["Rare.".into(), "Autoimmune.".into()],
                sections: vec![
                    SectionDraft {
                        heading: "What is it?".into(),
                        body: "A group.".into(),
                    },
                    SectionDraft {
                        heading: "Genetic Factors".into(),
                        body: "HLA.".into(),
                    },
                ],
                sources: vec![Source {
                    title: "Juvenile myositis".into(),
                    publisher: "Mayo Clinic".into(),
                    url: "https://www.mayoclinic.org/".into(),
                    license: "fair-use".into(),
                    accessed_on: "2026-04-01".into(),
                    ..Source::default()
                }],
                last_updated: "2026-04-04".into(),
                provenance: Some(Provenance {
                    ai_assisted: true,
                    generator: "gen-7".into(),
                    ..Provenance::default()
                }),
                disclaimer: "As is.".into(),
                ..ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id;
    let base = |v: u64| (id.clone(), v, cid());
    let (a, v, c) = base(1);
    articles
        .edit_section(EditSectionRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "Tighten the genetics section".into(),
            section_id: "s2".into(),
            heading: None,
            body: Some("Certain HLA genes.".into()),
        })
        .await
        .unwrap();
    let (a, v, c) = base(2);
    articles
        .add_source(AddSourceRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "Cite".into(),
            source: Some(Source {
                title: "NORD".into(),
                publisher: "NORD".into(),
                license: "fair-use".into(),
                ..Source::default()
            }),
        })
        .await
        .unwrap();
    let (a, v, c) = base(3);
    articles
        .move_section(MoveSectionRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "test".into(),
            section_id: "s2".into(),
            after_section_id: String::new(),
        })
        .await
        .unwrap();
    let (a, v, c) = base(4);
    articles
        .review_article(ReviewArticleRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "Checked".into(),
        })
        .await
        .unwrap();
    let (a, v, c) = base(5);
    articles
        .revert_article(RevertArticleRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "test".into(),
            to_version: 1,
            last_updated: String::new(),
        })
        .await
        .unwrap();
    let (a, v, c) = base(6);
    articles
        .redate_article(RedateArticleRequest {
            article_id: a,
            expected_version: v,
            command_id: c,
            reason: "Re-dated".into(),
            last_updated: "2026-04-05".into(),
        })
        .await
        .unwrap();
    // Every other event kind, so that the test covers each one's digest.
    let mut v = 7;
    let mut next = || {
        v += 1;
        (id.clone(), v - 1, cid())
    };
    let (a, e, c) = next();
    articles
        .edit_question(EditQuestionRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "Q".into(),
            question: format!("{question}, really"),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .change_slug(ChangeSlugRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            slug: format!("moved-{}", question.len()),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            quick_answer: "Shorter.".into(),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .replace_key_facts(ReplaceKeyFactsRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            key_facts: vec!["Only one.".into()],
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .add_section(AddSectionRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            section: Some(SectionDraft {
                heading: "New".into(),
                body: "Body\nlines".into(),
            }),
            after_section_id: "s1".into(),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .remove_section(RemoveSectionRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            section_id: "s3".into(),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .edit_source(EditSourceRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "test".into(),
            source: Some(Source {
                id: "src1".into(),
                title: "Renamed".into(),
                publisher: "Mayo".into(),
                license: "cc".into(),
                url: "http://x.org/".into(),
                accessed_on: String::new(),
            }),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .retract_article(RetractArticleRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "Wrong".into(),
        })
        .await
        .unwrap();
    let (a, e, c) = next();
    articles
        .restore_article(RestoreArticleRequest {
            article_id: a,
            expected_version: e,
            command_id: c,
            reason: "Fixed".into(),
        })
        .await
        .unwrap();
    (id, 16)
}

/// Checks a digest's signature as docs/AUDIT.md specifies, with the
/// public key it names.
fn check_signature_offline(digest: &LogDigest) {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let t = digest.recorded_at.unwrap();
    let micros = t.seconds * 1_000_000 + i64::from(t.nanos) / 1000;
    let mut message = Vec::new();
    let tag = b"answerlog.digest.v1";
    message.extend_from_slice(&(tag.len() as u32).to_be_bytes());
    message.extend_from_slice(tag);
    message.extend_from_slice(&digest.global_position.to_be_bytes());
    message.extend_from_slice(&unhex(&digest.log_hash));
    message.extend_from_slice(&micros.to_be_bytes());
    let key = VerifyingKey::from_bytes(&unhex(&digest.public_key).try_into().unwrap()).unwrap();
    let signature = Signature::from_bytes(&unhex(&digest.signature).try_into().unwrap());
    key.verify(&message, &signature)
        .expect("the digest's signature verifies offline");
    let key_hash = Sha256::digest(key.as_bytes());
    assert_eq!(digest.key_id, format!("ed25519:{}", hex(&key_hash[..8])));
}

async fn stored_hashes_match_the_specification(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (id, mut versions) = history(&server, "What causes jmt").await;
    let mut admin =
        answerlog::pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    // An imported edit, with what its source claims of it.
    let claims = OriginClaims {
        origin: "wiki.example.org/Jmt".into(),
        revision_id: "77".into(),
        parent_revision_id: "76".into(),
        time: Some(prost_types::Timestamp {
            seconds: 1_200_000_000,
            nanos: 5_000,
        }),
        minor: true,
        suppressed: vec!["text".into()],
        actor: "A. Wikipedian".into(),
        comment: "tidy".into(),
        sha1: "abc123".into(),
        kind: "edit".into(),
        format: "wikitext".into(),
        license: "CC BY-SA 4.0".into(),
    };
    let mut imported = admin
        .import_commits(tokio_stream::iter(vec![ImportCommitsRequest {
            commands: vec![ImportCommand {
                command: Some(import_command::Command::EditQuickAnswer(
                    EditQuickAnswerRequest {
                        article_id: id.clone(),
                        expected_version: versions,
                        command_id: cid(),
                        reason: "imported".into(),
                        quick_answer: "Imported.".into(),
                    },
                )),
                origin: Some(claims),
            }],
        }]))
        .await
        .unwrap()
        .into_inner();
    while imported.message().await.unwrap().is_some() {}
    versions += 1;
    // Both logs redact: the quick answer that version 2 wrote, whose
    // digest then stands for it, and the imported edit's claims.
    for (position, event_index) in [(2, 0), (versions, 1)] {
        admin
            .redact_payload(RedactPayloadRequest {
                article_id: id.clone(),
                expected_version: versions,
                command_id: cid(),
                reason: "a test".into(),
                position,
                event_index,
            })
            .await
            .unwrap();
        versions += 1;
    }
    let mut prev = [0u8; 32];
    let mut chained = [0u8; 32];
    let mut kinds = std::collections::BTreeSet::<String>::new();
    for version in 1..=versions {
        let r = server.revision(&id, version).await;
        // Written by this server: encoding 2, every event salted.
        assert_eq!(r.encoding, 2, "v{version}");
        for e in &r.events {
            assert_eq!(
                e.payload_digest,
                hex(&if r.encoding == 2 {
                    payload_digest_v2(e)
                } else {
                    payload_digest(e)
                }),
                "v{version} {}",
                e.kind
            );
            kinds.insert(e.kind.clone());
        }
        assert_eq!(
            r.prev_hash,
            hex(&prev),
            "v{version} links to v{}",
            version - 1
        );
        let hash = if r.encoding == 2 {
            commit_hash_v2(&prev, &r)
        } else {
            commit_hash(&prev, &r)
        };
        let stored = &r.revision.as_ref().unwrap().hash;
        assert_eq!(stored, &hex(&hash), "v{version}: the commit hash");
        let position = r.revision.as_ref().unwrap().global_position;
        assert_eq!(position, version, "one article: positions follow versions");
        chained = log_hash(&chained, position, &hash);
        assert_eq!(r.log_hash, hex(&chained), "v{version}: the log hash");
        prev = hash;
    }
    assert_eq!(kinds.len(), 19, "every event kind is covered: {kinds:?}");
    let r = server.revision(&id, 2).await;
    assert!(r.events[0].redaction.is_some(), "{r:?}");
    // A catch-up sends most commits as written from their stored bytes
    // (src/grpc/stream_response.rs), the rest converted in full, as
    // ListCommits sends them all: the same messages, every kind.
    let mut stream = server
        .audit()
        .await
        .stream_events(StreamEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    let deadline = std::time::Duration::from_secs(60);
    tokio::time::timeout(deadline, async {
        while (streamed.len() as u64) < versions {
            let message = stream
                .message()
                .await
                .unwrap()
                .expect("the stream stays open");
            if let Some(stream_events_response::Item::Commit(c)) = message.item {
                streamed.push(c);
            }
        }
    })
    .await
    .expect("every commit is streamed");
    assert_eq!(
        streamed,
        crate::backup::log_through(&server, versions).await
    );
    server.stop().await;
}

async fn verification_finds_the_first_changed_byte(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (id, versions) = history(&server, "What causes jmt").await;
    let mut audit = server.audit().await;
    // A digest kept by the auditor, then more writes.
    let kept = audit
        .get_log_digest(GetLogDigestRequest { min_position: 0 })
        .await
        .unwrap()
        .into_inner()
        .digest
        .unwrap();
    assert_eq!(kept.global_position, versions);
    check_signature_offline(&kept);
    let other = history(&server, "What causes jm").await.0;
    let with_digest = audit
        .verify_log(VerifyLogRequest {
            digest: Some(kept.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let check = with_digest.digest_check.unwrap();
    assert!(
        with_digest.ok && check.signature_valid && check.reached && check.matches,
        "{check:?}"
    );
    // A digest whose hash was altered does not verify.
    let mut forged = kept.clone();
    forged.log_hash = hex(&[7; 32]);
    let refused = audit
        .verify_log(VerifyLogRequest {
            digest: Some(forged),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!refused.ok);
    assert!(!refused.digest_check.unwrap().signature_valid);
    let clean = audit
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(clean.ok, "{:?}", clean.first_break);
    assert_eq!(clean.through_position, 2 * versions);
    assert_eq!(clean.next_position, 0);
    // An auditor keeps version 3's hash.
    let kept_hash = server.revision(&id, 3).await.revision.unwrap().hash;
    let kept_for_v3 = |hash: &str| VerifyArticleRequest {
        article_id: id.clone(),
        kept_version: 3,
        kept_hash: hash.to_owned(),
        min_position: 0,
    };
    let article = audit
        .verify_article(kept_for_v3(&kept_hash))
        .await
        .unwrap()
        .into_inner();
    assert!(article.ok && article.kept_hash_matches);
    assert_eq!(article.versions_checked, versions);
    let wrong = audit
        .verify_article(kept_for_v3(&hex(&[1; 32])))
        .await
        .unwrap()
        .into_inner();
    assert!(!wrong.ok && !wrong.kept_hash_matches);
    // In pages, the same end.
    let mut from = 1;
    let mut last = clean.clone();
    while from != 0 {
        last = audit
            .verify_log(VerifyLogRequest {
                from_position: from,
                max_commits: 3,
                digest: None,
                min_position: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(last.ok);
        from = last.next_position;
    }
    assert_eq!(last.log_hash, clean.log_hash);

    // Version 2's reason, "Tighten the genetics section", gets one byte changed.
    let v2 = server.revision(&id, 2).await;
    let position = v2.revision.as_ref().unwrap().global_position;
    let recorded = v2.revision.as_ref().unwrap().hash.clone();
    let dir = server.stop().await;
    // As a forger would: the record's CRC (which finds accidents, not
    // forgeries) made to match again.
    rewrite_log_record(&dir.path().join("log"), position, |commit| {
        let at = commit
            .windows(7)
            .position(|w| w == b"Tighten")
            .expect("the reason is in the record");
        commit[at] = b'F';
    });
    let server = TestServer::start_in(backend, dir, Default::default()).await;
    let mut audit = server.audit().await;
    let broken = audit
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!broken.ok);
    let first = broken.first_break.expect("a break");
    assert_eq!(first.global_position, position);
    assert_eq!((first.article_id.as_str(), first.version), (id.as_str(), 2));
    assert_eq!(first.chain, "article");
    assert_eq!(first.expected_hash, recorded);
    assert_ne!(first.found_hash, recorded);
    assert_eq!(broken.through_position, position - 1);
    let article = audit
        .verify_article(kept_for_v3(&kept_hash))
        .await
        .unwrap()
        .into_inner();
    assert!(!article.ok);
    assert_eq!(article.first_break.unwrap().version, 2);
    // The digest kept before the change no longer verifies.
    let with_digest = audit
        .verify_log(VerifyLogRequest {
            digest: Some(kept),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!with_digest.ok);
    // The other article is untouched.
    let fine = audit
        .verify_article(VerifyArticleRequest {
            article_id: other,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(fine.ok);
    server.stop().await;
}

async fn a_log_cut_short_below_a_kept_digest_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, versions) = history(&server, "What causes jmt").await;
    let kept = server
        .audit()
        .await
        .get_log_digest(GetLogDigestRequest { min_position: 0 })
        .await
        .unwrap()
        .into_inner()
        .digest
        .unwrap();
    assert_eq!(kept.global_position, versions);
    let dir = server.stop().await;
    {
        // Remove the last commit and make the store believe it never was.
        let db = ::sled::open(dir.path()).unwrap();
        let tree = db.open_tree("answerlog").unwrap();
        // Its chain record (the log's index is derived from the files).
        let position = versions.to_be_bytes();
        assert!(tree
            .remove([&b"K"[..], &position].concat())
            .unwrap()
            .is_some());
        let mut writer = tree.get(b"mwriter").unwrap().unwrap().to_vec();
        writer[..8].copy_from_slice(&(versions - 1).to_be_bytes());
        tree.insert(b"mwriter", writer).unwrap();
        db.flush().unwrap();
        // And the commit itself, the last record of the log's files.
        cut_last_log_record(&dir.path().join("log"));
    }
    let server = TestServer::start_in(backend, dir, Default::default()).await;
    let v = server
        .audit()
        .await
        .verify_log(VerifyLogRequest {
            digest: Some(kept),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.first_break.is_none(), "what is left is consistent");
    assert_eq!(v.through_position, versions - 1);
    let check = v.digest_check.unwrap();
    assert!(check.signature_valid && !check.reached);
    assert!(!v.ok, "a log cut short below the digest does not verify");
    assert!(
        check.detail.contains("ends at position"),
        "{}",
        check.detail
    );
    server.stop().await;
}

/// A record in a file of the log: its offset, position and payload length.
type LogRecord = (usize, u64, usize);

/// The files of the log in `dir` (`log/<first>.log`) that hold records,
/// in order, each with its records: offset, position and payload length
/// (records are `u32 length ‖ u32 CRC-32 of (position ‖ payload) ‖ u64
/// position ‖ payload`, big-endian, then zeros to the file's end).
fn log_records(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<LogRecord>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let mut records = Vec::new();
            let mut at = 0;
            // Until the zeros the file is filled with ahead of its records
            // (a position is never 0).
            while at + 16 <= bytes.len() {
                let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                let position = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap());
                if position == 0 {
                    break;
                }
                records.push((at, position, len));
                at += 16 + len;
            }
            (path, records)
        })
        .collect()
}

/// Cuts the last record off the log's files in `dir`, and the index of its
/// file, which no longer matches.
fn cut_last_log_record(dir: &std::path::Path) {
    let files = log_records(dir);
    let (last, records) = files.last().expect("a file of the log holds records");
    let (at, _, _) = *records.last().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    file.set_len(at as u64).unwrap();
    let _ = std::fs::remove_file(last.with_extension("idx"));
}

/// Changes the payload of the record at `position` in the log's files in
/// `dir` with `change` (its length kept), and sets its CRC to match.
fn rewrite_log_record(dir: &std::path::Path, position: u64, change: impl FnOnce(&mut [u8])) {
    for (path, records) in log_records(dir) {
        if let Some(&(at, _, len)) = records.iter().find(|(_, p, _)| *p == position) {
            let mut bytes = std::fs::read(&path).unwrap();
            change(&mut bytes[at + 16..at + 16 + len]);
            let mut crc = crc32fast::Hasher::new();
            crc.update(&position.to_be_bytes());
            crc.update(&bytes[at + 16..at + 16 + len]);
            bytes[at + 4..at + 8].copy_from_slice(&crc.finalize().to_be_bytes());
            std::fs::write(&path, bytes).unwrap();
            return;
        }
    }
    panic!("no record at position {position} in {}", dir.display());
}
