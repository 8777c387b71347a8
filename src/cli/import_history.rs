//! `answerlog import-history --format mediawiki|stackexchange SOURCE…`:
//! another system's history imported through the bulk import
//! (`AdminService.ImportCommits`, the admin role), one commit a source
//! revision, with what the source says of each as origin claims (README,
//! "Importing histories").
//!
//! Each source is read twice, as a stream (`history_import::walk`): once
//! to check it whole (a malformed file is refused, naming the element and
//! its line, before anything is sent, so no page is half-imported), then
//! to send it. Its commands' ids are derived from the source's revisions,
//! so that running the import again is a retry: every command is answered
//! as a duplicate.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;

use super::client::{connect, status_error};
use super::ServerArg;
use crate::grpc::pb;
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::import_command::Command as Arm;
use crate::grpc::{FAILED_COMMAND, FAILED_REQUEST};
use crate::history_import::plan::{self, Planned, Step};
use crate::history_import::walk::{MediawikiWalk, Slugs, ThreadWalk, Walk, WalkError, Walked};

/// A request of the import stays well under the server's request limit.
const REQUEST_BYTES: usize = 512 * 1024;
const REQUEST_COMMANDS: usize = 256;

/// The formats `--format` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HistoryFormat {
    /// MediaWiki's XML export (Special:Export, pages-meta-history dumps),
    /// schemas 0.10 and 0.11.
    Mediawiki,
    /// Stack Exchange's data dump (a folder with Posts.xml and
    /// PostHistory.xml, or PostHistory.xml with Posts.xml beside it), or
    /// post histories as CSV (files, or a folder of them).
    Stackexchange,
}

/// What one file held and what became of it.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    file: String,
    /// Pages, or threads (a question and its answers): what `pages` counts.
    #[serde(skip)]
    pages_are: &'static str,
    pages: usize,
    revisions: usize,
    created: usize,
    revised: usize,
    reverts: usize,
    /// Revisions whose text is the one before, or suppressed: dated.
    text_unchanged: usize,
    /// Questions deleted and undeleted at the source.
    retracted: usize,
    restored: usize,
    /// Redirects made slugs of their targets.
    aliases: usize,
    /// Skipped revisions, by reason.
    skipped: BTreeMap<String, usize>,
    /// Revisions whose text's SHA-1 is not the one the dump gives: how
    /// many, and the first 100 by id.
    sha1_mismatched: usize,
    sha1_mismatches: Vec<String>,
    /// Claims made one line to fit (a comment with a line break).
    claims_fitted: usize,
    /// Revisions whose text's line ends were made LF (Stack Exchange's
    /// CRLF: the server takes no carriage return in content).
    line_ends_made_lf: usize,
    /// Parts of the imported revisions the source suppressed
    /// (`deleted="deleted"`), claimed as such: by part (actor, comment,
    /// text).
    suppressed: BTreeMap<&'static str, usize>,
    /// Commands the server applied now, and those it had already.
    commits: usize,
    duplicates: usize,
}

impl Summary {
    fn count(&mut self, outcome: &Result<Planned, String>) {
        if let Ok(planned) = outcome {
            for part in &planned.claims.suppressed {
                *self.suppressed.entry(part).or_default() += 1;
            }
        }
        match outcome {
            Ok(planned) => match planned.step {
                Step::Create { .. } => self.created += 1,
                Step::Revise { .. } => self.revised += 1,
                Step::Revert { .. } => self.reverts += 1,
                Step::TextUnchanged { .. } => self.text_unchanged += 1,
                Step::Retract { .. } => self.retracted += 1,
                Step::Restore { .. } => self.restored += 1,
                Step::Alias { .. } => self.aliases += 1,
            },
            Err(skip) => *self.skipped.entry(skip.clone()).or_default() += 1,
        }
    }

