//! Given events, when a command, then events or an error: every command and
//! every rejection.

use chrono::NaiveDate;
use uuid::Uuid;

use super::*;

fn id() -> ArticleId {
    ArticleId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 4).unwrap()
}

fn draft() -> ArticleDraft {
    ArticleDraft {
        slug: String::new(),
        question: "What causes jmt".into(),
        quick_answer: "JMT, or Juvenile Myositis, is ...".into(),
        key_facts: vec!["Rare".into(), "Autoimmune".into()],
        sections: vec![
            SectionDraft {
                heading: "What is JMT?".into(),
                body: "A group of diseases.".into(),
            },
            SectionDraft {
                heading: "Genetic Factors".into(),
                body: "HLA genes.".into(),
            },
        ],
        sources: vec![SourceDraft {
            title: "Juvenile myositis".into(),
            publisher: "Mayo Clinic".into(),
            license: "fair-use".into(),
            ..SourceDraft::default()
        }],
        last_updated: "2026-04-04".into(),
        provenance: Provenance {
            ai_assisted: true,
            generator: "gen-1".into(),
            reviewed_by: String::new(),
        },
        reviewed_version: 0,
        disclaimer: "As is.".into(),
    }
}

struct Scenario {
    state: Option<Article>,
    limits: Limits,
    reason: String,
    /// Off in most scenarios, which are about other rules.
    reason_required: bool,
    /// An imported command's origin claims.
    origin: Option<OriginClaims>,
}

/// Given these commits (each a list of events), in order.
fn given(commits: Vec<Vec<Event>>) -> Scenario {
    let mut state = None;
    for (i, events) in commits.iter().enumerate() {
        state = Article::fold(state, id(), i as u64 + 1, events);
        assert!(
            state.is_some(),
            "the given history must start with a creation"
        );
    }
    Scenario {
        state,
        limits: Limits::default(),
        reason: String::new(),
        reason_required: false,
        origin: None,
    }
}

fn created() -> Vec<Event> {
    given(vec![])
        .when(Command::CreateArticle {
            id: id(),
            draft: draft(),
        })
        .unwrap()
}

impl Scenario {
    fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.into();
        self
    }

    fn claiming(mut self, origin: OriginClaims) -> Self {
        self.origin = Some(origin);
        self
    }

    fn requiring_reasons(mut self) -> Self {
        self.reason_required = true;
        self
    }

    fn when(&self, command: Command) -> Result<Vec<Event>, DomainError> {
        let ctx = Context {
            limits: &self.limits,
            today: today(),
            actor: "alice",
            reason: &self.reason,
            reason_required: self.reason_required,
            origin: self.origin.as_ref(),
        };
        decide(self.state.as_ref(), &command, &ctx)
    }

    fn then_state(&self, command: Command) -> Article {
        let events = self.when(command).expect("accepted");
        let state = self.state.clone().unwrap();
        let version = state.version + 1;
        Article::fold(Some(state), id(), version, &events).unwrap()
    }
}

fn invalid_field(result: Result<Vec<Event>, DomainError>) -> Vec<String> {
    match result {
        Err(DomainError::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}

fn not_found_field(result: Result<Vec<Event>, DomainError>) -> String {
    match result {
        Err(DomainError::NotFound { field, .. }) => field,
        other => panic!("expected not found, got {other:?}"),
    }
}

// --- CreateArticle -------------------------------------------------------

#[test]
fn create_yields_one_event_with_ids_and_derived_slug() {
    let events = created();
    assert_eq!(events.len(), 1);
    let Event::ArticleCreated(c) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(c.slug, "what-causes-jmt");
    assert_eq!(c.sections[0].id, "s1");
    assert_eq!(c.sections[1].id, "s2");
    assert_eq!(c.sources[0].id, "src1");
    assert_eq!(c.last_updated, today());
    let article = Article::fold(None, id(), 1, &events).unwrap();
    assert_eq!(article.version, 1);
    assert_eq!(article.new_section_id(), "s3");
    assert_eq!(article.new_source_id(), "src2");
}

#[test]
fn create_rejects_every_malformed_field_at_once() {
    let mut d = draft();
    d.question = String::new();
    d.slug = "Bad Slug".into();
    d.quick_answer = "bell\u{7}".into();
    d.key_facts = vec![String::new()];
    d.sections[0].heading = "x".repeat(201);
    d.sources[0].url = "ftp://example.org".into();
    d.sources[0].accessed_on = "2026-02-30".into();
    d.last_updated = "2026-13-01".into();
    d.provenance.reviewed_by = "bob".into();
    d.reviewed_version = 3;
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert_eq!(
        fields,
        [
            "article.question",
            "article.slug",
            "article.quick_answer",
            "article.key_facts[0]",
            "article.sections[0].heading",
            "article.sources[0].url",
            "article.sources[0].accessed_on",
            "article.last_updated",
            "article.provenance.reviewed_by",
            "article.provenance.reviewed_version",
        ]
    );
}

#[test]
fn create_rejects_a_uuid_shaped_slug_and_an_underivable_one() {
    let mut d = draft();
    d.slug = "0190f4a2-7b1c-7cde-8f00-0123456789ab".into();
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert_eq!(fields, ["article.slug"]);
    let mut d = draft();
    d.question = "???".into();
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert_eq!(fields, ["article.slug"]);
}

#[test]
fn create_rejects_dates_after_tomorrow_and_sources_with_ids() {
    let mut d = draft();
    d.last_updated = "2026-04-06".into();
    d.sources[0].id = "src9".into();
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert_eq!(fields, ["article.sources[0].id", "article.last_updated"]);
}

#[test]
fn create_rejects_too_many_items_and_too_large_an_article() {
    let mut d = draft();
    d.key_facts = vec!["fact".into(); 51];
    d.sections = vec![SectionDraft::default(); 201];
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert!(fields.contains(&"article.key_facts".to_owned()));
    assert!(fields.contains(&"article.sections".to_owned()));

    let mut d = draft();
    d.sections = vec![
        SectionDraft {
            heading: "h".into(),
            body: "b".repeat(60 * 1024),
        };
        20
    ];
    let fields = invalid_field(given(vec![]).when(Command::CreateArticle { id: id(), draft: d }));
    assert_eq!(fields, ["article"]);
}

#[test]
fn create_of_an_existing_article_is_refused() {
    let result = given(vec![created()]).when(Command::CreateArticle {
        id: id(),
        draft: draft(),
    });
    assert_eq!(result, Err(DomainError::AlreadyExists));
}

#[test]
fn an_edit_of_a_missing_article_is_not_found() {
    let result = given(vec![]).when(Command::EditQuestion {
        question: "Q".into(),
    });
    assert_eq!(result, Err(DomainError::ArticleNotFound));
}

// --- simple field edits --------------------------------------------------

#[test]
fn edit_question() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::EditQuestion {
            question: "What causes JM?".into()
        }),
        Ok(vec![Event::QuestionEdited {
            question: "What causes JM?".into()
        }])
    );
    assert_eq!(
        g.when(Command::EditQuestion {
            question: "What causes jmt".into()
        }),
        Ok(vec![])
    );
    assert_eq!(
        invalid_field(g.when(Command::EditQuestion {
            question: "two\nlines".into()
        })),
        ["question"]
    );
}

