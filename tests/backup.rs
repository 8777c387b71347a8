//! A backup taken while writes run, restored into a new directory: the
//! same log (positions, times, hashes) through the backup's position, the
//! same answers, and the chains verify. Its suggested questions come back
//! too, in their order.

use std::path::Path;
use std::sync::Arc;

use answerlog::pb::{
    get_answer_request, EditQuickAnswerRequest, GetAnswerRequest, ListCommitsRequest,
    ListSuggestionsRequest, SuggestQuestionRequest, Suggestion, VerifyLogRequest,
};
use answerlog::AppOptions;
use tokio::sync::watch;

use crate::backend_tests;
use crate::support::{cid, cli, create_article, Backend, CliOutput, TestServer};

/// Every commit of the server's log through `through`.
async fn log_through(server: &TestServer, through: u64) -> Vec<answerlog::pb::Commit> {
    let mut audit = server.audit().await;
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = audit
            .list_commits(ListCommitsRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.commits);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    all.retain(|c| c.revision.as_ref().unwrap().global_position <= through);
    all
}

async fn answer(server: &TestServer, id: &str, version: Option<u64>) -> answerlog::pb::Answer {
    server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
            as_of: version.map(answerlog::pb::get_answer_request::AsOf::Version),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap()
}

async fn a_backup_taken_while_writes_run_restores_the_same_log_and_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(create_article(&server, n).await);
    }
    // One creation whose request is kept, to retry it on the restored copy.
    let known = answerlog::pb::CreateArticleRequest {
        command_id: cid(),
        reason: "kept for a retry".into(),
        article: Some(answerlog::pb::ArticleDraft {
            question: "What is kept".into(),
            quick_answer: "This.".into(),
            last_updated: "2026-01-01".into(),
            ..Default::default()
        }),
    };
    let known_id = server
        .articles()
        .await
        .create_article(known.clone())
        .await
        .unwrap()
        .into_inner()
        .article_id;
    // A writer edits article 0 over and over until told to stop; it says
    // how many edits have landed.
    let (landed_tx, mut landed) = watch::channel(0u64);
    let (stop_tx, stop) = watch::channel(false);
    let writer = tokio::spawn({
        let mut articles = server.articles().await;
        let id = ids[0].clone();
        async move {
            let mut version = 1;
            while !*stop.borrow() {
                articles
                    .edit_quick_answer(EditQuickAnswerRequest {
                        article_id: id.clone(),
                        expected_version: version,
                        command_id: cid(),
                        reason: String::new(),
                        quick_answer: format!("Answer {version}."),
                    })
                    .await
                    .unwrap();
                version += 1;
                landed_tx.send_replace(version - 1);
            }
        }
    });
    landed.wait_for(|n| *n >= 5).await.unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let backup_arg = backup.display().to_string();
    let out = server.cli(&["backup", &backup_arg]).await;
    assert!(out.success, "{}", out.stderr);
    let at_backup = *landed.borrow();
    // Writes went on during the backup and go on after it.
    landed.wait_for(|n| *n >= at_backup + 3).await.unwrap();
    stop_tx.send_replace(true);
    writer.await.unwrap();

    let digest = report_digest(&backup);
    let through: u64 = digest["globalPosition"].as_str().unwrap().parse().unwrap();
    assert!(through >= 26, "the backup holds {through} commits");

    // Restore into a new directory, offline, and serve it. A backup that
    // was tampered with is refused first, and leaves the directory empty.
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let tampered = scratch.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    std::fs::copy(backup.join("digest.json"), tampered.join("digest.json")).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(backup.join("log.jsonl"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 22 {
                l.replace("Answer 2.", "Answer 9.")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(tampered.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let refused = restore(&tampered, restored.path()).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("position 23"), "{}", refused.stderr);
    let out = restore(&backup, restored.path()).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("restored {through} commits")),
        "{}",
        out.stdout
    );
    // `restore` writes a store of the embedded log, whichever log the
    // backup was taken from.
    let copy = TestServer::start_in(Backend::Sled, restored, AppOptions::default()).await;

    // The same log through the backup's position: every position, time,
    // actor, event and hash.
    let original_log = log_through(&server, through).await;
    let restored_log = log_through(&copy, u64::MAX).await;
    assert_eq!(restored_log.len() as u64, through);
    assert_eq!(restored_log, original_log);
    // The same answers: the untouched articles as they are, article 0 as
    // it stood at the backup's version.
    for id in &ids[1..] {
        assert_eq!(
            answer(&copy, id, None).await,
            answer(&server, id, None).await
        );
    }
    let restored_first = answer(&copy, &ids[0], None).await;
    assert_eq!(
        restored_first,
        answer(&server, &ids[0], Some(restored_first.version)).await
    );
    // A retry of a write made before the backup gets the original answer.
    let retried = copy
        .articles()
        .await
        .create_article(known)
        .await
        .expect("a retry, not a refusal")
        .into_inner();
    assert_eq!(retried.article_id, known_id);
    // The chains verify, and end where the backup's digest says.
    let verified = copy
        .audit()
        .await
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.through_position, through);
    assert_eq!(verified.log_hash, digest["logHash"].as_str().unwrap());

    // A restore refuses a directory that already holds a log.
    let dir = copy.stop().await;
    let again = restore(&backup, dir.path()).await;
    assert!(!again.success);
    assert!(
        again.stderr.contains("already holds a log"),
        "{}",
        again.stderr
    );
    server.stop().await;
}

