//! `ApplyChanges` and `answerlog apply` (issue 19), through the real server
//! on both logs: an edited copy of the example article applied as one
//! commit (sections created, others edited, moved and removed, a source
//! removed), `--dry-run` sending nothing, a field of a wrong edit named
//! under `edits[i]`, a stale version ABORTED, a retry answered as the
//! first time, and the writer role required.

use answerlog::pb::{self, article_edit::Edit, ArticleEdit};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::backend_tests;
use crate::support::{authed, cid, Backend, TestServer};

/// Writes `text` to a file in the server's directory; its path.
fn file(server: &TestServer, name: &str, text: &str) -> String {
    let path = server.dir().join(name);
    std::fs::write(&path, text).expect("the file is written");
    path.display().to_string()
}

/// A CLI run that must succeed; its stdout.
async fn ok(server: &TestServer, args: &[&str]) -> String {
    let out = server.cli(args).await;
    assert!(out.success, "{args:?}: {}", out.stderr);
    out.stdout
}

async fn cli_applies_an_edited_copy_as_one_commit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    let slug = "what-causes-jmt";
    let written = server.cli(&["get", slug, "--output", "import"]).await;
    assert!(written.success, "{}", written.stderr);
    assert!(
        !written.stderr.contains("warning"),
        "the example reads back the same: {}",
        written.stderr
    );
    let text = written.stdout;
    assert!(text.contains("## Genetic Factors {#s3}"), "{text}");

    // The edited copy: s1 renamed (by its id), s2's body edited, s3
    // removed, s8 moved first, two new sections after s5, a new one last;
    // the Arthritis Foundation's source removed; a new question.
    let edited = text
        .replace(
            "## What is Juvenile Myositis (JMT)? {#s1}",
            "## What is JMT? {#s1}",
        )
        .replace(
            "The precise cause of JMT remains unknown",
            "The precise cause of JMT is still unknown",
        )
        .replace("# What causes jmt\n", "# What causes JMT?\n");
    let (head, rest) = edited.split_once("## Genetic Factors {#s3}").unwrap();
    let (_, after_s3) = rest.split_once("\n## ").unwrap();
    let mut edited = format!("{head}## {after_s3}");
    let (before_s8, s8) = edited
        .split_once("## Diagnosis and Treatment {#s8}")
        .unwrap();
    let s8 = format!("## Diagnosis and Treatment {{#s8}}{s8}");
    let (top, sections) = before_s8.split_once("## What is JMT? {#s1}").unwrap();
    edited = format!(
        "{top}{}\n\n## What is JMT? {{#s1}}{sections}",
        s8.trim_end()
    );
    edited = edited.replace(
        "## Risk Factors {#s6}",
        "## New A\n\nFirst new.\n\n## New B\n\nSecond new.\n\n## Risk Factors {#s6}",
    );
    edited.push_str("\n## New C\n\nLast new.\n");
    let source = "[[sources]]\ntitle = \"Juvenile Myositis\"\npublisher = \"The Arthritis Foundation\"\nlicense = \"fair-use\"\n\n";
    assert!(edited.contains(source), "{edited}");
    edited = edited.replace(source, "");
    let path = file(&server, "edited.md", &edited);

    let plan = ok(&server, &["apply", &path, "--dry-run"]).await;
    for line in [
        "at version 1: 9 edits",
        "edit the question: \"What causes JMT?\"",
        "remove section s3 \"Genetic Factors\"",
        "move section s8 \"Diagnosis and Treatment\" first",
        "edit section s1 \"What is Juvenile Myositis (JMT)?\" (heading)",
        "edit section s2 \"What Causes Juvenile Myositis?\" (body)",
        "add section \"New B\" after s5",
        "add section \"New A\" after s5",
        "add section \"New C\" after s7",
        "remove source src2 \"Juvenile Myositis\"",
        "dry run: nothing sent",
    ] {
        assert!(plan.contains(line), "{line:?} not in the plan:\n{plan}");
    }
    assert_eq!(server.get(&id).await.version, 1, "a dry run sends nothing");
    let planned = ok(&server, &["apply", &path, "--dry-run", "--json"]).await;
    let planned: serde_json::Value = serde_json::from_str(&planned).unwrap();
    assert_eq!(planned["edits"].as_array().unwrap().len(), 9);
    assert_eq!(planned["edits"][1]["removeSection"]["sectionId"], "s3");
    assert_eq!(planned["sent"], false);

    let applied = ok(&server, &["apply", &path, "--reason", "a new edition"]).await;
    assert!(
        applied.contains("applied: article") && applied.contains("version 2"),
        "{applied}"
    );
    let now = server.get(&id).await;
    assert_eq!(now.version, 2, "one commit");
    assert_eq!(now.question, "What causes JMT?");
    let sections: Vec<(&str, &str)> = now
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.heading.as_str()))
        .collect();
    assert_eq!(
        sections,
        [
            ("s8", "Diagnosis and Treatment"),
            ("s1", "What is JMT?"),
            ("s2", "What Causes Juvenile Myositis?"),
            ("s4", "Environmental Triggers"),
            ("s5", "The Autoimmune Process"),
            ("s10", "New A"),
            ("s9", "New B"),
            ("s6", "Risk Factors"),
            ("s7", "Symptoms of Juvenile Myositis"),
            ("s11", "New C"),
        ]
    );
    assert!(now.sections[2].body.contains("is still unknown"));
    let publishers: Vec<&str> = now.sources.iter().map(|s| s.publisher.as_str()).collect();
    assert_eq!(
        publishers,
        ["Mayo Clinic", "National Organization for Rare Disorders"]
    );
    // The commit holds what changed, with its reason.
    let commit = server.revision(&id, 2).await;
    assert_eq!(commit.revision.unwrap().reason, "a new edition");
    assert!(commit.events.len() >= 9, "{:?}", commit.events.len());
    // The file is the article now: applying it again changes nothing.
    let again = ok(&server, &["apply", &path]).await;
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(server.get(&id).await.version, 2);
    // And the article written out reads back as the same file.
    let written = ok(&server, &["get", slug, "-o", "import"]).await;
    let rewritten = file(&server, "rewritten.md", &written);
    let same = ok(&server, &["apply", &rewritten, "--dry-run"]).await;
    assert!(same.contains("nothing to change"), "{same}");
    // The file names its article by id: a new slug in it is a slug change
    // of that article, not a search for another.
    assert!(written.contains(&format!("id = \"{id}\"")), "{written}");
    let renamed = file(
        &server,
        "renamed.md",
        &written.replace("slug = \"what-causes-jmt\"", "slug = \"jmt-causes\""),
    );
    let moved = ok(&server, &["apply", &renamed, "--reason", "a shorter slug"]).await;
    assert!(
        moved.contains("change the slug: what-causes-jmt → jmt-causes"),
        "{moved}"
    );
    let now = server.get(&id).await;
    assert_eq!((now.slug.as_str(), now.version), ("jmt-causes", 3));
    // Another article named beside a file written from this one: refused.
    let other = crate::support::create_article(&server, 7).await;
    let refused = server.cli(&["apply", &renamed, "--article", &other]).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("was written from article"),
        "{}",
        refused.stderr
    );
}

