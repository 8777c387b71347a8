//! What changed between two versions of an article: fields, sections and
//! sources, with a line diff of changed text.

use similar::{Algorithm, DiffTag, TextDiff};

use super::article::{Article, Section, Source, Status};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArticleDiff {
    pub fields: Vec<FieldChange>,
    pub sections: Vec<SectionChange>,
    pub sources: Vec<SourceChange>,
}

/// A whole-article field that changed (key facts are one per line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
    pub line_diff: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
    /// Same content, but its order relative to the other sections changed.
    Moved,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionChange {
    pub id: String,
    pub kind: ChangeKind,
    /// Position and content in the old version, if it was there.
    pub old: Option<(usize, Section)>,
    pub new: Option<(usize, Section)>,
    /// Line diff of the bodies; empty when the body did not change.
    pub body_diff: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceChange {
    pub id: String,
    pub kind: ChangeKind,
    pub old: Option<Source>,
    pub new: Option<Source>,
}

/// Compares two states of the same article.
pub(crate) fn diff(old: &Article, new: &Article) -> ArticleDiff {
    let mut fields = Vec::new();
    let mut field = |name: &'static str, a: String, b: String| {
        if a != b {
            let line_diff = line_diff(&a, &b);
            fields.push(FieldChange {
                field: name,
                old: a,
                new: b,
                line_diff,
            });
        }
    };
    field("question", old.question.clone(), new.question.clone());
    field("slug", old.slug.clone(), new.slug.clone());
    field(
        "quick_answer",
        old.quick_answer.clone(),
        new.quick_answer.clone(),
    );
    field(
        "key_facts",
        old.key_facts.join("\n"),
        new.key_facts.join("\n"),
    );
    field(
        "last_updated",
        old.last_updated.to_string(),
        new.last_updated.to_string(),
    );
    field("status", status(old.status), status(new.status));
    field(
        "provenance.reviewed_by",
        old.provenance.reviewed_by.clone(),
        new.provenance.reviewed_by.clone(),
    );
    field("disclaimer", old.disclaimer.clone(), new.disclaimer.clone());

    ArticleDiff {
        fields,
        sections: section_changes(&old.sections, &new.sections),
        sources: source_changes(&old.sources, &new.sources),
    }
}

/// A unified diff of two texts, line by line, with three lines of context.
pub(crate) fn line_diff(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    // Texts are compared as whole lines, so a last line without a newline
    // does not show up as a change of its own.
    let (old, new) = (with_final_newline(old), with_final_newline(new));
    TextDiff::from_lines(old.as_str(), new.as_str())
        .unified_diff()
        .context_radius(3)
        .to_string()
}

fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

fn section_changes(old: &[Section], new: &[Section]) -> Vec<SectionChange> {
    let moved = moved_ids(
        old.iter().map(|s| s.id.as_str()),
        new.iter().map(|s| s.id.as_str()),
    );
    let mut changes = Vec::new();
    for (i, section) in old.iter().enumerate() {
        if !new.iter().any(|s| s.id == section.id) {
            changes.push(SectionChange {
                id: section.id.clone(),
                kind: ChangeKind::Removed,
                old: Some((i, section.clone())),
                new: None,
                body_diff: line_diff(&section.body, ""),
            });
        }
    }
    for (j, section) in new.iter().enumerate() {
        let before = old.iter().enumerate().find(|(_, s)| s.id == section.id);
        let change = match before {
            None => SectionChange {
                id: section.id.clone(),
                kind: ChangeKind::Added,
                old: None,
                new: Some((j, section.clone())),
                body_diff: line_diff("", &section.body),
            },
            Some((i, previous)) => {
                let kind = if previous != section {
                    ChangeKind::Modified
                } else if moved.contains(&section.id.as_str()) {
                    ChangeKind::Moved
                } else {
                    continue;
                };
                SectionChange {
                    id: section.id.clone(),
                    kind,
                    old: Some((i, previous.clone())),
                    new: Some((j, section.clone())),
                    body_diff: line_diff(&previous.body, &section.body),
                }
            }
        };
        changes.push(change);
    }
    changes
}

fn source_changes(old: &[Source], new: &[Source]) -> Vec<SourceChange> {
    let mut changes = Vec::new();
    for source in old {
        if !new.iter().any(|s| s.id == source.id) {
            changes.push(SourceChange {
                id: source.id.clone(),
                kind: ChangeKind::Removed,
                old: Some(source.clone()),
                new: None,
            });
        }
    }
    for source in new {
        match old.iter().find(|s| s.id == source.id) {
            None => changes.push(SourceChange {
                id: source.id.clone(),
                kind: ChangeKind::Added,
                old: None,
                new: Some(source.clone()),
            }),
            Some(previous) if previous != source => changes.push(SourceChange {
                id: source.id.clone(),
                kind: ChangeKind::Modified,
                old: Some(previous.clone()),
                new: Some(source.clone()),
            }),
            Some(_) => {}
        }
    }
    changes
}

/// The ids present in both orders whose relative order changed: those left
/// out of a longest common subsequence of the two orders.
fn moved_ids<'a>(
    old: impl Iterator<Item = &'a str>,
    new: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let new: Vec<&str> = new.collect();
    let old: Vec<&str> = old.filter(|id| new.contains(id)).collect();
    let new: Vec<&str> = new.into_iter().filter(|id| old.contains(id)).collect();
    let mut moved = Vec::new();
    for op in similar::capture_diff_slices(Algorithm::Myers, &old, &new) {
        if op.tag() == DiffTag::Insert || op.tag() == DiffTag::Replace {
            moved.extend_from_slice(&new[op.new_range()]);
        }
    }
    moved
}

fn status(status: Status) -> String {
    match status {
        Status::Published => "published".into(),
        Status::Retracted => "retracted".into(),
    }
}
