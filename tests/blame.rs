//! Attribution after edits by three principals, and the freshness report.

use answerlog::pb::*;
use answerlog::Role;

use crate::backend_tests;
use crate::support::{authed, cid, example_path, imported_id, Backend, TestServer};

backend_tests!(
    blame_names_the_version_and_actor_of_every_part,
    the_freshness_report_finds_exactly_the_redates_without_content_change,
);

async fn blame_names_the_version_and_actor_of_every_part(backend: Backend) {
    let (server, tokens) = TestServer::start_with_tokens(
        backend,
        &[
            ("wanda", Role::Writer),
            ("wes", Role::Writer),
            ("ada", Role::Admin),
        ],
    )
    .await;
    let [wanda, wes, ada] = <[String; 3]>::try_from(tokens).unwrap();

    let out = server
        .cli(&[
            "import",
            example_path().to_str().unwrap(),
            "--token",
            &wanda,
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let id = imported_id(&out.stdout);
    let mut articles = server.articles().await;
    // v2: wes rewrites the genetics section (s3).
    articles
        .edit_section(authed(
            EditSectionRequest {
                article_id: id.clone(),
                expected_version: 1,
                command_id: cid(),
                reason: "Tighten genetics".into(),
                section_id: "s3".into(),
                heading: None,
                body: Some("HLA genes.".into()),
            },
            &wes,
        ))
        .await
        .unwrap();
    // v3: ada adds a source.
    articles
        .add_source(authed(
            AddSourceRequest {
                article_id: id.clone(),
                expected_version: 2,
                command_id: cid(),
                reason: "Cite Cure JM".into(),
                source: Some(Source {
                    title: "Cure JM".into(),
                    publisher: "Cure JM Foundation".into(),
                    license: "fair-use".into(),
                    ..Source::default()
                }),
            },
            &ada,
        ))
        .await
        .unwrap();
    // v4: wanda edits the second source and removes the third.
    articles
        .edit_source(authed(
            EditSourceRequest {
                article_id: id.clone(),
                expected_version: 3,
                command_id: cid(),
                reason: "Arthritis Foundation title".into(),
                source: Some(Source {
                    id: "src2".into(),
                    title: "Juvenile Myositis (JM)".into(),
                    publisher: "The Arthritis Foundation".into(),
                    license: "fair-use".into(),
                    ..Source::default()
                }),
            },
            &wanda,
        ))
        .await
        .unwrap();
    articles
        .remove_source(authed(
            RemoveSourceRequest {
                article_id: id.clone(),
                expected_version: 4,
                command_id: cid(),
                reason: "Duplicate".into(),
                source_id: "src3".into(),
            },
            &wanda,
        ))
        .await
        .unwrap();
    // v6: wes adds a section first; v7: ada moves it after s1 (a move is
    // not a change of what the section says).
    articles
        .add_section(authed(
            AddSectionRequest {
                article_id: id.clone(),
                expected_version: 5,
                command_id: cid(),
                reason: "Summary".into(),
                section: Some(SectionDraft {
                    heading: "In short".into(),
                    body: "Rare.".into(),
                }),
                after_section_id: String::new(),
            },
            &wes,
        ))
        .await
        .unwrap();
    articles
        .move_section(authed(
            MoveSectionRequest {
                article_id: id.clone(),
                expected_version: 6,
                command_id: cid(),
                reason: "Order".into(),
                section_id: "s9".into(),
                after_section_id: "s1".into(),
            },
            &ada,
        ))
        .await
        .unwrap();
    // v8: ada re-dates; v9: wes edits the question.
    articles
        .redate_article(authed(
            RedateArticleRequest {
                article_id: id.clone(),
                expected_version: 7,
                command_id: cid(),
                reason: "Checked".into(),
                last_updated: "2026-04-05".into(),
            },
            &ada,
        ))
        .await
        .unwrap();

    articles
        .edit_question(authed(
            EditQuestionRequest {
                article_id: id.clone(),
                expected_version: 8,
                command_id: cid(),
                reason: "Spell it out".into(),
                question: "What causes juvenile myositis?".into(),
            },
            &wes,
        ))
        .await
        .unwrap();
    // v10: ada retracts it, saying why.
    articles
        .retract_article(authed(
            RetractArticleRequest {
                article_id: id.clone(),
                expected_version: 9,
                command_id: cid(),
                reason: "Under medical review".into(),
            },
            &ada,
        ))
        .await
        .unwrap();
    let read = server
        .answers()
        .await
        .get_answer(authed(
            GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                ..Default::default()
            },
            &wanda,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        read.code(),
        tonic::Code::NotFound,
        "readers do not see a retracted article"
    );

    let report = server
        .audit()
        .await
        .get_attribution(authed(
            GetAttributionRequest {
                r#ref: Some(get_attribution_request::Ref::Slug("what-causes-jmt".into())),
                version: 0,
                min_position: 0,
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.version, 10);
    let get = |element: &str| {
        let a = report
            .attributions
            .iter()
            .find(|a| a.element == element)
            .unwrap_or_else(|| panic!("no {element} in {:?}", report.attributions));
        let i = a.introduced.as_ref().unwrap();
        let l = a.last_changed.as_ref().unwrap();
        ((i.version, i.actor.as_str()), (l.version, l.actor.as_str()))
    };
    assert_eq!(get("question"), ((1, "wanda"), (9, "wes")));
    assert_eq!(get("status"), ((1, "wanda"), (10, "ada")));
    let status = report
        .attributions
        .iter()
        .find(|a| a.element == "status")
        .unwrap();
    assert_eq!(status.label, "retracted");
    assert_eq!(
        status.last_changed.as_ref().unwrap().reason,
        "Under medical review"
    );
    assert_eq!(get("quick_answer"), ((1, "wanda"), (1, "wanda")));
    assert_eq!(get("last_updated"), ((1, "wanda"), (8, "ada")));
    assert_eq!(get("key_facts[0]"), ((1, "wanda"), (1, "wanda")));
    assert_eq!(get("section:s3"), ((1, "wanda"), (2, "wes")));
    assert_eq!(get("section:s9"), ((6, "wes"), (6, "wes")));
    for s in ["s1", "s2", "s4", "s5", "s6", "s7", "s8"] {
        assert_eq!(
            get(&format!("section:{s}")),
            ((1, "wanda"), (1, "wanda")),
            "{s}"
        );
    }
    assert_eq!(get("source:src1"), ((1, "wanda"), (1, "wanda")));
    assert_eq!(get("source:src2"), ((1, "wanda"), (4, "wanda")));
    assert_eq!(get("source:src4"), ((3, "ada"), (3, "ada")));
    assert!(
        report
            .attributions
            .iter()
            .all(|a| a.element != "source:src3"),
        "removed"
    );
    let order: Vec<_> = report
        .attributions
        .iter()
        .filter(|a| a.element.starts_with("section:"))
        .map(|a| a.element.as_str())
        .collect();
    assert_eq!(&order[..3], ["section:s1", "section:s9", "section:s2"]);
    let reason = report
        .attributions
        .iter()
        .find(|a| a.element == "section:s3")
        .unwrap();
    assert_eq!(
        reason.last_changed.as_ref().unwrap().reason,
        "Tighten genetics"
    );

    // As of version 2, the source ada added is not there yet.
    let earlier = server
        .cli(&[
            "blame",
            "what-causes-jmt",
            "--version",
            "2",
            "--json",
            "--token",
            &ada,
        ])
        .await;
    assert!(earlier.success, "{}", earlier.stderr);
    let json: serde_json::Value = serde_json::from_str(&earlier.stdout).unwrap();
    let elements: Vec<&str> = json["attributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["element"].as_str().unwrap())
        .collect();
    assert!(elements.contains(&"source:src3") && !elements.contains(&"source:src4"));
    server.stop().await;
}

async fn the_freshness_report_finds_exactly_the_redates_without_content_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut articles = server.articles().await;
    let create = |question: &str| ArticleDraft {
        question: question.into(),
        quick_answer: "First.".into(),
        last_updated: "2026-01-01".into(),
        ..ArticleDraft::default()
    };
    let mut ids = Vec::new();
    for q in ["Stale one", "Honest one"] {
        ids.push(
            articles
                .create_article(CreateArticleRequest {
                    command_id: cid(),
                    reason: "test".into(),
                    article: Some(create(q)),
                })
                .await
                .unwrap()
                .into_inner()
                .article_id,
        );
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let redate = |id: &str, v: u64, date: &str| RedateArticleRequest {
        article_id: id.into(),
        expected_version: v,
        command_id: cid(),
        reason: format!("re-date to {date}"),
        last_updated: date.into(),
    };
    let edit = |id: &str, v: u64| EditQuickAnswerRequest {
        article_id: id.into(),
        expected_version: v,
        command_id: cid(),
        reason: "content".into(),
        quick_answer: format!("Changed at {v}."),
    };
    // A: v2 re-dated with nothing new (stale); v3 edit; v4 re-date (fine);
    // v5 review; v6 re-date (stale: a review is not content).
    articles
        .redate_article(redate(&a, 1, "2026-02-01"))
        .await
        .unwrap();
    articles.edit_quick_answer(edit(&a, 2)).await.unwrap();
    articles
        .redate_article(redate(&a, 3, "2026-03-01"))
        .await
        .unwrap();
    articles
        .review_article(ReviewArticleRequest {
            article_id: a.clone(),
            expected_version: 4,
            command_id: cid(),
            reason: "test".into(),
        })
        .await
        .unwrap();
    articles
        .redate_article(redate(&a, 5, "2026-04-01"))
        .await
        .unwrap();
    // B: an edit, then a re-date (fine).
    articles.edit_quick_answer(edit(&b, 1)).await.unwrap();
    articles
        .redate_article(redate(&b, 2, "2026-02-15"))
        .await
        .unwrap();

    let mut audit = server.audit().await;
    let report = audit
        .get_freshness_report(GetFreshnessReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    let found: Vec<_> = report
        .redates
        .iter()
        .map(|r| {
            let rev = r.revision.as_ref().unwrap();
            (
                r.article_id.clone(),
                rev.version,
                r.previous_last_updated.clone(),
                rev.last_updated.clone(),
                r.dated_version,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                a.clone(),
                2,
                "2026-01-01".to_owned(),
                "2026-02-01".to_owned(),
                1
            ),
            (
                a.clone(),
                6,
                "2026-03-01".to_owned(),
                "2026-04-01".to_owned(),
                4
            ),
        ]
    );
    let only_b = audit
        .get_freshness_report(GetFreshnessReportRequest {
            article_id: b.clone(),
            page_token: String::new(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(only_b.redates.is_empty());
    let cli = server.cli(&["audit", "freshness", "--json"]).await;
    assert!(cli.success, "{}", cli.stderr);
    let json: serde_json::Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(json["redates"].as_array().unwrap().len(), 2);
    server.stop().await;
}
