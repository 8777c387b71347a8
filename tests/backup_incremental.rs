//! Incremental backups (issue 19): `backup DIR --since PREVIOUS` copies only
//! the commits after the previous backup's position, linked to its
//! digest; a chain of three (a full backup and two increments) restores
//! to the same log as a full backup of the same position, on both logs;
//! a gap in the chain, a chain out of order, an increment alone and an
//! increment of another server's backup are refused, and nothing is
//! written.

use std::path::Path;
use std::sync::Arc;

use answerlog::pb::SuggestQuestionRequest;
use answerlog::AppOptions;

use crate::backend_tests;
use crate::support::{cli, create_article, edit_many, Backend, CliOutput, TestServer};

/// Every commit of the server's log.
async fn whole_log(server: &TestServer) -> Vec<answerlog::pb::Commit> {
    crate::backup::log_through(server, u64::MAX).await
}

/// `answerlog backup DIR [--since PREV] --json` against `server`: its JSON.
async fn backup(server: &TestServer, dir: &Path, since: Option<&Path>) -> serde_json::Value {
    let dir = dir.display().to_string();
    let mut args = vec!["backup", dir.as_str(), "--json"];
    let since = since.map(|p| p.display().to_string());
    if let Some(since) = &since {
        args.extend(["--since", since.as_str()]);
    }
    let out = server.cli(&args).await;
    assert!(out.success, "backup {dir}: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("one JSON object")
}

/// `answerlog restore DIRS… --data-dir INTO`.
async fn restore(dirs: &[&Path], into: &Path) -> CliOutput {
    let mut args: Vec<String> = vec!["restore".into()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend([
        "--data-dir".into(),
        into.display().to_string(),
        "--json".into(),
    ]);
    cli(args).await
}

/// Whether the directory holds nothing.
fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

async fn a_chain_of_three_restores_the_same_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let scratch = tempfile::tempdir().unwrap();
    let (full, second, third) = (
        scratch.path().join("full"),
        scratch.path().join("inc-1"),
        scratch.path().join("inc-2"),
    );
    let first_id = create_article(&server, 0).await;
    edit_many(server.channel().await, first_id.clone(), 1, 5).await;
    let taken = backup(&server, &full, None).await;
    assert_eq!(taken["commits"], 6);
    assert!(taken.get("since").is_none());

    // Increment 1: a new article, edits of the first, a suggestion.
    let other_id = create_article(&server, 1).await;
    edit_many(server.channel().await, first_id.clone(), 6, 3).await;
    server
        .suggestions()
        .await
        .suggest_question(SuggestQuestionRequest {
            question: "And after the full backup?".into(),
            article_id: String::new(),
        })
        .await
        .unwrap();
    let taken = backup(&server, &second, Some(&full)).await;
    assert_eq!(taken["commits"], 4, "{taken}");
    assert_eq!(taken["since"]["globalPosition"], "6");
    assert_eq!(taken["globalPosition"], "10");
    let lines = std::fs::read_to_string(second.join("log.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "only what came after");

    // Increment 2: edits of both; then an empty increment is one too.
    edit_many(server.channel().await, other_id.clone(), 1, 2).await;
    edit_many(server.channel().await, first_id.clone(), 9, 2).await;
    let taken = backup(&server, &third, Some(&second)).await;
    assert_eq!(taken["commits"], 4, "{taken}");
    assert_eq!(taken["globalPosition"], "14");
    let nothing_new = scratch.path().join("inc-3");
    let taken = backup(&server, &nothing_new, Some(&third)).await;
    assert_eq!(taken["commits"], 0, "{taken}");

    // The chain restores to the log as it stands: every position, time,
    // actor, event and hash; and the suggestion.
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&[&full, &second, &third], restored.path()).await;
    assert!(out.success, "{}", out.stderr);
    let said: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(said["commits"], 14, "{said}");
    assert_eq!(said["suggestions"], 1, "{said}");
    assert_eq!(said["requestHashesChecked"], true, "{said}");
    let original = whole_log(&server).await;
    let copy = TestServer::start_in(Backend::Sled, restored, AppOptions::default()).await;
    assert_eq!(whole_log(&copy).await, original);
    assert!(copy.verify_log().await.ok, "the restored log verifies");
    copy.stop().await;

    // A gap (increment 1 left out), the chain out of order, and an
    // increment given alone: refused, naming what is wrong; nothing is
    // written.
    let refused_into = tempfile::tempdir().unwrap();
    let gap = restore(&[&full, &third], refused_into.path()).await;
    assert!(!gap.success);
    assert!(
        gap.stderr
            .contains("goes on from the backup at position 10")
            && gap.stderr.contains("a backup of the chain is missing"),
        "{}",
        gap.stderr
    );
    let swapped = restore(&[&full, &third, &second], refused_into.path()).await;
    assert!(!swapped.success);
    assert!(
        swapped.stderr.contains("out of order"),
        "{}",
        swapped.stderr
    );
    let alone = restore(&[&second], refused_into.path()).await;
    assert!(!alone.success);
    assert!(
        alone.stderr.contains("is an incremental backup"),
        "{}",
        alone.stderr
    );
    let two_full = restore(&[&full, &full], refused_into.path()).await;
    assert!(!two_full.success);
    assert!(
        two_full.stderr.contains("is a full backup"),
        "{}",
        two_full.stderr
    );
    // An increment whose log was changed after it was taken.
    let tampered = scratch.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    for file in [
        "digest.json",
        "manifest.json",
        "base.json",
        "suggestions.jsonl",
    ] {
        std::fs::copy(second.join(file), tampered.join(file)).unwrap();
    }
    let log = std::fs::read_to_string(second.join("log.jsonl")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.swap(0, 1);
    std::fs::write(tampered.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = restore(&[&full, &tampered], refused_into.path()).await;
    assert!(!out.success);
    assert!(out.stderr.contains("position 8"), "{}", out.stderr);
    assert!(
        empty(refused_into.path()),
        "a refused restore wrote nothing"
    );

    // An increment of a backup of another log is refused at backup time.
    let stranger = TestServer::start(Backend::Sled).await;
    for n in 0..20 {
        create_article(&stranger, n).await;
    }
    let out = stranger
        .cli(&[
            "backup",
            &scratch.path().join("strange").display().to_string(),
            "--since",
            &full.display().to_string(),
        ])
        .await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("the server's log does not go on from"),
        "{}",
        out.stderr
    );
    stranger.stop().await;
    server.stop().await;
}

/// A redaction after a backup rewrote a commit that backup holds: no
/// increment may go on from it (refused when taken), and a chain whose
/// increment holds such a redaction is refused at restore, since the base
/// would bring the content back.
async fn an_increment_cannot_carry_a_redaction_of_what_its_base_holds(backend: Backend) {
    let server = TestServer::start(backend).await;
    let scratch = tempfile::tempdir().unwrap();
    let id = create_article(&server, 0).await;
    edit_many(server.channel().await, id.clone(), 1, 2).await;
    let full = scratch.path().join("full");
    backup(&server, &full, None).await;
    // The quick answer of version 2 (position 2) is redacted.
    let out = server
        .cli(&[
            "redact",
            &id,
            "--version",
            "2",
            "--event",
            "0",
            "--reason",
            "leaked",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let refused = server
        .cli(&[
            "backup",
            &scratch.path().join("inc").display().to_string(),
            "--since",
            &full.display().to_string(),
        ])
        .await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("redacted the one at 2, which")
            && refused.stderr.contains("take a full backup"),
        "{}",
        refused.stderr
    );
    assert!(
        !scratch.path().join("inc").exists(),
        "a refused backup leaves nothing behind"
    );
    // An increment made by hand from a later full backup: its chain links,
    // but it holds the redaction of a commit the base holds whole.
    let later = scratch.path().join("later");
    backup(&server, &later, None).await;
    let forged = scratch.path().join("forged");
    std::fs::create_dir(&forged).unwrap();
    for file in ["digest.json", "manifest.json", "suggestions.jsonl"] {
        std::fs::copy(later.join(file), forged.join(file)).unwrap();
    }
    let log = std::fs::read_to_string(later.join("log.jsonl")).unwrap();
    let after: Vec<&str> = log.lines().skip(3).collect();
    std::fs::write(forged.join("log.jsonl"), after.join("\n") + "\n").unwrap();
    let base_digest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("digest.json")).unwrap()).unwrap();
    std::fs::write(
        forged.join("base.json"),
        serde_json::json!({ "digest": base_digest, "dir": "" }).to_string(),
    )
    .unwrap();
    let into = tempfile::tempdir().unwrap();
    let out = restore(&[&full, &forged], into.path()).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("of the commit at position 2")
            && out.stderr.contains("would bring the content back"),
        "{}",
        out.stderr
    );
    assert!(empty(into.path()), "a refused restore wrote nothing");
    server.stop().await;
}

/// A chain restored into a JetStream stream (`restore --log nats://…`):
/// the replica built from it serves the same log, which verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_restores_into_a_stream() {
    let server = TestServer::start(Backend::Sled).await;
    let scratch = tempfile::tempdir().unwrap();
    let (full, increment) = (scratch.path().join("full"), scratch.path().join("inc"));
    let id = create_article(&server, 0).await;
    backup(&server, &full, None).await;
    edit_many(server.channel().await, id.clone(), 1, 3).await;
    create_article(&server, 1).await;
    let taken = backup(&server, &increment, Some(&full)).await;
    assert_eq!(taken["commits"], 4, "{taken}");

    let nats = Arc::new(crate::support::nats::NatsServer::start());
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = cli(vec![
        "restore".into(),
        full.display().to_string(),
        increment.display().to_string(),
        "--json".into(),
        "--data-dir".into(),
        restored.path().display().to_string(),
        "--log".into(),
        nats.url(),
        "--nats-stream".into(),
        "ANSWERLOG".into(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    let said: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(said["commits"], 5, "{said}");
    let replica = crate::backup::replica_in(&nats, restored).await;
    replica.get_at_least(&id, 5).await;
    assert_eq!(whole_log(&replica).await, whole_log(&server).await);
    assert!(replica.verify_log().await.ok);
    replica.stop().await;
    server.stop().await;
}

backend_tests!(
    a_chain_of_three_restores_the_same_log,
    an_increment_cannot_carry_a_redaction_of_what_its_base_holds
);
