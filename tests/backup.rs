//! A backup taken while writes run, restored into a new directory: the
//! same log (positions, times, hashes) through the backup's position, the
//! same answers, and the chains verify. Its suggested questions come back
//! too, in their order. A backup of the embedded log restores into a
//! JetStream stream too, and replicas join it.

use std::path::Path;
use std::sync::Arc;

use answerlog::pb::{
    get_answer_request, EditQuickAnswerRequest, GetAnswerRequest, ListCommitsRequest,
    ListSuggestionsRequest, SuggestQuestionRequest, Suggestion,
};
use answerlog::{AppOptions, ServerOptions};
use tokio::sync::watch;

use crate::backend_tests;
use crate::support::audit_md::consistency_verifies;
use crate::support::nats::NatsServer;
use crate::support::{cid, cli, create_article, edit_many, Backend, CliOutput, TestServer};

/// Every commit of the server's log through `through`.
pub(crate) async fn log_through(server: &TestServer, through: u64) -> Vec<answerlog::pb::Commit> {
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

/// Waits until `server`'s read models hold `position` (a read of `id`
/// with `min_position`).
async fn applied(server: &TestServer, id: &str, position: u64) {
    server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            receipt: false,
            r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
            as_of: None,
            min_position: position,
        })
        .await
        .unwrap();
}

async fn answer(server: &TestServer, id: &str, version: Option<u64>) -> answerlog::pb::Answer {
    server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            receipt: false,
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
    let known = kept_for_a_retry("What is kept");
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
                        reason: "test".into(),
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
    // So is a digest whose signature does not verify.
    let forged = scratch.path().join("forged");
    std::fs::create_dir(&forged).unwrap();
    std::fs::copy(backup.join("log.jsonl"), forged.join("log.jsonl")).unwrap();
    let mut bad_digest = report_digest(&backup);
    let signature = bad_digest["signature"].as_str().unwrap().to_owned();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    bad_digest["signature"] = format!("{flipped}{}", &signature[1..]).into();
    std::fs::write(forged.join("digest.json"), bad_digest.to_string()).unwrap();
    let refused = restore(&forged, restored.path()).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("the backup's digest"),
        "{}",
        refused.stderr
    );
    // Issue 14, item A.2: a request hash changed to another valid one
    // (which no commit hash covers, and which decides how a retry of that
    // command is answered) is refused against the signed manifest.
    let rehashed = scratch.path().join("rehashed");
    std::fs::create_dir(&rehashed).unwrap();
    for file in ["digest.json", "manifest.json"] {
        std::fs::copy(backup.join(file), rehashed.join(file)).unwrap();
    }
    let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(backup.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let old = lines[4]["requestHash"].as_str().unwrap().to_owned();
    let flipped = if old.starts_with('0') { "1" } else { "0" };
    lines[4]["requestHash"] = format!("{flipped}{}", &old[1..]).into();
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(rehashed.join("log.jsonl"), text.join("\n") + "\n").unwrap();
    let refused = restore(&rehashed, restored.path()).await;
    assert!(!refused.success, "a changed request hash was restored");
    assert!(
        refused
            .stderr
            .contains("are not those the server signed in manifest.json"),
        "{}",
        refused.stderr
    );
    let out = restore(&backup, restored.path()).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("restored {through} commits")),
        "{}",
        out.stdout
    );
    // `restore` writes a store of the embedded log, whichever log the
    // backup was taken from. It is given the log's request key (the
    // original's data directory keeps a copy, on either log), so that it
    // answers a retry as the original would.
    let copy = TestServer::start_in(
        Backend::Sled,
        restored,
        AppOptions {
            request_key: Some(server.dir().join("request-key")),
            ..AppOptions::default()
        },
    )
    .await;

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
    let verified = copy.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.through_position, through);
    assert_eq!(verified.log_hash, digest["logHash"].as_str().unwrap());
    // The digest the original server signed verifies on the copy too: its
    // key joined the copy's key history.
    assert_signed_digest_verifies(&copy, &backup).await;
    // The same Merkle tree through the backup's position, every commit's
    // answer salt kept: the copy's checkpoint root is the original's tree
    // at that size, as the original's consistency proof shows.
    let copied = copy.checkpoint().await;
    assert_eq!(copied.tree_size, through);
    let original = server.checkpoint().await;
    let proof = server.consistency_proof(through, original.tree_size).await;
    assert!(
        consistency_verifies(
            through,
            original.tree_size,
            &proof,
            &copied.root_hash.clone().try_into().unwrap(),
            &original.root_hash.clone().try_into().unwrap(),
        ),
        "the restored tree of {through} is not the start of the original's"
    );

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

