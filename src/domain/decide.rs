//! `decide`: the business rules. State and command in; events, or the
//! reason why not, out. Time and ids come in through the arguments, so the
//! outcome depends on nothing else.

use chrono::NaiveDate;

use super::apply::applied;
use super::article::{Article, Section, Source, Status};
use super::command::{ArticleDraft, ArticleRevision, Command, SourceDraft};
use super::error::DomainError;
use super::event::{ArticleCreated, Event, OriginClaims};
use super::ids;
use super::limits::Limits;
use super::origin::check_origin_claims;
use super::review;
use super::validate::{derive_slug, quoted, Limit, Text, Violations};

/// What a decision may depend on besides state and command.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    pub limits: &'a Limits,
    /// Today's date (UTC), for "not after tomorrow".
    pub today: NaiveDate,
    /// Who is asking: the authenticated caller.
    pub actor: &'a str,
    /// The edit summary of the request.
    pub reason: &'a str,
    /// Whether every write must say why (configuration `require_reason`;
    /// a retraction always must).
    pub reason_required: bool,
    /// What another system's history says of the revision an imported
    /// command comes from: the commit ends with them (`OriginClaimed`),
    /// and is made even when the command changes nothing else, so that
    /// every revision of the source is accounted for.
    pub origin: Option<&'a OriginClaims>,
}