    fn line(&self) -> String {
        let skipped: usize = self.skipped.values().sum();
        let mut line = format!(
            "{}: {} {}, {} revisions: {} created, {} revised, {} reverts, {} with the text unchanged; {} commits, {} duplicates; {} skipped",
            self.file,
            self.pages,
            self.pages_are,
            self.revisions,
            self.created,
            self.revised,
            self.reverts,
            self.text_unchanged,
            self.commits,
            self.duplicates,
            skipped
        );
        for (reason, n) in &self.skipped {
            line.push_str(&format!("\n  skipped {n}: {reason}"));
        }
        for id in &self.sha1_mismatches {
            line.push_str(&format!(
                "\n  revision {id}: its text's SHA-1 is not the one the dump gives (imported as the dump holds it)"
            ));
        }
        if self.sha1_mismatched > self.sha1_mismatches.len() {
            line.push_str(&format!(
                "\n  and {} more revisions whose SHA-1 is not the dump's",
                self.sha1_mismatched - self.sha1_mismatches.len()
            ));
        }
        for (part, n) in &self.suppressed {
            line.push_str(&format!(
                "\n  {n} revisions with their {part} suppressed at the source (claimed as such)"
            ));
        }
        if self.claims_fitted > 0 {
            line.push_str(&format!(
                "\n  {} claims made one line to fit (a line break shown as ⏎)",
                self.claims_fitted
            ));
        }
        if self.line_ends_made_lf > 0 {
            line.push_str(&format!(
                "\n  {} revisions' line ends made LF (the server takes no carriage return in content)",
                self.line_ends_made_lf
            ));
        }
        if self.aliases > 0 {
            line.push_str(&format!(
                "\n  {} redirects made slugs of their targets",
                self.aliases
            ));
        }
        if self.retracted + self.restored > 0 {
            line.push_str(&format!(
                "\n  {} questions deleted at the source (retracted), {} undeleted (restored)",
                self.retracted, self.restored
            ));
        }
        line
    }
}

/// Which revision a command is.
struct Meta {
    at: String,
    version: u64,
}

/// What `import-history` reads beside the sources: where a Stack Exchange
/// dump is from, and the licence of rows that give none.
pub(super) struct Origin {
    pub site: Option<String>,
    pub license: Option<String>,
}

pub(super) async fn import_history(
    server: &ServerArg,
    format: HistoryFormat,
    sources: &[PathBuf],
    origin: &Origin,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let sources = sources
        .iter()
        .map(|path| Source::of(format, path, origin))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = match dry_run {
        true => None,
        false => Some(AdminServiceClient::new(connect(server).await?)),
    };
    // The slugs the import's articles take, across its sources: each is
    // checked and sent from the same slugs taken before it.
    let mut taken = Slugs::new();
    for source in &sources {
        let (mut summary, after) = check(source, taken.clone())?;
        if let Some(client) = client.as_mut() {
            send(client, source, taken, &mut summary).await?;
        }
        taken = after;
        if json {
            outln!("{}", serde_json::to_string(&summary)?)?;
        } else {
            outln!("{}", summary.line())?;
        }
    }
    Ok(())
}

/// One source of an import, as the command line names it.
enum Source {
    Mediawiki(PathBuf),
    StackexchangeXml {
        named: PathBuf,
        posts: PathBuf,
        history: PathBuf,
        site: String,
        license: String,
    },
    StackexchangeCsv {
        named: PathBuf,
        files: Vec<PathBuf>,
        site: String,
        license: String,
    },
}

