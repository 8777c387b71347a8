//! Witnesses (C2SP tlog-witness) through real servers and real witnesses
//! (`answerlog::Witness` on loopback, as `answerlog witness serve` runs
//! it): two witnesses cosign the log's checkpoints and receipts carry
//! both cosignatures, which `verify-receipt --witness` checks; a witness
//! that cosigned the log refuses a fork of it (a restored old backup,
//! written differently), keeps the request as evidence, and a reader of
//! the fork that needs its cosignature gets UNAVAILABLE naming the policy;
//! a witness that is down or silent holds up no write, and no reader
//! beyond the quorum; over HTTP the witness refuses bad requests with the
//! protocol's statuses (400, 403, 404, 405, 413) and changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::*;
use answerlog::{AppOptions, TreeOptions, WitnessPolicy};
use tokio::sync::oneshot;

use crate::support::{cli, create_article, restore, Backend, TestServer};

const ORIGIN: &str = "answerlog.example.org/witnessed";

/// A witness on a free loopback port, as `witness serve` runs it.
struct TestWitness {
    vkey: String,
    url: String,
    state: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl TestWitness {
    async fn start(dir: &Path, name: &str, log_vkey: &str) -> Self {
        let key = dir.join(format!("{}.key", name.replace('/', "-")));
        let made = cli(vec![
            "witness".into(),
            "new-key".into(),
            key.display().to_string(),
            "--name".into(),
            name.into(),
        ])
        .await;
        assert!(made.success, "{}", made.stderr);
        let state = dir.join(format!("{}.state", name.replace('/', "-")));
        let witness = answerlog::Witness::open(&answerlog::WitnessOptions {
            name: name.into(),
            key_file: key,
            logs: vec![log_vkey.into()],
            state_dir: state.clone(),
        })
        .unwrap();
        assert_eq!(witness.verifier_key(), made.stdout.trim());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(answerlog::serve_witness(
            listener,
            Arc::new(witness),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            vkey: made.stdout.trim().to_owned(),
            url,
            state,
            stop: Some(stop),
        }
    }

    /// The server's configuration entry for it.
    fn entry(&self) -> String {
        format!("{} {}", self.vkey, self.url)
    }

    /// The requests it refused as a fork, kept as evidence (each beside
    /// the checkpoint it held then).
    fn evidence(&self) -> Vec<Vec<u8>> {
        match std::fs::read_dir(self.state.join("refused")) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "request"))
                .map(|p| std::fs::read(p).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for TestWitness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A listener that takes connections and never answers on them: a
/// witness that hangs. Its URL, and the task that holds them.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (url, task)
}

/// The log's key file and verifier key, made by `keys new`.
async fn log_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("log.key");
    let made = cli(vec![
        "keys".into(),
        "new".into(),
        key.display().to_string(),
        "--name".into(),
        ORIGIN.into(),
    ])
    .await;
    assert!(made.success, "{}", made.stderr);
    (key, made.stdout.trim().to_owned())
}

fn options(key: &Path, witnesses: &[&TestWitness], quorum: Option<usize>) -> AppOptions {
    AppOptions {
        signing_key: Some(key.to_owned()),
        tree: TreeOptions {
            origin: Some(ORIGIN.into()),
            checkpoint_interval: Duration::from_millis(100),
        },
        witnesses: WitnessPolicy {
            witnesses: witnesses.iter().map(|w| w.entry()).collect(),
            quorum,
        },
        ..AppOptions::default()
    }
}

/// An answer and its receipt, saved by `get --json --receipt`, then
/// checked by `verify-receipt` with `extra` flags: its output.
async fn get_and_verify(
    server: &TestServer,
    article: &str,
    vkey: &str,
    dir: &Path,
    extra: &[&str],
) -> crate::support::CliOutput {
    let receipt = dir.join("answer.receipt").display().to_string();
    let answer = dir.join("answer.json");
    let got = server
        .cli(&["get", article, "--json", "--receipt", &receipt])
        .await;
    assert!(got.success, "{}", got.stderr);
    std::fs::write(&answer, &got.stdout).unwrap();
    let mut args = vec![
        "verify-receipt".to_owned(),
        receipt,
        "--answer".into(),
        answer.display().to_string(),
        "--vkey".into(),
        vkey.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    cli(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_witnesses_cosign_and_one_refuses_a_fork_of_the_log() {
    let scratch = tempfile::tempdir().unwrap();
    let (key, vkey) = log_key(scratch.path()).await;
    let w1 = TestWitness::start(scratch.path(), "witness.example/w1", &vkey).await;
    let w2 = TestWitness::start(scratch.path(), "witness.example/w2", &vkey).await;

    // The log, with both witnesses and the default policy: both must
    // cosign a checkpoint before receipts use it.
    let log = TestServer::start_with(Backend::Sled, options(&key, &[&w1, &w2], None)).await;
    assert_eq!(log.vkey().await, vkey);
    let first = create_article(&log, 0).await;
    for n in 1..3 {
        create_article(&log, n).await;
    }
    let backup = scratch.path().join("backup");
    let out = log.cli(&["backup", &backup.display().to_string()]).await;
    assert!(out.success, "{}", out.stderr);
    for n in 3..5 {
        create_article(&log, n).await;
    }
    // The checkpoint as served covers every write and carries both
    // cosignatures; a receipt read now is at it.
    let note = String::from_utf8(log.checkpoint().await.note).unwrap();
    for name in ["witness.example/w1", "witness.example/w2"] {
        assert!(note.contains(&format!("\n\u{2014} {name} ")), "{note}");
    }
    let both = ["--witness", &w1.vkey, "--witness", &w2.vkey];
    let verified = get_and_verify(&log, &first, &vkey, scratch.path(), &both).await;
    assert!(verified.success, "{}", verified.stderr);
    assert!(
        verified.stdout.contains("of the tree of 5 commits")
            && verified
                .stdout
                .contains("cosigned by at least 2 of witness.example/w1, witness.example/w2"),
        "{}",
        verified.stdout
    );
    // A witness the checkpoint has no cosignature of fails the check.
    let stranger = TestWitness::start(scratch.path(), "witness.example/w3", &vkey).await;
    let refused = get_and_verify(
        &log,
        &first,
        &vkey,
        scratch.path(),
        &["--witness", &w1.vkey, "--witness", &stranger.vkey],
    )
    .await;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("no cosignature from witness witness.example/w3"),
        "{}",
        refused.stderr
    );
    let metrics = log.app.metrics_text().unwrap();
    assert!(
        metrics.contains("answerlog_witness_cosigned_tree_size{witness=\"witness.example/w2\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("answerlog_witnessed_checkpoint_tree_size 5"),
        "{metrics}"
    );

    // The continuous auditor takes only checkpoints its witnesses cosigned.
    let watch = |witnesses: Vec<String>| {
        let mut args = vec!["audit", "watch", "--vkey", &vkey, "--once"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        for w in witnesses {
            args.extend(["--witness".to_owned(), w]);
        }
        args.extend(["--server".to_owned(), log.url.clone()]);
        cli(args)
    };
    let witnessed = watch(vec![w1.vkey.clone(), w2.vkey.clone()]).await;
    assert!(witnessed.success, "{}", witnessed.stderr);
    let unwitnessed = watch(vec![w1.vkey.clone(), stranger.vkey.clone()]).await;
    assert_eq!(unwitnessed.code, Some(1), "{}", unwitnessed.stdout);
    assert!(
        unwitnessed.stderr.contains(
            "has cosignatures from 1 of the 2 witnesses needed (witness.example/w1): not taken yet"
        ),
        "{}",
        unwitnessed.stderr
    );

    // The backup, restored with the log's key and origin and written to
    // differently: a fork of the 5 commits w2 cosigned. w2 refuses it.
    let forked_dir = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&backup, forked_dir.path(), &[]).await;
    assert!(out.success, "{}", out.stderr);
    let fork = TestServer::start_in(
        Backend::Sled,
        Arc::clone(&forked_dir),
        options(&key, &[&w2], None),
    )
    .await;
    let forked = create_article(&fork, 10).await;
    for n in 11..13 {
        create_article(&fork, n).await;
    }
    let mut answers = fork.answers().await;
    let mut request = tonic::Request::new(GetAnswerRequest {
        r#ref: Some(get_answer_request::Ref::Id(forked.clone())),
        as_of: None,
        min_position: 0,
        receipt: true,
    });
    request.set_timeout(Duration::from_secs(3));
    let status = answers.get_answer(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    for needle in [
        "cosignatures from 1 of the witnesses witness.example/w2",
        "witness.example/w2 cosigned 5 commits, then: refused (422)",
        "the log was forked",
    ] {
        assert!(status.message().contains(needle), "{}", status.message());
    }
    // It kept the fork's requests, signed by the log's key, as evidence:
    // its checkpoint at 5 (another root than the one w2 holds) or at 6
    // (no proof from w2's 5 verifies), whichever the fork's tree signed
    // (at 4, a size below w2's, is refused as a bad request and not kept).
    let evidence = w2.evidence();
    assert!(!evidence.is_empty(), "w2 keeps what it refused");
    for request in evidence {
        let request = String::from_utf8(request).unwrap();
        assert!(
            request.starts_with("old 5\n")
                && [5, 6]
                    .iter()
                    .any(|size| request.contains(&format!("\n\n{ORIGIN}\n{size}\n"))),
            "{request}"
        );
    }
    drop(fork.stop().await);

    // The log itself goes on being witnessed by both.
    create_article(&log, 5).await;
    assert_eq!(log.checkpoint().await.tree_size, 6);
    let verified = get_and_verify(&log, &first, &vkey, scratch.path(), &both).await;
    assert!(verified.success, "{}", verified.stderr);
    assert!(
        verified.stdout.contains("of the tree of 6 commits"),
        "{}",
        verified.stdout
    );
    drop(log.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_holds_up_no_write_and_a_quorum_counts_the_others() {
    let scratch = tempfile::tempdir().unwrap();
    let (key, vkey) = log_key(scratch.path()).await;
    let up = TestWitness::start(scratch.path(), "witness.example/up", &vkey).await;
    let mut down = TestWitness::start(scratch.path(), "witness.example/down", &vkey).await;
    // Stopped before the log starts: nothing answers at its address.
    if let Some(stop) = down.stop.take() {
        let _ = stop.send(());
    }

    // Every witness's cosignature needed: writes go on, receipts wait.
    let strict = TestServer::start_with(Backend::Sled, options(&key, &[&up, &down], None)).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(create_article(&strict, n).await);
    }
    let mut audit = strict.audit().await;
    let mut request = tonic::Request::new(GetCheckpointRequest { min_position: 0 });
    request.set_timeout(Duration::from_secs(2));
    let status = audit.get_checkpoint(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("cosignatures from 2 of the witnesses")
            && status
                .message()
                .contains("witness.example/down cosigned 0 commits, then:"),
        "{}",
        status.message()
    );
    let metrics = strict.app.metrics_text().unwrap();
    assert!(
        metrics.contains("answerlog_witness_failures_total{witness=\"witness.example/down\"}"),
        "{metrics}"
    );
    let dir = strict.stop().await;

    // One of the two is enough, and the other now takes calls and never
    // answers: the checkpoint is published with the one that answered,
    // well before that call times out (10 s), and the receipt carries it.
    let (silent_url, _silent) = black_hole().await;
    down.url = silent_url;
    let lenient =
        TestServer::start_in(Backend::Sled, dir, options(&key, &[&up, &down], Some(1))).await;
    let mut request = tonic::Request::new(GetCheckpointRequest { min_position: 0 });
    request.set_timeout(Duration::from_secs(5));
    let checkpoint = lenient
        .audit()
        .await
        .get_checkpoint(request)
        .await
        .expect("a checkpoint with the quorum, not waiting for the silent witness")
        .into_inner();
    assert_eq!(checkpoint.tree_size, 20);
    let verified = get_and_verify(
        &lenient,
        &ids[0],
        &vkey,
        scratch.path(),
        &[
            "--witness",
            &up.vkey,
            "--witness",
            &down.vkey,
            "--witness-quorum",
            "1",
        ],
    )
    .await;
    assert!(verified.success, "{}", verified.stderr);
    assert!(
        verified.stdout.contains("of the tree of 20 commits"),
        "{}",
        verified.stdout
    );
    let strict_check = get_and_verify(
        &lenient,
        &ids[0],
        &vkey,
        scratch.path(),
        &["--witness", &up.vkey, "--witness", &down.vkey],
    )
    .await;
    assert_eq!(strict_check.code, Some(1), "{}", strict_check.stdout);
    assert!(
        strict_check.stderr.contains(
            "no cosignature from witness witness.example/down: the checkpoint has 1 of the 2"
        ),
        "{}",
        strict_check.stderr
    );
    drop(lenient.stop().await);
}

async fn http(url: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    crate::support::http(url, method, path, &[], body).await
}

/// The witness over HTTP refuses what the protocol refuses, each with its
/// status and a line saying why, and cosigns nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_answers_bad_requests_with_the_protocols_statuses() {
    let scratch = tempfile::tempdir().unwrap();
    let (key, vkey) = log_key(scratch.path()).await;
    let witness = TestWitness::start(scratch.path(), "witness.example/w1", &vkey).await;
    let url = witness.url.clone();

    assert_eq!(http(&url, "GET", "/add-checkpoint", b"").await.0, 405);
    assert_eq!(http(&url, "POST", "/elsewhere", b"").await.0, 404);
    assert_eq!(
        http(&url, "POST", "/add-checkpoint", &[b'x'; 70_000])
            .await
            .0,
        413
    );
    let (status, why) = http(&url, "POST", "/add-checkpoint", b"new 5\n\nnot a note").await;
    assert_eq!(status, 400, "{why}");
    assert!(why.contains("`old <size>`"), "{why}");

    // Real checkpoints: one of another origin, and one of the witnessed
    // origin signed by another key.
    let stranger = TestServer::start_with(Backend::Sled, AppOptions::default()).await;
    create_article(&stranger, 0).await;
    let other_origin = stranger.checkpoint().await.note;
    drop(stranger.stop().await);
    let impostor_key = scratch.path().join("impostor.key");
    std::fs::write(&impostor_key, format!("{}\n", "33".repeat(32))).unwrap();
    let impostor = TestServer::start_with(Backend::Sled, options(&impostor_key, &[], None)).await;
    create_article(&impostor, 0).await;
    let forged = impostor.checkpoint().await.note;
    drop(impostor.stop().await);
    let request = |note: &[u8]| {
        let mut body = b"old 0\n\n".to_vec();
        body.extend_from_slice(note);
        body
    };
    let (status, why) = http(&url, "POST", "/add-checkpoint", &request(&other_origin)).await;
    assert_eq!(status, 404, "{why}");
    assert!(why.contains("unknown origin"), "{why}");
    let (status, why) = http(&url, "POST", "/add-checkpoint", &request(&forged)).await;
    assert_eq!(status, 403, "{why}");
    assert!(why.contains(ORIGIN), "{why}");

    // None of it changed the witness: the log's own first checkpoint is
    // cosigned from size 0.
    let log = TestServer::start_with(Backend::Sled, options(&key, &[&witness], None)).await;
    create_article(&log, 0).await;
    let note = String::from_utf8(log.checkpoint().await.note).unwrap();
    assert!(note.contains("\n\u{2014} witness.example/w1 "), "{note}");
    drop(log.stop().await);
}
