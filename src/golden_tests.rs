//! The schema-evolution guard: commits of every event kind, encoded as this
//! version wrote them, kept in `tests/golden/`. Forever after, they must
//! decode, re-encode to the same bytes, verify their hash chain and fold to
//! the same article.
//!
//! Each version's files stay forever in `tests/golden/v<N>/`. When a kind
//! or a field is added, raise `CURRENT` and write the new version's files
//! beside the old ones with `ANSWERLOG_BLESS_GOLDEN=1 cargo test --lib
//! golden`; files that exist are never overwritten. A field the folded
//! article gains is left at its default when an older version's article
//! is compared (`fold`), since that version could not have written it.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate};
use uuid::Uuid;

use crate::codec::{decode_commit, decode_commit_events, encode_article, encode_commit};
use crate::domain::{
    commit_hash, hex, Article, ArticleCreated, ArticleId, ArticleVersion, CommandId, Commit, Event,
    OriginClaims, Provenance, Section, Source, EVENT_KINDS, ZERO_HASH,
};

/// The version of the golden files this code writes: v3 holds the history
/// in commit encoding 2 (salted), as the server writes commits since; v4
/// adds each commit's answer salt (leaf v2); v5 a PayloadRedacted commit
/// and the events it redacted; v6 imported revisions' OriginClaimed, one
/// of them redacted; v7 claims that say their kind, format and licence;
/// v8 a SlugAliased commit.
const CURRENT: u32 = 8;

fn dir(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/v{version}"))
}

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, d).expect("a date")
}

