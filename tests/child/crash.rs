//! Crash safety, proven on the real binary: `answerlog serve` runs as a
//! child process while concurrent writers record every acknowledged
//! response; it is killed with SIGKILL at random points, restarted on the
//! same data directory, and checked:
//!
//! - every acknowledged commit is present, with exactly its content, at
//!   its version and global position;
//! - a commit that was in flight at the kill is either wholly there or
//!   wholly absent, and a retry with its command_id applies it exactly once;
//! - versions and positions are contiguous and the chains verify;
//! - the read models on disk right after the kill equal an offline rebuild.
//!
//! It prints the counts (kill rounds, kills with requests in flight,
//! acknowledged and in-doubt commits) that `docs/RELIABILITY.md` reports.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::*;
use answerlog::App;
use rand::Rng;
use tonic::transport::Channel;

use crate::served::Served;

const ROUNDS: usize = 10;
const WRITERS: usize = 8;

/// One writer's article and what the server told it.
#[derive(Clone, Debug, Default)]
struct Ledger {
    article_id: String,
    /// The last version the writer knows is durable.
    version: u64,
    /// Acknowledged: version → (global position, quick answer).
    acked: BTreeMap<u64, (u64, String)>,
    /// A request sent but not answered when the server died.
    in_doubt: Option<EditQuickAnswerRequest>,
}

#[derive(Default)]
struct Counts {
    acked: usize,
    in_doubt: usize,
    in_doubt_applied: usize,
    kills_in_flight: usize,
}

/// Writes to its article until `stop`, recording every acknowledgement;
/// returns when told to stop or when the server is gone.
async fn write(
    channel: Channel,
    mut ledger: Ledger,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    acks: Arc<AtomicUsize>,
    round: usize,
) -> Ledger {
    let mut articles = ArticleServiceClient::new(channel);
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let request = EditQuickAnswerRequest {
            article_id: ledger.article_id.clone(),
            expected_version: ledger.version,
            command_id: uuid::Uuid::now_v7().to_string(),
            reason: format!("round {round}"),
            quick_answer: format!(
                "Round {round}, edit {n} of {}: {}",
                ledger.article_id,
                "x".repeat(n % 64)
            ),
        };
        in_flight.fetch_add(1, Ordering::AcqRel);
        let result = articles.edit_quick_answer(request.clone()).await;
        match result {
            Ok(written) => {
                let written = written.into_inner();
                assert_eq!(written.version, ledger.version + 1);
                ledger.acked.insert(
                    written.version,
                    (written.global_position, request.quick_answer.clone()),
                );
                ledger.version = written.version;
                in_flight.fetch_sub(1, Ordering::AcqRel);
                acks.fetch_add(1, Ordering::AcqRel);
            }
            Err(status) => {
                // The server died under the call: it may or may not have
                // been written. Left in flight on purpose.
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                    ),
                    "{status:?}"
                );
                ledger.in_doubt = Some(request);
                return ledger;
            }
        }
    }
    ledger
}

/// After a restart: settles a writer's in-doubt request. It must be wholly
/// applied or wholly absent; a retry with its command_id applies it once.
async fn settle(channel: &Channel, ledger: &mut Ledger, counts: &mut Counts, acked_to: u64) {
    let Some(request) = ledger.in_doubt.take() else {
        return;
    };
    counts.in_doubt += 1;
    let current = answer(channel, &ledger.article_id, None, acked_to).await;
    if current.version == ledger.version + 1 {
        assert_eq!(current.quick_answer, request.quick_answer, "half a commit");
        counts.in_doubt_applied += 1;
    } else {
        assert_eq!(
            current.version, ledger.version,
            "a version appeared from nowhere"
        );
    }
    let retried = ArticleServiceClient::new(channel.clone())
        .edit_quick_answer(request.clone())
        .await
        .expect("the retry is answered")
        .into_inner();
    assert_eq!(retried.version, ledger.version + 1);
    let again = ArticleServiceClient::new(channel.clone())
        .edit_quick_answer(request.clone())
        .await
        .expect("a second retry is answered")
        .into_inner();
    assert_eq!(again, retried, "a retry is applied once");
    ledger.version = retried.version;
    ledger.acked.insert(
        retried.version,
        (retried.global_position, request.quick_answer),
    );
}

