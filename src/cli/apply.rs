//! `answerlog apply FILE`: an article updated from a file of the import
//! format, in one commit. The CLI plans the edits that turn the version it
//! read into the file's content, shows them, and sends them as one
//! `ApplyChanges` on that version (a concurrent edit makes it ABORTED,
//! never overwritten).
//!
//! Sections are matched by the id their heading names (`{#s2}`, as
//! `answerlog get --output import` writes them), else by heading; sources
//! by title. Unmatched sections and sources of the article are removed,
//! unmatched ones of the file added, matched ones edited where they
//! differ, and sections moved into the file's order (the fewest moves: a
//! longest run already in order stays).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;

use super::client::{answers, current, reference, status_error};
use super::write::{read_text, write_at};
use super::{ServerArg, WriteArgs};
use crate::domain::{ArticleDraft, Provenance, SectionDraft, SourceDraft};
use crate::grpc::pb::{self, article_edit::Edit, import_command::Command as Arm};
use crate::import::{format, parse_file, ArticleFile};

/// One edit of a plan, and how a person reads it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Planned {
    pub(super) says: String,
    pub(super) edit: Edit,
}

/// The edits that turn an article into a file, in the order they are made,
/// and what the file says that no edit can make.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) edits: Vec<Planned>,
    pub(super) notes: Vec<String>,
}

impl Plan {
    fn push(&mut self, says: String, edit: Edit) {
        self.edits.push(Planned { says, edit });
    }
}

/// An answer as a file of the import format holds it, with its section
/// and source ids.
pub(super) fn answer_file(a: &pb::Answer) -> ArticleFile {
    let provenance = a.provenance.clone().unwrap_or_default();
    ArticleFile {
        id: a.id.clone(),
        draft: ArticleDraft {
            slug: a.slug.clone(),
            question: a.question.clone(),
            quick_answer: a.quick_answer.clone(),
            key_facts: a.key_facts.clone(),
            sections: a
                .sections
                .iter()
                .map(|s| SectionDraft {
                    heading: s.heading.clone(),
                    body: s.body.clone(),
                })
                .collect(),
            sources: a
                .sources
                .iter()
                .map(|s| SourceDraft {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    publisher: s.publisher.clone(),
                    url: s.url.clone(),
                    license: s.license.clone(),
                    accessed_on: s.accessed_on.clone(),
                })
                .collect(),
            last_updated: a.last_updated.clone(),
            provenance: Provenance {
                ai_assisted: provenance.ai_assisted,
                generator: provenance.generator,
                reviewed_by: String::new(),
            },
            reviewed_version: 0,
            disclaimer: a.disclaimer.clone(),
        },
        section_ids: a.sections.iter().map(|s| s.id.clone()).collect(),
    }
}

/// An answer in the import format, for `get --output import`; with a
/// warning when its text would not read back the same (a body line that
/// reads as a heading).
pub(super) fn answer_text(a: &pb::Answer) -> String {
    let file = answer_file(a);
    let text = format(&file);
    // The format holds no source ids (`apply` matches sources by title).
    let mut without_source_ids = file;
    for source in &mut without_source_ids.draft.sources {
        source.id.clear();
    }
    if parse_file(&text).ok().as_ref() != Some(&without_source_ids) {
        noteln!(
            "warning: this article's text does not read back the same from the import format (a line of a body reads as a heading); `apply` on it would change more than you edit"
        );
    }
    text
}

/// A line of text shortened for a plan.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= MAX && !text.contains('\n') {
        format!("{line:?}")
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{:?}", format!("{cut}…"))
    }
}

