//! The read models are kept off the write path: a write is answered once
//! its commit is durable in the log, and the projector applies it after.
//! What users rely on stays true: a read that begins after a write was
//! answered sees it, with no `min_position`, under concurrent load; and a
//! slug is refused at admission, before anything is acknowledged.

use answerlog::pb::*;
use tonic::Code;

use crate::backend_tests;
use crate::support::{cid, create, current, draft, Backend, TestServer};

backend_tests!(
    a_read_begun_after_an_answered_write_sees_it_under_concurrent_load,
    a_slug_raced_by_creations_and_renames_is_given_once_at_admission,
);

async fn a_read_begun_after_an_answered_write_sees_it_under_concurrent_load(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        // Writes and reads on separate connections, as separate clients.
        let (mut articles, mut answers) = (server.articles().await, server.answers().await);
        tasks.push(tokio::spawn(async move {
            let id = create(&mut articles, draft(&format!("Question {w}"), ""))
                .await
                .unwrap();
            for version in 1..=25u64 {
                let text = format!("writer {w}, edit {version}");
                let written = articles
                    .edit_quick_answer(EditQuickAnswerRequest {
                        article_id: id.clone(),
                        expected_version: version,
                        command_id: cid(),
                        reason: "test".into(),
                        quick_answer: text.clone(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let read = current(&mut answers, get_answer_request::Ref::Id(id.clone())).await;
                assert_eq!(read.version, written.version, "writer {w}");
                assert_eq!(read.quick_answer, text);
                assert!(read.global_position >= written.global_position);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.stop().await;
}

async fn a_slug_raced_by_creations_and_renames_is_given_once_at_admission(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Eight creations with one slug, at once.
    let mut creations = Vec::new();
    for n in 0..8 {
        let mut articles = server.articles().await;
        creations.push(tokio::spawn(async move {
            create(&mut articles, draft(&format!("Raced {n}"), "the-slug")).await
        }));
    }
    let mut won = Vec::new();
    for creation in creations {
        match creation.await.unwrap() {
            Ok(id) => won.push(id),
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(won.len(), 1, "one creation takes the slug");

    // Eight articles renamed to one new slug, at once.
    let mut ids = Vec::new();
    let mut articles = server.articles().await;
    for n in 0..8 {
        ids.push(
            create(&mut articles, draft(&format!("Renamed {n}"), ""))
                .await
                .unwrap(),
        );
    }
    let mut renames = Vec::new();
    for id in ids.clone() {
        let mut articles = server.articles().await;
        renames.push(tokio::spawn(async move {
            articles
                .change_slug(ChangeSlugRequest {
                    article_id: id,
                    expected_version: 1,
                    command_id: cid(),
                    reason: "test".into(),
                    slug: "the-new-slug".into(),
                })
                .await
        }));
    }
    let mut renamed = 0;
    for rename in renames {
        match rename.await.unwrap() {
            Ok(_) => renamed += 1,
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(renamed, 1, "one rename takes the slug");
    let owner = current(
        &mut server.answers().await,
        get_answer_request::Ref::Slug("the-new-slug".into()),
    )
    .await;
    assert!(ids.contains(&owner.id));
    // Nothing the projector could not apply reached the log.
    let verified = server.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    let dir = server.stop().await;
    if backend == Backend::Sled {
        crate::support::assert_read_models_equal_a_rebuild(dir.path()).await;
    }
}
