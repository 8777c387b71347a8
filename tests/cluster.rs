//! An R3 stream on a three-node NATS cluster: the stream's leader is
//! killed with SIGKILL while a writer keeps writing; writes continue once
//! another node leads, and every acknowledged commit is in the log
//! afterwards, once, in order, with chains that verify on the replica
//! that wrote them and on one that joins after.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::*;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Code;

use crate::support::nats::NatsCluster;
use crate::support::{cid, TestServer};

/// What the writer was told: (article, version, position), in order.
type Acked = Arc<Mutex<Vec<(String, u64, u64)>>>;

/// Acknowledged writes before the kill, and after it.
const BEFORE: usize = 150;
const AFTER: usize = 150;

/// How long the whole scenario may take before the test fails.
const LIMIT: Duration = Duration::from_secs(120);

/// Writes until told to stop: four articles, then edits round the four.
/// A write that fails in doubt (UNAVAILABLE, DEADLINE_EXCEEDED) is sent
/// again with the same command id until it is answered.
async fn write_on(
    channel: Channel,
    acked: Acked,
    count: watch::Sender<usize>,
    stop: watch::Receiver<bool>,
) {
    let mut client = ArticleServiceClient::new(channel);
    let mut articles: Vec<(String, u64)> = Vec::new();
    let mut n = 0usize;
    while !*stop.borrow() {
        let command_id = cid();
        let (id, version, position) = loop {
            let result = if articles.len() < 4 {
                let mut request = tonic::Request::new(CreateArticleRequest {
                    command_id: command_id.clone(),
                    reason: "test".into(),
                    article: Some(ArticleDraft {
                        question: format!("Question {}?", articles.len()),
                        quick_answer: "A.".into(),
                        last_updated: "2026-01-01".into(),
                        ..ArticleDraft::default()
                    }),
                });
                request.set_timeout(Duration::from_secs(10));
                client
                    .create_article(request)
                    .await
                    .map(|r| r.into_inner())
                    .map(|r| (r.article_id, r.version, r.global_position))
            } else {
                let (id, version) = articles[n % 4].clone();
                let mut request = tonic::Request::new(EditQuickAnswerRequest {
                    article_id: id.clone(),
                    expected_version: version,
                    command_id: command_id.clone(),
                    reason: "test".into(),
                    quick_answer: format!("Edit {n}."),
                });
                request.set_timeout(Duration::from_secs(10));
                client
                    .edit_quick_answer(request)
                    .await
                    .map(|r| r.into_inner())
                    .map(|r| (id, r.version, r.global_position))
            };
            match result {
                Ok(done) => break done,
                Err(status)
                    if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) =>
                {
                    continue
                }
                Err(status) => panic!("write {n} failed: {status:?}"),
            }
        };
        if version == 1 {
            articles.push((id.clone(), 1));
        } else {
            articles[n % 4].1 = version;
        }
        n += 1;
        let total = {
            let mut acked = acked.lock().unwrap();
            acked.push((id, version, position));
            acked.len()
        };
        count.send_replace(total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_during_writes_loses_no_acknowledged_commit() {
    tokio::time::timeout(LIMIT, scenario())
        .await
        .expect("the scenario ends within its limit");
}

async fn scenario() {
    let mut cluster = NatsCluster::start(3);
    cluster.ready().await;
    let a = TestServer::start_on_cluster(&cluster, 3).await;

    let acked: Acked = Arc::default();
    let (count_tx, mut count) = watch::channel(0);
    let (stop_tx, stop) = watch::channel(false);
    let writer = tokio::spawn(write_on(
        a.channel().await,
        Arc::clone(&acked),
        count_tx,
        stop,
    ));
    count.wait_for(|n| *n >= BEFORE).await.unwrap();

    // Kill the node that leads the stream.
    let addrs: Vec<async_nats::ServerAddr> =
        cluster.urls().iter().map(|u| u.parse().unwrap()).collect();
    let nats = async_nats::ConnectOptions::new()
        .connect(addrs)
        .await
        .unwrap();
    let jetstream = async_nats::jetstream::new(nats);
    let info = jetstream
        .get_stream("ANSWERLOG")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.config.num_replicas, 3);
    let leader = info
        .cluster
        .and_then(|c| c.leader)
        .expect("the stream has a leader");
    let k: usize = leader.trim_start_matches('n').parse().unwrap();
    let at_kill = *count.borrow();
    cluster.nodes[k].kill();
    println!("killed {leader} after {at_kill} acknowledged writes");

    let killed = std::time::Instant::now();
    count.wait_for(|n| *n > at_kill).await.unwrap();
    println!(
        "the first write after the kill was acknowledged {:?} after it",
        killed.elapsed()
    );
    count.wait_for(|n| *n >= at_kill + AFTER).await.unwrap();
    println!(
        "{AFTER} writes acknowledged {:?} after the kill",
        killed.elapsed()
    );
    stop_tx.send_replace(true);
    writer.await.expect("the writer ends");

    let acked = acked.lock().unwrap().clone();
    // In order: each acknowledgement is past the one before it.
    for pair in acked.windows(2) {
        assert!(pair[0].2 < pair[1].2, "{:?} then {:?}", pair[0], pair[1]);
    }
    let end = acked.last().unwrap().2;
    // Once each: the log holds exactly the acknowledged commits.
    assert_eq!(
        end,
        acked.len() as u64,
        "positions 1..={end} are the acknowledged writes"
    );

    // A replica that joins now reads the same log from the surviving nodes.
    let b = TestServer::start_on_cluster(&cluster, 3).await;
    let mut hashes = Vec::new();
    for server in [&a, &b] {
        let mut audit = server.audit().await;
        let commits = audit
            .list_commits(ListCommitsRequest {
                page_size: 1000,
                min_position: end,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .commits;
        let found: Vec<(String, u64, u64)> = commits
            .iter()
            .map(|c| {
                let revision = c.revision.as_ref().expect("a commit's revision");
                (
                    c.article_id.clone(),
                    revision.version,
                    revision.global_position,
                )
            })
            .collect();
        assert_eq!(found, acked, "every acknowledged commit, in order");
        let verified = audit
            .verify_log(VerifyLogRequest {
                min_position: end,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(verified.ok, "{verified:?}");
        assert_eq!(verified.through_position, end);
        hashes.push(verified.log_hash);
    }
    assert_eq!(
        hashes[0], hashes[1],
        "both replicas derive the same log chain"
    );
    b.stop().await;
    a.stop().await;
}
