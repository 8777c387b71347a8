//! Offline export and verify, and the audit queries across commits.

use answerlog::pb::*;

use crate::backend_tests;
use crate::support::{cid, cli, create_article, Backend, TestServer};

backend_tests!(
    an_export_verifies_offline_and_a_changed_byte_names_its_line,
    a_log_export_missing_a_line_names_the_position_and_the_line,
    list_commits_filters_by_actor_kind_time_review_and_date,
);

async fn edit(server: &TestServer, id: &str, version: u64, reason: &str) {
    server
        .articles()
        .await
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: id.into(),
            expected_version: version,
            command_id: cid(),
            reason: reason.into(),
            quick_answer: format!("Answer as of {reason}."),
        })
        .await
        .unwrap();
}

async fn an_export_verifies_offline_and_a_changed_byte_names_its_line(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    for v in 1..=3 {
        edit(&server, &id, v, &format!("edit number {v}")).await;
    }
    let digest = server.cli(&["audit", "digest", "--json"]).await;
    assert!(digest.success, "{}", digest.stderr);
    let dir = tempfile::tempdir().unwrap();
    let digest_file = dir.path().join("digest.json");
    std::fs::write(&digest_file, &digest.stdout).unwrap();

    // Issue 14, item 5: a digest whose signature is bad is refused, and
    // the log, which verifies, is not called broken.
    let mut bad: serde_json::Value = serde_json::from_str(digest.stdout.trim()).unwrap();
    let signature = bad["signature"].as_str().unwrap().to_owned();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    bad["signature"] = format!("{flipped}{}", &signature[1..]).into();
    let bad_file = dir.path().join("bad-signature.json");
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let bad_path = bad_file.display().to_string();
    let refused = server
        .cli(&["audit", "verify-log", "--digest", &bad_path])
        .await;
    assert!(!refused.success);
    assert!(
        refused.stdout.contains("positions 1–4: the log verifies"),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stdout.contains("digest: REFUSED"),
        "{}",
        refused.stdout
    );
    assert!(
        refused
            .stderr
            .contains("the log verifies, but the digest was refused"),
        "{}",
        refused.stderr
    );
    let as_json = server
        .cli(&["audit", "verify-log", "--digest", &bad_path, "--json"])
        .await;
    assert!(!as_json.success);
    let report: serde_json::Value = serde_json::from_str(as_json.stdout.trim()).unwrap();
    // The JSON mapping leaves out fields at their default (false).
    assert_eq!(report["logOk"], true, "{report}");
    assert_ne!(report["ok"], true, "{report}");
    assert_ne!(report["digestCheck"]["signatureValid"], true, "{report}");

    let one = server.cli(&["export", "what-causes-jmt"]).await;
    assert!(one.success, "{}", one.stderr);
    assert_eq!(one.stdout.lines().count(), 4);
    let all = server.cli(&["export", "--all"]).await;
    assert!(all.success, "{}", all.stderr);
    let data = server.stop().await;

    // No server from here on.
    let one_file = dir.path().join("history.jsonl");
    std::fs::write(&one_file, &one.stdout).unwrap();
    let checked = cli(vec!["verify".into(), one_file.display().to_string()]).await;
    assert!(checked.success, "{}", checked.stderr);
    assert!(
        checked.stdout.contains("4 commits of 1 articles"),
        "{}",
        checked.stdout
    );

    let all_file = dir.path().join("all.jsonl");
    std::fs::write(&all_file, &all.stdout).unwrap();
    let checked = cli(vec![
        "verify".into(),
        all_file.display().to_string(),
        "--digest".into(),
        digest_file.display().to_string(),
    ])
    .await;
    assert!(checked.success, "{}", checked.stderr);
    assert!(
        checked
            .stdout
            .contains("the log chain verifies from position 1 through 4"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("matches the digest at position 4"),
        "{}",
        checked.stdout
    );

    // Issue 14, item 3: the digest's key id is bound to its key, and an
    // auditor can pin the one key they trust.
    let shown = cli(vec![
        "keys".into(),
        "show".into(),
        "--data-dir".into(),
        data.path().display().to_string(),
    ])
    .await;
    assert!(shown.success, "{}", shown.stderr);
    let vkey = shown.stdout.trim().to_owned();
    assert!(vkey.starts_with("answerlog+"), "{vkey}");
    let verify_digest = |digest: std::path::PathBuf, vkey: Option<String>| {
        let mut args = vec![
            "verify".to_owned(),
            all_file.display().to_string(),
            "--digest".into(),
            digest.display().to_string(),
        ];
        if let Some(vkey) = vkey {
            args.extend(["--vkey".to_owned(), vkey]);
        }
        cli(args)
    };
    let pinned = verify_digest(digest_file.clone(), Some(vkey.clone())).await;
    assert!(pinned.success, "{}", pinned.stderr);
    assert!(
        pinned
            .stdout
            .contains("verifies with the pinned key answerlog+"),
        "{}",
        pinned.stdout
    );
    let mut forged: serde_json::Value = serde_json::from_str(digest.stdout.trim()).unwrap();
    forged["keyId"] = "ed25519:0000000000000000".into();
    let forged_file = dir.path().join("forged-key-id.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let refused = verify_digest(forged_file, None).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("names the key ed25519:0000000000000000 but carries the public key of"),
        "{}",
        refused.stderr
    );
    // Another key, well formed: the digest is not signed with it.
    let other = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let refused = verify_digest(digest_file.clone(), Some(other.into())).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("not with the pinned key PeterNeumann+"),
        "{}",
        refused.stderr
    );
    // A verifier key whose id does not match its key is refused as such.
    let mut parts: Vec<&str> = vkey.split('+').collect();
    parts[1] = "00000000";
    let refused = verify_digest(digest_file.clone(), Some(parts.join("+"))).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("--vkey: the key id 00000000"),
        "{}",
        refused.stderr
    );
    // `keys rotate`, offline: a new current key; digests the old one
    // signed still verify against it.
    let data_dir = data.path().display().to_string();
    let rotated = cli(vec![
        "keys".into(),
        "rotate".into(),
        "--data-dir".into(),
        data_dir.clone(),
    ])
    .await;
    assert!(rotated.success, "{}", rotated.stderr);
    assert!(
        rotated.stdout.contains("the signing key is now"),
        "{}",
        rotated.stdout
    );
    let shown = cli(vec![
        "keys".into(),
        "show".into(),
        "--data-dir".into(),
        data_dir,
    ])
    .await;
    assert!(shown.success, "{}", shown.stderr);
    assert_ne!(shown.stdout.trim(), vkey, "a new current key");
    let old = verify_digest(digest_file.clone(), Some(vkey.clone())).await;
    assert!(old.success, "{}", old.stderr);

    // Issue 14, item A.1: the exported first version's fields no payload
    // digest covers (its id, status and version) are tied to the envelope.
    for (from, to) in [
        (
            "\"status\":\"ARTICLE_STATUS_PUBLISHED\"",
            "\"status\":\"ARTICLE_STATUS_RETRACTED\"",
        ),
        (
            "\"ARTICLE_STATUS_PUBLISHED\",\"version\":\"1\"",
            "\"ARTICLE_STATUS_PUBLISHED\",\"version\":\"7\"",
        ),
    ] {
        let mut lines: Vec<String> = all.stdout.lines().map(str::to_owned).collect();
        assert!(lines[0].contains(from), "{from} in {}", lines[0]);
        lines[0] = lines[0].replacen(from, to, 1);
        let tampered = dir.path().join("tampered-created.jsonl");
        std::fs::write(&tampered, lines.join("\n")).unwrap();
        let refused = cli(vec!["verify".into(), tampered.display().to_string()]).await;
        assert!(!refused.success, "{to} passed verify");
        assert!(refused.stderr.contains("line 1:"), "{}", refused.stderr);
    }

    // One byte inside a string value on line 3: "edit number 2" → "edit numbes 2".
    let mut lines: Vec<String> = all.stdout.lines().map(str::to_owned).collect();
    assert!(lines[2].contains("edit number 2"));
    lines[2] = lines[2].replacen("edit number 2", "edit numbes 2", 1);
    let changed = dir.path().join("changed.jsonl");
    std::fs::write(&changed, lines.join("\n")).unwrap();
    let refused = cli(vec!["verify".into(), changed.display().to_string()]).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("line 3:"), "{}", refused.stderr);
    assert!(refused.stderr.contains("version 3"), "{}", refused.stderr);
    let as_json = cli(vec![
        "verify".into(),
        changed.display().to_string(),
        "--json".into(),
    ])
    .await;
    assert!(!as_json.success);
    let outcome: serde_json::Value = serde_json::from_str(&as_json.stdout).unwrap();
    assert_eq!(outcome["ok"], false);
    assert!(outcome["error"].as_str().unwrap().contains("line 3:"));
}

