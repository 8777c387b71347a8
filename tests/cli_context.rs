//! Saved connections (issue 19): `answerlog context add|use|ls|show|rm`
//! against a real server that requires tokens. The token is read from a
//! file, never from argv; a server named on the command line does not get
//! the context's token; a missing or empty token file is named.

use answerlog::Role;

use crate::support::{cli_with_env, Backend, TestServer};

#[tokio::test]
async fn a_context_names_the_server_and_its_token_file() {
    let (server, tokens) =
        TestServer::start_with_tokens(Backend::Sled, &[("rita", Role::Reader)]).await;
    let dir = tempfile::tempdir().unwrap();
    let contexts = dir.path().join("config/contexts.toml");
    let token_file = dir.path().join("rita.token");
    std::fs::write(&token_file, format!("{}\n", tokens[0])).unwrap();
    let env = vec![(
        "ANSWERLOG_CONTEXTS".to_owned(),
        contexts.display().to_string(),
    )];
    let run =
        |args: &[&str]| cli_with_env(args.iter().map(|a| (*a).to_owned()).collect(), env.clone());

    // No context, no token: refused by the server.
    let refused = run(&["list", "--server", &server.url]).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("not authenticated"),
        "{}",
        refused.stderr
    );

    // Saved and current: `list` needs no flag, and the token stays off argv.
    let added = run(&[
        "context",
        "add",
        "local",
        "--server",
        &server.url,
        "--token-file",
        token_file.to_str().unwrap(),
    ])
    .await;
    assert!(added.success, "{}", added.stderr);
    let text = std::fs::read_to_string(&contexts).unwrap();
    assert!(
        !text.contains(&tokens[0]),
        "the token is not stored: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&contexts).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let listed = run(&["list"]).await;
    assert!(listed.success, "{}", listed.stderr);
    let ls = run(&["context", "ls"]).await;
    assert!(ls.stdout.starts_with("* local "), "{}", ls.stdout);
    let json = run(&["context", "ls", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(json["current"], "local");
    assert_eq!(json["contexts"]["local"]["server"], server.url.as_str());

    // A server named on the command line does not get the context's
    // token; --context sends it there on purpose.
    let named = run(&["list", "--server", &server.url]).await;
    assert!(!named.success, "{}", named.stdout);
    assert!(
        named.stderr.contains("not authenticated"),
        "{}",
        named.stderr
    );
    // Nor does one named by ANSWERLOG_SERVER; a token exported in the
    // environment goes to it, not to the context's server.
    let mut exported = env.clone();
    exported.push(("ANSWERLOG_SERVER".to_owned(), server.url.clone()));
    let by_env = cli_with_env(vec!["list".into()], exported.clone()).await;
    assert!(!by_env.success, "{}", by_env.stdout);
    exported.push(("ANSWERLOG_TOKEN".to_owned(), tokens[0].clone()));
    let with_token = cli_with_env(vec!["list".into()], exported).await;
    assert!(with_token.success, "{}", with_token.stderr);
    // With the context current, a token in the environment is not sent
    // to its server: the context's token file is.
    let mut stray = env.clone();
    stray.push(("ANSWERLOG_TOKEN".to_owned(), "not-a-token".to_owned()));
    let context_wins = cli_with_env(vec!["list".into()], stray).await;
    assert!(context_wins.success, "{}", context_wins.stderr);
    let chosen = run(&["list", "--server", &server.url, "--context", "local"]).await;
    assert!(chosen.success, "{}", chosen.stderr);

    // A token file that is gone is named.
    std::fs::remove_file(&token_file).unwrap();
    let gone = run(&["list"]).await;
    assert!(
        !gone.success && gone.stderr.contains("token_file"),
        "{}",
        gone.stderr
    );

    // Use, show, remove; an unknown context is named.
    let unknown = run(&["context", "use", "elsewhere"]).await;
    assert!(
        !unknown.success && unknown.stderr.contains("elsewhere"),
        "{}",
        unknown.stderr
    );
    let shown = run(&["context", "show"]).await;
    assert!(shown.stdout.contains("[local]"), "{}", shown.stdout);
    let removed = run(&["context", "rm", "local"]).await;
    assert!(removed.success, "{}", removed.stderr);
    let empty = run(&["context", "ls", "--json"]).await;
    let empty: serde_json::Value = serde_json::from_str(empty.stdout.trim()).unwrap();
    assert_eq!(empty["current"], serde_json::Value::Null);
    server.stop().await;
}
