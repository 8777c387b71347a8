//! `answerlog import-history --format mediawiki FILE…`: another system's
//! history imported through the bulk import (`AdminService.ImportCommits`,
//! the admin role), one commit a source revision, with what the source
//! says of each as origin claims (README, "Importing histories").
//!
//! Each file is read twice, as a stream: once to check it whole (a
//! malformed dump is refused, naming the element and its line, before
//! anything is sent, so no page is half-imported), then to send it. Its
//! commands' ids are derived from the source's revisions, so that running
//! the import again is a retry: every command is answered as a duplicate.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufReader;
use std::path::Path;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;

use super::client::{connect, status_error};
use super::ServerArg;
use crate::grpc::pb;
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::import_command::Command as Arm;
use crate::grpc::{FAILED_COMMAND, FAILED_REQUEST};
use crate::history_import::mediawiki::{sha1_base36, DumpError, Given, Item, Reader, Site};
use crate::history_import::plan::{self, PagePlanner, Planned, Skip, Step};

/// A request of the import stays well under the server's request limit.
const REQUEST_BYTES: usize = 512 * 1024;
const REQUEST_COMMANDS: usize = 256;

/// The formats `--format` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HistoryFormat {
    /// MediaWiki's XML export (Special:Export, pages-meta-history dumps),
    /// schemas 0.10 and 0.11.
    Mediawiki,
}

/// What one file held and what became of it.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    file: String,
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
    /// Skipped revisions, by reason.
    skipped: BTreeMap<String, usize>,
    /// Revisions whose text's SHA-1 is not the one the dump gives: how
    /// many, and the first 100 by id.
    sha1_mismatched: usize,
    sha1_mismatches: Vec<String>,
    /// Claims made one line to fit (a comment with a line break).
    claims_fitted: usize,
    /// Parts of the imported revisions the source suppressed
    /// (`deleted="deleted"`), claimed as such: by part (actor, comment,
    /// text).
    suppressed: BTreeMap<&'static str, usize>,
    /// Commands the server applied now, and those it had already.
    commits: usize,
    duplicates: usize,
}

impl Summary {
    fn count(&mut self, outcome: &Result<Planned, Skip>) {
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
            },
            Err(skip) => *self.skipped.entry(skip.to_string()).or_default() += 1,
        }
    }

    fn line(&self) -> String {
        let skipped: usize = self.skipped.values().sum();
        let mut line = format!(
            "{}: {} pages, {} revisions: {} created, {} revised, {} reverts, {} with the text unchanged; {} commits, {} duplicates; {} skipped",
            self.file,
            self.pages,
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
        line
    }
}

/// Which revision a command is.
struct Meta {
    title: String,
    revision_id: String,
    version: u64,
}

