//! The answer page, as the reference page shows it: the question, the
//! AI-assisted disclaimer, "Last updated", the quick answer, key facts,
//! sections, sources with publisher and licence, and "Suggest a question".
//! Auditors see retracted articles too (InspectAnswer), marked as such;
//! readers and writers get GetAnswer's 404 for them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use maud::{html, Markup};

use super::{
    call, field, html, layout, local_path, markdown, may, see_other, Asked, Caller, Form, Refusal,
    Web,
};
use crate::grpc::pb;
use crate::principals::Right;

pub(super) async fn page(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Result<Markup, Refusal> {
    let version = asked.version("version")?;
    // An auditor's: the version asked for, and whether the article stands
    // retracted now (an old version of it may have been served then).
    let (answer, served, retracted_now) = if may(caller, Right::Audit) {
        use pb::inspect_answer_request::{AsOf, Ref};
        let inspect = |as_of: Option<u64>| pb::InspectAnswerRequest {
            r#ref: article_ref!(Ref, reference),
            as_of: as_of.map(AsOf::Version),
            ..Default::default()
        };
        const INSPECT: &str = "/answerlog.v1.AuditService/InspectAnswer";
        let inspected: pb::InspectAnswerResponse =
            call(web, caller, INSPECT, &inspect(version)).await?;
        let retracted_now = match version {
            None => !inspected.served,
            Some(_) => {
                let current: pb::InspectAnswerResponse =
                    call(web, caller, INSPECT, &inspect(None)).await?;
                !current.served
            }
        };
        (inspected.answer, inspected.served, retracted_now)
    } else {
        use pb::get_answer_request::{AsOf, Ref};
        let got: pb::GetAnswerResponse = call(
            web,
            caller,
            "/answerlog.v1.AnswerService/GetAnswer",
            &pb::GetAnswerRequest {
                r#ref: article_ref!(Ref, reference),
                as_of: version.map(AsOf::Version),
                ..Default::default()
            },
        )
        .await?;
        (got.answer, true, false)
    };
    let answer = answer.ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_GATEWAY,
            "the server answered with no answer",
        )
    })?;
    let retracted = answer.status == pb::ArticleStatus::Retracted as i32;
    let provenance = answer.provenance.clone().unwrap_or_default();
    Ok(layout::page(
        &answer.question,
        Some(caller),
        html! {
            article {
                @if retracted || !served {
                    p.notice.retracted role="status" {
                        strong { "Retracted. " }
                        "Readers were not served this version; auditors see it here as it stood."
                    }
                } @else if retracted_now {
                    p.notice.retracted.since role="status" {
                        strong { "Retracted since. " }
                        "Readers were served this version then; the article stands retracted now, and readers get 404."
                    }
                }
                @if let Some(v) = version {
                    p.notice.old role="status" {
                        "You are reading version " (v) ", recorded " (layout::time(answer.recorded_at.as_ref())) ". "
                        a href={ "/a/" (answer.slug) } { "Read the current version" }
                    }
                }
                @if may(caller, Right::History) {
                    (layout::tabs(&answer.slug, "answer"))
                }
                h1.question { (answer.question) }
                @if !answer.disclaimer.is_empty() {
                    p.disclaimer { (answer.disclaimer) }
                }
                p.meta {
                    span { "Last updated: " time.last-updated datetime=(answer.last_updated) { (layout::long_date(&answer.last_updated)) } }
                    span { "Version " (answer.version) }
                    (provenance_line(&provenance))
                }
                (badge(&answer))
                section.quick aria-labelledby="quick-answer" {
                    h2 #quick-answer { "Quick Answer" }
                    p.quick-answer { (answer.quick_answer) }
                }
                @if !answer.key_facts.is_empty() {
                    section.facts aria-labelledby="key-facts" {
                        h2 #key-facts { "Key Facts" }
                        ul {
                            @for fact in &answer.key_facts { li.key-fact { (fact) } }
                        }
                    }
                }
                @for section in &answer.sections {
                    section.answer-section id={ "section-" (section.id) } {
                        h2.section-heading { (section.heading) }
                        div.section-body { (markdown::render(&section.body)) }
                    }
                }
                @if !answer.sources.is_empty() {
                    section.sources aria-labelledby="sources" {
                        h2 #sources { "Sources" }
                        ol {
                            @for source in &answer.sources {
                                li.source {
                                    @if source.url.is_empty() {
                                        cite { (source.title) }
                                    } @else {
                                        a href=(source.url) rel="noopener noreferrer" { cite { (source.title) } }
                                    }
                                    " – " span.publisher { (source.publisher) } " "
                                    span.licence title="Licence" { (source.license) }
                                    @if !source.accessed_on.is_empty() {
                                        span.muted { " (accessed " time.accessed datetime=(source.accessed_on) { (layout::long_date(&source.accessed_on)) } ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            // A suggestion belongs with an answer readers are served.
            @if !(retracted || !served || retracted_now) {
                (suggest_form(caller, &answer, asked.param("suggested").is_some()))
            }
        },
    ))
}

/// The verification badge: `app.js` fetches the answer's receipt and
/// checks it here, in the browser, against a key the browser pinned.
fn badge(answer: &pb::Answer) -> Markup {
    html! {
        section #badge .badge data-receipt={ "/a/" (answer.id) "/receipt?version=" (answer.version) } aria-labelledby="badge-state" {
            p #badge-state .badge-state role="status" aria-live="polite" {
                "The verification badge checks this answer's receipt in your browser; it needs JavaScript."
            }
            details #badge-keys hidden {
                summary { "Keys this browser trusts" }
                p { "Log key: " code #pinned-key { "none yet" } " " span #pinned-how .muted {} }
                p.hint { "On first use this browser pins the key the server offers. Better: paste the key your auditor published (" code { "answerlog audit checkpoint --vkey" } ")." }
                div.field {
                    label for="log-key" { "The log's verifier key" }
                    input #log-key type="text" spellcheck="false" autocomplete="off" placeholder="origin+1234abcd+AQ…";
                }
                div.field {
                    label for="witness-keys" { "Witness keys, one a line (optional)" }
                    textarea #witness-keys spellcheck="false" {}
                }
                button #pin-keys type="button" { "Pin these keys" }
                " "
                button #forget-keys .secondary type="button" { "Forget the pinned keys" }
            }
        }
    }
}

/// "AI-assisted, reviewed by …" or "Written by a person".
fn provenance_line(provenance: &pb::Provenance) -> Markup {
    html! {
        @if provenance.ai_assisted {
            span.tag.ai.provenance { "AI-assisted" @if !provenance.generator.is_empty() { " (" (provenance.generator) ")" } }
        } @else {
            span.tag.human.provenance { "Written by a person" }
        }
        @if provenance.reviewed_by.is_empty() {
            span.review { "Not reviewed" }
        } @else {
            span.review { "Reviewed by " (provenance.reviewed_by) " at version " (provenance.reviewed_version) }
        }
    }
}

fn suggest_form(caller: &Caller, answer: &pb::Answer, thanked: bool) -> Markup {
    html! {
        section.suggest #suggest aria-labelledby="suggest-heading" {
            h2 #suggest-heading { "Missing an answer?" }
            @if thanked {
                p.notice.thanks role="status" { "Thank you: your question is recorded for the writers." }
            }
            p { "Suggest a question and we'll generate an answer for it." }
            form method="post" action="/suggest" {
                input type="hidden" name="csrf" value=(caller.csrf);
                input type="hidden" name="article_id" value=(answer.id);
                input type="hidden" name="back" value={ "/a/" (answer.slug) };
                div.field {
                    label for="question" { "Your question" }
                    textarea #question name="question" required maxlength="2000" {}
                }
                button type="submit" { "Suggest a question" }
            }
        }
    }
}

/// A suggestion from the form, then back to the page it came from.
pub(super) async fn suggest(web: &Web, caller: &Caller, form: &Form) -> Response<Full<Bytes>> {
    let back = local_path(field(form, "back")).to_owned();
    let request = pb::SuggestQuestionRequest {
        question: field(form, "question").unwrap_or("").to_owned(),
        article_id: field(form, "article_id").unwrap_or("").to_owned(),
    };
    let suggested: Result<pb::SuggestQuestionResponse, Refusal> = call(
        web,
        caller,
        "/answerlog.v1.SuggestionService/SuggestQuestion",
        &request,
    )
    .await;
    match suggested {
        Ok(_) => {
            let separator = if back.contains('?') { '&' } else { '?' };
            see_other(&format!("{back}{separator}suggested=1#suggest"))
        }
        Err(refusal) => html(refusal.status, layout::error(caller, &refusal)),
    }
}
