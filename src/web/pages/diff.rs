//! The diff page: what changed between two versions, part by part —
//! the article's fields, each changed section (added, removed, moved,
//! its heading and its body), each changed source — side by side, the
//! old on the left and the new on the right, with the changed words
//! marked. Unchanged sections are left out. Its "jump to the next
//! change" button is the one part that needs JavaScript.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use maud::{html, Markup};
use similar::{ChangeTag, TextDiff};

/// How long a page may spend marking changed words, in all: past it, the
/// diff of a pair of lines falls back to coarser runs (similar's
/// deadline), so that no body, however long, holds a worker for long.
const WORDS_BUDGET: Duration = Duration::from_millis(200);

use super::{call, layout, Asked, Caller, Refusal, Web};
use crate::grpc::pb;

pub(super) async fn page(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Result<Markup, Refusal> {
    let article = super::history::article(web, caller, reference).await?;
    let current = article.current_version;
    let version = |name: &str, default: u64| -> Result<u64, Refusal> {
        match asked.param(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|v| (1..=current).contains(v))
                .ok_or_else(|| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name}: must be a version from 1 to {current}"),
                    )
                }),
        }
    };
    let to = version("to", current)?;
    let from = version("from", to.saturating_sub(1).max(1))?;
    let diff: pb::DiffVersionsResponse = call(
        web,
        caller,
        "/answerlog.v1.AuditService/DiffVersions",
        &pb::DiffVersionsRequest {
            article_id: article.article_id.clone(),
            from_version: from,
            to_version: to,
            min_position: 0,
        },
    )
    .await?;
    let nothing = diff.fields.is_empty() && diff.sections.is_empty() && diff.sources.is_empty();
    let deadline = Instant::now() + WORDS_BUDGET;
    Ok(layout::page_wide(
        &format!("Changes to {reference}, version {from} to {to}"),
        Some(caller),
        html! {
            (layout::tabs(reference, "diff"))
            h1 { "Changes from version " (from) " to " (to) }
            form.inline.versions method="get" action={ "/a/" (reference) "/diff" } {
                div {
                    label for="from" { "From version" }
                    input #from type="number" name="from" min="1" max=(current) value=(from) required;
                }
                div {
                    label for="to" { "To version" }
                    input #to type="number" name="to" min="1" max=(current) value=(to) required;
                }
                button type="submit" { "Compare" }
                button #jump .secondary type="button" hidden { "Jump to the next change" }
            }
            p.meta {
                span { (diff.fields.len()) " " (plural(diff.fields.len(), "field", "fields")) " changed" }
                span { (diff.sections.len()) " " (plural(diff.sections.len(), "section", "sections")) " changed" }
                span { (diff.sources.len()) " " (plural(diff.sources.len(), "source", "sources")) " changed" }
            }
            @if nothing {
                p { "The two versions show the same answer." }
            }
            @for field in &diff.fields {
                section.change-part {
                    h2 { (field_name(&field.field)) }
                    (field_table(field, deadline))
                }
            }
            @for section in &diff.sections {
                (section_change(section, deadline))
            }
            @for source in &diff.sources {
                (source_change(source, deadline))
            }
        },
    ))
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A field's name as a person reads it.
fn field_name(field: &str) -> String {
    let mut name = field.replace('_', " ");
    if let Some(first) = name.get(..1) {
        name = first.to_uppercase() + &name[1..];
    }
    name
}

fn field_table(field: &pb::FieldChange, deadline: Instant) -> Markup {
    if field.old_value.contains('\n') || field.new_value.contains('\n') {
        hunks(&field.line_diff, deadline)
    } else {
        let (old, new) = words(&field.old_value, &field.new_value, deadline);
        table(html! { (row_of(Some(old), Some(new), true)) })
    }
}

fn section_change(change: &pb::SectionChange, deadline: Instant) -> Markup {
    let kind = pb::ChangeKind::try_from(change.change).unwrap_or(pb::ChangeKind::Unspecified);
    let heading = if change.new_heading.is_empty() {
        &change.old_heading
    } else {
        &change.new_heading
    };
    let (label, class) = match kind {
        pb::ChangeKind::Added => ("added", "ins"),
        pb::ChangeKind::Removed => ("removed", "del"),
        pb::ChangeKind::Moved => ("moved", "moved"),
        _ => ("changed", "mod"),
    };
    html! {
        section.change-part data-section=(change.section_id) {
            h2 {
                "Section: " (heading) " "
                span class={ "kind " (class) } { (label) }
                @if kind == pb::ChangeKind::Moved || (change.old_position >= 0 && change.new_position >= 0 && change.old_position != change.new_position) {
                    span.muted { " (place " (change.old_position + 1) " → " (change.new_position + 1) ")" }
                }
            }
            @if !change.old_heading.is_empty() && !change.new_heading.is_empty() && change.old_heading != change.new_heading {
                h3 { "Heading" }
                @let (old, new) = words(&change.old_heading, &change.new_heading, deadline);
                (table(row_of(Some(old), Some(new), true)))
            }
            @if !change.body_diff.is_empty() {
                @if !change.old_heading.is_empty() && !change.new_heading.is_empty() && change.old_heading != change.new_heading {
                    h3 { "Body" }
                }
                (hunks(&change.body_diff, deadline))
            }
        }
    }
}