/// The edits that turn `now` (an article as read) into `wanted` (a file).
pub(super) fn plan(now: &ArticleFile, wanted: &ArticleFile) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let (a, w) = (&now.draft, &wanted.draft);
    if w.question != a.question {
        plan.push(
            format!("edit the question: {}", short(&w.question)),
            Edit::EditQuestion(pb::EditQuestionRequest {
                question: w.question.clone(),
                ..Default::default()
            }),
        );
    }
    if !w.slug.is_empty() && w.slug != a.slug {
        plan.push(
            format!("change the slug: {} → {}", a.slug, w.slug),
            Edit::ChangeSlug(pb::ChangeSlugRequest {
                slug: w.slug.clone(),
                ..Default::default()
            }),
        );
    }
    if w.quick_answer != a.quick_answer {
        plan.push(
            format!("edit the quick answer: {}", short(&w.quick_answer)),
            Edit::EditQuickAnswer(pb::EditQuickAnswerRequest {
                quick_answer: w.quick_answer.clone(),
                ..Default::default()
            }),
        );
    }
    if w.key_facts != a.key_facts {
        plan.push(
            format!(
                "replace the key facts ({} → {})",
                a.key_facts.len(),
                w.key_facts.len()
            ),
            Edit::ReplaceKeyFacts(pb::ReplaceKeyFactsRequest {
                key_facts: w.key_facts.clone(),
                ..Default::default()
            }),
        );
    }
    if w.last_updated != a.last_updated {
        plan.push(
            format!("re-date: {} → {}", a.last_updated, w.last_updated),
            Edit::RedateArticle(pb::RedateArticleRequest {
                last_updated: w.last_updated.clone(),
                ..Default::default()
            }),
        );
    }
    plan_sections(now, wanted, &mut plan)?;
    plan_sources(a, w, &mut plan);
    if w.disclaimer != a.disclaimer {
        plan.notes
            .push("the file's disclaimer differs: no edit changes it; it stays".into());
    }
    if w.provenance.ai_assisted != a.provenance.ai_assisted
        || w.provenance.generator != a.provenance.generator
    {
        plan.notes.push(
            "the file's ai_assisted or generator differs: no edit changes them; they stay".into(),
        );
    }
    Ok(plan)
}

fn plan_sections(now: &ArticleFile, wanted: &ArticleFile, plan: &mut Plan) -> anyhow::Result<()> {
    let (have, want) = (&now.draft.sections, &wanted.draft.sections);
    let ids = &now.section_ids;
    // For each section of the file, the article's section it is.
    let mut matched: Vec<Option<usize>> = vec![None; want.len()];
    let mut taken = vec![false; have.len()];
    for (i, id) in wanted.section_ids.iter().enumerate() {
        if id.is_empty() {
            continue;
        }
        let j = ids.iter().position(|x| x == id).with_context(|| {
            format!(
                "the file's section {:?} names {{#{id}}}, and the article has no section {id}",
                want[i].heading
            )
        })?;
        if taken[j] {
            anyhow::bail!("the file names section {{#{id}}} twice");
        }
        taken[j] = true;
        matched[i] = Some(j);
    }
    for (i, section) in want.iter().enumerate() {
        if matched[i].is_some() || !wanted.section_ids[i].is_empty() {
            continue;
        }
        if let Some(j) = (0..have.len()).find(|&j| !taken[j] && have[j].heading == section.heading)
        {
            taken[j] = true;
            matched[i] = Some(j);
        }
    }
    let named = |j: usize| format!("section {} {}", ids[j], short(&have[j].heading));
    for j in (0..have.len()).filter(|&j| !taken[j]) {
        plan.push(
            format!("remove {}", named(j)),
            Edit::RemoveSection(pb::RemoveSectionRequest {
                section_id: ids[j].clone(),
                ..Default::default()
            }),
        );
    }
    // Moves: the article's kept sections, in their order, brought into the
    // file's; a longest run already in order stays put.
    let target: Vec<usize> = matched.iter().flatten().copied().collect();
    let mut order: Vec<usize> = (0..have.len()).filter(|&j| taken[j]).collect();
    let staying = longest_increasing(&target);
    for (k, &j) in target.iter().enumerate() {
        if staying.contains(&k) {
            continue;
        }
        let after = k.checked_sub(1).map(|p| target[p]);
        let at = order.iter().position(|&x| x == j).unwrap_or(0);
        let wanted_at = after
            .and_then(|p| order.iter().position(|&x| x == p))
            .map_or(0, |p| p + 1);
        if at == wanted_at {
            continue;
        }
        order.remove(at);
        let insert = after
            .and_then(|p| order.iter().position(|&x| x == p))
            .map_or(0, |p| p + 1);
        order.insert(insert, j);
        plan.push(
            match after {
                Some(p) => format!("move {} after {}", named(j), ids[p]),
                None => format!("move {} first", named(j)),
            },
            Edit::MoveSection(pb::MoveSectionRequest {
                section_id: ids[j].clone(),
                after_section_id: after.map(|p| ids[p].clone()).unwrap_or_default(),
                ..Default::default()
            }),
        );
    }
    for (i, section) in want.iter().enumerate() {
        let Some(j) = matched[i] else { continue };
        let heading = (section.heading != have[j].heading).then(|| section.heading.clone());
        let body = (section.body != have[j].body).then(|| section.body.clone());
        let what: Vec<&str> = [("heading", heading.is_some()), ("body", body.is_some())]
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(what, _)| *what)
            .collect();
        if what.is_empty() {
            continue;
        }
        plan.push(
            format!("edit {} ({})", named(j), what.join(", ")),
            Edit::EditSection(pb::EditSectionRequest {
                section_id: ids[j].clone(),
                heading,
                body,
                ..Default::default()
            }),
        );
    }
    // New sections: each run between two matched ones goes after the
    // matched one before it, last first, so that the run ends up in order.
    let mut i = 0;
    while i < want.len() {
        if matched[i].is_some() {
            i += 1;
            continue;
        }
        let anchor = (0..i).rev().find_map(|p| matched[p]);
        let end = (i..want.len())
            .find(|&e| matched[e].is_some())
            .unwrap_or(want.len());
        for section in want[i..end].iter().rev() {
            plan.push(
                match anchor {
                    Some(p) => format!("add section {} after {}", short(&section.heading), ids[p]),
                    None => format!("add section {} first", short(&section.heading)),
                },
                Edit::AddSection(pb::AddSectionRequest {
                    section: Some(pb::SectionDraft {
                        heading: section.heading.clone(),
                        body: section.body.clone(),
                    }),
                    after_section_id: anchor.map(|p| ids[p].clone()).unwrap_or_default(),
                    ..Default::default()
                }),
            );
        }
        i = end;
    }
    Ok(())
}

