//! `answerlog audit watch`, the continuous auditor, against real servers
//! of one log (one origin, one signing key): it verifies a growing log,
//! and catches a rollback and a fork made by restoring an old backup of
//! the log and writing to it differently, exiting with status 3 and the
//! evidence; it refuses a checkpoint signed by a key it does not pin.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use answerlog::{AppOptions, TreeOptions};

use crate::support::{create_article, restore, Backend, CliOutput, TestServer};

/// The log's origin and key file, shared by the server and its restore.
fn options(key: &Path) -> AppOptions {
    AppOptions {
        signing_key: Some(key.to_owned()),
        tree: TreeOptions {
            origin: Some("answerlog.example.org/watched".into()),
            checkpoint_interval: Duration::from_millis(100),
        },
        ..AppOptions::default()
    }
}

async fn watch_once(server: &TestServer, vkey: &str, dir: &Path) -> CliOutput {
    let state = dir.join("watch.state").display().to_string();
    let metrics = dir.join("watch.prom").display().to_string();
    server
        .cli(&[
            "audit",
            "watch",
            "--vkey",
            vkey,
            "--state",
            &state,
            "--metrics-file",
            &metrics,
            "--once",
        ])
        .await
}

/// A log with a key file in `scratch`, three commits, and a backup of
/// them in `scratch/backup`: the server, its verifier key, the backup.
async fn log_of_three_backed_up(
    scratch: &Path,
    secret: &str,
) -> (TestServer, String, std::path::PathBuf, std::path::PathBuf) {
    let key = scratch.join("log.key");
    std::fs::write(&key, format!("{}\n", secret.repeat(32))).unwrap();
    let original = TestServer::start_with(Backend::Sled, options(&key)).await;
    let vkey = original.vkey().await;
    for n in 0..3 {
        create_article(&original, n).await;
    }
    let backup = scratch.join("backup");
    let out = original
        .cli(&["backup", &backup.display().to_string()])
        .await;
    assert!(out.success, "{}", out.stderr);
    (original, vkey, key, backup)
}

