//! Lists and audit reads: ListAnswers (paged, updated since), BatchGet,
//! GetRevision, DiffVersions, suggestions.

use answerlog::pb::*;

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(
    list_answers_pages_in_change_order_and_filters_by_time,
    batch_get_returns_found_answers_and_names_the_missing,
    get_revision_and_diff_show_what_changed,
    suggestions_are_recorded_and_listed,
);

async fn create(server: &TestServer, n: usize) -> CreateArticleResponse {
    server
        .articles()
        .await
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(ArticleDraft {
                question: format!("Question number {n}"),
                quick_answer: format!("Answer {n}."),
                last_updated: "2026-01-02".into(),
                sections: vec![SectionDraft {
                    heading: "Only".into(),
                    body: "one\ntwo\nthree".into(),
                }],
                ..ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn list_answers_pages_in_change_order_and_filters_by_time(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(create(&server, n).await);
    }
    // Changing the first moves it to the end of the change order.
    let edited = server
        .articles()
        .await
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: created[0].article_id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "test".into(),
            quick_answer: "Changed.".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut answers = server.answers().await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = answers
            .list_answers(ListAnswersRequest {
                page_size: 3,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.answers.into_iter().map(|a| (a.id, a.version)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(pages >= 3);
    let mut expected: Vec<_> = created[1..]
        .iter()
        .map(|c| (c.article_id.clone(), 1))
        .collect();
    expected.push((created[0].article_id.clone(), 2));
    assert_eq!(seen, expected);

    // updated_since the edit's time: only the edited article.
    let revision = server
        .audit()
        .await
        .get_revision(GetRevisionRequest {
            article_id: edited.article_id.clone(),
            version: 2,
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let since = revision.revision.unwrap().recorded_at;
    let page = answers
        .list_answers(ListAnswersRequest {
            updated_since: since,
            min_position: edited.global_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = page.answers.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, [edited.article_id]);
    assert!(page.next_page_token.is_empty());
    server.stop().await;
}

async fn batch_get_returns_found_answers_and_names_the_missing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = create(&server, 1).await;
    let b = create(&server, 2).await;
    let missing = "0190f4a2-7b1c-7cde-8f00-0123456789ab".to_owned();
    let response = server
        .answers()
        .await
        .batch_get_answers(BatchGetAnswersRequest {
            receipts: false,
            refs: vec![
                b.article_id.clone(),
                missing.clone(),
                "question-number-1".into(),
                "no-such-slug".into(),
            ],
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = response.answers.iter().map(|x| x.id.clone()).collect();
    assert_eq!(ids, [b.article_id, a.article_id]);
    assert_eq!(response.missing_refs, [missing, "no-such-slug".to_owned()]);
    server.stop().await;
}

async fn get_revision_and_diff_show_what_changed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = create(&server, 1).await;
    let answer = server.get(&a.article_id).await;
    let mut articles = server.articles().await;
    articles
        .edit_section(EditSectionRequest {
            article_id: a.article_id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "Fix line two".into(),
            section_id: answer.sections[0].id.clone(),
            heading: Some("Renamed".into()),
            body: Some("one\n2\nthree".into()),
        })
        .await
        .unwrap();
    articles
        .add_section(AddSectionRequest {
            article_id: a.article_id.clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "More".into(),
            section: Some(SectionDraft {
                heading: "Second".into(),
                body: "new".into(),
            }),
            after_section_id: String::new(),
        })
        .await
        .unwrap();

    let mut audit = server.audit().await;
    let revision = audit
        .get_revision(GetRevisionRequest {
            article_id: a.article_id.clone(),
            version: 2,
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let envelope = revision.revision.unwrap();
    assert_eq!(envelope.version, 2);
    assert_eq!(envelope.actor, "anonymous");
    assert_eq!(envelope.reason, "Fix line two");
    assert_eq!(envelope.event_kinds, ["SectionEdited"]);
    assert_eq!(revision.events.len(), 1);
    let Some(event::Payload::SectionEdited(edit)) = &revision.events[0].payload else {
        panic!("{:?}", revision.events);
    };
    assert_eq!(edit.heading, "Renamed");

    let diff = audit
        .diff_versions(DiffVersionsRequest {
            article_id: a.article_id.clone(),
            from_version: 1,
            to_version: 3,
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(diff.fields.is_empty(), "{:?}", diff.fields);
    assert_eq!(diff.sections.len(), 2);
    let added = &diff.sections[0];
    assert_eq!(added.change, ChangeKind::Added as i32);
    assert_eq!(
        (
            added.new_heading.as_str(),
            added.old_position,
            added.new_position
        ),
        ("Second", -1, 0)
    );
    let modified = &diff.sections[1];
    assert_eq!(modified.change, ChangeKind::Modified as i32);
    assert_eq!(modified.old_heading, "Only");
    assert!(
        modified.body_diff.contains("-two\n+2\n"),
        "{}",
        modified.body_diff
    );

    let status = audit
        .diff_versions(DiffVersionsRequest {
            article_id: a.article_id.clone(),
            from_version: 1,
            to_version: 9,
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(
        status.message().contains("to_version"),
        "{}",
        status.message()
    );
    server.stop().await;
}

async fn suggestions_are_recorded_and_listed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = create(&server, 1).await;
    let mut suggestions = server.suggestions().await;
    let first = suggestions
        .suggest_question(SuggestQuestionRequest {
            question: "Is JM hereditary?".into(),
            article_id: a.article_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    suggestions
        .suggest_question(SuggestQuestionRequest {
            question: "How is JM treated?".into(),
            article_id: String::new(),
        })
        .await
        .unwrap();
    let status = suggestions
        .suggest_question(SuggestQuestionRequest {
            question: "  ".into(),
            article_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("question"));

    let page = suggestions
        .list_suggestions(ListSuggestionsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.suggestions.len(), 1);
    assert_eq!(page.suggestions[0].id, first.suggestion_id);
    assert_eq!(page.suggestions[0].article_id, a.article_id);
    assert_eq!(page.suggestions[0].status, "open");
    let rest = suggestions
        .list_suggestions(ListSuggestionsRequest {
            page_size: 10,
            page_token: page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.suggestions.len(), 1);
    assert_eq!(rest.suggestions[0].question, "How is JM treated?");
    assert!(rest.next_page_token.is_empty());
    server.stop().await;
}
