//! `get`, `history` and `diff`: reading answers and their history.

use anyhow::Context as _;

use super::client::{answers, audit, reference, status_error};
use super::format::{narrow, print_yaml, table, time, wide, Output};
use super::json;
use super::ServerArg;
use crate::grpc::pb::{
    get_answer_request, list_revisions_request, Answer, ArticleStatus, ChangeKind,
    DiffVersionsRequest, DiffVersionsResponse, GetAnswerRequest, ListRevisionsRequest,
    ListRevisionsResponse,
};

/// How `get` prints an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum GetOutput {
    Text,
    Json,
    Yaml,
    Import,
}

/// Which version `get` shows, and the position it waits for.
pub(super) struct AsOfArgs {
    pub(super) version: Option<u64>,
    pub(super) at: Option<String>,
    pub(super) as_of_origin: Option<String>,
    pub(super) min_position: u64,
    /// Where to save the answer's receipt, if asked for.
    pub(super) receipt: Option<std::path::PathBuf>,
}

pub(super) async fn get(
    server: &ServerArg,
    text: &str,
    args: &AsOfArgs,
    output: GetOutput,
) -> anyhow::Result<()> {
    let instant = |flag: &str, text: &str| -> anyhow::Result<prost_types::Timestamp> {
        let t = super::instant::parse_instant(text, chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
        Ok(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
        })
    };
    let as_of = match (
        args.version,
        args.at.as_deref(),
        args.as_of_origin.as_deref(),
    ) {
        (Some(v), _, _) => Some(get_answer_request::AsOf::Version(v)),
        (None, Some(at), _) => Some(get_answer_request::AsOf::Time(instant("--at", at)?)),
        (None, None, Some(origin)) => Some(get_answer_request::AsOf::OriginTime(instant(
            "--as-of-origin",
            origin,
        )?)),
        (None, None, None) => None,
    };
    let response = answers(server)
        .await?
        .get_answer(GetAnswerRequest {
            r#ref: Some(reference(text)),
            as_of,
            min_position: args.min_position,
            receipt: args.receipt.is_some(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let answer = response.answer.context("the server sent no answer")?;
    if let Some(path) = &args.receipt {
        if response.receipt.is_empty() {
            anyhow::bail!("the server sent no receipt");
        }
        std::fs::write(path, &response.receipt)
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    match output {
        GetOutput::Json => json::print("answerlog.v1.Answer", &answer),
        GetOutput::Yaml => print_yaml("answerlog.v1.Answer", &answer),
        GetOutput::Import => out!("{}", super::apply::answer_text(&answer)),
        GetOutput::Text => out!("{}", render(&answer)),
    }
}

/// An answer as a person reads it.
fn render(a: &Answer) -> String {
    let mut out = String::new();
    let recorded = time(a.recorded_at.as_ref());
    out.push_str(&format!("{}\n", a.question));
    out.push_str(&format!(
        "slug {} · id {} · version {} · position {} · recorded {}\n",
        a.slug, a.id, a.version, a.global_position, recorded
    ));
    out.push_str(&format!("Last updated: {}\n", a.last_updated));
    if a.status == ArticleStatus::Retracted as i32 {
        out.push_str("RETRACTED\n");
    }
    if let Some(p) = &a.provenance {
        if p.ai_assisted {
            out.push_str("Content is AI-assisted");
            if !p.generator.is_empty() {
                out.push_str(&format!(" (generator: {})", p.generator));
            }
            out.push('\n');
        }
        if !p.reviewed_by.is_empty() {
            out.push_str(&format!(
                "Reviewed by: {}, at version {}\n",
                p.reviewed_by, p.reviewed_version
            ));
        }
    }
    out.push_str(&format!("\n## Quick Answer\n\n{}\n", a.quick_answer));
    if !a.key_facts.is_empty() {
        out.push_str("\n## Key Facts\n\n");
        for fact in &a.key_facts {
            out.push_str(&format!("- {fact}\n"));
        }
    }
    for s in &a.sections {
        out.push_str(&format!("\n## {}   [{}]\n\n{}\n", s.heading, s.id, s.body));
    }
    if !a.sources.is_empty() {
        out.push_str("\n## Sources\n\n");
        for s in &a.sources {
            out.push_str(&format!(
                "- [{}] {} — {} ({})",
                s.id, s.title, s.publisher, s.license
            ));
            if !s.url.is_empty() {
                out.push_str(&format!(" {}", s.url));
            }
            if !s.accessed_on.is_empty() {
                out.push_str(&format!(", accessed {}", s.accessed_on));
            }
            out.push('\n');
        }
    }
    if !a.disclaimer.is_empty() {
        out.push_str(&format!("\n{}\n", a.disclaimer));
    }
    out
}

/// Every revision, page by page.
async fn all_revisions(
    server: &ServerArg,
    text: &str,
    min_position: u64,
) -> anyhow::Result<ListRevisionsResponse> {
    let mut client = audit(server).await?;
    let r#ref = Some(match reference(text) {
        get_answer_request::Ref::Id(id) => list_revisions_request::Ref::Id(id),
        get_answer_request::Ref::Slug(slug) => list_revisions_request::Ref::Slug(slug),
    });
    let mut all = ListRevisionsResponse::default();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_revisions(ListRevisionsRequest {
                r#ref: r#ref.clone(),
                page_size: 1000,
                page_token,
                min_position,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        all.article_id = page.article_id;
        all.current_version = page.current_version;
        all.revisions.extend(page.revisions);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

pub(super) async fn history(
    server: &ServerArg,
    text: &str,
    min_position: u64,
    output: Output,
) -> anyhow::Result<()> {
    let all = all_revisions(server, text, min_position).await?;
    match output {
        Output::Json => return json::print("answerlog.v1.ListRevisionsResponse", &all),
        Output::Yaml => return print_yaml("answerlog.v1.ListRevisionsResponse", &all),
        Output::Table | Output::Wide => {
            let columns = [
                narrow("VERSION"),
                narrow("POSITION"),
                narrow("RECORDED"),
                narrow("ACTOR"),
                narrow("EVENTS"),
                narrow("REASON"),
                wide("LAST UPDATED"),
                wide("HASH"),
                wide("CLAIMED"),
            ];
            let rows: Vec<Vec<String>> = all
                .revisions
                .iter()
                .map(|r| {
                    vec![
                        r.version.to_string(),
                        r.global_position.to_string(),
                        time(r.recorded_at.as_ref()),
                        r.actor.clone(),
                        r.event_kinds.join(","),
                        r.reason.clone(),
                        r.last_updated.clone(),
                        r.hash.clone(),
                        r.origin.as_ref().map(claimed).unwrap_or_default(),
                    ]
                })
                .collect();
            return table(output == Output::Wide, &columns, &rows);
        }
        Output::Text => {}
    }
    outln!(
        "article {} · {} versions",
        all.article_id,
        all.current_version
    )?;
    for r in &all.revisions {
        let recorded = time(r.recorded_at.as_ref());
        outln!(
            "v{:<4} pos {:<8} {}  {:<12} {:<40} {}",
            r.version,
            r.global_position,
            recorded,
            r.actor,
            r.event_kinds.join(","),
            r.reason
        )?;
        if let Some(claims) = &r.origin {
            outln!("       {}", claimed(claims))?;
        }
    }
    Ok(())
}

/// An imported commit's origin claims on one line: what the source says
/// of its revision, marked as a claim.
fn claimed(c: &crate::grpc::pb::OriginClaims) -> String {
    let mut parts = vec![format!("{} revision {}", c.origin, c.revision_id)];
    let claimed_at = time(c.time.as_ref());
    if !claimed_at.is_empty() {
        parts.push(claimed_at);
    }
    for (label, value) in [
        ("by", &c.actor),
        ("kind", &c.kind),
        ("licence", &c.license),
        ("format", &c.format),
    ] {
        if !value.is_empty() {
            parts.push(format!("{label} {value}"));
        }
    }
    if c.minor {
        parts.push("minor".into());
    }
    if !c.suppressed.is_empty() {
        parts.push(format!(
            "suppressed at the source: {}",
            c.suppressed.join(", ")
        ));
    }
    if !c.comment.is_empty() {
        parts.push(format!("\"{}\"", c.comment));
    }
    format!("claimed: {}", parts.join(" · "))
}

pub(super) async fn diff(
    server: &ServerArg,
    text: &str,
    from: u64,
    to: u64,
    as_json: bool,
) -> anyhow::Result<()> {
    let article_id = article_id(server, text).await?;
    let d = audit(server)
        .await?
        .diff_versions(DiffVersionsRequest {
            article_id,
            from_version: from,
            to_version: to,
            min_position: 0,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if as_json {
        return json::print("answerlog.v1.DiffVersionsResponse", &d);
    }
    let text = render_diff(&d);
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && super::out::colour_allowed() {
        out!("{}", coloured(&text))?;
    } else {
        out!("{text}")?;
    }
    Ok(())
}

/// A diff with added lines green and removed lines red (for a terminal).
fn coloured(diff: &str) -> String {
    diff.lines()
        .map(|line| match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => format!("\x1b[32m{line}\x1b[0m\n"),
            Some(b'-') if !line.starts_with("---") => format!("\x1b[31m{line}\x1b[0m\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

/// The article id a reference names (a slug resolved through the audit
/// service, so that a retracted article is found too).
pub(super) async fn article_id(server: &ServerArg, text: &str) -> anyhow::Result<String> {
    match reference(text) {
        get_answer_request::Ref::Id(id) => Ok(id),
        get_answer_request::Ref::Slug(_) => {
            let mut client = audit(server).await?;
            let page = client
                .list_revisions(ListRevisionsRequest {
                    r#ref: Some(list_revisions_request::Ref::Slug(text.to_owned())),
                    page_size: 1,
                    page_token: String::new(),
                    min_position: 0,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            Ok(page.article_id)
        }
    }
}

fn render_diff(d: &DiffVersionsResponse) -> String {
    let mut out = format!(
        "article {}: version {} → {}\n",
        d.article_id, d.from_version, d.to_version
    );
    if d.fields.is_empty() && d.sections.is_empty() && d.sources.is_empty() {
        out.push_str("no changes\n");
    }
    for f in &d.fields {
        out.push_str(&format!("\n{} changed:\n{}", f.field, f.line_diff));
    }
    for s in &d.sections {
        let kind = change(s.change);
        let heading = if s.new_heading.is_empty() {
            &s.old_heading
        } else {
            &s.new_heading
        };
        out.push_str(&format!("\nsection [{}] {heading:?} {kind}", s.section_id));
        if s.old_position != s.new_position && s.old_position >= 0 && s.new_position >= 0 {
            out.push_str(&format!(
                " (position {} → {})",
                s.old_position, s.new_position
            ));
        }
        if !s.old_heading.is_empty() && !s.new_heading.is_empty() && s.old_heading != s.new_heading
        {
            out.push_str(&format!(" (heading was {:?})", s.old_heading));
        }
        out.push('\n');
        out.push_str(&s.body_diff);
    }
    for s in &d.sources {
        let source = s.new_source.as_ref().or(s.old_source.as_ref());
        let (title, publisher) = source
            .map(|s| (s.title.as_str(), s.publisher.as_str()))
            .unwrap_or_default();
        out.push_str(&format!(
            "\nsource [{}] {title:?} ({publisher}) {}\n",
            s.source_id,
            change(s.change)
        ));
    }
    out
}

fn change(kind: i32) -> &'static str {
    match ChangeKind::try_from(kind) {
        Ok(ChangeKind::Added) => "added",
        Ok(ChangeKind::Removed) => "removed",
        Ok(ChangeKind::Modified) => "modified",
        Ok(ChangeKind::Moved) => "moved",
        _ => "changed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_diff_is_green_where_added_and_red_where_removed() {
        assert_eq!(
            coloured("--- a\n+++ b\n-old\n+new\n same\n"),
            "--- a\n+++ b\n\x1b[31m-old\x1b[0m\n\x1b[32m+new\x1b[0m\n same\n"
        );
    }
}