impl Source {
    /// What `path` is, in `format`: for Stack Exchange a folder holding
    /// Posts.xml and PostHistory.xml, or PostHistory.xml itself (Posts.xml
    /// beside it), or a CSV file, or a folder of them.
    fn of(format: HistoryFormat, path: &Path, origin: &Origin) -> anyhow::Result<Self> {
        if format == HistoryFormat::Mediawiki {
            if origin.site.is_some() || origin.license.is_some() {
                anyhow::bail!("--site and --license are for --format stackexchange: a MediaWiki export names its site");
            }
            return Ok(Source::Mediawiki(path.to_owned()));
        }
        let site = origin.site.clone().ok_or_else(|| {
            anyhow::anyhow!("--format stackexchange needs --site: the dump does not name its site (e.g. --site conlang.meta.stackexchange.com)")
        })?;
        if site.is_empty()
            || !site
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            anyhow::bail!("--site {site:?} must be a host name, such as stackoverflow.com (no scheme, no path)");
        }
        let license = origin.license.clone().unwrap_or_default();
        if license.chars().count() > 128 || license.chars().any(char::is_control) {
            anyhow::bail!(
                "--license must be one line of at most 128 characters, as a claim's licence is"
            );
        }
        let named = path.to_owned();
        let is_csv = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if path.is_dir() {
            let history = path.join("PostHistory.xml");
            if history.exists() {
                return Ok(Source::StackexchangeXml {
                    named,
                    posts: path.join("Posts.xml"),
                    history,
                    site,
                    license,
                });
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_csv(p))
                .collect();
            if files.is_empty() {
                anyhow::bail!(
                    "{}: holds neither PostHistory.xml nor CSV files",
                    path.display()
                );
            }
            files.sort();
            return csv_source(named, files, site, license);
        }
        if is_csv(path) {
            return csv_source(named, vec![path.to_owned()], site, license);
        }
        let posts = path.with_file_name("Posts.xml");
        Ok(Source::StackexchangeXml {
            named,
            posts,
            history: path.to_owned(),
            site,
            license,
        })
    }

    fn named(&self) -> &Path {
        match self {
            Source::Mediawiki(file) => file,
            Source::StackexchangeXml { named, .. } | Source::StackexchangeCsv { named, .. } => {
                named
            }
        }
    }

    /// A walk of the source from the start (`bar` shows the reading of a
    /// dump's index).
    fn walk(&self, taken: Slugs, bar: &ProgressBar) -> Result<Box<dyn Walk>, WalkError> {
        Ok(match self {
            Source::Mediawiki(file) => Box::new(MediawikiWalk::open(file, taken)?),
            Source::StackexchangeXml {
                posts,
                history,
                site,
                license,
                ..
            } => Box::new(ThreadWalk::xml(
                posts,
                history,
                site,
                license,
                taken,
                |at, of| {
                    bar.set_length(of);
                    bar.set_position(at);
                },
            )?),
            Source::StackexchangeCsv {
                files,
                site,
                license,
                ..
            } => Box::new(ThreadWalk::csv(files.clone(), site, license, taken)),
        })
    }
}

/// CSV rows give no licence: `--license` says it.
fn csv_source(
    named: PathBuf,
    files: Vec<PathBuf>,
    site: String,
    license: String,
) -> anyhow::Result<Source> {
    if license.is_empty() {
        anyhow::bail!("{}: CSV rows give no licence: pass --license, as the data's LICENSE says (e.g. --license \"CC BY-SA 4.0\")", named.display());
    }
    Ok(Source::StackexchangeCsv {
        named,
        files,
        site,
        license,
    })
}

fn bar(message: &'static str) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {msg} {bar:40} {percent}% (eta {eta})",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(message);
    Ok(bar)
}

/// A source refused on its first reading (the error names the file).
fn walk_error(e: WalkError) -> anyhow::Error {
    anyhow::anyhow!("{e}; nothing of it was sent")
}

/// Revisions whose SHA-1 mismatch is listed by id; the rest are counted.
const LISTED_MISMATCHES: usize = 100;