/// `audit verify-log --digest` with the backup's digest on `server`: the
/// signature is of a key in its history, and the log hash matches.
async fn assert_signed_digest_verifies(server: &TestServer, backup: &Path) {
    let file = backup.join("digest.json").display().to_string();
    let out = server
        .cli(&["audit", "verify-log", "--digest", &file, "--json"])
        .await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let check = &report["digestCheck"];
    assert_eq!(check["signatureValid"], true, "{report}");
    assert_eq!(check["matches"], true, "{report}");
}

/// The backup's digest.json.
fn report_digest(backup: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(backup.join("digest.json")).unwrap()).unwrap()
}

/// `restore BACKUP --data-dir DIR`.
async fn restore(backup: &Path, dir: &Path) -> CliOutput {
    crate::support::restore(backup, dir, &[]).await
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

/// `restore BACKUP --json --data-dir DIR --log nats://… --nats-stream STREAM`.
async fn restore_into(backup: &Path, dir: &Path, nats: &NatsServer, stream: &str) -> CliOutput {
    restore_keyed(backup, dir, nats, stream, None).await
}

/// `restore_into`, given the log's request key `key` if any.
async fn restore_keyed(
    backup: &Path,
    dir: &Path,
    nats: &NatsServer,
    stream: &str,
    key: Option<&Path>,
) -> CliOutput {
    let mut args = vec![
        "restore".into(),
        backup.display().to_string(),
        "--json".into(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--log".into(),
        nats.url(),
        "--nats-stream".into(),
        stream.into(),
    ];
    if let Some(key) = key {
        args.extend(["--request-key".into(), key.display().to_string()]);
    }
    cli(args).await
}

/// A replica of the default stream on `nats`, in `dir`.
pub(crate) async fn replica_in(nats: &Arc<NatsServer>, dir: Arc<tempfile::TempDir>) -> TestServer {
    TestServer::start_on(
        Backend::JetStream,
        Some(Arc::clone(nats)),
        dir,
        AppOptions::default(),
        ServerOptions::default(),
    )
    .await
}

/// `restore` into the default stream, `ANSWERLOG`.
async fn restore_into_stream(backup: &Path, dir: &Path, nats: &NatsServer) -> CliOutput {
    restore_into(backup, dir, nats, "ANSWERLOG").await
}

/// A backup of the embedded log restored into a JetStream stream: the
/// restoring replica and one that joins afterwards serve the same log,
/// answers and suggestions, and take new writes after it. The same backup
/// restored again into that stream publishes nothing; another backup is
/// refused there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_the_embedded_log_restores_into_a_stream_that_replicas_join() {
    let server = TestServer::start(Backend::Sled).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(create_article(&server, n).await);
    }
    edit_many(server.channel().await, ids[0].clone(), 1, 3).await;
    server
        .suggestions()
        .await
        .suggest_question(SuggestQuestionRequest {
            question: "What moved to the cluster".into(),
            article_id: ids[1].clone(),
        })
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = server.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    let digest = report_digest(&backup);
    let through: u64 = digest["globalPosition"].as_str().unwrap().parse().unwrap();
    assert_eq!(through, 8);

    let nats = Arc::new(NatsServer::start());
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore_into_stream(&backup, restored.path(), &nats).await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["commits"], through, "{report}");
    assert_eq!(report["suggestions"], 1, "{report}");
    assert_eq!(report["alreadyInStream"], 0, "{report}");
    assert_eq!(report["logHash"], digest["logHash"], "{report}");

    // Again, as after a restore that stopped part way: every message the
    // stream holds is checked against the backup, and none is published.
    let again = tempfile::tempdir().unwrap();
    let out = restore_into_stream(&backup, again.path(), &nats).await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["alreadyInStream"], through, "{report}");
    assert_eq!(report["suggestions"], 1, "{report}");

    let first = replica_in(&nats, restored).await;
    let second = first.replica().await;
    let original_log = log_through(&server, through).await;
    for replica in [&first, &second] {
        applied(replica, &ids[0], through).await;
        assert_eq!(log_through(replica, u64::MAX).await, original_log);
        for id in &ids {
            assert_eq!(
                answer(replica, id, None).await,
                answer(&server, id, None).await
            );
        }
        let verified = replica.verify_log().await;
        assert!(verified.ok, "{verified:?}");
        assert_eq!(verified.log_hash, digest["logHash"].as_str().unwrap());
    }
    assert_signed_digest_verifies(&first, &backup).await;
    assert_eq!(suggestions(&first).await, suggestions(&server).await);
    // The stream goes on from the backup's position.
    let next = create_article(&second, 9).await;
    applied(&first, &next, through + 1).await;
    assert_eq!(answer(&first, &next, None).await.version, 1);
    let log = log_through(&first, u64::MAX).await;
    assert_eq!(log.len() as u64, through + 1);

    // A backup of the stream (taken from a replica) restores into a new
    // stream: the way on from a stream with a break.
    let from_stream = scratch.path().join("from-stream");
    let out = first
        .cli(&["backup", &from_stream.display().to_string()])
        .await;
    assert!(out.success, "{}", out.stderr);
    let moved = tempfile::tempdir().unwrap();
    let out = restore_into(&from_stream, moved.path(), &nats, "ANSWERLOG_RESTORED").await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["commits"], through + 1, "{report}");
    assert_eq!(report["logHash"], report_digest(&from_stream)["logHash"]);

    // A later backup of the same log, into a stream that holds an earlier
    // one (as a restore that stopped part way leaves it): what the stream
    // holds is checked, and the rest is published after it.
    let partway = tempfile::tempdir().unwrap();
    let out = restore_into(&backup, partway.path(), &nats, "ANSWERLOG_PARTWAY").await;
    assert!(out.success, "{}", out.stderr);
    create_article(&server, 10).await;
    let later_backup = scratch.path().join("later");
    let out = server
        .cli(&["backup", &later_backup.display().to_string()])
        .await;
    assert!(out.success, "{}", out.stderr);
    let resumed = tempfile::tempdir().unwrap();
    let out = restore_into(&later_backup, resumed.path(), &nats, "ANSWERLOG_PARTWAY").await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["alreadyInStream"], through, "{report}");
    assert_eq!(report["commits"], through + 1, "{report}");
    assert_eq!(report["logHash"], report_digest(&later_backup)["logHash"]);

    // Once the stream has moved on, the backup is refused there.
    let later = tempfile::tempdir().unwrap();
    let out = restore_into_stream(&backup, later.path(), &nats).await;
    assert!(
        !out.success,
        "the stream moved on past the backup: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("more than the backup's 8"),
        "{}",
        out.stderr
    );
    // Another log is refused at its first message.
    let other = TestServer::start(Backend::Sled).await;
    create_article(&other, 0).await;
    let other_backup = scratch.path().join("other");
    let out = other
        .cli(&["backup", &other_backup.display().to_string()])
        .await;
    assert!(out.success, "{}", out.stderr);
    let refused = tempfile::tempdir().unwrap();
    let out = restore_into_stream(&other_backup, refused.path(), &nats).await;
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("message at position 1 is not the backup's commit"),
        "{}",
        out.stderr
    );
    // A data directory that is not empty is refused before anything.
    let out = restore_into_stream(&backup, scratch.path(), &nats).await;
    assert!(!out.success);
    assert!(out.stderr.contains("is not empty"), "{}", out.stderr);
    other.stop().await;
    second.stop().await;
    first.stop().await;
    server.stop().await;
}

