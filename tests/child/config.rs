//! The configuration's precedence, seen through a real server: a flag
//! beats its environment variable, which beats the file, which beats the
//! default; `answerlog config print` tells the same story; an unknown key
//! stops start-up and is named.

use std::path::Path;
use std::process::Command;

use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::*;
use tonic::Code;
use tonic_types::StatusExt;

use crate::served::Served;

/// question_chars: file 60, environment 50, flag 40 → 40.
/// reason_chars: file 60, environment 40 → 40.
/// key_facts: file 2 → 2.
const FILE: &str = "[limits]\nquestion_chars = 60\nreason_chars = 60\nkey_facts = 2\n";

fn configured(command: &mut Command, file: &Path) {
    command
        .arg("--config")
        .arg(file)
        .args(["--limit-question-chars", "40"])
        .env("ANSWERLOG_LIMIT_QUESTION_CHARS", "50")
        .env("ANSWERLOG_LIMIT_REASON_CHARS", "40");
}

fn create(question_chars: usize, key_facts: usize) -> CreateArticleRequest {
    CreateArticleRequest {
        command_id: uuid::Uuid::now_v7().to_string(),
        reason: "test".into(),
        article: Some(ArticleDraft {
            question: "q".repeat(question_chars),
            quick_answer: "An answer.".into(),
            last_updated: "2026-01-01".into(),
            key_facts: (0..key_facts).map(|i| format!("fact {i}")).collect(),
            ..Default::default()
        }),
    }
}

/// The one field a refusal names.
fn refused_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .expect("a BadRequest detail");
    bad.field_violations[0].field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answerlog.toml");
    std::fs::write(&file, FILE).unwrap();
    let data = dir.path().join("data");
    let mut command = Served::command(&data);
    configured(&mut command, &file);
    let served = Served::spawn(command);
    let mut articles = ArticleServiceClient::new(served.channel().await);

    // question_chars is the flag's 40, not the environment's 50 or the file's 60.
    let status = articles.create_article(create(45, 0)).await.unwrap_err();
    assert_eq!(refused_field(&status), "article.question");
    // key_facts is the file's 2, not the default 50.
    let status = articles.create_article(create(40, 3)).await.unwrap_err();
    assert_eq!(refused_field(&status), "article.key_facts");
    let created = articles
        .create_article(create(40, 2))
        .await
        .expect("within every limit")
        .into_inner();

    // reason_chars is the environment's 40, not the file's 60.
    let edit = |reason_chars: usize| EditQuickAnswerRequest {
        article_id: created.article_id.clone(),
        expected_version: 1,
        command_id: uuid::Uuid::now_v7().to_string(),
        reason: "r".repeat(reason_chars),
        quick_answer: "Another answer.".into(),
    };
    let status = articles.edit_quick_answer(edit(45)).await.unwrap_err();
    assert_eq!(refused_field(&status), "reason");
    articles
        .edit_quick_answer(edit(40))
        .await
        .expect("a reason within the environment's limit");
    served.terminate();

    // `config print` with the same file, environment and flags agrees, and
    // says where each value came from.
    let mut print = Command::new(env!("CARGO_BIN_EXE_answerlog"));
    print
        .args(["config", "print", "--json", "--data-dir"])
        .arg(&data);
    configured(&mut print, &file);
    let out = print.env_remove("ANSWERLOG_CONFIG").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let setting = |key: &str| {
        printed["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {printed}"))
            .clone()
    };
    let expect = |key: &str, value: serde_json::Value, origin: &str| {
        let s = setting(key);
        assert_eq!(
            (&s["value"], s["origin"].as_str()),
            (&value, Some(origin)),
            "{key}"
        );
    };
    expect("limits.question_chars", 40.into(), "flag");
    expect("limits.reason_chars", 40.into(), "environment");
    expect("limits.key_facts", 2.into(), "file");
    expect("limits.sections", 200.into(), "default");
    expect("data_dir", data.display().to_string().into(), "flag");
    expect("listen", "127.0.0.1:50051".into(), "default");
    expect("principals_file", serde_json::Value::Null, "default");
    assert_eq!(printed["file"], file.display().to_string());
}

#[test]
fn an_unknown_key_stops_start_up_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("listen = \"127.0.0.1:0\"\ncolour = \"blue\"\n", "colour"),
        ("[limits]\nsectoins = 10\n", "sectoins"),
    ] {
        let file = dir.path().join("answerlog.toml");
        std::fs::write(&file, text).unwrap();
        let data = dir.path().join("data");
        let mut command = Served::command(&data);
        command.arg("--config").arg(&file);
        let (status, stderr) = Served::refused(command);
        assert!(!status.success(), "the server started with {key}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
        assert!(!data.exists(), "nothing is created before the check");
    }
}

/// Issue 14, item 16: development mode (no principals file) serves every
/// caller as one who may do anything, so it stays on loopback unless the
/// operator says otherwise with a loudly named flag.
#[test]
fn development_mode_refuses_an_address_beyond_loopback_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let on_every_interface = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_answerlog"));
        command
            .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("ANSWERLOG_CONFIG")
            .env_remove("ANSWERLOG_PRINCIPALS");
        command
    };
    let (status, stderr) = Served::refused(on_every_interface(&[]));
    assert!(!status.success());
    for needed in [
        "listen",
        "0.0.0.0:0 is not a loopback address",
        "development mode",
        "answerlog token new NAME --role admin",
        "--allow-development-on-network",
    ] {
        assert!(stderr.contains(needed), "{needed:?} not said: {stderr}");
    }
    assert!(!data.exists(), "nothing is created before the check");

    // Allowed by name: it starts, and says so loudly.
    let (served, told) =
        Served::spawn_telling(on_every_interface(&["--allow-development-on-network"]));
    assert!(
        told.contains("DEVELOPMENT MODE ON THE NETWORK")
            && told.contains("anyone who can reach this address"),
        "{told}"
    );
    served.terminate();

    // A principals file named but missing stops start-up with how to make one.
    let mut command = Served::command(&data);
    command
        .arg("--principals")
        .arg(dir.path().join("principals.toml"));
    let (status, stderr) = Served::refused(command);
    assert!(!status.success());
    assert!(
        stderr.contains("does not exist: make a token and its entry with `answerlog token new NAME --role admin`"),
        "{stderr}"
    );
}
