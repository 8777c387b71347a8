//! Authentication and roles: who may call what, and the recorded actor is
//! always the authenticated principal.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::suggestion_service_client::SuggestionServiceClient;
use answerlog::pb::*;
use answerlog::{new_token, Role};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(
    each_role_may_call_what_design_allows,
    three_principals_are_named_in_the_history_and_no_field_sets_the_actor,
);

struct Tokens {
    reader: String,
    writer: String,
    auditor: String,
    admin: String,
    editor2: String,
    file: tempfile::NamedTempFile,
}

fn principals() -> Tokens {
    let mut text = String::new();
    let mut token = |name: &str, role: Role| {
        let (token, entry) = new_token(name, role).unwrap();
        text.push_str(&entry);
        token
    };
    let reader = token("rita", Role::Reader);
    let writer = token("wanda", Role::Writer);
    let auditor = token("august", Role::Auditor);
    let admin = token("ada", Role::Admin);
    let editor2 = token("wes", Role::Writer);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    Tokens {
        reader,
        writer,
        auditor,
        admin,
        editor2,
        file,
    }
}

fn authed<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn draft(question: &str) -> ArticleDraft {
    ArticleDraft {
        question: question.into(),
        quick_answer: "Because.".into(),
        last_updated: "2026-01-02".into(),
        ..ArticleDraft::default()
    }
}

