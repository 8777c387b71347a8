//! Every version of an article after 100 random edits of every kind,
//! reverts included, read back as of its version and as of a time, against
//! a model of the article kept here, independently of the server's domain.

use answerlog::pb::{
    get_answer_request, inspect_answer_request, list_revisions_request, AddSectionRequest,
    AddSourceRequest, Answer, ArticleDraft, ArticleStatus, ChangeSlugRequest, CreateArticleRequest,
    EditQuestionRequest, EditQuickAnswerRequest, EditSectionRequest, EditSourceRequest,
    GetAnswerRequest, InspectAnswerRequest, ListRevisionsRequest, MoveSectionRequest,
    RedateArticleRequest, RemoveSectionRequest, RemoveSourceRequest, ReplaceKeyFactsRequest,
    RestoreArticleRequest, RetractArticleRequest, RevertArticleRequest, ReviewArticleRequest,
    SectionDraft, Source,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::backend_tests;
use crate::support::{cid, Backend, TestServer};

backend_tests!(every_version_reads_back_as_of_version_and_time);

/// What the test expects an article to hold.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    slug: String,
    question: String,
    quick_answer: String,
    key_facts: Vec<String>,
    /// (id, heading, body)
    sections: Vec<(String, String, String)>,
    /// (id, title, publisher, url, license, accessed_on)
    sources: Vec<[String; 6]>,
    last_updated: String,
    reviewed_by: String,
    /// The version whose commit made the standing review.
    reviewed_version: u64,
    status: i32,
}

impl Model {
    fn of(a: &Answer) -> Self {
        Self {
            slug: a.slug.clone(),
            question: a.question.clone(),
            quick_answer: a.quick_answer.clone(),
            key_facts: a.key_facts.clone(),
            sections: a
                .sections
                .iter()
                .map(|s| (s.id.clone(), s.heading.clone(), s.body.clone()))
                .collect(),
            sources: a
                .sources
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.title.clone(),
                        s.publisher.clone(),
                        s.url.clone(),
                        s.license.clone(),
                        s.accessed_on.clone(),
                    ]
                })
                .collect(),
            last_updated: a.last_updated.clone(),
            reviewed_by: a
                .provenance
                .as_ref()
                .map(|p| p.reviewed_by.clone())
                .unwrap_or_default(),
            reviewed_version: a.provenance.as_ref().map_or(0, |p| p.reviewed_version),
            status: a.status,
        }
    }
}

fn word(rng: &mut StdRng) -> String {
    const WORDS: [&str; 8] = [
        "myositis", "muscle", "immune", "gene", "trigger", "rash", "child", "rare",
    ];
    WORDS[rng.random_range(0..WORDS.len())].to_owned()
}

