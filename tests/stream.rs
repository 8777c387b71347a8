//! StreamEvents: every commit after a position, in order, with no gap and
//! no duplicate, for subscribers that start early, mid-way, fall behind or
//! reconnect; heartbeats while idle; read-your-writes with min_position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::*;
use answerlog::{AppOptions, ServerOptions, StoreOptions};
use tonic::transport::Channel;
use tonic::{Code, Request, Streaming};

use crate::backend_tests;
use crate::support::{create_article as create, edit_many as write, Backend, TestServer};

backend_tests!(
    concurrent_writers_and_subscribers_see_every_commit_once_in_order,
    a_slow_subscriber_catches_up_from_the_log_and_a_resumed_one_gets_the_rest,
    an_idle_stream_sends_heartbeats_and_filters_apply,
    min_position_waits_for_the_write_or_answers_before_the_deadline,
);

async fn subscribe(channel: Channel, from: u64) -> Streaming<StreamEventsResponse> {
    AuditServiceClient::new(channel)
        .stream_events(StreamEventsRequest {
            from_position: from,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Collects commit positions until `last` arrives.
async fn collect(
    mut stream: Streaming<StreamEventsResponse>,
    last: impl Fn() -> Option<u64>,
) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        if let (Some(end), Some(seen)) = (last(), got.last()) {
            if *seen >= end {
                return got;
            }
        }
        let message = stream
            .message()
            .await
            .unwrap()
            .expect("the stream stays open");
        if let Some(stream_events_response::Item::Commit(c)) = message.item {
            got.push(c.revision.unwrap().global_position);
        }
    }
}

async fn concurrent_writers_and_subscribers_see_every_commit_once_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(create(&server, n).await);
    }
    // 8 creations + 8 × 249 edits = 2,000 commits.
    let total = 2_000u64;
    let end = Arc::new(std::sync::OnceLock::<u64>::new());
    let collector = |stream, end: Arc<std::sync::OnceLock<u64>>| {
        tokio::spawn(async move { collect(stream, move || end.get().copied()).await })
    };
    // Two before the writes: from the start, and from position 3.
    let a = collector(subscribe(server.channel().await, 0).await, Arc::clone(&end));
    let b = collector(subscribe(server.channel().await, 3).await, Arc::clone(&end));
    let mut writers = Vec::new();
    for id in ids {
        writers.push(tokio::spawn(write(server.channel().await, id, 1, 249)));
    }
    // Two mid-way: once a few hundred commits are in, from where the log
    // stands then and from an earlier position.
    let mut answers = server.answers().await;
    let middle = loop {
        let page = answers
            .list_answers(ListAnswersRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let head = page
            .answers
            .iter()
            .map(|a| a.global_position)
            .max()
            .unwrap_or(0);
        if head >= 400 {
            break head;
        }
        tokio::task::yield_now().await;
    };
    assert!(middle < total, "the writers are still writing");
    let c = collector(
        subscribe(server.channel().await, middle).await,
        Arc::clone(&end),
    );
    let d = collector(
        subscribe(server.channel().await, middle / 2).await,
        Arc::clone(&end),
    );
    for writer in writers {
        writer.await.unwrap();
    }
    end.set(total).unwrap();
    for (name, task, start) in [
        ("a", a, 0),
        ("b", b, 3),
        ("c", c, middle),
        ("d", d, middle / 2),
    ] {
        let got = task.await.unwrap();
        assert_eq!(
            got.len() as u64,
            total - start,
            "subscriber {name} from {start}"
        );
        assert!(
            got.iter().copied().eq(start + 1..=total),
            "subscriber {name}: every commit after {start}, in order, once"
        );
    }
    server.stop().await;
}

