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

backend_tests!(the_health_command_reports_serving_and_fails_otherwise);
