//! Read-your-writes and admission under load. A write is answered once it
//! is durable; the read models take it a moment later (on the embedded
//! log, the applier thread). A read that arrives after the answer, with no
//! `min_position`, waits for them and sees the write: from any client of
//! the server, on any read. And a slug that concurrent writers race for
//! goes to one of them: the others are refused before anything of theirs
//! is written, since nothing durable can be refused afterwards.

use std::sync::Arc;

use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::*;
use tonic::Code;

use answerlog::{AppOptions, FlushGate, StoreOptions};

use crate::backend_tests;
use crate::support::{cid, create_article, Backend, TestServer};

backend_tests!(
    a_read_right_after_an_acknowledged_write_sees_it_under_concurrent_load,
    a_current_answer_read_again_and_again_is_the_newest_after_each_edit,
    a_slug_raced_for_goes_to_one_writer_and_the_others_are_refused_at_admission
);
mod held {
    use super::with_the_read_models_held_still_writes_are_answered_and_reads_wait;
    crate::sled_tests!(with_the_read_models_held_still_writes_are_answered_and_reads_wait);
}

const WRITERS: usize = 8;
const EDITS: u64 = 25;

/// On the embedded log the read models are made to lag every answer: the
/// applier writes a batch only while a call waits for the read models
/// (`Lagging`), and no state is cached. So each read below arrives before the read models hold
/// the write just answered, and sees it only because it waits: without the
/// wait it would find the article at an older version, or not at all.
/// (On JetStream an append is answered once the replica's store applied
/// it, so the read models cannot lag the answer.)
async fn a_read_right_after_an_acknowledged_write_sees_it_under_concurrent_load(backend: Backend) {
    let gate = Arc::new(FlushGate::default());
    let options = AppOptions {
        store: StoreOptions {
            apply_gate: (backend == Backend::Sled).then(|| Arc::clone(&gate)),
            ..StoreOptions::default()
        },
        // No state is cached: each read folds it from the read models.
        state_cache_bytes: 1,
        ..AppOptions::default()
    };
    let server = Arc::new(TestServer::start_with(backend, options).await);
    let lagging = (backend == Backend::Sled).then(|| Lagging::start(&gate, &server));
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..WRITERS {
        let id = create_article(&server, n).await;
        let server = Arc::clone(&server);
        writers.spawn(async move {
            // The reads go over a connection of their own: another client.
            let mut articles = server.articles().await;
            let mut answers = AnswerServiceClient::new(server.channel().await);
            let mut audit = AuditServiceClient::new(server.channel().await);
            let mut text = "A.".to_owned();
            let mut slug = None;
            for v in 1..=EDITS {
                // Edits of the answer, and renames: a slug is found
                // through the read models alone.
                let command_id = cid();
                let (version, global_position) = if v % 2 == 1 {
                    text = format!("Writer {n}, edit {v}.");
                    let written = articles
                        .edit_quick_answer(EditQuickAnswerRequest {
                            article_id: id.clone(),
                            expected_version: v,
                            command_id: command_id.clone(),
                            reason: "read your writes".into(),
                            quick_answer: text.clone(),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    (written.version, written.global_position)
                } else {
                    let renamed = format!("writer-{n}-version-{}", v + 1);
                    let written = articles
                        .change_slug(ChangeSlugRequest {
                            article_id: id.clone(),
                            expected_version: v,
                            command_id: command_id.clone(),
                            reason: "read your writes".into(),
                            slug: renamed.clone(),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    slug = Some(renamed);
                    (written.version, written.global_position)
                };
                assert_eq!(version, v + 1);
                let written = EditQuickAnswerResponse {
                    article_id: id.clone(),
                    version,
                    global_position,
                };
                let by_slug = match &slug {
                    Some(slug) => vec![get_answer_request::Ref::Slug(slug.clone())],
                    None => Vec::new(),
                };
                for by in by_slug
                    .into_iter()
                    .chain([get_answer_request::Ref::Id(id.clone())])
                {
                    let answer = current(&mut answers, by.clone()).await;
                    assert_eq!(
                        (answer.version, answer.quick_answer.as_str()),
                        (v + 1, text.as_str()),
                        "GetAnswer by {by:?} right after the answer to the write"
                    );
                }
                let listed = audit
                    .list_revisions(ListRevisionsRequest {
                        r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
                        page_size: 0,
                        page_token: String::new(),
                        min_position: 0,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(listed.current_version, v + 1, "ListRevisions' head");
                assert!(
                    listed
                        .revisions
                        .iter()
                        .any(|r| r.version == v + 1
                            && r.global_position == written.global_position),
                    "the revision just written is listed"
                );
                let revision = audit
                    .get_revision(GetRevisionRequest {
                        article_id: id.clone(),
                        version: v + 1,
                        min_position: 0,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(revision.command_id, command_id, "GetRevision of the write");
                let outcome = articles
                    .get_command_outcome(GetCommandOutcomeRequest {
                        command_id: command_id.clone(),
                        ..GetCommandOutcomeRequest::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(
                    (outcome.version, outcome.global_position),
                    (v + 1, written.global_position),
                    "GetCommandOutcome of the write"
                );
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    if let Some(lagging) = lagging {
        let released = lagging.stop();
        // Each write's batch reached the read models only once a read
        // waited for it.
        assert!(
            released >= WRITERS as u64,
            "batches let through for waiting reads: {released}"
        );
    }
}

/// The applier held at its gate, let through one batch at a time and only
/// while a call waits for the read models (`App::reads_waiting`): the read
/// models lag every answer until a read needs them. Stopped (or dropped,
/// as a failing test unwinds), it opens the gate for good.
struct Lagging {
    gate: Arc<FlushGate>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Lagging {
    fn start(gate: &Arc<FlushGate>, server: &TestServer) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (gate, app, stop) = (Arc::clone(gate), Arc::clone(&server.app), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut released = 0;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    if gate.holds() && app.reads_waiting() > 0 {
                        gate.release(1);
                        released += 1;
                    } else {
                        // A poll of both conditions: neither side signals.
                        std::thread::park_timeout(std::time::Duration::from_micros(100));
                    }
                }
                released
            })
        };
        Self {
            gate: Arc::clone(gate),
            stop,
            thread: Some(thread),
        }
    }

    /// Opens the gate for good; the batches let through for waiting reads.
    fn stop(mut self) -> u64 {
        self.open();
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("the lagging thread"))
    }

    fn open(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.gate.release(u64::MAX / 2);
    }
}

impl Drop for Lagging {
    fn drop(&mut self) {
        self.open();
    }
}

async fn a_slug_raced_for_goes_to_one_writer_and_the_others_are_refused_at_admission(
    backend: Backend,
) {
    const RACERS: usize = 8;
    const ROUNDS: usize = 5;
    let server = Arc::new(TestServer::start(backend).await);
    let mut ids = Vec::new();
    for n in 0..RACERS {
        ids.push(create_article(&server, n).await);
    }
    for round in 0..ROUNDS {
        let slug = format!("raced-for-{round}");
        let mut racers = tokio::task::JoinSet::new();
        for id in &ids {
            let (server, id, slug) = (Arc::clone(&server), id.clone(), slug.clone());
            racers.spawn(async move {
                let mut articles = server.articles().await;
                let current = server.get(&id).await.version;
                let result = articles
                    .change_slug(ChangeSlugRequest {
                        article_id: id.clone(),
                        expected_version: current,
                        command_id: cid(),
                        reason: "race".into(),
                        slug,
                    })
                    .await;
                (id, current, result)
            });
        }
        let mut winners = Vec::new();
        while let Some(raced) = racers.join_next().await {
            let (id, before, result) = raced.unwrap();
            match result {
                Ok(written) => winners.push((id, written.into_inner())),
                Err(status) => {
                    assert!(
                        matches!(status.code(), Code::AlreadyExists),
                        "a loser is told the slug is taken: {status:?}"
                    );
                    // Refused at admission: nothing of it is in the log.
                    assert_eq!(server.get(&id).await.version, before, "{status:?}");
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one writer takes the slug");
        let (winner, _) = &winners[0];
        let mut answers = server.answers().await;
        let owner = current(&mut answers, get_answer_request::Ref::Slug(slug.clone())).await;
        assert_eq!(&owner.id, winner);
    }
    let verified = server.verify_log().await;
    assert!(verified.ok, "{verified:?}");
}

/// The current answer by id or slug, with no `min_position`.
/// With the state cache on (the default), a current answer is sent from
/// the encoding kept with its state. Read again and again between edits,
/// it is the newest version each time, and the same answer, byte for byte,
/// as the one converted for an as-of read of that version.
async fn a_current_answer_read_again_and_again_is_the_newest_after_each_edit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create_article(&server, 0).await;
    let mut articles = server.articles().await;
    let mut answers = AnswerServiceClient::new(server.channel().await);
    for v in 1..=5u64 {
        let by = get_answer_request::Ref::Id(id.clone());
        let first = current(&mut answers, by.clone()).await;
        let again = current(&mut answers, by.clone()).await;
        assert_eq!(first, again, "the same state read twice");
        assert_eq!(first.version, v);
        let as_of = answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(by),
                as_of: Some(get_answer_request::AsOf::Version(v)),
                ..GetAnswerRequest::default()
            })
            .await
            .unwrap()
            .into_inner()
            .answer
            .unwrap();
        assert_eq!(first, as_of, "current and as of version {v}");
        let text = format!("Edit {v}.");
        articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: v,
                command_id: cid(),
                reason: "a new version".into(),
                quick_answer: text.clone(),
            })
            .await
            .unwrap();
        let after = current(&mut answers, get_answer_request::Ref::Id(id.clone())).await;
        assert_eq!((after.version, after.quick_answer), (v + 1, text));
    }
}

async fn current(
    answers: &mut AnswerServiceClient<tonic::transport::Channel>,
    by: get_answer_request::Ref,
) -> Answer {
    answers
        .get_answer(GetAnswerRequest {
            r#ref: Some(by),
            ..GetAnswerRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap()
}

/// The embedded log's applier held at a gate before it writes anything
/// into sled: writes are still answered (durable in the log's files); a read
/// sent after the answers, without `min_position`, does not come back
/// while the read models lack them (its deadline passes), and comes back
/// with them once the applier moves on.
async fn with_the_read_models_held_still_writes_are_answered_and_reads_wait(backend: Backend) {
    let gate = Arc::new(FlushGate::default());
    gate.release(u64::MAX / 2);
    let options = AppOptions {
        store: StoreOptions {
            apply_gate: Some(Arc::clone(&gate)),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let server = TestServer::start_with(backend, options).await;
    let id = create_article(&server, 1).await;
    let mut answers = server.answers().await;
    assert_eq!(
        current(&mut answers, get_answer_request::Ref::Id(id.clone()))
            .await
            .version,
        1
    );

    gate.take_permits();
    let mut articles = server.articles().await;
    for v in 1..=3 {
        // An answer that waited for the read models would never come:
        // the deadline makes that a failure, not a hang.
        let mut write = tonic::Request::new(EditQuickAnswerRequest {
            article_id: id.clone(),
            expected_version: v,
            command_id: cid(),
            reason: "held".into(),
            quick_answer: format!("Held {v}."),
        });
        write.set_timeout(std::time::Duration::from_secs(10));
        let written = articles
            .edit_quick_answer(write)
            .await
            .expect("answered while the read models are held")
            .into_inner();
        assert_eq!(written.version, v + 1);
    }
    let mut held = tonic::Request::new(GetAnswerRequest {
        r#ref: Some(get_answer_request::Ref::Id(id.clone())),
        ..GetAnswerRequest::default()
    });
    held.set_timeout(std::time::Duration::from_millis(300));
    let status = answers.get_answer(held).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // A revision is read straight from the read models: without the wait
    // it would be NOT_FOUND.
    let mut audit = server.audit().await;
    let revision = GetRevisionRequest {
        article_id: id.clone(),
        version: 4,
        min_position: 0,
    };
    let mut held = tonic::Request::new(revision.clone());
    held.set_timeout(std::time::Duration::from_millis(300));
    let status = audit.get_revision(held).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    gate.release(u64::MAX / 2);
    let answer = current(&mut answers, get_answer_request::Ref::Id(id.clone())).await;
    assert_eq!(
        (answer.version, answer.quick_answer.as_str()),
        (4, "Held 3.")
    );
    let revision = audit.get_revision(revision).await.unwrap().into_inner();
    assert_eq!(revision.revision.map(|r| r.version), Some(4));
}
