//! `answerlog bench`: the real server in a child process on loopback, load
//! from this process, and every figure beside a baseline measured in the
//! same run (an append + fdatasync loop, a bare tonic echo).

mod echo;
mod load;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tonic::transport::Channel;
use uuid::Uuid;

use self::echo::pb::echo_service_client::EchoServiceClient;
use self::echo::pb::EchoRequest;
use self::load::{median, Sample};
use crate::grpc::draft_message;
use crate::grpc::pb::answer_service_client::AnswerServiceClient;
use crate::grpc::pb::article_service_client::ArticleServiceClient;
use crate::grpc::pb::{
    get_answer_request, ArticleDraft, CreateArticleRequest, EditSectionRequest, GetAnswerRequest,
    SectionDraft,
};

/// How the benchmark runs.
#[derive(Debug, Clone, clap::Args)]
pub(in crate::cli) struct BenchArgs {
    /// Where the store (and the fsync baseline) live [default: a temporary
    /// directory]: choose the disk to measure.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Load a server that is already running instead of starting one (the
    /// baselines still run here).
    #[arg(long)]
    addr: Option<String>,
    /// Calls in flight to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    in_flight: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A few seconds in all: one short run of 1 and 16 in flight.
    #[arg(long)]
    quick: bool,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
}

/// One line of the table.
#[derive(Debug, serde::Serialize)]
struct Row {
    figure: String,
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    baseline: String,
    ratio: Option<f64>,
    target: String,
}

const PAYLOAD: usize = 1024;

pub(in crate::cli) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut args = args;
    if args.quick {
        args.in_flight = vec![1, 16];
        args.seconds = 0.3;
        args.runs = 1;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    std::fs::create_dir_all(&data_dir)?;
    let rows = runtime.block_on(bench(&args, &data_dir))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

async fn bench(args: &BenchArgs, data_dir: &Path) -> anyhow::Result<Vec<Row>> {
    let duration = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();

    let fsync = median(repeat(args.runs, || fsync_loop(data_dir, duration)).await?);
    rows.push(Row {
        figure: "append + fdatasync, 1 KiB (baseline)".into(),
        per_second: fsync.per_second(),
        p50_us: fsync.micros(0.5),
        p99_us: fsync.micros(0.99),
        baseline: String::new(),
        ratio: None,
        target: String::new(),
    });

    let echo_url = echo::start().await?;
    let echo = connect(&echo_url).await?;
    let mut server = match &args.addr {
        Some(url) => Server::Remote(url.clone()),
        None => Server::spawn(&data_dir.join("store"))?,
    };
    let answerlog = connect(server.url()).await?;

    for &k in &args.in_flight {
        let echoed = median(repeat(args.runs, || echo_load(&echo, k, duration, 0)).await?);
        let appends = median(repeat(args.runs, || append_load(&answerlog, k, duration)).await?);
        rows.push(Row {
            figure: format!("tonic echo 1 KiB, {k} in flight (baseline)"),
            per_second: echoed.per_second(),
            p50_us: echoed.micros(0.5),
            p99_us: echoed.micros(0.99),
            baseline: String::new(),
            ratio: None,
            target: String::new(),
        });
        let (baseline, ratio, target) = if k == 1 {
            let bound = echoed.micros(0.5) + fsync.micros(0.5) + 100.0;
            (
                format!("echo p50 + fdatasync p50 + 100 µs = {bound:.0} µs"),
                Some(appends.micros(0.5) / bound),
                "p50 ratio ≤ 1".to_owned(),
            )
        } else {
            (
                format!("echo, {k} in flight"),
                Some(appends.per_second() / echoed.per_second()),
                if k == 64 {
                    "≥ 0.6".to_owned()
                } else {
                    String::new()
                },
            )
        };
        rows.push(Row {
            figure: format!("durable appends (1 KiB section edit), {k} in flight"),
            per_second: appends.per_second(),
            p50_us: appends.micros(0.5),
            p99_us: appends.micros(0.99),
            baseline,
            ratio,
            target,
        });
    }

    let (id, size) = example_article(&answerlog).await?;
    for &k in args.in_flight.iter().filter(|k| **k == 1 || **k >= 16) {
        let echoed = median(repeat(args.runs, || echo_load(&echo, k, duration, size)).await?);
        let reads = median(repeat(args.runs, || get_load(&answerlog, &id, k, duration)).await?);
        rows.push(Row {
            figure: format!("GetAnswer of the example article ({size} B), {k} in flight"),
            per_second: reads.per_second(),
            p50_us: reads.micros(0.5),
            p99_us: reads.micros(0.99),
            baseline: format!(
                "echo answering {size} B, {k} in flight: {:.0}/s",
                echoed.per_second()
            ),
            ratio: Some(reads.per_second() / echoed.per_second()),
            target: if k >= 64 {
                "≥ 0.8".to_owned()
            } else {
                String::new()
            },
        });
    }
    server.stop();
    Ok(rows)
}

/// Runs a measurement `runs` times, one after another.
async fn repeat<F, Fut>(runs: usize, mut once: F) -> anyhow::Result<Vec<Sample>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Sample>>,
{
    let mut samples = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        samples.push(once().await?);
    }
    Ok(samples)
}

