//! The README's walk-throughs: import the example, edit a section, add a
//! source, re-date; read current and past versions, history, diff (once
//! through the generated client); and audit it with a checkpoint, a
//! receipt and the watcher. Each as the README writes it too: its shell
//! blocks, run by bash against a fresh server.

use answerlog::pb::{
    get_answer_request, AddSourceRequest, EditSectionRequest, GetAnswerRequest,
    RedateArticleRequest, Source,
};

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(
    import_then_edit_add_source_redate,
    the_readme_walkthrough_runs_as_written,
    the_readme_auditing_walkthrough_runs_as_written,
);

/// The shell blocks of the README's section `heading`, in order.
fn shell_blocks(readme: &str, heading: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("README.md has a section {heading:?}"));
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in section.lines() {
        match (&mut open, line.trim_end()) {
            (None, "```sh") => open = Some(String::new()),
            (Some(_), "```") => blocks.extend(open.take()),
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Issue 14, item 12: the five minutes every new user spends, as written.
/// The lines that build the binary and alias it (`cargo …`, `alias
/// answerlog=…`) give way to this test's binary; everything else runs
/// with `set -euo pipefail`, in the repository, against a fresh server.
/// Runs the shell blocks of the README's section `heading` with bash, as
/// written, against `server` (the `cargo` and `alias` lines left out: the
/// test's `answerlog` stands in); fails on any command that errors. Its
/// standard output.
async fn run_readme_section(server: &TestServer, heading: &str) -> String {
    run_readme_script(Some(server.url.clone()), heading).await
}

/// As [`run_readme_section`], for a section that starts servers of its
/// own (`server` none: no `ANSWERLOG_SERVER` is set for it). The test's
/// binary is `answerlog` on the PATH, so that commands the section runs
/// in the background are the binary itself, which its `kill` reaches.
async fn run_readme_script(server: Option<String>, heading: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = shell_blocks(&readme, heading);
    assert!(!blocks.is_empty(), "{heading} has shell blocks");
    let mut script = String::from("set -euo pipefail\n");
    for line in blocks.iter().flat_map(|b| b.lines()) {
        let setup = line.starts_with("cargo ") || line.starts_with("alias answerlog=");
        if !setup {
            script.push_str(line);
            script.push('\n');
        }
    }
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_answerlog"),
        bin.path().join("answerlog"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(&script)
            .current_dir(root)
            .env("PATH", path)
            .env_remove("ANSWERLOG_SERVER")
            .env_remove("ANSWERLOG_TOKEN");
        if let Some(url) = server {
            command.env("ANSWERLOG_SERVER", url);
        }
        command.output().expect("bash runs")
    })
    .await
    .unwrap();
    drop(bin);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's {heading:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

async fn the_readme_walkthrough_runs_as_written(backend: Backend) {
    let server = TestServer::start(backend).await;
    let stdout = run_readme_section(&server, "Five minutes with the example article").await;
    // It did what it says: four versions, and the instant before the
    // re-date shows version 3.
    let answer = server.get(&server_article(&server).await).await;
    assert_eq!(answer.version, 4);
    assert!(stdout.contains("· version 3 · position 3 ·"), "{stdout}");
}

async fn the_readme_auditing_walkthrough_runs_as_written(backend: Backend) {
    let server = TestServer::start(backend).await;
    let stdout = run_readme_section(
        &server,
        "Auditing with proofs: checkpoints, receipts, the watcher",
    )
    .await;
    // The checkpoint it printed, the receipt it checked, the export
    // checked against the checkpoint, the watcher's two verdicts.
    assert!(
        stdout.contains("\n1\n"),
        "a checkpoint of one commit: {stdout}"
    );
    assert!(stdout.contains("the receipt verifies"), "{stdout}");
    assert!(
        stdout.contains("the export matches the checkpoint of 1 commit signed"),
        "{stdout}"
    );
    assert!(stdout.contains("trusted as the first"), "{stdout}");
    assert!(
        stdout.contains("checkpoint of 2 commits") && stdout.contains("extends the one of 1"),
        "{stdout}"
    );
}

/// The redaction walk-through, on the embedded log (the JetStream log's
/// redaction: tests/redaction.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_redaction_walkthrough_runs_as_written() {
    let server = TestServer::start(Backend::Sled).await;
    let stdout = run_readme_section(&server, "Redaction: removing what must not be kept").await;
    assert!(stdout.contains("redacted: article"), "{stdout}");
    assert!(
        stdout.contains("rewritten in place: the commits at positions 2"),
        "{stdout}"
    );
    assert!(stdout.contains("[redacted]"), "{stdout}");
    assert!(stdout.contains("every article chain verifies"), "{stdout}");
    assert!(!stdout.contains("Jane Roe"), "{stdout}");
    server.stop().await;
}

/// The witness walk-through starts a witness and a server of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_witness_walkthrough_runs_as_written() {
    let stdout = run_readme_script(None, "Witnesses: checkpoints that others have seen").await;
    assert!(
        stdout.contains("\n\u{2014} witness.example.org/w1 "),
        "the checkpoint carries the witness's cosignature: {stdout}"
    );
    assert!(
        stdout.contains("cosigned by at least 1 of witness.example.org/w1"),
        "{stdout}"
    );
}