async fn a_slow_subscriber_catches_up_from_the_log_and_a_resumed_one_gets_the_rest(
    backend: Backend,
) {
    // A live feed of two batches: a subscriber that pauses falls out of it.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let options = AppOptions {
        store: StoreOptions {
            live_buffer: 2,
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let server = TestServer::start_full(backend, dir, options, ServerOptions::default()).await;
    let id = create(&server, 0).await;
    let mut slow = subscribe(server.channel().await, 0).await;
    let first = slow.message().await.unwrap().unwrap();
    assert!(matches!(
        first.item,
        Some(stream_events_response::Item::Commit(_))
    ));
    // While it does not read, 600 commits of 16 KiB from 3 writers: far more
    // than the connection's flow-control window and the server's channel
    // hold, so the follower blocks and falls out of the two-batch feed.
    let mut others = Vec::new();
    for n in 1..=3 {
        let other = create(&server, n).await;
        let channel = server.channel().await;
        others.push(tokio::spawn(async move {
            let mut articles =
                answerlog::pb::article_service_client::ArticleServiceClient::new(channel);
            for v in 1..200u64 {
                articles
                    .edit_quick_answer(EditQuickAnswerRequest {
                        article_id: other.clone(),
                        expected_version: v,
                        command_id: crate::support::cid(),
                        reason: "test".into(),
                        quick_answer: format!("{v} {}", "x".repeat(16 * 1024)),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for w in others {
        w.await.unwrap();
    }
    write(server.channel().await, id.clone(), 1, 1).await;
    let total = 1 + 3 + 3 * 199 + 1;
    let got = collect(slow, || Some(total)).await;
    assert!(
        got.iter().copied().eq(2..=total),
        "the slow subscriber got everything, in order"
    );
    assert!(
        server.app.stream_lags() > 0,
        "it fell out of the live feed and caught up from the log"
    );

    // Reconnect: read up to some position, drop, resume from it.
    let mut stream = subscribe(server.channel().await, 0).await;
    let mut seen = 0;
    while seen < 250 {
        if let Some(stream_events_response::Item::Commit(c)) =
            stream.message().await.unwrap().unwrap().item
        {
            let position = c.revision.unwrap().global_position;
            assert_eq!(position, seen + 1);
            assert_eq!(c.log_hash.len(), 64, "each commit carries its log hash");
            seen = position;
        }
    }
    drop(stream);
    let rest = collect(subscribe(server.channel().await, seen).await, || {
        Some(total)
    })
    .await;
    assert!(
        rest.iter().copied().eq(seen + 1..=total),
        "exactly the rest"
    );
    server.stop().await;
}

async fn an_idle_stream_sends_heartbeats_and_filters_apply(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server_options = ServerOptions {
        stream_heartbeat: Duration::from_millis(50),
        ..ServerOptions::default()
    };
    let server = TestServer::start_full(backend, dir, AppOptions::default(), server_options).await;
    let a = create(&server, 0).await;
    let b = create(&server, 1).await;
    write(server.channel().await, b.clone(), 1, 2).await;
    write(server.channel().await, a.clone(), 1, 1).await;
    // Only a's commits: positions 1 and 5; then heartbeats at the head, 5.
    let mut stream = AuditServiceClient::new(server.channel().await)
        .stream_events(StreamEventsRequest {
            from_position: 0,
            article_ids: vec![a.clone()],
            event_kinds: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let mut commits = Vec::new();
    let heartbeat = loop {
        match stream.message().await.unwrap().unwrap().item.unwrap() {
            stream_events_response::Item::Commit(c) => {
                commits.push(c.revision.unwrap().global_position)
            }
            stream_events_response::Item::Heartbeat(h) => break h,
        }
    };
    assert_eq!(commits, [1, 5]);
    assert_eq!(heartbeat.last_position, 5);
    // By kind: only the edits.
    let mut stream = AuditServiceClient::new(server.channel().await)
        .stream_events(StreamEventsRequest {
            from_position: 0,
            article_ids: vec![],
            event_kinds: vec!["QuickAnswerEdited".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let mut edits = Vec::new();
    while edits.len() < 3 {
        if let Some(stream_events_response::Item::Commit(c)) =
            stream.message().await.unwrap().unwrap().item
        {
            edits.push(c.revision.unwrap().global_position);
        }
    }
    assert_eq!(edits, [3, 4, 5]);
    let status = AuditServiceClient::new(server.channel().await)
        .stream_events(StreamEventsRequest {
            from_position: 0,
            article_ids: vec!["nope".into()],
            event_kinds: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("article_ids[0]"));
    // The CLI prints the same stream.
    let tail = server
        .cli(&["tail", "--from", "2", "--count", "3", "--json"])
        .await;
    assert!(tail.success, "{}", tail.stderr);
    let positions: Vec<String> = tail
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["revision"]["globalPosition"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(positions, ["3", "4", "5"]);
    server.stop().await;
}

async fn min_position_waits_for_the_write_or_answers_before_the_deadline(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create(&server, 0).await;
    let mut answers = server.answers().await;
    // Beyond the head: DEADLINE_EXCEEDED from the server, before the
    // caller's deadline (a tenth of it before: deadlines of a few seconds
    // leave a loaded machine room to answer in time).
    let mut request = Request::new(GetAnswerRequest {
        receipt: false,
        r#ref: Some(get_answer_request::Ref::Id(id.clone())),
        as_of: None,
        min_position: 1_000,
    });
    request.set_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let status = answers.get_answer(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        status.message().contains("min_position"),
        "the server answered: {status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Every read takes min_position, the audit reads too.
    let mut request = Request::new(ListRevisionsRequest {
        r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
        min_position: 1_000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(2));
    let status = AuditServiceClient::new(server.channel().await)
        .list_revisions(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(status.message().contains("min_position"), "{status:?}");
    // Already applied: OK under a 30 s deadline.
    let mut request = Request::new(GetAnswerRequest {
        receipt: false,
        r#ref: Some(get_answer_request::Ref::Id(id.clone())),
        as_of: None,
        min_position: 1,
    });
    request.set_timeout(Duration::from_secs(30));
    assert!(answers.get_answer(request).await.is_ok());
    // A position written concurrently: the read waits for it, then sees it.
    let reader = {
        let mut answers = answers.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let mut request = Request::new(GetAnswerRequest {
                receipt: false,
                r#ref: Some(get_answer_request::Ref::Id(id)),
                as_of: None,
                min_position: 2,
            });
            request.set_timeout(Duration::from_secs(30));
            answers
                .get_answer(request)
                .await
                .unwrap()
                .into_inner()
                .answer
                .unwrap()
        })
    };
    write(server.channel().await, id, 1, 1).await;
    let answer = reader.await.unwrap();
    assert_eq!(answer.version, 2);
    server.stop().await;
}
