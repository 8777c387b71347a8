//! Concurrency without lost updates: 16 writers race on one article with
//! `expected_version` and retry on ABORTED; every accepted commit is in the
//! history exactly once with its content, versions are contiguous, and
//! every refused attempt was ABORTED and left nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use answerlog::pb::*;
use tonic::Code;
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::support::{cid, create_article, Backend, TestServer};

backend_tests!(sixteen_writers_on_one_article_lose_no_update);

const WRITERS: usize = 16;
const EDITS_EACH: usize = 8;

/// What one writer saw: its accepted commits (version → text) and the
/// texts of its attempts that were ABORTED.
#[derive(Default)]
struct Outcome {
    accepted: BTreeMap<u64, (String, u64)>,
    aborted: Vec<String>,
}

async fn race(server: &TestServer, id: String, writer: usize) -> Outcome {
    let mut articles = server.articles().await;
    let mut outcome = Outcome::default();
    let mut expected = 1;
    let mut attempt = 0;
    while outcome.accepted.len() < EDITS_EACH {
        attempt += 1;
        let text = format!("Writer {writer}, attempt {attempt}.");
        let result = articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: expected,
                command_id: cid(),
                reason: format!("writer {writer}"),
                quick_answer: text.clone(),
            })
            .await;
        match result {
            Ok(written) => {
                let written = written.into_inner();
                assert_eq!(written.version, expected + 1);
                outcome
                    .accepted
                    .insert(written.version, (text, written.global_position));
                expected = written.version;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                let current = status
                    .get_details_error_info()
                    .and_then(|info| info.metadata.get("current_version").cloned())
                    .and_then(|v| v.parse().ok())
                    .expect("ABORTED names the current version");
                assert!(current > expected, "{current} after {expected}");
                outcome.aborted.push(text);
                expected = current;
            }
        }
    }
    outcome
}

async fn sixteen_writers_on_one_article_lose_no_update(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create_article(&server, 1).await;
    let servers = vec![Arc::new(server)];
    writers_lose_no_update(&servers, &id).await;
    for server in servers {
        Arc::into_inner(server)
            .expect("every writer is done")
            .stop()
            .await;
    }
}

/// 16 writers race on article `id`, spread over `servers` (replicas of
/// one log, or one server); then each server is checked: versions
/// contiguous, each accepted commit in the history once with its text,
/// no ABORTED attempt anywhere, the chain verifies.
pub(crate) async fn writers_lose_no_update(servers: &[Arc<TestServer>], id: &str) {
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let server = Arc::clone(&servers[writer % servers.len()]);
        let id = id.to_owned();
        writers.spawn(async move { race(&server, id, writer).await });
    }
    let mut accepted = BTreeMap::new();
    let mut aborted = BTreeSet::new();
    while let Some(outcome) = writers.join_next().await {
        let outcome = outcome.expect("a writer ends");
        for (version, commit) in outcome.accepted {
            assert!(
                accepted.insert(version, commit).is_none(),
                "version {version} was acknowledged twice"
            );
        }
        aborted.extend(outcome.aborted);
    }
    let last = 1 + (WRITERS * EDITS_EACH) as u64;
    // Contiguous: the acknowledged versions are exactly 2..=last.
    assert_eq!(
        accepted.keys().copied().collect::<Vec<_>>(),
        (2..=last).collect::<Vec<_>>()
    );
    println!(
        "{} commits accepted, {} attempts ABORTED",
        accepted.len(),
        aborted.len()
    );
    let end = accepted
        .values()
        .map(|(_, position)| *position)
        .max()
        .unwrap_or(0);
    for server in servers {
        history_holds(server, id, last, end, &accepted, &aborted).await;
    }
}

/// The history on `server` (once it has applied position `end`) holds
/// each accepted commit once, at its version and position, with its text;
/// no ABORTED attempt appears anywhere.
async fn history_holds(
    server: &TestServer,
    id: &str,
    last: u64,
    end: u64,
    accepted: &BTreeMap<u64, (String, u64)>,
    aborted: &BTreeSet<String>,
) {
    let mut audit = server.audit().await;
    let revisions = audit
        .list_revisions(ListRevisionsRequest {
            r#ref: Some(list_revisions_request::Ref::Id(id.to_owned())),
            page_size: 1000,
            min_position: end,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    let versions: Vec<u64> = revisions.iter().map(|r| r.version).collect();
    assert_eq!(versions, (1..=last).collect::<Vec<_>>());
    let mut answers = server.answers().await;
    for revision in revisions.iter().skip(1) {
        let (text, position) = &accepted[&revision.version];
        assert_eq!(revision.global_position, *position);
        let answer = answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
                as_of: Some(get_answer_request::AsOf::Version(revision.version)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .answer
            .unwrap();
        assert_eq!(&answer.quick_answer, text, "version {}", revision.version);
        assert!(!aborted.contains(&answer.quick_answer));
    }
    let verified = audit
        .verify_article(VerifyArticleRequest {
            article_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
}
