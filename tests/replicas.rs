//! Replicas of one JetStream log: any number of servers share a stream,
//! each with read models of its own. Writes go through any of them; a read
//! elsewhere with `min_position` sees the write; concurrent writers on two
//! replicas lose no update; a slug is claimed once across replicas, and
//! freed again when the commit that claimed it lost a conflict; a
//! replica that finds the stream broken says so and serves nothing past
//! the break.

use std::sync::Arc;

use answerlog::pb::*;
use tonic::Code;

use crate::contention::writers_lose_no_update;
use crate::support::nats::NatsServer;
use crate::support::{cid, cli, create_article, eventually, parked_nats, Backend, TestServer};

async fn two_replicas() -> (TestServer, TestServer) {
    let a = TestServer::start(Backend::JetStream).await;
    let b = a.replica().await;
    (a, b)
}

fn quick_answer_edit(id: &str, expected_version: u64, text: String) -> EditQuickAnswerRequest {
    EditQuickAnswerRequest {
        article_id: id.to_owned(),
        expected_version,
        command_id: cid(),
        reason: "test".into(),
        quick_answer: text,
    }
}

fn draft(question: &str, slug: &str) -> ArticleDraft {
    ArticleDraft {
        slug: slug.into(),
        question: question.into(),
        quick_answer: "A.".into(),
        last_updated: "2026-01-01".into(),
        ..ArticleDraft::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_writes_through_one_replica_are_read_through_another_with_min_position() {
    let (a, b) = two_replicas().await;
    let mut writes = a.articles().await;
    let mut reads = b.answers().await;
    let mut versions = Vec::new();
    for n in 0..10 {
        versions.push((create_article(&a, n).await, 1));
    }
    let mut unseen_at_once = 0;
    for n in 0..1_000 {
        let slot = n % versions.len();
        let (id, version) = versions[slot].clone();
        let text = format!("Answer {n}.");
        let written = writes
            .edit_quick_answer(quick_answer_edit(&id, version, text.clone()))
            .await
            .unwrap()
            .into_inner();
        versions[slot].1 = written.version;
        if b.app.durable() < written.global_position {
            unseen_at_once += 1;
        }
        let answer = reads
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                min_position: written.global_position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.answer.as_ref().unwrap().version, written.version);
        assert_eq!(answer.answer.unwrap().quick_answer, text);
    }
    println!("{unseen_at_once} of 1000 writes were not yet applied on B when A answered");
    assert_eq!(a.app.durable(), 1_010);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_writing_one_article_lose_no_update() {
    let (a, b) = two_replicas().await;
    let id = create_article(&a, 1).await;
    // B knows the article once it has applied its creation.
    b.answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.clone())),
            min_position: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let servers = vec![Arc::new(a), Arc::new(b)];
    writers_lose_no_update(&servers, &id).await;
    for server in servers {
        Arc::into_inner(server).unwrap().stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slug_is_claimed_once_across_replicas() {
    let (a, b) = two_replicas().await;
    let servers = Arc::new([a, b]);
    let mut racers = tokio::task::JoinSet::new();
    for n in 0..8 {
        let servers = Arc::clone(&servers);
        racers.spawn(async move {
            servers[n % 2]
                .articles()
                .await
                .create_article(CreateArticleRequest {
                    command_id: cid(),
                    reason: "test".into(),
                    article: Some(draft(&format!("Racer {n}?"), "one-slug")),
                })
                .await
        });
    }
    let mut winners = Vec::new();
    while let Some(outcome) = racers.join_next().await {
        match outcome.unwrap() {
            Ok(created) => winners.push(created.into_inner()),
            Err(status) => {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                assert!(status.message().contains("one-slug"), "{status:?}");
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creation takes the slug");
    let winner = &winners[0];
    for server in servers.iter() {
        let answer = server
            .answers()
            .await
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Slug("one-slug".into())),
                min_position: winner.global_position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .answer
            .unwrap();
        assert_eq!(answer.id, winner.article_id);
    }
    // Another article cannot move onto it from the other replica either.
    let other = create_article(&servers[1], 99).await;
    let refused = servers[1]
        .articles()
        .await
        .change_slug(ChangeSlugRequest {
            article_id: other,
            expected_version: 1,
            command_id: cid(),
            reason: "test".into(),
            slug: "one-slug".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    let [a, b] = Arc::into_inner(servers).unwrap();
    b.stop().await;
    a.stop().await;
}

/// A new article with `slug`, created through `server`.
async fn take_slug(
    server: &TestServer,
    slug: &str,
) -> Result<tonic::Response<CreateArticleResponse>, tonic::Status> {
    server
        .articles()
        .await
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(draft(&format!("Who takes {slug}?"), slug)),
        })
        .await
}

/// The count of slug claims a server released, from its metrics.
fn claims_released(server: &TestServer) -> u64 {
    let text = server.app.metrics_text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("answerlog_slug_claims_released_total "))
        .expect("the counter is exported")
        .parse()
        .unwrap()
}

/// Renames raced against edits of one article from the other replica: a
/// rename that lost (ABORTED) leaves its slug free for any article, and
/// one that won keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slug_whose_rename_lost_a_conflict_is_free_again() {
    let (a, b) = two_replicas().await;
    let id = create_article(&a, 0).await;
    let (mut version, mut position) = (1, 0);
    let (mut lost, mut won) = (Vec::new(), Vec::new());
    let rename = |version: u64, slug: &str| ChangeSlugRequest {
        article_id: id.clone(),
        expected_version: version,
        command_id: cid(),
        reason: "test".into(),
        slug: slug.to_owned(),
    };
    // A rename through B against an edit through A, until at least one
    // rename lost at the publish, after its claim (at least 40 rounds).
    let mut round = 0;
    while round < 40 || claims_released(&b) == 0 {
        assert!(
            round < 1_000,
            "no rename lost at the publish in {round} rounds"
        );
        let slug = format!("renamed-{round}");
        let edit = quick_answer_edit(&id, version, format!("Round {round}."));
        let (mut on_a, mut on_b) = (a.articles().await, b.articles().await);
        let (edited, renamed) = tokio::join!(
            on_a.edit_quick_answer(edit),
            on_b.change_slug(rename(version, &slug))
        );
        match (edited, renamed) {
            (Ok(e), Err(r)) => {
                assert_eq!(r.code(), Code::Aborted, "{r:?}");
                position = e.into_inner().global_position;
                lost.push(slug);
            }
            (Err(e), Ok(r)) => {
                assert_eq!(e.code(), Code::Aborted, "{e:?}");
                position = r.into_inner().global_position;
                won.push(slug);
            }
            other => panic!("one of the two writes to version {version} wins: {other:?}"),
        }
        version += 1;
        round += 1;
    }
    // Both replicas rename to one slug: whichever loses must not release
    // the claim the winner stands on.
    for round in 0..20 {
        let slug = format!("both-{round}");
        let (mut on_a, mut on_b) = (a.articles().await, b.articles().await);
        let (on_a, on_b) = tokio::join!(
            on_a.change_slug(rename(version, &slug)),
            on_b.change_slug(rename(version, &slug))
        );
        let winner = match (on_a, on_b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => {
                assert_eq!(l.code(), Code::Aborted, "{l:?}");
                w
            }
            other => panic!("one of the two renames to version {version} wins: {other:?}"),
        };
        position = winner.into_inner().global_position;
        won.push(slug);
        version += 1;
    }
    println!(
        "renames: {} lost, {} won; {} claims released on B, {} on A",
        lost.len(),
        won.len(),
        claims_released(&b),
        claims_released(&a)
    );
    // Both replicas have applied every round before the slugs are tried.
    for server in [&a, &b] {
        let answer = server
            .answers()
            .await
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                min_position: position,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.answer.unwrap().version, version);
    }
    for (n, slug) in lost.iter().enumerate() {
        let through = if n % 2 == 0 { &a } else { &b };
        take_slug(through, slug)
            .await
            .unwrap_or_else(|e| panic!("{slug}, whose rename lost, is free: {e:?}"));
    }
    for slug in &won {
        let refused = take_slug(&a, slug).await.unwrap_err();
        assert_eq!(refused.code(), Code::AlreadyExists, "{slug}: {refused:?}");
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_through_another_replica_gets_the_original_answer() {
    let (a, b) = two_replicas().await;
    let create = CreateArticleRequest {
        command_id: cid(),
        reason: "test".into(),
        article: Some(draft("Retried?", "retried")),
    };
    let original = a
        .articles()
        .await
        .create_article(create.clone())
        .await
        .unwrap()
        .into_inner();
    let retried = b
        .articles()
        .await
        .create_article(create)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, original);
    let edit = quick_answer_edit(&original.article_id, 1, "B.".into());
    let edited = a
        .articles()
        .await
        .edit_quick_answer(edit.clone())
        .await
        .unwrap()
        .into_inner();
    let again = b
        .articles()
        .await
        .edit_quick_answer(edit)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, edited);
    // Nothing was added by the retries.
    assert_eq!(a.app.durable(), 2);
    // Both key request hashes with the log's request key, which the
    // bucket keeps and each keeps a copy of.
    let key = |server: &TestServer| std::fs::read(server.dir().join("request-key")).unwrap();
    assert_eq!(key(&a), key(&b));
    assert_eq!(key(&a).len(), 65);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_resumes_from_its_checkpoint() {
    let (a, b) = two_replicas().await;
    let id = create_article(&a, 1).await;
    let dir = b.stop().await;
    let mut writes = a.articles().await;
    let mut last = None;
    for version in 1..=50 {
        last = Some(
            writes
                .edit_quick_answer(quick_answer_edit(&id, version, format!("Edit {version}.")))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let last = last.unwrap();
    let b = TestServer::start_in(Backend::JetStream, dir, Default::default()).await;
    let answer = b
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.clone())),
            min_position: last.global_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    assert_eq!(answer.version, 51);
    assert_eq!(answer.quick_answer, "Edit 50.");
    // From its checkpoint: nothing it had applied came again.
    assert_eq!(b.app.store().stats().redelivered(), 0);
    let verified = b.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.through_position, 51);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_finds_the_stream_broken_says_so_and_serves_nothing_past_it() {
    let (a, b) = two_replicas().await;
    let id = create_article(&a, 1).await;
    a.articles()
        .await
        .edit_quick_answer(quick_answer_edit(&id, 1, "B.".into()))
        .await
        .unwrap();
    // A read on B waits for position 3, which will never be served.
    let mut waiting_reads = b.answers().await;
    let waiting_id = id.clone();
    let waiting = tokio::spawn(async move {
        let mut request = tonic::Request::new(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(waiting_id)),
            min_position: 3,
            ..Default::default()
        });
        request.set_timeout(std::time::Duration::from_secs(60));
        waiting_reads.get_answer(request).await
    });
    // Someone with access to the stream, not answerlog, writes to it.
    let nats = async_nats::connect(a.nats.as_ref().unwrap().url())
        .await
        .unwrap();
    let jetstream = async_nats::jetstream::new(nats);
    let ack = jetstream
        .publish(format!("ANSWERLOG.commit.{id}"), "not a commit".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.sequence, 3);

    // The waiting read ends with the break, not at its deadline.
    let ended = waiting.await.unwrap().unwrap_err();
    assert_eq!(ended.code(), Code::DataLoss, "{ended:?}");
    for server in [&a, &b] {
        // The break is found as the replica applies the stream.
        let verified = reported_break(server).await;
        assert_eq!(verified.through_position, 2);
        let at = verified.first_break.unwrap();
        assert_eq!((at.chain.as_str(), at.global_position), ("stream", 3));
        assert!(at.detail.contains("does not decode"), "{at:?}");
        // Nothing past it is served, and nothing is written onto it.
        let past = server
            .answers()
            .await
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                min_position: 3,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(past.code(), Code::DataLoss, "{past:?}");
        let refused = server
            .articles()
            .await
            .edit_quick_answer(quick_answer_edit(&id, 2, "C.".into()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
        assert!(refused.message().contains("position 3"), "{refused:?}");
    }

    // The way on (README, Backup and restore): a backup of a replica,
    // restored into a new stream, where a replica takes writes again.
    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = b.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    let nats = Arc::clone(a.nats.as_ref().unwrap());
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = cli(vec![
        "restore".into(),
        backup.display().to_string(),
        "--data-dir".into(),
        restored.path().display().to_string(),
        "--log".into(),
        nats.url(),
        "--nats-stream".into(),
        "ANSWERLOG2".into(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    let on = TestServer::start_on_stream(nats, "ANSWERLOG2", restored).await;
    let edited = on
        .articles()
        .await
        .edit_quick_answer(quick_answer_edit(&id, 2, "C.".into()))
        .await
        .expect("writes go on in the new stream")
        .into_inner();
    assert_eq!((edited.version, edited.global_position), (3, 3));
    let verified = on.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    on.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_larger_than_the_servers_max_payload_is_refused_naming_it() {
    let nats = Arc::new(NatsServer::start_with("max_payload: 4096"));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_on(
        Backend::JetStream,
        Some(nats),
        dir,
        Default::default(),
        Default::default(),
    )
    .await;
    let mut big = draft("Too big for this stream?", "too-big");
    big.quick_answer = "x".repeat(8_000);
    let refused = server
        .articles()
        .await
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(big),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("max_payload"), "{refused:?}");
    // Nothing reached the stream: the next commit is its first.
    let created = server
        .articles()
        .await
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(draft("Small enough?", "small")),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.global_position, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_belongs_to_one_log() {
    let a = TestServer::start(Backend::JetStream).await;
    create_article(&a, 1).await;
    let nats = a.nats.clone().unwrap();
    let replica_dir = a.stop().await;
    // A replica's directory does not open on the embedded log.
    let refused = answerlog::App::open(replica_dir.path(), Default::default())
        .err()
        .expect("the embedded log refuses a replica's directory");
    assert!(refused.to_string().contains("--log nats://"), "{refused}");

    // A directory with a log of its own does not join a stream.
    let sled = TestServer::start(Backend::Sled).await;
    create_article(&sled, 1).await;
    let sled_dir = sled.stop().await;
    let options = answerlog::JetStreamOptions::new(vec![nats.url()]);
    let refused = answerlog::App::open_replica(sled_dir.path(), Default::default(), &options)
        .await
        .err()
        .expect("a stream refuses a directory with a log of its own");
    assert!(refused.to_string().contains("log of its own"), "{refused}");

    // Nor does a replica of another stream.
    let other = answerlog::JetStreamOptions {
        stream: "OTHER".into(),
        ..options
    };
    let refused = answerlog::App::open_replica(replica_dir.path(), Default::default(), &other)
        .await
        .err()
        .expect("another stream refuses the directory");
    assert!(
        refused.to_string().contains("not of stream OTHER"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_lost_acknowledged_commits_is_reported_not_reused() {
    let nats = Arc::new(NatsServer::start());
    let block = nats
        .dir()
        .join("jetstream/jetstream/$G/streams/ANSWERLOG/msgs/1.blk");
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let a = TestServer::start_on(
        Backend::JetStream,
        Some(nats),
        Arc::clone(&dir),
        Default::default(),
        Default::default(),
    )
    .await;
    let id = create_article(&a, 1).await;
    let first = block_grows_past(&block, 0).await;
    let written = a
        .articles()
        .await
        .edit_quick_answer(quick_answer_edit(&id, 1, "B.".into()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.global_position, 2);
    block_grows_past(&block, first).await;
    a.stop().await;

    // nats-server loses the acknowledged commit at position 2, as an R1
    // server that died before it wrote it to its files would.
    let mut nats = Arc::into_inner(parked_nats(dir.path()).unwrap()).unwrap();
    nats.kill();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&block)
        .unwrap()
        .set_len(first)
        .unwrap();
    nats.restart();

    // The replica, started again, does not let position 2 be taken again.
    let a = TestServer::start_on(
        Backend::JetStream,
        Some(Arc::new(nats)),
        dir,
        Default::default(),
        Default::default(),
    )
    .await;
    let verified = reported_break(&a).await;
    let at = verified.first_break.unwrap();
    assert_eq!((at.chain.as_str(), at.global_position), ("stream", 2));
    assert!(at.detail.contains("lost acknowledged commits"), "{at:?}");
    let refused = a
        .articles()
        .await
        .edit_quick_answer(quick_answer_edit(&id, 2, "C.".into()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
    a.stop().await;
}

/// The size of the stream's message block once it is more than `than`
/// bytes (nats-server writes it to its file a moment after it
/// acknowledges).
/// nats-server's file is a condition no one announces: it is polled, and
/// the wait fails after 30 s.
async fn block_grows_past(block: &std::path::Path, than: u64) -> u64 {
    let what = format!("{} grows past {than} bytes", block.display());
    eventually(&what, || async {
        let size = std::fs::metadata(block).map(|m| m.len()).unwrap_or(0);
        (size > than).then_some(size)
    })
    .await
}

/// VerifyLog's answer once `server` reports the stream broken (it finds
/// the break as it applies the stream); fails after 30 s.
async fn reported_break(server: &TestServer) -> VerifyLogResponse {
    let audit = server.audit().await;
    eventually("the replica reports the break", || {
        let mut audit = audit.clone();
        async move {
            let verified = audit
                .verify_log(VerifyLogRequest::default())
                .await
                .unwrap()
                .into_inner();
            (!verified.ok).then_some(verified)
        }
    })
    .await
}