#[test]
fn change_slug() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::ChangeSlug {
            slug: "juvenile-myositis".into()
        }),
        Ok(vec![Event::SlugChanged {
            slug: "juvenile-myositis".into()
        }])
    );
    assert_eq!(
        g.when(Command::ChangeSlug {
            slug: "what-causes-jmt".into()
        }),
        Ok(vec![])
    );
    assert_eq!(
        invalid_field(g.when(Command::ChangeSlug {
            slug: "-bad".into()
        })),
        ["slug"]
    );
}

#[test]
fn edit_quick_answer() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::EditQuickAnswer {
            quick_answer: "New.\n\nText.".into()
        }),
        Ok(vec![Event::QuickAnswerEdited {
            quick_answer: "New.\n\nText.".into()
        }])
    );
    assert_eq!(
        invalid_field(g.when(Command::EditQuickAnswer {
            quick_answer: "x".repeat(64 * 1024 + 1)
        })),
        ["quick_answer"]
    );
    assert_eq!(
        invalid_field(g.when(Command::EditQuickAnswer {
            quick_answer: " ".into()
        })),
        ["quick_answer"]
    );
}

#[test]
fn replace_key_facts() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::ReplaceKeyFacts {
            key_facts: vec!["One".into()]
        }),
        Ok(vec![Event::KeyFactsReplaced {
            key_facts: vec!["One".into()]
        }])
    );
    assert_eq!(
        g.when(Command::ReplaceKeyFacts {
            key_facts: vec!["Rare".into(), "Autoimmune".into()]
        }),
        Ok(vec![])
    );
    assert_eq!(
        invalid_field(g.when(Command::ReplaceKeyFacts {
            key_facts: vec!["ok".into(), "x".repeat(501)]
        })),
        ["key_facts[1]"]
    );
}

// --- sections ------------------------------------------------------------

#[test]
fn add_section_first_and_after_another() {
    let g = given(vec![created()]);
    let section = SectionDraft {
        heading: "Risk Factors".into(),
        body: "- genes".into(),
    };
    let state = g.then_state(Command::AddSection {
        section: section.clone(),
        after_section_id: String::new(),
    });
    assert_eq!(state.sections[0].id, "s3");
    let state = g.then_state(Command::AddSection {
        section,
        after_section_id: "s1".into(),
    });
    let ids: Vec<_> = state.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s3", "s2"]);
}

#[test]
fn add_section_rejections() {
    let g = given(vec![created()]);
    let result = g.when(Command::AddSection {
        section: SectionDraft {
            heading: "H".into(),
            body: String::new(),
        },
        after_section_id: "s99".into(),
    });
    assert_eq!(not_found_field(result), "after_section_id");
    let result = g.when(Command::AddSection {
        section: SectionDraft {
            heading: String::new(),
            body: "x".repeat(64 * 1024 + 1),
        },
        after_section_id: String::new(),
    });
    assert_eq!(invalid_field(result), ["section.heading", "section.body"]);
    let mut full = given(vec![created()]);
    full.limits.sections = 2;
    let result = full.when(Command::AddSection {
        section: SectionDraft {
            heading: "H".into(),
            body: String::new(),
        },
        after_section_id: String::new(),
    });
    assert_eq!(invalid_field(result), ["section"]);
}

#[test]
fn edit_section() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::EditSection {
            section_id: "s2".into(),
            heading: None,
            body: Some("HLA genes, and more.".into()),
        }),
        Ok(vec![Event::SectionEdited {
            section_id: "s2".into(),
            heading: "Genetic Factors".into(),
            body: "HLA genes, and more.".into(),
        }])
    );
    assert_eq!(
        g.when(Command::EditSection {
            section_id: "s2".into(),
            heading: Some("Genetic Factors".into()),
            body: None,
        }),
        Ok(vec![])
    );
    let result = g.when(Command::EditSection {
        section_id: "s7".into(),
        heading: Some("X".into()),
        body: None,
    });
    assert_eq!(not_found_field(result), "section_id");
    let result = g.when(Command::EditSection {
        section_id: "s1".into(),
        heading: Some(String::new()),
        body: None,
    });
    assert_eq!(invalid_field(result), ["heading"]);
}

#[test]
fn remove_section() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::RemoveSection {
            section_id: "s1".into()
        }),
        Ok(vec![Event::SectionRemoved {
            section_id: "s1".into()
        }])
    );
    let result = g.when(Command::RemoveSection {
        section_id: "nope".into(),
    });
    assert_eq!(not_found_field(result), "section_id");
    let result = g.when(Command::RemoveSection {
        section_id: String::new(),
    });
    assert_eq!(invalid_field(result), ["section_id"]);
}

