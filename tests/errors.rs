//! A table of malformed and refused requests: each gets the status code
//! the design gives and a message naming the field, and changes nothing.

use std::future::Future;
use std::pin::Pin;

use answerlog::pb::*;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(
    malformed_requests_get_the_right_status_and_change_nothing,
    undecodable_and_oversized_requests_are_refused_and_change_nothing,
    statuses_about_huge_or_many_fields_fit_a_clients_header_limit,
    right_to_left_text_and_balanced_isolates_are_kept,
);

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

struct Case {
    name: &'static str,
    code: Code,
    field: &'static str,
    call: Call,
}

fn ok<T>(r: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    r.map(|_| ())
}

fn draft() -> ArticleDraft {
    ArticleDraft {
        question: "What is a fresh question".into(),
        quick_answer: "An answer.".into(),
        last_updated: "2026-01-02".into(),
        sources: vec![Source {
            title: "T".into(),
            publisher: "P".into(),
            license: "cc-by".into(),
            ..Source::default()
        }],
        ..ArticleDraft::default()
    }
}

async fn malformed_requests_get_the_right_status_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    let mut articles = server.articles().await;
    let answers = server.answers().await;

    // A second article, retracted.
    let other = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(ArticleDraft {
                slug: "retracted-one".into(),
                ..draft()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id;
    articles
        .retract_article(RetractArticleRequest {
            article_id: other.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "Wrong".into(),
        })
        .await
        .unwrap();

    let before = server.get(&id).await;
    let section = before.sections[0].id.clone();
    let a = || articles.clone();
    let r = || answers.clone();
    let create = |d: ArticleDraft| {
        let mut c = a();
        Box::pin(async move {
            ok(c.create_article(CreateArticleRequest {
                command_id: cid(),
                reason: "test".into(),
                article: Some(d),
            })
            .await)
        }) as Call
    };
    let head = |v: u64| (id.clone(), v, cid());
    macro_rules! edit {
        ($method:ident, $request:ident { $($field:ident: $value:expr),* $(,)? }) => {{
            let mut c = a();
            let (article_id, expected_version, command_id) = head(1);
            let request = $request {
                article_id,
                expected_version,
                command_id,
                reason: "test".into(),
                $($field: $value),*
            };
            Box::pin(async move { ok(c.$method(request).await) }) as Call
        }};
    }
    macro_rules! read {
        ($method:ident, $request:expr) => {{
            let mut c = r();
            let request = $request;
            Box::pin(async move { ok(c.$method(request).await) }) as Call
        }};
    }
    let by_id = |id: &str| Some(get_answer_request::Ref::Id(id.to_owned()));

    let cases = vec![
        Case {
            name: "empty question",
            code: Code::InvalidArgument,
            field: "article.question",
            call: create(ArticleDraft {
                question: String::new(),
                ..draft()
            }),
        },
        // Issue 14, item 22: text that displays other than it reads.
        Case {
            name: "right-to-left override in a question",
            code: Code::InvalidArgument,
            field: "article.question",
            call: create(ArticleDraft {
                question: "What is \u{202E}txt.exe".into(),
                ..draft()
            }),
        },
        Case {
            name: "unclosed isolate in a source title",
            code: Code::InvalidArgument,
            field: "article.sources[0].title",
            call: create(ArticleDraft {
                sources: vec![Source {
                    title: "Mayo \u{2067}קליניק".into(),
                    ..draft().sources[0].clone()
                }],
                ..draft()
            }),
        },
        Case {
            name: "left-to-right override in a reason",
            code: Code::InvalidArgument,
            field: "reason",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.edit_quick_answer(EditQuickAnswerRequest {
                        article_id: id,
                        expected_version: 1,
                        command_id: cid(),
                        reason: "Fix \u{202D}typo".into(),
                        quick_answer: "New text.".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "bad slug",
            code: Code::InvalidArgument,
            field: "article.slug",
            call: create(ArticleDraft {
                slug: "Not A Slug".into(),
                ..draft()
            }),
        },
        Case {
            name: "UUID-shaped slug",
            code: Code::InvalidArgument,
            field: "article.slug",
            call: create(ArticleDraft {
                slug: "0190f4a2-7b1c-7cde-8f00-0123456789ab".into(),
                ..draft()
            }),
        },
        Case {
            name: "impossible date",
            code: Code::InvalidArgument,
            field: "article.last_updated",
            call: create(ArticleDraft {
                last_updated: "2026-02-30".into(),
                ..draft()
            }),
        },
        Case {
            name: "date after tomorrow",
            code: Code::InvalidArgument,
            field: "article.last_updated",
            call: create(ArticleDraft {
                last_updated: "2999-01-01".into(),
                ..draft()
            }),
        },
        Case {
            name: "non-http URL",
            code: Code::InvalidArgument,
            field: "article.sources[0].url",
            call: create(ArticleDraft {
                sources: vec![Source {
                    url: "ftp://example.org/x".into(),
                    ..draft().sources[0].clone()
                }],
                ..draft()
            }),
        },
        Case {
            name: "control character",
            code: Code::InvalidArgument,
            field: "article.quick_answer",
            call: create(ArticleDraft {
                quick_answer: "bell \u{7}".into(),
                ..draft()
            }),
        },
        Case {
            name: "slug taken",
            code: Code::AlreadyExists,
            field: "slug",
            call: create(ArticleDraft {
                slug: "what-causes-jmt".into(),
                ..draft()
            }),
        },
        Case {
            name: "no article",
            code: Code::InvalidArgument,
            field: "article",
            call: {
                let mut c = a();
                Box::pin(async move {
                    ok(c.create_article(CreateArticleRequest {
                        command_id: cid(),
                        reason: "test".into(),
                        article: None,
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "unknown section",
            code: Code::NotFound,
            field: "section_id",
            call: edit!(
                edit_section,
                EditSectionRequest {
                    section_id: "s999".into(),
                    heading: None,
                    body: Some("x".into())
                }
            ),
        },
        Case {
            name: "body over the limit",
            code: Code::InvalidArgument,
            field: "body",
            call: edit!(
                edit_section,
                EditSectionRequest {
                    section_id: section.clone(),
                    heading: None,
                    body: Some("x".repeat(64 * 1024 + 1))
                }
            ),
        },
        Case {
            name: "empty question edit",
            code: Code::InvalidArgument,
            field: "question",
            call: edit!(
                edit_question,
                EditQuestionRequest {
                    question: String::new()
                }
            ),
        },
        Case {
            name: "two-line question",
            code: Code::InvalidArgument,
            field: "question",
            call: edit!(
                edit_question,
                EditQuestionRequest {
                    question: "one\ntwo".into()
                }
            ),
        },
        Case {
            name: "unknown article",
            code: Code::NotFound,
            field: "article_id",
            call: {
                let mut c = a();
                Box::pin(async move {
                    ok(c.edit_question(EditQuestionRequest {
                        article_id: "0190f4a2-7b1c-7cde-8f00-0123456789ab".into(),
                        expected_version: 1,
                        command_id: cid(),
                        reason: "test".into(),
                        question: "Q".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "malformed article id",
            code: Code::InvalidArgument,
            field: "article_id",
            call: {
                let mut c = a();
                Box::pin(async move {
                    ok(c.edit_question(EditQuestionRequest {
                        article_id: "not-an-id".into(),
                        expected_version: 1,
                        command_id: cid(),
                        reason: "test".into(),
                        question: "Q".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "no command id",
            code: Code::InvalidArgument,
            field: "command_id",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.edit_question(EditQuestionRequest {
                        article_id: id,
                        expected_version: 1,
                        command_id: String::new(),
                        reason: "test".into(),
                        question: "Q".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "expected version 0",
            code: Code::InvalidArgument,
            field: "expected_version",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.edit_question(EditQuestionRequest {
                        article_id: id,
                        expected_version: 0,
                        command_id: cid(),
                        reason: "test".into(),
                        question: "Q".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "ftp source",
            code: Code::InvalidArgument,
            field: "source.url",
            call: edit!(
                add_source,
                AddSourceRequest {
                    source: Some(Source {
                        url: "ftp://x.org/".into(),
                        ..draft().sources[0].clone()
                    })
                }
            ),
        },
        Case {
            name: "source with an id",
            code: Code::InvalidArgument,
            field: "source.id",
            call: edit!(
                add_source,
                AddSourceRequest {
                    source: Some(Source {
                        id: "src9".into(),
                        ..draft().sources[0].clone()
                    })
                }
            ),
        },
        Case {
            name: "impossible re-date",
            code: Code::InvalidArgument,
            field: "last_updated",
            call: edit!(
                redate_article,
                RedateArticleRequest {
                    last_updated: "2026-13-01".into()
                }
            ),
        },
        Case {
            name: "slug of another article",
            code: Code::AlreadyExists,
            field: "slug",
            call: edit!(
                change_slug,
                ChangeSlugRequest {
                    slug: "retracted-one".into()
                }
            ),
        },
        Case {
            name: "move after itself",
            code: Code::InvalidArgument,
            field: "after_section_id",
            call: edit!(
                move_section,
                MoveSectionRequest {
                    section_id: section.clone(),
                    after_section_id: section.clone()
                }
            ),
        },
        Case {
            name: "unknown source",
            code: Code::NotFound,
            field: "source_id",
            call: edit!(
                remove_source,
                RemoveSourceRequest {
                    source_id: "src99".into()
                }
            ),
        },
        Case {
            name: "revert to the future",
            code: Code::InvalidArgument,
            field: "to_version",
            call: edit!(
                revert_article,
                RevertArticleRequest {
                    to_version: 99,
                    last_updated: String::new()
                }
            ),
        },
        Case {
            name: "too many key facts",
            code: Code::InvalidArgument,
            field: "key_facts",
            call: edit!(
                replace_key_facts,
                ReplaceKeyFactsRequest {
                    key_facts: vec!["f".into(); 51]
                }
            ),
        },
        Case {
            name: "control character in reason",
            code: Code::InvalidArgument,
            field: "reason",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.edit_question(EditQuestionRequest {
                        article_id: id,
                        expected_version: 1,
                        command_id: cid(),
                        reason: "esc \u{1b}[31m".into(),
                        question: "Q".into(),
                    })
                    .await)
                }) as Call
            },
        },
        // Issue 14, item 16: auditors read why; by default every write says.
        Case {
            name: "edit without a reason",
            code: Code::InvalidArgument,
            field: "reason",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.edit_quick_answer(EditQuickAnswerRequest {
                        article_id: id,
                        expected_version: 1,
                        command_id: cid(),
                        reason: "  ".into(),
                        quick_answer: "Unexplained.".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "retract without a reason",
            code: Code::InvalidArgument,
            field: "reason",
            call: {
                let mut c = a();
                let id = id.clone();
                Box::pin(async move {
                    ok(c.retract_article(RetractArticleRequest {
                        article_id: id,
                        expected_version: 1,
                        command_id: cid(),
                        reason: String::new(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "restore a live article",
            code: Code::FailedPrecondition,
            field: "not retracted",
            call: edit!(restore_article, RestoreArticleRequest {}),
        },
        Case {
            name: "write to a retracted article",
            code: Code::FailedPrecondition,
            field: "retracted",
            call: {
                let mut c = a();
                let other = other.clone();
                Box::pin(async move {
                    ok(c.edit_quick_answer(EditQuickAnswerRequest {
                        article_id: other,
                        expected_version: 2,
                        command_id: cid(),
                        reason: "test".into(),
                        quick_answer: "New.".into(),
                    })
                    .await)
                }) as Call
            },
        },
        Case {
            name: "read a retracted article",
            code: Code::NotFound,
            field: "id",
            call: read!(
                get_answer,
                GetAnswerRequest {
                    r#ref: by_id(&other),
                    ..Default::default()
                }
            ),
        },
        Case {
            name: "UUID-shaped slug read",
            code: Code::InvalidArgument,
            field: "slug",
            call: read!(
                get_answer,
                GetAnswerRequest {
                    r#ref: Some(get_answer_request::Ref::Slug(
                        "0190f4a2-7b1c-7cde-8f00-0123456789ab".into()
                    )),
                    ..Default::default()
                }
            ),
        },
        Case {
            name: "no ref",
            code: Code::InvalidArgument,
            field: "ref",
            call: read!(get_answer, GetAnswerRequest::default()),
        },
        Case {
            name: "version 0",
            code: Code::InvalidArgument,
            field: "version",
            call: read!(
                get_answer,
                GetAnswerRequest {
                    receipt: false,
                    r#ref: by_id(&id),
                    as_of: Some(get_answer_request::AsOf::Version(0)),
                    min_position: 0
                }
            ),
        },
        Case {
            name: "version from the future",
            code: Code::NotFound,
            field: "version",
            call: read!(
                get_answer,
                GetAnswerRequest {
                    receipt: false,
                    r#ref: by_id(&id),
                    as_of: Some(get_answer_request::AsOf::Version(7)),
                    min_position: 0
                }
            ),
        },
        Case {
            name: "bad page token",
            code: Code::InvalidArgument,
            field: "page_token",
            call: read!(
                list_answers,
                ListAnswersRequest {
                    page_token: "forged".into(),
                    ..Default::default()
                }
            ),
        },
        Case {
            name: "negative page size",
            code: Code::InvalidArgument,
            field: "page_size",
            call: read!(
                list_answers,
                ListAnswersRequest {
                    page_size: -5,
                    ..Default::default()
                }
            ),
        },
        Case {
            name: "too many refs",
            code: Code::InvalidArgument,
            field: "refs",
            call: read!(
                batch_get_answers,
                BatchGetAnswersRequest {
                    receipts: false,
                    refs: vec!["what-causes-jmt".into(); 101],
                    min_position: 0
                }
            ),
        },
    ];
    assert!(cases.len() >= 20);

    for case in cases {
        let status = case.call.await.expect_err(case.name);
        assert_eq!(status.code(), case.code, "{}: {status:?}", case.name);
        assert!(
            status.message().contains(case.field),
            "{}: the message {:?} does not name {:?}",
            case.name,
            status.message(),
            case.field
        );
        if case.code == Code::InvalidArgument {
            let bad = status
                .get_details_bad_request()
                .unwrap_or_else(|| panic!("{}: no BadRequest detail", case.name));
            assert!(
                bad.field_violations
                    .iter()
                    .any(|v| v.field.starts_with(case.field)),
                "{}: {bad:?}",
                case.name
            );
        }
        let after = server.get(&id).await;
        assert_eq!(after, before, "{} changed the article", case.name);
    }
    server.stop().await;
}

async fn undecodable_and_oversized_requests_are_refused_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    let before = server.get(&id).await;

    // Field 1 (article_id) declared as a string 200 bytes long, with 3 bytes.
    for (name, bytes) in [
        ("truncated", vec![0x0a, 0xc8, 0x01, b'a', b'b', b'c']),
        ("invalid UTF-8 in a string", vec![0x0a, 0x02, 0xff, 0xfe]),
        ("a bad wire type", vec![0x0f, 0x01]),
    ] {
        let status = crate::support::raw_call(
            server.channel().await,
            "/answerlog.v1.ArticleService/EditQuickAnswer",
            bytes,
        )
        .await
        .expect_err(name);
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
    }

    // Over the 1 MiB request limit.
    let status = server
        .articles()
        .await
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "test".into(),
            quick_answer: "x".repeat(2 << 20),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert_eq!(server.get(&id).await, before);
    server.stop().await;
}

/// A status travels in response headers, which the generated client caps
/// at 16 KiB: an answer over the cap would reach it as an h2 protocol
/// error (INTERNAL) instead of the status. Huge values are quoted cut, and
/// a request with hundreds of bad fields lists the first 20 and counts the
/// rest.
async fn statuses_about_huge_or_many_fields_fit_a_clients_header_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    let before = server.get(&id).await;
    let mut articles = server.articles().await;
    let mut answers = server.answers().await;
    let huge = "x".repeat(900_000);

    let mut sections = draft();
    sections.sections = (0..200)
        .map(|_| SectionDraft {
            heading: "bell \u{7}".into(),
            body: "escape \u{1b}".into(),
        })
        .collect();
    let many = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            article: Some(sections),
            reason: "test".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(many.code(), Code::InvalidArgument, "{many:?}");
    assert!(
        many.message()
            .starts_with("article.sections[0].heading: contains the control character U+0007"),
        "{}",
        many.message()
    );
    assert!(
        many.message().ends_with("; and 380 more"),
        "{}",
        many.message()
    );
    let bad = many.get_details_bad_request().expect("a BadRequest");
    assert_eq!(bad.field_violations.len(), 20);
    assert_eq!(bad.field_violations[19].field, "article.sections[9].body");

    let command_id = articles
        .create_article(CreateArticleRequest {
            command_id: huge.clone(),
            article: Some(draft()),
            reason: "test".into(),
        })
        .await
        .unwrap_err();
    let redate = articles
        .redate_article(RedateArticleRequest {
            article_id: id.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "test".into(),
            last_updated: huge.clone(),
        })
        .await
        .unwrap_err();
    let article_id = answers
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(huge.clone())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let slug = answers
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug(format!(
                "a-{}",
                "b".repeat(900_000)
            ))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    for (name, status, field) in [
        ("command_id", command_id, "command_id"),
        ("last_updated", redate, "last_updated"),
        ("article id", article_id, "id"),
        ("slug", slug, "slug"),
    ] {
        assert!(
            matches!(status.code(), Code::InvalidArgument | Code::NotFound),
            "{name}: {status:?}"
        );
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{name}: {}",
            status.message()
        );
        assert!(
            status.message().contains("characters"),
            "{name}: the value is cut: {}",
            status.message()
        );
        assert!(status.message().len() < 500, "{name}: {}", status.message());
    }
    assert_eq!(server.get(&id).await, before);
    server.stop().await;
}

/// Issue 14, item 22: refusing the bidirectional overrides must not refuse
/// right-to-left writing. Hebrew, Arabic and mixed titles, and balanced
/// isolates, are stored and served as sent.
async fn right_to_left_text_and_balanced_isolates_are_kept(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut articles = server.articles().await;
    let question = "מה גורם למיוזיטיס של נעורים";
    let quick_answer = "التهاب العضلات عند الأطفال هو مرض مناعي ذاتي.";
    let title = "Juvenile myositis \u{2067}מיוזיטיס\u{2069} — \u{2067}التهاب العضلات\u{2069}";
    let created = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "ייבוא — استيراد".into(),
            article: Some(ArticleDraft {
                slug: "juvenile-myositis-he".into(),
                question: question.into(),
                quick_answer: quick_answer.into(),
                sources: vec![Source {
                    title: title.into(),
                    publisher: "מרפאת מאיו / مايو كلينك".into(),
                    ..draft().sources[0].clone()
                }],
                ..draft()
            }),
        })
        .await
        .expect("right-to-left text is accepted")
        .into_inner();
    let answer = server.get(&created.article_id).await;
    assert_eq!(answer.question, question);
    assert_eq!(answer.quick_answer, quick_answer);
    assert_eq!(answer.sources[0].title, title);
}
