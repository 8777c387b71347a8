//! The pages in a real browser (issue 17): the server on a free loopback
//! port, seeded through the generated gRPC client, and the scenarios of
//! `tests/browser/scenarios.mjs` run in Debian's chromium by
//! playwright-core. Screenshots of each page land in
//! `target/web-screenshots/`.
//!
//! `bash .ci/test` installs chromium (Debian's package) and the script's
//! node modules (`npm ci` in tests/browser); a run without them fails and
//! says how to get them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use answerlog::pb;
use answerlog::Role;

use crate::support::{authed, cid, example_path, imported_id, Backend, TestServer};

/// The browser: `ANSWERLOG_TEST_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("ANSWERLOG_TEST_CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("chromium is needed: run the suite with `bash .ci/test`, which installs Debian's package, or set ANSWERLOG_TEST_CHROMIUM")
        })
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The reference page's parts, read from its import file: what the answer
/// page must show.
struct Reference {
    question: String,
    quick_answer: String,
    key_facts: Vec<String>,
    headings: Vec<String>,
    sources: Vec<String>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(example_path()).expect("the reference page");
    let (_, rest) = text.split_once("+++\n").expect("front matter");
    let (front, body) = rest.split_once("+++\n").expect("front matter ends");
    let front: toml::Table = toml::from_str(front).expect("the front matter is TOML");
    let sources = front["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| {
            format!(
                "{} – {} {}",
                s["title"].as_str().unwrap(),
                s["publisher"].as_str().unwrap(),
                s["license"].as_str().unwrap()
            )
        })
        .collect();
    let mut parts: Vec<(String, String)> = Vec::new();
    for block in body.split("\n## ").skip(1) {
        let (heading, content) = block.split_once('\n').unwrap();
        parts.push((heading.trim().to_owned(), content.trim().to_owned()));
    }
    let part = |name: &str| {
        parts
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, c)| c.clone())
            .unwrap()
    };
    Reference {
        question: front["question"].as_str().unwrap().to_owned(),
        quick_answer: part("Quick Answer"),
        key_facts: part("Key Facts")
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .map(str::to_owned)
            .collect(),
        headings: parts
            .iter()
            .map(|(h, _)| h.clone())
            .filter(|h| h != "Quick Answer" && h != "Key Facts")
            .collect(),
        sources,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_chromium() {
    let chromium = chromium();
    let modules = browser_dir().join("node_modules/playwright-core");
    assert!(
        modules.is_dir(),
        "playwright-core is needed: run the suite with `bash .ci/test`, or `npm ci` in tests/browser"
    );
    let (server, tokens) = TestServer::start_with_tokens(
        Backend::Sled,
        &[
            ("ada", Role::Admin),
            ("rita", Role::Reader),
            ("wren", Role::Writer),
            ("avery", Role::Auditor),
        ],
    )
    .await;
    let [admin, reader, writer, auditor] = &tokens[..] else {
        unreachable!()
    };
    let reference = reference();

    // The reference article, imported by the admin; then one section
    // edited by a writer, with a reason.
    let out = server
        .cli(&["import", example_path().to_str().unwrap(), "--token", admin])
        .await;
    assert!(out.success, "import: {}", out.stderr);
    let id = imported_id(&out.stdout);
    let answer = server
        .answers()
        .await
        .get_answer(authed(
            pb::GetAnswerRequest {
                r#ref: Some(pb::get_answer_request::Ref::Id(id.clone())),
                ..Default::default()
            },
            reader,
        ))
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    let genetic = answer
        .sections
        .iter()
        .find(|s| s.heading == "Genetic Factors")
        .unwrap();
    let edit_reason = "Name the HLA genes' role plainly";
    server
        .articles()
        .await
        .edit_section(authed(
            pb::EditSectionRequest {
                article_id: id.clone(),
                expected_version: 1,
                command_id: cid(),
                reason: edit_reason.into(),
                section_id: genetic.id.clone(),
                heading: None,
                body: Some(genetic.body.replace(
                    "HLA genes play a crucial role",
                    "HLA genes play a central role",
                )),
            },
            writer,
        ))
        .await
        .unwrap();

    // An article, then its retraction.
    let retracted_question = "Is this answer withdrawn";
    let (retracted, retracted_slug) = create(
        &server,
        (retracted_question, "It was, for a mistake.", "2026-11-30"),
        writer,
        auditor,
    )
    .await;
    let mut articles = server.articles().await;
    articles
        .retract_article(authed(
            pb::RetractArticleRequest {
                article_id: retracted,
                expected_version: 1,
                command_id: cid(),
                reason: "A factual mistake".into(),
            },
            writer,
        ))
        .await
        .unwrap();

    // An article re-dated with no change of content: the freshness
    // report's one finding.
    let (stale, stale_slug) = create(
        &server,
        ("Does tea keep", "For about two years, dry.", "2026-01-10"),
        writer,
        auditor,
    )
    .await;
    articles
        .redate_article(authed(
            pb::RedateArticleRequest {
                article_id: stale,
                expected_version: 1,
                command_id: cid(),
                reason: "looks fresher".into(),
                last_updated: "2026-11-30".into(),
            },
            writer,
        ))
        .await
        .unwrap();

    // The log's key as an auditor publishes it: the badge's pasted key.
    let vkey = server
        .cli(&["audit", "checkpoint", "--vkey", "--token", auditor])
        .await;
    assert!(vkey.success, "{}", vkey.stderr);

    let nonce: u64 = rand::random::<u32>().into();
    eprintln!("browser scenario nonce {nonce}");
    let scenario = serde_json::json!({
        "slug": answer.slug,
        "question": reference.question,
        "last_updated_long": "April 4, 2026",
        "quick_answer": reference.quick_answer,
        "key_facts": reference.key_facts,
        "section_headings": reference.headings,
        "sources": reference.sources,
        "search": "JMT",
        "nonce": nonce,
        "versions": 2,
        "importer": "ada",
        "editor": "wren",
        "edit_reason": edit_reason,
        "retracted_slug": retracted_slug,
        "retracted_question": retracted_question,
        "edited_section": "Genetic Factors",
        "removed_word": "crucial",
        "added_word": "central",
        "stale_slug": stale_slug,
        "vkey": vkey.stdout.trim(),
    });
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    let mut node = std::process::Command::new("node");
    node.arg("scenarios.mjs")
        .current_dir(browser_dir())
        .env("ANSWERLOG_WEB_URL", &server.http_url)
        .env("ANSWERLOG_CHROMIUM", &chromium)
        .env("ANSWERLOG_SCREENSHOTS", &screenshots)
        .env(
            "ANSWERLOG_TOKENS",
            serde_json::json!({"reader": reader, "writer": writer, "auditor": auditor}).to_string(),
        )
        .env("ANSWERLOG_SCENARIO", scenario.to_string())
        .stdin(Stdio::null());
    // Each step of the script waits at most 15 s (playwright's timeout).
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        tokio::task::spawn_blocking(move || node.output()),
    )
    .await
    .expect("the scenarios end within 5 minutes")
    .unwrap()
    .expect("node runs (Node.js is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "a browser scenario failed:\n{stdout}"
    );

    // The suggestion made in the browser is on record, with its article.
    let suggested = stdout
        .lines()
        .find_map(|l| l.strip_prefix("suggested "))
        .expect("the suggest scenario ran");
    let suggestions = server
        .suggestions()
        .await
        .list_suggestions(authed(
            pb::ListSuggestionsRequest {
                page_size: 100,
                ..Default::default()
            },
            auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .suggestions;
    let made = suggestions
        .iter()
        .find(|s| s.question == suggested)
        .unwrap_or_else(|| panic!("{suggested:?} is among {suggestions:?}"));
    assert_eq!(made.article_id, id);
    assert_eq!(made.suggested_by, "rita");
}

/// Creates an article of `(question, quick answer, last updated)` as
/// `writer`: its id and slug (read as `auditor`).
async fn create(
    server: &TestServer,
    (question, quick_answer, last_updated): (&str, &str, &str),
    writer: &str,
    auditor: &str,
) -> (String, String) {
    let id = server
        .articles()
        .await
        .create_article(authed(
            pb::CreateArticleRequest {
                command_id: cid(),
                reason: "another answer".into(),
                article: Some(pb::ArticleDraft {
                    question: question.into(),
                    quick_answer: quick_answer.into(),
                    last_updated: last_updated.into(),
                    ..Default::default()
                }),
            },
            writer,
        ))
        .await
        .unwrap()
        .into_inner()
        .article_id;
    let slug = server
        .audit()
        .await
        .inspect_answer(authed(
            pb::InspectAnswerRequest {
                r#ref: Some(pb::inspect_answer_request::Ref::Id(id.clone())),
                ..Default::default()
            },
            auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap()
        .slug;
    (id, slug)
}