/// Decides what `command` does to `state` (`None`: no such article yet).
///
/// An empty list means the command changes nothing: nothing is written.
pub(crate) fn decide(
    state: Option<&Article>,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, DomainError> {
    let limits = ctx.limits;
    let mut v = Violations::default();
    let reason_rule = Text::line(limits.reason_chars);
    let reason_required = ctx.reason_required || matches!(command, Command::RetractArticle);
    v.text(
        "reason",
        ctx.reason,
        if reason_required {
            reason_rule
        } else {
            reason_rule.optional()
        },
    );

    if let Some(claims) = ctx.origin {
        check_origin_claims(claims)?;
    }
    let claimed = || {
        ctx.origin
            .map(|c| Event::OriginClaimed(Box::new(c.clone())))
    };

    if let Command::CreateArticle { id, draft } = command {
        if state.is_some() {
            return Err(DomainError::AlreadyExists);
        }
        let created = check_draft(draft, ctx, &mut v);
        finish(v)?;
        let event = Event::ArticleCreated(Box::new(created));
        let events: Vec<Event> = std::iter::once(event).chain(claimed()).collect();
        if let Some(article) = Article::fold(None, *id, 1, &events) {
            check_size(&article, limits)?;
        }
        return Ok(events);
    }

    let Some(article) = state else {
        return Err(DomainError::ArticleNotFound);
    };
    match (article.status, command) {
        (Status::Retracted, Command::RestoreArticle) => {}
        (Status::Retracted, _) => return Err(DomainError::Retracted),
        (Status::Published, Command::RestoreArticle) => return Err(DomainError::NotRetracted),
        (Status::Published, _) => {}
    }

    let mut events = decide_edit(article, command, ctx, &mut v)?;
    finish(v)?;
    events.extend(claimed());
    // A claim alone ends a stale review as any other commit does.
    if let Some(lapsed) = review::lapse(article, &events) {
        events.insert(0, lapsed);
    }
    if !events.is_empty() {
        let mut next = article.clone();
        for event in &events {
            next.apply(event);
        }
        check_size(&next, limits)?;
    }
    Ok(events)
}

pub(super) fn decide_edit(
    article: &Article,
    command: &Command,
    ctx: &Context<'_>,
    v: &mut Violations,
) -> Result<Vec<Event>, DomainError> {
    let limits = ctx.limits;
    let events = match command {
        Command::CreateArticle { .. } => return Err(DomainError::AlreadyExists),
        Command::EditQuestion { question } => {
            v.text("question", question, Text::line(limits.question_chars));
            unless_same(&article.question, question, || Event::QuestionEdited {
                question: question.clone(),
            })
        }
        Command::ChangeSlug { slug } => {
            v.slug("slug", slug);
            unless_same(&article.slug, slug, || Event::SlugChanged {
                slug: slug.clone(),
            })
        }
        // Its own slug names it already; whether another article holds the
        // slug is the store's to say, as for a slug change.
        Command::AddSlugAlias { slug } => {
            v.slug("slug", slug);
            unless_same(&article.slug, slug, || Event::SlugAliased {
                slug: slug.clone(),
            })
        }
        Command::EditQuickAnswer { quick_answer } => {
            v.text(
                "quick_answer",
                quick_answer,
                Text::block(Limit::Bytes(limits.body_bytes)),
            );
            unless_same(&article.quick_answer, quick_answer, || {
                Event::QuickAnswerEdited {
                    quick_answer: quick_answer.clone(),
                }
            })
        }
        Command::ReplaceKeyFacts { key_facts } => {
            check_key_facts("key_facts", key_facts, limits, v);
            unless_same(&article.key_facts, key_facts, || Event::KeyFactsReplaced {
                key_facts: key_facts.clone(),
            })
        }
        Command::AddSection {
            section,
            after_section_id,
        } => {
            v.text(
                "section.heading",
                &section.heading,
                Text::line(limits.heading_chars),
            );
            v.text(
                "section.body",
                &section.body,
                Text::block(Limit::Bytes(limits.body_bytes)).optional(),
            );
            if article.sections.len() >= limits.sections {
                v.push(
                    "section",
                    format!(
                        "the article has the maximum of {} sections",
                        limits.sections
                    ),
                );
            }
            if !v.is_empty() {
                return Ok(Vec::new());
            }
            let position = position_after(article, after_section_id, "after_section_id")?;
            vec![Event::SectionAdded {
                section: Section {
                    id: article.new_section_id(),
                    heading: section.heading.clone(),
                    body: section.body.clone(),
                },
                position: to_u32(position),
            }]
        }
        Command::EditSection {
            section_id,
            heading,
            body,
        } => {
            if let Some(heading) = heading {
                v.text("heading", heading, Text::line(limits.heading_chars));
            }
            if let Some(body) = body {
                v.text(
                    "body",
                    body,
                    Text::block(Limit::Bytes(limits.body_bytes)).optional(),
                );
            }
            if !v.is_empty() {
                return Ok(Vec::new());
            }
            let index = find_section(article, section_id, "section_id")?;
            let current = &article.sections[index];
            let heading = heading.as_ref().unwrap_or(&current.heading);
            let body = body.as_ref().unwrap_or(&current.body);
            if *heading == current.heading && *body == current.body {
                Vec::new()
            } else {
                vec![Event::SectionEdited {
                    section_id: current.id.clone(),
                    heading: heading.clone(),
                    body: body.clone(),
                }]
            }
        }
        Command::RemoveSection { section_id } => {
            let index = find_section(article, section_id, "section_id")?;
            vec![Event::SectionRemoved {
                section_id: article.sections[index].id.clone(),
            }]
        }
        Command::MoveSection {
            section_id,
            after_section_id,
        } => {
            let from = find_section(article, section_id, "section_id")?;
            if after_section_id == section_id {
                v.push("after_section_id", "must differ from section_id");
                return Ok(Vec::new());
            }
            let mut without = article.clone();
            without.sections.remove(from);
            let to = position_after(&without, after_section_id, "after_section_id")?;
            if to == from {
                Vec::new()
            } else {
                vec![Event::SectionMoved {
                    section_id: section_id.clone(),
                    position: to_u32(to),
                }]
            }
        }
        Command::AddSource { source } => {
            if !source.id.is_empty() {
                v.push("source.id", "is assigned by the server; leave it empty");
            }
            let checked = check_source("source", source, ctx, v);
            if article.sources.len() >= limits.sources {
                v.push(
                    "source",
                    format!("the article has the maximum of {} sources", limits.sources),
                );
            }
            vec![Event::SourceAdded {
                source: Source {
                    id: article.new_source_id(),
                    ..checked
                },
                position: to_u32(article.sources.len()),
            }]
        }
        Command::EditSource { source } => {
            let checked = check_source("source", source, ctx, v);
            if !v.is_empty() {
                return Ok(Vec::new());
            }
            let index = find_source(article, &source.id, "source.id")?;
            let edited = Source {
                id: article.sources[index].id.clone(),
                ..checked
            };
            unless_same(&article.sources[index], &edited, || Event::SourceEdited {
                source: edited.clone(),
            })
        }
        Command::RemoveSource { source_id } => {
            let index = find_source(article, source_id, "source_id")?;
            vec![Event::SourceRemoved {
                source_id: article.sources[index].id.clone(),
            }]
        }
        Command::RedateArticle { last_updated } => {
            match v.date("last_updated", last_updated, ctx.today) {
                Some(date) if date != article.last_updated => {
                    vec![Event::ArticleRedated { last_updated: date }]
                }
                _ => Vec::new(),
            }
        }
        // The principal whose review stands, reviewing again, says nothing
        // new; any other principal's review is recorded (and stands).
        Command::ReviewArticle
            if article
                .standing_review()
                .is_some_and(|(by, _)| by == ctx.actor) =>
        {
            Vec::new()
        }
        Command::ReviewArticle => vec![Event::ArticleReviewed {
            reviewed_by: ctx.actor.to_owned(),
        }],
        Command::RevertArticle {
            to_version,
            target,
            last_updated,
        } => {
            if *to_version == 0 || *to_version > article.version {
                v.push(
                    "to_version",
                    format!(
                        "must be between 1 and the current version {}",
                        article.version
                    ),
                );
                return Ok(Vec::new());
            }
            match target {
                Some(target) if target.version == *to_version && target.id == article.id => {
                    match last_updated.as_str() {
                        "" => revert(article, target),
                        given => match v.date("last_updated", given, ctx.today) {
                            Some(date) => {
                                let mut dated = (**target).clone();
                                dated.last_updated = date;
                                revert(article, &dated)
                            }
                            None => Vec::new(),
                        },
                    }
                }
                _ => {
                    v.push("to_version", "the state of that version was not given");
                    return Ok(Vec::new());
                }
            }
        }
        Command::ReviseArticle(revision) => match revised(article, revision, ctx, v) {
            Some(target) => revert(article, &target),
            None => Vec::new(),
        },
        Command::ApplyChanges(edits) => applied(article, edits, ctx, v)?,
        Command::RetractArticle => vec![Event::ArticleRetracted {
            reason: ctx.reason.to_owned(),
        }],
        Command::RestoreArticle => vec![Event::ArticleRestored {
            reason: ctx.reason.to_owned(),
        }],
    };
    Ok(events)
}

/// The article `revision` makes of `article`, its fields checked (`None`
/// when one is wrong, said in `v`): new sections get the next ids in
/// order; sources, status and the rest stay.
fn revised(
    article: &Article,
    revision: &ArticleRevision,
    ctx: &Context<'_>,
    v: &mut Violations,
) -> Option<Article> {
    let limits = ctx.limits;
    v.text(
        "question",
        &revision.question,
        Text::line(limits.question_chars),
    );
    check_content(
        "",
        &revision.quick_answer,
        &revision.key_facts,
        &revision
            .sections
            .iter()
            .map(|s| (s.heading.as_str(), s.body.as_str()))
            .collect::<Vec<_>>(),
        limits,
        v,
    );
    let last_updated = match revision.last_updated.as_str() {
        "" => Some(article.last_updated),
        given => v.date("last_updated", given, ctx.today),
    };
    let mut target = article.clone();
    let mut named = std::collections::HashSet::new();
    let mut next = article.next_section;
    target.sections = Vec::with_capacity(revision.sections.len());
    for (i, section) in revision.sections.iter().enumerate() {
        let id = if section.id.is_empty() {
            let id = ids::section_id(next);
            next += 1;
            id
        } else if article.section_index(&section.id).is_none() {
            v.push(
                format!("sections[{i}].id"),
                format!("the article has no section {}", quoted(&section.id)),
            );
            continue;
        } else if !named.insert(section.id.as_str()) {
            v.push(
                format!("sections[{i}].id"),
                format!("names section {} twice", quoted(&section.id)),
            );
            continue;
        } else {
            section.id.clone()
        };
        target.sections.push(Section {
            id,
            heading: section.heading.clone(),
            body: section.body.clone(),
        });
    }
    if let Some(sources) = &revision.sources {
        target.sources = revised_sources(article, sources, ctx, v);
    }
    if !v.is_empty() {
        return None;
    }
    target.question = revision.question.clone();
    target.quick_answer = revision.quick_answer.clone();
    target.key_facts = revision.key_facts.clone();
    target.last_updated = last_updated?;
    Some(target)
}

/// The bytes a source adds to an article's size bound (`content_problem`'s
/// `sources_bytes`): its text, an id of up to 12 bytes, and the framing of
/// its fields, as `Article::encoded_size_bound` counts them.
pub(crate) fn source_bytes(title: &str, publisher: &str, url: &str, license: &str) -> usize {
    12 + title.len() + publisher.len() + url.len() + license.len() + 8 * 16
}

/// What a source would be refused for, if anything (the first violation,
/// as `field: why`), under `limits`: for an importer, to leave out a
/// citation the server would not take.
pub(crate) fn source_problem(
    title: &str,
    publisher: &str,
    url: &str,
    license: &str,
    limits: &Limits,
) -> Option<String> {
    let mut v = Violations::default();
    let line = Text::line(limits.source_field_chars);
    v.text("title", title, line);
    v.text("publisher", publisher, line);
    v.text("license", license, line);
    v.url("url", url, limits.url_chars);
    v.into_inner()
        .into_iter()
        .next()
        .map(|first| format!("{}: {}", first.field, first.description))
}

/// The sources a revision gives, checked: each named one the article's,
/// once; new ones numbered on from the article's sequence.
fn revised_sources(
    article: &Article,
    sources: &[SourceDraft],
    ctx: &Context<'_>,
    v: &mut Violations,
) -> Vec<Source> {
    if sources.len() > ctx.limits.sources {
        v.push(
            "sources.sources",
            format!("an article has at most {} sources", ctx.limits.sources),
        );
    }
    let mut named = std::collections::HashSet::new();
    let mut next = article.next_source;
    let mut out = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        // As the request names it: ReviseArticleRequest.sources (a
        // SourceList) .sources[i].
        let field = format!("sources.sources[{i}]");
        let checked = check_source(&field, source, ctx, v);
        let id = if source.id.is_empty() {
            let id = ids::source_id(next);
            next += 1;
            id
        } else if article.source_index(&source.id).is_none() {
            v.push(
                format!("{field}.id"),
                format!("the article has no source {}", quoted(&source.id)),
            );
            continue;
        } else if !named.insert(source.id.as_str()) {
            v.push(
                format!("{field}.id"),
                format!("names source {} twice", quoted(&source.id)),
            );
            continue;
        } else {
            source.id.clone()
        };
        out.push(Source { id, ..checked });
    }
    out
}

