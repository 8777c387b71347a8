//! Optimistic concurrency and idempotent retries.

use answerlog::pb::{
    list_revisions_request, ArticleDraft, CreateArticleRequest, EditQuickAnswerRequest,
    ListCommitsRequest, ListRevisionsRequest,
};
use answerlog::AppOptions;
use hmac::Mac as _;
use prost::Message as _;
use sha2::Digest as _;
use tonic::Code;
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

/// 64 lowercase hex digits of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

backend_tests!(
    a_stale_expected_version_is_aborted_naming_the_current_one,
    a_retry_returns_the_same_response_and_adds_nothing,
    a_reused_command_id_with_another_request_is_invalid,
    an_edit_that_changes_nothing_writes_nothing,
    concurrent_retries_of_one_command_are_applied_once,
    a_request_hash_is_keyed_with_the_given_request_key_and_kept_with_the_store,
);

fn draft(question: &str) -> ArticleDraft {
    ArticleDraft {
        question: question.into(),
        quick_answer: "Because.".into(),
        last_updated: "2026-01-02".into(),
        ..ArticleDraft::default()
    }
}

async fn create(server: &TestServer, question: &str) -> String {
    server
        .articles()
        .await
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(draft(question)),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id
}

fn edit(id: &str, expected_version: u64, command_id: &str, text: &str) -> EditQuickAnswerRequest {
    EditQuickAnswerRequest {
        article_id: id.into(),
        expected_version,
        command_id: command_id.into(),
        reason: "edit".into(),
        quick_answer: text.into(),
    }
}

async fn revision_count(server: &TestServer, id: &str) -> usize {
    server
        .audit()
        .await
        .list_revisions(ListRevisionsRequest {
            r#ref: Some(list_revisions_request::Ref::Id(id.into())),
            page_size: 100,
            page_token: String::new(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .revisions
        .len()
}

async fn a_stale_expected_version_is_aborted_naming_the_current_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, "Why is the sky blue").await;
    let mut articles = server.articles().await;
    articles
        .edit_quick_answer(edit(&id, 1, &cid(), "Rayleigh."))
        .await
        .unwrap();
    let status = articles
        .edit_quick_answer(edit(&id, 1, &cid(), "Scattering."))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status.message().contains("version 2"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("expected_version"),
        "{}",
        status.message()
    );
    let info = status
        .get_details_error_info()
        .expect("an ErrorInfo detail");
    assert_eq!(info.reason, "VERSION_MISMATCH");
    assert_eq!(
        info.metadata.get("current_version").map(String::as_str),
        Some("2")
    );
    assert_eq!(server.get(&id).await.quick_answer, "Rayleigh.");
    server.stop().await;
}

async fn a_retry_returns_the_same_response_and_adds_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut articles = server.articles().await;
    let create_id = cid();
    let request = CreateArticleRequest {
        command_id: create_id.clone(),
        reason: "test".into(),
        article: Some(draft("Why do cats purr")),
    };
    let first = articles
        .create_article(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = articles.create_article(request).await.unwrap().into_inner();
    assert_eq!(first, again);

    let command = cid();
    let edited = articles
        .edit_quick_answer(edit(&first.article_id, 1, &command, "Contentment."))
        .await
        .unwrap()
        .into_inner();
    // The retry names the same (now stale) expected version: still the
    // original answer, not a conflict.
    let retried = articles
        .edit_quick_answer(edit(&first.article_id, 1, &command, "Contentment."))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited, retried);
    assert_eq!(revision_count(&server, &first.article_id).await, 2);
    server.stop().await;
}

async fn a_reused_command_id_with_another_request_is_invalid(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, "Why do dogs bark").await;
    let mut articles = server.articles().await;
    let command = cid();
    articles
        .edit_quick_answer(edit(&id, 1, &command, "To talk."))
        .await
        .unwrap();
    let status = articles
        .edit_quick_answer(edit(&id, 2, &command, "To warn."))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("command_id"),
        "{}",
        status.message()
    );
    assert_eq!(revision_count(&server, &id).await, 2);
    assert_eq!(server.get(&id).await.quick_answer, "To talk.");
    server.stop().await;
}