/// One commit per event kind, in an order that makes sense for one article
/// (also the export that `cli::verify`'s tamper test changes field by field).
pub(crate) fn history() -> Vec<Commit> {
    let id = ArticleId::from_uuid(Uuid::from_u128(0x0190_f4a2_7b1c_7cde_8f00_0123_4567_89ab));
    let section = |n: u64, heading: &str| Section {
        id: format!("s{n}"),
        heading: heading.into(),
        body: format!("Body of {heading}.\n\nSecond paragraph."),
    };
    let source = |n: u64, title: &str, accessed: Option<NaiveDate>| Source {
        id: format!("src{n}"),
        title: title.into(),
        publisher: "Publisher".into(),
        url: format!("https://example.org/{n}"),
        license: "fair-use".into(),
        accessed_on: accessed,
    };
    let events: Vec<Event> = vec![
        Event::ArticleCreated(Box::new(ArticleCreated {
            slug: "what-causes-jmt".into(),
            question: "What causes jmt".into(),
            quick_answer: "JMT, or Juvenile Myositis, is …".into(),
            key_facts: vec!["Rare.".into(), "Autoimmune.".into()],
            sections: vec![section(1, "What is JMT?"), section(2, "Genetic Factors")],
            sources: vec![source(1, "Mayo", Some(date(1))), source(2, "NORD", None)],
            last_updated: date(4),
            provenance: Provenance {
                ai_assisted: true,
                generator: "gen-1".into(),
                reviewed_by: String::new(),
            },
            disclaimer: "As is.".into(),
        })),
        Event::QuickAnswerEdited {
            quick_answer: "Shorter.".into(),
        },
        Event::KeyFactsReplaced {
            key_facts: vec!["Only one.".into()],
        },
        Event::SectionAdded {
            section: section(3, "Triggers"),
            position: 1,
        },
        Event::SectionEdited {
            section_id: "s2".into(),
            heading: "Genes".into(),
            body: "HLA.".into(),
        },
        Event::SectionRemoved {
            section_id: "s1".into(),
        },
        Event::SectionMoved {
            section_id: "s2".into(),
            position: 0,
        },
        Event::SourceAdded {
            source: source(3, "Cure JM", Some(date(2))),
            position: 2,
        },
        Event::SourceRemoved {
            source_id: "src2".into(),
        },
        Event::ArticleRedated {
            last_updated: date(5),
        },
        Event::QuestionEdited {
            question: "What causes juvenile myositis?".into(),
        },
        Event::SlugChanged {
            slug: "juvenile-myositis".into(),
        },
        Event::SourceEdited {
            source: source(1, "Mayo Clinic", None),
        },
        Event::ArticleReviewed {
            reviewed_by: "wanda".into(),
        },
        Event::ArticleRetracted {
            reason: "Under review".into(),
        },
        Event::ArticleRestored {
            reason: "Reviewed".into(),
        },
        Event::ReviewLapsed {
            reviewed_by: "wanda".into(),
            reviewed_version: 14,
        },
    ];
    let mut per_commit: Vec<Vec<Event>> = events.into_iter().map(|e| vec![e]).collect();
    // A review lapses at the head of a commit that changes content.
    if let Some(last) = per_commit.last_mut() {
        last.push(Event::KeyFactsReplaced {
            key_facts: vec!["Only one.".into(), "Reviewed no more.".into()],
        });
    }
    // Two imported revisions: one that changed nothing (its claims
    // alone), then an edit with its claims after it.
    let claims = |revision: &str, parent: &str, comment: &str| {
        Event::OriginClaimed(Box::new(OriginClaims {
            origin: "en.wikipedia.org/wiki/Juvenile_myositis".into(),
            revision_id: revision.into(),
            parent_revision_id: parent.into(),
            time: DateTime::from_timestamp_micros(1_300_000_000_123_456),
            minor: parent.is_empty(),
            suppressed: if parent.is_empty() {
                Vec::new()
            } else {
                vec!["comment".into()]
            },
            actor: "Example editor".into(),
            comment: comment.into(),
            sha1: "phoiac9h4m842xq45sp7s6u21eteeq1".into(),
            // The edit says what it is; the null edit, as claims made
            // before the three existed, does not.
            kind: if parent.is_empty() { "" } else { "edit body" }.into(),
            format: if parent.is_empty() { "" } else { "wikitext" }.into(),
            license: if parent.is_empty() {
                ""
            } else {
                "CC BY-SA 4.0"
            }
            .into(),
        }))
    };
    // Two redactions in one commit (`redacted` applies them): key facts
    // that answers showed until they were replaced, and a retraction's
    // reason, which no answer shows.
    per_commit.push(vec![
        Event::PayloadRedacted {
            position: 3,
            event: 0,
        },
        Event::PayloadRedacted {
            position: 15,
            event: 0,
        },
    ]);
    // Encoding 2 only (`history_v1` ends before): two imported revisions,
    // one that changed nothing (its claims alone), then an edit with its
    // claims after it; then the first one's claims redacted.
    per_commit.push(vec![claims("1001", "", "null edit")]);
    per_commit.push(vec![
        Event::QuickAnswerEdited {
            quick_answer: "Imported.".into(),
        },
        claims("1002", "1001", ""),
    ]);
    per_commit.push(vec![Event::PayloadRedacted {
        position: 19,
        event: 0,
    }]);
    // An imported redirect: another slug that names the article, with the
    // redirect's claims.
    per_commit.push(vec![
        Event::SlugAliased {
            slug: "juvenile-myositis".into(),
        },
        claims("1003", "", "redirect"),
    ]);
    let mut prev = ZERO_HASH;
    let mut commits = Vec::new();
    for (i, events) in per_commit.into_iter().enumerate() {
        let n = i as u64 + 1;
        let mut commit = Commit {
            article_id: id,
            version: n,
            global_position: n,
            recorded_at: DateTime::from_timestamp_micros(1_775_000_000_000_000 + n as i64 * 1_000)
                .expect("a time"),
            actor: if n % 2 == 0 { "wanda" } else { "wes" }.into(),
            reason: format!("step {n}"),
            command_id: CommandId::from_uuid(Uuid::from_u128(u128::from(n))),
            provenance: Provenance {
                ai_assisted: true,
                generator: "gen-1".into(),
                reviewed_by: if (14..17).contains(&n) {
                    "wanda".into()
                } else {
                    String::new()
                },
            },
            request_hash: [n as u8; 32],
            prev_hash: prev.to_vec(),
            hash: Vec::new(),
            events,
            salts: None,
            redactions: Vec::new(),
            answer_digest: None,
        };
        let hash = commit_hash(&prev, &commit);
        commit.hash = hash.to_vec();
        prev = hash;
        commits.push(commit);
    }
    commits
}

/// The commits of [`history`] that encoding 1 can hold: those before the
/// first `OriginClaimed`, which only encoding 2 has (docs/AUDIT.md).
pub(crate) fn history_v1() -> Vec<Commit> {
    let mut commits = history();
    commits.truncate(V1_COMMITS);
    commits
}

/// How many commits of [`history`] encoding 1 can hold.
const V1_COMMITS: usize = 18;

