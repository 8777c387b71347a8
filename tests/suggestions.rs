//! The suggested questions' queue (issue 19), through the real server on
//! both logs: readers suggest, writers list them and resolve each once
//! (answered by an article, or declined with a note), every refusal naming
//! its field; the CLI's `suggest` and `suggestions list|answer|decline`;
//! resolutions survive a restart, a backup and its restore.

use std::sync::Arc;

use answerlog::pb::suggestion_service_client::SuggestionServiceClient;
use answerlog::pb::{
    ListSuggestionsRequest, ResolveSuggestionRequest, SuggestQuestionRequest, Suggestion,
    SuggestionResolution,
};
use answerlog::{AppOptions, Role};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::backend_tests;
use crate::support::{authed, cli_with_env, restore, Backend, TestServer};

async fn suggest(channel: &Channel, token: &str, question: &str) -> String {
    SuggestionServiceClient::new(channel.clone())
        .suggest_question(authed(
            SuggestQuestionRequest {
                question: question.into(),
                article_id: String::new(),
            },
            token,
        ))
        .await
        .expect("a suggestion")
        .into_inner()
        .suggestion_id
}

async fn list(channel: &Channel, token: Option<&str>) -> Result<Vec<Suggestion>, tonic::Status> {
    let request = ListSuggestionsRequest {
        page_size: 100,
        page_token: String::new(),
    };
    let request = match token {
        Some(token) => authed(request, token),
        None => tonic::Request::new(request),
    };
    Ok(SuggestionServiceClient::new(channel.clone())
        .list_suggestions(request)
        .await?
        .into_inner()
        .suggestions)
}

fn resolution(
    id: &str,
    how: SuggestionResolution,
    article: &str,
    note: &str,
) -> ResolveSuggestionRequest {
    ResolveSuggestionRequest {
        suggestion_id: id.into(),
        resolution: how as i32,
        article: article.into(),
        note: note.into(),
    }
}

async fn resolve(
    channel: &Channel,
    token: &str,
    request: ResolveSuggestionRequest,
) -> Result<Suggestion, tonic::Status> {
    Ok(SuggestionServiceClient::new(channel.clone())
        .resolve_suggestion(authed(request, token))
        .await?
        .into_inner()
        .suggestion
        .expect("the suggestion"))
}

fn field(status: &tonic::Status) -> String {
    let bad = status.get_details_bad_request().expect("a BadRequest");
    bad.field_violations[0].field.clone()
}

