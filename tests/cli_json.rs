//! Every client write command can answer in JSON, and a refusal is one
//! plain sentence that names the field.

use crate::backend_tests;
use crate::support::{example_path, Backend, TestServer};

fn object(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn write_commands_answer_in_json_and_refusals_in_a_sentence(backend: Backend) {
    let server = TestServer::start(backend).await;
    let example = example_path().display().to_string();
    let imported = server.cli(&["import", &example, "--json"]).await;
    assert!(imported.success, "{}", imported.stderr);
    let imported = object(&imported.stdout);
    assert_eq!(
        imported["version"], "1",
        "uint64 as the JSON mapping writes it"
    );
    let id = imported["articleId"].as_str().unwrap().to_owned();

    let edited = server
        .cli(&[
            "edit-section",
            &id,
            "s1",
            "--body",
            "Shorter.",
            "--reason",
            "Trim",
            "--json",
        ])
        .await;
    assert!(edited.success, "{}", edited.stderr);
    assert_eq!(object(&edited.stdout)["version"], "2");
    let source = server
        .cli(&[
            "add-source",
            &id,
            "--title",
            "A title",
            "--publisher",
            "A publisher",
            "--license",
            "fair-use",
            "--reason",
            "Cite",
            "--json",
        ])
        .await;
    assert!(source.success, "{}", source.stderr);
    assert_eq!(object(&source.stdout)["version"], "3");
    // Without a reason, the server (by default) refuses, naming it.
    let unexplained = server.cli(&["redate", &id, "2026-05-01"]).await;
    assert!(!unexplained.success);
    assert!(
        unexplained
            .stderr
            .starts_with("error: the request is invalid: reason: must not be empty"),
        "{}",
        unexplained.stderr
    );
    let redated = server
        .cli(&["redate", &id, "2026-05-01", "--reason", "Checked", "--json"])
        .await;
    assert!(redated.success, "{}", redated.stderr);
    let redated = object(&redated.stdout);
    assert_eq!(redated["version"], "4");
    assert_eq!(redated["articleId"], id.as_str());

    // A refusal: what kind, then the server's message naming the field.
    let refused = server.cli(&["redate", &id, "not-a-date"]).await;
    assert!(!refused.success);
    let line = refused.stderr.trim();
    assert!(
        line.starts_with("error: the request is invalid: "),
        "{line}"
    );
    assert!(line.contains("last_updated"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let missing = server.cli(&["get", "no-such-article"]).await;
    assert!(
        missing.stderr.trim().starts_with("error: not found: "),
        "{}",
        missing.stderr
    );
    server.stop().await;
}

backend_tests!(write_commands_answer_in_json_and_refusals_in_a_sentence);
