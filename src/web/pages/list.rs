//! The list of published answers, with a search by question text and
//! slug: every word of the search must appear in the question or the
//! slug, in any case. A search reads the list a thousand answers at a
//! time, at most `SCAN` per page, and offers to go on from there.

use maud::{html, Markup};

use super::{call, layout, Asked, Caller, Refusal, Web};
use crate::grpc::pb;

/// Answers a page shows without a search.
const PAGE: i32 = 50;
/// Answers one search page reads at most.
const SCAN: usize = 10_000;
/// Words a search may have.
const MAX_WORDS: usize = 20;

pub(super) async fn page(web: &Web, caller: &Caller, asked: &Asked) -> Result<Markup, Refusal> {
    let search = asked.param("q").map(str::trim).unwrap_or("");
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > MAX_WORDS {
        return Err(Refusal::new(
            hyper::StatusCode::BAD_REQUEST,
            format!("q: at most {MAX_WORDS} words"),
        ));
    }
    let mut token = asked.param("after").unwrap_or("").to_owned();
    let mut shown = Vec::new();
    let mut read = 0;
    loop {
        let list: pb::ListAnswersResponse = call(
            web,
            caller,
            "/answerlog.v1.AnswerService/ListAnswers",
            &pb::ListAnswersRequest {
                page_size: if words.is_empty() { PAGE } else { 1000 },
                page_token: token,
                ..Default::default()
            },
        )
        .await?;
        read += list.answers.len();
        shown.extend(
            list.answers
                .into_iter()
                .filter(|a| matches(&words, &a.question, &a.slug)),
        );
        token = list.next_page_token;
        if words.is_empty() || token.is_empty() || shown.len() >= PAGE as usize || read >= SCAN {
            break;
        }
    }
    let next = (!token.is_empty()).then(|| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !search.is_empty() {
            query.append_pair("q", search);
        }
        format!("/?{}", query.append_pair("after", &token).finish())
    });
    Ok(layout::page(
        "Answers",
        Some(caller),
        html! {
            h1 { "Answers" }
            form.inline role="search" method="get" action="/" {
                div {
                    label for="q" { "Search questions and slugs" }
                    input #q type="search" name="q" value=(search) placeholder="e.g. myositis";
                }
                button type="submit" { "Search" }
            }
            @if !search.is_empty() {
                p.muted aria-live="polite" {
                    (shown.len()) " " (if shown.len() == 1 { "answer matches" } else { "answers match" })
                    " “" (search) "”"
                    @if next.is_some() { " so far (" (read) " answers read)" }
                    ". " a href="/" { "Clear the search" }
                }
            }
            @if shown.is_empty() {
                p { @if search.is_empty() { "No answers are published yet." } @else { "Nothing matches." } }
            } @else {
                ul.list {
                    @for answer in &shown {
                        li {
                            a.q href={ "/a/" (answer.slug) } { (answer.question) }
                            p.meta {
                                span { "Last updated " (layout::long_date(&answer.last_updated)) }
                                span { "version " (answer.version) }
                                span { code { (answer.slug) } }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                nav.pager aria-label="More answers" {
                    span {}
                    a href=(next) { @if search.is_empty() { "Next page →" } @else { "Search further →" } }
                }
            }
        },
    ))
}

/// Whether every word is in the question or the slug.
fn matches(words: &[String], question: &str, slug: &str) -> bool {
    let question = question.to_lowercase();
    words
        .iter()
        .all(|w| question.contains(w.as_str()) || slug.contains(w.as_str()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_word_must_match_the_question_or_the_slug() {
        let words = |s: &str| {
            s.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        };
        assert!(super::matches(
            &words("JMT causes"),
            "What causes jmt",
            "what-causes-jmt"
        ));
        assert!(super::matches(
            &words("what-causes"),
            "What causes jmt",
            "what-causes-jmt"
        ));
        assert!(!super::matches(
            &words("jmt tea"),
            "What causes jmt",
            "what-causes-jmt"
        ));
        assert!(super::matches(&[], "anything", "any"));
    }
}
