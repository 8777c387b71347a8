//! The bulk import (AdminService.ImportCommits): writes in order, an
//! answer per request once durable, the first failure named, re-runs are
//! retries; and `answerlog import` on many files.

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::import_command::Command as Arm;
use answerlog::pb::*;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::support::{assert_read_models_equal_a_rebuild, cid, example_path, Backend, TestServer};

backend_tests!(
    a_bulk_import_applies_every_write_in_order_and_answers_each_request,
    a_long_history_imports_in_one_call_and_survives_a_restart,
    the_first_failure_ends_the_import_naming_the_command,
    an_import_sent_again_is_answered_with_the_originals,
    the_import_command_sends_many_files_and_reports_a_refused_one,
);

fn create(slug: &str, question: &str) -> ImportCommand {
    ImportCommand {
        origin: None,
        command: Some(Arm::CreateArticle(CreateArticleRequest {
            command_id: cid(),
            reason: "migrated".into(),
            article: Some(ArticleDraft {
                slug: slug.into(),
                question: question.into(),
                quick_answer: "First.".into(),
                last_updated: "2026-01-02".into(),
                sections: vec![SectionDraft {
                    heading: "Body".into(),
                    body: "Text.".into(),
                }],
                ..ArticleDraft::default()
            }),
        })),
    }
}

fn quick_answer(article: &str, expected_version: u64, text: &str) -> ImportCommand {
    ImportCommand {
        origin: None,
        command: Some(Arm::EditQuickAnswer(EditQuickAnswerRequest {
            article_id: article.into(),
            expected_version,
            command_id: cid(),
            reason: format!("edit {expected_version}"),
            quick_answer: text.into(),
        })),
    }
}

fn request(commands: Vec<ImportCommand>) -> ImportCommitsRequest {
    ImportCommitsRequest { commands }
}

/// Runs one import call: the answers it got, and how it ended.
async fn import(
    channel: Channel,
    requests: Vec<ImportCommitsRequest>,
) -> (Vec<ImportCommitsResponse>, Result<(), Status>) {
    let mut answers = Vec::new();
    let call = async {
        let mut stream = AdminServiceClient::new(channel)
            .import_commits(tokio_stream::iter(requests))
            .await?
            .into_inner();
        while let Some(answer) = stream.message().await? {
            answers.push(answer);
        }
        Ok(())
    }
    .await;
    (answers, call)
}

async fn get(server: &TestServer, slug: &str, version: Option<u64>) -> Answer {
    server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug(slug.into())),
            as_of: version.map(get_answer_request::AsOf::Version),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{slug} at {version:?}: {s:?}"))
        .into_inner()
        .answer
        .unwrap()
}

async fn log_verifies(server: &TestServer) -> u64 {
    let log = server.verify_log().await;
    assert!(log.ok, "{log:?}");
    log.through_position
}

/// Stops the server and checks that its read models equal an offline
/// rebuild of its log.
async fn read_models_equal_a_rebuild(server: TestServer) {
    let dir = server.stop().await;
    assert_read_models_equal_a_rebuild(dir.path()).await;
}