async fn fsync_loop(dir: &Path, duration: Duration) -> anyhow::Result<Sample> {
    let path = dir.join(format!("fsync-baseline-{}", Uuid::now_v7()));
    let latencies = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let mut file = std::fs::File::create(&path)?;
        let record = vec![b'x'; PAYLOAD];
        let mut latencies = Vec::new();
        let end = Instant::now() + duration;
        while Instant::now() < end {
            let started = Instant::now();
            file.write_all(&record)?;
            file.sync_data()?;
            latencies.push(started.elapsed());
        }
        drop(file);
        let _ = std::fs::remove_file(&path);
        Ok(latencies)
    })
    .await??;
    Ok(Sample::merge(vec![latencies], duration))
}

async fn echo_load(
    channel: &Channel,
    k: usize,
    duration: Duration,
    response: usize,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::new();
    for _ in 0..k {
        let mut client = EchoServiceClient::new(channel.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                client
                    .echo(EchoRequest {
                        payload: vec![b'x'; PAYLOAD],
                        response_bytes: u32::try_from(response).unwrap_or(u32::MAX),
                    })
                    .await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    collect(workers, started).await
}

async fn append_load(channel: &Channel, k: usize, duration: Duration) -> anyhow::Result<Sample> {
    // Each writer on its own article.
    let mut ids = Vec::with_capacity(k);
    let mut articles = ArticleServiceClient::new(channel.clone());
    for _ in 0..k {
        ids.push(
            create(
                &mut articles,
                &format!("Benchmark article {}", Uuid::now_v7()),
            )
            .await?,
        );
    }
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::new();
    for id in ids {
        let mut client = ArticleServiceClient::new(channel.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut version = 1;
            while Instant::now() < end {
                let t = Instant::now();
                let body = format!("{version} {}", "b".repeat(PAYLOAD - 8));
                version = client
                    .edit_section(EditSectionRequest {
                        article_id: id.clone(),
                        expected_version: version,
                        command_id: Uuid::now_v7().to_string(),
                        reason: "bench".into(),
                        section_id: "s1".into(),
                        heading: None,
                        body: Some(body),
                    })
                    .await?
                    .into_inner()
                    .version;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    collect(workers, started).await
}

async fn get_load(
    channel: &Channel,
    id: &str,
    k: usize,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::new();
    for _ in 0..k {
        let mut client = AnswerServiceClient::new(channel.clone());
        let id = id.to_owned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                client
                    .get_answer(GetAnswerRequest {
                        r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                        ..GetAnswerRequest::default()
                    })
                    .await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    collect(workers, started).await
}

async fn collect(
    workers: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>>,
    started: Instant,
) -> anyhow::Result<Sample> {
    let mut parts = Vec::with_capacity(workers.len());
    for worker in workers {
        parts.push(worker.await??);
    }
    Ok(Sample::merge(parts, started.elapsed()))
}

async fn create(
    articles: &mut ArticleServiceClient<Channel>,
    question: &str,
) -> anyhow::Result<String> {
    Ok(articles
        .create_article(CreateArticleRequest {
            command_id: Uuid::now_v7().to_string(),
            reason: "bench".into(),
            article: Some(ArticleDraft {
                question: question.into(),
                quick_answer: "Measured.".into(),
                last_updated: "2026-01-01".into(),
                sections: vec![SectionDraft {
                    heading: "Body".into(),
                    body: "x".into(),
                }],
                ..ArticleDraft::default()
            }),
        })
        .await?
        .into_inner()
        .article_id)
}

/// Imports the example article; its id and encoded size.
async fn example_article(channel: &Channel) -> anyhow::Result<(String, usize)> {
    let mut draft = crate::import::parse(include_str!("../../../examples/what-causes-jmt.md"))?;
    draft.slug = format!("bench-{}", Uuid::now_v7().simple());
    let id = ArticleServiceClient::new(channel.clone())
        .create_article(CreateArticleRequest {
            command_id: Uuid::now_v7().to_string(),
            reason: "bench".into(),
            article: Some(draft_message(draft)),
        })
        .await?
        .into_inner()
        .article_id;
    let answer = AnswerServiceClient::new(channel.clone())
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(id.clone())),
            ..GetAnswerRequest::default()
        })
        .await?
        .into_inner();
    Ok((id, prost::Message::encoded_len(&answer)))
}

async fn connect(url: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// The server under load: a child process of this one, or one given.
enum Server {
    Child {
        process: std::process::Child,
        url: String,
    },
    Remote(String),
}

impl Server {
    fn spawn(data_dir: &Path) -> anyhow::Result<Self> {
        let mut process = std::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env_remove("ANSWERLOG_PRINCIPALS")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot start the server")?;
        let stderr = process.stderr.take().context("the server's log")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .context("the server stopped before it listened")??;
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break format!("http://{addr}");
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server::Child { process, url })
    }

    fn url(&self) -> &str {
        match self {
            Server::Child { url, .. } | Server::Remote(url) => url,
        }
    }

    fn stop(&mut self) {
        if let Server::Child { process, .. } = self {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<62} {:>10} {:>9} {:>9}  {:>7}  {:<8} baseline",
        "figure", "per s", "p50 µs", "p99 µs", "ratio", "target"
    );
    for r in rows {
        println!(
            "{:<62} {:>10.0} {:>9.0} {:>9.0}  {:>7}  {:<8} {}",
            r.figure,
            r.per_second,
            r.p50_us,
            r.p99_us,
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            r.target,
            r.baseline
        );
    }
}