fn metrics(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("watch.prom")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_watch_verifies_a_growing_log_and_catches_a_rollback_and_a_fork() {
    let scratch = tempfile::tempdir().unwrap();
    let watcher = scratch.path().join("watcher");
    std::fs::create_dir(&watcher).unwrap();
    let (original, vkey, key, backup) = log_of_three_backed_up(scratch.path(), "17").await;
    for n in 3..5 {
        create_article(&original, n).await;
    }
    // First sight: trusted and kept; then the log grows and extends it.
    let first = watch_once(&original, &vkey, &watcher).await;
    assert!(first.success, "{}", first.stderr);
    assert!(
        first.stdout.contains("checkpoint of 5 commits"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("trusted as the first"),
        "{}",
        first.stdout
    );
    create_article(&original, 5).await;
    let grown = watch_once(&original, &vkey, &watcher).await;
    assert!(grown.success, "{}", grown.stderr);
    assert!(
        grown.stdout.contains("checkpoint of 6 commits")
            && grown.stdout.contains("extends the one of 5"),
        "{}",
        grown.stdout
    );
    assert!(metrics(&watcher).contains("answerlog_audit_watch_verified_tree_size 6"));
    let kept = std::fs::read(watcher.join("watch.state")).unwrap();
    assert_eq!(kept, original.checkpoint().await.note);
    drop(original.stop().await);

    // The backup, restored: the same log and key, three commits long.
    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&backup, restored.path(), &[]).await;
    assert!(out.success, "{}", out.stderr);
    let copy = TestServer::start_in(Backend::Sled, restored, options(&key)).await;
    assert_eq!(copy.vkey().await, vkey, "one key and origin for the log");
    let rollback = watch_once(&copy, &vkey, &watcher).await;
    assert_eq!(
        rollback.code,
        Some(3),
        "{}\n{}",
        rollback.stdout,
        rollback.stderr
    );
    assert!(rollback.stderr.contains("rollback"), "{}", rollback.stderr);
    assert!(
        rollback
            .stderr
            .contains("the checkpoint verified last:\nanswerlog.example.org/watched\n6\n"),
        "{}",
        rollback.stderr
    );
    assert!(
        rollback
            .stderr
            .contains("the server's checkpoint now:\nanswerlog.example.org/watched\n3\n"),
        "{}",
        rollback.stderr
    );
    assert!(metrics(&watcher).contains("answerlog_audit_watch_misbehaviour{kind=\"rollback\"} 1"));
    assert_eq!(std::fs::read(watcher.join("watch.state")).unwrap(), kept);

    // Written to differently, past the size verified: a fork.
    for n in 10..14 {
        create_article(&copy, n).await;
    }
    let fork = watch_once(&copy, &vkey, &watcher).await;
    assert_eq!(fork.code, Some(3), "{}\n{}", fork.stdout, fork.stderr);
    assert!(fork.stderr.contains("fork"), "{}", fork.stderr);
    assert!(
        fork.stderr.contains("consistency proof from 6 to 7"),
        "{}",
        fork.stderr
    );
    assert!(
        fork.stderr.contains("the consistency proof it gave:\n"),
        "{}",
        fork.stderr
    );
    assert!(metrics(&watcher).contains("answerlog_audit_watch_misbehaviour{kind=\"fork\"} 1"));
    assert_eq!(std::fs::read(watcher.join("watch.state")).unwrap(), kept);

    // A key it does not pin.
    let other = tempfile::tempdir().unwrap();
    let stranger = TestServer::start_with(Backend::Sled, AppOptions::default()).await;
    create_article(&stranger, 0).await;
    let unknown = watch_once(&stranger, &vkey, other.path()).await;
    assert_eq!(unknown.code, Some(3), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("unknown-key"), "{}", unknown.stderr);
    drop(stranger.stop().await);
    drop(copy.stop().await);
}

/// `audit prove-digest`: a digest kept at one position lies on the log
/// the server signs later; a restore of an older backup is refused as a
/// rollback, and once it is written to past the digest, as another log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_digest_is_proven_on_todays_log_and_refused_on_a_fork() {
    let scratch = tempfile::tempdir().unwrap();
    let (original, vkey, key, backup) = log_of_three_backed_up(scratch.path(), "29").await;
    create_article(&original, 3).await;
    let digest = scratch.path().join("digest.json");
    let out = original.cli(&["audit", "digest", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    std::fs::write(&digest, &out.stdout).unwrap();
    for n in 4..9 {
        create_article(&original, n).await;
    }
    let digest_arg = digest.display().to_string();
    let prove = |server: &TestServer| {
        let args = ["audit", "prove-digest", &digest_arg, "--vkey", &vkey];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let url = server.url.clone();
        async move {
            let mut args = args;
            args.push("--server".into());
            args.push(url);
            crate::support::cli(args).await
        }
    };
    let proven = prove(&original).await;
    assert!(proven.success, "{}", proven.stderr);
    assert!(
        proven.stdout.contains(
            "the digest lies on today's log: its log hash at position 4, extended by the 5 commits since, is the log hash at 9"
        ),
        "{}",
        proven.stdout
    );
    drop(original.stop().await);

    let restored = Arc::new(tempfile::tempdir().unwrap());
    let out = restore(&backup, restored.path(), &[]).await;
    assert!(out.success, "{}", out.stderr);
    let copy = TestServer::start_in(Backend::Sled, restored, options(&key)).await;
    let rollback = prove(&copy).await;
    assert_eq!(rollback.code, Some(1), "{}", rollback.stdout);
    assert!(
        rollback.stderr.contains("a rollback"),
        "{}",
        rollback.stderr
    );
    for n in 20..23 {
        create_article(&copy, n).await;
    }
    let forked = prove(&copy).await;
    assert_eq!(forked.code, Some(1), "{}", forked.stdout);
    assert!(
        forked
            .stderr
            .contains("the log before position 4 is not the one the digest was taken of"),
        "{}",
        forked.stderr
    );
    drop(copy.stop().await);
}

/// A key rotation (a new `--signing-key`) is announced by the retiring
/// key; a watcher that pinned the old key follows it, keeps what it
/// followed beside its state, and goes on verifying with the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_follows_a_key_rotation_the_old_key_announced() {
    let scratch = tempfile::tempdir().unwrap();
    let watcher = scratch.path().join("watcher");
    std::fs::create_dir(&watcher).unwrap();
    let first_key = scratch.path().join("first.key");
    std::fs::write(&first_key, format!("{}\n", "41".repeat(32))).unwrap();
    let second_key = scratch.path().join("second.key");
    std::fs::write(&second_key, format!("{}\n", "42".repeat(32))).unwrap();

    let server = TestServer::start_with(Backend::Sled, options(&first_key)).await;
    let old_vkey = server.vkey().await;
    for n in 0..2 {
        create_article(&server, n).await;
    }
    let first = watch_once(&server, &old_vkey, &watcher).await;
    assert!(first.success, "{}", first.stderr);
    let dir = server.stop().await;

    // The same log, now signed with the second key.
    let server = TestServer::start_in(Backend::Sled, dir, options(&second_key)).await;
    let new_vkey = server.vkey().await;
    assert_ne!(new_vkey, old_vkey);
    assert_eq!(server.checkpoint().await.key_rotations.len(), 1);
    create_article(&server, 2).await;
    let followed = watch_once(&server, &old_vkey, &watcher).await;
    assert!(followed.success, "{}", followed.stderr);
    assert!(
        followed.stdout.contains(&format!(
            "the key {old_vkey} announced its successor: the log is now signed by {new_vkey}"
        )) && followed.stdout.contains("checkpoint of 3 commits")
            && followed.stdout.contains("extends the one of 2"),
        "{}",
        followed.stdout
    );
    assert!(watcher.join("watch.state.rotations").exists());
    // A later run starts from what it followed.
    create_article(&server, 3).await;
    let again = watch_once(&server, &old_vkey, &watcher).await;
    assert!(again.success, "{}", again.stderr);
    assert!(
        !again.stdout.contains("announced its successor")
            && again.stdout.contains("checkpoint of 4 commits"),
        "{}",
        again.stdout
    );
    drop(server.stop().await);
}