/// Every suggestion the server lists, in its order, two to a page.
async fn suggestions(server: &TestServer) -> Vec<Suggestion> {
    let mut client = server.suggestions().await;
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_suggestions(ListSuggestionsRequest {
                page_size: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.suggestions);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// The backup's digest.json.
fn report_digest(backup: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(backup.join("digest.json")).unwrap()).unwrap()
}

/// `restore BACKUP --data-dir DIR`.
async fn restore(backup: &Path, dir: &Path) -> CliOutput {
    cli(vec![
        "restore".into(),
        backup.display().to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
    ])
    .await
}

async fn suggested_questions_are_backed_up_and_restored_in_their_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let article = create_article(&server, 0).await;
    let mut client = server.suggestions().await;
    for n in 0..5 {
        client
            .suggest_question(SuggestQuestionRequest {
                question: format!("What is suggestion {n}"),
                article_id: if n % 2 == 0 {
                    article.clone()
                } else {
                    String::new()
                },
            })
            .await
            .unwrap();
    }
    let original = suggestions(&server).await;
    assert_eq!(original.len(), 5);

    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = server
        .cli(&["backup", &backup.display().to_string(), "--json"])
        .await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["suggestions"], 5, "{report}");

    // A suggestions file with a bad line is refused, naming the line, and
    // nothing is written: the same directory then takes the good backup.
    let bad = scratch.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    for file in ["digest.json", "log.jsonl"] {
        std::fs::copy(backup.join(file), bad.join(file)).unwrap();
    }
    let text = std::fs::read_to_string(backup.join("suggestions.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let broken = lines[1].replace(&original[1].id, "not-a-uuid");
    std::fs::write(
        bad.join("suggestions.jsonl"),
        [lines[0], &broken, lines[2]].join("\n"),
    )
    .unwrap();
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let refused = restore(&bad, restored.path()).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("suggestions.jsonl line 2: bad id"),
        "{}",
        refused.stderr
    );
    let out = restore(&backup, restored.path()).await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("and 5 suggestions"), "{}", out.stdout);

    // The same suggestions, in the same order; a new one comes after them.
    let copy = TestServer::start_in(Backend::Sled, restored, AppOptions::default()).await;
    assert_eq!(suggestions(&copy).await, original);
    copy.suggestions()
        .await
        .suggest_question(SuggestQuestionRequest {
            question: "What came after the restore".into(),
            article_id: String::new(),
        })
        .await
        .unwrap();
    let after = suggestions(&copy).await;
    assert_eq!(after[..5], original[..]);
    assert_eq!(after[5].question, "What came after the restore");
    copy.stop().await;

    // A backup made before suggestions were backed up restores with none.
    std::fs::remove_file(backup.join("suggestions.jsonl")).unwrap();
    let older = tempfile::tempdir().unwrap();
    let out = cli(vec![
        "restore".into(),
        backup.display().to_string(),
        "--json".into(),
        "--data-dir".into(),
        older.path().display().to_string(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["suggestions"], 0, "{report}");
    assert_eq!(report["commits"], 1, "{report}");
    assert_eq!(
        report["logHash"],
        report_digest(&backup)["logHash"],
        "{report}"
    );
    server.stop().await;
}

backend_tests!(
    a_backup_taken_while_writes_run_restores_the_same_log_and_answers,
    suggested_questions_are_backed_up_and_restored_in_their_order,
);
