//! The loads put on the server: appends, a hot article, reads current and
//! past, revision pages, and a catch-up of the whole event stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use tonic::Code;
use uuid::Uuid;

use super::load::{closed_loop, Dice, Sample};
use super::prefill::body;
use super::Connection;
use crate::grpc::pb::answer_service_client::AnswerServiceClient;
use crate::grpc::pb::article_service_client::ArticleServiceClient;
use crate::grpc::pb::audit_service_client::AuditServiceClient;
use crate::grpc::pb::{
    get_answer_request, list_revisions_request, stream_events_response, ArticleDraft,
    CreateArticleRequest, EditSectionRequest, GetAnswerRequest, GetCheckpointRequest,
    GetLogDigestRequest, ListRevisionsRequest, SectionDraft, StreamEventsRequest,
};

/// Creates `n` articles of one section; their ids.
pub(super) async fn create_articles(
    connection: &Connection,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut client = ArticleServiceClient::new(connection.clone());
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let response = client
            .create_article(CreateArticleRequest {
                command_id: Uuid::now_v7().to_string(),
                reason: "bench".into(),
                article: Some(ArticleDraft {
                    question: format!("Benchmark article {}", Uuid::now_v7()),
                    quick_answer: "Measured.".into(),
                    last_updated: "2026-01-01".into(),
                    sections: vec![SectionDraft {
                        heading: "Body".into(),
                        body: body(0),
                    }],
                    ..ArticleDraft::default()
                }),
            })
            .await?;
        ids.push(response.into_inner().article_id);
    }
    Ok(ids)
}

fn edit(id: &str, version: u64) -> EditSectionRequest {
    EditSectionRequest {
        article_id: id.to_owned(),
        expected_version: version,
        command_id: Uuid::now_v7().to_string(),
        reason: "bench".into(),
        section_id: "s1".into(),
        heading: None,
        body: Some(body(version)),
    }
}

/// Durable appends (a 1 KiB section edit each), one writer on each of
/// `articles`, all at once over `connections`.
pub(super) async fn appends(
    connections: &[Connection],
    articles: Vec<(String, u64)>,
    duration: Duration,
) -> anyhow::Result<(Sample, Vec<(String, u64)>)> {
    let states: Vec<_> = articles
        .into_iter()
        .enumerate()
        .map(|(i, (id, version))| {
            let client = ArticleServiceClient::new(connections[i % connections.len()].clone());
            (client, id, version)
        })
        .collect();
    let (sample, states) = closed_loop(states, duration, |(mut client, id, version)| async move {
        let written = client.edit_section(edit(&id, version)).await?.into_inner();
        Ok((client, id, written.version))
    })
    .await?;
    // Where the articles stand: the next run goes on from there.
    let versions = states.into_iter().map(|(_, id, v)| (id, v)).collect();
    Ok((sample, versions))
}

/// `writers` writers on one article, each retrying on ABORTED with the
/// version the conflict names: commits accepted, and conflicts met.
pub(super) async fn hot_article(
    connection: &Connection,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<(Sample, u64)> {
    let id = create_articles(connection, 1).await?.remove(0);
    let conflicts = Arc::new(AtomicU64::new(0));
    let states = (0..writers)
        .map(|_| (ArticleServiceClient::new(connection.clone()), id.clone(), 1))
        .collect();
    let counted = Arc::clone(&conflicts);
    let sample = closed_loop(states, duration, move |(mut client, id, mut version)| {
        let conflicts = Arc::clone(&counted);
        async move {
            loop {
                match client.edit_section(edit(&id, version)).await {
                    Ok(written) => return Ok((client, id, written.into_inner().version)),
                    Err(status) if status.code() == Code::Aborted => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                        version = current_version(&status).unwrap_or(version + 1);
                    }
                    Err(status) => return Err(status.into()),
                }
            }
        }
    })
    .await?
    .0;
    Ok((sample, conflicts.load(Ordering::Relaxed)))
}

/// The current version an ABORTED status names in its ErrorInfo.
fn current_version(status: &tonic::Status) -> Option<u64> {
    use tonic_types::StatusExt as _;
    status
        .get_details_error_info()?
        .metadata
        .get("current_version")?
        .parse()
        .ok()
}

/// What a GetAnswer asks for: the current answer, or (`Version(n)`) as of
/// a random version of the first n; with or without a receipt.
#[derive(Clone, Copy, Debug)]
pub(super) struct Read {
    pub(super) versions: Option<u64>,
    pub(super) receipt: bool,
}

impl Read {
    pub(super) const CURRENT: Read = Read {
        versions: None,
        receipt: false,
    };
}