/// What a whole page of content would be refused for, if anything (the
/// first violation, as `field: why`): the question, the quick answer, the
/// sections and the encoded size, as a creation or ReviseArticle checks
/// them under `limits`. For an importer, to skip a revision the server
/// would refuse rather than stop at it.
pub(crate) fn content_problem(
    question: &str,
    quick_answer: &str,
    key_facts: &[String],
    sections: &[(&str, &str)],
    sources_bytes: usize,
    limits: &Limits,
) -> Option<String> {
    let mut v = Violations::default();
    v.text("question", question, Text::line(limits.question_chars));
    check_content("", quick_answer, key_facts, sections, limits, &mut v);
    if let Some(first) = v.into_inner().into_iter().next() {
        return Some(format!("{}: {}", first.field, first.description));
    }
    const FIELD: usize = 16;
    let size = 128
        + 2 * question.len()
        + quick_answer.len()
        + key_facts.iter().map(|f| FIELD + f.len()).sum::<usize>()
        + sources_bytes
        + sections
            .iter()
            .map(|(heading, body)| 8 + heading.len() + body.len() + 4 * FIELD)
            .sum::<usize>();
    (size > limits.article_bytes).then(|| {
        format!(
            "article: the page would be about {size} bytes encoded, over the limit of {}",
            limits.article_bytes
        )
    })
}