fn source_change(change: &pb::SourceChange, deadline: Instant) -> Markup {
    let kind = pb::ChangeKind::try_from(change.change).unwrap_or(pb::ChangeKind::Unspecified);
    let empty = pb::Source::default();
    let old = change.old_source.as_ref().unwrap_or(&empty);
    let new = change.new_source.as_ref().unwrap_or(&empty);
    let title = if new.title.is_empty() {
        &old.title
    } else {
        &new.title
    };
    let label = match kind {
        pb::ChangeKind::Added => "added",
        pb::ChangeKind::Removed => "removed",
        _ => "changed",
    };
    let parts = [
        ("Title", &old.title, &new.title),
        ("Publisher", &old.publisher, &new.publisher),
        ("Address", &old.url, &new.url),
        ("Licence", &old.license, &new.license),
        ("Accessed", &old.accessed_on, &new.accessed_on),
    ];
    html! {
        section.change-part {
            h2 { "Source: " (title) " " span.kind.mod { (label) } }
            (named_table(true, html! {
                @for (name, before, after) in parts {
                    @if before != after || kind != pb::ChangeKind::Modified {
                        @let (o, n) = words(before, after, deadline);
                        tr.change tabindex="-1" {
                            th scope="row" { (name) }
                            td.old.changed { (o) }
                            td.new.changed { (n) }
                        }
                    }
                }
            }))
        }
    }
}

/// A side-by-side table around `rows`.
fn table(rows: Markup) -> Markup {
    named_table(false, rows)
}

/// As [`table`], its rows headed by a part's name when `named`.
fn named_table(named: bool, rows: Markup) -> Markup {
    html! {
        div.scroll {
            table.diff.named[named] {
                thead {
                    tr {
                        @if named { th scope="col" { "Part" } }
                        th scope="col" { "Before" }
                        th scope="col" { "After" }
                    }
                }
                tbody { (rows) }
            }
        }
    }
}

/// One row: `old` and `new` (none: the line is not on that side).
fn row_of(old: Option<Markup>, new: Option<Markup>, changed: bool) -> Markup {
    html! {
        tr.change[changed] tabindex=[changed.then_some("-1")] {
            @match old {
                Some(old) => td.old.changed[changed] { (old) },
                None => td.old.none {},
            }
            @match new {
                Some(new) => td.new.changed[changed] { (new) },
                None => td.new.none {},
            }
        }
    }
}

/// `old` and `new` with the words one has and the other lacks marked,
/// as finely as `deadline` leaves time for.
fn words(old: &str, new: &str, deadline: Instant) -> (Markup, Markup) {
    let diff = TextDiff::configure()
        .deadline(deadline)
        .diff_words(old, new);
    let mut left = String::new();
    let mut right = String::new();
    for change in diff.iter_all_changes() {
        let text = maud::html! { (change.value()) }.into_string();
        match change.tag() {
            ChangeTag::Equal => {
                left.push_str(&text);
                right.push_str(&text);
            }
            ChangeTag::Delete => {
                left.push_str("<del>");
                left.push_str(&text);
                left.push_str("</del>");
            }
            ChangeTag::Insert => {
                right.push_str("<ins>");
                right.push_str(&text);
                right.push_str("</ins>");
            }
        }
    }
    (maud::PreEscaped(left), maud::PreEscaped(right))
}

/// A unified line diff (the API's) side by side: context on both sides,
/// each run of removed lines beside the run of added lines after it,
/// paired line by line with their words marked.
fn hunks(unified: &str, deadline: Instant) -> Markup {
    let mut rows = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    let flush = |rows: &mut Vec<Markup>, removed: &mut Vec<&str>, added: &mut Vec<&str>| {
        for i in 0..removed.len().max(added.len()) {
            let (old, new) = match (removed.get(i), added.get(i)) {
                (Some(o), Some(n)) => {
                    let (o, n) = words(o, n, deadline);
                    (Some(o), Some(n))
                }
                (Some(o), None) => (Some(html! { del { (o) } }), None),
                (None, Some(n)) => (None, Some(html! { ins { (n) } })),
                (None, None) => (None, None),
            };
            rows.push(row_of(old, new, true));
        }
        removed.clear();
        added.clear();
    };
    for line in unified.lines() {
        if line.starts_with("@@") {
            flush(&mut rows, &mut removed, &mut added);
            rows.push(html! { tr.hunk { td colspan="2" { "⋯" } } });
        } else if let Some(text) = line.strip_prefix('-') {
            if !added.is_empty() {
                flush(&mut rows, &mut removed, &mut added);
            }
            removed.push(text);
        } else if let Some(text) = line.strip_prefix('+') {
            added.push(text);
        } else if let Some(text) = line.strip_prefix(' ') {
            flush(&mut rows, &mut removed, &mut added);
            rows.push(row_of(
                Some(html! { (text) }),
                Some(html! { (text) }),
                false,
            ));
        }
        // "\ No newline at end of file" and anything else: not text.
    }
    flush(&mut rows, &mut removed, &mut added);
    table(html! { @for row in rows { (row) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_words_are_marked_on_their_side() {
        let later = Instant::now() + WORDS_BUDGET;
        let (old, new) = words(
            "genes play a crucial role",
            "genes play a central role",
            later,
        );
        assert_eq!(old.into_string(), "genes play a <del>crucial</del> role");
        assert_eq!(new.into_string(), "genes play a <ins>central</ins> role");
        let (old, _) = words("<b>", "x", later);
        assert_eq!(old.into_string(), "<del>&lt;b&gt;</del>");
    }

    #[test]
    fn a_unified_diff_pairs_removed_and_added_lines() {
        // As the API gives it: "a\nb\nc\n" to "a\nB\nc\nd\n".
        let later = Instant::now() + WORDS_BUDGET;
        let html = hunks("@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n", later).into_string();
        assert!(html.contains("<del>b</del>"), "{html}");
        assert!(html.contains("<ins>B</ins>"), "{html}");
        assert!(html.contains("<ins>d</ins>"), "{html}");
        assert_eq!(html.matches("<tr class=\"change\"").count(), 2, "{html}");
    }
}
