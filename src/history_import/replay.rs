//! For the planners' tests: a planned step decided and folded by the
//! domain as the server would (the command the import sends, with its
//! claims checked), without a server.

use super::plan::{Planned, PlannedSection, PlannedSource, Step};
use crate::domain::{
    decide, Article, ArticleDraft, ArticleId, ArticleRevision, Command, Context, Limits,
    Provenance, RevisedSection, SectionDraft, SourceDraft,
};

fn source(s: &PlannedSource) -> SourceDraft {
    SourceDraft {
        id: s.id.clone(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: String::new(),
    }
}

/// The command a step is, as the import sends it; `versions` are the
/// article's versions so far (a revert's target among them).
fn command(step: &Step, versions: &[Article]) -> Command {
    let sections = |sections: &[PlannedSection]| -> Vec<RevisedSection> {
        sections
            .iter()
            .map(|s| RevisedSection {
                id: s.id.clone(),
                heading: s.heading.clone(),
                body: s.body.clone(),
            })
            .collect()
    };
    match step {
        Step::Create {
            slug,
            question,
            quick_answer,
            key_facts,
            sections,
            sources,
            last_updated,
        } => Command::CreateArticle {
            id: ArticleId::from_uuid(uuid::Uuid::from_u128(1)),
            draft: ArticleDraft {
                slug: slug.clone(),
                question: question.clone(),
                quick_answer: quick_answer.clone(),
                key_facts: key_facts.clone(),
                sections: sections
                    .iter()
                    .map(|s| SectionDraft {
                        heading: s.heading.clone(),
                        body: s.body.clone(),
                    })
                    .collect(),
                sources: sources.iter().map(source).collect(),
                last_updated: last_updated.clone(),
                provenance: Provenance::default(),
                ..ArticleDraft::default()
            },
        },
        Step::Revise {
            question,
            quick_answer,
            key_facts,
            sections: given,
            sources,
            last_updated,
            ..
        } => Command::ReviseArticle(Box::new(ArticleRevision {
            question: question.clone(),
            quick_answer: quick_answer.clone(),
            key_facts: key_facts.clone(),
            sections: sections(given),
            last_updated: last_updated.clone(),
            sources: sources.as_ref().map(|s| s.iter().map(source).collect()),
        })),
        Step::Revert {
            to_version,
            last_updated,
            ..
        } => Command::RevertArticle {
            to_version: *to_version,
            target: Some(Box::new(versions[*to_version as usize - 1].clone())),
            last_updated: last_updated.clone(),
        },
        Step::TextUnchanged { last_updated, .. } => Command::RedateArticle {
            last_updated: last_updated.clone(),
        },
        Step::Retract { .. } => Command::RetractArticle,
        Step::Alias { slug, .. } => Command::AddSlugAlias { slug: slug.clone() },
        Step::Restore { .. } => Command::RestoreArticle,
    }
}

/// The version `planned` makes after `versions`: its command, with its
/// claims (which the domain's check of claims passes), decided and folded;
/// a step the domain refuses, or one that makes no commit, panics.
pub(crate) fn decided(planned: &Planned, versions: &[Article]) -> Article {
    let claims = planned.claims.origin_claims();
    let limits = Limits::default();
    let ctx = Context {
        limits: &limits,
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap(),
        actor: "importer",
        reason: "imported",
        reason_required: false,
        origin: Some(&claims),
    };
    let command = command(&planned.step, versions);
    let events = decide(versions.last(), &command, &ctx).unwrap_or_else(|e| {
        panic!(
            "revision {} ({:?}): {e}",
            planned.claims.revision_id, planned.step
        )
    });
    assert!(
        !events.is_empty(),
        "revision {} is a commit",
        planned.claims.revision_id
    );
    Article::fold(
        versions.last().cloned(),
        ArticleId::from_uuid(uuid::Uuid::from_u128(1)),
        planned.version,
        &events,
    )
    .unwrap()
}
