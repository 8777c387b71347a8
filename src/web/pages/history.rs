//! The history page: every version of an article, oldest first, a page
//! at a time — who, when (recorded, and the date the page displayed),
//! why, the events, AI-assisted or written by a person, who reviewed it;
//! retractions and redactions shown as such. Writers, auditors and
//! admins (ListRevisions' right); a reader is refused.

use maud::{html, Markup};

use super::{call, layout, Asked, Caller, Refusal, Web};
use crate::grpc::pb;

/// Versions one page shows.
const PAGE: i32 = 50;

/// The article `reference` names, with its current version, as the
/// history's first page says (and refused to those without the right).
pub(super) async fn article(
    web: &Web,
    caller: &Caller,
    reference: &str,
) -> Result<pb::ListRevisionsResponse, Refusal> {
    revisions(web, caller, reference, 1, "").await
}

async fn revisions(
    web: &Web,
    caller: &Caller,
    reference: &str,
    page_size: i32,
    after: &str,
) -> Result<pb::ListRevisionsResponse, Refusal> {
    call(
        web,
        caller,
        "/answerlog.v1.AuditService/ListRevisions",
        &pb::ListRevisionsRequest {
            r#ref: article_ref!(pb::list_revisions_request::Ref, reference),
            page_size,
            page_token: after.to_owned(),
            min_position: 0,
        },
    )
    .await
}

pub(super) async fn page(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Result<Markup, Refusal> {
    let list = revisions(
        web,
        caller,
        reference,
        PAGE,
        asked.param("after").unwrap_or(""),
    )
    .await?;
    let mut rows = Vec::with_capacity(list.revisions.len());
    for revision in &list.revisions {
        let full: pb::GetRevisionResponse = call(
            web,
            caller,
            "/answerlog.v1.AuditService/GetRevision",
            &pb::GetRevisionRequest {
                article_id: list.article_id.clone(),
                version: revision.version,
                min_position: 0,
            },
        )
        .await?;
        rows.push((revision, full));
    }
    let next = (!list.next_page_token.is_empty()).then(|| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &list.next_page_token)
            .finish();
        format!("/a/{reference}/history?{query}")
    });
    let current = list.current_version;
    let compared = (current.saturating_sub(1).max(1), current);
    let title = format!("History of {reference}");
    Ok(layout::page_wide(
        &title,
        Some(caller),
        html! {
            (layout::tabs(reference, "history"))
            h1 { "History" }
            p.meta {
                span { "Article " code { (list.article_id) } }
                span { "Current version " (current) }
            }
            form method="get" action={ "/a/" (reference) "/diff" } {
                div.scroll {
                    table.history {
                        caption.muted { "Every commit of the article, oldest first. Recorded: when the log took it; Last updated: the date the page showed after it. Pick two versions to compare." }
                        thead {
                            tr {
                                th.pick scope="col" { "Compare" }
                                th scope="col" { "Version" }
                                th scope="col" { "Recorded" }
                                th scope="col" { "Who" }
                                th scope="col" { "Why" }
                                th scope="col" { "What" }
                                th scope="col" { "Last updated" }
                            }
                        }
                        tbody {
                            @for (revision, full) in &rows {
                                (row(reference, revision, full, compared))
                            }
                        }
                    }
                }
                p { button type="submit" { "Compare the chosen versions" } }
            }
            @if let Some(next) = next {
                nav.pager aria-label="More versions" {
                    span {}
                    a href=(next) { "Later versions →" }
                }
            }
        },
    ))
}

fn row(
    reference: &str,
    revision: &pb::Revision,
    full: &pb::GetRevisionResponse,
    (from, to): (u64, u64),
) -> Markup {
    let provenance = full.provenance.clone().unwrap_or_default();
    let reviewed = revision.event_kinds.iter().any(|k| k == "ArticleReviewed");
    let retraction = full.events.iter().find_map(|e| match &e.payload {
        Some(pb::event::Payload::ArticleRetracted(r)) => Some(r.reason.as_str()),
        _ => None,
    });
    let redacted: Vec<&pb::EventRedaction> = full
        .events
        .iter()
        .filter_map(|e| e.redaction.as_ref())
        .collect();
    html! {
        tr id={ "v" (revision.version) } {
            td.pick {
                input type="radio" name="from" value=(revision.version)
                    checked[revision.version == from] aria-label={ "Compare from version " (revision.version) };
                input type="radio" name="to" value=(revision.version)
                    checked[revision.version == to] aria-label={ "Compare to version " (revision.version) };
            }
            td.num {
                a href={ "/a/" (reference) "?version=" (revision.version) } { (revision.version) }
            }
            td.num {
                time datetime=(layout::machine_time(revision.recorded_at.as_ref())) {
                    (layout::time(revision.recorded_at.as_ref()))
                }
            }
            td {
                (revision.actor)
                @if reviewed { br; span.tag.human { "reviewer" } }
                @if let Some(claims) = &revision.origin { (claimed(claims)) }
            }
            td {
                @if revision.reason.is_empty() { span.muted { "(no reason given)" } } @else { (revision.reason) }
                @if let Some(reason) = retraction {
                    p.refusal { strong { "Retracted" } @if !reason.is_empty() { ": " (reason) } }
                }
                @for redaction in &redacted {
                    p.redacted { "Content redacted by the commit at log position " (redaction.by_position) }
                }
            }
            td {
                div.kinds {
                    @for kind in &revision.event_kinds { span class={ "kind " (kind) } { (kind) } }
                }
                @if provenance.ai_assisted {
                    span.tag.ai { "AI-assisted" @if !provenance.generator.is_empty() { " (" (provenance.generator) ")" } }
                } @else {
                    span.tag.human { "by a person" }
                }
            }
            td.num { (layout::long_date(&revision.last_updated)) }
        }
    }
}

/// An imported commit's origin claims: what the source says of its
/// revision, set apart from the log's own actor as a claim.
fn claimed(c: &pb::OriginClaims) -> Markup {
    html! {
        div.claimed title="What the imported history says: claims, beside the log's own actor" {
            "claimed: "
            @if c.actor.is_empty() { span.muted { "(no author)" } } @else { span.origin-actor { (c.actor) } }
            @if let Some(time) = &c.time {
                ", " time datetime=(layout::machine_time(Some(time))) { (layout::time(Some(time))) }
            }
            br;
            span.muted { (c.origin) " revision " (c.revision_id) }
            @if !c.kind.is_empty() { br; span.origin-kind { (c.kind) } }
            @if c.minor { " " span.tag { "minor" } }
            @if !c.comment.is_empty() { br; q.origin-comment { (c.comment) } }
            @if !c.suppressed.is_empty() {
                br; span.muted { "suppressed at the source: " (c.suppressed.join(", ")) }
            }
            @if !c.license.is_empty() { br; span.muted { "licence: " (c.license) } }
        }
    }
}
