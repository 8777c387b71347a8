//! ReviseArticle: an article's content as a whole in one commit, through
//! the real server on both logs; and the same command in a bulk import
//! with origin claims, where one revision of another system's history is
//! one version.

use answerlog::pb::*;
use tonic::Code;

use crate::backend_tests;
use crate::support::{cid, create_article, Backend, TestServer};

backend_tests!(
    a_revision_is_one_version_of_whatever_changed,
    an_imported_revision_is_one_version_with_its_claims,
);

async fn a_revision_is_one_version_of_whatever_changed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create_article(&server, 1).await;
    let mut articles = server.articles().await;
    let revise = |version: u64, command_id: String| ReviseArticleRequest {
        article_id: id.clone(),
        expected_version: version,
        command_id,
        reason: "the whole page, saved".into(),
        question: "Question 1, revised".into(),
        quick_answer: "B.".into(),
        key_facts: vec!["One fact".into()],
        sections: vec![
            RevisedSection {
                id: String::new(),
                heading: "First".into(),
                body: "One.".into(),
            },
            RevisedSection {
                id: String::new(),
                heading: "Second".into(),
                body: String::new(),
            },
        ],
        last_updated: "2026-02-01".into(),
        sources: None,
    };
    let command_id = cid();
    let revised = articles
        .revise_article(revise(1, command_id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revised.version, 2);
    // A retry is answered as the first time; a stale version is refused.
    let again = articles
        .revise_article(revise(1, command_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, revised);
    let stale = articles.revise_article(revise(1, cid())).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    let answer = server.get(&id).await;
    assert_eq!(answer.question, "Question 1, revised");
    assert_eq!(answer.key_facts, ["One fact"]);
    assert_eq!(answer.last_updated, "2026-02-01");
    let sections: Vec<(&str, &str)> = answer
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.heading.as_str()))
        .collect();
    assert_eq!(sections, [("s1", "First"), ("s2", "Second")]);
    let revision = server.revision(&id, 2).await;
    let kinds: Vec<&str> = revision.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "QuestionEdited",
            "QuickAnswerEdited",
            "KeyFactsReplaced",
            "SectionAdded",
            "SectionAdded",
            "ArticleRedated"
        ]
    );

    // A section named that the article lacks is named in the refusal.
    let mut wrong = revise(2, cid());
    wrong.sections[0].id = "s9".into();
    let refused = articles.revise_article(wrong).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("sections[0].id"), "{refused:?}");

    // The sources too, when given: a new one, and a bad one named.
    let kept = server.get(&id).await.sources;
    let source = |url: &str| answerlog::pb::Source {
        title: "A cited page".into(),
        publisher: "example.org".into(),
        url: url.into(),
        license: "not stated".into(),
        ..Default::default()
    };
    let mut with_sources = revise(2, cid());
    with_sources.sources = Some(answerlog::pb::SourceList {
        sources: vec![source("https://example.org/cited")],
    });
    articles.revise_article(with_sources).await.unwrap();
    let answer = server.get(&id).await;
    let urls: Vec<&str> = answer.sources.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(urls, ["https://example.org/cited"], "{kept:?} are replaced");
    let mut bad = revise(3, cid());
    bad.sources = Some(answerlog::pb::SourceList {
        sources: vec![source("ftp://example.org/")],
    });
    let refused = articles.revise_article(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("sources.sources[0].url"),
        "{refused:?}"
    );
}

async fn an_imported_revision_is_one_version_with_its_claims(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = create_article(&server, 1).await;
    let claims = |revision: &str| OriginClaims {
        origin: "en.wikipedia.org/wiki/Tea".into(),
        revision_id: revision.into(),
        actor: "Someone".into(),
        comment: "copyedit".into(),
        time: Some(prost_types::Timestamp {
            seconds: 1_200_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let command = |version: u64, revision: &str, quick_answer: &str| ImportCommand {
        command: Some(import_command::Command::ReviseArticle(
            ReviseArticleRequest {
                article_id: id.clone(),
                expected_version: version,
                command_id: cid(),
                reason: "imported".into(),
                question: "Question 1".into(),
                quick_answer: quick_answer.into(),
                ..Default::default()
            },
        )),
        origin: Some(claims(revision)),
    };
    let requests = vec![ImportCommitsRequest {
        commands: vec![
            command(1, "100", "Changed."),
            // The same text again (a null revision): its claim alone.
            command(2, "101", "Changed."),
        ],
    }];
    let mut admin =
        answerlog::pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    let mut answers = admin
        .import_commits(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut versions = Vec::new();
    while let Some(response) = answers.message().await.unwrap() {
        versions.extend(response.results.iter().map(|r| r.version));
    }
    assert_eq!(versions, [2, 3], "one version a revision");
    let kinds = |v: u64| {
        let server = &server;
        let id = &id;
        async move {
            server
                .revision(id, v)
                .await
                .events
                .iter()
                .map(|e| e.kind.clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(kinds(2).await, ["QuickAnswerEdited", "OriginClaimed"]);
    assert_eq!(kinds(3).await, ["OriginClaimed"]);
}
