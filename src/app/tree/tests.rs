//! The tree's thread over a real store: its checkpoints commit to the
//! answers the log makes, a checkpoint recorded before a restart is kept
//! to, and it refuses to sign when the log does not give the root of the
//! checkpoint it signed last.

use uuid::Uuid;

use super::super::{App, AppOptions, WriteMeta};
use super::*;
use crate::domain::{ArticleDraft, ArticleId, Command, CommandId};
use crate::tlog::note::Note;

fn meta() -> WriteMeta {
    WriteMeta {
        command_id: CommandId::from_uuid(Uuid::now_v7()),
        request_digest: [7; 32],
        reason: "test".into(),
        actor: "tester".into(),
        origin: None,
    }
}

fn options() -> AppOptions {
    AppOptions {
        tree: TreeOptions {
            origin: Some("answerlog.example.org/test".into()),
            checkpoint_interval: Duration::from_millis(20),
        },
        ..AppOptions::default()
    }
}

/// `n` articles, the first edited twice: the leaves the log makes, from
/// the states a fold of it gives.
async fn write(app: &App, n: usize) -> Vec<Hash> {
    let mut ids: Vec<ArticleId> = Vec::new();
    for i in 0..n {
        let draft = ArticleDraft {
            question: format!("Question {i} of {}", Uuid::now_v7()),
            quick_answer: "First.".into(),
            last_updated: "2026-01-02".into(),
            ..ArticleDraft::default()
        };
        ids.push(app.create(draft, meta()).await.unwrap().article_id);
    }
    for version in 1..3 {
        let edit = Command::EditQuickAnswer {
            quick_answer: format!("v{}", version + 1),
        };
        app.edit(ids[0], version, edit, meta()).await.unwrap();
    }
    app.wait_for_position(0, None).await.unwrap();
    let mut states: std::collections::HashMap<ArticleId, Article> = Default::default();
    let mut leaves = Vec::new();
    let end = app.store.acknowledged();
    let positions: Vec<u64> = (1..=end).collect();
    for commit in app.store.read_commits(&positions).unwrap() {
        let commit = commit.unwrap();
        let article = Article::fold(
            states.remove(&commit.article_id),
            commit.article_id,
            commit.version,
            &commit.events,
        )
        .unwrap();
        let digest = leaf_answer_digest(&commit, &article);
        leaves.push(merkle::commit_leaf(
            &commit.hash.as_slice().try_into().unwrap(),
            &digest,
        ));
        states.insert(commit.article_id, article);
    }
    leaves
}

fn memory_root(leaves: &[Hash]) -> Hash {
    let mut tree = merkle::MemoryTree::default();
    for leaf in leaves {
        tree.push(*leaf);
    }
    merkle::root(&tree, tree.size()).unwrap()
}

/// The checkpoint's note verifies with the server's key for the origin,
/// and its body is the one returned.
fn opened(app: &App, signed: &SignedCheckpoint) -> Checkpoint {
    let key = app.checkpoint_key().unwrap();
    let opened = Note::open(&signed.note, &[key]).unwrap();
    let checkpoint = Checkpoint::parse(&opened.note.text).unwrap();
    assert_eq!(checkpoint, signed.checkpoint);
    checkpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_commit_to_the_answers_and_a_restart_keeps_to_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).unwrap();
    let leaves = write(&app, 3).await;
    assert_eq!(leaves.len(), 5);
    let signed = app.checkpoint(0, None).await.unwrap();
    let checkpoint = opened(&app, &signed);
    assert_eq!(checkpoint.origin, "answerlog.example.org/test");
    assert_eq!(checkpoint.size, 5);
    assert_eq!(checkpoint.root, memory_root(&leaves));
    app.shutdown();
    drop(app);

    // Recorded, it is served again after a restart, the same bytes.
    let app = App::open(dir.path(), options()).unwrap();
    let again = app.checkpoint(0, None).await.unwrap();
    assert_eq!(again.note, signed.note);
    let more = write(&app, 1).await;
    assert_eq!(more[..5], leaves[..]);
    let grown = app.checkpoint(0, None).await.unwrap();
    assert_eq!(opened(&app, &grown).root, memory_root(&more));
    app.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_files_that_do_not_give_the_recorded_root_are_grown_again_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).unwrap();
    let leaves = write(&app, 2).await;
    let signed = app.checkpoint(0, None).await.unwrap();
    app.shutdown();
    drop(app);
    // A leaf's bytes changed on disk.
    let level0 = dir.path().join(TREE_DIR).join("level-0");
    let mut bytes = std::fs::read(&level0).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&level0, bytes).unwrap();

    let app = App::open(dir.path(), options()).unwrap();
    let served = app.checkpoint(0, None).await.unwrap();
    assert_eq!(served.note, signed.note);
    let more = write(&app, 1).await;
    assert_eq!(more[..leaves.len()], leaves[..]);
    let grown = app.checkpoint(0, None).await.unwrap();
    assert_eq!(opened(&app, &grown).root, memory_root(&more));
    app.shutdown();
}

