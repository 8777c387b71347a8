//! Online rebuild: while a store of 50,000 commits is rebuilt, the server
//! keeps acknowledging writes and answering reads; the result equals an
//! offline rebuild, byte for byte.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::*;

use crate::backend_tests;
use crate::support::{
    assert_read_models_equal_a_rebuild, create_article, edit_many, Backend, TestServer,
};

backend_tests!(an_online_rebuild_keeps_serving_and_writing_and_equals_an_offline_one);

async fn an_online_rebuild_keeps_serving_and_writing_and_equals_an_offline_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    // 50 writers × (1 creation + 999 edits) = 50,000 commits.
    let mut loaders = Vec::new();
    for n in 0..50 {
        let id = create_article(&server, n).await;
        loaders.push(tokio::spawn(edit_many(server.channel().await, id, 1, 999)));
    }
    for loader in loaders {
        loader.await.unwrap();
    }

    // During the rebuild: one writer records when each write was
    // acknowledged; one reader checks that reads keep answering.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let writer = {
        let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
        let id = create_article(&server, 1_000).await;
        let channel = server.channel().await;
        tokio::spawn(async move {
            let mut version = 1;
            while !stop.load(Ordering::Relaxed) {
                edit_many(channel.clone(), id.clone(), version, 1).await;
                acks.lock().unwrap().push(Instant::now());
                version += 1;
            }
        })
    };
    let reader = {
        let stop = Arc::clone(&stop);
        let mut answers = server.answers().await;
        tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let page = answers
                    .list_answers(ListAnswersRequest {
                        page_size: 10,
                        ..Default::default()
                    })
                    .await
                    .expect("reads answer during the rebuild");
                assert_eq!(page.into_inner().answers.len(), 10);
                reads += 1;
            }
            reads
        })
    };

    let mut progress = AdminServiceClient::new(server.channel().await)
        .rebuild_projections(RebuildProjectionsRequest {
            max_commits_per_second: 20_000,
        })
        .await
        .unwrap()
        .into_inner();
    let mut first = None;
    let mut last;
    let mut messages = 0;
    let generation = loop {
        let p = progress
            .message()
            .await
            .unwrap()
            .expect("progress until done");
        messages += 1;
        first.get_or_insert_with(Instant::now);
        last = Instant::now();
        assert!(p.commits_done <= p.commits_total.max(p.commits_done));
        if p.phase == "done" {
            break p.generation;
        }
    };
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let reads = reader.await.unwrap();
    let first = first.unwrap();
    let during = acks
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= first && **t <= last)
        .count();
    println!("online rebuild: {messages} progress messages over {:?}, {during} writes acknowledged and {reads} list reads answered meanwhile", last - first);
    assert!(messages > 3, "progress was streamed: {messages} messages");
    assert!(
        during >= 100,
        "{during} writes were acknowledged during the rebuild"
    );
    assert!(reads > 0);
    assert_eq!(generation, 1);

    // After the switch: reads and writes go on, on the new generation.
    let id = create_article(&server, 2_000).await;
    assert_eq!(server.get(&id).await.version, 1);

    // The CLI's --json prints each progress report as a line, in order,
    // and ends with "done".
    let out = server.cli(&["rebuild", "--online", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    let reports: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let phases: Vec<&str> = reports
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert!(phases.len() >= 3, "{phases:?}");
    assert_eq!(
        phases[phases.len() - 2..],
        ["switched", "done"],
        "{phases:?}"
    );
    assert!(phases[..phases.len() - 2].iter().all(|p| *p == "replaying"));
    let done = reports.last().unwrap();
    assert_ne!(done["generation"], 1, "{done}");
    assert_eq!(done["commitsDone"], done["commitsTotal"], "{done}");
    let dir = server.stop().await;

    assert_read_models_equal_a_rebuild(dir.path()).await;
}