/// The checks of a whole article's content, its fields named under
/// `prefix` (`article.` in a draft): the quick answer, the key facts, the
/// number of sections, and each section's `(heading, body)`.
fn check_content(
    prefix: &str,
    quick_answer: &str,
    key_facts: &[String],
    sections: &[(&str, &str)],
    limits: &Limits,
    v: &mut Violations,
) {
    v.text(
        &format!("{prefix}quick_answer"),
        quick_answer,
        Text::block(Limit::Bytes(limits.body_bytes)),
    );
    check_key_facts(&format!("{prefix}key_facts"), key_facts, limits, v);
    if sections.len() > limits.sections {
        v.push(
            format!("{prefix}sections"),
            format!(
                "has {} sections, over the limit of {}",
                sections.len(),
                limits.sections
            ),
        );
    }
    for (i, (heading, body)) in sections.iter().enumerate() {
        v.text(
            &format!("{prefix}sections[{i}].heading"),
            heading,
            Text::line(limits.heading_chars),
        );
        v.text(
            &format!("{prefix}sections[{i}].body"),
            body,
            Text::block(Limit::Bytes(limits.body_bytes)).optional(),
        );
    }
}

/// The events that turn `current` into `target`'s content.
///
/// Status and the reviewer are not content: a revert neither retracts nor
/// claims a review that did not happen.
fn revert(current: &Article, target: &Article) -> Vec<Event> {
    let mut events = Vec::new();
    let mut work = current.clone();
    let mut emit = |work: &mut Article, event: Event| {
        work.apply(&event);
        events.push(event);
    };
    if work.question != target.question {
        emit(
            &mut work,
            Event::QuestionEdited {
                question: target.question.clone(),
            },
        );
    }
    if work.slug != target.slug {
        emit(
            &mut work,
            Event::SlugChanged {
                slug: target.slug.clone(),
            },
        );
    }
    if work.quick_answer != target.quick_answer {
        emit(
            &mut work,
            Event::QuickAnswerEdited {
                quick_answer: target.quick_answer.clone(),
            },
        );
    }
    if work.key_facts != target.key_facts {
        emit(
            &mut work,
            Event::KeyFactsReplaced {
                key_facts: target.key_facts.clone(),
            },
        );
    }
    for section in current.sections.iter() {
        if target.section_index(&section.id).is_none() {
            emit(
                &mut work,
                Event::SectionRemoved {
                    section_id: section.id.clone(),
                },
            );
        }
    }
    for (position, wanted) in target.sections.iter().enumerate() {
        match work.section_index(&wanted.id) {
            Some(index) => {
                if index != position {
                    emit(
                        &mut work,
                        Event::SectionMoved {
                            section_id: wanted.id.clone(),
                            position: to_u32(position),
                        },
                    );
                }
                if work.sections[position] != *wanted {
                    emit(
                        &mut work,
                        Event::SectionEdited {
                            section_id: wanted.id.clone(),
                            heading: wanted.heading.clone(),
                            body: wanted.body.clone(),
                        },
                    );
                }
            }
            None => emit(
                &mut work,
                Event::SectionAdded {
                    section: wanted.clone(),
                    position: to_u32(position),
                },
            ),
        }
    }
    for source in current.sources.iter() {
        if target.source_index(&source.id).is_none() {
            emit(
                &mut work,
                Event::SourceRemoved {
                    source_id: source.id.clone(),
                },
            );
        }
    }
    for (position, wanted) in target.sources.iter().enumerate() {
        match work.source_index(&wanted.id) {
            Some(index) if index == position => {
                if work.sources[index] != *wanted {
                    emit(
                        &mut work,
                        Event::SourceEdited {
                            source: wanted.clone(),
                        },
                    );
                }
            }
            // Sources have no move: one out of place is removed and re-added.
            Some(_) => {
                emit(
                    &mut work,
                    Event::SourceRemoved {
                        source_id: wanted.id.clone(),
                    },
                );
                emit(
                    &mut work,
                    Event::SourceAdded {
                        source: wanted.clone(),
                        position: to_u32(position),
                    },
                );
            }
            None => emit(
                &mut work,
                Event::SourceAdded {
                    source: wanted.clone(),
                    position: to_u32(position),
                },
            ),
        }
    }
    if work.last_updated != target.last_updated {
        emit(
            &mut work,
            Event::ArticleRedated {
                last_updated: target.last_updated,
            },
        );
    }
    events
}