async fn a_bulk_import_applies_every_write_in_order_and_answers_each_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let requests = vec![
        request(vec![
            create("alpha", "What is alpha"),
            create("beta", "What is beta"),
            // By slug, before either creation is durable.
            quick_answer("alpha", 1, "Alpha, twice."),
            quick_answer("beta", 1, "Beta, twice."),
            quick_answer("alpha", 2, "Alpha, three times."),
        ]),
        // An empty request is answered too, in its turn.
        request(vec![]),
        request(vec![
            // Changes nothing: answered with the version it stands at.
            quick_answer("alpha", 3, "Alpha, three times."),
            ImportCommand {
                origin: None,
                command: Some(Arm::RevertArticle(RevertArticleRequest {
                    article_id: "alpha".into(),
                    expected_version: 3,
                    command_id: cid(),
                    reason: "back".into(),
                    to_version: 1,
                    last_updated: String::new(),
                })),
            },
            ImportCommand {
                origin: None,
                command: Some(Arm::ChangeSlug(ChangeSlugRequest {
                    article_id: "beta".into(),
                    expected_version: 2,
                    command_id: cid(),
                    reason: "rename".into(),
                    slug: "gamma".into(),
                })),
            },
            // The new slug names it at once.
            quick_answer("gamma", 3, "Gamma."),
        ]),
    ];
    let (answers, ended) = import(server.channel().await, requests).await;
    ended.expect("the import succeeds");
    let shape: Vec<usize> = answers.iter().map(|a| a.results.len()).collect();
    assert_eq!(shape, [5, 0, 4]);
    let done: Vec<u64> = answers.iter().map(|a| a.commands_done).collect();
    assert_eq!(done, [5, 5, 9]);
    let results: Vec<&ImportResult> = answers.iter().flat_map(|a| &a.results).collect();
    let versions: Vec<u64> = results.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 1, 2, 2, 3, 3, 4, 3, 4]);
    let positions: Vec<u64> = results.iter().map(|r| r.global_position).collect();
    // The unchanged edit stands at alpha's version 3 (position 5).
    assert_eq!(positions, [1, 2, 3, 4, 5, 5, 6, 7, 8]);
    assert!(results.iter().all(|r| !r.duplicate));
    let (alpha, beta) = (&results[0].article_id, &results[1].article_id);
    assert!(results[2..]
        .iter()
        .all(|r| [alpha, beta].contains(&&r.article_id)));

    let now = get(&server, "alpha", None).await;
    assert_eq!((now.version, now.quick_answer.as_str()), (4, "First."));
    assert_eq!(
        get(&server, "alpha", Some(3)).await.quick_answer,
        "Alpha, three times."
    );
    let gamma = get(&server, "gamma", None).await;
    assert_eq!((&gamma.id, gamma.quick_answer.as_str()), (beta, "Gamma."));
    // The old slug keeps resolving to the article.
    assert_eq!(&get(&server, "beta", None).await.id, beta);
    let revisions = server
        .audit()
        .await
        .list_revisions(ListRevisionsRequest {
            r#ref: Some(list_revisions_request::Ref::Slug("alpha".into())),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    let reasons: Vec<&str> = revisions.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["migrated", "edit 1", "edit 2", "Revert to version 1: back"]
    );
    assert_eq!(log_verifies(&server).await, 8);
    read_models_equal_a_rebuild(server).await;
}

async fn a_long_history_imports_in_one_call_and_survives_a_restart(backend: Backend) {
    let server = TestServer::start(backend).await;
    const EDITS: u64 = 3000;
    let mut requests = vec![request(vec![create("long", "What has a long history")])];
    for chunk in (1..=EDITS).collect::<Vec<_>>().chunks(250) {
        requests.push(request(
            chunk
                .iter()
                .map(|v| quick_answer("long", *v, &format!("Text {}.", v + 1)))
                .collect(),
        ));
    }
    let (answers, ended) = import(server.channel().await, requests).await;
    ended.expect("the import succeeds");
    assert_eq!(answers.len(), 13);
    let results: Vec<&ImportResult> = answers.iter().flat_map(|a| &a.results).collect();
    for (n, result) in results.iter().enumerate() {
        let n = n as u64 + 1;
        assert_eq!((result.version, result.global_position), (n, n));
    }
    assert_eq!(answers.last().unwrap().commands_done, EDITS + 1);
    let dir = server.stop().await;
    let server = TestServer::start_in(backend, dir, Default::default()).await;
    let answer = get(&server, "long", None).await;
    assert_eq!(
        (answer.version, answer.quick_answer.as_str()),
        (EDITS + 1, "Text 3001.")
    );
    assert_eq!(
        get(&server, "long", Some(1234)).await.quick_answer,
        "Text 1234."
    );
    assert_eq!(log_verifies(&server).await, EDITS + 1);
    read_models_equal_a_rebuild(server).await;
}

