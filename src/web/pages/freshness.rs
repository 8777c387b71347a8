//! The freshness report: re-dates that moved "Last updated" with no
//! change of content since the date was last set (GetFreshnessReport),
//! across the store, a page of articles at a time. Auditors and admins.

use maud::{html, Markup};

use super::{call, layout, Asked, Caller, Refusal, Web};
use crate::grpc::pb;

pub(super) async fn page(web: &Web, caller: &Caller, asked: &Asked) -> Result<Markup, Refusal> {
    let report: pb::GetFreshnessReportResponse = call(
        web,
        caller,
        "/answerlog.v1.AuditService/GetFreshnessReport",
        &pb::GetFreshnessReportRequest {
            article_id: String::new(),
            page_token: asked.param("after").unwrap_or("").to_owned(),
            min_position: 0,
        },
    )
    .await?;
    let next = (!report.next_page_token.is_empty()).then(|| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &report.next_page_token)
            .finish();
        format!("/freshness?{query}")
    });
    Ok(layout::page_wide(
        "Freshness",
        Some(caller),
        html! {
            h1 { "Freshness" }
            p { "Re-dates that moved “Last updated” although the content had not changed since the date was last set: a page that says it is newer than it is." }
            @if report.redates.is_empty() {
                p.notice.thanks { "No such re-dates" @if next.is_some() { " on this page" } "." }
            } @else {
                div.scroll {
                    table.freshness {
                        thead {
                            tr {
                                th scope="col" { "Article" }
                                th scope="col" { "Re-dated" }
                                th scope="col" { "From" }
                                th scope="col" { "To" }
                                th scope="col" { "Who, when, why" }
                                th scope="col" { "Date set by" }
                            }
                        }
                        tbody {
                            @for redate in &report.redates {
                                @let revision = redate.revision.clone().unwrap_or_default();
                                tr {
                                    td { a href={ "/a/" (redate.slug) } { code { (redate.slug) } } }
                                    td.num { a href={ "/a/" (redate.slug) "?version=" (revision.version) } { "v" (revision.version) } }
                                    td.num { (layout::long_date(&redate.previous_last_updated)) }
                                    td.num { (layout::long_date(&revision.last_updated)) }
                                    td {
                                        (revision.actor) br;
                                        span.muted { (layout::time(revision.recorded_at.as_ref())) }
                                        @if !revision.reason.is_empty() { br; q { (revision.reason) } }
                                    }
                                    td.num { a href={ "/a/" (redate.slug) "?version=" (redate.dated_version) } { "v" (redate.dated_version) } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                nav.pager aria-label="More articles" {
                    span {}
                    a href=(next) { "More →" }
                }
            }
        },
    ))
}