/// The id of the walkthrough's article.
async fn server_article(server: &TestServer) -> String {
    server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("what-causes-jmt".into())),
            ..Default::default()
        })
        .await
        .expect("the walkthrough's article")
        .into_inner()
        .answer
        .expect("an answer")
        .id
}

async fn import_then_edit_add_source_redate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;

    let v1 = server.get(&id).await;
    assert_eq!(v1.version, 1);
    assert_eq!(v1.slug, "what-causes-jmt");
    assert_eq!(v1.sections.len(), 8);
    assert_eq!(v1.sources.len(), 3);
    let genetic = v1
        .sections
        .iter()
        .find(|s| s.heading == "Genetic Factors")
        .unwrap()
        .id
        .clone();

    let mut articles = server.articles().await;
    let edited = articles
        .edit_section(EditSectionRequest {
            article_id: id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "Clarify the HLA genes".into(),
            section_id: genetic.clone(),
            heading: None,
            body: Some("Certain HLA genes are more common in children with JMT.".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (edited.version, edited.article_id.as_str()),
        (2, id.as_str())
    );
    let added = articles
        .add_source(AddSourceRequest {
            article_id: id.clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "Cite Cure JM".into(),
            source: Some(Source {
                title: "What is juvenile myositis?".into(),
                publisher: "Cure JM Foundation".into(),
                url: "https://www.curejm.org/".into(),
                license: "fair-use".into(),
                accessed_on: "2026-04-04".into(),
                ..Source::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.version, 3);
    let mut today = chrono::Utc::now().date_naive().to_string();
    if today == "2026-04-04" {
        today = "2026-04-03".into();
    }
    let redated = articles
        .redate_article(RedateArticleRequest {
            article_id: id.clone(),
            expected_version: 3,
            command_id: cid(),
            reason: "Reviewed the sources".into(),
            last_updated: today.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redated.version, 4);
    assert!(redated.global_position > added.global_position);

    let current = server.get(&id).await;
    assert_eq!(current.version, 4);
    assert_eq!(current.last_updated, today);
    let section = current.sections.iter().find(|s| s.id == genetic).unwrap();
    assert_eq!(
        section.body,
        "Certain HLA genes are more common in children with JMT."
    );
    assert_eq!(section.heading, "Genetic Factors");
    assert_eq!(current.sources.len(), 4);
    assert_eq!(current.sources[3].publisher, "Cure JM Foundation");
    assert!(current.sources[3].id.starts_with("src"));
    assert_eq!(current.etag, format!("{id}:4"));

    // Version 1 is still there, by slug too.
    let old = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            receipt: false,
            r#ref: Some(get_answer_request::Ref::Slug("what-causes-jmt".into())),
            as_of: Some(get_answer_request::AsOf::Version(1)),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    assert_eq!(old.sources.len(), 3);
    assert_eq!(old.last_updated, "2026-04-04");
    assert_eq!(old.version, 1);

    // The CLI reads the same.
    let got = server
        .cli(&["get", "what-causes-jmt", "--version", "1", "--json"])
        .await;
    assert!(got.success, "{}", got.stderr);
    let json: serde_json::Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(json["lastUpdated"], "2026-04-04");
    assert_eq!(json["version"], "1");
    assert_eq!(json["keyFacts"].as_array().unwrap().len(), 5);
    let history = server.cli(&["history", "what-causes-jmt"]).await;
    assert!(history.success, "{}", history.stderr);
    assert!(history.stdout.contains("SourceAdded"), "{}", history.stdout);
    assert!(
        history.stdout.contains("Reviewed the sources"),
        "{}",
        history.stdout
    );
    let diff = server.cli(&["diff", "what-causes-jmt", "1", "4"]).await;
    assert!(diff.success, "{}", diff.stderr);
    assert!(
        diff.stdout.contains("last_updated changed"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("+Certain HLA genes are more common in children with JMT."),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("Cure JM"), "{}", diff.stdout);
    server.stop().await;
}
