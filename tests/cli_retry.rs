//! CLI writes are safe to script (issue 14, item 10): each has a command
//! id, printed and settable with `--command-id`; a run given the id of a
//! write that got through reports that write instead of writing again; and
//! a write that meets UNAVAILABLE is sent again with the same id, applied
//! once.

use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::*;
use answerlog::{AppOptions, FaultPoint, Faults, ServerOptions, StoreOptions};

use crate::backend_tests;
use crate::support::{Backend, TestServer};

backend_tests!(a_write_run_again_with_its_command_id_reports_the_first_outcome);

/// The store's fault switch is sled's alone.
mod disk_fault {
    use super::a_write_that_meets_unavailable_is_sent_again_and_applied_once;
    crate::sled_tests!(a_write_that_meets_unavailable_is_sent_again_and_applied_once);
}

/// The kinds of every revision of the walkthrough's article.
async fn event_kinds(server: &TestServer) -> Vec<String> {
    server
        .audit()
        .await
        .list_revisions(ListRevisionsRequest {
            r#ref: Some(list_revisions_request::Ref::Slug("what-causes-jmt".into())),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("the revisions")
        .into_inner()
        .revisions
        .into_iter()
        .flat_map(|r| r.event_kinds)
        .collect()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn a_write_run_again_with_its_command_id_reports_the_first_outcome(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.import_example().await;

    // A new id is made and printed when none is given.
    let first = server
        .cli(&[
            "redate",
            "what-causes-jmt",
            "2026-11-20",
            "--reason",
            "Checked",
            "--json",
        ])
        .await;
    assert!(first.success, "{}", first.stderr);
    let first = json(&first.stdout);
    assert_eq!(first["version"], "2");
    let minted = first["commandId"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&minted).is_ok(), "{first}");

    // A given id: applied once, however often the command runs, even after
    // the article has moved on.
    let id = uuid::Uuid::now_v7().to_string();
    let add_source = [
        "add-source",
        "what-causes-jmt",
        "--title",
        "What is juvenile myositis?",
        "--publisher",
        "Cure JM Foundation",
        "--license",
        "fair-use",
        "--reason",
        "Cite a patient foundation",
        "--command-id",
        &id,
    ];
    let applied = server.cli(&add_source).await;
    assert!(applied.success, "{}", applied.stderr);
    assert!(
        applied
            .stdout
            .contains(&format!("is at version 3 (position 3); command id {id}")),
        "{}",
        applied.stdout
    );
    let moved_on = server
        .cli(&[
            "redate",
            "what-causes-jmt",
            "2026-11-21",
            "--reason",
            "Again",
        ])
        .await;
    assert!(moved_on.success, "{}", moved_on.stderr);
    for _ in 0..2 {
        let again = server.cli(&add_source).await;
        assert!(again.success, "{}", again.stderr);
        assert!(
            again.stdout.contains("already (an earlier run)")
                && again.stdout.contains("is at version 3 (position 3)"),
            "{}",
            again.stdout
        );
    }
    let mut as_json = add_source.to_vec();
    as_json.push("--json");
    let again = json(&server.cli(&as_json).await.stdout);
    assert_eq!(
        (again["version"].as_str(), again["commandId"].as_str()),
        (Some("3"), Some(id.as_str()))
    );
    assert_eq!(
        event_kinds(&server).await,
        [
            "ArticleCreated",
            "ArticleRedated",
            "SourceAdded",
            "ArticleRedated"
        ],
        "one source added, once"
    );

    // An id that is no UUID is refused before anything is sent.
    let bad = server
        .cli(&[
            "redate",
            "what-causes-jmt",
            "2026-11-22",
            "--command-id",
            "not-a-uuid",
        ])
        .await;
    assert!(!bad.success);
    assert!(
        bad.stderr
            .contains("--command-id \"not-a-uuid\" is not a UUID"),
        "{}",
        bad.stderr
    );
}

async fn a_write_that_meets_unavailable_is_sent_again_and_applied_once(backend: Backend) {
    let faults = Arc::new(Faults::new());
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let options = AppOptions {
        store: StoreOptions {
            faults: Some(Arc::clone(&faults)),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let server = TestServer::start_full(backend, dir, options, ServerOptions::default()).await;
    server.import_example().await;

    // Every write fails as on a full disk until the fault clears (at the
    // log's sync: a fault as sled takes a batch
    // strikes after the write was answered).
    faults.fail(FaultPoint::Flush, 0);
    let cli = {
        let url = server.url.clone();
        tokio::spawn(async move {
            crate::support::cli(
                [
                    "redate",
                    "what-causes-jmt",
                    "2026-11-20",
                    "--reason",
                    "Checked while the disk was full",
                    "--server",
                    &url,
                ]
                .map(String::from)
                .to_vec(),
            )
            .await
        })
    };
    // Once the CLI's first attempt has failed, the disk recovers.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while faults.struck() == 0 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the write never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    faults.clear();
    let out = cli.await.unwrap();
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("sending it again in 200 ms with the same command id"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("re-dated: article"), "{}", out.stdout);
    assert_eq!(
        event_kinds(&server).await,
        ["ArticleCreated", "ArticleRedated"],
        "re-dated once"
    );
}
