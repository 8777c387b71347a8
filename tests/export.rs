//! Offline export and verify, and the audit queries across commits.

use answerlog::pb::*;

use crate::backend_tests;
use crate::support::{cid, cli, Backend, TestServer};

backend_tests!(
    an_export_verifies_offline_and_a_changed_byte_names_its_line,
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

    let one = server.cli(&["export", "what-causes-jmt"]).await;
    assert!(one.success, "{}", one.stderr);
    assert_eq!(one.stdout.lines().count(), 4);
    let all = server.cli(&["export", "--all"]).await;
    assert!(all.success, "{}", all.stderr);
    server.stop().await;

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
            reason: String::new(),
            article: Some(ArticleDraft {
                question: "An AI answer".into(),
                quick_answer: "Generated.".into(),
                last_updated: "2025-06-01".into(),
                provenance: Some(Provenance {
                    ai_assisted: true,
                    generator: "gen".into(),
                    reviewed_by: String::new(),
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
            reason: String::new(),
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
            reason: String::new(),
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