/// The test tries to make the server sign two checkpoints that disagree:
/// the one recorded last says another root at size 3 than the log gives
/// (as if the log had been replaced by another after it was signed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_refuses_to_sign_when_the_log_does_not_give_the_root_signed_last() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).unwrap();
    write(&app, 2).await;
    app.checkpoint(0, None).await.unwrap();
    let key = app.checkpoint_key().unwrap();
    app.shutdown();
    drop(app);
    let keys = KeyRing::open(dir.path(), None).unwrap();
    let forged = Checkpoint {
        origin: "answerlog.example.org/test".into(),
        size: 3,
        root: [7; 32],
        extensions: Vec::new(),
    };
    let text = forged.text();
    let note = Note {
        signatures: vec![keys.sign_note(&text, &forged.origin).unwrap()],
        text,
    }
    .to_bytes();
    let recorded = dir.path().join(TREE_DIR).join("checkpoint");
    std::fs::write(&recorded, &note).unwrap();

    let app = App::open(dir.path(), options()).unwrap();
    // Until the tree reaches size 3 again it serves what was recorded…
    let served = app.checkpoint(3, None).await;
    // …and there it finds another root: no checkpoint past it is signed.
    let refused = match served {
        Ok(signed) => {
            assert_eq!(signed.note, note);
            write(&app, 1).await;
            app.checkpoint(0, None).await.unwrap_err()
        }
        Err(e) => e,
    };
    assert!(
        matches!(&refused, AppError::DataLoss(why) if why.contains("does not extend the last checkpoint signed")),
        "{refused}"
    );
    // Still refused, and nothing else was recorded.
    let err = app.checkpoint(0, None).await.unwrap_err();
    assert!(matches!(err, AppError::DataLoss(_)), "{err}");
    assert_eq!(std::fs::read(&recorded).unwrap(), note);
    assert_eq!(app.checkpoint_key().unwrap(), key);
    app.shutdown();
}

/// A reader asking for a checkpoint past the log's end waits for the log
/// and answers on its deadline, and leaves no wish behind that would make
/// the tree sign at every commit from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_asked_for_past_the_log_leaves_the_interval_alone() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).unwrap();
    write(&app, 1).await;
    let deadline = Instant::now() + Duration::from_millis(200);
    let err = app.checkpoint(u64::MAX, Some(deadline)).await.unwrap_err();
    assert!(matches!(err, AppError::NotReached { .. }), "{err}");
    let wanted = *app.tree.wanted.borrow();
    assert!(wanted <= app.store.acknowledged(), "wanted {wanted}");
    app.shutdown();
}

/// Once a checkpoint covers the log and is recorded, the thread rests: it
/// wakes about once an interval, not at once again and again. (It did
/// spin once: the wake for signing lay in the past while nothing was
/// stale, and an idle server burned a core.) The window below measures
/// rest; it synchronises nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thread_rests_when_the_checkpoint_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path(), options()).unwrap();
    write(&app, 2).await;
    app.checkpoint(0, None).await.unwrap();
    let interval = options().tree.checkpoint_interval;
    let before = app.tree.rounds.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(interval * 10).await;
    let rounds = app.tree.rounds.load(Ordering::Relaxed) - before;
    let intervals = (started.elapsed().as_millis() / interval.as_millis()) as u64;
    // A wake an interval for signing and one for recording, and slack.
    assert!(
        rounds <= 3 * intervals + 5,
        "{rounds} rounds in {intervals} intervals"
    );
    app.shutdown();
}

#[test]
fn a_task_not_due_wakes_the_thread_an_interval_from_now() {
    let interval = Duration::from_millis(500);
    let now = Instant::now();
    let long_ago = now.checked_sub(Duration::from_secs(10)).unwrap();
    assert_eq!(
        wake_at(Some(long_ago), interval, true, now),
        long_ago + interval
    );
    assert_eq!(
        wake_at(Some(long_ago), interval, false, now),
        now + interval
    );
    assert_eq!(wake_at(None, interval, true, now), now + interval);
}
