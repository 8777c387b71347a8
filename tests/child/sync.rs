//! Acknowledged means synced: the real binary runs under `strace`, which
//! records every `fdatasync` and `fsync` with the file it names and holds
//! each `fdatasync` for `DELAY` before it returns. Then:
//!
//! - every acknowledged write took at least `DELAY`, so its reply waited
//!   for a `fdatasync` to return (a reply sent before the sync would come
//!   back in a millisecond);
//! - for N acknowledged batches, the log's files (`log/*.log`) saw at
//!   least N `fdatasync` calls: one real sync a batch;
//! - a commit of about 200 KiB, which sled writes to a file of its own
//!   under `blobs/` when it flushes (off the acknowledgement's path: the
//!   log's files make a batch durable), has that file synced by the time sled has flushed, and
//!   the `blobs` directory synced after the file was made.
//!
//! Issue 14, item 18: sled 0.34's `flush` alone made 0 of these calls.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::*;

use crate::served::Served;

/// How long strace holds each `fdatasync` before it returns.
const DELAY: Duration = Duration::from_millis(150);

/// Small acknowledged edits, each its own batch (sent one after another).
const EDITS: usize = 6;

/// `answerlog serve` on `dir`, run by strace: every fsync and fdatasync
/// the server makes goes to `trace` with its file's path, and each
/// fdatasync returns `DELAY` late.
fn traced(dir: &Path, trace: &Path) -> Command {
    let args: Vec<String> = ["-f", "-qq", "-y", "-e", "trace=fdatasync,fsync", "-e"]
        .into_iter()
        .map(str::to_owned)
        .chain([
            format!("inject=fdatasync:delay_exit={}", DELAY.as_micros()),
            "-o".into(),
            trace.display().to_string(),
        ])
        .collect();
    Served::under_strace(dir, &args)
}

/// A traced server that a failing test leaves behind is killed (strace,
/// killed, would detach from it and leave it running).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
}

/// A section body of `bytes` digits that do not repeat.
fn filler(bytes: usize, seed: usize) -> String {
    (0..bytes / 10)
        .map(|i| format!("{:09}\n", (i * 7919 + seed * 104_729) % 1_000_000_007))
        .collect()
}

fn create(question: &str, sections: Vec<SectionDraft>) -> CreateArticleRequest {
    CreateArticleRequest {
        command_id: uuid::Uuid::now_v7().to_string(),
        reason: "sync test".into(),
        article: Some(ArticleDraft {
            question: question.into(),
            quick_answer: "One real sync a batch.".into(),
            last_updated: "2026-01-01".into(),
            sections,
            ..Default::default()
        }),
    }
}

/// Lines of the trace for `call` on a file whose path ends with `suffix`
/// (strace -y writes `fdatasync(7</dir/db>) = 0 (DELAYED)`).
fn calls(trace: &str, call: &str, on: impl Fn(&str) -> bool) -> usize {
    trace
        .lines()
        .filter_map(|line| {
            let at = line.find(&format!("{call}("))?;
            let rest = &line[at + call.len() + 1..];
            let path = rest.split_once('<')?.1.split_once('>')?.0;
            Some(path.to_owned())
        })
        .filter(|path| on(path))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_batch_waits_for_a_real_fdatasync_of_what_it_wrote() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "this test runs the server under strace: install it (apt-get install strace), as .ci/run does"
    );
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let trace_path = scratch.path().join("trace");
    let server = Served::spawn(traced(&data, &trace_path));
    let pid = server.traced_pid();
    let _orphan = KillOnDrop(pid);
    let mut articles = ArticleServiceClient::new(server.channel().await);

    // Small commits: the article, then edits one after another.
    let started = Instant::now();
    let created = articles
        .create_article(create("What makes a write durable", vec![]))
        .await
        .expect("created")
        .into_inner();
    let mut latencies = vec![started.elapsed()];
    for n in 0..EDITS {
        let started = Instant::now();
        articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: created.article_id.clone(),
                expected_version: created.version + n as u64,
                command_id: uuid::Uuid::now_v7().to_string(),
                reason: format!("edit {n}"),
                quick_answer: format!("Synced, edit {n}."),
            })
            .await
            .expect("edited");
        latencies.push(started.elapsed());
    }
    for (n, latency) in latencies.iter().enumerate() {
        assert!(
            *latency >= DELAY,
            "write {n} was acknowledged after {latency:?}, before a fdatasync held for {DELAY:?} could return"
        );
    }

    // A commit of about 200 KiB: past sled's blob threshold (128 KiB), so
    // sled writes it to a file of its own under blobs/.
    let big: Vec<SectionDraft> = (0..4)
        .map(|n| SectionDraft {
            heading: format!("Part {n}"),
            body: filler(50 * 1024, n),
        })
        .collect();
    let started = Instant::now();
    articles
        .create_article(create("What does a large commit sync", big))
        .await
        .expect("the large article is created");
    let big_latency = started.elapsed();
    assert!(
        big_latency >= DELAY,
        "the large commit was acknowledged after {big_latency:?}: it did not wait for the log's fdatasync"
    );

    // A clean stop, so that strace writes the whole trace.
    server.stop_traced(pid);
    let trace = std::fs::read_to_string(&trace_path).expect("the strace output");
    let batches = EDITS + 2;
    let log_syncs = calls(&trace, "fdatasync", |path| {
        path.contains("/data/log/") && path.ends_with(".log")
    });
    let blob_syncs = calls(&trace, "fdatasync", |path| path.contains("/data/blobs/"));
    // The directory synced after (below, in the trace) the first blob.
    let first_blob = trace
        .lines()
        .position(|line| line.contains("fdatasync(") && line.contains("/data/blobs/"))
        .unwrap_or(usize::MAX);
    let after_first_blob: String = trace
        .lines()
        .skip(first_blob.saturating_add(1))
        .collect::<Vec<_>>()
        .join("\n");
    let blob_dir_syncs = calls(&after_first_blob, "fsync", |path| {
        path.ends_with("/data/blobs")
    });
    println!(
        "sync: {batches} acknowledged batches; fdatasync of the log {log_syncs}, of blob files {blob_syncs}; fsync of blobs/ {blob_dir_syncs}"
    );
    assert!(
        log_syncs >= batches,
        "{batches} acknowledged batches but {log_syncs} fdatasync calls on the log's files:\n{trace}"
    );
    assert!(
        blob_syncs >= 1,
        "the 200 KiB commit's blob file was never synced:\n{trace}"
    );
    assert!(
        blob_dir_syncs >= 1,
        "the blobs directory was not synced after the blob was made:\n{trace}"
    );
}
