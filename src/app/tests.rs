//! Tests of the app over a real store: group commit behind a held flush,
//! the cost of as-of reads, and start-up without replay.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use uuid::Uuid;

use super::*;
use crate::domain::{ArticleDraft, ArticleId, Command, CommandId};
use crate::log::{AppendError, AppendRequest, Log};
use crate::store::{FlushGate, Space};

fn draft(n: usize) -> ArticleDraft {
    ArticleDraft {
        question: format!("Question {n}"),
        quick_answer: "First.".into(),
        last_updated: "2026-01-02".into(),
        ..ArticleDraft::default()
    }
}

fn meta(command_id: CommandId) -> WriteMeta {
    WriteMeta {
        command_id,
        request_digest: [7; 32],
        reason: "test".into(),
        actor: "tester".into(),
        origin: None,
    }
}

/// The article's durable current state.
async fn current_article(app: &App, id: ArticleId) -> crate::domain::Article {
    app.current_durable(id)
        .await
        .unwrap()
        .expect("the article")
        .article
        .clone()
}

fn new_meta() -> WriteMeta {
    meta(CommandId::from_uuid(Uuid::now_v7()))
}

fn edit(text: &str) -> Command {
    Command::EditQuickAnswer {
        quick_answer: text.into(),
    }
}

