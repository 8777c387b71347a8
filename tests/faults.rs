//! Storage faults through the real server: a fault switch in the store
//! makes writes fail the way a full disk does, at a chosen point (before a
//! batch is applied, or at its flush, after it is applied in memory).
//! Writers get UNAVAILABLE, reads keep working, nothing acknowledged is
//! lost, and writes succeed again once the fault clears (the store reopens
//! its database, as sled latches I/O errors). The embedded log only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::*;
use answerlog::{AppOptions, FaultPoint, Faults, ServerOptions, StoreOptions};
use tonic::transport::Channel;
use tonic::Code;

use crate::sled_tests;
use crate::support::{
    assert_read_models_equal_a_rebuild, cid, create_article, Backend, TestServer,
};

// sled's own disk: a replica on JetStream applies what the stream holds
// and, while its disk fails, answers writes only once it has applied them.
sled_tests!(
    a_failing_disk_refuses_writes_keeps_reads_and_recovers,
    faults_under_concurrent_writers_lose_nothing_acknowledged,
    a_failure_as_sled_takes_an_answered_batch_recovers_with_no_write_to_prompt_it,
    a_lone_write_refused_by_the_disk_recovers_with_no_write_to_prompt_it,
);

async fn start(backend: Backend, faults: &Arc<Faults>) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let options = AppOptions {
        store: StoreOptions {
            faults: Some(Arc::clone(faults)),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    TestServer::start_full(backend, dir, options, ServerOptions::default()).await
}

fn edit(id: &str, expected: u64, text: String) -> EditQuickAnswerRequest {
    EditQuickAnswerRequest {
        article_id: id.to_owned(),
        expected_version: expected,
        command_id: cid(),
        reason: "test".into(),
        quick_answer: text,
    }
}

fn by_id(id: &str) -> GetAnswerRequest {
    GetAnswerRequest {
        r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
        ..Default::default()
    }
}

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
const NOT_SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

/// Waits until the write service's health reads `status`.
async fn until_write_health(server: &TestServer, status: i32) {
    eventually(|| async {
        (health_of(server, "answerlog.v1.ArticleService").await == status).then_some(())
    })
    .await;
}

/// What the health service says of `service` ("" for the server).
async fn health_of(server: &TestServer, service: &str) -> i32 {
    tonic_health::pb::health_client::HealthClient::new(server.channel().await)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("the health service answers")
        .into_inner()
        .status
}

/// Retries `attempt` until it succeeds, failing the test after 60 s.
async fn eventually<T, F, Fut>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < give_up, "never happened");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `request` until it is answered; UNAVAILABLE means "not now".
async fn until_written(
    articles: &mut ArticleServiceClient<Channel>,
    request: &EditQuickAnswerRequest,
) -> EditQuickAnswerResponse {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match articles.edit_quick_answer(request.clone()).await {
            Ok(written) => return written.into_inner(),
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    tokio::time::Instant::now() < give_up,
                    "the store never recovered"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Every acknowledged version is there with its text, the chains verify,
/// and after a stop the read models equal an offline rebuild.
async fn check(server: TestServer, articles: &BTreeMap<String, BTreeMap<u64, String>>) {
    let mut answers = server.answers().await;
    let mut audit = server.audit().await;
    for (id, acked) in articles {
        for (version, text) in acked {
            let answer = answers
                .get_answer(GetAnswerRequest {
                    r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                    as_of: Some(get_answer_request::AsOf::Version(*version)),
                    ..Default::default()
                })
                .await
                .expect("an acknowledged version")
                .into_inner()
                .answer
                .unwrap();
            assert_eq!(&answer.quick_answer, text, "{id} version {version}");
        }
        let verified = audit
            .verify_article(VerifyArticleRequest {
                article_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(verified.ok, "{verified:?}");
    }
    let log = audit
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(log.ok, "{log:?}");
    let dir = server.stop().await;
    assert_read_models_equal_a_rebuild(dir.path()).await;
}

async fn a_failing_disk_refuses_writes_keeps_reads_and_recovers(backend: Backend) {
    for point in [FaultPoint::Flush, FaultPoint::Apply] {
        let faults = Arc::new(Faults::new());
        let server = start(backend, &faults).await;
        let id = create_article(&server, 1).await;
        let mut articles = server.articles().await;
        let mut acked = BTreeMap::from([(1, "A.".to_owned())]);
        for v in 1..=20 {
            let text = format!("Answer {v}.");
            let written = articles
                .edit_quick_answer(edit(&id, v, text.clone()))
                .await
                .unwrap()
                .into_inner();
            acked.insert(written.version, text);
        }

        // The disk fills: the write is refused with UNAVAILABLE, and the
        // store reopens its database (reads too are refused for the
        // milliseconds that takes). On the embedded log a fault as sled
        // takes a batch strikes after the log's files made it durable: that
        // write is answered, and the writes after it are refused.
        faults.fail(point, 0);
        let mut last = 21;
        let (refused, status) = loop {
            let request = edit(&id, last, format!("Refused after {last}."));
            match articles.edit_quick_answer(request.clone()).await {
                Err(status) => break (request, status),
                Ok(written) => {
                    assert_eq!(
                        (point, backend),
                        (FaultPoint::Apply, Backend::Sled),
                        "a write answered after the fault"
                    );
                    let written = written.into_inner();
                    assert_eq!(written.version, last + 1);
                    acked.insert(written.version, request.quick_answer);
                    last = written.version;
                    assert!(last < 40, "the fault never refused a write");
                }
            }
        };
        assert_eq!(status.code(), Code::Unavailable, "{point:?}: {status:?}");
        assert!(
            status
                .message()
                .contains("retry it with the same command_id"),
            "a refused write says how to settle it: {status:?}"
        );
        // Issue 14, item 21: health shows it. The write services say
        // NOT_SERVING; the read services and the server as a whole (what
        // probes ask) stay SERVING, as reads are served.
        until_write_health(&server, NOT_SERVING).await;
        assert_eq!(
            health_of(&server, "answerlog.v1.AdminService").await,
            NOT_SERVING
        );
        assert_eq!(
            health_of(&server, "answerlog.v1.AnswerService").await,
            SERVING
        );
        assert_eq!(health_of(&server, "").await, SERVING);
        let mut answers = server.answers().await;
        let current = eventually(|| {
            let mut answers = answers.clone();
            let id = id.clone();
            async move { answers.get_answer(by_id(&id)).await.ok() }
        })
        .await;
        // While the disk stays full, every write is refused (a probe of the
        // disk fails before sled is touched) and every read answers.
        let struck = faults.struck();
        // (the last version answered: one sled failed to take is durable,
        // and decided on, though reads do not see it until the reopen)
        let version = last;
        for n in 0..5 {
            let status = articles
                .edit_quick_answer(edit(&id, version, format!("Never {n}.")))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{point:?}: {status:?}");
            let again = answers
                .get_answer(by_id(&id))
                .await
                .expect("reads during the fault")
                .into_inner();
            assert_eq!(again, current.get_ref().clone());
        }
        let status = articles
            .create_article(CreateArticleRequest {
                command_id: cid(),
                reason: "test".into(),
                article: Some(ArticleDraft {
                    question: "Can I be written now".into(),
                    quick_answer: "No.".into(),
                    last_updated: "2026-01-01".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{point:?}: {status:?}");
        // Refused by the probe before sled was touched: no batch failed.
        assert_eq!(faults.struck(), struck);

        // Reads keep working: the current answer, a past one, the history.
        // The refused write is in doubt: a batch that failed at its flush
        // may still reach the disk as sled lets go of the old handle. What
        // was answered and sled failed to take (the fault may strike a
        // batch answered before it was thrown) is served once the reopen
        // has replayed it from the log's files.
        let current = current.into_inner().answer.unwrap();
        // (as far back as the applier may lag: its queue and the batch it
        // writes)
        let lag = StoreOptions::default().apply_lag as u64 + 1;
        let first = if point == FaultPoint::Apply {
            21 - lag
        } else {
            21
        };
        match current.version {
            v if (first..=last).contains(&v) => assert_eq!(current.quick_answer, acked[&v]),
            v if v == last + 1 => assert_eq!(current.quick_answer, refused.quick_answer),
            other => panic!("{point:?}: version {other}"),
        }
        let revisions = server
            .audit()
            .await
            .list_revisions(ListRevisionsRequest {
                r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("history during the fault")
            .into_inner()
            .revisions;
        assert_eq!(revisions.len() as u64, current.version);

        // The disk has room again: the first refused write, retried with
        // its command_id, is there once (written now, or found written).
        faults.clear();
        let written = until_written(&mut articles, &refused).await;
        assert_eq!(written.version, last + 1);
        let again = until_written(&mut articles, &refused).await;
        assert_eq!(again, written);
        acked.insert(last + 1, refused.quick_answer.clone());
        until_write_health(&server, SERVING).await;
        let text = "After the fault.".to_owned();
        let after = articles
            .edit_quick_answer(edit(&id, last + 1, text.clone()))
            .await
            .expect("writes resume")
            .into_inner();
        acked.insert(after.version, text);
        check(server, &BTreeMap::from([(id, acked)])).await;
    }
}

async fn faults_under_concurrent_writers_lose_nothing_acknowledged(backend: Backend) {
    const WRITERS: usize = 8;
    const EDITS: u64 = 40;
    for point in [FaultPoint::Flush, FaultPoint::Apply] {
        let faults = Arc::new(Faults::new());
        let server = Arc::new(start(backend, &faults).await);
        let refused = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for n in 0..WRITERS {
            let id = create_article(&server, n).await;
            let channel = server.channel().await;
            let refused = Arc::clone(&refused);
            let finished = Arc::clone(&finished);
            writers.spawn(async move {
                let mut articles = ArticleServiceClient::new(channel);
                let mut acked = BTreeMap::from([(1, "A.".to_owned())]);
                for v in 1..=EDITS {
                    let request = edit(&id, v, format!("Writer {n}, edit {v}."));
                    let written = match articles.edit_quick_answer(request.clone()).await {
                        Ok(written) => written.into_inner(),
                        Err(status) => {
                            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                            refused.fetch_add(1, Ordering::AcqRel);
                            // In doubt: the same command_id, until answered.
                            until_written(&mut articles, &request).await
                        }
                    };
                    assert_eq!(written.version, v + 1);
                    acked.insert(written.version, request.quick_answer);
                }
                finished.fetch_add(1, Ordering::AcqRel);
                (id, acked)
            });
        }
        // A fault after a few more batches, while the writers write; it
        // clears once every writer was refused (or was done before) and
        // reads were checked.
        faults.fail(point, 20);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        while refused.load(Ordering::Acquire) == 0
            || refused.load(Ordering::Acquire) + finished.load(Ordering::Acquire) < WRITERS
        {
            assert!(
                tokio::time::Instant::now() < give_up,
                "the fault never struck"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let answers = server.answers().await;
        let listed = eventually(|| {
            let mut answers = answers.clone();
            async move {
                answers
                    .list_answers(ListAnswersRequest {
                        page_size: 100,
                        ..Default::default()
                    })
                    .await
                    .ok()
            }
        })
        .await
        .into_inner()
        .answers;
        assert_eq!(listed.len(), WRITERS);
        faults.clear();
        let mut all = BTreeMap::new();
        while let Some(done) = writers.join_next().await {
            let (id, acked) = done.unwrap();
            all.insert(id, acked);
        }
        println!(
            "{point:?}: {} batches failed and {} writes were refused under {WRITERS} writers; {} acknowledged commits all present",
            faults.struck(),
            refused.load(Ordering::Acquire),
            all.values().map(BTreeMap::len).sum::<usize>()
        );
        let server = Arc::into_inner(server).expect("the writers are done");
        check(server, &all).await;
    }
}

/// On the embedded log a fault as sled takes a batch strikes after the
/// log's files made it durable and the write was answered. With no write after
/// it, the store still notices, reopens once the disk has room, and
/// serves the answered write: the writer does not wait for a write to
/// find out.
async fn a_failure_as_sled_takes_an_answered_batch_recovers_with_no_write_to_prompt_it(
    backend: Backend,
) {
    let faults = Arc::new(Faults::new());
    let server = start(backend, &faults).await;
    let id = create_article(&server, 1).await;
    let mut articles = server.articles().await;
    // (a read waits until the read models hold the creation: the fault
    // strikes the edit's batch, not the creation's)
    server.get(&id).await;
    faults.fail(FaultPoint::Apply, 0);
    let written = articles
        .edit_quick_answer(edit(&id, 1, "Answered, then the disk filled.".into()))
        .await
        .expect("answered once the log's files have it")
        .into_inner();
    assert_eq!(written.version, 2);
    until_write_health(&server, NOT_SERVING).await;
    assert_eq!(faults.struck(), 1);
    faults.clear();
    until_write_health(&server, SERVING).await;
    let answer = server.get(&id).await;
    assert_eq!(
        (answer.version, answer.quick_answer.as_str()),
        (2, "Answered, then the disk filled.")
    );
    check(
        server,
        &BTreeMap::from([(
            id,
            BTreeMap::from([
                (1, "A.".to_owned()),
                (2, "Answered, then the disk filled.".to_owned()),
            ]),
        )]),
    )
    .await;
}

/// A lone write, which the caller writes itself when the writer is idle,
/// refused as the log's files fail: the writer's thread learns of it and
/// checks the disk again and again, so that writes resume once it
/// recovers, with no write to prompt it (health says NOT_SERVING in
/// between, and a careful client sends none).
async fn a_lone_write_refused_by_the_disk_recovers_with_no_write_to_prompt_it(backend: Backend) {
    let faults = Arc::new(Faults::new());
    let server = start(backend, &faults).await;
    let id = create_article(&server, 1).await;
    let mut articles = server.articles().await;
    faults.fail(FaultPoint::Flush, 0);
    let refused = articles
        .edit_quick_answer(edit(&id, 1, "Refused.".into()))
        .await
        .expect_err("the disk fails");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert_eq!(faults.struck(), 1);
    until_write_health(&server, NOT_SERVING).await;
    faults.clear();
    until_write_health(&server, SERVING).await;
    let written = articles
        .edit_quick_answer(edit(&id, 1, "Written.".into()))
        .await
        .expect("writes resume")
        .into_inner();
    assert_eq!(written.version, 2);
    check(
        server,
        &BTreeMap::from([(
            id,
            BTreeMap::from([(1, "A.".to_owned()), (2, "Written.".to_owned())]),
        )]),
    )
    .await;
}
