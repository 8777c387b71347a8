//! Every ArticleService write from the command line (issue 19), through
//! the real server: each command's change read back with the generated
//! client, a refusal naming its field, and `list` finding articles by
//! their words.

use answerlog::pb::ArticleStatus;

use crate::support::{example_path, Backend, TestServer};

/// The answer readers get by `slug`.
async fn by_slug(server: &TestServer, slug: &str) -> answerlog::pb::Answer {
    server
        .answers()
        .await
        .get_answer(answerlog::pb::GetAnswerRequest {
            r#ref: Some(answerlog::pb::get_answer_request::Ref::Slug(slug.into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap()
}

/// Runs `answerlog ARGS --reason r` against the server; its stdout.
async fn ok(server: &TestServer, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--reason", "a CLI test"]);
    let out = server.cli(&all).await;
    assert!(out.success, "{args:?}: {}", out.stderr);
    out.stdout
}

#[tokio::test]
async fn every_write_can_be_made_from_the_command_line() {
    let server = TestServer::start(Backend::Sled).await;
    let imported = server
        .cli(&["import", example_path().to_str().unwrap()])
        .await;
    assert!(imported.success, "{}", imported.stderr);
    let slug = "what-causes-jmt";
    let get = || by_slug(&server, slug);

    ok(&server, &["edit-question", slug, "What causes JM?"]).await;
    assert_eq!(get().await.question, "What causes JM?");
    ok(
        &server,
        &["edit-quick-answer", slug, "--text", "Genes and triggers."],
    )
    .await;
    assert_eq!(get().await.quick_answer, "Genes and triggers.");
    ok(&server, &["replace-key-facts", slug, "One.", "Two."]).await;
    assert_eq!(get().await.key_facts, ["One.", "Two."]);

    // Sections: one added after the first, moved first, then removed.
    let first = get().await.sections[0].id.clone();
    ok(
        &server,
        &[
            "add-section",
            slug,
            "--heading",
            "New",
            "--text",
            "Body.",
            "--after",
            &first,
        ],
    )
    .await;
    let sections = get().await.sections;
    assert_eq!(sections[1].heading, "New");
    let added = sections[1].id.clone();
    ok(&server, &["move-section", slug, &added]).await;
    assert_eq!(get().await.sections[0].id, added);
    ok(&server, &["remove-section", slug, &added]).await;
    assert!(get().await.sections.iter().all(|s| s.id != added));

    // Sources: one renamed, its other fields kept; then removed.
    let source = get().await.sources[0].clone();
    ok(
        &server,
        &["edit-source", slug, &source.id, "--title", "Renamed"],
    )
    .await;
    let edited = get().await.sources[0].clone();
    assert_eq!(
        (edited.title.as_str(), &edited.url, &edited.license),
        ("Renamed", &source.url, &source.license)
    );
    ok(&server, &["remove-source", slug, &source.id]).await;
    assert!(get().await.sources.iter().all(|s| s.id != source.id));

    // A refusal names its field, and changes nothing.
    let version = get().await.version;
    let refused = server
        .cli(&["remove-section", slug, "s999", "--reason", "r"])
        .await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("section_id"), "{}", refused.stderr);
    assert_eq!(get().await.version, version);

    // Reviewed, reverted to version 1, re-slugged (the old slug still
    // names it).
    ok(&server, &["review", slug]).await;
    assert!(!get().await.provenance.unwrap().reviewed_by.is_empty());
    ok(&server, &["revert", slug, "1"]).await;
    assert_eq!(get().await.question, "What causes jmt");
    ok(&server, &["change-slug", slug, "jmt-causes"]).await;
    assert_eq!(by_slug(&server, "jmt-causes").await.slug, "jmt-causes");
    assert_eq!(get().await.slug, "jmt-causes");

    // Retracted: readers no longer get it; restored by its slug.
    ok(&server, &["retract", "jmt-causes"]).await;
    let gone = server.cli(&["get", "jmt-causes"]).await;
    assert!(!gone.success, "{}", gone.stdout);
    ok(&server, &["restore-article", "jmt-causes"]).await;
    let back = by_slug(&server, "jmt-causes").await;
    assert_eq!(back.status(), ArticleStatus::Published);

    // list: by words, as lines and as JSON.
    let listed = server.cli(&["list", "CAUSES", "jmt"]).await;
    assert!(listed.success, "{}", listed.stderr);
    assert!(
        listed.stdout.starts_with("jmt-causes "),
        "{}",
        listed.stdout
    );
    let none = server.cli(&["list", "no-such-word"]).await;
    assert_eq!(none.stdout, "");
    let json = server.cli(&["list", "--json", "--limit", "1"]).await;
    let line: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(line["slug"], "jmt-causes");
    server.stop().await;
}