fn text(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

fn date(rng: &mut StdRng) -> String {
    format!(
        "2025-{:02}-{:02}",
        rng.random_range(1..=12),
        rng.random_range(1..=28)
    )
}

async fn every_version_reads_back_as_of_version_and_time(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut articles = server.articles().await;
    let mut rng = StdRng::seed_from_u64(20261125);

    let created = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "start".into(),
            article: Some(ArticleDraft {
                question: "What causes muscle weakness".into(),
                quick_answer: "Many things.".into(),
                key_facts: vec!["one".into()],
                sections: vec![
                    SectionDraft {
                        heading: "A".into(),
                        body: "a".into(),
                    },
                    SectionDraft {
                        heading: "B".into(),
                        body: "b".into(),
                    },
                ],
                sources: vec![Source {
                    title: "T".into(),
                    publisher: "P".into(),
                    license: "cc-by".into(),
                    ..Source::default()
                }],
                last_updated: "2025-01-01".into(),
                ..ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let id = created.article_id.clone();
    let mut models = vec![Model::of(&server.get(&id).await)];
    let mut slugs = vec![models[0].slug.clone()];

    let retracted = ArticleStatus::Retracted as i32;
    let mut step = 0;
    // 100 edits after the creation, of kinds drawn at random; a retraction
    // is always followed by a restore.
    while models.len() < 101 || models.last().unwrap().status == retracted {
        step += 1;
        let version = models.len() as u64;
        let mut next = models.last().unwrap().clone();
        let common = (id.clone(), version, cid(), format!("step {step}"));
        let kind = if next.status == retracted {
            16
        } else {
            rng.random_range(0..16)
        };
        // Every step but a review, a retraction and a restoration changes
        // content, which ends a standing review.
        let mut keeps_review = matches!(kind, 15 | 16);
        let result = match kind {
            0 => {
                next.question = format!("What about {} {step}", text(&mut rng, 3));
                articles
                    .edit_question(EditQuestionRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        question: next.question.clone(),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            1 => {
                let slug = format!("muscle-{}-{step}", word(&mut rng));
                next.slug = slug.clone();
                slugs.push(slug.clone());
                articles
                    .change_slug(ChangeSlugRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        slug,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            2 => {
                next.quick_answer =
                    format!("{}\n\n{} {step}", text(&mut rng, 5), text(&mut rng, 4));
                articles
                    .edit_quick_answer(EditQuickAnswerRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        quick_answer: next.quick_answer.clone(),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            3 => {
                next.key_facts = (0..rng.random_range(0..4))
                    .map(|_| text(&mut rng, 3))
                    .chain([format!("fact {step}")])
                    .collect();
                articles
                    .replace_key_facts(ReplaceKeyFactsRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        key_facts: next.key_facts.clone(),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            4 | 5 => {
                let heading = text(&mut rng, 2);
                let body = text(&mut rng, 6);
                let after = if next.sections.is_empty() || rng.random_bool(0.3) {
                    String::new()
                } else {
                    next.sections[rng.random_range(0..next.sections.len())]
                        .0
                        .clone()
                };
                let at = if after.is_empty() {
                    0
                } else {
                    next.sections.iter().position(|s| s.0 == after).unwrap() + 1
                };
                next.sections
                    .insert(at, ("?".into(), heading.clone(), body.clone()));
                articles
                    .add_section(AddSectionRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        section: Some(SectionDraft { heading, body }),
                        after_section_id: after,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            6 | 7 if !next.sections.is_empty() => {
                let i = rng.random_range(0..next.sections.len());
                let body = format!("{} {step}", text(&mut rng, 8));
                let heading = rng.random_bool(0.5).then(|| text(&mut rng, 2));
                next.sections[i].2 = body.clone();
                if let Some(h) = &heading {
                    next.sections[i].1 = h.clone();
                }
                articles
                    .edit_section(EditSectionRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        section_id: next.sections[i].0.clone(),
                        heading,
                        body: Some(body),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            8 if next.sections.len() > 1 => {
                let i = rng.random_range(0..next.sections.len());
                let removed = next.sections.remove(i);
                articles
                    .remove_section(RemoveSectionRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        section_id: removed.0,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            9 if next.sections.len() > 1 => {
                let i = rng.random_range(0..next.sections.len());
                let moving = next.sections.remove(i);
                let j = rng.random_range(0..=next.sections.len());
                let after = if j == 0 {
                    String::new()
                } else {
                    next.sections[j - 1].0.clone()
                };
                next.sections.insert(j, moving.clone());
                if next.sections == models.last().unwrap().sections {
                    continue; // a move to where it was writes nothing
                }
                articles
                    .move_section(MoveSectionRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        section_id: moving.0,
                        after_section_id: after,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            10 => {
                let source = Source {
                    title: text(&mut rng, 3),
                    publisher: word(&mut rng),
                    url: format!("https://example.org/{}", word(&mut rng)),
                    license: "cc-by".into(),
                    accessed_on: date(&mut rng),
                    ..Source::default()
                };
                next.sources.push([
                    "?".into(),
                    source.title.clone(),
                    source.publisher.clone(),
                    source.url.clone(),
                    source.license.clone(),
                    source.accessed_on.clone(),
                ]);
                articles
                    .add_source(AddSourceRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        source: Some(source),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            11 if !next.sources.is_empty() => {
                let i = rng.random_range(0..next.sources.len());
                let title = format!("{} {step}", text(&mut rng, 4));
                next.sources[i][1] = title.clone();
                next.sources[i][3] = String::new();
                let s = &next.sources[i];
                let source = Source {
                    id: s[0].clone(),
                    title,
                    publisher: s[2].clone(),
                    url: String::new(),
                    license: s[4].clone(),
                    accessed_on: s[5].clone(),
                };
                articles
                    .edit_source(EditSourceRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        source: Some(source),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            12 if !next.sources.is_empty() => {
                let i = rng.random_range(0..next.sources.len());
                let removed = next.sources.remove(i);
                articles
                    .remove_source(RemoveSourceRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        source_id: removed[0].clone(),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            13 => {
                let d = date(&mut rng);
                if d == next.last_updated {
                    continue;
                }
                next.last_updated = d.clone();
                if rng.random_bool(0.5) {
                    articles
                        .redate_article(RedateArticleRequest {
                            article_id: common.0,
                            expected_version: common.1,
                            command_id: common.2,
                            reason: common.3,
                            last_updated: d,
                        })
                        .await
                        .map(|r| r.into_inner().version)
                } else {
                    // The same principal again, on content it reviewed,
                    // writes nothing.
                    let again = next.reviewed_by == "anonymous";
                    keeps_review = true;
                    next.reviewed_by = "anonymous".into();
                    next.reviewed_version = version + 1;
                    next.last_updated = models.last().unwrap().last_updated.clone();
                    let reviewed = articles
                        .review_article(ReviewArticleRequest {
                            article_id: common.0,
                            expected_version: common.1,
                            command_id: common.2,
                            reason: common.3,
                        })
                        .await
                        .map(|r| r.into_inner().version);
                    if again {
                        assert_eq!(
                            reviewed.ok(),
                            Some(version),
                            "step {step}: a repeated review"
                        );
                        continue;
                    }
                    reviewed
                }
            }
            15 => {
                next.status = retracted;
                articles
                    .retract_article(RetractArticleRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            16 => {
                next.status = ArticleStatus::Published as i32;
                articles
                    .restore_article(RestoreArticleRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
            _ => {
                // Revert to a random earlier version (whose content differs).
                let to = rng.random_range(1..version);
                let mut target = models[to as usize - 1].clone();
                target.reviewed_by = next.reviewed_by.clone();
                target.reviewed_version = next.reviewed_version;
                target.status = next.status;
                if target == next {
                    continue;
                }
                next = target;
                articles
                    .revert_article(RevertArticleRequest {
                        article_id: common.0,
                        expected_version: common.1,
                        command_id: common.2,
                        reason: common.3,
                        to_version: to,
                        last_updated: String::new(),
                    })
                    .await
                    .map(|r| r.into_inner().version)
            }
        };
        if !keeps_review {
            next.reviewed_by.clear();
            next.reviewed_version = 0;
        }
        let new_version = result.unwrap_or_else(|s| panic!("step {step} (kind {kind}): {s:?}"));
        assert_eq!(new_version, version + 1, "step {step} (kind {kind})");
        // Learn the ids the server assigned to what this step added (a
        // retraction adds nothing, and hides the article from readers).
        if next.status == retracted {
            models.push(next);
            continue;
        }
        let actual = Model::of(&server.get(&id).await);
        for (i, s) in next.sections.iter_mut().enumerate() {
            if s.0 == "?" {
                assert!(
                    !actual.sections.is_empty(),
                    "step {step}: new sections are readable"
                );
                s.0 = actual.sections[i].0.clone();
            }
        }
        for (i, s) in next.sources.iter_mut().enumerate() {
            if s[0] == "?" {
                s[0] = actual.sources[i][0].clone();
            }
        }
        models.push(next);
    }
    assert!(
        models.len() > 80,
        "most steps wrote a version: {}",
        models.len()
    );

    // Every version, as of its version: readers get it unless the article
    // stood retracted then; auditors get it always.
    let mut answers = server.answers().await;
    let mut audit = server.audit().await;
    for (i, expected) in models.iter().enumerate() {
        let version = i as u64 + 1;
        let read = answers
            .get_answer(GetAnswerRequest {
                receipt: false,
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                as_of: Some(get_answer_request::AsOf::Version(version)),
                min_position: 0,
            })
            .await;
        let inspected = audit
            .inspect_answer(InspectAnswerRequest {
                receipt: false,
                r#ref: Some(inspect_answer_request::Ref::Id(id.clone())),
                as_of: Some(inspect_answer_request::AsOf::Version(version)),
                min_position: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let got = inspected.answer.unwrap();
        assert_eq!(got.version, version);
        assert_eq!(&Model::of(&got), expected, "version {version}");
        if expected.status == retracted {
            assert!(!inspected.served);
            assert_eq!(
                read.unwrap_err().code(),
                tonic::Code::NotFound,
                "version {version}"
            );
        } else {
            assert!(inspected.served);
            assert_eq!(
                &Model::of(&read.unwrap().into_inner().answer.unwrap()),
                expected
            );
        }
    }

    // As of a time between two commits: the earlier one.
    let revisions = server
        .audit()
        .await
        .list_revisions(ListRevisionsRequest {
            r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
            page_size: 1000,
            page_token: String::new(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    assert_eq!(revisions.len(), models.len());
    // Each revision shows the date its version displays, and pages of any
    // size (a date changed on a page's first version, or before it) agree.
    for r in &revisions {
        assert_eq!(
            r.last_updated,
            models[r.version as usize - 1].last_updated,
            "the date of version {}",
            r.version
        );
    }
    for page_size in [1, 3, 7] {
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let page = server
                .audit()
                .await
                .list_revisions(ListRevisionsRequest {
                    r#ref: Some(list_revisions_request::Ref::Id(id.clone())),
                    page_size,
                    page_token: token,
                    min_position: 0,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(page.revisions.len() <= page_size as usize);
            paged.extend(page.revisions);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(paged, revisions, "pages of {page_size}");
    }
    for pair in revisions.windows(2) {
        if models[pair[0].version as usize - 1].status == retracted {
            continue; // not served as of those instants; checked above
        }
        let (a, b) = (pair[0].recorded_at.unwrap(), pair[1].recorded_at.unwrap());
        let (a_us, b_us) = (micros(&a), micros(&b));
        assert!(a_us < b_us, "recorded_at strictly increases");
        for t in [a_us, a_us + (b_us - a_us) / 2, b_us - 1] {
            let got = answers
                .get_answer(GetAnswerRequest {
                    receipt: false,
                    r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                    as_of: Some(get_answer_request::AsOf::Time(prost_types::Timestamp {
                        seconds: t.div_euclid(1_000_000),
                        nanos: (t.rem_euclid(1_000_000) * 1000) as i32,
                    })),
                    min_position: 0,
                })
                .await
                .unwrap()
                .into_inner()
                .answer
                .unwrap();
            assert_eq!(got.version, pair[0].version, "as of {t} µs");
        }
    }
    // Old slugs still resolve.
    for slug in slugs {
        let got = answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Slug(slug.clone())),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("slug {slug}: {s:?}"))
            .into_inner()
            .answer
            .unwrap();
        assert_eq!(got.id, id);
    }
    server.stop().await;
}

fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1000
}