/// The current answer by id, read with `token`.
async fn read(server: &TestServer, id: &str, token: &str) -> pb::Answer {
    server
        .answers()
        .await
        .get_answer(authed(
            pb::GetAnswerRequest {
                r#ref: Some(pb::get_answer_request::Ref::Id(id.to_owned())),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("the answer")
        .into_inner()
        .answer
        .expect("an answer")
}

fn edit(edit: Edit) -> ArticleEdit {
    ArticleEdit { edit: Some(edit) }
}

async fn the_rpc_decides_every_edit_together(backend: Backend) {
    let (server, tokens) = TestServer::start_with_tokens(
        backend,
        &[
            ("writer", answerlog::Role::Writer),
            ("reader", answerlog::Role::Reader),
        ],
    )
    .await;
    let (writer, reader) = (&tokens[0], &tokens[1]);
    let created = server
        .articles()
        .await
        .create_article(authed(
            pb::CreateArticleRequest {
                command_id: cid(),
                reason: "created".into(),
                article: Some(pb::ArticleDraft {
                    question: "Why edit together?".into(),
                    quick_answer: "So that a page changes at once.".into(),
                    sections: vec![pb::SectionDraft {
                        heading: "One".into(),
                        body: "1".into(),
                    }],
                    last_updated: "2026-01-01".into(),
                    ..Default::default()
                }),
            },
            writer,
        ))
        .await
        .unwrap()
        .into_inner();
    let id = created.article_id;
    let request =
        |version: u64, command_id: &str, edits: Vec<ArticleEdit>| pb::ApplyChangesRequest {
            article_id: id.clone(),
            expected_version: version,
            command_id: command_id.to_owned(),
            reason: "together".into(),
            edits,
        };
    let send = |request: pb::ApplyChangesRequest, token: &str| {
        let server = &server;
        let request = authed(request, token);
        async move { server.articles().await.apply_changes(request).await }
    };
    /// The field the first violation of a refusal names.
    fn field(refused: &tonic::Status) -> String {
        let bad = refused.get_details_bad_request().expect("a BadRequest");
        bad.field_violations[0].field.clone()
    }
    let good = vec![
        edit(Edit::AddSection(pb::AddSectionRequest {
            section: Some(pb::SectionDraft {
                heading: "Two".into(),
                body: "2".into(),
            }),
            after_section_id: "s1".into(),
            ..Default::default()
        })),
        edit(Edit::EditSection(pb::EditSectionRequest {
            section_id: "s1".into(),
            body: Some("one".into()),
            ..Default::default()
        })),
        edit(Edit::EditQuickAnswer(pb::EditQuickAnswerRequest {
            quick_answer: "At once.".into(),
            ..Default::default()
        })),
    ];

    // A reader may not.
    let denied = send(request(1, &cid(), good.clone()), reader)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // A wrong edit: its field named under edits[i]; nothing written.
    let mut wrong = good.clone();
    wrong.push(edit(Edit::AddSection(pb::AddSectionRequest {
        section: Some(pb::SectionDraft {
            heading: String::new(),
            body: "x".into(),
        }),
        ..Default::default()
    })));
    let refused = send(request(1, &cid(), wrong), writer).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "edits[3].add_section.section.heading");
    // An envelope field set inside an edit, and a part edited twice.
    let mut enveloped = good.clone();
    if let Some(Edit::EditSection(m)) = &mut enveloped[1].edit {
        m.reason = "mine".into();
    }
    let refused = send(request(1, &cid(), enveloped), writer)
        .await
        .unwrap_err();
    let bad = refused.get_details_bad_request().expect("a BadRequest");
    assert_eq!(
        bad.field_violations[0].field,
        "edits[1].edit_section.reason"
    );
    let mut twice = good.clone();
    twice.push(good[1].clone());
    let refused = send(request(1, &cid(), twice), writer).await.unwrap_err();
    assert_eq!(field(&refused), "edits[3].edit_section");
    assert_eq!(
        read(&server, &id, reader).await.version,
        1,
        "nothing was written"
    );

    // The good plan: one version; a retry is answered as the first time.
    let command_id = cid();
    let first = send(request(1, &command_id, good.clone()), writer)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 2);
    let retry = send(request(1, &command_id, good.clone()), writer)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retry.version, retry.global_position),
        (first.version, first.global_position)
    );
    let now = read(&server, &id, reader).await;
    assert_eq!(now.quick_answer, "At once.");
    let sections: Vec<(&str, &str)> = now
        .sections
        .iter()
        .map(|s| (s.heading.as_str(), s.body.as_str()))
        .collect();
    assert_eq!(sections, [("One", "one"), ("Two", "2")]);
    // On a version that is no longer current: ABORTED, nothing written.
    let stale = send(request(1, &cid(), good), writer).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    assert_eq!(read(&server, &id, reader).await.version, 2);
}

backend_tests!(
    cli_applies_an_edited_copy_as_one_commit,
    the_rpc_decides_every_edit_together
);
