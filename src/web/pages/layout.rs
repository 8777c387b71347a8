//! The shell every page shares: head, the site's bar (where you are, who
//! you are, log out), the main content, and the error page.

use maud::{html, Markup, DOCTYPE};

use super::{assets, may, Caller, Refusal};
use crate::principals::Right;

/// A whole page titled `title` around `main`.
pub(super) fn page(title: &str, caller: Option<&Caller>, main: Markup) -> Markup {
    shell(title, caller, false, main)
}

/// As [`page`], for tables that need the width (history, diff, blame).
pub(super) fn page_wide(title: &str, caller: Option<&Caller>, main: Markup) -> Markup {
    shell(title, caller, true, main)
}

/// The tabs of an article's pages, `current` marked: the answer, its
/// history, blame and the diff. Shown to those with the history right.
pub(super) fn tabs(reference: &str, current: &str) -> Markup {
    let tab = |name: &str, path: &str, label: &str| {
        html! {
            a href={ "/a/" (reference) (path) } aria-current=[(name == current).then_some("page")] { (label) }
        }
    };
    html! {
        nav.tabs aria-label="This article" {
            (tab("answer", "", "Answer"))
            (tab("history", "/history", "History"))
            (tab("diff", "/diff", "Changes"))
            (tab("blame", "/blame", "Blame"))
        }
    }
}

fn shell(title: &str, caller: Option<&Caller>, wide: bool, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · answerlog" }
                link rel="stylesheet" href=(assets::STYLESHEET);
                script src=(assets::SCRIPT) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    nav aria-label="Site" {
                        a.brand href="/" { "answerlog" }
                        @if let Some(caller) = caller {
                            a href="/" { "Answers" }
                            @if may(caller, Right::Audit) {
                                a href="/freshness" { "Freshness" }
                            }
                        }
                    }
                    @if let Some(caller) = caller {
                        div.who {
                            span { (caller.principal.name) " " span.role { (caller.principal.role.name()) } }
                            @if caller.in_session {
                                form method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(caller.csrf);
                                    button type="submit" { "Log out" }
                                }
                            }
                        }
                    }
                }
                main #main .wide[wide] tabindex="-1" { (main) }
                footer {
                    p { "answerlog keeps every version of every answer; the history is an append-only, verifiable log." }
                }
            }
        }
    }
}

/// The page for a refusal.
pub(super) fn error(caller: &Caller, refusal: &Refusal) -> Markup {
    let title = refusal
        .status
        .canonical_reason()
        .unwrap_or("Something went wrong");
    page(
        title,
        Some(caller),
        html! {
            h1 { (title) }
            p.refusal role="alert" { (refusal.message) }
            p { a href="/" { "Back to the answers" } }
        },
    )
}

/// A date of the form 2026-04-04 as a person reads it: April 4, 2026.
pub(super) fn long_date(date: &str) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map(|d| d.format("%B %-d, %Y").to_string())
        .unwrap_or_else(|_| date.to_owned())
}

/// A recorded time, in UTC to the second.
pub(super) fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The same time as a `datetime` attribute takes it.
pub(super) fn machine_time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
