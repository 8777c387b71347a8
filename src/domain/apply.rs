//! `ApplyChanges`: several edits of one article decided together, as one
//! commit. Each edit is decided as its own command would be, in order, on
//! the article as the edits before it left it; a field an edit gets wrong
//! is named under `edits[i].<its request>`.
//!
//! One edit a part: the question, slug, quick answer, key facts and date
//! are each changed once at most, a section's text once and its place
//! once, a source once; what an edit adds is named by no later edit. So a
//! commit holds each piece of content once, and is no larger than the
//! article it makes (and the ids it names).

use std::collections::HashMap;

use super::article::Article;
use super::command::Command;
use super::decide::{decide_edit, Context};
use super::error::DomainError;
use super::event::Event;
use super::validate::{quoted, Violations};

/// The events of `edits` made in order on `article`; problems go to `v`
/// (and then no events), as `decide_edit`'s do.
pub(super) fn applied(
    article: &Article,
    edits: &[Command],
    ctx: &Context<'_>,
    v: &mut Violations,
) -> Result<Vec<Event>, DomainError> {
    let max = ctx.limits.apply_edits();
    if edits.is_empty() {
        v.push("edits", "name at least one edit");
    } else if edits.len() > max {
        v.push(
            "edits",
            format!("are {}, over the limit of {max}", edits.len()),
        );
    }
    if !v.is_empty() {
        return Ok(Vec::new());
    }
    let mut running = article.clone();
    let mut events = Vec::new();
    // Each part changed so far, and the edit that changed it.
    let mut changed: HashMap<Part, usize> = HashMap::new();
    for (i, edit) in edits.iter().enumerate() {
        let at = format!("edits[{i}].{}", field_name(edit.name()));
        if !edit.is_part_edit() {
            v.push(
                format!("edits[{i}]"),
                format!("{} is not an edit ApplyChanges makes", edit.name()),
            );
            return Ok(Vec::new());
        }
        for part in parts_named(edit) {
            if let Some(&earlier) = changed.get(&part) {
                v.push(
                    &at,
                    format!(
                        "changes {}, which edits[{earlier}] changes already: one edit a part",
                        part.describe()
                    ),
                );
                return Ok(Vec::new());
            }
            changed.insert(part, i);
        }
        let mut own = Violations::default();
        let made = decide_edit(&running, edit, ctx, &mut own).map_err(|e| e.within(&at))?;
        if !own.is_empty() {
            for violation in own.into_inner() {
                let field = match violation.field.as_str() {
                    "" => at.clone(),
                    field => format!("{at}.{field}"),
                };
                v.push(field, violation.description);
            }
            return Ok(Vec::new());
        }
        for event in &made {
            running.apply(event);
            for part in parts_added(event) {
                changed.insert(part, i);
            }
        }
        events.extend(made);
    }
    Ok(events)
}

/// A part of an article one edit may change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Part {
    Question,
    Slug,
    QuickAnswer,
    KeyFacts,
    Date,
    SectionText(String),
    SectionPlace(String),
    Source(String),
}

impl Part {
    fn describe(&self) -> String {
        match self {
            Part::Question => "the question".to_owned(),
            Part::Slug => "the slug".to_owned(),
            Part::QuickAnswer => "the quick answer".to_owned(),
            Part::KeyFacts => "the key facts".to_owned(),
            Part::Date => "the date".to_owned(),
            Part::SectionText(id) => format!("section {}", quoted(id)),
            Part::SectionPlace(id) => format!("the place of section {}", quoted(id)),
            Part::Source(id) => format!("source {}", quoted(id)),
        }
    }
}

/// The parts an edit changes that it names.
fn parts_named(edit: &Command) -> Vec<Part> {
    match edit {
        Command::EditQuestion { .. } => vec![Part::Question],
        Command::ChangeSlug { .. } => vec![Part::Slug],
        Command::EditQuickAnswer { .. } => vec![Part::QuickAnswer],
        Command::ReplaceKeyFacts { .. } => vec![Part::KeyFacts],
        Command::RedateArticle { .. } => vec![Part::Date],
        Command::EditSection { section_id, .. } => vec![Part::SectionText(section_id.clone())],
        Command::MoveSection { section_id, .. } => vec![Part::SectionPlace(section_id.clone())],
        Command::RemoveSection { section_id } => vec![
            Part::SectionText(section_id.clone()),
            Part::SectionPlace(section_id.clone()),
        ],
        Command::EditSource { source } => vec![Part::Source(source.id.clone())],
        Command::RemoveSource { source_id } => vec![Part::Source(source_id.clone())],
        _ => Vec::new(),
    }
}

/// The parts an event brings into being, which no later edit may name.
fn parts_added(event: &Event) -> Vec<Part> {
    match event {
        Event::SectionAdded { section, .. } => vec![
            Part::SectionText(section.id.clone()),
            Part::SectionPlace(section.id.clone()),
        ],
        Event::SourceAdded { source, .. } => vec![Part::Source(source.id.clone())],
        _ => Vec::new(),
    }
}

/// An RPC's name as its field in `ArticleEdit`: `EditSection` is
/// `edit_section`.
fn field_name(rpc: &str) -> String {
    let mut field = String::with_capacity(rpc.len() + 4);
    for (i, c) in rpc.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                field.push('_');
            }
            field.push(c.to_ascii_lowercase());
        } else {
            field.push(c);
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::field_name;

    #[test]
    fn field_names_are_the_requests_snake_case() {
        assert_eq!(field_name("EditSection"), "edit_section");
        assert_eq!(field_name("ReplaceKeyFacts"), "replace_key_facts");
        assert_eq!(field_name("RedateArticle"), "redate_article");
    }
}