pub(super) async fn import_history(
    server: &ServerArg,
    format: HistoryFormat,
    files: &[std::path::PathBuf],
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let HistoryFormat::Mediawiki = format;
    let mut client = match dry_run {
        true => None,
        false => Some(AdminServiceClient::new(connect(server).await?)),
    };
    // The slugs the import's articles take, across its files: each file
    // is checked and sent from the same slugs taken before it.
    let mut taken = Slugs::new();
    for file in files {
        let (mut summary, after) = check(file, taken.clone())?;
        if let Some(client) = client.as_mut() {
            send(client, file, taken, &mut summary).await?;
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

fn open(file: &Path) -> anyhow::Result<(Reader<BufReader<std::fs::File>>, ProgressBar)> {
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
        )?
        .progress_chars("=> "),
    );
    Ok((Reader::new(BufReader::new(opened)), bar))
}

fn dump_error(file: &Path, e: DumpError) -> anyhow::Error {
    anyhow::anyhow!("{}: {e}; nothing of it was sent", file.display())
}

/// Reads the file through, plans every revision and counts: the summary
/// of a dry run, or an error naming the element and line where the dump
/// is malformed.
/// The slugs an import's articles took.
type Slugs = std::collections::HashSet<String>;

/// Revisions whose SHA-1 mismatch is listed by id; the rest are counted.
const LISTED_MISMATCHES: usize = 100;

fn check(file: &Path, taken: Slugs) -> anyhow::Result<(Summary, Slugs)> {
    let (reader, bar) = open(file)?;
    bar.set_message("checking");
    let mut summary = Summary {
        file: file.display().to_string(),
        ..Summary::default()
    };
    let mut walk = Walk::new(reader, taken);
    while let Some(step) = walk.next_step() {
        let (revision_id, sha1, given_sha1, outcome, fitted) =
            step.map_err(|e| dump_error(file, e))?;
        summary.revisions += 1;
        summary.count(&outcome);
        summary.claims_fitted += usize::from(fitted);
        if let (Some(sha1), Some(given)) = (sha1, given_sha1) {
            if sha1 != given {
                summary.sha1_mismatched += 1;
                if summary.sha1_mismatches.len() < LISTED_MISMATCHES {
                    summary.sha1_mismatches.push(revision_id);
                }
            }
        }
        bar.set_position(walk.position());
    }
    summary.pages = walk.pages;
    bar.finish_and_clear();
    Ok((summary, walk.taken))
}

/// The dump's revisions, each planned, in order.
struct Walk<R: std::io::BufRead> {
    reader: Reader<R>,
    site: Site,
    planner: Option<PagePlanner>,
    taken: Slugs,
    pages: usize,
    title: String,
}

/// A revision's id, its text's SHA-1 and the dump's, its step or why it
/// is skipped, and whether a claim had to be fitted.
type Walked = (
    String,
    Option<String>,
    Option<String>,
    Result<Planned, Skip>,
    bool,
);

impl<R: std::io::BufRead> Walk<R> {
    fn new(reader: Reader<R>, taken: Slugs) -> Self {
        Self {
            reader,
            site: Site::default(),
            planner: None,
            taken,
            pages: 0,
            title: String::new(),
        }
    }

    fn position(&self) -> u64 {
        self.reader.position()
    }

    fn next_step(&mut self) -> Option<Result<Walked, DumpError>> {
        loop {
            match self.reader.next()? {
                Err(e) => return Some(Err(e)),
                Ok(Item::Site(site)) => self.site = site,
                Ok(Item::Page(page)) => {
                    self.pages += 1;
                    self.title = page.title.clone();
                    self.planner = Some(PagePlanner::new(&self.site, &page));
                }
                Ok(Item::PageEnd) => self.planner = None,
                Ok(Item::Revision(revision)) => {
                    let planner = self.planner.as_mut()?;
                    let sha1 = match &revision.text {
                        Given::Given(text) => Some(sha1_base36(text)),
                        _ => None,
                    };
                    let fitted = match &revision.comment {
                        Given::Given(comment) => plan::fitted(comment, 2048),
                        _ => false,
                    };
                    let outcome = planner.plan(&revision, &mut self.taken);
                    return Some(Ok((
                        revision.id.clone(),
                        sha1,
                        revision.sha1.clone(),
                        outcome,
                        fitted,
                    )));
                }
            }
        }
    }
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
                sources: sources
                    .iter()
                    .map(|s| pb::Source {
                        title: s.title.clone(),
                        publisher: s.publisher.clone(),
                        url: s.url.clone(),
                        license: s.license.clone(),
                        ..Default::default()
                    })
                    .collect(),
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
    };
    pb::ImportCommand {
        command: Some(arm),
        origin: Some(pb::OriginClaims {
            origin: c.origin.clone(),
            revision_id: c.revision_id.clone(),
            parent_revision_id: c.parent_revision_id.clone(),
            time: Some(prost_types::Timestamp {
                seconds: c.time.timestamp(),
                nanos: 0,
            }),
            minor: c.minor,
            suppressed: c.suppressed.iter().map(|s| s.to_string()).collect(),
            actor: c.actor.clone(),
            comment: c.comment.clone(),
            sha1: c.sha1.clone(),
            kind: c.kind.clone(),
            format: c.format.to_owned(),
            license: c.license.clone(),
        }),
    }
}

/// Sends the file's planned steps through one ImportCommits call, a
/// reading thread making the requests as the answers come.
async fn send(
    client: &mut AdminServiceClient<super::client::Authed>,
    file: &Path,
    taken: Slugs,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (reader, bar) = open(file)?;
    bar.set_message("importing");
    let (requests, queued) = tokio::sync::mpsc::channel::<pb::ImportCommitsRequest>(4);
    let (metas_out, mut metas) = tokio::sync::mpsc::unbounded_channel::<Vec<Meta>>();
    let reading_bar = bar.clone();
    let reading = tokio::task::spawn_blocking(move || -> Result<(), DumpError> {
        let mut walk = Walk::new(reader, taken);
        let mut current = pb::ImportCommitsRequest::default();
        let mut current_metas = Vec::new();
        let mut bytes = 0;
        while let Some(step) = walk.next_step() {
            let (revision_id, _, _, outcome, _) = step?;
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
                title: walk.title.clone(),
                revision_id,
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
                            "{}: page {:?} revision {} is version {} of its article, not {}: was the article written to besides the import?",
                            file.display(),
                            meta.title,
                            meta.revision_id,
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
        let named = number(FAILED_REQUEST)
            .and_then(|r| r.checked_sub(answered_requests))
            .and_then(|r| sent.get(r))
            .zip(number(FAILED_COMMAND))
            .and_then(|(metas, c)| metas.get(c));
        let at = named.map_or_else(String::new, |m| {
            format!(" at page {:?} revision {}", m.title, m.revision_id)
        });
        return Err(anyhow::anyhow!(
            "{}: the import stopped{at}: {}; what was sent before it is durable: run the import again to go on (what is done is answered as a duplicate)",
            file.display(),
            super::out::sentence(&status_error(status))
        ));
    }
    reading.await.context("the reading thread")?.map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}, on the second reading (the file changed since it was checked?); what was sent before it is durable",
            file.display()
        )
    })?;
    Ok(())
}