/// GetAnswer of `id` by `k` readers over `connections`, as `read` says.
pub(super) async fn get_answers(
    connections: &[Connection],
    id: &str,
    k: usize,
    duration: Duration,
    read: Read,
) -> anyhow::Result<Sample> {
    let states = (0..k)
        .map(|i| {
            let client = AnswerServiceClient::new(connections[i % connections.len()].clone())
                .max_decoding_message_size(64 << 20);
            (client, Dice::new(i as u64 + 1))
        })
        .collect();
    let id = id.to_owned();
    closed_loop(states, duration, move |(mut client, mut dice)| {
        let as_of = read
            .versions
            .map(|n| get_answer_request::AsOf::Version(dice.roll(n)));
        let request = GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.clone())),
            as_of,
            receipt: read.receipt,
            ..GetAnswerRequest::default()
        };
        async move {
            let answer = client.get_answer(request).await?.into_inner();
            if read.receipt && answer.receipt.is_empty() {
                anyhow::bail!("the server sent no receipt");
            }
            Ok((client, dice))
        }
    })
    .await
    .map(|(sample, _)| sample)
}

/// The encoded size of an article's current answer.
pub(super) async fn answer_bytes(connection: &Connection, id: &str) -> anyhow::Result<usize> {
    let answer = AnswerServiceClient::new(connection.clone())
        .max_decoding_message_size(64 << 20)
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
            ..GetAnswerRequest::default()
        })
        .await?
        .into_inner();
    Ok(answer.encoded_len())
}

/// Every page of an article's revisions, one after another.
pub(super) async fn revision_pages(
    connection: &Connection,
    slug: &str,
    page_size: i32,
) -> anyhow::Result<Sample> {
    let mut client =
        AuditServiceClient::new(connection.clone()).max_decoding_message_size(64 << 20);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut token = String::new();
    loop {
        let t = Instant::now();
        let page = client
            .list_revisions(ListRevisionsRequest {
                r#ref: Some(list_revisions_request::Ref::Slug(slug.to_owned())),
                page_size,
                page_token: token,
                min_position: 0,
            })
            .await?
            .into_inner();
        latencies.push(t.elapsed());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(Sample::merge(vec![latencies], started.elapsed()))
}

/// A write, then a checkpoint that covers it (which the server signs at
/// once, the latest not covering the write), one after another on one
/// article: each pair once.
pub(super) async fn checkpoints_after_writes(
    connection: &Connection,
    article: (String, u64),
    duration: Duration,
) -> anyhow::Result<(Sample, (String, u64))> {
    let state = (
        ArticleServiceClient::new(connection.clone()),
        AuditServiceClient::new(connection.clone()),
        article,
    );
    let (sample, mut states) = closed_loop(
        vec![state],
        duration,
        |(mut articles, mut audit, (id, version))| async move {
            let written = articles
                .edit_section(edit(&id, version))
                .await?
                .into_inner();
            let checkpoint = audit
                .get_checkpoint(GetCheckpointRequest {
                    min_position: written.global_position,
                })
                .await?
                .into_inner();
            if checkpoint.tree_size < written.global_position {
                anyhow::bail!("a checkpoint that does not cover the write");
            }
            Ok((articles, audit, (id, written.version)))
        },
    )
    .await?;
    let (_, _, article) = states.remove(0);
    Ok((sample, article))
}

/// The log's last durable position.
pub(super) async fn log_head(connection: &Connection) -> anyhow::Result<u64> {
    let digest = AuditServiceClient::new(connection.clone())
        .get_log_digest(GetLogDigestRequest::default())
        .await?
        .into_inner();
    Ok(digest.digest.map_or(0, |d| d.global_position))
}

/// One catch-up message in this many is sized.
const SIZE_EVERY: u64 = 16;

/// StreamEvents from the start of the log until `through`: commits/s, and
/// the mean encoded size of a message.
pub(super) async fn catch_up(
    connection: &Connection,
    through: u64,
) -> anyhow::Result<(Sample, usize)> {
    let started = Instant::now();
    let mut events = AuditServiceClient::new(connection.clone())
        .max_decoding_message_size(64 << 20)
        .stream_events(StreamEventsRequest::default())
        .await?
        .into_inner();
    let (mut commits, mut sized, mut bytes) = (0u64, 0usize, 0usize);
    while let Some(message) = events.message().await? {
        let Some(stream_events_response::Item::Commit(commit)) = &message.item else {
            continue;
        };
        commits += 1;
        // The bare stream's client only counts its messages: sizing every
        // one (prost walks the decoded message's twenty-odd fields) would
        // charge this client's bookkeeping to the server. One in
        // SIZE_EVERY gives the average the baseline's messages are made to.
        if commits % SIZE_EVERY == 1 {
            sized += 1;
            bytes += message.encoded_len();
        }
        let position = commit.revision.as_ref().map_or(0, |r| r.global_position);
        if position >= through {
            break;
        }
    }
    let elapsed = started.elapsed();
    Ok((Sample::rate(commits, elapsed), bytes / sized.max(1)))
}
