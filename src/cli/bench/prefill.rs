//! The store the benchmark reads: built through the bulk import (which is
//! itself a figure), with one article of many versions for the as-of
//! reads and many articles of shorter histories.

use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::load::Sample;
use super::Connection;
use crate::grpc::pb::admin_service_client::AdminServiceClient;
use crate::grpc::pb::import_command::Command as Arm;
use crate::grpc::pb::{
    ArticleDraft, CreateArticleRequest, EditSectionRequest, ImportCommand, ImportCommitsRequest,
    SectionDraft,
};

/// About the size of a commit: a section body of 1 KiB.
pub(super) const BODY_BYTES: usize = 1024;
/// Commands per ImportCommitsRequest (about 256 KiB).
const REQUEST_COMMANDS: usize = 256;
/// Versions of each of the many articles.
const VERSIONS: u64 = 100;
/// Articles written side by side, so that a batch holds many of them.
const SIDE_BY_SIDE: u64 = 64;

/// An article the import created: its slug (an edit may name it so) and
/// how many versions it has.
#[derive(Clone, Debug)]
pub(super) struct Imported {
    pub(super) slug: String,
    pub(super) id: String,
    pub(super) versions: u64,
}

/// A plan of commands: `articles` articles of [`VERSIONS`] versions,
/// written side by side; or one article of `versions` versions.
#[derive(Clone, Debug)]
pub(super) enum Plan {
    Many { first: u64, articles: u64 },
    Deep { versions: u64 },
}

impl Plan {
    pub(super) fn commits(&self) -> u64 {
        match self {
            Plan::Many { articles, .. } => articles * VERSIONS,
            Plan::Deep { versions } => *versions,
        }
    }

    /// Splits `commits` of many articles into `parts` plans of whole
    /// articles.
    pub(super) fn many(commits: u64, parts: u64) -> Vec<Plan> {
        let articles = (commits / VERSIONS).max(parts);
        let each = articles / parts;
        (0..parts)
            .map(|p| Plan::Many {
                first: p * each,
                articles: if p + 1 == parts {
                    articles - p * each
                } else {
                    each
                },
            })
            .collect()
    }

    /// The commands, in the order they are sent.
    fn commands(&self, run: &str, out: &mut dyn FnMut(ImportCommand)) {
        match self {
            Plan::Deep { versions } => {
                let slug = format!("{run}-deep");
                out(create(&slug));
                for v in 1..*versions {
                    out(edit(&slug, v));
                }
            }
            Plan::Many { first, articles } => {
                let end = first + articles;
                for group in (*first..end).step_by(SIDE_BY_SIDE as usize) {
                    let members = group..(group + SIDE_BY_SIDE).min(end);
                    for n in members.clone() {
                        out(create(&format!("{run}-{n}")));
                    }
                    for v in 1..VERSIONS {
                        for n in members.clone() {
                            out(edit(&format!("{run}-{n}"), v));
                        }
                    }
                }
            }
        }
    }

    fn slugs(&self, run: &str) -> Vec<(String, u64)> {
        match self {
            Plan::Deep { versions } => vec![(format!("{run}-deep"), *versions)],
            Plan::Many { first, articles } => (*first..first + articles)
                .map(|n| (format!("{run}-{n}"), VERSIONS))
                .collect(),
        }
    }
}

/// What one import made.
pub(super) struct Import {
    pub(super) articles: Vec<Imported>,
    /// The rate at which the commits became durable.
    pub(super) rate: Sample,
    /// The position of the last commit.
    pub(super) last_position: u64,
}

/// Imports `plan` in one ImportCommits call.
pub(super) async fn import(
    connection: &Connection,
    run: &str,
    plan: &Plan,
) -> anyhow::Result<Import> {
    let (requests, stream) = mpsc::channel(4);
    let producer = {
        let plan = plan.clone();
        let run = run.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut request = ImportCommitsRequest::default();
            plan.commands(&run, &mut |command| {
                request.commands.push(command);
                if request.commands.len() == REQUEST_COMMANDS {
                    let full = std::mem::take(&mut request);
                    // The call ended early: its status says why.
                    let _ = requests.blocking_send(full);
                }
            });
            if !request.commands.is_empty() {
                let _ = requests.blocking_send(request);
            }
        })
    };
    let started = Instant::now();
    let mut answers = AdminServiceClient::new(connection.clone())
        .import_commits(ReceiverStream::new(stream))
        .await?
        .into_inner();
    let mut ids = std::collections::HashMap::new();
    let mut done = 0;
    let mut last_position = 0;
    while let Some(answer) = answers.message().await? {
        for result in answer.results {
            last_position = last_position.max(result.global_position);
            if result.version == 1 {
                ids.insert(done, result.article_id);
            }
            done += 1;
        }
    }
    let elapsed = started.elapsed();
    producer.await?;
    anyhow::ensure!(
        done == plan.commits(),
        "the import answered {done} of {} commands",
        plan.commits()
    );
    // The creations' results are in order: map them to the slugs.
    let mut creations: Vec<(u64, String)> = ids.into_iter().collect();
    creations.sort_unstable();
    let articles = plan
        .slugs(run)
        .into_iter()
        .zip(creations)
        .map(|((slug, versions), (_, id))| Imported { slug, id, versions })
        .collect();
    Ok(Import {
        articles,
        rate: Sample::rate(done, elapsed),
        last_position,
    })
}

fn create(slug: &str) -> ImportCommand {
    ImportCommand {
        origin: None,
        command: Some(Arm::CreateArticle(CreateArticleRequest {
            command_id: uuid::Uuid::now_v7().to_string(),
            reason: "bench".into(),
            article: Some(ArticleDraft {
                slug: slug.into(),
                question: format!("Benchmark article {slug}"),
                quick_answer: "Measured.".into(),
                last_updated: "2026-01-01".into(),
                sections: vec![SectionDraft {
                    heading: "Body".into(),
                    body: body(0),
                }],
                ..ArticleDraft::default()
            }),
        })),
    }
}

/// The edit that makes version `v + 1`.
fn edit(slug: &str, v: u64) -> ImportCommand {
    ImportCommand {
        origin: None,
        command: Some(Arm::EditSection(EditSectionRequest {
            article_id: slug.into(),
            expected_version: v,
            command_id: uuid::Uuid::now_v7().to_string(),
            reason: "bench".into(),
            section_id: "s1".into(),
            heading: None,
            body: Some(body(v)),
        })),
    }
}

/// A section body of about [`BODY_BYTES`], different at every version.
pub(super) fn body(v: u64) -> String {
    let mut text = format!("{v} ");
    text.push_str(&"b".repeat(BODY_BYTES - text.len()));
    text
}