fn check_draft(draft: &ArticleDraft, ctx: &Context<'_>, v: &mut Violations) -> ArticleCreated {
    let limits = ctx.limits;
    v.text(
        "article.question",
        &draft.question,
        Text::line(limits.question_chars),
    );
    let slug = if draft.slug.is_empty() {
        let derived = derive_slug(&draft.question);
        if derived.is_empty() && !draft.question.trim().is_empty() {
            v.push(
                "article.slug",
                "cannot be derived from the question (no ASCII letters or digits); give one",
            );
        } else if !derived.is_empty() {
            v.slug("article.slug", &derived);
        }
        derived
    } else {
        v.slug("article.slug", &draft.slug);
        draft.slug.clone()
    };
    check_content(
        "article.",
        &draft.quick_answer,
        &draft.key_facts,
        &draft
            .sections
            .iter()
            .map(|s| (s.heading.as_str(), s.body.as_str()))
            .collect::<Vec<_>>(),
        limits,
        v,
    );
    let sections = draft
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| Section {
            id: ids::section_id(i as u64 + 1),
            heading: s.heading.clone(),
            body: s.body.clone(),
        })
        .collect();
    if draft.sources.len() > limits.sources {
        v.push(
            "article.sources",
            format!(
                "has {} sources, over the limit of {}",
                draft.sources.len(),
                limits.sources
            ),
        );
    }
    let sources = draft
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let field = format!("article.sources[{i}]");
            if !s.id.is_empty() {
                v.push(
                    format!("{field}.id"),
                    "is assigned by the server; leave it empty",
                );
            }
            Source {
                id: ids::source_id(i as u64 + 1),
                ..check_source(&field, s, ctx, v)
            }
        })
        .collect();
    let last_updated = v
        .date("article.last_updated", &draft.last_updated, ctx.today)
        .unwrap_or_default();
    v.text(
        "article.provenance.generator",
        &draft.provenance.generator,
        Text::line(limits.source_field_chars).optional(),
    );
    if !draft.provenance.reviewed_by.is_empty() {
        v.push(
            "article.provenance.reviewed_by",
            "is set by ReviewArticle to the reviewer, not by a draft",
        );
    }
    if draft.reviewed_version != 0 {
        v.push(
            "article.provenance.reviewed_version",
            "is set by ReviewArticle, not by a draft",
        );
    }
    v.text(
        "article.disclaimer",
        &draft.disclaimer,
        Text::block(Limit::Chars(limits.disclaimer_chars)).optional(),
    );
    ArticleCreated {
        slug,
        question: draft.question.clone(),
        quick_answer: draft.quick_answer.clone(),
        key_facts: draft.key_facts.clone(),
        sections,
        sources,
        last_updated,
        provenance: draft.provenance.clone(),
        disclaimer: draft.disclaimer.clone(),
    }
}

