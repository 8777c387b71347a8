//! `answerlog health`, the probe a container's health check runs: SERVING
//! for the server and each service, a failure for a service it lacks, and
//! no token needed even when the server asks for one elsewhere.

use crate::backend_tests;
use crate::support::{Backend, TestServer};

async fn the_health_command_reports_serving_and_fails_otherwise(backend: Backend) {
    let server = TestServer::start(backend).await;
    let whole = server.cli(&["health"]).await;
    assert!(whole.success, "{}", whole.stderr);
    assert_eq!(whole.stdout.trim(), "SERVING");
    let one = server
        .cli(&[
            "health",
            "--service",
            "answerlog.v1.AnswerService",
            "--json",
        ])
        .await;
    assert!(one.success, "{}", one.stderr);
    let json: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(json["status"], "SERVING");
    let unknown = server
        .cli(&["health", "--service", "answerlog.v1.NoSuchService"])
        .await;
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("NoSuchService"),
        "{}",
        unknown.stderr
    );
    server.stop().await;
}

async fn a_watcher_sees_not_serving_when_the_server_stops(backend: Backend) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let server = TestServer::start(backend).await;
    let mut watch = HealthClient::new(server.channel().await)
        .watch(HealthCheckRequest {
            service: "answerlog.v1.ArticleService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopping = tokio::spawn(server.stop());
    // The drain reports NOT_SERVING before it waits for calls to end.
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    stopping.await.unwrap();
}

async fn a_watch_that_never_hangs_up_does_not_hold_the_stop(backend: Backend) {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_full(
        backend,
        dir,
        answerlog::AppOptions::default(),
        answerlog::ServerOptions {
            drain_limit: std::time::Duration::from_millis(200),
            ..answerlog::ServerOptions::default()
        },
    )
    .await;
    let mut watch = HealthClient::new(server.channel().await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().unwrap();
    // The watcher stays; the stop still ends (the drain closes the call
    // once its time is up), and the store is closed cleanly.
    let dir = server.stop().await;
    drop(watch);
    let restarted = TestServer::start_in(backend, dir, answerlog::AppOptions::default()).await;
    restarted.stop().await;
}

backend_tests!(
    the_health_command_reports_serving_and_fails_otherwise,
    a_watcher_sees_not_serving_when_the_server_stops,
    a_watch_that_never_hangs_up_does_not_hold_the_stop
);
