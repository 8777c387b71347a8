//! Progress bars (issue 19): backup, restore, offline rebuild, export and
//! verify draw one on stderr when it is a terminal (run under util-linux's
//! `script`, which gives the command a pseudo-terminal), and none with
//! `--json` or in a pipe.

use std::path::Path;

use crate::support::{cli, Backend, TestServer};

/// Runs `answerlog ARGS` on a pseudo-terminal; what it showed there.
async fn on_a_terminal(args: &[String]) -> String {
    crate::support::on_a_terminal(args, None).await
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn long_commands_show_progress_on_a_terminal_only() {
    let server = TestServer::start(Backend::Sled).await;
    server.import_example().await;
    let scratch = tempfile::tempdir().unwrap();
    let at = |name: &str| path(&scratch.path().join(name));
    let url = server.url.clone();

    // backup: a bar on a terminal; none in a pipe, none with --json.
    let shown = on_a_terminal(&["backup".into(), at("b1"), "--server".into(), url.clone()]).await;
    assert!(shown.contains("backing up"), "{shown}");
    let piped = server.cli(&["backup", &at("b2")]).await;
    assert!(piped.success, "{}", piped.stderr);
    assert!(!piped.stderr.contains("backing up"), "{}", piped.stderr);
    let json = on_a_terminal(&[
        "backup".into(),
        at("b3"),
        "--json".into(),
        "--server".into(),
        url.clone(),
    ])
    .await;
    assert!(!json.contains("backing up"), "{json}");

    // export, then verify what it wrote.
    let shown = on_a_terminal(&["export".into(), "--all".into(), "--server".into(), url]).await;
    assert!(shown.contains("exporting"), "{shown}");
    let piped = server.cli(&["export", "--all"]).await;
    assert!(
        piped.success && !piped.stderr.contains("exporting"),
        "{}",
        piped.stderr
    );
    let export = at("export.jsonl");
    std::fs::write(&export, &piped.stdout).unwrap();
    let shown = on_a_terminal(&["verify".into(), export.clone()]).await;
    assert!(shown.contains("verifying"), "{shown}");
    let piped = cli(vec!["verify".into(), export]).await;
    assert!(
        piped.success && !piped.stderr.contains("verifying"),
        "{}",
        piped.stderr
    );
    server.stop().await;

    // restore, then an offline rebuild of what it restored.
    let restored = at("restored");
    let shown = on_a_terminal(&[
        "restore".into(),
        at("b1"),
        "--data-dir".into(),
        restored.clone(),
    ])
    .await;
    assert!(shown.contains("restoring"), "{shown}");
    let shown = on_a_terminal(&["rebuild".into(), "--data-dir".into(), restored.clone()]).await;
    assert!(shown.contains("rebuilding the read models"), "{shown}");
    let piped = cli(vec!["rebuild".into(), "--data-dir".into(), restored]).await;
    assert!(piped.success, "{}", piped.stderr);
    assert!(
        !piped.stderr.contains("rebuilding the read models"),
        "{}",
        piped.stderr
    );
}
