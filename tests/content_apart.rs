//! On the JetStream log a commit's content is stored first, and its stub
//! (the hash the commit stream keeps) only once the content is stored. A
//! replica that dies between the two leaves content without its commit;
//! the replicas' sweeper settles it: finishes the commit if its place is
//! still open once the grace has passed, erases the content if another
//! commit took the place. So neither stays without the other.
//!
//! The death is made by refusing the replica's stubs: the commit stream is
//! made full (`max_msgs` at its count, new messages discarded) while the
//! content stream is not, the write fails between the two publishes, and
//! the replica is stopped there. What it leaves is what a crash between
//! them leaves.

use std::sync::Arc;
use std::time::Duration;

use answerlog::pb::*;
use async_nats::jetstream;
use tonic::Code;

use crate::support::{cid, create_article, eventually, Backend, TestServer};

const FINISHED: &str = "The write whose replica died, finished by another.";
const ABANDONED: &str = "The write whose place another commit took.";
const WINNER: &str = "The write that took the place.";

fn edit(id: &str, expected_version: u64, command_id: &str, text: &str) -> EditQuickAnswerRequest {
    EditQuickAnswerRequest {
        article_id: id.to_owned(),
        expected_version,
        command_id: command_id.to_owned(),
        reason: "an edit".into(),
        quick_answer: text.to_owned(),
    }
}

/// Makes the commit stream refuse every new message (`full`), or take
/// them again.
async fn commit_stream_full(nats: &jetstream::Context, full: bool) {
    let mut stream = nats.get_stream("ANSWERLOG").await.unwrap();
    let info = stream.info().await.unwrap();
    let mut config = info.config.clone();
    config.max_messages = match full {
        true => info.state.messages as i64,
        false => -1,
    };
    config.discard = jetstream::stream::DiscardPolicy::New;
    nats.update_stream(config).await.unwrap();
}

/// The messages the commit stream and the content stream hold.
async fn counts(nats: &jetstream::Context) -> (u64, u64) {
    let count = |name: &'static str| {
        let nats = nats.clone();
        async move {
            let mut stream = nats.get_stream(name).await.unwrap();
            stream.info().await.unwrap().state.messages
        }
    };
    (count("ANSWERLOG").await, count("ANSWERLOG_content").await)
}

/// Waits, for at most a minute, until the streams hold `expected`. An
/// erase is seen only in the stream's count, which nothing announces: it
/// is asked again every 50 ms until the deadline.
async fn wait_for_counts(nats: &jetstream::Context, expected: (u64, u64)) {
    let what = format!("the streams hold {expected:?} messages");
    eventually(&what, || async {
        (counts(nats).await == expected).then_some(())
    })
    .await;
}

/// Sends `write` through `server` while the commit stream is full: its
/// content is stored, its stub refused, and the write answered in doubt;
/// then stops `server` there and lets the commit stream take messages
/// again.
async fn dies_between(
    server: TestServer,
    nats: &jetstream::Context,
    write: EditQuickAnswerRequest,
) {
    commit_stream_full(nats, true).await;
    let failed = server
        .articles()
        .await
        .edit_quick_answer(write)
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
    assert!(
        failed.message().contains("the same command_id"),
        "{failed:?}"
    );
    server.stop().await;
    commit_stream_full(nats, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_whose_commit_was_not_sent_is_finished_or_erased() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server =
        TestServer::start_in(Backend::JetStream, Arc::clone(&dir), Default::default()).await;
    let nats_server = Arc::clone(server.nats.as_ref().unwrap());
    let nats = jetstream::new(async_nats::connect(nats_server.url()).await.unwrap());
    let id = create_article(&server, 1).await;
    assert_eq!(counts(&nats).await, (1, 1));

    // The replica stores the content, and its stub is refused: the write
    // is in doubt, and the replica stops there.
    let in_doubt = cid();
    dies_between(server, &nats, edit(&id, 1, &in_doubt, FINISHED)).await;
    assert_eq!(counts(&nats).await, (1, 2), "content without its commit");

    // Started again, with a short grace, the replica finds the content's
    // place still open and finishes the commit; a retry of the write is
    // answered with it.
    let jetstream_options = answerlog::JetStreamOptions {
        orphan_grace: Duration::from_millis(300),
        ..answerlog::JetStreamOptions::new(vec![nats_server.url()])
    };
    let server = TestServer::start_on_options(
        Arc::clone(&nats_server),
        jetstream_options.clone(),
        Arc::clone(&dir),
        Default::default(),
    )
    .await;
    // The replica applies the finished commit: a read that needs position
    // 2 waits for it, on the server's own condition.
    assert_eq!(server.get_at_least(&id, 2).await.version, 2);
    assert_eq!(counts(&nats).await, (2, 2));
    let retried = server
        .articles()
        .await
        .edit_quick_answer(edit(&id, 1, &in_doubt, FINISHED))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((retried.version, retried.global_position), (2, 2));
    assert_eq!(server.get(&id).await.quick_answer, FINISHED);

    // Again in doubt; before the grace is over, another write takes the
    // place. Its stub can never be stored now: its content is erased.
    let abandoned = cid();
    dies_between(server, &nats, edit(&id, 2, &abandoned, ABANDONED)).await;
    let server = TestServer::start_on_options(
        Arc::clone(&nats_server),
        answerlog::JetStreamOptions {
            orphan_grace: Duration::from_secs(3600),
            ..jetstream_options
        },
        Arc::clone(&dir),
        Default::default(),
    )
    .await;
    let won = server
        .articles()
        .await
        .edit_quick_answer(edit(&id, 2, &cid(), WINNER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((won.version, won.global_position), (3, 3));
    wait_for_counts(&nats, (3, 3)).await;
    let late = server
        .articles()
        .await
        .edit_quick_answer(edit(&id, 2, &abandoned, ABANDONED))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::Aborted, "{late:?}");
    assert_eq!(server.get(&id).await.quick_answer, WINNER);
    assert!(server.verify_log().await.ok);
    let found = crate::support::found_in(nats_server.dir(), ABANDONED);
    assert!(
        found.is_empty(),
        "nats-server's files still hold it: {found:?}"
    );
    server.stop().await;
}