async fn writers_answer_or_decline_each_suggestion_once(backend: Backend) {
    let (server, tokens) = TestServer::start_with_tokens(
        backend,
        &[
            ("rita", Role::Reader),
            ("wanda", Role::Writer),
            ("august", Role::Auditor),
        ],
    )
    .await;
    let (reader, writer, auditor) = (&tokens[0], &tokens[1], &tokens[2]);
    let channel = server.channel().await;
    let cli = |args: &[&str], token: &str| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--server".into(), server.url.clone()]);
        cli_with_env(all, vec![("ANSWERLOG_TOKEN".into(), token.to_owned())])
    };
    let created = cli(
        &["import", crate::support::example_path().to_str().unwrap()],
        writer,
    )
    .await;
    assert!(created.success, "{}", created.stderr);
    let article = crate::support::imported_id(&created.stdout);

    let first = suggest(&channel, reader, "What is JDM?").await;
    let second = suggest(&channel, reader, "Is it contagious?").await;
    let out = cli(
        &[
            "suggest",
            "Can adults get it?",
            "--article",
            "what-causes-jmt",
            "--json",
        ],
        reader,
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let said: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let third = said["suggestionId"].as_str().unwrap().to_owned();

    // Readers may suggest, not list or resolve.
    assert_eq!(
        list(&channel, Some(reader)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let denied = resolve(
        &channel,
        reader,
        resolution(&first, SuggestionResolution::Declined, "", "no"),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Writers and auditors list them, in order, open.
    for token in [writer, auditor] {
        let all = list(&channel, Some(token)).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [first.as_str(), second.as_str(), third.as_str()]);
        assert!(all.iter().all(|s| s.status == "open"));
        assert_eq!(all[2].article_id, article);
    }

    // Answered, by slug: the article's id, the resolver and time recorded.
    let answered = resolve(
        &channel,
        writer,
        resolution(
            &first,
            SuggestionResolution::Answered,
            "what-causes-jmt",
            "see JDM",
        ),
    )
    .await
    .unwrap();
    assert_eq!(answered.status, "answered");
    assert_eq!(answered.answered_by_article_id, article);
    assert_eq!(
        (answered.resolved_by.as_str(), answered.note.as_str()),
        ("wanda", "see JDM")
    );
    assert!(answered.resolved_at.is_some());
    // The same resolution again (a retry) is answered as the first time.
    let retried = resolve(
        &channel,
        writer,
        resolution(
            &first,
            SuggestionResolution::Answered,
            "what-causes-jmt",
            "see JDM",
        ),
    )
    .await
    .unwrap();
    assert_eq!(retried, answered);
    // Once only.
    let again = resolve(
        &channel,
        writer,
        resolution(
            &first,
            SuggestionResolution::Declined,
            "",
            "changed my mind",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert!(again.message().contains("answered already"), "{again:?}");

    // Refusals name their field; nothing changes.
    let cases = [
        (
            resolution(&second, SuggestionResolution::Declined, "", ""),
            "note",
        ),
        (
            resolution(&second, SuggestionResolution::Answered, "", ""),
            "article",
        ),
        (
            resolution(&second, SuggestionResolution::Declined, &article, "x"),
            "article",
        ),
        (
            resolution(&second, SuggestionResolution::Unspecified, "", "x"),
            "resolution",
        ),
        (
            resolution("not-a-uuid", SuggestionResolution::Declined, "", "x"),
            "suggestion_id",
        ),
    ];
    for (request, named) in cases {
        let refused = resolve(&channel, writer, request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(field(&refused), named);
    }
    let missing = resolve(
        &channel,
        writer,
        resolution(
            &second,
            SuggestionResolution::Answered,
            "no-such-article",
            "",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let unknown = resolve(
        &channel,
        writer,
        resolution(
            "01900000-0000-7000-8000-000000000000",
            SuggestionResolution::Declined,
            "",
            "x",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    // The CLI: decline one, answer another, list by status.
    let out = cli(
        &["suggestions", "decline", &second, "--note", "out of scope"],
        writer,
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains("declined") && out.stdout.contains("out of scope"),
        "{}",
        out.stdout
    );
    let open = cli(&["suggestions", "list"], writer).await;
    assert!(open.success, "{}", open.stderr);
    assert_eq!(open.stdout.lines().count(), 1, "{}", open.stdout);
    assert!(open.stdout.contains(&third) && open.stdout.contains("Can adults get it?"));
    let out = cli(
        &["suggestions", "answer", &third, "what-causes-jmt"],
        writer,
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let all = cli(
        &["suggestions", "list", "--status", "all", "--json"],
        auditor,
    )
    .await;
    assert!(all.success, "{}", all.stderr);
    let statuses: Vec<String> = all
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, ["answered", "declined", "answered"]);
    let declined = cli(&["suggestions", "list", "--status", "declined"], writer).await;
    assert_eq!(declined.stdout.lines().count(), 1, "{}", declined.stdout);
    server.stop().await;
}

async fn resolutions_survive_a_restart_and_a_backup(backend: Backend) {
    let server = TestServer::start(backend).await;
    let channel = server.channel().await;
    server.import_example().await;
    let open = suggest(&channel, "x", "Still open?").await;
    let answered = suggest(&channel, "x", "Answered?").await;
    resolve(
        &channel,
        "x",
        resolution(
            &answered,
            SuggestionResolution::Answered,
            "what-causes-jmt",
            "",
        ),
    )
    .await
    .unwrap();
    let before = list(&channel, None).await.unwrap();
    assert_eq!(before.len(), 2);

    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = server.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    let dir = server.stop().await;
    let again = TestServer::start_in(backend, dir, AppOptions::default()).await;
    assert_eq!(list(&again.channel().await, None).await.unwrap(), before);
    // A suggestion after the restart still resolves, once.
    resolve(
        &again.channel().await,
        "x",
        resolution(
            &open,
            SuggestionResolution::Declined,
            "",
            "answered elsewhere",
        ),
    )
    .await
    .unwrap();
    again.stop().await;

    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&backup, restored.path(), &[]).await;
    assert!(out.success, "{}", out.stderr);
    let copy = TestServer::start_in(Backend::Sled, restored, AppOptions::default()).await;
    assert_eq!(list(&copy.channel().await, None).await.unwrap(), before);
    copy.stop().await;
}

backend_tests!(
    writers_answer_or_decline_each_suggestion_once,
    resolutions_survive_a_restart_and_a_backup
);