async fn the_first_failure_ends_the_import_naming_the_command(backend: Backend) {
    let server = TestServer::start(backend).await;
    let channel = server.channel().await;
    // A stale expected_version in the second request: ABORTED, with the
    // conflict's ErrorInfo and the place of the command.
    let (answers, ended) = import(
        channel.clone(),
        vec![
            request(vec![create("first", "What comes first")]),
            request(vec![
                quick_answer("first", 1, "Second."),
                quick_answer("first", 1, "A stale edit."),
                quick_answer("first", 2, "Never sent on."),
            ]),
        ],
    )
    .await;
    assert_eq!(answers.len(), 1, "only the first request is answered");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("request 1, commands[1].edit_quick_answer: "),
        "{}",
        status.message()
    );
    assert_eq!(
        status.metadata().get("answerlog-import-request").unwrap(),
        "1"
    );
    assert_eq!(
        status.metadata().get("answerlog-import-command").unwrap(),
        "1"
    );
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "VERSION_MISMATCH");
    assert_eq!(info.metadata["current_version"], "2");
    // The command before it is durable.
    let now = get(&server, "first", None).await;
    assert_eq!((now.version, now.quick_answer.as_str()), (2, "Second."));

    // A malformed field: INVALID_ARGUMENT, the BadRequest field given its
    // path in the call; nothing of the command is written.
    let mut bad = create("second", "");
    if let Some(Arm::CreateArticle(c)) = &mut bad.command {
        c.article.as_mut().unwrap().question.clear();
    }
    let (answers, ended) = import(
        channel.clone(),
        vec![request(vec![quick_answer("first", 2, "Third."), bad])],
    )
    .await;
    assert!(answers.is_empty());
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status.get_details_bad_request().expect("a BadRequest");
    assert_eq!(
        bad.field_violations[0].field,
        "commands[1].create_article.article.question"
    );
    assert_eq!(get(&server, "first", None).await.quick_answer, "Third.");

    // A command that names no write, and an article that does not exist.
    let (_, ended) = import(
        channel.clone(),
        vec![request(vec![ImportCommand {
            command: None,
            origin: None,
        }])],
    )
    .await;
    assert_eq!(ended.unwrap_err().code(), Code::InvalidArgument);
    let (_, ended) = import(
        channel.clone(),
        vec![request(vec![quick_answer("no-such-article", 1, "X.")])],
    )
    .await;
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "commands[0].edit_quick_answer.article_id"
    );
    assert_eq!(log_verifies(&server).await, 3);
    read_models_equal_a_rebuild(server).await;
}

async fn an_import_sent_again_is_answered_with_the_originals(backend: Backend) {
    let server = TestServer::start(backend).await;
    let requests = vec![
        request(vec![create("again", "What is sent twice")]),
        request(
            (1..=20)
                .map(|v| quick_answer("again", v, &format!("{v}.")))
                .collect(),
        ),
    ];
    let (first, ended) = import(server.channel().await, requests.clone()).await;
    ended.unwrap();
    let (second, ended) = import(server.channel().await, requests).await;
    ended.unwrap();
    let flat = |answers: &[ImportCommitsResponse]| -> Vec<(String, u64, u64)> {
        answers
            .iter()
            .flat_map(|a| &a.results)
            .map(|r| (r.article_id.clone(), r.version, r.global_position))
            .collect()
    };
    assert_eq!(flat(&first), flat(&second));
    assert!(second.iter().flat_map(|a| &a.results).all(|r| r.duplicate));
    assert_eq!(log_verifies(&server).await, 21);
    server.stop().await;
}

async fn the_import_command_sends_many_files_and_reports_a_refused_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(example_path()).unwrap();
    let mut files = Vec::new();
    for n in 0..30 {
        // File 7 takes the slug of file 3: refused, and the rest go on.
        let slug = if n == 7 { 3 } else { n };
        let text = example.replacen(
            "slug = \"what-causes-jmt\"",
            &format!("slug = \"page-{slug}\""),
            1,
        );
        assert_ne!(text, example, "the example has a slug line");
        let path = dir.path().join(format!("page-{n}.md"));
        std::fs::write(&path, text).unwrap();
        files.push(path.display().to_string());
    }
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    let out = server.cli(&args).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("page-7.md: already exists"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 of 30 files were not imported"),
        "{}",
        out.stderr
    );
    let imported = out
        .stdout
        .lines()
        .filter(|l| l.contains(": article "))
        .count();
    assert_eq!(imported, 29, "{}", out.stdout);
    for n in [0, 3, 8, 29] {
        assert_eq!(get(&server, &format!("page-{n}"), None).await.version, 1);
    }
    // Again: every file is a retry, answered with the original.
    let again = server.cli(&args).await;
    assert_eq!(
        again
            .stdout
            .lines()
            .filter(|l| l.contains(": article "))
            .count(),
        29,
        "{}",
        again.stderr
    );
    assert_eq!(log_verifies(&server).await, 29);
    server.stop().await;
}
