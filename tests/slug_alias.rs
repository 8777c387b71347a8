//! AddSlugAlias (an import's command: a MediaWiki redirect to an article)
//! through the real server on both logs: another slug that names the
//! article as an old slug does, refused when another article holds it,
//! and nothing when it is the article's own.

use answerlog::pb::*;
use tonic::Code;

use crate::backend_tests;
use crate::support::{cid, create_article, Backend, TestServer};

backend_tests!(an_alias_names_the_article_as_an_old_slug_does);

/// An import of one AddSlugAlias: the versions it made, or the refusal.
async fn alias(
    server: &TestServer,
    article_id: &str,
    expected_version: u64,
    slug: &str,
    origin: Option<OriginClaims>,
) -> Result<Vec<u64>, tonic::Status> {
    let mut admin = admin_service_client::AdminServiceClient::new(server.channel().await);
    let request = ImportCommitsRequest {
        commands: vec![ImportCommand {
            command: Some(import_command::Command::AddSlugAlias(AddSlugAliasRequest {
                article_id: article_id.into(),
                expected_version,
                command_id: cid(),
                reason: "a redirect".into(),
                slug: slug.into(),
            })),
            origin,
        }],
    };
    let mut answers = admin
        .import_commits(tokio_stream::iter(vec![request]))
        .await?
        .into_inner();
    let mut versions = Vec::new();
    while let Some(response) = answers.message().await? {
        versions.extend(response.results.iter().map(|r| r.version));
    }
    Ok(versions)
}

async fn an_alias_names_the_article_as_an_old_slug_does(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = create_article(&server, 1).await;
    let second = create_article(&server, 2).await;
    let slug_of = |id: &str| {
        let server = &server;
        let id = id.to_owned();
        async move { server.get(&id).await.slug }
    };
    let first_slug = slug_of(&first).await;

    let claims = OriginClaims {
        origin: "en.wikipedia.org/wiki/Old_name".into(),
        revision_id: "7".into(),
        comment: "moved page".into(),
        ..Default::default()
    };
    assert_eq!(
        alias(&server, &first, 1, "old-name", Some(claims))
            .await
            .unwrap(),
        [2]
    );
    let commit = server.revision(&first, 2).await;
    let kinds: Vec<&str> = commit.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["SlugAliased", "OriginClaimed"]);
    // The alias names the article; its own slug stays, and so does what
    // it shows.
    let by_alias = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("old-name".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .answer
        .unwrap();
    assert_eq!(
        (by_alias.id.as_str(), by_alias.slug.as_str()),
        (first.as_str(), first_slug.as_str())
    );

    // Another article's slug, or alias, is refused, naming it.
    for taken in [first_slug.as_str(), "old-name"] {
        let refused = alias(&server, &second, 1, taken, None).await.unwrap_err();
        assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
        assert!(refused.message().contains(taken), "{refused:?}");
    }
    // A bad slug is named; the article's own slug makes no commit.
    let refused = alias(&server, &first, 2, "Not A Slug", None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let bad = tonic_types::StatusExt::get_details_bad_request(&refused).expect("a BadRequest");
    assert_eq!(
        bad.field_violations[0].field, "commands[0].add_slug_alias.slug",
        "{refused:?}"
    );
    assert_eq!(
        alias(&server, &first, 2, &first_slug, None).await.unwrap(),
        [2]
    );
    assert_eq!(server.get(&first).await.version, 2);
    // The whole log still verifies (the alias's hash as AUDIT.md says).
    crate::support::export_verifies(&server).await;
    server.stop().await;
}
