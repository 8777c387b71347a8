//! Redaction through the real server (issue 16; docs/AUDIT.md,
//! "Redaction"): an admin removes what an edit wrote, and readers,
//! revisions and exports show "[redacted]" while every hash, the Merkle
//! tree and its checkpoints stand; the log's files no longer hold the
//! bytes; a restart keeps it so. On the JetStream log the content stream
//! no longer holds them either, nor does a replica that joins later; a
//! replica that lags behind two redactions brings nothing back.

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::*;
use tonic::Code;

use crate::support::audit_md::consistency_verifies;
use crate::support::{cid, cli, export_verifies, found_in, Backend, TestServer};

const SECRET: &str = "Call Jane Roe on 555-0100 for a second opinion.";
const OTHER_SECRET: &str = "Ask Ruth Moe at the clinic.";

async fn admin(server: &TestServer) -> AdminServiceClient<tonic::transport::Channel> {
    AdminServiceClient::new(server.channel().await)
}

fn redaction(id: &str, expected_version: u64, position: u64, event: u32) -> RedactPayloadRequest {
    RedactPayloadRequest {
        article_id: id.to_owned(),
        expected_version,
        command_id: cid(),
        reason: "personal data, at the person's request".into(),
        position,
        event_index: event,
    }
}

crate::backend_tests!(a_redaction_removes_the_content_and_every_proof_still_stands);

