//! The rest of ArticleService's writes from the command line (issue 19),
//! each a subcommand taking the article by slug or id, sent as the writes
//! of `write.rs` are (on the version readers see unless
//! `--expected-version` says, with a command id, again after
//! UNAVAILABLE); and `list`, the articles readers see, filtered by words.

use std::path::PathBuf;

use super::format::{narrow, print_items, time, wide, Output, OutputArg};
use super::write::{read_text, write_at, write_to, Head};
use super::{ServerArg, WriteArgs};
use crate::grpc::pb;
use crate::grpc::pb::import_command::Command as Arm;

/// The text of an option given inline or from a file (`-` for stdin).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub(super) struct TextArg {
    /// The text.
    #[arg(long)]
    text: Option<String>,
    /// A file holding the text (`-`: stdin).
    #[arg(long)]
    file: Option<PathBuf>,
}

impl TextArg {
    fn read(&self) -> anyhow::Result<String> {
        match (&self.text, &self.file) {
            (Some(text), _) => Ok(text.clone()),
            (None, Some(file)) => Ok(read_text(file)?.trim_end().to_owned()),
            (None, None) => anyhow::bail!("give --text or --file"),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum EditCommand {
    /// Replace an article's question.
    EditQuestion {
        /// The article: its slug or id.
        reference: String,
        /// The new question, one line.
        question: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Give an article a new slug (the old one keeps resolving to it).
    ChangeSlug {
        /// The article: its slug or id.
        reference: String,
        /// The new slug: lowercase letters, digits and hyphens.
        slug: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Replace an article's quick answer.
    EditQuickAnswer {
        /// The article: its slug or id.
        reference: String,
        #[command(flatten)]
        text: TextArg,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Replace an article's key facts with these (none: no key facts).
    ReplaceKeyFacts {
        /// The article: its slug or id.
        reference: String,
        /// The key facts, in order, one line each.
        facts: Vec<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Add a section, after another or first.
    AddSection {
        /// The article: its slug or id.
        reference: String,
        /// The section's heading.
        #[arg(long)]
        heading: String,
        /// The section's body.
        #[command(flatten)]
        body: TextArg,
        /// The section it goes after (its id); none: first.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Remove a section.
    RemoveSection {
        /// The article: its slug or id.
        reference: String,
        /// The section's id (as `get` shows it, e.g. s2).
        section_id: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Move a section after another, or first.
    MoveSection {
        /// The article: its slug or id.
        reference: String,
        /// The section's id (as `get` shows it, e.g. s2).
        section_id: String,
        /// The section it goes after (its id); none: first.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Change a source's fields; those not given stay as they are.
    EditSource {
        /// The article: its slug or id.
        reference: String,
        /// The source's id (as `get --json` shows it, e.g. src1).
        source_id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        publisher: Option<String>,
        /// Its address; "" removes it.
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        license: Option<String>,
        /// YYYY-MM-DD; "" removes it.
        #[arg(long)]
        accessed_on: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Remove a source.
    RemoveSource {
        /// The article: its slug or id.
        reference: String,
        /// The source's id (as `get --json` shows it, e.g. src1).
        source_id: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Review the article as it stands (role reviewer): the caller is the
    /// reviewer.
    Review {
        /// The article: its slug or id.
        reference: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Make the article as it was at an earlier version, in one commit.
    Revert {
        /// The article: its slug or id.
        reference: String,
        /// The version to return to.
        version: u64,
        /// The date the page shows after it [default: the version's].
        #[arg(long)]
        last_updated: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Withdraw the article from readers (its history stays).
    Retract {
        /// The article: its slug or id.
        reference: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Serve a retracted article again (`restore` is a backup's). Its
    /// version is read as an auditor (a retracted article is not served
    /// to readers), unless `--expected-version` gives it with the
    /// article's id.
    RestoreArticle {
        /// The article: its id, or its slug with the auditor role.
        reference: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List the articles readers see, most recently changed last.
    List {
        /// Only articles whose question or slug holds every one of these
        /// words (case ignored).
        words: Vec<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// The fields every write request starts with.
macro_rules! head {
    ($head:expr, $request:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        let head: Head = $head;
        pb::$request {
            article_id: head.article_id,
            expected_version: head.expected_version,
            command_id: head.command_id,
            reason: head.reason,
            $($field: $value),*
        }
    }};
}

pub(super) async fn run(command: EditCommand) -> anyhow::Result<()> {
    match command {
        EditCommand::EditQuestion {
            reference,
            question,
            write,
            server,
        } => {
            write_to(&server, "question edited", &reference, write, &|h| {
                Arm::EditQuestion(head!(
                    h,
                    EditQuestionRequest {
                        question: question.clone()
                    }
                ))
            })
            .await
        }
        EditCommand::ChangeSlug {
            reference,
            slug,
            write,
            server,
        } => {
            write_to(&server, "slug changed", &reference, write, &|h| {
                Arm::ChangeSlug(head!(h, ChangeSlugRequest { slug: slug.clone() }))
            })
            .await
        }
        EditCommand::EditQuickAnswer {
            reference,
            text,
            write,
            server,
        } => {
            let quick_answer = text.read()?;
            write_to(&server, "quick answer edited", &reference, write, &|h| {
                Arm::EditQuickAnswer(head!(
                    h,
                    EditQuickAnswerRequest {
                        quick_answer: quick_answer.clone()
                    }
                ))
            })
            .await
        }
        EditCommand::ReplaceKeyFacts {
            reference,
            facts,
            write,
            server,
        } => {
            write_to(&server, "key facts replaced", &reference, write, &|h| {
                Arm::ReplaceKeyFacts(head!(
                    h,
                    ReplaceKeyFactsRequest {
                        key_facts: facts.clone()
                    }
                ))
            })
            .await
        }
        EditCommand::AddSection {
            reference,
            heading,
            body,
            after,
            write,
            server,
        } => {
            let body = body.read()?;
            write_to(&server, "section added", &reference, write, &|h| {
                Arm::AddSection(head!(
                    h,
                    AddSectionRequest {
                        section: Some(pb::SectionDraft {
                            heading: heading.clone(),
                            body: body.clone(),
                        }),
                        after_section_id: after.clone().unwrap_or_default(),
                    }
                ))
            })
            .await
        }
        EditCommand::RemoveSection {
            reference,
            section_id,
            write,
            server,
        } => {
            write_to(&server, "section removed", &reference, write, &|h| {
                Arm::RemoveSection(head!(
                    h,
                    RemoveSectionRequest {
                        section_id: section_id.clone()
                    }
                ))
            })
            .await
        }
        EditCommand::MoveSection {
            reference,
            section_id,
            after,
            write,
            server,
        } => {
            write_to(&server, "section moved", &reference, write, &|h| {
                Arm::MoveSection(head!(
                    h,
                    MoveSectionRequest {
                        section_id: section_id.clone(),
                        after_section_id: after.clone().unwrap_or_default(),
                    }
                ))
            })
            .await
        }
        EditCommand::EditSource {
            reference,
            source_id,
            title,
            publisher,
            url,
            license,
            accessed_on,
            write,
            server,
        } => {
            // The source as it stands, with the fields given changed.
            let answer = super::client::current(&server, &reference).await?;
            let mut source = answer
                .sources
                .iter()
                .find(|s| s.id == source_id)
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!("source_id: the article has no source {source_id:?}")
                })?;
            for (field, given) in [
                (&mut source.title, title),
                (&mut source.publisher, publisher),
                (&mut source.url, url),
                (&mut source.license, license),
                (&mut source.accessed_on, accessed_on),
            ] {
                if let Some(value) = given {
                    *field = value;
                }
            }
            let at = (
                answer.id.clone(),
                write.expected_version.unwrap_or(answer.version),
            );
            write_at(&server, "source edited", at, write, &|h| {
                Arm::EditSource(head!(
                    h,
                    EditSourceRequest {
                        source: Some(source.clone())
                    }
                ))
            })
            .await
        }
        EditCommand::RemoveSource {
            reference,
            source_id,
            write,
            server,
        } => {
            write_to(&server, "source removed", &reference, write, &|h| {
                Arm::RemoveSource(head!(
                    h,
                    RemoveSourceRequest {
                        source_id: source_id.clone()
                    }
                ))
            })
            .await
        }
        EditCommand::Review {
            reference,
            write,
            server,
        } => {
            write_to(&server, "reviewed", &reference, write, &|h| {
                Arm::ReviewArticle(head!(h, ReviewArticleRequest {}))
            })
            .await
        }
        EditCommand::Revert {
            reference,
            version,
            last_updated,
            write,
            server,
        } => {
            write_to(&server, "reverted", &reference, write, &|h| {
                Arm::RevertArticle(head!(
                    h,
                    RevertArticleRequest {
                        to_version: version,
                        last_updated: last_updated.clone().unwrap_or_default(),
                    }
                ))
            })
            .await
        }
        EditCommand::Retract {
            reference,
            write,
            server,
        } => {
            write_to(&server, "retracted", &reference, write, &|h| {
                Arm::RetractArticle(head!(h, RetractArticleRequest {}))
            })
            .await
        }
        EditCommand::RestoreArticle {
            reference,
            write,
            server,
        } => {
            let at = match write.expected_version {
                Some(version) if crate::domain::is_uuid_shaped(&reference) => {
                    (reference.clone(), version)
                }
                _ => {
                    let inspected = super::client::inspect(&server, &reference).await?;
                    (
                        inspected.id,
                        write.expected_version.unwrap_or(inspected.version),
                    )
                }
            };
            write_at(&server, "restored", at, write, &|h| {
                Arm::RestoreArticle(head!(h, RestoreArticleRequest {}))
            })
            .await
        }
        EditCommand::List {
            words,
            limit,
            output,
            server,
        } => list(&server, &words, limit, output.format()).await,
    }
}

/// The articles readers see, page by page, those holding every word.
async fn list(
    server: &ServerArg,
    words: &[String],
    limit: Option<usize>,
    format: Output,
) -> anyhow::Result<()> {
    let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let mut client = super::client::answers(server).await?;
    let mut token = String::new();
    let mut found = Vec::new();
    let mut shown = 0usize;
    'pages: loop {
        let page = client
            .list_answers(pb::ListAnswersRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .map_err(super::client::status_error)?
            .into_inner();
        for answer in page.answers {
            let haystack = format!("{} {}", answer.question, answer.slug).to_lowercase();
            if !words.iter().all(|w| haystack.contains(w.as_str())) {
                continue;
            }
            if limit.is_some_and(|l| shown >= l) {
                break 'pages;
            }
            shown += 1;
            // Text and JSON lines go out as they come; the rest at the end.
            match format {
                Output::Text => outln!(
                    "{:<40} v{:<5} {}  {}",
                    answer.slug,
                    answer.version,
                    answer.last_updated,
                    answer.question
                )?,
                Output::Json => outln!(
                    "{}",
                    super::json::to_json_line("answerlog.v1.AnswerSummary", &answer)?
                )?,
                _ => found.push(answer),
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if matches!(format, Output::Table | Output::Wide | Output::Yaml) {
        let columns = [
            narrow("SLUG"),
            narrow("VERSION"),
            narrow("LAST UPDATED"),
            narrow("QUESTION"),
            wide("ID"),
            wide("POSITION"),
            wide("RECORDED"),
        ];
        return print_items(
            format,
            "answerlog.v1.AnswerSummary",
            &found,
            &columns,
            |a| {
                vec![
                    a.slug.clone(),
                    a.version.to_string(),
                    a.last_updated.clone(),
                    a.question.clone(),
                    a.id.clone(),
                    a.global_position.to_string(),
                    time(a.recorded_at.as_ref()),
                ]
            },
        );
    }
    Ok(())
}
