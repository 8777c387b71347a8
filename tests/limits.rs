//! Resource limits of the transport: followers at once, calls open on one
//! connection, and the default deadline of unary calls. Each refusal gets
//! its status, and the server stays healthy.

use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::*;
use answerlog::{AppOptions, ServerOptions};
use tonic::Code;

use crate::backend_tests;
use crate::support::{eventually, Backend, TestServer};

backend_tests!(
    followers_beyond_the_limit_are_refused_until_one_leaves,
    a_connection_holds_at_most_its_concurrent_streams,
    a_unary_call_without_a_deadline_gets_the_default_one,
    silent_connections_cannot_lock_out_a_client,
);

async fn start(backend: Backend, options: ServerOptions) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    TestServer::start_full(backend, dir, AppOptions::default(), options).await
}

fn follow_all() -> StreamEventsRequest {
    StreamEventsRequest {
        from_position: 0,
        ..Default::default()
    }
}

async fn healthy(server: &TestServer) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

async fn followers_beyond_the_limit_are_refused_until_one_leaves(backend: Backend) {
    let server = start(
        backend,
        ServerOptions {
            max_subscriptions: 2,
            ..ServerOptions::default()
        },
    )
    .await;
    let mut audit = server.audit().await;
    let first = audit.stream_events(follow_all()).await.expect("a place");
    let _second = audit.stream_events(follow_all()).await.expect("a place");

    let refused = audit.stream_events(follow_all()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("at most 2"), "{refused:?}");
    // Unary calls are not followers: they still work.
    let missing = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    healthy(&server).await;

    // A follower that leaves frees its place (once the server sees it go).
    drop(first);
    eventually("a place frees up", || {
        let mut audit = audit.clone();
        async move { audit.stream_events(follow_all()).await.ok() }
    })
    .await;
    server.stop().await;
}

async fn a_connection_holds_at_most_its_concurrent_streams(backend: Backend) {
    let server = start(
        backend,
        ServerOptions {
            max_concurrent_streams: 2,
            ..ServerOptions::default()
        },
    )
    .await;

    // The server announces the limit in its HTTP/2 SETTINGS.
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.expect("an h2 handshake");
    tokio::spawn(connection);
    let mut send = send.ready().await.expect("ready");
    let request = tonic::codegen::http::Request::post(format!(
        "http://{}/grpc.health.v1.Health/Check",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, _) = send.send_request(request, true).expect("a request");
    response.await.expect("a response");
    assert_eq!(send.current_max_send_streams(), 2);

    // Two followers fill one connection; a third call on it waits for a
    // place, which it gets when one follower leaves.
    let channel = server.channel().await;
    let mut audit = answerlog::pb::audit_service_client::AuditServiceClient::new(channel.clone());
    let first = audit.stream_events(follow_all()).await.expect("a stream");
    let _second = audit.stream_events(follow_all()).await.expect("a stream");
    let mut answers = answerlog::pb::answer_service_client::AnswerServiceClient::new(channel);
    let queued = tokio::spawn(async move {
        answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
                ..Default::default()
            })
            .await
    });
    // Another connection is not held up.
    let elsewhere = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::NotFound);
    drop(first);
    let answered = queued.await.unwrap().unwrap_err();
    assert_eq!(answered.code(), Code::NotFound, "{answered:?}");
    healthy(&server).await;
    server.stop().await;
}

async fn a_unary_call_without_a_deadline_gets_the_default_one(backend: Backend) {
    let server = start(
        backend,
        ServerOptions {
            default_deadline: Duration::from_millis(300),
            stream_heartbeat: Duration::from_millis(100),
            ..ServerOptions::default()
        },
    )
    .await;
    // A read waiting for a position that never comes, with no deadline of
    // its own, is answered DEADLINE_EXCEEDED (not left hanging, not CANCELLED).
    let started = std::time::Instant::now();
    let waited = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
            min_position: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(waited.code(), Code::DeadlineExceeded, "{waited:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the default deadline was not applied: {:?}",
        started.elapsed()
    );
    // A caller's own deadline still wins over the default.
    let mut request = tonic::Request::new(GetAnswerRequest {
        r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
        min_position: 1_000_000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(60));
    let answers = server.answers().await;
    let long = tokio::spawn(async move { answers.clone().get_answer(request).await });

    // A follower is not cut off at the default deadline: it keeps getting
    // heartbeats for longer than the deadline.
    let mut stream = server
        .audit()
        .await
        .stream_events(follow_all())
        .await
        .unwrap()
        .into_inner();
    let followed = std::time::Instant::now();
    while followed.elapsed() < Duration::from_millis(900) {
        let item = stream.message().await.expect("no error").expect("an item");
        assert!(matches!(
            item.item,
            Some(stream_events_response::Item::Heartbeat(_))
        ));
    }
    // By now the default deadline has passed several times over, but the
    // caller's 60 s one has not: its call is still waiting.
    assert!(!long.is_finished(), "the caller's deadline was overridden");
    long.abort();
    healthy(&server).await;
    server.stop().await;
}

/// Issue 14, item 20: connections that never send a byte are closed after
/// the handshake timeout, and at the connection limit a silent one gives
/// way to a new one, so that a well-behaved client is always answered.
async fn silent_connections_cannot_lock_out_a_client(backend: Backend) {
    const LIMIT: usize = 16;
    let server = start(
        backend,
        ServerOptions {
            max_connections: LIMIT,
            handshake_timeout: Duration::from_millis(700),
            ..ServerOptions::default()
        },
    )
    .await;
    // The limit's worth of connections that say nothing.
    let mut silent = Vec::new();
    for _ in 0..LIMIT {
        silent.push(
            tokio::net::TcpStream::connect(server.addr)
                .await
                .expect("a connection"),
        );
    }
    // A client still gets in at once (a silent one made room) and is
    // answered, again and again.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        healthy(&server).await;
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "answered only after {:?}: it waited for the handshake timeout",
            started.elapsed()
        );
    }
    // Every silent connection is closed by the handshake timeout (or was
    // closed to make room): past the server's own SETTINGS frame, a read
    // sees the end, or an error.
    for mut connection in silent {
        use tokio::io::AsyncReadExt as _;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read_to_end(&mut rest))
            .await
            .expect("the server closes a silent connection");
        assert!(
            rest.len() < 256,
            "{} bytes to a silent connection",
            rest.len()
        );
        drop(read);
    }
    healthy(&server).await;
}