async fn an_edit_that_changes_nothing_writes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, "Why is water wet").await;
    let before = server.get(&id).await;
    let same = server
        .articles()
        .await
        .edit_quick_answer(edit(&id, 1, &cid(), "Because."))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (same.version, same.global_position),
        (1, before.global_position)
    );
    assert_eq!(revision_count(&server, &id).await, 1);
    server.stop().await;
}

async fn concurrent_retries_of_one_command_are_applied_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, "Why do leaves fall").await;
    let command = cid();
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut articles = server.articles().await;
        let request = edit(&id, 1, &command, "Abscission.");
        calls.push(tokio::spawn(async move {
            articles
                .edit_quick_answer(request)
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut answers = Vec::new();
    for call in calls {
        answers.push(
            call.await
                .unwrap()
                .expect("every retry gets the original answer"),
        );
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0].version, 2);
    assert_eq!(revision_count(&server, &id).await, 2);
    server.stop().await;
}

/// docs/AUDIT.md, "Request hashes": HMAC-SHA256 under the log's request
/// key of SHA-256(actor ‖ 0 ‖ rpc ‖ 0 ‖ the request's bytes), computed
/// here from that text. A data directory keeps its key for good; under
/// another (its key lost) a retry reads as a reuse and is refused.
async fn a_request_hash_is_keyed_with_the_given_request_key_and_kept_with_the_store(
    backend: Backend,
) {
    let key = [0x5a_u8; 32];
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("request.key");
    std::fs::write(&key_file, format!("{}\n", hex(&key))).unwrap();
    let given = |file: &std::path::Path| AppOptions {
        request_key: Some(file.to_owned()),
        ..AppOptions::default()
    };
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_in(backend, dir, given(&key_file)).await;
    let request = CreateArticleRequest {
        command_id: cid(),
        reason: "keyed".into(),
        article: Some(draft("Why are request hashes keyed")),
    };
    let create = || async {
        server
            .articles()
            .await
            .create_article(request.clone())
            .await
    };
    let first = create().await.unwrap().into_inner();
    let commit = server
        .audit()
        .await
        .list_commits(ListCommitsRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .commits
        .pop()
        .unwrap();
    let mut plain = sha2::Sha256::new();
    plain.update(commit.revision.as_ref().unwrap().actor.as_bytes());
    plain.update([0]);
    plain.update(b"CreateArticle");
    plain.update([0]);
    plain.update(request.encode_to_vec());
    let digest = plain.finalize();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(&digest);
    assert_eq!(commit.request_hash, hex(&mac.finalize().into_bytes()));
    assert_ne!(commit.request_hash, hex(&digest));
    // A retry on the same log is answered as the first time.
    assert_eq!(create().await.unwrap().into_inner(), first);
    if backend != Backend::Sled {
        // A replica proposes a given key to the log's bucket, which keeps
        // the first one: another would refuse to start (not tried here).
        server.stop().await;
        return;
    }
    let dir = server.stop().await;
    let other = keys.path().join("other.key");
    std::fs::write(&other, format!("{}\n", hex(&[0xa5; 32]))).unwrap();
    // The data directory keeps the key it was given: another is refused.
    let refused = answerlog::App::open(dir.path(), given(&other))
        .err()
        .expect("another key than the data directory's is refused");
    assert!(
        refused.to_string().contains("keeps another request key"),
        "{refused}"
    );
    // With its key lost, the store starts under another, and a retry of an
    // older command reads as a reuse: refused, not applied twice.
    std::fs::remove_file(dir.path().join("request-key")).unwrap();
    let server = TestServer::start_in(backend, dir, given(&other)).await;
    let refused = server
        .articles()
        .await
        .create_article(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("already used for a different request"),
        "{refused:?}"
    );
    server.stop().await;
}