/// Polls a future once: `None` if it is still waiting.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Blocking work off the async workers.
async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_queued_behind_a_held_flush_share_one_flush_and_stay_invisible_until_it() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(FlushGate::default());
    let options = AppOptions {
        store: StoreOptions {
            flush_gate: Some(Arc::clone(&gate)),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let app = Arc::new(App::open(dir.path(), options).unwrap());

    // Eleven articles at version 1, their flushes let through.
    gate.release(u64::MAX / 2);
    let mut ids: Vec<ArticleId> = Vec::new();
    for n in 0..11 {
        ids.push(app.create(draft(n), new_meta()).await.unwrap().article_id);
    }
    // Close the gate again: take back the permits not used.
    blocking({
        let gate = Arc::clone(&gate);
        move || gate.take_permits()
    })
    .await;

    // One edit reaches the writer, which stops at the gate before its flush.
    let first = tokio::spawn({
        let app = Arc::clone(&app);
        let id = ids[10];
        async move { app.edit(id, 1, edit("held"), new_meta()).await }
    });
    blocking({
        let gate = Arc::clone(&gate);
        move || gate.wait_until_waiting()
    })
    .await;

    // Ten more queue behind it.
    let commands: Vec<CommandId> = (0..10)
        .map(|_| CommandId::from_uuid(Uuid::now_v7()))
        .collect();
    let mut queued = Vec::new();
    for (i, id) in ids[..10].iter().enumerate() {
        let app = Arc::clone(&app);
        let (id, command) = (*id, commands[i]);
        queued.push(tokio::spawn(async move {
            app.edit(id, 1, edit(&format!("edit {i}")), meta(command))
                .await
        }));
    }
    while app.store().queued() < 10 {
        tokio::task::yield_now().await;
    }

    // Let the first flush through; the ten are then written as one batch
    // that waits at the gate for its flush.
    let flushes = app.store().stats().flushes();
    let batches = app.store().stats().batches();
    gate.release(1);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.version, 2);
    blocking({
        let gate = Arc::clone(&gate);
        move || gate.wait_until_waiting()
    })
    .await;
    assert_eq!(app.store().stats().flushes(), flushes + 1);

    // Written to sled, not flushed: no caller has its reply, and no reader
    // sees the commits (a read is served the version before, or waits).
    assert!(queued.iter().all(|h| !h.is_finished()));
    for (i, id) in ids[..10].iter().enumerate() {
        let reference = ArticleRef::Id(*id);
        if let Some(answer) = poll_once(app.answer(&reference, AsOf::Current)) {
            assert_eq!(answer.unwrap().article.version, 1);
        }
        if let Some(listed) = poll_once(app.revisions(&reference, 0, 10)) {
            let (_, head, page) = listed.unwrap();
            assert_eq!(head, 1);
            assert_eq!(page.items.len(), 1);
        }
        let retry = app.edit(*id, 1, edit(&format!("edit {i}")), meta(commands[i]));
        assert!(poll_once(retry).is_none());
    }
    assert!(queued.iter().all(|h| !h.is_finished()));

    // One flush serves all ten.
    gate.release(1);
    let mut positions = Vec::new();
    for handle in queued {
        let done = handle.await.unwrap().unwrap();
        assert_eq!(done.version, 2);
        positions.push(done.global_position);
    }
    assert_eq!(app.store().stats().flushes(), flushes + 2);
    assert_eq!(app.store().stats().batches(), batches + 2);
    positions.sort_unstable();
    assert_eq!(
        positions,
        (first.global_position + 1..=first.global_position + 10).collect::<Vec<_>>()
    );
    for (i, id) in ids[..10].iter().enumerate() {
        let answer = app
            .answer(&ArticleRef::Id(*id), AsOf::Current)
            .await
            .unwrap();
        assert_eq!(answer.article.quick_answer, format!("edit {i}"));
        let retried = app
            .edit(*id, 1, edit(&format!("edit {i}")), meta(commands[i]))
            .await
            .unwrap();
        assert!(retried.duplicate);
        assert_eq!(retried.version, 2);
    }
    gate.release(u64::MAX / 2);
    blocking(move || app.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_reads_touch_at_most_k_plus_one_records_whatever_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    let k = app.snapshot_interval();
    assert_eq!(k, projection::DEFAULT_SNAPSHOT_INTERVAL);
    let id = app.create(draft(0), new_meta()).await.unwrap().article_id;
    for version in 1..1000 {
        app.edit(id, version, edit(&format!("text {version}")), new_meta())
            .await
            .unwrap();
    }
    settled(&app).await;
    let stats = app.store().stats();
    let reference = ArticleRef::Id(id);
    for version in [1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 500, 999, 1000] {
        let records = || {
            stats.reads(Space::Log) + stats.reads(Space::Snapshots) + stats.reads(Space::Current)
        };
        let before = records();
        let answer = app
            .answer(&reference, AsOf::Version(version))
            .await
            .unwrap();
        assert_eq!(answer.article.version, version);
        let expected = if version == 1 {
            "First.".to_owned()
        } else {
            format!("text {}", version - 1)
        };
        assert_eq!(answer.article.quick_answer, expected);
        let touched = records() - before;
        // The current answer, the nearest snapshot and at most K−1 commits,
        // whose log positions the log's index holds in memory.
        assert!(touched <= k + 1, "version {version}: {touched} records");
        println!("as of version {version}: {touched} records");
    }
    app.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_no_log_record_at_or_below_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(App::open(dir.path(), AppOptions::default()).unwrap());
    let mut writers = Vec::new();
    for w in 0..50 {
        let app = Arc::clone(&app);
        writers.push(tokio::spawn(async move {
            for n in 0..200 {
                app.create(draft(w * 1000 + n), new_meta()).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    settled(&app).await;
    assert_eq!(app.durable(), 10_000);
    assert!(
        app.store().stats().batches() < 10_000,
        "the writers shared group commits"
    );
    blocking(move || app.shutdown()).await;

    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.store().stats().reads(Space::Log), 0);
    assert_eq!(app.store().checkpoint().unwrap(), 10_000);
    assert_eq!(app.durable(), 10_000);
    let page = app.list_answers(None, 9_990, 100).await.unwrap();
    assert_eq!(page.items.len(), 10);
    // The log chain's hashes, stored one record a group commit, are the
    // ones recomputed at every position.
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (10_000, None));
    app.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_decided_on_an_earlier_pending_write_is_appended_only_onto_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(App::open(dir.path(), AppOptions::default()).unwrap());
    let id = app.create(draft(0), new_meta()).await.unwrap().article_id;
    // An import's write to version 2 was refused, and another writer took
    // version 2 meanwhile.
    let refused = CommandId::from_uuid(Uuid::now_v7());
    let another = new_meta();
    app.edit(id, 1, edit("another's"), another.clone())
        .await
        .unwrap();
    let current = current_article(&app, id).await;
    let decided_on_version_2 = |basis: CommandId| {
        let decided = app
            .decide_commit(
                id,
                Some(current.clone()),
                2,
                &edit("the import's"),
                new_meta(),
            )
            .unwrap()
            .expect("a change");
        AppendRequest {
            decided_after: Some(basis),
            rewrites: Vec::new(),
            ..decided.request
        }
    };
    // The import's next write, decided on the refused one, is refused too:
    // version 2 is not the state it was decided on.
    let outcome = app.store().append(decided_on_version_2(refused)).await;
    assert_eq!(outcome, Err(AppendError::BasisLost { version: 2 }));
    // Decided on the write that is the head, it is appended.
    let appended = app
        .store()
        .append(decided_on_version_2(another.command_id))
        .await
        .unwrap();
    assert_eq!(appended.version, 3);
}

/// A commit made before request hashes were keyed holds the plain SHA-256:
/// a retry of its command is still answered as the first time, whether it
/// reaches the app's check or the writer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_commit_whose_request_hash_was_not_keyed_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(App::open(dir.path(), AppOptions::default()).unwrap());
    let id = app.create(draft(0), new_meta()).await.unwrap().article_id;
    let old = new_meta();
    let current = current_article(&app, id).await;
    let decided = app
        .decide_commit(id, Some(current), 1, &edit("written unkeyed"), old.clone())
        .unwrap()
        .expect("a change");
    assert_ne!(decided.request.request_hash.keyed, old.request_digest);
    // As an older version appended it: the commit keeps the plain digest.
    let unkeyed = AppendRequest {
        request_hash: crate::domain::RequestHash {
            keyed: old.request_digest,
            unkeyed: old.request_digest,
        },
        ..decided.request.clone()
    };
    let appended = app.store().append(unkeyed).await.unwrap();
    assert_eq!(appended.version, 2);
    // The retry through the app finds the command and answers it.
    let retried = app
        .edit(id, 1, edit("written unkeyed"), old.clone())
        .await
        .unwrap();
    assert!(retried.duplicate);
    assert_eq!(retried.global_position, appended.global_position);
    // The writer's own check takes the unkeyed hash as the same request.
    let again = app.store().append(decided.request).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.global_position, appended.global_position);
    // Another request with the same command id is a reuse.
    let other = WriteMeta {
        request_digest: [9; 32],
        ..old
    };
    let reused = app.edit(id, 2, edit("another request"), other).await;
    assert!(
        format!("{reused:?}").contains("already used for a different request"),
        "{reused:?}"
    );
}

/// A store in `dir` with one article, just created.
async fn one_article(dir: &std::path::Path) -> (App, ArticleId) {
    let app = App::open(dir, AppOptions::default()).unwrap();
    let id = app.create(draft(1), new_meta()).await.unwrap().article_id;
    (app, id)
}

/// The stream's messages for positions `1..=n` of `app`'s log, as a
/// writing replica publishes them (no global position).
async fn stream_of(app: &App, n: u64) -> Vec<crate::store::StreamCommit> {
    settled(app).await;
    let mut messages = Vec::new();
    for position in 1..=n {
        let mut commit = app.store.read(position).unwrap().unwrap();
        commit.global_position = 0;
        messages.push(crate::store::StreamCommit {
            position,
            bytes: crate::codec::encode_commit(&commit).into(),
            article: Some(commit.article_id),
            hash: None,
            rewrites: Vec::new(),
        });
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_applies_the_stream_once_and_stops_at_a_commit_that_does_not_verify() {
    let source = tempfile::tempdir().unwrap();
    let (writer, id) = one_article(source.path()).await;
    for (version, text) in [(1, "Second."), (2, "Third."), (3, "Fourth.")] {
        writer
            .edit(id, version, edit(text), new_meta())
            .await
            .unwrap();
    }
    let messages = stream_of(&writer, 4).await;

    let replica_dir = tempfile::tempdir().unwrap();
    let replica = App::open(replica_dir.path(), AppOptions::default()).unwrap();
    assert_eq!(
        replica.store.ingest(messages[..2].to_vec()).await.unwrap(),
        2
    );
    // A redelivery of what is applied changes nothing.
    assert_eq!(
        replica.store.ingest(messages[..2].to_vec()).await.unwrap(),
        2
    );
    // Past the next position: the store says where it stands (the
    // follower asks the stream again from there).
    let gap = replica
        .store
        .ingest(messages[3..].to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(gap, crate::store::IngestError::Behind { applied: 2 }),
        "{gap}"
    );
    // A commit on another article's subject is a break.
    let misplaced = crate::store::StreamCommit {
        article: Some(ArticleId::from_uuid(Uuid::now_v7())),
        hash: None,
        rewrites: Vec::new(),
        ..messages[2].clone()
    };
    let broken = replica.store.ingest(vec![misplaced]).await.unwrap_err();
    assert!(
        matches!(&broken, crate::store::IngestError::Break(b) if b.position == 3 && b.why.contains("subject")),
        "{broken}"
    );
    // A changed byte in a payload does not recompute: position 3 is
    // refused, and what came before stays applied.
    let mut commit = crate::codec::decode_commit(messages[2].bytes.clone()).unwrap();
    commit.reason = "rewritten".into();
    let tampered = crate::store::StreamCommit {
        position: 3,
        bytes: crate::codec::encode_commit(&commit).into(),
        article: Some(id),
        hash: None,
        rewrites: Vec::new(),
    };
    let broken = replica.store.ingest(vec![tampered]).await.unwrap_err();
    assert!(
        matches!(&broken, crate::store::IngestError::Break(b) if b.position == 3 && b.why.contains("hashes to")),
        "{broken}"
    );
    assert_eq!(*replica.store.durable_position().borrow(), 2);
    // The genuine commits apply, and the replica's log chain is the writer's.
    assert_eq!(
        replica.store.ingest(messages[2..].to_vec()).await.unwrap(),
        4
    );
    assert_eq!(
        replica.store.log_hash(4).unwrap(),
        writer.store.log_hash(4).unwrap()
    );
    let answer = replica.current_durable(id).await.unwrap().unwrap();
    assert_eq!(answer.article.version, 4);
    assert_eq!(answer.article.quick_answer, "Fourth.");
}

/// Redacts the first event of the commit at log position 2, the article
/// (`id`, at version 3) its only one; the redaction's position.
async fn redact_the_second_commit(app: &App, id: ArticleId) -> u64 {
    let redaction = Redaction {
        article: id,
        expected_version: 3,
        position: 2,
        event: 0,
    };
    let redacted = app.redact(redaction, new_meta()).await.unwrap();
    redacted.appended.global_position
}

/// A replica catching up applies a commit as the stream holds it now,
/// which may already carry a redaction by a later position. A reader shown
/// that commit waits until the replica holds the redaction too (or is told
/// why not, past its deadline), and the page's cursor goes on to it: what
/// it exports names no redaction it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_shows_a_redacted_commit_only_with_the_redaction() {
    let source = tempfile::tempdir().unwrap();
    let (writer, id) = one_article(source.path()).await;
    edit_versions(&writer, id, 1..3).await;
    assert_eq!(redact_the_second_commit(&writer, id).await, 4);
    let messages = stream_of(&writer, 4).await;
    assert_eq!(
        crate::codec::decode_commit(messages[1].bytes.clone())
            .unwrap()
            .redactions
            .len(),
        1,
        "the stream holds position 2 as the redaction left it"
    );

    let replica_dir = tempfile::tempdir().unwrap();
    let replica = Arc::new(App::open(replica_dir.path(), AppOptions::default()).unwrap());
    replica.store.ingest(messages[..2].to_vec()).await.unwrap();
    let all = CommitFilter::default();
    let soon = || tokio::time::Instant::now() + std::time::Duration::from_millis(50);
    // Position 2 shows a redaction at 4, which the replica lacks.
    let refused = replica.list_commits(&all, 0, 10, soon()).await.unwrap_err();
    assert!(
        matches!(&refused, AppError::Unavailable(why) if why.contains("redacted at log position 4")),
        "{refused}"
    );
    let refused = replica.commit_view(id, 2, soon()).await.unwrap_err();
    assert!(matches!(refused, AppError::Unavailable(_)), "{refused}");
    // Position 1 shows no redaction: served at once.
    let first = replica.commit_view(id, 1, soon()).await.unwrap();
    assert!(first.commit.redactions.is_empty());

    // A reader waiting while the replica catches up is served, and its
    // cursor goes on past what the replica held when it asked.
    let waiting = {
        let replica = Arc::clone(&replica);
        tokio::spawn(async move {
            let later = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            replica.list_commits(&all, 0, 2, later).await
        })
    };
    replica.store.ingest(messages[2..].to_vec()).await.unwrap();
    let page = waiting.await.unwrap().unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next, Some(2));
    let rest = replica
        .list_commits(&CommitFilter::default(), 2, 10, soon())
        .await
        .unwrap();
    let last = rest.items.last().unwrap();
    assert_eq!(last.commit.global_position, 4);
    assert!(last
        .commit
        .events
        .iter()
        .any(|e| matches!(e, crate::domain::Event::PayloadRedacted { .. })));
}

/// A store in `dir` with one article, created and then reviewed by
/// "tester" (version 2).
async fn reviewed_article(dir: &std::path::Path) -> (App, ArticleId) {
    let app = App::open(dir, AppOptions::default()).unwrap();
    let id = app.create(draft(1), new_meta()).await.unwrap().article_id;
    app.edit(id, 1, Command::ReviewArticle, new_meta())
        .await
        .unwrap();
    (app, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_of_another_format_are_rebuilt_from_the_log_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (app, id) = reviewed_article(dir.path()).await;
    let fresh = app.store().stats().log_bytes_replayed();
    app.shutdown();
    drop(app);

    // Reopened as it is: nothing to rebuild.
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.store().stats().log_bytes_replayed(), fresh);
    app.shutdown();
    drop(app);

    // As a version before the format was recorded left it (no format),
    // and as one of another format would: the read models are rebuilt
    // before the store serves, and the stored format is today's.
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.remove_meta(projection::FORMAT_KEY).unwrap();
    drop(store);
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert!(
        app.store().stats().log_bytes_replayed() > 0,
        "a rebuild ran"
    );
    app.shutdown();
    drop(app);
    // Format 3 kept a revision summary a version (`r`, then the
    // generation): the rebuild removes what is left of it.
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .set_meta(projection::FORMAT_KEY, &3u64.to_be_bytes())
        .unwrap();
    store.insert_raw(&[b'r', 0, 1, 2, 3], b"a revision summary");
    drop(store);
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(
        app.store().count_raw(b"r"),
        0,
        "retired records are removed"
    );
    app.shutdown();
    drop(app);
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .set_meta(projection::FORMAT_KEY, &1u64.to_be_bytes())
        .unwrap();
    drop(store);
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert!(
        app.store().stats().log_bytes_replayed() > 0,
        "a rebuild ran"
    );
    assert_eq!(
        app.store().meta(projection::FORMAT_KEY).unwrap(),
        Some(projection::FORMAT.to_be_bytes().to_vec())
    );
    let answer = app
        .answer(&ArticleRef::Id(id), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(answer.article.reviewed_version, 2);
    app.shutdown();
}

/// A store whose read models an offline rebuild has just made, with two
/// articles (one of 20 versions), and those read models.
async fn rebuilt_store(
    dir: &std::path::Path,
) -> (
    ArticleId,
    ArticleId,
    Vec<(String, Vec<crate::store::Record>)>,
) {
    let app = App::open(dir, AppOptions::default()).unwrap();
    let long = app.create(draft(1), new_meta()).await.unwrap().article_id;
    edit_versions(&app, long, 1..20).await;
    let short = app.create(draft(2), new_meta()).await.unwrap().article_id;
    app.shutdown();
    drop(app);
    App::rebuild(dir, &AppOptions::default(), None).unwrap();
    (long, short, App::dump_read_models(dir).unwrap())
}

/// Read models that do not agree with the log: a snapshot at an interval
/// the store does not use, a slug no article holds, the short article's
/// slug given to the long one (a fold that trusted it would refuse the
/// short one's creation), and the short article's state replaced by the
/// long one's (a later position, another article).
fn spoil_read_models(store: &SledStore, long: ArticleId, short: ArticleId) {
    let keys = store.keys();
    let (short_slug, _) = store
        .read_models()
        .dump(Space::Slugs)
        .unwrap()
        .into_iter()
        .find(|(_, owner)| owner.as_slice() == short.as_bytes())
        .unwrap();
    store.insert_raw(&keys.key(Space::Slugs, &[&short_slug]), long.as_bytes());
    store.insert_raw(
        &keys.version(Space::Snapshots, long, 5),
        b"a snapshot of another interval",
    );
    store.insert_raw(
        &keys.key(Space::Slugs, &[b"a-slug-nobody-holds"]),
        short.as_bytes(),
    );
    let (_, long_state) = store
        .read_models()
        .dump(Space::Current)
        .unwrap()
        .into_iter()
        .find(|(key, _)| key.as_slice() == long.as_bytes())
        .unwrap();
    store.insert_raw(&keys.article(Space::Current, short), &long_state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_over_read_models_that_disagree_with_the_log_leaves_what_the_log_makes() {
    let dir = tempfile::tempdir().unwrap();
    let (long, short, clean) = rebuilt_store(dir.path()).await;
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    spoil_read_models(&store, long, short);
    drop(store);
    assert_ne!(App::dump_read_models(dir.path()).unwrap(), clean);

    App::rebuild(dir.path(), &AppOptions::default(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_stopped_part_way_is_done_again_whole_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (long, short, clean) = rebuilt_store(dir.path()).await;
    // As a rebuild stopped after the chunk through position 10 leaves
    // the store: its mark set, the checkpoint moved on, the read models
    // part old and part new.
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    spoil_read_models(&store, long, short);
    store.set_meta("rebuilding", &[1]).unwrap();
    store.set_meta("checkpoint", &10u64.to_be_bytes()).unwrap();
    drop(store);

    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.store().meta("rebuilding").unwrap(), None);
    let answer = app
        .answer(&ArticleRef::Id(short), AsOf::Current)
        .await
        .unwrap();
    assert_eq!((answer.article.id, answer.article.version), (short, 1));
    app.shutdown();
    drop(app);
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_takes_a_log_whose_time_goes_back_across_articles_and_knows_by_how_much() {
    // Two writers, the second's clock a minute behind the first's; their
    // logs interleaved as a stream would order them.
    let behind = std::time::Duration::from_secs(60);
    let (fast_dir, slow_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fast = App::open(fast_dir.path(), AppOptions::default()).unwrap();
    let slow_options = AppOptions {
        store: StoreOptions {
            clock: crate::log::Clock::behind(behind),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let slow = App::open(slow_dir.path(), slow_options).unwrap();
    for (n, app) in [&fast, &slow].into_iter().enumerate() {
        let id = app.create(draft(n), new_meta()).await.unwrap().article_id;
        app.edit(id, 1, edit("Second."), new_meta()).await.unwrap();
    }
    let mut messages = Vec::new();
    for (fast, slow) in stream_of(&fast, 2)
        .await
        .into_iter()
        .zip(stream_of(&slow, 2).await)
    {
        messages.push(fast);
        messages.push(slow);
    }
    for (i, message) in messages.iter_mut().enumerate() {
        message.position = i as u64 + 1;
    }

    let dir = tempfile::tempdir().unwrap();
    let replica = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(replica.store.ingest(messages.clone()).await.unwrap(), 4);
    let lag = replica.store().clock_lag();
    assert!(
        lag > 59_000_000 && lag < 70_000_000,
        "the slow clock's commits lie a minute back: {lag} µs"
    );
    replica.shutdown();
    drop(replica);

    // A store written before the lag was kept derives it at open.
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    let state = store.meta("writer").unwrap().unwrap();
    store.set_meta("writer", &state[..64]).unwrap();
    drop(store);
    let reopened = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(reopened.clock_lag(), lag);

    // One commit recorded before its own article's previous version is
    // refused, wherever the log's time stands.
    let mut commit = crate::codec::decode_commit(messages[2].bytes.clone()).unwrap();
    let earlier = crate::codec::decode_commit(messages[0].bytes.clone()).unwrap();
    commit.recorded_at = earlier.recorded_at;
    commit.hash =
        crate::domain::commit_hash(&earlier.hash.clone().try_into().unwrap(), &commit).to_vec();
    let fresh = tempfile::tempdir().unwrap();
    let replica = App::open(fresh.path(), AppOptions::default()).unwrap();
    let mut tampered = messages[..2].to_vec();
    tampered.push(crate::store::StreamCommit {
        bytes: crate::codec::encode_commit(&commit).into(),
        ..messages[2].clone()
    });
    let broken = replica.store.ingest(tampered).await.unwrap_err();
    assert!(
        matches!(&broken, crate::store::IngestError::Break(b) if b.position == 3 && b.why.contains("not after")),
        "{broken}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_an_older_version_carried_over_an_edit_is_not_shown_and_ends_at_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let (app, id) = reviewed_article(dir.path()).await;
    // Version 3 as an older version wrote it: an edit that kept the
    // reviewer in its provenance, with no ReviewLapsed.
    app.store()
        .append(AppendRequest {
            article_id: id,
            expected_version: 2,
            command_id: CommandId::from_uuid(Uuid::now_v7()),
            request_hash: crate::domain::RequestHash {
                keyed: [3; 32],
                unkeyed: [4; 32],
            },
            actor: "wes".into(),
            reason: "test".into(),
            provenance: crate::domain::Provenance {
                reviewed_by: "tester".into(),
                ..crate::domain::Provenance::default()
            },
            events: vec![crate::domain::Event::QuestionEdited {
                question: "Changed after the review".into(),
            }],
            decided_after: None,
            rewrites: Vec::new(),
            presealed: None,
        })
        .await
        .unwrap();
    let current = app
        .answer(&ArticleRef::Id(id), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(current.article.provenance.reviewed_by, "tester");
    assert_eq!(
        current.article.standing_review(),
        None,
        "not shown as standing"
    );
    let as_of_2 = app
        .answer(&ArticleRef::Id(id), AsOf::Version(2))
        .await
        .unwrap();
    assert_eq!(as_of_2.article.standing_review(), Some(("tester", 2)));

    // Its reviewer reviewing again is a review, not a repeat.
    let again = app
        .edit(id, 3, Command::ReviewArticle, new_meta())
        .await
        .unwrap();
    assert_eq!(again.version, 4);
    let current = app
        .answer(&ArticleRef::Id(id), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(current.article.standing_review(), Some(("tester", 4)));
    app.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_marked_torn_is_removed_at_open_and_the_read_models_derived_again() {
    // A replica's store, which writes each batch into sled with one
    // `apply_batch` (the embedded log's applier writes key by key: see the
    // next test).
    let dir = tempfile::tempdir().unwrap();
    let options = || AppOptions {
        store: StoreOptions {
            replica_flush: Some(std::time::Duration::ZERO),
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let app = App::open(dir.path(), options()).unwrap();
    let kept = app.create(draft(1), new_meta()).await.unwrap().article_id;
    app.edit(kept, 1, edit("Kept."), new_meta()).await.unwrap();
    app.suggest("Kept?".into(), None, "tester".into())
        .await
        .unwrap();
    let before = app.store().meta("writer").unwrap().unwrap();

    // What sled may leave of a batch it failed in the middle of: here the
    // whole of it reached the disk, which the repair must treat alike.
    let torn_create = new_meta();
    let torn = app
        .create(draft(2), torn_create.clone())
        .await
        .unwrap()
        .article_id;
    app.edit(kept, 2, edit("Torn."), new_meta()).await.unwrap();
    app.suggest("Torn?".into(), None, "tester".into())
        .await
        .unwrap();
    assert_eq!(app.durable(), 4);
    app.store().arm_torn_mark(&before);
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;

    // The repair removes everything sled holds past the mark; the log's
    // files, synced before sled took the batch, give its commits back, and
    // their indexes and read models are derived again. The suggestion,
    // which the log does not hold, is gone with the torn batch.
    let app = App::open(dir.path(), options()).unwrap();
    assert_eq!(app.durable(), 4, "the log's files give the commits back");
    let answer = app
        .answer(&ArticleRef::Id(kept), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(answer.article.version, 3);
    assert_eq!(answer.article.quick_answer, "Torn.");
    let (_, head, revisions) = app.revisions(&ArticleRef::Id(kept), 0, 10).await.unwrap();
    assert_eq!((head, revisions.items.len()), (3, 3));
    app.answer(&ArticleRef::Id(torn), AsOf::Current)
        .await
        .unwrap();
    let suggestions = app.suggestions(0, 10).await.unwrap();
    assert_eq!(suggestions.items.len(), 1);

    // A retry of the create, with its command id, gets its first outcome.
    let retried = app.create(draft(2), torn_create).await.unwrap();
    assert_eq!((retried.global_position, retried.duplicate), (3, true));
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (4, None));
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;

    // The mark is cleared: the next open repairs nothing, and the read
    // models it derived are those a rebuild derives.
    let app = App::open(dir.path(), options()).unwrap();
    assert_eq!(app.durable(), 4);
    app.shutdown();
    drop(app);
    let repaired = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &options(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), repaired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_batch_is_replaced_by_the_log_files_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    let kept = app.create(draft(1), new_meta()).await.unwrap().article_id;
    // Where the mark goes back to: what sled had flushed when it failed.
    settled(&app).await;
    let flushed = app.store().meta("writer").unwrap().unwrap();
    let torn = app.create(draft(2), new_meta()).await.unwrap();
    app.edit(kept, 1, edit("Logged."), new_meta())
        .await
        .unwrap();
    settled(&app).await;
    assert_eq!(app.durable(), 3);
    // The mark as a store that failed in the middle of a sled batch arms
    // it (a switch of generations, say).
    app.store().arm_torn_mark(&flushed);
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;

    // The repair removes everything sled holds past the mark, whole or in
    // part; the log's files give back what was durable.
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.durable(), 3, "the log's files give back what sled lost");
    let answer = app
        .answer(&ArticleRef::Id(kept), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(answer.article.quick_answer, "Logged.");
    app.answer(&ArticleRef::Id(torn.article_id), AsOf::Current)
        .await
        .unwrap();
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (3, None));
    app.shutdown();
    drop(app);
    let repaired = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &AppOptions::default(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), repaired);
}

/// sled's own failure as the applier writes (a full disk: what sled wrote
/// since its last flush may reach the disk in part, out of order) marks
/// the store torn back to that flush before anything else happens. The
/// answered writes stay answered; writes are refused while the disk is
/// full; the next open repairs, and every answered commit is there with
/// its chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleds_own_failure_in_the_applier_marks_the_store_torn_back_to_its_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(crate::store::Faults::new());
    let options = |faults: Option<Arc<crate::store::Faults>>| AppOptions {
        store: StoreOptions {
            faults,
            ..StoreOptions::default()
        },
        ..AppOptions::default()
    };
    let app = App::open(dir.path(), options(Some(Arc::clone(&faults)))).unwrap();
    let kept = app.create(draft(1), new_meta()).await.unwrap().article_id;
    // A suggestion is answered once the applier has flushed its batch.
    app.suggest("Flushed?".into(), None, "tester".into())
        .await
        .unwrap();
    let flushed = app.store().meta("writer").unwrap().unwrap();
    assert_eq!(app.store().torn_mark(), None);

    faults.fail(crate::store::FaultPoint::Sled, 0);
    // Answered once the log's files hold it; the applier's write of it
    // into sled is what fails.
    let answered = app
        .edit(kept, 1, edit("Answered as sled failed."), new_meta())
        .await
        .unwrap();
    assert_eq!(answered.version, 2);
    // (the applier marks the store torn, then reports the failure)
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !app.store().is_failing() {
        assert!(
            std::time::Instant::now() < give_up,
            "the failure was never reported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(app.store().torn_mark(), Some(flushed));
    // While the disk stays full, writes are refused, and the process is
    // not ended (it ends once the disk has room: not in this test).
    let refused = app.create(draft(2), new_meta()).await.unwrap_err();
    assert!(refused.to_string().contains("No space left"), "{refused}");
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;

    // The next open repairs back to the flush, and the log's files give
    // the answered edit back.
    let app = App::open(dir.path(), options(None)).unwrap();
    assert_eq!(app.store().torn_mark(), None);
    assert_eq!(app.durable(), 2);
    let answer = app
        .answer(&ArticleRef::Id(kept), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(answer.article.quick_answer, "Answered as sled failed.");
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (2, None));
    assert_eq!(app.suggestions(0, 10).await.unwrap().items.len(), 1);
    app.shutdown();
    drop(app);
    let repaired = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &options(None), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), repaired);
}

/// Current states come from the cache, or from the stored state (written at
/// version 1 and every `STATE_EVERY`th) and the log after it: with no room
/// in the cache, and again after a restart, every read folds, and finds
/// what the cache serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_states_fold_from_the_stored_state_when_the_cache_cannot_hold_them() {
    let every = crate::projection::STATE_EVERY;
    let cached_dir = tempfile::tempdir().unwrap();
    let bare_dir = tempfile::tempdir().unwrap();
    let cached = App::open(cached_dir.path(), AppOptions::default()).unwrap();
    let bare = App::open(
        bare_dir.path(),
        AppOptions {
            state_cache_bytes: 0,
            ..AppOptions::default()
        },
    )
    .unwrap();
    let mut ids = Vec::new();
    for app in [&cached, &bare] {
        ids.push(app.create(draft(0), new_meta()).await.unwrap().article_id);
    }
    let stats = bare.store().stats();
    for version in 1..3 * every + 3 {
        for (app, id) in [(&cached, ids[0]), (&bare, ids[1])] {
            app.edit(id, version, edit(&format!("text {version}")), new_meta())
                .await
                .unwrap();
            settled(app).await;
        }
        let before = stats.reads(Space::Log);
        let a = cached
            .answer(&ArticleRef::Id(ids[0]), AsOf::Current)
            .await
            .unwrap();
        let b = bare
            .answer(&ArticleRef::Id(ids[1]), AsOf::Current)
            .await
            .unwrap();
        let folded = stats.reads(Space::Log) - before;
        assert_eq!(a.article.version, version + 1);
        assert_eq!(b.article.version, version + 1);
        assert_eq!(b.article.quick_answer, format!("text {version}"));
        // The bare store folds the versions after its stored state only.
        let stored = ((version + 1) / every * every).max(1);
        assert_eq!(folded, version + 1 - stored, "at version {}", version + 1);
        let mut same = b.article.clone();
        same.id = a.article.id;
        same.slug = a.article.slug.clone();
        assert_eq!(same, a.article);
    }
    let head = cached
        .answer(&ArticleRef::Id(ids[0]), AsOf::Current)
        .await
        .unwrap();
    blocking(move || cached.shutdown()).await;
    blocking(move || bare.shutdown()).await;
    // After a restart the cache is empty: the first read folds.
    let reopened = App::open(cached_dir.path(), AppOptions::default()).unwrap();
    let again = reopened
        .answer(&ArticleRef::Id(ids[0]), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(again, head);
    blocking(move || reopened.shutdown()).await;
}

/// The applier writes a batch into sled key by key (`store::applier`): a
/// crash can leave every key of a batch but `meta`. Here all of the last
/// writes' keys stay and `meta` goes back to before them: the open derives
/// the indexes from the log's files over them and the read models catch
/// up, and the store is what it would have been.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sled_kept_without_its_meta_is_written_again_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    let kept = app.create(draft(1), new_meta()).await.unwrap().article_id;
    edit_versions(&app, kept, 1..6).await;
    settled(&app).await;
    let writer = app.store().meta("writer").unwrap().unwrap();
    let checkpoint = app.store().meta("checkpoint").unwrap().unwrap();
    // Past the stored state every 8th version, and a new article.
    edit_versions(&app, kept, 6..12).await;
    let later = app.create(draft(2), new_meta()).await.unwrap().article_id;
    settled(&app).await;
    assert_eq!(app.durable(), 13);
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.set_meta("writer", &writer).unwrap();
    store.set_meta("checkpoint", &checkpoint).unwrap();
    drop(store);

    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.durable(), 13);
    let answer = app
        .answer(&ArticleRef::Id(kept), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(
        (answer.article.version, answer.article.quick_answer.as_str()),
        (12, "v12")
    );
    app.answer(&ArticleRef::Id(later), AsOf::Current)
        .await
        .unwrap();
    let (_, head, revisions) = app.revisions(&ArticleRef::Id(kept), 0, 20).await.unwrap();
    assert_eq!((head, revisions.items.len()), (12, 12));
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (13, None));
    app.shutdown();
    drop(app);
    let replayed = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &AppOptions::default(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), replayed);
}

/// Waits until the read models hold every write answered (what a read
/// through the API waits for first).
/// Every answered write is in the read models, and in the Merkle tree
/// (whose thread reads the log, which tests count reads of, as it grows).
async fn settled(app: &App) {
    app.wait_for_position(0, None).await.unwrap();
    app.checkpoint(0, None).await.unwrap();
}

/// Edits `id` from each version of `from` to the next, its quick answer
/// naming the version it makes ("v2", "v3", …).
async fn edit_versions(app: &App, id: ArticleId, from: std::ops::Range<u64>) {
    for version in from {
        app.edit(id, version, edit(&format!("v{}", version + 1)), new_meta())
            .await
            .unwrap();
    }
}

/// The applier held still (issue 15): writes are still answered, each once
/// its batch is durable in the log's files, and decided on what the answered
/// ones left; a slug an answered write took is refused at admission though
/// the read models do not hold it yet; a read waits until they take what
/// was answered before it, and then sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_applier_held_writes_are_answered_and_reads_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(FlushGate::default());
    let app = App::open(
        dir.path(),
        AppOptions {
            store: StoreOptions {
                apply_gate: Some(Arc::clone(&gate)),
                ..StoreOptions::default()
            },
            ..AppOptions::default()
        },
    )
    .unwrap();
    let id = app.create(draft(1), new_meta()).await.unwrap().article_id;
    blocking({
        let gate = Arc::clone(&gate);
        move || gate.wait_until_waiting()
    })
    .await;
    edit_versions(&app, id, 1..4).await;
    let slug = Command::ChangeSlug {
        slug: "held-still".into(),
    };
    let moved = app.edit(id, 4, slug, new_meta()).await.unwrap();
    assert_eq!((moved.version, moved.global_position), (5, 5));
    assert_eq!(app.durable(), 0, "the read models hold nothing yet");
    assert_eq!(app.store().acknowledged(), 5);
    let taken = app
        .create(
            ArticleDraft {
                slug: "held-still".into(),
                ..draft(2)
            },
            new_meta(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, AppError::AlreadyExists { .. }),
        "{taken:?}"
    );
    assert_eq!(app.store().acknowledged(), 5, "nothing of it was written");
    assert!(
        poll_once(app.wait_for_position(0, None)).is_none(),
        "a read waits for the read models"
    );

    gate.release(u64::MAX / 2);
    settled(&app).await;
    assert_eq!(app.durable(), 5);
    let answer = app
        .answer(&ArticleRef::Slug("held-still".into()), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(
        (answer.article.version, answer.article.quick_answer.as_str()),
        (5, "v4")
    );
    let (_, head, revisions) = app.revisions(&ArticleRef::Id(id), 0, 10).await.unwrap();
    assert_eq!((head, revisions.items.len()), (5, 5));
    app.shutdown();
    drop(app);
    let applied = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &AppOptions::default(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), applied);
}

/// Commits read by position: one range scan for positions close together,
/// one read each for scattered ones; the same commits either way, and
/// none past the log's durable end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_read_in_a_range_or_one_by_one_are_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    let a = app.create(draft(1), new_meta()).await.unwrap().article_id;
    let b = app.create(draft(2), new_meta()).await.unwrap().article_id;
    for version in 1..10 {
        for id in [a, b] {
            app.edit(id, version, edit(&format!("v{}", version + 1)), new_meta())
                .await
                .unwrap();
        }
    }
    settled(&app).await;
    let store = app.store();
    let one_by_one = |positions: &[u64]| -> Vec<Option<u64>> {
        positions
            .iter()
            .map(|&p| {
                store.read_commits(&[p]).unwrap()[0]
                    .as_ref()
                    .map(|c| c.global_position)
            })
            .collect()
    };
    let read = |positions: &[u64]| -> Vec<Option<u64>> {
        store
            .read_commits(positions)
            .unwrap()
            .iter()
            .map(|c| c.as_ref().map(|c| c.global_position))
            .collect()
    };
    // Article a's positions: every other one, close together.
    let clustered = [3, 5, 7, 9, 11];
    assert_eq!(read(&clustered), one_by_one(&clustered));
    assert_eq!(read(&clustered), clustered.map(Some).to_vec());
    let scattered = [1, 9, 20];
    assert_eq!(read(&scattered), scattered.map(Some).to_vec());
    // Past the end of the log: none.
    assert_eq!(read(&[19, 20, 21, 22]), [Some(19), Some(20), None, None]);
    assert_eq!(read(&[0]), [None]);
    let commits = app.commits_of(a, 2, 10).unwrap();
    assert_eq!(commits.len(), 9);
    assert!(commits
        .iter()
        .all(|(version, position, commit)| commit.version == *version
            && commit.global_position == *position
            && commit.article_id == a));
    // Read for a fold: the same versions, times and events, nothing else.
    let events = app.events_of(a, 2, 10).unwrap();
    assert_eq!(events.len(), commits.len());
    for ((version, position, e), (v, p, commit)) in events.iter().zip(&commits) {
        assert_eq!((version, position), (v, p));
        assert_eq!(e.recorded_at, commit.recorded_at);
        assert_eq!(e.events, commit.events);
    }
}

/// Commits read in full a range at a time (the catch-up, ListCommits) are
/// what reading each position alone gives, and each revision's date is the
/// one the article's fold shows at that version: across group commits of
/// many commits (chain records of many hashes), re-dates, and other
/// articles' commits in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_viewed_a_range_at_a_time_are_those_viewed_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(App::open(dir.path(), AppOptions::default()).unwrap());
    let mut writers = Vec::new();
    for n in 0..8 {
        let app = Arc::clone(&app);
        writers.push(tokio::spawn(async move {
            let id = app.create(draft(n), new_meta()).await.unwrap().article_id;
            for version in 1..12 {
                // Each article its own dates, so that one's is never another's.
                let command = if version % 4 == 2 {
                    Command::RedateArticle {
                        last_updated: format!("2026-02-{:02}", 1 + version as usize + n),
                    }
                } else {
                    edit(&format!("version {version}"))
                };
                app.edit(id, version, command, new_meta()).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    settled(&app).await;
    let last = app.durable();
    assert_eq!(last, 8 * 12);
    assert!(
        app.store().stats().batches() < last,
        "some group commits held several commits"
    );
    let all: Vec<u64> = (1..=last).collect();
    let mut one_by_one = Vec::new();
    for &p in &all {
        one_by_one.push(app.view_at(p).await.unwrap().unwrap());
    }
    let at_once = app.views_of(&all).unwrap();
    assert_eq!(at_once.len(), one_by_one.len());
    for (x, y) in at_once.iter().zip(&one_by_one) {
        assert_eq!(x.commit, y.commit);
        assert_eq!(x.revision, y.revision);
        assert_eq!(x.log_hash, y.log_hash);
        // The date the fold shows at that version.
        let folded = app
            .answer(
                &ArticleRef::Id(x.commit.article_id),
                AsOf::Version(x.commit.version),
            )
            .await
            .unwrap();
        assert_eq!(x.revision.last_updated, folded.article.last_updated);
    }
    // The log chain's hashes, recomputed from the commits.
    let mut hash = crate::domain::ZERO_HASH;
    for view in &at_once {
        let commit_hash: crate::domain::Hash = view.commit.hash.as_slice().try_into().unwrap();
        hash = crate::domain::log_hash(&hash, view.commit.global_position, &commit_hash);
        assert_eq!(
            view.log_hash, hash,
            "position {}",
            view.commit.global_position
        );
    }
    // Part way in, and a scattered few.
    for positions in [&all[5..], &[2, 9, 13, 40, 95][..]] {
        let views = app.views_of(positions).unwrap();
        assert_eq!(views.len(), positions.len());
        for (view, &p) in views.iter().zip(positions) {
            assert_eq!(view.revision, one_by_one[p as usize - 1].revision);
            assert_eq!(view.log_hash, one_by_one[p as usize - 1].log_hash);
        }
    }
    assert!(one_by_one
        .iter()
        .any(|v| v.revision.last_updated.to_string().starts_with("2026-02")));
}

/// A store written before the log had files of its own kept each commit in
/// sled (`L`): its first open moves them into the log's files, once, and
/// it serves, verifies and rebuilds as if it had been written so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_stores_log_moves_out_of_sled_at_its_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    let id = app.create(draft(1), new_meta()).await.unwrap().article_id;
    edit_versions(&app, id, 1..20).await;
    let other = app.create(draft(2), new_meta()).await.unwrap().article_id;
    let before = app
        .answer(&ArticleRef::Id(id), AsOf::Current)
        .await
        .unwrap();
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;

    // The layout an older version left: the commits in sled, no log files.
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    let positions: Vec<u64> = (1..=21).collect();
    for commit in store.read_commits(&positions).unwrap() {
        let commit = commit.unwrap();
        let mut key = vec![Space::Log.prefix()];
        key.extend_from_slice(&commit.global_position.to_be_bytes());
        store.insert_raw(&key, &crate::codec::encode_commit(&commit));
    }
    // And the log's indexes in sled (`S` stream entries, `C` commands)
    // rather than in memory and `index/`.
    store.insert_raw(
        &[&b"S"[..], id.as_bytes(), &1u64.to_be_bytes()].concat(),
        &[0; 48],
    );
    store.insert_raw(&[&b"C"[..], &[7; 16]].concat(), &[0; 64]);
    store.remove_meta("log_in_files").unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("log")).unwrap();
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();

    let app = App::open(dir.path(), AppOptions::default()).unwrap();
    assert_eq!(app.durable(), 21);
    for prefix in [Space::Log.prefix(), b'S', b'C'] {
        assert_eq!(app.store().count_raw(&[prefix]), 0);
    }
    let after = app
        .answer(&ArticleRef::Id(id), AsOf::Current)
        .await
        .unwrap();
    assert_eq!(after, before);
    let v7 = app
        .answer(&ArticleRef::Id(id), AsOf::Version(7))
        .await
        .unwrap();
    assert_eq!(v7.article.quick_answer, "v7");
    app.answer(&ArticleRef::Id(other), AsOf::Current)
        .await
        .unwrap();
    let verified = app.verify_log(1, 0, None).await.unwrap();
    assert_eq!((verified.through, verified.first_break), (21, None));
    // Writes go on after the moved log.
    let next = app.edit(id, 20, edit("v21"), new_meta()).await.unwrap();
    assert_eq!(next.global_position, 22);
    blocking({
        let app = Arc::new(app);
        move || app.shutdown()
    })
    .await;
    let moved = App::dump_read_models(dir.path()).unwrap();
    App::rebuild(dir.path(), &AppOptions::default(), None).unwrap();
    assert_eq!(App::dump_read_models(dir.path()).unwrap(), moved);
}

/// A restore cut short leaves part of a backup that would open as a store
/// of its own: the mark it sets until its last write refuses it.
#[test]
fn a_directory_a_restore_did_not_finish_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), StoreOptions::default()).unwrap();
    store.set_meta("restoring", &[1]).unwrap();
    drop(store);
    match SledStore::open(dir.path(), StoreOptions::default()) {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("did not finish"), "{why}"),
        Err(e) => panic!("refused, but not as corrupt: {e}"),
        Ok(_) => panic!("a directory a restore did not finish was opened"),
    }
}

/// An article of three versions in `dir`, everything durable in the read
/// models.
async fn three_versions(dir: &std::path::Path) -> (App, ArticleId) {
    let (app, id) = one_article(dir).await;
    edit_versions(&app, id, 1..3).await;
    settled(&app).await;
    (app, id)
}

/// The payload digests the writer keeps beside the log chain are the ones
/// a reader would make from each commit: on the writer, after a redaction
/// (which leaves every digest as it was), and on a replica that ingested
/// the commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_payload_digests_are_those_the_commits_give() {
    let source = tempfile::tempdir().unwrap();
    let (writer, id) = three_versions(source.path()).await;
    let kept = |app: &App, through: u64| {
        let positions: Vec<u64> = (1..=through).collect();
        let views = app.views_of(&positions).unwrap();
        for view in &views {
            assert!(
                !view.payload_digests.is_empty(),
                "position {} has digests kept",
                view.commit.global_position
            );
            assert_eq!(
                view.payload_digests,
                crate::domain::commit_event_digests(&view.commit),
                "position {}",
                view.commit.global_position
            );
        }
        views
    };
    let before = kept(&writer, 3);
    redact_the_second_commit(&writer, id).await;
    settled(&writer).await;
    let after = kept(&writer, 4);
    assert_eq!(after[1].commit.redactions.len(), 1);
    assert_eq!(after[1].payload_digests, before[1].payload_digests);

    let replica_dir = tempfile::tempdir().unwrap();
    let replica = App::open(replica_dir.path(), AppOptions::default()).unwrap();
    replica
        .store
        .ingest(stream_of(&writer, 4).await)
        .await
        .unwrap();
    settled(&replica).await;
    let replicated = kept(&replica, 4);
    for (x, y) in replicated.iter().zip(&after) {
        assert_eq!(x.payload_digests, y.payload_digests);
    }
}

/// A store written before the writer kept payload digests has no
/// `digests` records: its commits are viewed without, and a stream's
/// follower makes them (`CommitView::digested`), the same as kept ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_kept_digests_is_digested_by_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = three_versions(dir.path()).await;
    let kept = app.views_of(&[1, 2, 3]).unwrap();
    assert!(kept.iter().all(|v| !v.payload_digests.is_empty()));
    app.store().remove_space_raw(Space::Digests);
    assert_eq!(app.store().count_raw(&[Space::Digests.prefix()]), 0);
    for (view, kept) in app.views_of(&[1, 2, 3]).unwrap().into_iter().zip(kept) {
        assert!(view.payload_digests.is_empty());
        assert_eq!(view.digested().payload_digests, kept.payload_digests);
    }
}
