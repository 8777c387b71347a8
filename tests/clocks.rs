//! A log written through two replicas whose clocks differ: time increases
//! along each article's chain, not along the log. Such a log verifies, is
//! backed up, restores into the embedded store and into a new stream, and
//! `ListAnswers(updated_since)` lists exactly the articles last changed at
//! or after an instant, at the instant itself and one microsecond past it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::*;
use answerlog::{AppOptions, Clock, StoreOptions};

use crate::support::{cid, cli, restore, Backend, TestServer};

/// How far the second replica's clock runs behind the first's.
const SKEW: Duration = Duration::from_secs(600);

fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1000
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Creates `n` articles through `server` and edits each once; their ids.
async fn write_through(server: &TestServer, tag: &str, n: usize) -> Vec<String> {
    let mut articles = server.articles().await;
    let mut ids = Vec::new();
    for i in 0..n {
        let id = articles
            .create_article(CreateArticleRequest {
                command_id: cid(),
                reason: "test".into(),
                article: Some(ArticleDraft {
                    question: format!("Question {tag} {i}"),
                    quick_answer: "First.".into(),
                    last_updated: "2026-01-01".into(),
                    ..ArticleDraft::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .article_id;
        articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: 1,
                command_id: cid(),
                reason: "test".into(),
                quick_answer: format!("Second, {tag} {i}."),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Every answer `ListAnswers(updated_since)` lists, a few at a time, on a
/// server that has applied the log through `position`.
async fn listed_since(server: &TestServer, since: i64, position: u64) -> BTreeSet<String> {
    let mut answers = server.answers().await;
    let mut listed = BTreeSet::new();
    let mut token = String::new();
    let mut last_position = 0;
    loop {
        let page = answers
            .list_answers(ListAnswersRequest {
                page_size: 7,
                page_token: token,
                updated_since: Some(timestamp(since)),
                min_position: position,
            })
            .await
            .unwrap()
            .into_inner();
        for answer in page.answers {
            assert!(
                answer.global_position > last_position,
                "ordered by the position of the last change"
            );
            last_position = answer.global_position;
            assert!(
                micros(answer.recorded_at.as_ref().unwrap()) >= since,
                "{answer:?} was changed before the instant"
            );
            assert!(listed.insert(answer.id), "listed once");
        }
        if page.next_page_token.is_empty() {
            return listed;
        }
        token = page.next_page_token;
    }
}

/// The whole log, in order, as the server exports it: each commit's
/// article and recorded_at (µs), and the export's text.
async fn exported(server: &TestServer) -> (Vec<(String, i64)>, String) {
    let out = server.cli(&["export", "--all"]).await;
    assert!(out.success, "{}", out.stderr);
    let log = out
        .stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = v["revision"]["recordedAt"].as_str().unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
            (
                v["articleId"].as_str().unwrap().to_owned(),
                at.timestamp_micros(),
            )
        })
        .collect();
    (log, out.stdout)
}

/// Checks `ListAnswers(updated_since)` at every instant where an article
/// was last changed, and one microsecond past it, against `last_change`.
async fn lists_exactly_by_time(server: &TestServer, last_change: &[(String, i64)], position: u64) {
    // Every tenth article's instant, and the earliest and latest: the
    // instants of the slow clock lie between those of the fast one.
    let mut instants: Vec<i64> = last_change.iter().step_by(10).map(|(_, t)| *t).collect();
    instants.extend(last_change.iter().map(|(_, t)| *t).min());
    instants.extend(last_change.iter().map(|(_, t)| *t).max());
    for at in instants {
        for since in [at, at + 1] {
            let expected: BTreeSet<String> = last_change
                .iter()
                .filter(|(_, t)| *t >= since)
                .map(|(id, _)| id.clone())
                .collect();
            assert_eq!(
                listed_since(server, since, position).await,
                expected,
                "updated_since {since} µs"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_with_two_clocks_verifies_backs_up_restores_and_lists_by_time() {
    let fast = TestServer::start(Backend::JetStream).await;
    let slow = fast
        .replica_with(AppOptions {
            store: StoreOptions {
                clock: Clock::behind(SKEW),
                ..StoreOptions::default()
            },
            ..AppOptions::default()
        })
        .await;
    // Both write at once; then each edits an article the other created,
    // so that chains cross the clocks both ways.
    let (mine, theirs) = tokio::join!(
        write_through(&fast, "fast", 20),
        write_through(&slow, "slow", 20)
    );
    for (server, id) in [(&fast, &theirs[0]), (&slow, &mine[0])] {
        server
            .articles()
            .await
            .edit_question(EditQuestionRequest {
                article_id: id.clone(),
                expected_version: 2,
                command_id: cid(),
                reason: "test".into(),
                question: "Crossed over".into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{s:?}"));
    }
    let position = 82;
    let (log, export_text) = exported(&fast).await;
    assert_eq!(log.len() as u64, position);
    assert!(
        log.windows(2).any(|w| w[1].1 < w[0].1),
        "the log's times go back where the slow clock wrote"
    );
    let mut last_change: Vec<(String, i64)> = Vec::new();
    for (id, t) in &log {
        last_change.retain(|(other, _)| other != id);
        last_change.push((id.clone(), *t));
    }
    assert_eq!(last_change.len(), 40);

    // Both replicas hold the log, it verifies, and lists by time.
    for server in [&fast, &slow] {
        let verified = server.verify_log().await;
        assert!(verified.ok, "{verified:?}");
        lists_exactly_by_time(server, &last_change, position).await;
    }
    let export = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(export.path(), export_text).unwrap();
    let offline = cli(vec!["verify".into(), export.path().display().to_string()]).await;
    assert!(offline.success, "{}{}", offline.stdout, offline.stderr);

    // A backup restores into the embedded store, which serves and lists
    // it the same, and takes writes on its own clock.
    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = slow.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    let embedded = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&backup, embedded.path(), &[]).await;
    assert!(out.success, "the restore: {}{}", out.stdout, out.stderr);
    let restored =
        TestServer::start_in(Backend::Sled, Arc::clone(&embedded), AppOptions::default()).await;
    let verified = restored.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    lists_exactly_by_time(&restored, &last_change, position).await;
    let edited = restored
        .articles()
        .await
        .edit_question(EditQuestionRequest {
            article_id: theirs[1].clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "test".into(),
            question: "After the restore".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.global_position, position + 1);
    let after = restored.get(&theirs[1]).await;
    assert!(
        micros(after.recorded_at.as_ref().unwrap()) > log.iter().map(|(_, t)| *t).max().unwrap(),
        "the embedded writer's clock runs past the latest instant of the log"
    );
    restored.stop().await;

    // And into a new stream, where a replica ingests it.
    let nats = Arc::clone(fast.nats.as_ref().unwrap());
    let replica_dir = Arc::new(tempfile::tempdir().unwrap());
    let out = cli(vec![
        "restore".into(),
        backup.display().to_string(),
        "--data-dir".into(),
        replica_dir.path().display().to_string(),
        "--log".into(),
        nats.url(),
        "--nats-stream".into(),
        "CLOCKS2".into(),
    ])
    .await;
    assert!(out.success, "the restore: {}{}", out.stdout, out.stderr);
    let on = TestServer::start_on_stream(nats, "CLOCKS2", replica_dir).await;
    let verified = on.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    lists_exactly_by_time(&on, &last_change, position).await;
    on.stop().await;
    slow.stop().await;
    fast.stop().await;
}