/// Reads the source through, plans every revision and counts: the summary
/// of a dry run, or an error naming the element and line where the source
/// is malformed.
fn check(source: &Source, taken: Slugs) -> anyhow::Result<(Summary, Slugs)> {
    let bar = bar("checking")?;
    let mut summary = Summary {
        file: source.named().display().to_string(),
        pages_are: match source {
            Source::Mediawiki(_) => "pages",
            _ => "threads",
        },
        ..Summary::default()
    };
    let mut walk = source.walk(taken, &bar).map_err(walk_error)?;
    bar.set_length(walk.length());
    while let Some(step) = walk.next_step() {
        let walked = step.map_err(walk_error)?;
        summary.revisions += 1;
        summary.count(&walked.outcome);
        summary.claims_fitted += usize::from(walked.fitted);
        summary.line_ends_made_lf += usize::from(walked.made_lf);
        if let (Some(sha1), Some(given)) = (&walked.sha1, &walked.given_sha1) {
            if sha1 != given {
                summary.sha1_mismatched += 1;
                if summary.sha1_mismatches.len() < LISTED_MISMATCHES {
                    summary.sha1_mismatches.push(walked.revision_id);
                }
            }
        }
        bar.set_position(walk.position());
    }
    summary.pages = walk.pages();
    bar.finish_and_clear();
    Ok((summary, walk.taken()))
}

/// The import command a planned step is, with its claims.
fn command(planned: &Planned, slug: &str) -> pb::ImportCommand {
    let c = &planned.claims;
    let reason = format!("Imported from {} revision {}", c.origin, c.revision_id);
    let sections = |sections: &[plan::PlannedSection]| -> Vec<pb::RevisedSection> {
        sections
            .iter()
            .map(|s| pb::RevisedSection {
                id: s.id.clone(),
                heading: s.heading.clone(),
                body: s.body.clone(),
            })
            .collect()
    };
    let command_id = planned.command_id.clone();
    let arm = match &planned.step {
        Step::Create {
            slug,
            question,
            quick_answer,
            key_facts,
            sections,
            sources,
            last_updated,
        } => Arm::CreateArticle(pb::CreateArticleRequest {
            command_id,
            reason,
            article: Some(pb::ArticleDraft {
                slug: slug.clone(),
                question: question.clone(),
                quick_answer: quick_answer.clone(),
                key_facts: key_facts.clone(),
                sources: sources.iter().map(source).collect(),
                sections: sections
                    .iter()
                    .map(|s| pb::SectionDraft {
                        heading: s.heading.clone(),
                        body: s.body.clone(),
                    })
                    .collect(),
                last_updated: last_updated.clone(),
                ..Default::default()
            }),
        }),
        Step::Revise {
            expected_version,
            question,
            quick_answer,
            key_facts,
            sections: given,
            sources,
            last_updated,
        } => Arm::ReviseArticle(pb::ReviseArticleRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
            question: question.clone(),
            quick_answer: quick_answer.clone(),
            key_facts: key_facts.clone(),
            sections: sections(given),
            last_updated: last_updated.clone(),
            sources: sources.as_ref().map(|s| pb::SourceList {
                sources: s.iter().map(source).collect(),
            }),
        }),
        Step::Revert {
            expected_version,
            to_version,
            last_updated,
        } => Arm::RevertArticle(pb::RevertArticleRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
            to_version: *to_version,
            last_updated: last_updated.clone(),
        }),
        Step::TextUnchanged {
            expected_version,
            last_updated,
        } => Arm::RedateArticle(pb::RedateArticleRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
            last_updated: last_updated.clone(),
        }),
        Step::Retract { expected_version } => Arm::RetractArticle(pb::RetractArticleRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
        }),
        Step::Restore { expected_version } => Arm::RestoreArticle(pb::RestoreArticleRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
        }),
        Step::Alias {
            expected_version,
            slug: alias,
        } => Arm::AddSlugAlias(pb::AddSlugAliasRequest {
            article_id: slug.to_owned(),
            expected_version: *expected_version,
            command_id,
            reason,
            slug: alias.clone(),
        }),
    };
    pb::ImportCommand {
        command: Some(arm),
        origin: Some(crate::grpc::origin_claims_message(c.origin_claims())),
    }
}

/// A planned source as the API takes it.
fn source(s: &plan::PlannedSource) -> pb::Source {
    pb::Source {
        id: s.id.clone(),
        title: s.title.clone(),
        publisher: s.publisher.clone(),
        url: s.url.clone(),
        license: s.license.clone(),
        accessed_on: String::new(),
    }
}

