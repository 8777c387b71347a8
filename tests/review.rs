//! A review names its reviewer only on the content they reviewed: an edit
//! or a revert ends it, a repeated review by the same principal writes
//! nothing, and answers, revisions and blame all say so.

use answerlog::pb::*;
use answerlog::Role;

use crate::backend_tests;
use crate::support::{authed, cid, cli, Backend, TestServer};

backend_tests!(a_review_covers_exactly_the_content_it_was_made_on);

struct Writers {
    server: TestServer,
    wanda: String,
    rita: String,
    rob: String,
    ada: String,
    id: String,
}

impl Writers {
    async fn review(&self, expected_version: u64, token: &str) -> u64 {
        self.server
            .articles()
            .await
            .review_article(authed(
                ReviewArticleRequest {
                    article_id: self.id.clone(),
                    expected_version,
                    command_id: cid(),
                    reason: "Checked against the sources".into(),
                },
                token,
            ))
            .await
            .expect("a review")
            .into_inner()
            .version
    }

    async fn edit_question(&self, expected_version: u64, question: &str) -> u64 {
        self.server
            .articles()
            .await
            .edit_question(authed(
                EditQuestionRequest {
                    article_id: self.id.clone(),
                    expected_version,
                    command_id: cid(),
                    reason: "Clearer".into(),
                    question: question.into(),
                },
                &self.wanda,
            ))
            .await
            .expect("an edit")
            .into_inner()
            .version
    }

    /// The answer's reviewer and the version of the review, as of `version`
    /// (0: now).
    async fn reviewed(&self, version: u64) -> (String, u64) {
        let answer = self
            .server
            .answers()
            .await
            .get_answer(authed(
                GetAnswerRequest {
                    receipt: false,
                    r#ref: Some(get_answer_request::Ref::Id(self.id.clone())),
                    as_of: (version > 0).then_some(get_answer_request::AsOf::Version(version)),
                    min_position: 0,
                },
                &self.wanda,
            ))
            .await
            .expect("the answer")
            .into_inner()
            .answer
            .unwrap();
        let p = answer.provenance.unwrap();
        (p.reviewed_by, p.reviewed_version)
    }

    async fn revision(&self, version: u64) -> GetRevisionResponse {
        self.server
            .audit()
            .await
            .get_revision(authed(
                GetRevisionRequest {
                    article_id: self.id.clone(),
                    version,
                    min_position: 0,
                },
                &self.wanda,
            ))
            .await
            .expect("the revision")
            .into_inner()
    }

    /// How many revisions the article has.
    async fn revisions(&self) -> usize {
        self.server
            .audit()
            .await
            .list_revisions(authed(
                ListRevisionsRequest {
                    r#ref: Some(list_revisions_request::Ref::Id(self.id.clone())),
                    page_size: 100,
                    page_token: String::new(),
                    min_position: 0,
                },
                &self.wanda,
            ))
            .await
            .expect("the revisions")
            .into_inner()
            .revisions
            .len()
    }

    /// Blame's `review` element: its label and the version that set it.
    async fn blamed_review(&self) -> Option<(String, u64)> {
        let report = self
            .server
            .audit()
            .await
            .get_attribution(authed(
                GetAttributionRequest {
                    r#ref: Some(get_attribution_request::Ref::Id(self.id.clone())),
                    version: 0,
                    min_position: 0,
                },
                &self.ada,
            ))
            .await
            .expect("blame")
            .into_inner();
        report
            .attributions
            .into_iter()
            .find(|a| a.element == "review")
            .map(|a| (a.label, a.last_changed.unwrap().version))
    }
}

