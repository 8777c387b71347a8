//! `answerlog import-history` (issue 18) through the real server: every
//! revision of the real MediaWiki dumps in `tests/fixtures/realdata/`
//! imported as one version that renders back to its text, with its
//! claims; a second run all duplicates; a malformed dump refused before
//! anything is sent, naming the element and its line.

use std::path::{Path, PathBuf};

use answerlog::history_import::citations::citations;
use answerlog::history_import::mediawiki::{Given, Item, Reader, Site};
use answerlog::history_import::plan::{self, PagePlanner};
use answerlog::pb;

use crate::backend_tests;
use crate::support::{Backend, TestServer};

backend_tests!(
    every_real_revision_is_imported_as_one_version_that_renders_back,
    a_malformed_dump_is_refused_before_anything_is_sent,
    a_redirect_to_a_page_of_the_file_names_its_article,
);

fn dump(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realdata")
        .join(name)
}

const DUMPS: [(&str, [usize; 6]); 3] = [
    // [revisions, commits, created, reverts, text unchanged, skipped]
    (
        "enwiki_history_sample_xml/sample.xml",
        [101, 98, 2, 2, 3, 3],
    ),
    (
        "simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Simplewiki.Sample.xml",
        [33, 33, 2, 7, 7, 0],
    ),
    (
        "simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Commonswiki.Sample.xml",
        [59, 59, 1, 1, 11, 0],
    ),
];