backend_tests!(
    a_backup_taken_while_writes_run_restores_the_same_log_and_answers,
    suggested_questions_are_backed_up_and_restored_in_their_order,
);

/// A restore given the log's request key (`--request-key`) answers a retry
/// of a command made before the backup as the original did, restored
/// offline or into a stream; a stream whose bucket keeps another key is
/// refused before anything is published, and a replica given another key
/// is refused before it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_given_the_logs_request_key_answers_retries_of_older_commands() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = |name: &str, byte: u8| {
        let path = keys.path().join(name);
        let hex: String = std::iter::repeat_n(format!("{byte:02x}"), 32).collect();
        std::fs::write(&path, format!("{hex}\n")).unwrap();
        path
    };
    let log_key = key_file("log.key", 0x17);
    let other_key = key_file("other.key", 0x71);
    let given = |path: &Path| AppOptions {
        request_key: Some(path.to_owned()),
        ..AppOptions::default()
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_in(Backend::Sled, dir, given(&log_key)).await;
    let known = kept_for_a_retry("What does a restore need to answer a retry");
    let original = create(&server, &known).await;
    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");
    let out = server.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    server.stop().await;

    // Offline, into a new data directory (not made yet), which keeps the
    // key given.
    let offline = Arc::new(tempfile::tempdir().unwrap());
    std::fs::remove_dir(offline.path()).unwrap();
    let mut args = vec![
        "restore".to_owned(),
        backup.display().to_string(),
        "--data-dir".into(),
        offline.path().display().to_string(),
    ];
    args.extend(["--request-key".to_owned(), log_key.display().to_string()]);
    let out = cli(args).await;
    assert!(out.success, "{}", out.stderr);
    let copy = TestServer::start_in(Backend::Sled, offline, AppOptions::default()).await;
    assert_eq!(create(&copy, &known).await, original);
    copy.stop().await;

    // Into a stream: its bucket keeps the key, and a replica given none
    // takes it.
    let nats = Arc::new(NatsServer::start());
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore_keyed(&backup, restored.path(), &nats, "ANSWERLOG", Some(&log_key)).await;
    assert!(out.success, "{}", out.stderr);
    let replica = replica_in(&nats, restored).await;
    assert_eq!(create(&replica, &known).await, original);
    replica.stop().await;

    // The stream's bucket keeps the log's key: a restore given another is
    // refused before it publishes, and so is a replica given another.
    let again = tempfile::tempdir().unwrap();
    let out = restore_keyed(&backup, again.path(), &nats, "ANSWERLOG", Some(&other_key)).await;
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stderr.contains("keeps another request key"),
        "{}",
        out.stderr
    );
    let stream = |name: &str| answerlog::JetStreamOptions {
        stream: name.to_owned(),
        ..answerlog::JetStreamOptions::new(vec![nats.url()])
    };
    let refused_replica = |options: AppOptions, dir: &Path| {
        let dir = dir.to_owned();
        let jetstream = stream("ANSWERLOG");
        async move {
            answerlog::App::open_replica(&dir, options, &jetstream)
                .await
                .err()
                .expect("a replica whose key is not the bucket's is refused")
                .to_string()
        }
    };
    let refused = refused_replica(given(&other_key), again.path()).await;
    assert!(refused.contains("keeps another request key"), "{refused}");
    // So is one that kept another key in its data directory.
    let kept_other = tempfile::tempdir().unwrap();
    std::fs::copy(&other_key, kept_other.path().join("request-key")).unwrap();
    let refused = refused_replica(AppOptions::default(), kept_other.path()).await;
    assert!(refused.contains("keeps another request key"), "{refused}");

    // A stream a replica joined, with nothing written: its bucket keeps
    // that replica's key. A restore given another is refused before it
    // publishes; one given none goes on from position 1 (the key is not
    // counted as a claim of another log).
    let joined = TestServer::start_on_stream(
        Arc::clone(&nats),
        "ANSWERLOG_JOINED",
        Arc::new(tempfile::tempdir().unwrap()),
    )
    .await;
    joined.stop().await;
    let first = tempfile::tempdir().unwrap();
    let out = restore_keyed(
        &backup,
        first.path(),
        &nats,
        "ANSWERLOG_JOINED",
        Some(&log_key),
    )
    .await;
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stderr.contains("keeps another request key"),
        "{}",
        out.stderr
    );
    let second = tempfile::tempdir().unwrap();
    let out = restore_into(&backup, second.path(), &nats, "ANSWERLOG_JOINED").await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["alreadyInStream"], 0, "{report}");
}

/// A creation whose request a test keeps, to retry it on a restored copy.
fn kept_for_a_retry(question: &str) -> answerlog::pb::CreateArticleRequest {
    answerlog::pb::CreateArticleRequest {
        command_id: cid(),
        reason: "kept for a retry".into(),
        article: Some(answerlog::pb::ArticleDraft {
            question: question.into(),
            quick_answer: "This.".into(),
            last_updated: "2026-01-01".into(),
            ..Default::default()
        }),
    }
}

/// Sends `request`, which must be answered.
async fn create(
    server: &TestServer,
    request: &answerlog::pb::CreateArticleRequest,
) -> answerlog::pb::CreateArticleResponse {
    server
        .articles()
        .await
        .create_article(request.clone())
        .await
        .expect("answered")
        .into_inner()
}