async fn a_review_covers_exactly_the_content_it_was_made_on(backend: Backend) {
    let (server, tokens) = TestServer::start_with_tokens(
        backend,
        &[
            ("wanda", Role::Writer),
            ("rita", Role::Writer),
            ("rob", Role::Writer),
            ("ada", Role::Admin),
        ],
    )
    .await;
    let [wanda, rita, rob, ada] = <[String; 4]>::try_from(tokens).unwrap();
    let id = server
        .articles()
        .await
        .create_article(authed(
            CreateArticleRequest {
                command_id: cid(),
                reason: "First draft".into(),
                article: Some(ArticleDraft {
                    question: "What causes juvenile myositis".into(),
                    quick_answer: "An autoimmune reaction.".into(),
                    last_updated: "2026-01-01".into(),
                    provenance: Some(Provenance {
                        ai_assisted: true,
                        generator: "gen-1".into(),
                        ..Provenance::default()
                    }),
                    ..ArticleDraft::default()
                }),
            },
            &wanda,
        ))
        .await
        .unwrap()
        .into_inner()
        .article_id;
    let w = Writers {
        server,
        wanda,
        rita,
        rob,
        ada,
        id,
    };
    assert_eq!(w.reviewed(0).await, (String::new(), 0));
    assert_eq!(w.blamed_review().await, None);

    // v2: rita reviews; the answer names her and the version.
    assert_eq!(w.review(1, &w.rita).await, 2);
    assert_eq!(w.reviewed(0).await, ("rita".into(), 2));
    assert_eq!(w.blamed_review().await, Some(("rita".into(), 2)));

    // Again by rita, on the same content: nothing is written.
    assert_eq!(w.review(2, &w.rita).await, 2);
    assert_eq!(w.revisions().await, 2);

    // v3: rob reviews too: another principal's review is recorded.
    assert_eq!(w.review(2, &w.rob).await, 3);
    assert_eq!(w.reviewed(0).await, ("rob".into(), 3));

    // v4: an edit ends the review, first thing in its commit.
    assert_eq!(w.edit_question(3, "What causes JM?").await, 4);
    assert_eq!(w.reviewed(0).await, (String::new(), 0));
    assert_eq!(w.blamed_review().await, None);
    let v4 = w.revision(4).await;
    let kinds: Vec<&str> = v4.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["ReviewLapsed", "QuestionEdited"]);
    let Some(event::Payload::ReviewLapsed(lapsed)) = &v4.events[0].payload else {
        panic!("{:?}", v4.events[0]);
    };
    assert_eq!(
        (lapsed.reviewed_by.as_str(), lapsed.reviewed_version),
        ("rob", 3)
    );
    assert_eq!(v4.provenance.unwrap().reviewed_by, "");
    // The past stays as it was: as of version 3, rob's review stands.
    assert_eq!(w.reviewed(3).await, ("rob".into(), 3));

    // v5: rita reviews the new content; v6: a revert to version 3, whose
    // content rob had reviewed, claims no review: rita's ends.
    assert_eq!(w.review(4, &w.rita).await, 5);
    let reverted = w
        .server
        .articles()
        .await
        .revert_article(authed(
            RevertArticleRequest {
                article_id: w.id.clone(),
                expected_version: 5,
                command_id: cid(),
                reason: "Back to the reviewed wording".into(),
                to_version: 3,
                last_updated: String::new(),
            },
            &w.wanda,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reverted.version, 6);
    assert_eq!(w.reviewed(0).await, (String::new(), 0));
    let v6 = w.revision(6).await;
    let kinds: Vec<&str> = v6.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["ReviewLapsed", "QuestionEdited"]);
    assert_eq!(w.blamed_review().await, None);

    // v7 review, v8 retraction, v9 restoration: status is not content, so
    // rita's review stands through both.
    assert_eq!(w.review(6, &w.rita).await, 7);
    let mut articles = w.server.articles().await;
    articles
        .retract_article(authed(
            RetractArticleRequest {
                article_id: w.id.clone(),
                expected_version: 7,
                command_id: cid(),
                reason: "Checking a claim".into(),
            },
            &w.ada,
        ))
        .await
        .unwrap();
    articles
        .restore_article(authed(
            RestoreArticleRequest {
                article_id: w.id.clone(),
                expected_version: 8,
                command_id: cid(),
                reason: "The claim holds".into(),
            },
            &w.ada,
        ))
        .await
        .unwrap();
    assert_eq!(w.reviewed(0).await, ("rita".into(), 7));
    assert_eq!(w.blamed_review().await, Some(("rita".into(), 7)));
    let shown = w.server.cli(&["get", &w.id, "--token", &w.wanda]).await;
    assert!(shown.success, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("Reviewed by: rita, at version 7"),
        "{}",
        shown.stdout
    );

    // The log with its new event kind still verifies, on the server and
    // offline from an export.
    let verified = w
        .server
        .cli(&["audit", "verify-log", "--token", &w.ada])
        .await;
    assert!(verified.success, "{}{}", verified.stdout, verified.stderr);
    let export = w.server.cli(&["export", "--all", "--token", &w.ada]).await;
    assert!(export.success, "{}", export.stderr);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &export.stdout).unwrap();
    let offline = cli(vec!["verify".into(), file.path().display().to_string()]).await;
    assert!(offline.success, "{}{}", offline.stdout, offline.stderr);
    w.server.stop().await;
}
