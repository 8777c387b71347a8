//! The command line in a pipe whose reader has gone (`answerlog export
//! --all | head`): every command that prints ends quietly, with status 0,
//! and never panics. Each command's standard output is a real pipe whose
//! read end is closed before the command writes a byte, so that its first
//! write fails with EPIPE (Rust ignores SIGPIPE). Issue 14, item 11.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::served::Served;

/// Runs `answerlog ARGS` with standard output a pipe whose reader is gone;
/// returns its exit status and what it wrote to standard error.
fn with_reader_gone(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args(args)
        .env_remove("ANSWERLOG_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("answerlog runs");
    // The reader goes away before the command has started to write.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("answerlog ends");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/what-causes-jmt.md")
        .to_string_lossy()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printing_command_ends_quietly_when_its_reader_goes_away() {
    let scratch = tempfile::tempdir().unwrap();
    let served = Served::start(&scratch.path().join("data"));
    let server = served.url.clone();
    let example = example();
    let imported = Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args(["import", &example, "--server", &server])
        .output()
        .expect("import runs");
    assert!(imported.status.success(), "{imported:?}");

    let commands: Vec<Vec<&str>> = vec![
        vec!["export", "--all", "--server", &server],
        vec!["export", "what-causes-jmt", "--server", &server],
        vec!["tail", "--server", &server],
        vec!["tail", "--json", "--server", &server],
        vec!["get", "what-causes-jmt", "--server", &server],
        vec!["get", "what-causes-jmt", "--json", "--server", &server],
        vec!["history", "what-causes-jmt", "--server", &server],
        vec!["blame", "what-causes-jmt", "--server", &server],
        vec!["health", "--server", &server],
        vec!["config", "print"],
        vec!["config", "print", "--json"],
        vec!["token", "new", "pipe", "--role", "reader"],
    ];
    for args in &commands {
        let (status, stderr) = with_reader_gone(args);
        assert!(
            !stderr.contains("panicked"),
            "answerlog {} panicked in a closed pipe:\n{stderr}",
            args.join(" ")
        );
        assert!(
            status.success(),
            "answerlog {} ended with {status} in a closed pipe:\n{stderr}",
            args.join(" ")
        );
    }
}