/// `commits` (one article's, from version 1) with what their
/// `PayloadRedacted` events redact removed (`domain::redact`).
pub(crate) fn redacted(mut commits: Vec<Commit>) -> Vec<Commit> {
    for at in 0..commits.len() {
        let by = commits[at].global_position;
        let targets: Vec<(u64, u32)> = commits[at]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::PayloadRedacted { position, event } => Some((*position, *event)),
                _ => None,
            })
            .collect();
        for (position, event) in targets {
            let changed =
                crate::domain::redact(&commits[..at], position, event, by).expect("it redacts");
            for c in changed {
                let i = commits
                    .iter()
                    .position(|o| o.global_position == c.global_position)
                    .expect("a commit of the history");
                commits[i] = c;
            }
        }
    }
    commits
}

/// `commits` (one article's, from version 1) in commit encoding 2, with
/// fixed salts, each its own (commit i's reason `[0xa0 ^ i; 32]`; its
/// event e's `i`, `e + 1`, then 30 bytes of 0x5c; its answer's
/// `[0xc0 ^ i; 32]`), hashed again along their chain.
pub(crate) fn salted(commits: Vec<Commit>) -> Vec<Commit> {
    let mut prev = ZERO_HASH;
    commits
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let n = i as u8;
            c.salts = Some(crate::domain::CommitSalts {
                reason: [0xa0 ^ n; 32],
                events: (0..c.events.len())
                    .map(|e| {
                        let mut salt = [0x5c; 32];
                        salt[0] = n;
                        salt[1] = e as u8 + 1;
                        salt
                    })
                    .collect(),
                answer: Some([0xc0 ^ n; 32]),
            });
            c.prev_hash = prev.to_vec();
            let hash = commit_hash(&prev, &c);
            c.hash = hash.to_vec();
            prev = hash;
            c
        })
        .collect()
}