#[test]
fn move_section() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::MoveSection {
            section_id: "s2".into(),
            after_section_id: String::new(),
        }),
        Ok(vec![Event::SectionMoved {
            section_id: "s2".into(),
            position: 0
        }])
    );
    let state = g.then_state(Command::MoveSection {
        section_id: "s1".into(),
        after_section_id: "s2".into(),
    });
    assert_eq!(state.sections[1].id, "s1");
    assert_eq!(
        g.when(Command::MoveSection {
            section_id: "s2".into(),
            after_section_id: "s1".into(),
        }),
        Ok(vec![])
    );
    let result = g.when(Command::MoveSection {
        section_id: "s1".into(),
        after_section_id: "s1".into(),
    });
    assert_eq!(invalid_field(result), ["after_section_id"]);
    let result = g.when(Command::MoveSection {
        section_id: "s1".into(),
        after_section_id: "s5".into(),
    });
    assert_eq!(not_found_field(result), "after_section_id");
}

// --- sources -------------------------------------------------------------

fn nord() -> SourceDraft {
    SourceDraft {
        title: "Juvenile Myositis".into(),
        publisher: "NORD".into(),
        url: "https://rarediseases.org/".into(),
        license: "fair-use".into(),
        accessed_on: "2026-04-01".into(),
        ..SourceDraft::default()
    }
}

#[test]
fn add_source() {
    let g = given(vec![created()]);
    let events = g.when(Command::AddSource { source: nord() }).unwrap();
    let [Event::SourceAdded { source, position }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((source.id.as_str(), *position), ("src2", 1));
    assert_eq!(source.accessed_on, NaiveDate::from_ymd_opt(2026, 4, 1));

    let mut bad = nord();
    bad.id = "src5".into();
    bad.url = "javascript:alert(1)".into();
    bad.title = String::new();
    let result = g.when(Command::AddSource { source: bad });
    assert_eq!(
        invalid_field(result),
        ["source.id", "source.title", "source.url"]
    );
}

#[test]
fn edit_source() {
    let g = given(vec![created()]);
    let mut edit = nord();
    edit.id = "src1".into();
    let events = g.when(Command::EditSource { source: edit }).unwrap();
    assert!(matches!(&events[..], [Event::SourceEdited { source }] if source.publisher == "NORD"));
    let same = SourceDraft {
        id: "src1".into(),
        title: "Juvenile myositis".into(),
        publisher: "Mayo Clinic".into(),
        license: "fair-use".into(),
        ..SourceDraft::default()
    };
    assert_eq!(g.when(Command::EditSource { source: same }), Ok(vec![]));
    let mut missing = nord();
    missing.id = "src8".into();
    assert_eq!(
        not_found_field(g.when(Command::EditSource { source: missing })),
        "source.id"
    );
}

#[test]
fn remove_source() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::RemoveSource {
            source_id: "src1".into()
        }),
        Ok(vec![Event::SourceRemoved {
            source_id: "src1".into()
        }])
    );
    assert_eq!(
        not_found_field(g.when(Command::RemoveSource {
            source_id: "src2".into()
        })),
        "source_id"
    );
}

// --- dates, review, retract, restore --------------------------------------

#[test]
fn redate() {
    let g = given(vec![created()]);
    assert_eq!(
        g.when(Command::RedateArticle {
            last_updated: "2026-04-05".into()
        }),
        Ok(vec![Event::ArticleRedated {
            last_updated: NaiveDate::from_ymd_opt(2026, 4, 5).unwrap()
        }])
    );
    assert_eq!(
        g.when(Command::RedateArticle {
            last_updated: "2026-04-04".into()
        }),
        Ok(vec![])
    );
    for bad in ["2026-04-06", "2026-02-29", "yesterday", ""] {
        assert_eq!(
            invalid_field(g.when(Command::RedateArticle {
                last_updated: bad.into()
            })),
            ["last_updated"],
            "{bad}"
        );
    }
}

#[test]
fn review_records_the_actor_and_the_version_it_covers() {
    let g = given(vec![created()]);
    let state = g.then_state(Command::ReviewArticle);
    assert_eq!(state.provenance.reviewed_by, "alice");
    assert_eq!(state.reviewed_version, 2);
}

fn reviewed_by(who: &str) -> Vec<Event> {
    vec![Event::ArticleReviewed {
        reviewed_by: who.into(),
    }]
}

#[test]
fn a_repeated_review_by_the_same_principal_writes_nothing() {
    let g = given(vec![created(), reviewed_by("alice")]);
    assert_eq!(g.when(Command::ReviewArticle), Ok(vec![]));
}

#[test]
fn a_review_by_another_principal_is_recorded() {
    let g = given(vec![created(), reviewed_by("bob")]);
    assert_eq!(g.when(Command::ReviewArticle), Ok(reviewed_by("alice")));
    let state = g.then_state(Command::ReviewArticle);
    assert_eq!(state.provenance.reviewed_by, "alice");
    assert_eq!(state.reviewed_version, 3);
}