/// The answer once the server has applied `min_position` (a replica may
/// apply the stream again after a restart).
async fn answer(channel: &Channel, id: &str, version: Option<u64>, min_position: u64) -> Answer {
    AnswerServiceClient::new(channel.clone())
        .get_answer(GetAnswerRequest {
            receipt: false,
            r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
            as_of: version.map(get_answer_request::AsOf::Version),
            min_position,
        })
        .await
        .expect("the answer")
        .into_inner()
        .answer
        .expect("an answer")
}

/// Every acknowledged commit is there, exactly, and the history is whole.
async fn check(channel: &Channel, ledgers: &[Ledger]) -> u64 {
    let acked_to = last_acked(ledgers);
    let mut audit = AuditServiceClient::new(channel.clone());
    let mut positions = Vec::new();
    for ledger in ledgers {
        let mut revisions = Vec::new();
        let mut token = String::new();
        loop {
            let page = audit
                .list_revisions(ListRevisionsRequest {
                    r#ref: Some(list_revisions_request::Ref::Id(ledger.article_id.clone())),
                    page_size: 1000,
                    page_token: token,
                    min_position: acked_to,
                })
                .await
                .unwrap()
                .into_inner();
            revisions.extend(page.revisions);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let versions: Vec<u64> = revisions.iter().map(|r| r.version).collect();
        assert_eq!(versions, (1..=ledger.version).collect::<Vec<_>>());
        for (version, (position, text)) in &ledger.acked {
            let revision = &revisions[(*version - 1) as usize];
            assert_eq!(revision.global_position, *position, "version {version}");
            let answer = answer(channel, &ledger.article_id, Some(*version), acked_to).await;
            assert_eq!(&answer.quick_answer, text, "version {version}");
        }
        positions.extend(revisions.iter().map(|r| r.global_position));
        let verified = audit
            .verify_article(VerifyArticleRequest {
                article_id: ledger.article_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(verified.ok, "{verified:?}");
    }
    // Only these writers wrote: their positions are exactly 1..=head.
    positions.sort_unstable();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    let verified = audit
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.through_position, positions.len() as u64);
    assert_eq!(verified.next_position, 0);
    positions.len() as u64
}

/// The last position any writer was told of.
fn last_acked(ledgers: &[Ledger]) -> u64 {
    ledgers
        .iter()
        .flat_map(|l| l.acked.values().map(|(position, _)| *position))
        .max()
        .unwrap_or(0)
}

/// The read models as the kill left them equal an offline rebuild of a copy.
pub(crate) fn read_models_equal_a_rebuild(dir: &Path) {
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", dir.display()))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success(), "the data directory is copied");
    let as_left = App::dump_read_models(dir).expect("the store opens after a kill");
    let out = Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args(["rebuild", "--data-dir"])
        .arg(copy.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt = App::dump_read_models(copy.path()).unwrap();
    assert_eq!(as_left.len(), rebuilt.len());
    for ((name, a), (_, b)) in as_left.iter().zip(&rebuilt) {
        assert_eq!(a.len(), b.len(), "{name}: record counts");
        assert!(a == b, "{name}: the read models differ from a rebuild");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_sigkill_whole_and_in_order() {
    crash_rounds(&[]).await;
}

/// The same on a replica of a JetStream log (R1, a nats-server of the
/// test's own): the replica is killed; its store flushes only now and then
/// (the stream is the durable copy) and applies the stream again from its
/// checkpoint after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_with_sigkill_keeps_every_acknowledged_commit() {
    let nats_dir = tempfile::tempdir().unwrap();
    let config = answerlog::LocalNatsConfig {
        binary: std::env::var_os("ANSWERLOG_TEST_NATS_SERVER")
            .map_or_else(|| "nats-server".into(), Into::into),
        sync_always: std::env::var("ANSWERLOG_TEST_NATS_SYNC").as_deref() == Ok("always"),
        ..Default::default()
    };
    let nats = answerlog::LocalNatsServer::start(nats_dir.path(), &config)
        .unwrap_or_else(|e| panic!("{e}"));
    crash_rounds(&["--log".to_owned(), nats.url()]).await;
}

/// Kill rounds of a server started with `flags`.
async fn crash_rounds(flags: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut counts = Counts::default();
    let start = |dir: &Path| {
        let mut command = Served::command(dir);
        command.args(flags);
        Served::spawn(command)
    };

    let served = start(dir.path());
    let channel = served.channel().await;
    let mut ledgers = Vec::new();
    for n in 0..WRITERS {
        let created = ArticleServiceClient::new(channel.clone())
            .create_article(CreateArticleRequest {
                command_id: uuid::Uuid::now_v7().to_string(),
                reason: "test".into(),
                article: Some(ArticleDraft {
                    question: format!("What does writer {n} write"),
                    quick_answer: "Nothing yet.".into(),
                    last_updated: "2026-01-01".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let mut acked = BTreeMap::new();
        acked.insert(1, (created.global_position, "Nothing yet.".to_owned()));
        ledgers.push(Ledger {
            article_id: created.article_id,
            version: 1,
            acked,
            in_doubt: None,
        });
    }
    let mut served = Some(served);

    for round in 0..ROUNDS {
        let server = served.take().unwrap();
        let channel = server.channel().await;
        // Every fourth round the writers stop first: a kill at rest.
        let at_rest = round % 4 == 3;
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let acks = Arc::new(AtomicUsize::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for ledger in ledgers.drain(..) {
            writers.spawn(write(
                channel.clone(),
                ledger,
                Arc::clone(&stop),
                Arc::clone(&in_flight),
                Arc::clone(&acks),
                round,
            ));
        }
        // A random point: after this many acknowledgements in this round.
        let target = rng.random_range(1..400);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        while acks.load(Ordering::Acquire) < target {
            assert!(
                tokio::time::Instant::now() < give_up,
                "round {round}: {} of {target} acknowledgements after 60 s",
                acks.load(Ordering::Acquire)
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // And a random instant within the next few group commits, so that
        // some kills land inside a flush.
        let jitter = rng.random_range(0..4000);
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        if at_rest {
            stop.store(true, Ordering::Release);
            while let Some(ledger) = writers.join_next().await {
                ledgers.push(ledger.unwrap());
            }
        }
        let flying = in_flight.load(Ordering::Acquire);
        server.kill();
        if flying > 0 {
            counts.kills_in_flight += 1;
        }
        while let Some(ledger) = writers.join_next().await {
            ledgers.push(ledger.unwrap());
        }
        ledgers.sort_by(|a, b| a.article_id.cmp(&b.article_id));
        println!(
            "round {round}: killed after {} acknowledgements with {flying} requests in flight",
            acks.load(Ordering::Acquire)
        );

        read_models_equal_a_rebuild(dir.path());
        let restarted = start(dir.path());
        let channel = restarted.channel().await;
        let acked_to = last_acked(&ledgers);
        for ledger in &mut ledgers {
            settle(&channel, ledger, &mut counts, acked_to).await;
        }
        check(&channel, &ledgers).await;
        served = Some(restarted);
    }
    let head = check(&served.as_ref().unwrap().channel().await, &ledgers).await;
    served.unwrap().terminate();
    counts.acked = ledgers.iter().map(|l| l.acked.len()).sum();
    println!(
        "crash safety ({}): {ROUNDS} SIGKILL rounds, {} with requests in flight; {} acknowledged commits all present; {} in doubt at a kill, {} of them had been written; {head} commits in the log",
        if flags.is_empty() { "sled" } else { "a replica of JetStream" },
        counts.kills_in_flight, counts.acked, counts.in_doubt, counts.in_doubt_applied
    );
    assert!(
        counts.kills_in_flight >= 3,
        "at least 3 kills with requests in flight: {}",
        counts.kills_in_flight
    );
}