async fn import(server: &TestServer, file: &Path) -> serde_json::Value {
    let out = server
        .cli(&[
            "import-history",
            "--format",
            "mediawiki",
            "--json",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    serde_json::from_str(out.stdout.trim()).unwrap()
}

/// An import of `file` the CLI refuses: its output.
async fn refused(server: &TestServer, file: &Path) -> crate::support::CliOutput {
    let out = server
        .cli(&[
            "import-history",
            "--format",
            "mediawiki",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(!out.success, "{} is refused", file.display());
    out
}

async fn every_real_revision_is_imported_as_one_version_that_renders_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    for (name, [revisions, commits, created, reverts, claims, skipped]) in DUMPS {
        let file = dump(name);
        let summary = import(&server, &file).await;
        let count = |key: &str| summary[key].as_u64().unwrap() as usize;
        let skips: usize = summary["skipped"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap() as usize)
            .sum();
        assert_eq!(
            [
                count("revisions"),
                count("commits"),
                count("created"),
                count("reverts"),
                count("textUnchanged"),
                skips
            ],
            [revisions, commits, created, reverts, claims, skipped],
            "{name}: {summary}"
        );
        assert_eq!(count("duplicates"), 0);
        assert_eq!(summary["sha1Mismatches"], serde_json::json!([]));
        // The parts the source suppressed, as the independent reading counts
        // them (src/history_import/mediawiki.rs): in the Simple English
        // sample 4 texts, 3 comments and 4 authors, all on revisions after
        // each page's first text; in Commons, 21 authors.
        let suppressed = &summary["suppressed"];
        match name {
            n if n.contains("Simplewiki") => assert_eq!(
                *suppressed,
                serde_json::json!({"actor": 4, "comment": 3, "text": 4}),
                "{summary}"
            ),
            n if n.contains("Commonswiki") => {
                assert_eq!(*suppressed, serde_json::json!({"actor": 21}), "{summary}")
            }
            _ => assert_eq!(*suppressed, serde_json::json!({}), "{summary}"),
        }

        // Each revision, read again here: its version renders back to its
        // text, and its commit ends with its claims.
        let mut audit = server.audit().await;
        let mut site = Site::default();
        let mut planner = None;
        let mut taken = std::collections::HashSet::new();
        let mut checked = 0;
        // Each article's first claimed author, by slug.
        let mut authors: Vec<(String, String)> = Vec::new();
        // The page's versions: slug, claimed time, version, text.
        let mut page_versions: Vec<(String, i64, u64, Option<String>)> = Vec::new();
        let mut answers = server.answers().await;
        let reader = Reader::new(std::io::BufReader::new(std::fs::File::open(&file).unwrap()));
        for item in reader {
            match item.unwrap() {
                Item::Site(s) => site = s,
                Item::Page(page) => planner = Some(PagePlanner::new(&site, &page)),
                Item::PageEnd => {
                    planner = None;
                    // As of each revision's own time at the source: the
                    // latest version claimed at or before it renders back
                    // to that version's text.
                    let claimed: Vec<(i64, u64)> =
                        page_versions.iter().map(|(_, t, v, _)| (*t, *v)).collect();
                    for (slug, at, _, _) in &page_versions {
                        let version =
                            crate::import_stackexchange::as_of_origin(&claimed, *at).unwrap();
                        let (_, _, version, text) = page_versions
                            .iter()
                            .find(|(_, _, v, _)| *v == version)
                            .unwrap();
                        let answer = answers
                            .get_answer(pb::GetAnswerRequest {
                                r#ref: Some(pb::get_answer_request::Ref::Slug(slug.clone())),
                                as_of: Some(pb::get_answer_request::AsOf::OriginTime(
                                    prost_types::Timestamp {
                                        seconds: *at,
                                        nanos: 0,
                                    },
                                )),
                                ..Default::default()
                            })
                            .await
                            .unwrap()
                            .into_inner()
                            .answer
                            .unwrap();
                        assert_eq!(answer.version, *version, "{name}: {slug} as of {at}");
                        if let Some(text) = text {
                            let rendered = plan::render(
                                &answer.quick_answer,
                                answer.sections.iter().map(|s| s.body.as_str()),
                            );
                            assert_eq!(&rendered, text, "{name}: {slug} as of {at}");
                        }
                    }
                    page_versions.clear();
                }
                Item::Revision(revision) => {
                    let Ok(planned) = planner.as_mut().unwrap().plan(&revision, &mut taken) else {
                        continue;
                    };
                    let answer = audit
                        .inspect_answer(pb::InspectAnswerRequest {
                            r#ref: Some(pb::inspect_answer_request::Ref::Slug(
                                planned.slug.clone(),
                            )),
                            as_of: Some(pb::inspect_answer_request::AsOf::Version(planned.version)),
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .answer
                        .unwrap();
                    if let Given::Given(text) = &revision.text {
                        let rendered = plan::render(
                            &answer.quick_answer,
                            answer.sections.iter().map(|s| s.body.as_str()),
                        );
                        assert_eq!(&rendered, text, "{name}: revision {}", revision.id);
                        // Its sources are what its text cites.
                        let sources: Vec<(&str, &str)> = answer
                            .sources
                            .iter()
                            .map(|s| (s.title.as_str(), s.url.as_str()))
                            .collect();
                        let cited = citations(text, 200);
                        let cited: Vec<(&str, &str)> = cited
                            .iter()
                            .map(|c| (c.title.as_str(), c.url.as_str()))
                            .collect();
                        assert_eq!(sources, cited, "{name}: revision {}", revision.id);
                        assert_eq!(
                            answer.last_updated,
                            revision.timestamp.date_naive().to_string(),
                            "{name}: revision {}: Last updated is the source's date",
                            revision.id
                        );
                    }
                    let commit = audit
                        .get_revision(pb::GetRevisionRequest {
                            article_id: answer.id.clone(),
                            version: planned.version,
                            min_position: 0,
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    let claims = commit
                        .events
                        .iter()
                        .find_map(|e| match &e.payload {
                            Some(pb::event::Payload::OriginClaimed(c)) => Some(c.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| panic!("{name}: revision {} has claims", revision.id));
                    assert_eq!(claims.revision_id, revision.id);
                    assert_eq!(claims.format, "wikitext", "{name}: the format is recorded");
                    page_versions.push((
                        planned.slug.clone(),
                        revision.timestamp.timestamp(),
                        planned.version,
                        planned.text.clone(),
                    ));
                    if planned.version == 1 {
                        authors.push((planned.slug.clone(), planned.claims.actor.clone()));
                    }
                    assert_eq!(claims.actor, planned.claims.actor);
                    assert_eq!(
                        claims.time.map(|t| t.seconds),
                        Some(revision.timestamp.timestamp())
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, commits, "{name}");

        // Blame names the source's authors, as claims beside the importer.
        crate::import_stackexchange::check_blame(&server, &authors).await;

        // The history lists each imported version's claims, as claims.
        let (slug, author) = &authors[0];
        let history = server.cli(&["history", slug]).await;
        assert!(history.success, "{}", history.stderr);
        let first = history
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("v1 "))
            .nth(1)
            .unwrap_or_default();
        assert!(
            first.starts_with("       claimed: ")
                && first.contains(" · format wikitext")
                && first.contains(&format!(" · by {author}")),
            "{name}: {}",
            history.stdout
        );

        // The CLI's `get --as-of-origin`: before the page's first claimed
        // time there is nothing; after its last, the current version.
        let (slug, _) = &authors[0];
        let before = server
            .cli(&["get", slug, "--as-of-origin", "2001-01-01T00:00:00Z"])
            .await;
        assert!(!before.success);
        assert!(
            before
                .stderr
                .contains("no version of the article is claimed at or before"),
            "{}",
            before.stderr
        );
        let after = server
            .cli(&["get", slug, "--as-of-origin", "2030-01-01", "--json"])
            .await;
        assert!(after.success, "{}", after.stderr);
        let current = server
            .answers()
            .await
            .get_answer(pb::GetAnswerRequest {
                r#ref: Some(pb::get_answer_request::Ref::Slug(slug.clone())),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .answer
            .unwrap();
        let shown: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
        assert_eq!(shown["version"], current.version.to_string());

        // Again: every command a duplicate, nothing new.
        let again = import(&server, &file).await;
        assert_eq!(again["commits"], 0, "{again}");
        assert_eq!(again["duplicates"].as_u64().unwrap() as usize, commits);
    }
}

/// The English sample's redirect, pointed at a page of the file (which
/// comes after it): its title's slug names that page's article, claimed
/// with the redirect's first revision; the as-of-origin reading is not
/// moved by it.
async fn a_redirect_to_a_page_of_the_file_names_its_article(backend: Backend) {
    let server = TestServer::start(backend).await;
    let text = std::fs::read_to_string(dump("enwiki_history_sample_xml/sample.xml")).unwrap();
    let pointed = text.replacen(
        "<redirect title=\"Death in Brunswick\" />",
        "<redirect title=\"A Story of Water\" />",
        1,
    );
    assert_ne!(pointed, text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redirect.xml");
    std::fs::write(&file, pointed).unwrap();
    let summary = import(&server, &file).await;
    assert_eq!(summary["aliases"], 1, "{summary}");
    assert_eq!(
        summary["skipped"],
        serde_json::json!({"a redirect page": 2}),
        "{summary}"
    );
    let mut answers = server.answers().await;
    let get = |slug: &str, as_of: Option<pb::get_answer_request::AsOf>| pb::GetAnswerRequest {
        r#ref: Some(pb::get_answer_request::Ref::Slug(slug.into())),
        as_of,
        ..Default::default()
    };
    let by_alias = answers
        .get_answer(get("death-in-brunswick", None))
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    assert_eq!(by_alias.slug, "a-story-of-water");
    let commit = server.revision(&by_alias.id, by_alias.version).await;
    let claims = commit.events.iter().find_map(|e| match &e.payload {
        Some(pb::event::Payload::SlugAliased(a)) => Some(a.slug.clone()),
        _ => None,
    });
    assert_eq!(claims.as_deref(), Some("death-in-brunswick"));
    let claimed = commit.events.iter().find_map(|e| match &e.payload {
        Some(pb::event::Payload::OriginClaimed(c)) => Some(c.revision_id.clone()),
        _ => None,
    });
    assert_eq!(claimed.as_deref(), Some("19841149"), "the first #REDIRECT");
    // Claimed at 08:40:59, two seconds before the page's first revision:
    // as of 08:41:00 the source showed no version of it.
    let before = answers
        .get_answer(get(
            "a-story-of-water",
            Some(pb::get_answer_request::AsOf::OriginTime(
                prost_types::Timestamp {
                    seconds: chrono::DateTime::parse_from_rfc3339("2005-07-29T08:41:00Z")
                        .unwrap()
                        .timestamp(),
                    nanos: 0,
                },
            )),
        ))
        .await
        .unwrap_err();
    assert_eq!(before.code(), tonic::Code::NotFound, "{before:?}");
    // Again: a duplicate, as every other command.
    let again = import(&server, &file).await;
    assert_eq!(again["commits"], 0, "{again}");
    server.stop().await;
}

async fn a_malformed_dump_is_refused_before_anything_is_sent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dump(DUMPS[0].0)).unwrap();
    // Cut inside the last page: its first pages are whole, and still none
    // of the file is sent.
    let cut = text.rfind("<text").unwrap() + 40;
    let truncated = dir.path().join("truncated.xml");
    std::fs::write(&truncated, &text[..cut]).unwrap();
    let line = text[..cut].lines().count();
    let out = refused(&server, &truncated).await;
    assert!(
        out.stderr.contains(&format!("line {line}: <text>:")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing of it was sent"),
        "{}",
        out.stderr
    );
    crate::import_stackexchange::assert_no_articles(&server).await;

    // A revision whose parent is not before it (a history cut short).
    let page = text.find("<title>A Story of Water</title>").unwrap();
    let first = text[page..].find("<revision>").unwrap() + page;
    let after = text[first..].find("</revision>").unwrap() + first + "</revision>\n".len();
    let cut_short = dir.path().join("cut-short.xml");
    std::fs::write(&cut_short, format!("{}{}", &text[..first], &text[after..])).unwrap();
    let out = refused(&server, &cut_short).await;
    assert!(
        out.stderr.contains("<parentid>:")
            && out.stderr.contains("which is not before it in the page"),
        "{}",
        out.stderr
    );

    // A revision without a timestamp is named by its line too.
    let at = text.find("<timestamp>").unwrap();
    let end = text[at..].find('\n').unwrap() + at;
    let untimed = dir.path().join("untimed.xml");
    std::fs::write(&untimed, format!("{}{}", &text[..at], &text[end..])).unwrap();
    let revision_line = text[..text[..at].rfind("<revision>").unwrap()]
        .lines()
        .count();
    let out = refused(&server, &untimed).await;
    assert!(
        out.stderr
            .contains(&format!("line {revision_line}: <revision>: no <timestamp>")),
        "{}",
        out.stderr
    );
}
