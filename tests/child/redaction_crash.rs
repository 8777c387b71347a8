//! A crash in the middle of a redaction (docs/RELIABILITY.md, promise 2):
//! the real binary under `strace`, which kills it with SIGKILL as it is
//! about to rename one file of the redaction into place. Killed before its
//! intent is in place, nothing of it happened: the commit is absent and
//! the content is there. Killed before a rewritten file of the log is in
//! place, with the intent kept, the next start completes it: the commit is
//! there and the content is gone. Never one without the other.

use std::path::Path;
use std::process::Command;

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::*;

use crate::served::Served;

const SECRET: &str = "Call Jane Roe on 555-0100.";

fn cid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether any file under `dir` holds `text`.
fn holds(dir: &Path, text: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => holds(&path, text),
            false => std::fs::read(&path)
                .unwrap()
                .windows(text.len())
                .any(|w| w == text.as_bytes()),
        }
    })
}

/// An article whose version 2 holds the secret; its id.
async fn written(dir: &Path) -> String {
    let server = Served::start(dir);
    let mut articles = ArticleServiceClient::new(server.channel().await);
    let id = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "a crash test".into(),
            article: Some(ArticleDraft {
                question: "Who can give a second opinion?".into(),
                quick_answer: "Ask.".into(),
                last_updated: "2026-01-01".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id;
    articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "a contact".into(),
            quick_answer: SECRET.into(),
        })
        .await
        .unwrap();
    server.terminate();
    id
}

/// The server under strace, killed as it enters a rename of `path`.
fn killed_at_rename_of(dir: &Path, path: &Path) -> Command {
    let args: Vec<String> = [
        "-f",
        "-qq",
        "-e",
        "trace=rename,renameat,renameat2",
        "-e",
        "inject=rename,renameat,renameat2:signal=KILL",
        "-o",
        "/dev/null",
        "-P",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([path.display().to_string()])
    .collect();
    Served::under_strace(dir, &args)
}

/// Redacts version 2's event on a server that dies doing it; then
/// starts the server again and returns what it serves: the article's
/// version and its answer at version 2; and whether the crash left the
/// redaction's intent.
async fn crash_then_restart(dir: &Path, id: &str, dies_at: &Path) -> (u64, String, bool) {
    let server = Served::spawn(killed_at_rename_of(dir, dies_at));
    let refused = AdminServiceClient::new(server.channel().await)
        .redact_payload(RedactPayloadRequest {
            article_id: id.to_owned(),
            expected_version: 2,
            command_id: cid(),
            reason: "personal data".into(),
            position: 2,
            event_index: 0,
        })
        .await;
    assert!(refused.is_err(), "the server died before it answered");
    let status = server.wait_for_exit();
    assert!(!status.success(), "killed: {status:?}");
    let intent_left = dir.join("log/redaction.pending").exists();

    let server = Served::start(dir);
    let answers = AnswerServiceClient::new(server.channel().await);
    let answer = |as_of| {
        let request = GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
            as_of,
            ..Default::default()
        };
        let mut client = answers.clone();
        async move {
            client
                .get_answer(request)
                .await
                .unwrap()
                .into_inner()
                .answer
                .unwrap()
        }
    };
    let current = answer(None).await;
    let at_2 = answer(Some(get_answer_request::AsOf::Version(2))).await;
    let verified =
        answerlog::pb::audit_service_client::AuditServiceClient::new(server.channel().await)
            .verify_log(VerifyLogRequest::default())
            .await
            .unwrap()
            .into_inner();
    assert!(verified.ok, "{verified:?}");
    server.terminate();
    (current.version, at_2.quick_answer, intent_left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_a_redaction_leaves_neither_its_commit_nor_its_rewrite_without_the_other() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "this test runs the server under strace: install it (apt-get install strace), as .ci/run does"
    );
    // Killed before the intent is in place: nothing happened.
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("data");
    let id = written(&dir).await;
    let intent = dir.join("log/redaction.pending.new");
    let (version, at_2, intent_left) = crash_then_restart(&dir, &id, &intent).await;
    assert!(!intent_left);
    assert_eq!((version, at_2.as_str()), (2, SECRET));
    assert!(!intent.exists(), "the open removed what was left");

    // Killed with the intent kept, before the log's rewritten file is in
    // place: the next start completes the redaction.
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("data");
    let id = written(&dir).await;
    let rewritten = dir.join("log/00000000000000000001.rewrite");
    let (version, at_2, intent_left) = crash_then_restart(&dir, &id, &rewritten).await;
    assert!(intent_left, "killed in the middle of the redaction");
    assert_eq!((version, at_2.as_str()), (3, "[redacted]"));
    assert!(!holds(&dir.join("log"), SECRET), "the log's files hold it");
    assert!(!dir.join("log/redaction.pending").exists());
}