#[test]
fn every_content_change_lapses_the_review_first() {
    let g = given(vec![created(), reviewed_by("bob")]);
    let lapsed = Event::ReviewLapsed {
        reviewed_by: "bob".into(),
        reviewed_version: 2,
    };
    let commands = [
        Command::EditQuestion {
            question: "What causes JM?".into(),
        },
        Command::ChangeSlug { slug: "jm".into() },
        Command::EditQuickAnswer {
            quick_answer: "Shorter.".into(),
        },
        Command::ReplaceKeyFacts {
            key_facts: vec!["One".into()],
        },
        Command::AddSection {
            section: SectionDraft {
                heading: "New".into(),
                body: String::new(),
            },
            after_section_id: String::new(),
        },
        Command::EditSection {
            section_id: "s1".into(),
            heading: None,
            body: Some("Edited.".into()),
        },
        Command::RemoveSection {
            section_id: "s1".into(),
        },
        Command::MoveSection {
            section_id: "s2".into(),
            after_section_id: String::new(),
        },
        Command::AddSource { source: nord() },
        Command::RemoveSource {
            source_id: "src1".into(),
        },
        Command::RedateArticle {
            last_updated: "2026-04-03".into(),
        },
    ];
    for command in commands {
        let events = g.when(command.clone()).expect("accepted");
        assert_eq!(events[0], lapsed, "{command:?}");
        assert!(events.len() > 1, "{command:?}");
        let state = g.then_state(command);
        assert_eq!(state.provenance.reviewed_by, "");
        assert_eq!(state.reviewed_version, 0);
    }
}

#[test]
fn retraction_restoration_and_unchanged_edits_keep_the_review() {
    let g = given(vec![created(), reviewed_by("bob")]).reason("wrong");
    assert_eq!(
        g.when(Command::RetractArticle),
        Ok(vec![Event::ArticleRetracted {
            reason: "wrong".into()
        }])
    );
    let g = given(vec![
        created(),
        reviewed_by("bob"),
        vec![Event::ArticleRetracted { reason: "x".into() }],
    ]);
    let restored = g.then_state(Command::RestoreArticle);
    assert_eq!(restored.provenance.reviewed_by, "bob");
    assert_eq!(restored.reviewed_version, 2);
    let g = given(vec![created(), reviewed_by("bob")]);
    let question = g.state.as_ref().unwrap().question.clone();
    assert_eq!(g.when(Command::EditQuestion { question }), Ok(vec![]));
}

#[test]
fn a_review_by_another_principal_in_between_is_recorded_again() {
    let g = given(vec![created(), reviewed_by("alice"), reviewed_by("bob")]);
    assert_eq!(g.when(Command::ReviewArticle), Ok(reviewed_by("alice")));
}

#[test]
fn a_review_carried_over_changes_by_an_older_version_does_not_stand() {
    // A log written before ReviewLapsed: the edit left the review in the
    // (hashed) provenance.
    let legacy = vec![
        created(),
        reviewed_by("alice"),
        vec![Event::QuestionEdited {
            question: "Edited after the review".into(),
        }],
    ];
    let g = given(legacy.clone());
    let state = g.state.clone().unwrap();
    assert_eq!(state.provenance.reviewed_by, "alice");
    assert!(state.review_stale);
    assert_eq!(state.standing_review(), None);
    // Its reviewer's new review is recorded, and stands.
    assert_eq!(g.when(Command::ReviewArticle), Ok(reviewed_by("alice")));
    let reviewed = g.then_state(Command::ReviewArticle);
    assert_eq!(reviewed.standing_review(), Some(("alice", 4)));
    // Any other command ends it first.
    let g = given(legacy).reason("wrong");
    assert_eq!(
        g.when(Command::RetractArticle),
        Ok(vec![
            Event::ReviewLapsed {
                reviewed_by: "alice".into(),
                reviewed_version: 2,
            },
            Event::ArticleRetracted {
                reason: "wrong".into()
            }
        ])
    );
    let retracted = g.then_state(Command::RetractArticle);
    assert_eq!(retracted.provenance.reviewed_by, "");
    assert!(!retracted.review_stale);
}