/// Sends the source's planned steps through one ImportCommits call, a
/// reading thread making the requests as the answers come.
async fn send(
    client: &mut AdminServiceClient<super::client::Authed>,
    source: &Source,
    taken: Slugs,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let bar = bar("importing")?;
    let named = source.named().display().to_string();
    let mut walk = source.walk(taken, &bar).map_err(|e| {
        anyhow::anyhow!("{e}, on the second reading (the file changed since it was checked?); nothing of {named} was sent")
    })?;
    bar.set_length(walk.length());
    let (requests, queued) = tokio::sync::mpsc::channel::<pb::ImportCommitsRequest>(4);
    let (metas_out, mut metas) = tokio::sync::mpsc::unbounded_channel::<Vec<Meta>>();
    let reading_bar = bar.clone();
    let reading = tokio::task::spawn_blocking(move || -> Result<(), WalkError> {
        let mut current = pb::ImportCommitsRequest::default();
        let mut current_metas = Vec::new();
        let mut bytes = 0;
        while let Some(step) = walk.next_step() {
            let Walked { at, outcome, .. } = step?;
            reading_bar.set_position(walk.position());
            let Ok(planned) = outcome else { continue };
            let command = command(&planned, &planned.slug);
            let size = command.encoded_len() + 8;
            if !current.commands.is_empty()
                && (bytes + size > REQUEST_BYTES || current.commands.len() >= REQUEST_COMMANDS)
            {
                if metas_out.send(std::mem::take(&mut current_metas)).is_err()
                    || requests
                        .blocking_send(std::mem::take(&mut current))
                        .is_err()
                {
                    return Ok(());
                }
                bytes = 0;
            }
            current.commands.push(command);
            current_metas.push(Meta {
                at,
                version: planned.version,
            });
            bytes += size;
        }
        if !current.commands.is_empty() && metas_out.send(current_metas).is_ok() {
            let _ = requests.blocking_send(current);
        }
        Ok(())
    });
    let mut sent: VecDeque<Vec<Meta>> = VecDeque::new();
    let mut answered_requests = 0usize;
    let outcome = async {
        let mut answers = client
            .import_commits(tokio_stream::wrappers::ReceiverStream::new(queued))
            .await?
            .into_inner();
        while let Some(answer) = answers.message().await? {
            while sent.is_empty() {
                match metas.recv().await {
                    Some(m) => sent.push_back(m),
                    None => break,
                }
            }
            let request_metas = sent.pop_front().unwrap_or_default();
            answered_requests += 1;
            for (result, meta) in answer.results.iter().zip(&request_metas) {
                if result.duplicate {
                    summary.duplicates += 1;
                } else {
                    summary.commits += 1;
                }
                if result.version != meta.version {
                    bar.suspend(|| {
                        noteln!(
                            "{named}: {} is version {} of its article, not {}: was the article written to besides the import?",
                            meta.at,
                            result.version,
                            meta.version
                        )
                    });
                }
            }
        }
        Ok::<_, tonic::Status>(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(status) = outcome {
        // The revision the server refused, by the trailers' indexes.
        while let Ok(m) = metas.try_recv() {
            sent.push_back(m);
        }
        let number = |key: &str| -> Option<usize> {
            status.metadata().get(key)?.to_str().ok()?.parse().ok()
        };
        let named_at = number(FAILED_REQUEST)
            .and_then(|r| r.checked_sub(answered_requests))
            .and_then(|r| sent.get(r))
            .zip(number(FAILED_COMMAND))
            .and_then(|(metas, c)| metas.get(c));
        let at = named_at.map_or_else(String::new, |m| format!(" at {}", m.at));
        return Err(anyhow::anyhow!(
            "{named}: the import stopped{at}: {}; what was sent before it is durable: run the import again to go on (what is done is answered as a duplicate)",
            super::out::sentence(&status_error(status))
        ));
    }
    reading.await.context("the reading thread")?.map_err(|e| {
        anyhow::anyhow!(
            "{e}, on the second reading (the file changed since it was checked?); what was sent before it is durable"
        )
    })?;
    Ok(())
}