/// The indices of a longest strictly increasing subsequence of `values`.
fn longest_increasing(values: &[usize]) -> HashSet<usize> {
    // tails[l]: the index of the smallest tail of a run of length l + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; values.len()];
    for (i, &v) in values.iter().enumerate() {
        let l = tails.partition_point(|&t| values[t] < v);
        before[i] = l.checked_sub(1).map(|p| tails[p]);
        if l == tails.len() {
            tails.push(i);
        } else {
            tails[l] = i;
        }
    }
    let mut kept = HashSet::new();
    let mut at = tails.last().copied();
    while let Some(i) = at {
        kept.insert(i);
        at = before[i];
    }
    kept
}

fn pb_source(s: &SourceDraft, id: &str) -> pb::Source {
    pb::Source {
        id: id.to_owned(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: s.accessed_on.clone(),
    }
}

fn plan_sources(a: &ArticleDraft, w: &ArticleDraft, plan: &mut Plan) {
    // By title: one the same in every field first, then any.
    let mut taken = vec![false; a.sources.len()];
    let mut matched: Vec<Option<usize>> = vec![None; w.sources.len()];
    let same = |had: &SourceDraft, source: &SourceDraft| {
        (
            &had.title,
            &had.publisher,
            &had.url,
            &had.license,
            &had.accessed_on,
        ) == (
            &source.title,
            &source.publisher,
            &source.url,
            &source.license,
            &source.accessed_on,
        )
    };
    for whole in [true, false] {
        for (i, source) in w.sources.iter().enumerate() {
            if matched[i].is_some() {
                continue;
            }
            let j = (0..a.sources.len()).find(|&j| {
                !taken[j]
                    && a.sources[j].title == source.title
                    && (!whole || same(&a.sources[j], source))
            });
            if let Some(j) = j {
                taken[j] = true;
                matched[i] = Some(j);
            }
        }
    }
    for (j, source) in a.sources.iter().enumerate().filter(|(j, _)| !taken[*j]) {
        plan.push(
            format!("remove source {} {}", source.id, short(&source.title)),
            Edit::RemoveSource(pb::RemoveSourceRequest {
                source_id: a.sources[j].id.clone(),
                ..Default::default()
            }),
        );
    }
    for (source, j) in w.sources.iter().zip(&matched) {
        let Some(j) = *j else { continue };
        let had = &a.sources[j];
        if !same(had, source) {
            plan.push(
                format!("edit source {} {}", had.id, short(&had.title)),
                Edit::EditSource(pb::EditSourceRequest {
                    source: Some(pb_source(source, &had.id)),
                    ..Default::default()
                }),
            );
        }
    }
    for (source, _) in w.sources.iter().zip(&matched).filter(|(_, j)| j.is_none()) {
        plan.push(
            format!("add source {}", short(&source.title)),
            Edit::AddSource(pb::AddSourceRequest {
                source: Some(pb_source(source, "")),
                ..Default::default()
            }),
        );
    }
    // Kept sources stay where they are and new ones come last.
    let kept: Vec<usize> = matched.iter().flatten().copied().collect();
    let new_before_kept = matched
        .iter()
        .position(Option::is_none)
        .is_some_and(|first_new| matched[first_new..].iter().any(Option::is_some));
    if kept.windows(2).any(|p| p[0] > p[1]) || new_before_kept {
        plan.notes.push(
            "the file orders the sources otherwise: sources keep their order, and new ones are added last".into(),
        );
    }
}

/// The article at the version the edits are to be decided on.
async fn read_at(
    server: &ServerArg,
    text: &str,
    version: Option<u64>,
) -> anyhow::Result<pb::Answer> {
    let Some(version) = version else {
        return current(server, text).await;
    };
    answers(server)
        .await?
        .get_answer(pb::GetAnswerRequest {
            r#ref: Some(reference(text)),
            as_of: Some(pb::get_answer_request::AsOf::Version(version)),
            ..Default::default()
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .answer
        .context("the server sent no answer")
}

/// `answerlog apply FILE`.
pub(super) async fn apply(
    server: &ServerArg,
    file: &Path,
    article: Option<&str>,
    dry_run: bool,
    write: WriteArgs,
) -> anyhow::Result<()> {
    let text = read_text(file)?;
    let wanted = parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // The article the file was written from, if it says (so that a file
    // whose slug was edited still names its article), else its slug.
    let reference = match article {
        Some(reference) => reference.to_owned(),
        None if !wanted.id.is_empty() => wanted.id.clone(),
        None if !wanted.draft.slug.is_empty() => wanted.draft.slug.clone(),
        None => anyhow::bail!(
            "{}: the file names no article (no id, no slug); name it with --article",
            file.display()
        ),
    };
    let now = read_at(server, &reference, write.expected_version).await?;
    let same_article = |a: &str, b: &str| match (
        crate::domain::ArticleId::parse(a),
        crate::domain::ArticleId::parse(b),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    };
    if !wanted.id.is_empty() && !same_article(&wanted.id, &now.id) {
        anyhow::bail!(
            "{}: the file was written from article {}, and {reference} is article {}: apply it there, or remove its id",
            file.display(),
            wanted.id,
            now.id
        );
    }
    let plan = plan(&answer_file(&now), &wanted)?;
    if write.json && (dry_run || plan.edits.is_empty()) {
        let edits = plan
            .edits
            .iter()
            .map(|p| {
                let message = pb::ArticleEdit {
                    edit: Some(p.edit.clone()),
                };
                let line = super::json::to_json_line("answerlog.v1.ArticleEdit", &message)?;
                Ok(serde_json::from_str::<serde_json::Value>(&line)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let out = serde_json::json!({
            "articleId": now.id,
            "expectedVersion": now.version.to_string(),
            "edits": edits,
            "says": plan.edits.iter().map(|p| p.says.clone()).collect::<Vec<_>>(),
            "notes": plan.notes,
            "sent": false,
        });
        return outln!("{out}");
    }
    if !write.json {
        outln!(
            "article {} ({}) at version {}: {} edit{}",
            now.slug,
            now.id,
            now.version,
            plan.edits.len(),
            if plan.edits.len() == 1 { "" } else { "s" }
        )?;
        for planned in &plan.edits {
            outln!("  {}", planned.says)?;
        }
    }
    for note in &plan.notes {
        noteln!("note: {note}");
    }
    if plan.edits.is_empty() {
        if !write.json {
            outln!("nothing to change: version {} is the file", now.version)?;
        }
        return Ok(());
    }
    if dry_run {
        return outln!("dry run: nothing sent");
    }
    let edits: Vec<pb::ArticleEdit> = plan
        .edits
        .into_iter()
        .map(|p| pb::ArticleEdit { edit: Some(p.edit) })
        .collect();
    write_at(
        server,
        "applied",
        (now.id.clone(), now.version),
        write,
        &|h| {
            Arm::ApplyChanges(pb::ApplyChangesRequest {
                article_id: h.article_id,
                expected_version: h.expected_version,
                command_id: h.command_id,
                reason: h.reason,
                edits: edits.clone(),
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/what-causes-jmt.md");

    /// The example as the server would hold it: sections s1…, sources src1….
    fn stored() -> ArticleFile {
        let mut file = parse_file(EXAMPLE).unwrap();
        file.section_ids = (1..=file.draft.sections.len())
            .map(|i| format!("s{i}"))
            .collect();
        for (i, source) in file.draft.sources.iter_mut().enumerate() {
            source.id = format!("src{}", i + 1);
        }
        file
    }

    /// The article `plan`'s edits make of `now`, made as the server makes
    /// them (new sections s{next}…).
    fn made(now: &ArticleFile, plan: &Plan) -> (Vec<(String, String, String)>, Vec<String>) {
        let mut sections: Vec<(String, String, String)> = now
            .draft
            .sections
            .iter()
            .zip(&now.section_ids)
            .map(|(s, id)| (id.clone(), s.heading.clone(), s.body.clone()))
            .collect();
        let mut sources: Vec<String> = now.draft.sources.iter().map(|s| s.title.clone()).collect();
        let mut next = now.section_ids.len() + 1;
        let after = |sections: &Vec<(String, String, String)>, id: &str| {
            if id.is_empty() {
                0
            } else {
                sections.iter().position(|s| s.0 == id).unwrap() + 1
            }
        };
        for p in &plan.edits {
            match &p.edit {
                Edit::RemoveSection(m) => sections.retain(|s| s.0 != m.section_id),
                Edit::MoveSection(m) => {
                    let from = sections.iter().position(|s| s.0 == m.section_id).unwrap();
                    let s = sections.remove(from);
                    let to = after(&sections, &m.after_section_id);
                    sections.insert(to, s);
                }
                Edit::EditSection(m) => {
                    let s = sections.iter_mut().find(|s| s.0 == m.section_id).unwrap();
                    if let Some(h) = &m.heading {
                        s.1 = h.clone();
                    }
                    if let Some(b) = &m.body {
                        s.2 = b.clone();
                    }
                }
                Edit::AddSection(m) => {
                    let d = m.section.clone().unwrap();
                    let to = after(&sections, &m.after_section_id);
                    sections.insert(to, (format!("s{next}"), d.heading, d.body));
                    next += 1;
                }
                Edit::RemoveSource(m) => {
                    let i: usize = m.source_id.trim_start_matches("src").parse().unwrap();
                    let title = &now.draft.sources[i - 1].title;
                    let at = sources.iter().position(|t| t == title).unwrap();
                    sources.remove(at);
                }
                Edit::AddSource(m) => sources.push(m.source.clone().unwrap().title),
                _ => {}
            }
        }
        (sections, sources)
    }

    #[test]
    fn an_answer_written_out_reads_back_the_same() {
        let answer = crate::grpc::pb::Answer {
            id: "01900000-0000-7000-8000-000000000001".into(),
            slug: "what-causes-jmt".into(),
            question: "What causes jmt".into(),
            quick_answer: "Genes.".into(),
            key_facts: vec!["Rare".into()],
            sections: vec![crate::grpc::pb::Section {
                id: "s1".into(),
                heading: "Causes".into(),
                body: "Genes and triggers.".into(),
            }],
            sources: vec![crate::grpc::pb::Source {
                id: "src1".into(),
                title: "Myositis".into(),
                publisher: "NIH".into(),
                license: "public-domain".into(),
                ..Default::default()
            }],
            last_updated: "2026-04-04".into(),
            ..Default::default()
        };
        let file = answer_file(&answer);
        let read = parse_file(&format(&file)).unwrap();
        assert_eq!(read.id, answer.id);
        assert_eq!(read.section_ids, ["s1"]);
        assert_eq!(read.draft.sources[0].title, "Myositis");
        assert!(
            read.draft.sources[0].id.is_empty(),
            "the format holds no source ids"
        );
        assert_eq!(read.draft.sections, file.draft.sections);
    }

    #[test]
    fn the_same_file_plans_nothing() {
        let now = stored();
        let plan = plan(&now, &parse_file(EXAMPLE).unwrap()).unwrap();
        assert!(plan.edits.is_empty(), "{plan:?}");
        assert!(plan.notes.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_plan_makes_the_file_with_few_edits() {
        let now = stored();
        let mut wanted = parse_file(EXAMPLE).unwrap();
        let w = &mut wanted.draft;
        // Sections: the 3rd removed, the 8th moved first, the 2nd edited,
        // two new ones between the 5th and 6th and one at the end.
        w.sections.remove(2);
        let last = w.sections.pop().unwrap();
        w.sections.insert(0, last);
        w.sections[2].body.push_str("\n\nMore.");
        w.sections.insert(
            5,
            SectionDraft {
                heading: "New A".into(),
                body: "a".into(),
            },
        );
        w.sections.insert(
            6,
            SectionDraft {
                heading: "New B".into(),
                body: "b".into(),
            },
        );
        w.sections.push(SectionDraft {
            heading: "New C".into(),
            body: "c".into(),
        });
        w.sources.remove(1);
        w.sources[0].url = "https://www.mayoclinic.org/".into();
        w.sources.push(SourceDraft {
            title: "Myositis".into(),
            publisher: "NIH".into(),
            license: "public-domain".into(),
            ..SourceDraft::default()
        });
        w.question = "What causes JMT?".into();
        wanted.section_ids = vec![String::new(); w.sections.len()];
        let plan = plan(&now, &wanted).unwrap();
        let says: Vec<&str> = plan.edits.iter().map(|p| p.says.as_str()).collect();
        assert_eq!(
            says,
            [
                "edit the question: \"What causes JMT?\"",
                "remove section s3 \"Genetic Factors\"",
                "move section s8 \"Diagnosis and Treatment\" first",
                "edit section s2 \"What Causes Juvenile Myositis?\" (body)",
                "add section \"New B\" after s5",
                "add section \"New A\" after s5",
                "add section \"New C\" after s7",
                "remove source src2 \"Juvenile Myositis\"",
                "edit source src1 \"Juvenile myositis - Symptoms and causes\"",
                "add source \"Myositis\"",
            ]
        );
        let (sections, sources) = made(&now, &plan);
        let headings: Vec<&str> = sections.iter().map(|s| s.1.as_str()).collect();
        let wanted_headings: Vec<&str> = wanted
            .draft
            .sections
            .iter()
            .map(|s| s.heading.as_str())
            .collect();
        assert_eq!(headings, wanted_headings);
        assert_eq!(sections[2].2, wanted.draft.sections[2].body);
        let titles: Vec<&str> = wanted
            .draft
            .sources
            .iter()
            .map(|s| s.title.as_str())
            .collect();
        assert_eq!(sources, titles);
    }

    #[test]
    fn ids_match_before_headings_and_a_wrong_id_is_refused() {
        let now = stored();
        let mut wanted = parse_file(EXAMPLE).unwrap();
        // s1 renamed, named by its id.
        wanted.section_ids[0] = "s1".into();
        wanted.draft.sections[0].heading = "Renamed".into();
        let plan = plan(&now, &wanted).unwrap();
        let says: Vec<&str> = plan.edits.iter().map(|p| p.says.as_str()).collect();
        assert_eq!(
            says,
            ["edit section s1 \"What is Juvenile Myositis (JMT)?\" (heading)"]
        );
        wanted.section_ids[0] = "s99".into();
        let e = super::plan(&now, &wanted).unwrap_err();
        assert!(e.to_string().contains("no section s99"), "{e}");
    }

    #[test]
    fn reversing_the_sections_moves_all_but_one() {
        let now = stored();
        let mut wanted = parse_file(EXAMPLE).unwrap();
        wanted.draft.sections.reverse();
        let plan = plan(&now, &wanted).unwrap();
        assert_eq!(plan.edits.len(), now.draft.sections.len() - 1);
        let (sections, _) = made(&now, &plan);
        let ids: Vec<&str> = sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(ids, ["s8", "s7", "s6", "s5", "s4", "s3", "s2", "s1"]);
    }

    #[test]
    fn longest_increasing_keeps_a_longest_run() {
        assert_eq!(longest_increasing(&[3, 0, 1, 2]).len(), 3);
        assert!(longest_increasing(&[]).is_empty());
        assert_eq!(longest_increasing(&[0, 1, 2]).len(), 3);
    }
}