/// An imported command's claims end its commit; with no change besides,
/// the claim is the commit, which ends a stale review as any commit does
/// and leaves a standing one standing.
#[test]
fn origin_claims_end_the_commit_and_make_one_of_their_own() {
    let claims = OriginClaims {
        origin: "wiki.example.org/Jmt".into(),
        revision_id: "42".into(),
        actor: "Someone".into(),
        ..OriginClaims::default()
    };
    let claimed = Event::OriginClaimed(Box::new(claims.clone()));
    let edit = Command::EditQuestion {
        question: "Imported question".into(),
    };
    let g = given(vec![created()]).claiming(claims.clone());
    assert_eq!(
        g.when(edit.clone()),
        Ok(vec![
            Event::QuestionEdited {
                question: "Imported question".into()
            },
            claimed.clone()
        ])
    );
    let same = Command::EditQuestion {
        question: draft().question,
    };
    assert_eq!(g.when(same.clone()), Ok(vec![claimed.clone()]));
    // A review stands over a claim alone.
    let g = given(vec![created(), reviewed_by("alice")]).claiming(claims.clone());
    assert_eq!(g.when(same.clone()), Ok(vec![claimed.clone()]));
    assert_eq!(
        g.then_state(same.clone()).standing_review(),
        Some(("alice", 2))
    );
    // A stale one (a log written before ReviewLapsed) ends first.
    let legacy = vec![
        created(),
        reviewed_by("alice"),
        vec![Event::QuestionEdited {
            question: "Edited after the review".into(),
        }],
    ];
    let stale = Command::EditQuestion {
        question: "Edited after the review".into(),
    };
    assert_eq!(
        given(legacy).claiming(claims.clone()).when(stale),
        Ok(vec![
            Event::ReviewLapsed {
                reviewed_by: "alice".into(),
                reviewed_version: 2,
            },
            claimed
        ])
    );
    // Bad claims are refused by field, before anything is decided.
    let bad = OriginClaims {
        revision_id: String::new(),
        ..claims
    };
    match given(vec![created()]).claiming(bad).when(edit) {
        Err(DomainError::Invalid(v)) => assert_eq!(v[0].field, "origin.revision_id"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_review_followed_by_a_change_in_the_same_commit_does_not_stand() {
    let mut commit = reviewed_by("alice");
    commit.push(Event::QuestionEdited {
        question: "Changed after".into(),
    });
    let g = given(vec![created(), commit]);
    assert_eq!(g.state.unwrap().standing_review(), None);
    let mut commit = vec![Event::QuestionEdited {
        question: "Changed before".into(),
    }];
    commit.extend(reviewed_by("alice"));
    let g = given(vec![created(), commit]);
    assert_eq!(g.state.unwrap().standing_review(), Some(("alice", 2)));
}

#[test]
fn review_claims_are_checked_against_the_fold() {
    let commit = |version: u64, actor: &str, reviewed_by: &str, events: Vec<Event>| Commit {
        article_id: id(),
        version,
        global_position: version,
        recorded_at: chrono::DateTime::UNIX_EPOCH,
        actor: actor.into(),
        reason: String::new(),
        command_id: CommandId::from_uuid(Uuid::from_u128(u128::from(version))),
        provenance: Provenance {
            ai_assisted: true,
            generator: "gen-1".into(),
            reviewed_by: reviewed_by.into(),
        },
        request_hash: [0; 32],
        prev_hash: Vec::new(),
        hash: Vec::new(),
        events,
        salts: None,
        redactions: Vec::new(),
        answer_digest: None,
    };
    let v1 = Article::fold(None, id(), 1, &created()).unwrap();
    let check = |before: &Article, c: &Commit| {
        let after = Article::fold(Some(before.clone()), id(), c.version, &c.events).unwrap();
        check_review_claims(Some(before), c, &after)
    };
    assert_eq!(
        check(&v1, &commit(2, "alice", "alice", reviewed_by("alice"))),
        Ok(())
    );
    // A review in someone else's name.
    assert!(check(&v1, &commit(2, "mallory", "alice", reviewed_by("alice"))).is_err());
    // Provenance that is not the fold's.
    assert!(check(&v1, &commit(2, "alice", "bob", reviewed_by("alice"))).is_err());
    let v2 = Article::fold(Some(v1), id(), 2, &reviewed_by("alice")).unwrap();
    let lapse = |by: &str, version: u64| {
        vec![
            Event::ReviewLapsed {
                reviewed_by: by.into(),
                reviewed_version: version,
            },
            Event::QuestionEdited {
                question: "Q?".into(),
            },
        ]
    };
    assert_eq!(check(&v2, &commit(3, "wes", "", lapse("alice", 2))), Ok(()));
    // A lapse of a review that did not stand as it says.
    assert!(check(&v2, &commit(3, "wes", "", lapse("bob", 2))).is_err());
    assert!(check(&v2, &commit(3, "wes", "", lapse("alice", 1))).is_err());
}

#[test]
fn an_unreviewed_article_has_no_review_to_lapse() {
    let g = given(vec![created()]);
    let events = g
        .when(Command::EditQuestion {
            question: "Q?".into(),
        })
        .unwrap();
    assert_eq!(
        events,
        [Event::QuestionEdited {
            question: "Q?".into()
        }]
    );
}

#[test]
fn retract_needs_a_reason_and_blocks_writes_until_restored() {
    let g = given(vec![created()]);
    assert_eq!(invalid_field(g.when(Command::RetractArticle)), ["reason"]);
    let g = g.reason("wrong claims");
    assert_eq!(
        g.when(Command::RetractArticle),
        Ok(vec![Event::ArticleRetracted {
            reason: "wrong claims".into()
        }])
    );
    assert_eq!(
        g.when(Command::RestoreArticle),
        Err(DomainError::NotRetracted)
    );

    let retracted = given(vec![
        created(),
        vec![Event::ArticleRetracted { reason: "x".into() }],
    ]);
    assert_eq!(
        retracted.when(Command::EditQuestion {
            question: "Q".into()
        }),
        Err(DomainError::Retracted)
    );
    assert_eq!(
        retracted.when(Command::RetractArticle),
        Err(DomainError::Retracted)
    );
    let state = retracted.then_state(Command::RestoreArticle);
    assert_eq!(state.status, Status::Published);
}

#[test]
fn a_server_that_requires_reasons_refuses_every_write_without_one() {
    let g = given(vec![created()]).requiring_reasons();
    assert_eq!(invalid_field(g.when(Command::ReviewArticle)), ["reason"]);
    let g = given(vec![]).requiring_reasons();
    assert_eq!(
        invalid_field(g.when(Command::CreateArticle {
            id: id(),
            draft: draft(),
        })),
        ["reason"]
    );
    let g = given(vec![created()]).requiring_reasons().reason("Checked");
    assert!(g.when(Command::ReviewArticle).is_ok());
}

#[test]
fn reasons_are_checked() {
    let g = given(vec![created()]).reason("tab\tok but bell \u{7} is not");
    assert_eq!(
        invalid_field(g.when(Command::EditQuestion {
            question: "Q".into()
        })),
        ["reason"]
    );
    let g = given(vec![created()]).reason(&"r".repeat(501));
    assert_eq!(invalid_field(g.when(Command::ReviewArticle)), ["reason"]);
}

// --- revert ----------------------------------------------------------------

#[test]
fn revert_restores_the_content_of_an_old_version() {
    let v1 = created();
    let mut source = nord();
    source.id = String::new();
    let history = vec![
        v1,
        vec![Event::QuestionEdited {
            question: "What causes JM?".into(),
        }],
        vec![Event::SectionRemoved {
            section_id: "s1".into(),
        }],
        vec![Event::SectionAdded {
            section: Section {
                id: "s3".into(),
                heading: "New".into(),
                body: "n".into(),
            },
            position: 0,
        }],
        vec![
            Event::SourceRemoved {
                source_id: "src1".into(),
            },
            Event::ArticleRedated {
                last_updated: NaiveDate::from_ymd_opt(2026, 4, 5).unwrap(),
            },
            Event::SlugChanged { slug: "jm".into() },
        ],
        vec![Event::ArticleReviewed {
            reviewed_by: "bob".into(),
        }],
    ];
    let target = Article::fold(None, id(), 1, &history[0]).unwrap();
    let g = given(history);
    let current = g.state.clone().unwrap();
    let reverted = g.then_state(Command::RevertArticle {
        to_version: 1,
        target: Some(Box::new(target.clone())),
        last_updated: String::new(),
    });
    assert_eq!(reverted.question, target.question);
    assert_eq!(reverted.slug, target.slug);
    assert_eq!(reverted.sections, target.sections);
    assert_eq!(reverted.sources, target.sources);
    assert_eq!(reverted.last_updated, target.last_updated);
    // The review covered version 6's content, not the reverted one: it
    // lapses, and the revert claims no review of its own.
    assert_eq!(reverted.provenance.reviewed_by, "");
    assert_eq!(reverted.reviewed_version, 0);
    assert_eq!(reverted.next_section, current.next_section);

    let same = g.when(Command::RevertArticle {
        to_version: 6,
        target: Some(Box::new(current)),
        last_updated: String::new(),
    });
    assert_eq!(same, Ok(vec![]));
}

#[test]
fn revert_rejections() {
    let g = given(vec![created()]);
    let result = g.when(Command::RevertArticle {
        to_version: 0,
        target: None,
        last_updated: String::new(),
    });
    assert_eq!(invalid_field(result), ["to_version"]);
    let result = g.when(Command::RevertArticle {
        to_version: 2,
        target: None,
        last_updated: String::new(),
    });
    assert_eq!(invalid_field(result), ["to_version"]);
}

// --- diff -------------------------------------------------------------------

#[test]
fn diff_names_fields_sections_and_sources() {
    let g = given(vec![created()]);
    let old = g.state.clone().unwrap();
    let mut new = old.clone();
    new.quick_answer = "Changed.".into();
    new.sections.swap(0, 1);
    new.sections[1].body = "Edited.".into();
    new.sources.clear();
    let d = diff(&old, &new);
    assert_eq!(d.fields.len(), 1);
    assert_eq!(d.fields[0].field, "quick_answer");
    assert!(d.fields[0].line_diff.contains("+Changed."));
    let kinds: Vec<_> = d.sections.iter().map(|c| (c.id.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [("s2", ChangeKind::Moved), ("s1", ChangeKind::Modified)]
    );
    assert_eq!(d.sources[0].kind, ChangeKind::Removed);
}

// --- attribution and freshness ------------------------------------------------

fn commit_of(version: u64, actor: &str, events: Vec<Event>) -> Commit {
    Commit {
        article_id: id(),
        version,
        global_position: version,
        recorded_at: chrono::DateTime::from_timestamp(1_700_000_000 + version as i64, 0).unwrap(),
        actor: actor.into(),
        reason: format!("r{version}"),
        command_id: CommandId::from_uuid(Uuid::from_u128(u128::from(version))),
        provenance: Provenance::default(),
        request_hash: [0; 32],
        prev_hash: Vec::new(),
        hash: Vec::new(),
        events,
        salts: None,
        redactions: Vec::new(),
        answer_digest: None,
    }
}

#[test]
fn attribution_keeps_facts_that_stay_and_stamps_edits() {
    let commits = vec![
        commit_of(1, "a", created()),
        commit_of(
            2,
            "b",
            vec![Event::KeyFactsReplaced {
                key_facts: vec!["New".into(), "Rare".into()],
            }],
        ),
        commit_of(
            3,
            "c",
            vec![Event::SectionEdited {
                section_id: "s2".into(),
                heading: "Genes".into(),
                body: "b".into(),
            }],
        ),
    ];
    let out = attribute(&commits);
    let find = |e: &str| out.iter().find(|a| a.element == e).unwrap();
    assert_eq!(find("key_facts[0]").introduced.actor, "b");
    assert_eq!(find("key_facts[1]").label, "Rare");
    assert_eq!(find("key_facts[1]").introduced.actor, "a");
    assert_eq!(find("section:s2").last_changed.version, 3);
    assert_eq!(find("section:s2").label, "Genes");
    assert_eq!(find("section:s1").last_changed.version, 1);
}

#[test]
fn a_redate_is_stale_only_without_content_since_the_last_date() {
    let date = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
    let rev = |version: u64, kinds: &[&str], d: u32| Revision {
        version,
        global_position: version,
        recorded_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        actor: "x".into(),
        reason: String::new(),
        event_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        hash: Vec::new(),
        last_updated: date(d),
        origin: None,
    };
    let history = [
        rev(1, &["ArticleCreated"], 1),
        rev(2, &["ArticleRedated"], 2),
        rev(3, &["SlugChanged"], 2),
        rev(4, &["ArticleRedated"], 3),
        rev(5, &["SectionMoved"], 3),
        rev(6, &["ArticleRedated"], 4),
        rev(7, &["SourceEdited", "ArticleRedated"], 5),
    ];
    let stale: Vec<_> = stale_redates(&history)
        .iter()
        .map(|s| (s.revision.version, s.dated_version, s.previous_last_updated))
        .collect();
    assert_eq!(stale, [(2, 1, date(1)), (4, 2, date(2))]);
}

/// The date a commit sets is the one the fold leaves: the creation that
/// opens version 1, then each re-date; a creation later in a log (which
/// no command writes, but a restored log may hold) changes nothing.
#[test]
fn the_date_a_commit_sets_is_the_one_its_fold_leaves() {
    let date = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap();
    let redate = |d: u32| Event::ArticleRedated {
        last_updated: date(d),
    };
    let first = commit_of(1, "a", created());
    let mut log = vec![first.clone()];
    log.push(commit_of(2, "a", vec![redate(2), redate(3)]));
    log.push(commit_of(
        3,
        "a",
        vec![Event::QuestionEdited {
            question: "Why?".into(),
        }],
    ));
    // A creation past version 1, then at version 4 behind a re-date.
    log.push(commit_of(4, "a", created()));
    let mut late = created();
    late.insert(0, redate(9));
    log.push(commit_of(5, "a", late));
    let mut state: Option<Article> = None;
    let mut shown = None;
    for commit in &log {
        state = Article::fold(state, id(), commit.version, &commit.events);
        let folded = state.as_ref().unwrap().last_updated;
        shown = commit.date_set().or(shown);
        assert_eq!(shown, Some(folded), "version {}", commit.version);
    }
    assert_eq!(first.date_set(), Some(today()));
    assert_eq!(log[1].date_set(), Some(date(3)));
    assert_eq!(log[2].date_set(), None);
    assert_eq!(log[3].date_set(), None);
    assert_eq!(log[4].date_set(), Some(date(9)));
}

/// The created article's content as a revision, for `ReviseArticle`.
fn as_revision(article: &Article) -> ArticleRevision {
    ArticleRevision {
        question: article.question.clone(),
        quick_answer: article.quick_answer.clone(),
        key_facts: article.key_facts.clone(),
        sections: article
            .sections
            .iter()
            .map(|s| RevisedSection {
                id: s.id.clone(),
                heading: s.heading.clone(),
                body: s.body.clone(),
            })
            .collect(),
        last_updated: String::new(),
        sources: None,
    }
}

#[test]
fn a_revision_may_give_the_sources_too() {
    let g = given(vec![created()]);
    let current = g.state.clone().unwrap();
    let kept = &current.sources[0];
    let draft = |id: &str, title: &str, url: &str| SourceDraft {
        id: id.into(),
        title: title.into(),
        publisher: "Example".into(),
        url: url.into(),
        license: "CC BY 4.0".into(),
        accessed_on: String::new(),
    };
    // A new source before the first one, which is edited; the others go.
    let mut revision = as_revision(&current);
    revision.sources = Some(vec![
        draft("", "New", "https://example.org/new"),
        SourceDraft {
            title: "Renamed".into(),
            ..draft(&kept.id, "", &kept.url)
        },
    ]);
    let next = g.then_state(Command::ReviseArticle(Box::new(revision.clone())));
    let sources: Vec<(&str, &str)> = next
        .sources
        .iter()
        .map(|s| (s.id.as_str(), s.title.as_str()))
        .collect();
    let new_id = crate::domain::ids::source_id(current.next_source);
    assert_eq!(
        sources,
        [(new_id.as_str(), "New"), (kept.id.as_str(), "Renamed")]
    );
    // Each named once, each the article's, each checked by its index.
    revision.sources = Some(vec![
        draft("src99", "Gone", "https://example.org/"),
        draft(&kept.id, "Once", "https://example.org/"),
        draft(&kept.id, "Twice", "https://example.org/"),
        draft("", "", "ftp://example.org/"),
    ]);
    assert_eq!(
        invalid_field(g.when(Command::ReviseArticle(Box::new(revision)))),
        [
            "sources.sources[0].id",
            "sources.sources[2].id",
            "sources.sources[3].title",
            "sources.sources[3].url"
        ]
    );
}

#[test]
fn a_revision_is_one_commit_of_what_changed() {
    let g = given(vec![created()]);
    let current = g.state.clone().unwrap();
    // The same content: nothing to write.
    let same = as_revision(&current);
    assert_eq!(
        g.when(Command::ReviseArticle(Box::new(same.clone())))
            .unwrap(),
        []
    );

    // The quick answer edited, the first section removed, the second
    // edited and a new one before it, a new date: one commit.
    let mut revision = same;
    revision.quick_answer = "Shorter.".into();
    let second = revision.sections.remove(1);
    revision.sections = vec![
        RevisedSection {
            id: String::new(),
            heading: "Overview".into(),
            body: String::new(),
        },
        RevisedSection {
            body: "HLA genes, and more.".into(),
            ..second
        },
    ];
    revision.last_updated = "2026-04-05".into();
    let events = g
        .when(Command::ReviseArticle(Box::new(revision.clone())))
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        [
            "QuickAnswerEdited",
            "SectionRemoved",
            "SectionAdded",
            "SectionEdited",
            "ArticleRedated"
        ]
    );
    let next = g.then_state(Command::ReviseArticle(Box::new(revision)));
    assert_eq!(next.quick_answer, "Shorter.");
    let sections: Vec<(&str, &str, &str)> = next
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.heading.as_str(), s.body.as_str()))
        .collect();
    assert_eq!(
        sections,
        [
            ("s3", "Overview", ""),
            ("s2", "Genetic Factors", "HLA genes, and more.")
        ]
    );
    assert_eq!(next.sources, current.sources, "sources are kept");
    assert_eq!(next.slug, current.slug);
}

#[test]
fn a_revision_names_what_is_wrong() {
    let g = given(vec![created()]);
    let mut revision = as_revision(g.state.as_ref().unwrap());
    revision.quick_answer = " ".into();
    revision.sections[0].id = "s9".into();
    revision.sections[1].id = revision.sections[0].id.clone();
    revision.sections.push(RevisedSection {
        id: "s2".into(),
        heading: "Again".into(),
        body: String::new(),
    });
    revision.sections.push(RevisedSection {
        id: "s2".into(),
        heading: "Twice".into(),
        body: String::new(),
    });
    revision.last_updated = "2026-13-01".into();
    assert_eq!(
        invalid_field(g.when(Command::ReviseArticle(Box::new(revision)))),
        [
            "quick_answer",
            "last_updated",
            "sections[0].id",
            "sections[1].id",
            "sections[3].id"
        ]
    );
}

#[test]
fn a_revert_may_be_dated() {
    let v1 = created();
    let history = vec![
        v1.clone(),
        vec![Event::QuickAnswerEdited {
            quick_answer: "Vandalism".into(),
        }],
    ];
    let target = Article::fold(None, id(), 1, &v1).unwrap();
    let g = given(history);
    let reverted = g.then_state(Command::RevertArticle {
        to_version: 1,
        target: Some(Box::new(target.clone())),
        last_updated: "2026-04-05".into(),
    });
    assert_eq!(reverted.quick_answer, target.quick_answer);
    assert_eq!(
        reverted.last_updated,
        NaiveDate::from_ymd_opt(2026, 4, 5).unwrap()
    );
    let result = g.when(Command::RevertArticle {
        to_version: 1,
        target: Some(Box::new(target)),
        last_updated: "yesterday".into(),
    });
    assert_eq!(invalid_field(result), ["last_updated"]);
}

// --- ApplyChanges --------------------------------------------------------

fn section(heading: &str, body: &str) -> SectionDraft {
    SectionDraft {
        heading: heading.into(),
        body: body.into(),
    }
}

#[test]
fn apply_changes_makes_every_edit_in_order_as_one_commit() {
    let g = given(vec![created()]);
    // Both new sections go after s1: the later one lands first.
    let edits = vec![
        Command::EditQuestion {
            question: "What causes JMT?".into(),
        },
        Command::RemoveSource {
            source_id: "src1".into(),
        },
        Command::AddSource {
            source: SourceDraft {
                title: "Myositis".into(),
                publisher: "NIH".into(),
                license: "public-domain".into(),
                ..SourceDraft::default()
            },
        },
        Command::EditSection {
            section_id: "s2".into(),
            heading: None,
            body: Some("HLA genes, and more.".into()),
        },
        Command::MoveSection {
            section_id: "s2".into(),
            after_section_id: String::new(),
        },
        Command::AddSection {
            section: section("Treatment", "Steroids."),
            after_section_id: "s1".into(),
        },
        Command::AddSection {
            section: section("Outlook", "Good."),
            after_section_id: "s1".into(),
        },
    ];
    let events = g.when(Command::ApplyChanges(edits.clone())).unwrap();
    assert_eq!(events.len(), 7, "one event an edit: {events:?}");
    let after = g.then_state(Command::ApplyChanges(edits));
    assert_eq!(after.question, "What causes JMT?");
    let order: Vec<(&str, &str)> = after
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.heading.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("s2", "Genetic Factors"),
            ("s1", "What is JMT?"),
            ("s4", "Outlook"),
            ("s3", "Treatment"),
        ]
    );
    assert_eq!(after.sections[0].body, "HLA genes, and more.");
    let sources: Vec<(&str, &str)> = after
        .sources
        .iter()
        .map(|s| (s.id.as_str(), s.title.as_str()))
        .collect();
    assert_eq!(sources, [("src2", "Myositis")]);
}