fn check_key_facts(field: &str, facts: &[String], limits: &Limits, v: &mut Violations) {
    if facts.len() > limits.key_facts {
        v.push(
            field,
            format!(
                "has {} key facts, over the limit of {}",
                facts.len(),
                limits.key_facts
            ),
        );
        return;
    }
    for (i, fact) in facts.iter().enumerate() {
        v.text(
            &format!("{field}[{i}]"),
            fact,
            Text::line(limits.key_fact_chars),
        );
    }
}

/// Checks a source's fields; the id is left empty for the caller to set.
fn check_source(field: &str, s: &SourceDraft, ctx: &Context<'_>, v: &mut Violations) -> Source {
    let line = Text::line(ctx.limits.source_field_chars);
    v.text(&format!("{field}.title"), &s.title, line);
    v.text(&format!("{field}.publisher"), &s.publisher, line);
    v.text(&format!("{field}.license"), &s.license, line);
    v.url(&format!("{field}.url"), &s.url, ctx.limits.url_chars);
    let accessed_on = if s.accessed_on.is_empty() {
        None
    } else {
        v.date(&format!("{field}.accessed_on"), &s.accessed_on, ctx.today)
    };
    Source {
        id: String::new(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on,
    }
}

fn find_section(article: &Article, id: &str, field: &str) -> Result<usize, DomainError> {
    if id.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    article
        .section_index(id)
        .ok_or_else(|| DomainError::NotFound {
            field: field.to_owned(),
            what: "section",
            id: id.to_owned(),
        })
}

fn find_source(article: &Article, id: &str, field: &str) -> Result<usize, DomainError> {
    if id.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    article
        .source_index(id)
        .ok_or_else(|| DomainError::NotFound {
            field: field.to_owned(),
            what: "source",
            id: id.to_owned(),
        })
}

/// The index just after the named section; 0 for an empty id.
fn position_after(article: &Article, after: &str, field: &str) -> Result<usize, DomainError> {
    if after.is_empty() {
        return Ok(0);
    }
    find_section(article, after, field).map(|i| i + 1)
}

fn unless_same<T: PartialEq + ?Sized>(
    current: &T,
    wanted: &T,
    event: impl FnOnce() -> Event,
) -> Vec<Event> {
    if current == wanted {
        Vec::new()
    } else {
        vec![event()]
    }
}

fn check_size(article: &Article, limits: &Limits) -> Result<(), DomainError> {
    let size = article.encoded_size_bound();
    if size > limits.article_bytes {
        return Err(DomainError::invalid(
            "article",
            format!(
                "the article would be about {size} bytes encoded, over the limit of {}",
                limits.article_bytes
            ),
        ));
    }
    Ok(())
}

pub(super) fn finish(v: Violations) -> Result<(), DomainError> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(v.into_inner()))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