async fn a_redaction_removes_the_content_and_every_proof_still_stands(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (id, edited) = secret_then_body(&server, "A later body.").await;
    let mut articles = server.articles().await;
    let before = server.checkpoint().await;
    assert_eq!(before.tree_size, 3);
    let log_dir = server.dir().join("log");
    assert!(!found_in(&log_dir, SECRET).is_empty(), "the log holds it");
    let note_file = server.dir().join("before.note");
    std::fs::write(&note_file, &before.note).unwrap();
    let vkey = server.vkey().await;

    // Refusals first: each names its field, and nothing is written.
    let admin_client = admin(&server).await;
    let refused = |request: RedactPayloadRequest| {
        let mut client = admin_client.clone();
        async move { client.redact_payload(request).await.unwrap_err() }
    };
    let mut no_reason = redaction(&id, 3, edited.global_position, 0);
    no_reason.reason.clear();
    let e = refused(no_reason).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("reason"), "{e:?}");
    let e = refused(redaction(&id, 3, 99, 0)).await;
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("position"), "{e:?}");
    let e = refused(redaction(&id, 3, edited.global_position, 5)).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("event_index"), "{e:?}");
    let e = refused(redaction(&id, 2, edited.global_position, 0)).await;
    assert_eq!(e.code(), Code::Aborted, "{e:?}");

    let done = admin_client
        .clone()
        .redact_payload(redaction(&id, 3, edited.global_position, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((done.version, done.global_position), (4, 4));
    // The edit, then the next commit: its answer still showed the quick
    // answer (the section edit did not change it).
    assert_eq!(done.rewritten_positions, vec![2, 3]);
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    let again = refused(redaction(&id, 4, edited.global_position, 0)).await;
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    // Readers: the current answer and the version of the edit.
    assert_eq!(server.get(&id).await.quick_answer, "[redacted]");
    assert_eq!(server.get_as_of(&id, 2).await.quick_answer, "[redacted]");
    assert!(!server
        .get_as_of(&id, 1)
        .await
        .quick_answer
        .contains("[redacted]"));
    // The revision shows the event as redacted, its salt gone.
    let revision = server
        .audit()
        .await
        .get_revision(GetRevisionRequest {
            article_id: id.clone(),
            version: 2,
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let event = &revision.events[0];
    let r = event.redaction.as_ref().expect("the event is redacted");
    assert_eq!(r.by_position, 4);
    assert_eq!(r.content_digest.len(), 64);
    assert!(event.salt.is_empty());
    assert!(!revision.answer_digest.is_empty() && revision.answer_salt.is_empty());

    // Every hash: the server's VerifyLog, and `verify` of an export, also
    // against the checkpoint signed before the redaction (the same tree).
    let verified = server.verify_log().await;
    assert!(verified.ok, "{verified:?}");
    let export = server.cli(&["export", "--all"]).await;
    assert!(export.success, "{}", export.stderr);
    assert!(!export.stdout.contains(SECRET));
    let file = server.dir().join("all.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let checked = cli(vec![
        "verify".into(),
        file.display().to_string(),
        "--checkpoint".into(),
        note_file.display().to_string(),
        "--vkey".into(),
        vkey.clone(),
    ])
    .await;
    assert!(checked.success, "{}", checked.stderr);
    assert!(
        checked
            .stdout
            .contains("the export matches the checkpoint of 3 commits"),
        "{}",
        checked.stdout
    );
    // The tree after it extends the tree before it.
    let after = server.checkpoint().await;
    assert_eq!(after.tree_size, 4);
    let proof = server.consistency_proof(3, 4).await;
    assert!(consistency_verifies(
        3,
        4,
        &proof,
        &before.root_hash.clone().try_into().unwrap(),
        &after.root_hash.clone().try_into().unwrap(),
    ));
    // A receipt for the answer served now verifies; none is given for the
    // version whose answer the redaction changed.
    let answer_file = server.dir().join("answer.json");
    let receipt_file = server.dir().join("answer.receipt");
    let got = server
        .cli(&[
            "get",
            &id,
            "--json",
            "--receipt",
            &receipt_file.display().to_string(),
        ])
        .await;
    assert!(got.success, "{}", got.stderr);
    std::fs::write(&answer_file, &got.stdout).unwrap();
    let receipt = cli(vec![
        "verify-receipt".into(),
        receipt_file.display().to_string(),
        "--answer".into(),
        answer_file.display().to_string(),
        "--vkey".into(),
        vkey.clone(),
    ])
    .await;
    assert!(receipt.success, "{}", receipt.stderr);
    let e = server
        .audit()
        .await
        .inspect_answer(InspectAnswerRequest {
            r#ref: Some(inspect_answer_request::Ref::Id(id.clone())),
            as_of: Some(inspect_answer_request::AsOf::Version(2)),
            min_position: 0,
            receipt: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // The log's files no longer hold the bytes, nor does nats-server's
    // store.
    assert_eq!(found_in(&log_dir, SECRET), Vec::<String>::new());
    if let Some(nats) = &server.nats {
        assert_eq!(found_in(nats.dir(), SECRET), Vec::<String>::new());
    }

    // The CLI redacts too, as an admin sees the article; a restart keeps
    // both redactions, read models included.
    let edited = articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: id.clone(),
            expected_version: 4,
            command_id: cid(),
            reason: "another contact".into(),
            quick_answer: OTHER_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let out = server
        .cli(&[
            "redact",
            &id,
            "--position",
            &edited.global_position.to_string(),
            "--reason",
            "personal data",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["version"], "6", "{report}");
    assert_eq!(
        report["rewrittenPositions"],
        serde_json::json!(["5"]),
        "{report}"
    );
    let dir = server.stop().await;
    let server = TestServer::start_in(backend, dir, Default::default()).await;
    let answer = server.get(&id).await;
    assert_eq!(
        (answer.version, answer.quick_answer.as_str()),
        (6, "[redacted]")
    );
    assert_eq!(server.get_as_of(&id, 5).await.quick_answer, "[redacted]");
    assert!(server.verify_log().await.ok);
    assert_eq!(
        found_in(&server.dir().join("log"), OTHER_SECRET),
        Vec::<String>::new()
    );
    crate::support::assert_read_models_equal_a_rebuild(server.stop().await.path()).await;
}

/// Imports the example (version 1), writes `SECRET` as its quick answer
/// (version 2), then `body` as its first section's (version 3); the
/// article's id and the quick answer's write.
async fn secret_then_body(server: &TestServer, body: &str) -> (String, EditQuickAnswerResponse) {
    let id = server.import_example().await;
    let mut articles = server.articles().await;
    let edited = articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "a contact".into(),
            quick_answer: SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let section = server.get(&id).await.sections[0].id.clone();
    articles
        .edit_section(EditSectionRequest {
            article_id: id.clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "later".into(),
            section_id: section,
            heading: None,
            body: Some(body.into()),
        })
        .await
        .unwrap();
    (id, edited)
}

/// `audit watch --once` with the watcher's state in `state`: the latest
/// checkpoint extends the one it kept.
async fn watch(server: &TestServer, vkey: &str, state: &str) {
    let out = server
        .cli(&["audit", "watch", "--vkey", vkey, "--state", state, "--once"])
        .await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
}

/// Writes eight quick answers to a new article, the seventh `SECRET`
/// (version 8); the article's id.
async fn write_a_secret(server: &TestServer) -> String {
    let id = server.import_example().await;
    let mut articles = server.articles().await;
    for version in 1..=8u64 {
        let quick_answer = match version {
            7 => SECRET.to_owned(),
            n => format!("Quick answer {n}."),
        };
        articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: version,
                command_id: cid(),
                reason: "an edit".into(),
                quick_answer,
            })
            .await
            .unwrap();
    }
    // Version 8 wrote the secret; version 9 replaced it.
    assert_eq!(server.get_as_of(&id, 8).await.quick_answer, SECRET);
    id
}

/// The acceptance: a redaction, then a compaction, after which the
/// bytes are in no file of the data directory, while every proof, `verify`
/// and `audit watch` still pass. The secret is written at version 8, whose
/// state sled stores (the `current` record), so that sled's files hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_then_a_compaction_leave_no_byte_of_it_in_the_data_directory() {
    let server = TestServer::start(Backend::Sled).await;
    let id = write_a_secret(&server).await;
    let vkey = server.vkey().await;
    let state = server.dir().join("watch.state").display().to_string();
    watch(&server, &vkey, &state).await;
    admin(&server)
        .await
        .redact_payload(redaction(&id, 9, 8, 0))
        .await
        .unwrap();
    assert_eq!(server.get_as_of(&id, 8).await.quick_answer, "[redacted]");
    watch(&server, &vkey, &state).await;
    let dir = server.stop().await;
    let outside_log = |dir: &std::path::Path| -> Vec<String> {
        found_in(dir, SECRET)
            .into_iter()
            .filter(|f| !f.contains("/log/"))
            .collect()
    };
    assert!(
        !outside_log(dir.path()).is_empty(),
        "sled's files keep the old state until a compaction"
    );
    assert_eq!(
        found_in(&dir.path().join("log"), SECRET),
        Vec::<String>::new()
    );

    let out = cli(vec![
        "compact".into(),
        "--data-dir".into(),
        dir.path().display().to_string(),
        "--json".into(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(report["keys"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(found_in(dir.path(), SECRET), Vec::<String>::new());

    // The store as it was, less the bytes: answers, hashes, the tree and
    // the watcher's kept checkpoint, and the read models a rebuild makes.
    let server = TestServer::start_in(Backend::Sled, dir, Default::default()).await;
    assert_eq!(server.get_as_of(&id, 8).await.quick_answer, "[redacted]");
    assert_eq!(server.get(&id).await.version, 10);
    assert!(server.verify_log().await.ok);
    watch(&server, &vkey, &state).await;
    export_verifies(&server).await;
    crate::support::assert_read_models_equal_a_rebuild(server.stop().await.path()).await;
}

/// One log, one signing key: the options every replica of it starts
/// with, and the directory that keeps the key.
fn one_signing_key() -> (tempfile::TempDir, impl Fn() -> answerlog::AppOptions) {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("log.key");
    std::fs::write(&key, format!("{}\n", "5e".repeat(32))).unwrap();
    let options = move || answerlog::AppOptions {
        signing_key: Some(key.clone()),
        ..Default::default()
    };
    (keys, options)
}

/// The same on the JetStream log: the commit stream holds each commit's
/// hash, and its content is kept apart in a stream that allows deletes;
/// after the redaction, the secret is in no file of nats-server's store,
/// nor in a replica that joins afterwards, and after a compaction nor in
/// the replica that redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_on_jetstream_leaves_no_byte_of_it_in_the_stream_store() {
    let (_keys, options) = one_signing_key();
    let server = TestServer::start_with(Backend::JetStream, options()).await;
    let nats_dir = server.nats.as_ref().unwrap().dir().to_owned();
    let id = write_a_secret(&server).await;
    assert!(
        !found_in(&nats_dir, SECRET).is_empty(),
        "nats-server's files hold the secret as written"
    );
    let vkey = server.vkey().await;
    let state = server.dir().join("watch.state").display().to_string();
    watch(&server, &vkey, &state).await;
    let redacted = admin(&server)
        .await
        .redact_payload(redaction(&id, 9, 8, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redacted.rewritten_positions[0], 8);
    assert_eq!(server.get_as_of(&id, 8).await.quick_answer, "[redacted]");
    // The content stream's messages are erased once the redaction is
    // acknowledged: nats-server overwrote them in its files.
    assert_eq!(found_in(&nats_dir, SECRET), Vec::<String>::new());
    watch(&server, &vkey, &state).await;

    // A replica that joins now reads the commits as rewritten, and never
    // holds the secret.
    let late = server.replica_with(options()).await;
    assert_eq!(
        late.get_at_least(&id, redacted.global_position)
            .await
            .version,
        10
    );
    assert_eq!(late.get_as_of(&id, 8).await.quick_answer, "[redacted]");
    assert_eq!(
        late.verify_log().await.log_hash,
        server.verify_log().await.log_hash
    );
    watch(&late, &vkey, &state).await;
    export_verifies(&late).await;
    let late_dir = late.stop().await;
    assert_eq!(found_in(late_dir.path(), SECRET), Vec::<String>::new());

    let dir = server.stop().await;
    let out = cli(vec![
        "compact".into(),
        "--data-dir".into(),
        dir.path().display().to_string(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(found_in(dir.path(), SECRET), Vec::<String>::new());
    let server = TestServer::start_in(Backend::JetStream, dir, options()).await;
    assert_eq!(server.get_as_of(&id, 8).await.quick_answer, "[redacted]");
    assert!(server.verify_log().await.ok);
    watch(&server, &vkey, &state).await;
    export_verifies(&server).await;
    server.stop().await;
    assert_eq!(found_in(&nats_dir, SECRET), Vec::<String>::new());
}

/// A replica that lags behind two redactions applies the first onto
/// copies that the second has already changed in the content stream (the
/// second removed content from a commit the first rewrites): it must not
/// publish a copy that shows that content again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_does_not_bring_back_what_a_later_redaction_removed() {
    let (_keys, options) = one_signing_key();
    let server = TestServer::start_with(Backend::JetStream, options()).await;
    let nats_dir = server.nats.as_ref().unwrap().dir().to_owned();
    // Version 2 writes the quick answer, version 3 a section's body; the
    // answer at version 3 still shows the quick answer.
    let (id, _) = secret_then_body(&server, OTHER_SECRET).await;
    let lagging = server.replica_with(options()).await;
    assert_eq!(lagging.get_at_least(&id, 3).await.version, 3);
    let lagging_dir = lagging.stop().await;

    // The first rewrites positions 2 and 3 (whose answer showed the quick
    // answer); the second removes position 3's body.
    let first = admin(&server)
        .await
        .redact_payload(redaction(&id, 3, 2, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.rewritten_positions, [2, 3]);
    let second = admin(&server)
        .await
        .redact_payload(redaction(&id, 4, 3, 0))
        .await
        .unwrap()
        .into_inner();
    for text in [SECRET, OTHER_SECRET] {
        assert_eq!(found_in(&nats_dir, text), Vec::<String>::new(), "{text}");
    }

    let lagging = TestServer::start_in(Backend::JetStream, lagging_dir, options()).await;
    let answer = lagging.get_at_least(&id, second.global_position).await;
    assert_eq!(answer.version, 5);
    for text in [SECRET, OTHER_SECRET] {
        assert_eq!(found_in(&nats_dir, text), Vec::<String>::new(), "{text}");
    }
    let as_of_3 = lagging.get_as_of(&id, 3).await;
    assert_eq!(as_of_3.quick_answer, "[redacted]");
    assert_eq!(as_of_3.sections[0].body, "[redacted]");
    let (here, there) = (lagging.verify_log().await, server.verify_log().await);
    assert!(here.ok && there.ok);
    assert_eq!(here.log_hash, there.log_hash);
    export_verifies(&lagging).await;
    lagging.stop().await;
    server.stop().await;
}