#[test]
fn apply_changes_names_the_field_of_the_edit_that_is_wrong() {
    let g = given(vec![created()]);
    let wrong = vec![
        Command::EditQuickAnswer {
            quick_answer: "Fine.".into(),
        },
        Command::AddSection {
            section: section(" ", "x"),
            after_section_id: String::new(),
        },
    ];
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(wrong))),
        ["edits[1].add_section.section.heading"]
    );
    let missing = vec![Command::RemoveSection {
        section_id: "s9".into(),
    }];
    assert_eq!(
        not_found_field(g.when(Command::ApplyChanges(missing))),
        "edits[0].remove_section.section_id"
    );
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(Vec::new()))),
        ["edits"]
    );
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(vec![Command::ReviewArticle]))),
        ["edits[0]"]
    );
    let too_many = vec![
        Command::RedateArticle {
            last_updated: "2026-04-01".into(),
        };
        g.limits.apply_edits() + 1
    ];
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(too_many))),
        ["edits"]
    );
}

#[test]
fn apply_changes_changes_each_part_once() {
    let g = given(vec![created()]);
    let edit = |body: &str| Command::EditSection {
        section_id: "s1".into(),
        heading: None,
        body: Some(body.into()),
    };
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(vec![edit("a"), edit("b")]))),
        ["edits[1].edit_section"]
    );
    let remove_then_move = vec![
        Command::RemoveSection {
            section_id: "s1".into(),
        },
        Command::MoveSection {
            section_id: "s1".into(),
            after_section_id: "s2".into(),
        },
    ];
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(remove_then_move))),
        ["edits[1].move_section"]
    );
    // What an edit adds, no later edit names (s3 is the next section id).
    let add_then_edit = vec![
        Command::AddSection {
            section: section("New", "x"),
            after_section_id: String::new(),
        },
        Command::EditSection {
            section_id: "s3".into(),
            heading: None,
            body: Some("y".into()),
        },
    ];
    assert_eq!(
        invalid_field(g.when(Command::ApplyChanges(add_then_edit))),
        ["edits[1].edit_section"]
    );
    // A section may be moved and edited.
    let move_and_edit = vec![
        edit("moved"),
        Command::MoveSection {
            section_id: "s1".into(),
            after_section_id: "s2".into(),
        },
    ];
    let after = g.then_state(Command::ApplyChanges(move_and_edit));
    assert_eq!(after.sections[1].id, "s1");
    assert_eq!(after.sections[1].body, "moved");
}

#[test]
fn apply_changes_lapses_a_review_once_and_writes_nothing_when_nothing_changes() {
    let reviewed = vec![Event::ArticleReviewed {
        reviewed_by: "bob".into(),
    }];
    let g = given(vec![created(), reviewed]);
    let events = g
        .when(Command::ApplyChanges(vec![
            Command::EditQuestion {
                question: "Why JMT?".into(),
            },
            Command::EditQuickAnswer {
                quick_answer: "Because.".into(),
            },
        ]))
        .unwrap();
    let lapses = events
        .iter()
        .filter(|e| matches!(e, Event::ReviewLapsed { .. }))
        .count();
    assert_eq!((lapses, events.len()), (1, 3));
    let same = g
        .when(Command::ApplyChanges(vec![Command::EditQuestion {
            question: "What causes jmt".into(),
        }]))
        .unwrap();
    assert!(same.is_empty(), "{same:?}");
}