async fn list_commits_filters_by_actor_kind_time_review_and_date(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut articles = server.articles().await;
    let ai = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(ArticleDraft {
                question: "An AI answer".into(),
                quick_answer: "Generated.".into(),
                last_updated: "2025-06-01".into(),
                provenance: Some(Provenance {
                    ai_assisted: true,
                    generator: "gen".into(),
                    ..Provenance::default()
                }),
                ..ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id;
    let human = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(ArticleDraft {
                question: "A human answer".into(),
                quick_answer: "Written.".into(),
                last_updated: "2026-02-01".into(),
                ..ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id;
    edit(&server, &ai, 1, "tweak").await;
    articles
        .review_article(ReviewArticleRequest {
            article_id: ai.clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "test".into(),
        })
        .await
        .unwrap();
    let shared = server.audit().await;
    let mut audit = shared.clone();
    let list = |request: ListCommitsRequest| {
        let mut audit = shared.clone();
        async move {
            let page = audit.list_commits(request).await.unwrap().into_inner();
            page.commits
                .iter()
                .map(|c| (c.article_id.clone(), c.revision.as_ref().unwrap().version))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ListCommitsRequest::default()).await.len(), 4);
    assert_eq!(
        list(ListCommitsRequest {
            ai_assisted_unreviewed: true,
            ..Default::default()
        })
        .await,
        [(ai.clone(), 1), (ai.clone(), 2)]
    );
    assert_eq!(
        list(ListCommitsRequest {
            event_kinds: vec!["ArticleReviewed".into()],
            ..Default::default()
        })
        .await,
        [(ai.clone(), 3)]
    );
    assert_eq!(
        list(ListCommitsRequest {
            last_updated_on_or_before: "2025-12-31".into(),
            ..Default::default()
        })
        .await,
        [(ai.clone(), 1), (ai.clone(), 2), (ai.clone(), 3)]
    );
    assert_eq!(
        list(ListCommitsRequest {
            article_id: human.clone(),
            ..Default::default()
        })
        .await,
        [(human.clone(), 1)]
    );
    assert_eq!(
        list(ListCommitsRequest {
            actor: "nobody".into(),
            ..Default::default()
        })
        .await,
        []
    );
    // Paging: one at a time, the same four in order.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = audit
            .list_commits(ListCommitsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.commits
                .iter()
                .map(|c| c.revision.as_ref().unwrap().global_position),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    // A time window: from the third commit's instant on.
    let third = audit
        .list_commits(ListCommitsRequest {
            page_size: 1,
            page_token: String::new(),
            event_kinds: vec!["QuickAnswerEdited".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .commits[0]
        .revision
        .clone()
        .unwrap()
        .recorded_at;
    assert_eq!(
        list(ListCommitsRequest {
            recorded_from: third,
            ..Default::default()
        })
        .await,
        [(ai.clone(), 2), (ai.clone(), 3)]
    );
    let status = audit
        .list_commits(ListCommitsRequest {
            event_kinds: vec!["Nonsense".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("event_kinds[0]"));
    server.stop().await;
}

/// Issue 14, item 4: a line dropped from an export of the whole log, of an
/// article that has no later version (so that no article chain breaks),
/// is named by its position and the line where it was expected.
async fn a_log_export_missing_a_line_names_the_position_and_the_line(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = create_article(&server, 1).await;
    create_article(&server, 2).await;
    create_article(&server, 3).await;
    edit(&server, &first, 1, "a later edit").await;
    let all = server.cli(&["export", "--all"]).await;
    assert!(all.success, "{}", all.stderr);
    server.stop().await;

    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    // Position 2 is the only commit of the second article.
    let dir = tempfile::tempdir().unwrap();
    let dropped = dir.path().join("dropped.jsonl");
    std::fs::write(
        &dropped,
        format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]),
    )
    .unwrap();
    let refused = cli(vec!["verify".into(), dropped.display().to_string()]).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("line 2: position 2 is missing (the line holds position 3)"),
        "{}",
        refused.stderr
    );
}