/// The article `commits` fold to, encoded, with only the fields that
/// golden `version` knew: a field added later is left at its default.
fn fold(commits: &[Commit], version: u32) -> Vec<u8> {
    let mut state: Option<Article> = None;
    for c in commits {
        state = Article::fold(state, c.article_id, c.version, &c.events);
    }
    let mut article = state.expect("the history folds");
    if version < 2 {
        article.reviewed_version = 0;
        article.review_stale = false;
    }
    let last = commits.last().expect("commits");
    encode_article(&ArticleVersion {
        article,
        global_position: last.global_position,
        recorded_at: last.recorded_at,
    })
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn golden_commits_still_decode_hash_and_fold() {
    let commits = history();
    let kinds: std::collections::BTreeSet<&str> =
        commits.iter().map(|c| c.events[0].kind()).collect();
    assert_eq!(kinds, EVENT_KINDS.into_iter().collect());
    let commits = redacted(salted(commits));
    if std::env::var_os("ANSWERLOG_BLESS_GOLDEN").is_some() && !dir(CURRENT).exists() {
        std::fs::create_dir_all(dir(CURRENT)).expect("the golden directory");
        let lines: Vec<String> = commits.iter().map(|c| hex(&encode_commit(c))).collect();
        std::fs::write(dir(CURRENT).join("commits.hex"), lines.join("\n") + "\n").expect("write");
        std::fs::write(
            dir(CURRENT).join("article.hex"),
            hex(&fold(&commits, CURRENT)) + "\n",
        )
        .expect("write");
    }
    // Today's history is the current version's golden one.
    assert_eq!(
        check(CURRENT),
        commits,
        "today's history is golden v{CURRENT}"
    );
    // Every older version still decodes, hashes and folds as it did.
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for entry in std::fs::read_dir(golden).expect("tests/golden") {
        let name = entry.expect("an entry").file_name();
        let version = name
            .to_str()
            .and_then(|n| n.strip_prefix('v'))
            .and_then(|n| n.parse().ok());
        if let Some(version) = version.filter(|v| *v != CURRENT) {
            check(version);
        }
    }
}

/// Checks one version's files; returns the commits they hold.
fn check(version: u32) -> Vec<Commit> {
    let stored = std::fs::read_to_string(dir(version).join("commits.hex"))
        .unwrap_or_else(|e| panic!("tests/golden/v{version}/commits.hex: {e}"));
    let mut decoded = Vec::new();
    let mut prev = ZERO_HASH;
    for (i, line) in stored.lines().enumerate() {
        let at = format!("v{version} commit {}", i + 1);
        let bytes = unhex(line.trim());
        let commit = decode_commit(&bytes[..]).unwrap_or_else(|e| panic!("{at}: {e}"));
        // What a replay decodes alone (`CommitEventsRecord`) is what the
        // whole record holds.
        let fold = decode_commit_events(&bytes[..]).unwrap_or_else(|e| panic!("{at}: {e}"));
        let whole = commit.as_fold();
        assert_eq!(
            (fold.article_id, fold.version, fold.global_position),
            (whole.article_id, whole.version, whole.global_position),
            "{at}: its place decodes alone"
        );
        assert_eq!(
            (fold.recorded_at, fold.events.as_slice()),
            (whole.recorded_at, whole.events),
            "{at}: its time and events decode alone"
        );
        assert_eq!(
            encode_commit(&commit),
            bytes,
            "{at} re-encodes to its bytes"
        );
        assert_eq!(commit.prev_hash, prev.to_vec(), "{at} links");
        let hash = commit_hash(&prev, &commit);
        assert_eq!(commit.hash, hash.to_vec(), "{at} hashes as it did");
        prev = hash;
        decoded.push(commit);
    }
    let article = std::fs::read_to_string(dir(version).join("article.hex"))
        .unwrap_or_else(|e| panic!("tests/golden/v{version}/article.hex: {e}"));
    assert_eq!(
        hex(&fold(&decoded, version)),
        article.trim(),
        "v{version} folds to the same article"
    );
    decoded
}

/// Redaction (`domain::redact`) through the stored bytes.
mod redaction {
    use super::*;
    use crate::domain::merkle::commit_leaf;
    use crate::domain::{leaf_answer_digest, without_content, Hash};

    /// Each commit's Merkle leaf, from the commits as they stand.
    fn leaves(commits: &[Commit]) -> Vec<Hash> {
        let mut state = None;
        commits
            .iter()
            .map(|c| {
                state = Article::fold(state.take(), c.article_id, c.version, &c.events);
                let hash: Hash = c.hash.as_slice().try_into().unwrap();
                commit_leaf(&hash, &leaf_answer_digest(c, state.as_ref().unwrap()))
            })
            .collect()
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// The golden history's commit 18 redacts the key facts of position
    /// 3 (which answers show until position 17 replaces them) and the
    /// reason of the retraction at 15 (which no answer shows); in encoding
    /// 2, its last commit the claims of the imported revision at 19 (its
    /// actor, comment and checksum go; its origin, ids and time stay).
    #[test]
    fn a_redaction_keeps_every_hash_and_leaf_and_the_bytes_go() {
        for original in [history_v1(), salted(history())] {
            let v2 = original[0].salts.is_some();
            let before = leaves(&original);
            let after = redacted(original.clone());
            let mut prev = ZERO_HASH;
            for c in &after {
                assert_eq!(commit_hash(&prev, c).to_vec(), c.hash, "v2 {v2}");
                prev = commit_hash(&prev, c);
                assert_eq!(decode_commit(&encode_commit(c)[..]).unwrap(), *c);
            }
            assert_eq!(leaves(&after), before, "v2 {v2}: the same tree");
            let claims = (19, "Example editor", 21);
            for (position, text, by) in [(3, "Only one.", 18), (15, "Under review", 18), claims]
                .into_iter()
                .filter(|(position, ..)| *position <= after.len())
            {
                let c = &after[position - 1];
                assert!(contains(&encode_commit(&original[position - 1]), text));
                assert!(!contains(&encode_commit(c), text), "{text}");
                assert_eq!(
                    c.events[0],
                    without_content(&original[position - 1].events[0])
                );
                assert_eq!(c.redaction(0).unwrap().by_position, by as u64);
                assert!(c.event_salt(0).is_none());
            }
            // The key facts' answers changed and keep their digests; the
            // others keep their salts.
            for c in &after {
                let changed = (3..=16).contains(&c.global_position);
                assert_eq!(c.answer_digest.is_some(), changed, "{}", c.global_position);
                assert_eq!(c.answer_salt().is_some(), v2 && !changed);
            }
            let mut state = None;
            for c in &after[..3] {
                state = Article::fold(state.take(), c.article_id, c.version, &c.events);
            }
            assert_eq!(state.unwrap().key_facts, vec![crate::domain::REDACTED]);
            if v2 {
                let Event::OriginClaimed(claims) = &after[18].events[0] else {
                    panic!("the claims at 19");
                };
                assert_eq!(
                    (claims.revision_id.as_str(), claims.actor.as_str()),
                    ("1001", crate::domain::REDACTED)
                );
            }
        }
    }
}
