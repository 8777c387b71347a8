//! The benchmark command keeps working: a few seconds of `bench --quick`.
//! Performance is measured there, never asserted here.

use crate::support::cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_quick_runs_and_reports_every_figure_with_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("bench.svg");
    let out = cli(vec![
        "bench".into(),
        "--quick".into(),
        "--json".into(),
        "--data-dir".into(),
        dir.path().display().to_string(),
        "--plot".into(),
        plot.display().to_string(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let figures: Vec<&str> = rows.iter().map(|r| r["figure"].as_str().unwrap()).collect();
    for wanted in [
        "append + fdatasync",
        "raw sled: 1 KiB inserts",
        "bulk import",
        "tonic echo",
        "durable appends",
        "sled keys written per durable append",
        "bytes of keys and values written per durable append",
        "16 writers on one article",
        "GetAnswer of the example article",
        "GetAnswer (",
        "GetAnswer as of a random version",
        "ListRevisions pages",
        "tonic server stream",
        "StreamEvents catch-up",
        "resident memory",
        "clean stop after the run",
        "offline rebuild",
        "raw sled: full scan",
        "start-up on",
        "start-up after SIGKILL",
        "bytes on disk",
        "a write, then a checkpoint that covers it (signed on request)",
        "a write, then a checkpoint that covers it cosigned by a local witness",
    ] {
        assert!(
            figures.iter().any(|f| f.starts_with(wanted)),
            "{wanted} in {figures:?}"
        );
    }
    // The bulk import is measured against raw sled writing the keys it
    // wrote, with a flush a batch.
    assert!(
        figures
            .iter()
            .any(|f| f.contains(" keys of ") && f.ends_with("one flush per 64 (baseline)")),
        "{figures:?}"
    );
    assert!(rows.iter().all(|r| r["value"].as_f64().unwrap() > 0.0));
    // Every row with a target has a ratio and says whether it was met.
    for row in rows.iter().filter(|r| !r["target"].is_null()) {
        assert!(row["ratio"].as_f64().is_some(), "{row}");
        assert!(row["met"].as_bool().is_some(), "{row}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("answerlog durable appends"));
    // The benchmark leaves nothing behind in the directory it was given.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "bench.svg")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The echo runs as a process of its own, and is gone with the bench.
    assert_eq!(echo_processes(), 0, "an echo process outlived the bench");
}

/// Processes running `answerlog bench --serve-echo` now (Linux).
fn echo_processes() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == b"--serve-echo"))
        .count()
}
