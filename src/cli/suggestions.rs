//! `answerlog suggest` and `answerlog suggestions …`: readers' suggested
//! questions, and the writers' queue of them (list, answer, decline).

use super::client::{status_error, suggestions};
use super::format::{narrow, print_items, time, wide, Output, OutputArg};
use super::{json, ServerArg};
use crate::grpc::pb::{
    ListSuggestionsRequest, ResolveSuggestionRequest, SuggestQuestionRequest, Suggestion,
    SuggestionResolution,
};

#[derive(Debug, clap::Subcommand)]
pub(super) enum SuggestionsCommand {
    /// The suggested questions, in the order they came (role writer,
    /// auditor or admin).
    List {
        /// Only those in this state.
        #[arg(long, value_enum, default_value_t = Shown::Open)]
        status: Shown,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Mark a suggestion answered by an article (role writer).
    Answer {
        /// The suggestion's id (as `suggestions list` shows it).
        id: String,
        /// The article that answers it: its slug or id.
        article: String,
        /// A note for the record (one line).
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Mark a suggestion declined, saying why (role writer).
    Decline {
        /// The suggestion's id (as `suggestions list` shows it).
        id: String,
        /// Why it will not be answered (one line).
        #[arg(long)]
        note: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// Which suggestions `list` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Shown {
    Open,
    Answered,
    Declined,
    All,
}

impl Shown {
    fn admits(self, s: &Suggestion) -> bool {
        match self {
            Shown::All => true,
            Shown::Open => s.status == "open",
            Shown::Answered => s.status == "answered",
            Shown::Declined => s.status == "declined",
        }
    }
}

/// `answerlog suggest QUESTION [--article REF]`.
pub(super) async fn suggest(
    server: &ServerArg,
    question: String,
    article: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let article_id = match article {
        Some(reference) => super::client::current(server, reference).await?.id,
        None => String::new(),
    };
    let made = suggestions(server)
        .await?
        .suggest_question(SuggestQuestionRequest {
            question,
            article_id,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if as_json {
        return outln!(
            "{}",
            serde_json::json!({ "suggestionId": made.suggestion_id })
        );
    }
    outln!("suggested: {}", made.suggestion_id)
}

pub(super) async fn run(command: SuggestionsCommand) -> anyhow::Result<()> {
    match command {
        SuggestionsCommand::List {
            status,
            output,
            server,
        } => list(&server, status, output.format()).await,
        SuggestionsCommand::Answer {
            id,
            article,
            note,
            json,
            server,
        } => {
            let request = ResolveSuggestionRequest {
                suggestion_id: id,
                resolution: SuggestionResolution::Answered as i32,
                article,
                note,
            };
            resolve(&server, request, json).await
        }
        SuggestionsCommand::Decline {
            id,
            note,
            json,
            server,
        } => {
            let request = ResolveSuggestionRequest {
                suggestion_id: id,
                resolution: SuggestionResolution::Declined as i32,
                article: String::new(),
                note,
            };
            resolve(&server, request, json).await
        }
    }
}

async fn list(server: &ServerArg, shown: Shown, format: Output) -> anyhow::Result<()> {
    // Text and JSON lines go out as they come; the rest at the end.
    let mut found = Vec::new();
    each(server, |s| {
        if !shown.admits(s) {
            return Ok(());
        }
        match format {
            Output::Text => outln!("{}", line(s)),
            Output::Json => outln!("{}", json::to_json_line("answerlog.v1.Suggestion", s)?),
            _ => {
                found.push(s.clone());
                Ok(())
            }
        }
    })
    .await?;
    if matches!(format, Output::Text | Output::Json) {
        return Ok(());
    }
    let columns = [
        narrow("ID"),
        narrow("STATUS"),
        narrow("SUGGESTED"),
        narrow("BY"),
        narrow("QUESTION"),
        wide("ON ARTICLE"),
        wide("RESOLVED BY"),
        wide("RESOLVED"),
        wide("ANSWERED BY ARTICLE"),
        wide("NOTE"),
    ];
    print_items(format, "answerlog.v1.Suggestion", &found, &columns, |s| {
        vec![
            s.id.clone(),
            s.status.clone(),
            time(s.suggested_at.as_ref()),
            s.suggested_by.clone(),
            s.question.clone(),
            s.article_id.clone(),
            s.resolved_by.clone(),
            time(s.resolved_at.as_ref()),
            s.answered_by_article_id.clone(),
            s.note.clone(),
        ]
    })
}

/// Calls `f` on every suggestion the server holds, in the order they were
/// accepted, page by page; how many.
pub(super) async fn each(
    server: &ServerArg,
    mut f: impl FnMut(&Suggestion) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut client = suggestions(server).await?;
    let mut page_token = String::new();
    let mut seen = 0;
    loop {
        let page = client
            .list_suggestions(ListSuggestionsRequest {
                page_size: 1000,
                page_token,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        for s in &page.suggestions {
            f(s)?;
            seen += 1;
        }
        if page.next_page_token.is_empty() {
            return Ok(seen);
        }
        page_token = page.next_page_token;
    }
}

/// A suggestion on one line: id, status, when and by whom, the question,
/// and how it was resolved.
fn line(s: &Suggestion) -> String {
    let at = |t: &Option<prost_types::Timestamp>| time(t.as_ref());
    let mut text = format!(
        "{}  {:<8} {}  {}  {}",
        s.id,
        s.status,
        at(&s.suggested_at),
        s.suggested_by,
        s.question
    );
    if !s.resolved_by.is_empty() {
        text.push_str(&format!(
            "  ({} by {} at {}",
            s.status,
            s.resolved_by,
            at(&s.resolved_at)
        ));
        if !s.answered_by_article_id.is_empty() {
            text.push_str(&format!(": article {}", s.answered_by_article_id));
        }
        if !s.note.is_empty() {
            text.push_str(&format!(": {}", s.note));
        }
        text.push(')');
    }
    text
}

async fn resolve(
    server: &ServerArg,
    request: ResolveSuggestionRequest,
    as_json: bool,
) -> anyhow::Result<()> {
    let resolved = suggestions(server)
        .await?
        .resolve_suggestion(request)
        .await
        .map_err(status_error)?
        .into_inner()
        .suggestion
        .unwrap_or_default();
    if as_json {
        return outln!(
            "{}",
            json::to_json_line("answerlog.v1.Suggestion", &resolved)?
        );
    }
    outln!("{}", line(&resolved))
}
