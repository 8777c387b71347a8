//! Blame: each part of an article — question, quick answer, each key
//! fact, section and source, the date, the status, a standing review —
//! with the version and the person that last changed it and that
//! introduced it. As of a version with `?version=N`.

use maud::{html, Markup};

use super::{call, layout, Asked, Caller, Refusal, Web};
use crate::grpc::pb;

pub(super) async fn page(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Result<Markup, Refusal> {
    let version = asked.version("version")?.unwrap_or(0);
    let blame: pb::GetAttributionResponse = call(
        web,
        caller,
        "/answerlog.v1.AuditService/GetAttribution",
        &pb::GetAttributionRequest {
            r#ref: article_ref!(pb::get_attribution_request::Ref, reference),
            version,
            min_position: 0,
        },
    )
    .await?;
    Ok(layout::page_wide(
        &format!("Blame of {reference}"),
        Some(caller),
        html! {
            (layout::tabs(reference, "blame"))
            h1 { "Blame" }
            p.meta {
                span { "As of version " (blame.version) }
                span { "Article " code { (blame.article_id) } }
            }
            div.scroll {
                table.blame {
                    caption.muted { "Who last changed each part, and who first wrote it." }
                    thead {
                        tr {
                            th scope="col" { "Part" }
                            th scope="col" { "Shows" }
                            th scope="col" { "Last changed" }
                            th scope="col" { "Introduced" }
                        }
                    }
                    tbody {
                        @for part in &blame.attributions {
                            tr data-element=(part.element) {
                                th scope="row" { (part_name(&part.element)) }
                                td { (part.label) }
                                td.stamp { (stamp(reference, part.last_changed.as_ref(), true)) }
                                td.stamp { (stamp(reference, part.introduced.as_ref(), false)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// An element of the attribution as a person names it.
fn part_name(element: &str) -> String {
    if let Some(i) = element
        .strip_prefix("key_facts[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|i| i.parse::<usize>().ok())
    {
        return format!("Key fact {}", i + 1);
    }
    if element.starts_with("section:") {
        return "Section".into();
    }
    if element.starts_with("source:") {
        return "Source".into();
    }
    match element {
        "question" => "Question".into(),
        "quick_answer" => "Quick answer".into(),
        "last_updated" => "Last updated".into(),
        "status" => "Status".into(),
        "review" => "Review".into(),
        other => other.to_owned(),
    }
}

/// Which version and who; when (the date, the full time on hover) and,
/// with `why`, the commit's reason.
fn stamp(reference: &str, stamp: Option<&pb::ChangeStamp>, why: bool) -> Markup {
    let Some(stamp) = stamp else {
        return html! {};
    };
    let full = layout::time(stamp.recorded_at.as_ref());
    html! {
        a href={ "/a/" (reference) "?version=" (stamp.version) } { "v" (stamp.version) }
        " by " span.actor { (stamp.actor) } " "
        @if !stamp.origin_actor.is_empty() {
            br;
            span.claimed title="What the imported history says: a claim, beside the log's own actor" {
                "claimed: " span.origin-actor { (stamp.origin_actor) }
                @if let Some(t) = stamp.origin_time.as_ref() {
                    " " time datetime=(layout::machine_time(Some(t))) { (layout::time(Some(t)).get(..10).unwrap_or_default()) }
                }
            }
            br;
        }
        time.muted datetime=(layout::machine_time(stamp.recorded_at.as_ref())) title=(full) {
            (full.get(..10).unwrap_or(&full))
        }
        @if why && !stamp.reason.is_empty() {
            br; q.muted { (stamp.reason) }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_are_named_for_people() {
        assert_eq!(super::part_name("key_facts[0]"), "Key fact 1");
        assert_eq!(super::part_name("section:abc"), "Section");
        assert_eq!(super::part_name("quick_answer"), "Quick answer");
    }
}
