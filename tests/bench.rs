//! The benchmark command keeps working: a few seconds of `bench --quick`.
//! Performance is measured there, never asserted here.

use crate::support::cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_quick_runs_and_reports_every_figure_with_its_baseline() {
    let out = cli(vec!["bench".into(), "--quick".into(), "--json".into()]).await;
    assert!(out.success, "{}", out.stderr);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let figures: Vec<&str> = rows.iter().map(|r| r["figure"].as_str().unwrap()).collect();
    for wanted in [
        "append + fdatasync",
        "tonic echo",
        "durable appends",
        "GetAnswer",
    ] {
        assert!(
            figures.iter().any(|f| f.starts_with(wanted)),
            "{wanted} in {figures:?}"
        );
    }
    assert!(rows.iter().all(|r| r["per_second"].as_f64().unwrap() > 0.0));
}