async fn create(
    channel: Channel,
    token: Option<&str>,
    question: &str,
) -> Result<CreateArticleResponse, Status> {
    ArticleServiceClient::new(channel)
        .create_article(authed(
            CreateArticleRequest {
                command_id: cid(),
                reason: "test".into(),
                article: Some(draft(question)),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// Calls one method of each service as `token`; the codes, in a fixed order.
async fn codes(channel: &Channel, token: Option<&str>, article_id: &str, n: usize) -> Vec<Code> {
    let code = |r: Result<(), Status>| r.err().map_or(Code::Ok, |s| s.code());
    let write = create(channel.clone(), token, &format!("Question {n}"))
        .await
        .map(|_| ());
    let read = AnswerServiceClient::new(channel.clone())
        .get_answer(authed(
            GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(article_id.into())),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|_| ());
    let history = AuditServiceClient::new(channel.clone())
        .list_revisions(authed(
            ListRevisionsRequest {
                r#ref: Some(list_revisions_request::Ref::Id(article_id.into())),
                page_size: 0,
                page_token: String::new(),
                min_position: 0,
            },
            token,
        ))
        .await
        .map(|_| ());
    let diff = AuditServiceClient::new(channel.clone())
        .diff_versions(authed(
            DiffVersionsRequest {
                article_id: article_id.into(),
                from_version: 1,
                to_version: 1,
                min_position: 0,
            },
            token,
        ))
        .await
        .map(|_| ());
    let blame = AuditServiceClient::new(channel.clone())
        .get_attribution(authed(
            GetAttributionRequest {
                r#ref: Some(get_attribution_request::Ref::Id(article_id.into())),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|_| ());
    let log_wide = AuditServiceClient::new(channel.clone())
        .list_commits(authed(ListCommitsRequest::default(), token))
        .await
        .map(|_| ());
    let verify = AuditServiceClient::new(channel.clone())
        .verify_log(authed(VerifyLogRequest::default(), token))
        .await
        .map(|_| ());
    let suggest = SuggestionServiceClient::new(channel.clone())
        .suggest_question(authed(
            SuggestQuestionRequest {
                question: "Is it rare?".into(),
                article_id: String::new(),
            },
            token,
        ))
        .await
        .map(|_| ());
    let suggestions = SuggestionServiceClient::new(channel.clone())
        .list_suggestions(authed(ListSuggestionsRequest::default(), token))
        .await
        .map(|_| ());
    let import = async {
        let request = ImportCommitsRequest {
            commands: vec![ImportCommand {
                origin: None,
                command: Some(import_command::Command::CreateArticle(
                    CreateArticleRequest {
                        command_id: cid(),
                        reason: "test".into(),
                        article: Some(draft(&format!("Imported question {n}"))),
                    },
                )),
            }],
        };
        let mut answers = AdminServiceClient::new(channel.clone())
            .import_commits(authed(tokio_stream::iter([request]), token))
            .await?
            .into_inner();
        while answers.message().await?.is_some() {}
        Ok(())
    }
    .await;
    vec![
        code(write),
        code(read),
        code(history),
        code(diff),
        code(blame),
        code(log_wide),
        code(verify),
        code(suggest),
        code(suggestions),
        code(import),
    ]
}

async fn each_role_may_call_what_design_allows(backend: Backend) {
    let tokens = principals();
    let server = TestServer::start_with_principals(backend, tokens.file.path()).await;
    let channel = server.channel().await;
    let article = create(channel.clone(), Some(&tokens.admin), "The first question")
        .await
        .unwrap();
    use Code::{Ok as Y, PermissionDenied as D, Unauthenticated as U};
    // Writers read the history, diffs and blame of what they edit (issue
    // 14, item 13) and the suggestions they answer (issue 19); the
    // log-wide queries and verification stay the auditors'.
    let table: [(&str, Option<&str>, [Code; 10]); 7] = [
        // write read history diff blame log-wide verify suggest list-suggestions bulk-import
        ("no token", None, [U, U, U, U, U, U, U, U, U, U]),
        (
            "a bad token",
            Some("alt_0000"),
            [U, U, U, U, U, U, U, U, U, U],
        ),
        (
            "reader",
            Some(&tokens.reader),
            [D, Y, D, D, D, D, D, Y, D, D],
        ),
        (
            "writer",
            Some(&tokens.writer),
            [Y, Y, Y, Y, Y, D, D, Y, Y, D],
        ),
        (
            "auditor",
            Some(&tokens.auditor),
            [D, Y, Y, Y, Y, Y, Y, Y, Y, D],
        ),
        ("admin", Some(&tokens.admin), [Y, Y, Y, Y, Y, Y, Y, Y, Y, Y]),
        (
            "second writer",
            Some(&tokens.editor2),
            [Y, Y, Y, Y, Y, D, D, Y, Y, D],
        ),
    ];
    for (n, (who, token, expected)) in table.into_iter().enumerate() {
        let got = codes(&channel, token, &article.article_id, n).await;
        assert_eq!(got, expected, "{who}");
    }
    // A token that is not a bearer token at all.
    let mut request = Request::new(GetAnswerRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Basic YTpi".parse().unwrap());
    let status = AnswerServiceClient::new(channel.clone())
        .get_answer(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Health and reflection stay open.
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token");
    server.stop().await;
}

async fn three_principals_are_named_in_the_history_and_no_field_sets_the_actor(backend: Backend) {
    let tokens = principals();
    let server = TestServer::start_with_principals(backend, tokens.file.path()).await;
    let channel = server.channel().await;
    let id = create(channel.clone(), Some(&tokens.writer), "Who wrote this")
        .await
        .unwrap()
        .article_id;
    let mut articles = ArticleServiceClient::new(channel.clone());
    for (version, token) in [(1, &tokens.editor2), (2, &tokens.admin)] {
        let mut request = authed(
            EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: version,
                command_id: cid(),
                reason: "actor: mallory".into(),
                quick_answer: format!("Answer {version}."),
            },
            Some(token),
        );
        // Headers that try to name another actor change nothing.
        for header in ["x-actor", "actor", "x-user", "x-forwarded-user"] {
            request
                .metadata_mut()
                .insert(header, "mallory".parse().unwrap());
        }
        articles.edit_quick_answer(request).await.unwrap();
    }
    let history = AuditServiceClient::new(channel.clone())
        .list_revisions(authed(
            ListRevisionsRequest {
                r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
                page_size: 0,
                page_token: String::new(),
                min_position: 0,
            },
            Some(&tokens.auditor),
        ))
        .await
        .unwrap()
        .into_inner();
    let actors: Vec<_> = history.revisions.iter().map(|r| r.actor.as_str()).collect();
    assert_eq!(actors, ["wanda", "wes", "ada"]);
    // A review records the reviewer as the caller, whatever the draft said.
    articles
        .review_article(authed(
            ReviewArticleRequest {
                article_id: id.clone(),
                expected_version: 3,
                command_id: cid(),
                reason: "test".into(),
            },
            Some(&tokens.editor2),
        ))
        .await
        .unwrap();
    let answer = AnswerServiceClient::new(channel)
        .get_answer(authed(
            GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id)),
                ..Default::default()
            },
            Some(&tokens.reader),
        ))
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    assert_eq!(answer.provenance.unwrap().reviewed_by, "wes");
    server.stop().await;
}

/// The real binary, so that SIGHUP reaches a real server process.
pub(crate) struct Child {
    pub(crate) process: std::process::Child,
    pub(crate) url: String,
    /// The HTTP listener (pages and JSON API): `http://127.0.0.1:PORT`.
    pub(crate) http_url: String,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

pub(crate) fn spawn_server(data: &Path, principals: &Path) -> Child {
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .arg("--principals")
        .arg(principals)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = process.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut http_url = None;
    let url = loop {
        let line = lines
            .next()
            .expect("the server logs where it listens")
            .unwrap();
        if let Some(rest) = line.split(" http=").nth(1) {
            http_url = Some(format!(
                "http://{}",
                rest.split_whitespace().next().unwrap()
            ));
        }
        if let Some(rest) = line.split(" listen=").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    // Keep draining the log so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Child {
        process,
        url,
        http_url: http_url.expect("the server logs where its HTTP listener is"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_added_to_the_file_works_after_sighup_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let tokens = principals();
    let principals_path = tokens.file.path().to_owned();
    let child = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || spawn_server(&data, &principals_path)
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(child.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (newcomer, entry) = new_token("nina", Role::Writer).unwrap();
    let refused = create(channel.clone(), Some(&newcomer), "Before the reload")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    std::fs::OpenOptions::new()
        .append(true)
        .open(tokens.file.path())
        .unwrap()
        .write_all(entry.as_bytes())
        .unwrap();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", child.process.id())])
        .status()
        .unwrap();
    assert!(status.success());

    // The same connection, kept open across the reload, is admitted once the
    // server has read the file again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let created = loop {
        match create(channel.clone(), Some(&newcomer), "After the reload").await {
            Ok(created) => break created,
            Err(status) if status.code() == Code::Unauthenticated && Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(status) => panic!("not admitted after SIGHUP: {status:?}"),
        }
    };
    let revisions = AuditServiceClient::new(channel)
        .list_revisions(authed(
            ListRevisionsRequest {
                r#ref: Some(list_revisions_request::Ref::Id(created.article_id)),
                page_size: 0,
                page_token: String::new(),
                min_position: 0,
            },
            Some(&tokens.admin),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revisions.revisions[0].actor, "nina");
    drop(child);
}
