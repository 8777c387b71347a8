//! `answerlog bench`: the real server in a child process on loopback, load
//! from this process, and every figure beside a baseline measured in the
//! same run: an append + fdatasync loop, raw sled, a bare tonic echo and
//! server stream. Targets are ratios, so that they hold across machines.

mod echo;
mod load;
mod plot;
mod prefill;
mod raw_jetstream;
mod raw_sled;
mod report;
mod scenarios;
mod server;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tonic::transport::Channel;
use uuid::Uuid;

use self::load::{median, median_of, medians_interleaved, Sample};
use self::plot::Curve;
use self::prefill::Plan;
use self::report::{Row, Target};
use self::scenarios::Read;
use self::server::{Server, Written};
use super::ServerArg;
use crate::grpc::draft_message;
use crate::grpc::pb::article_service_client::ArticleServiceClient;
use crate::grpc::pb::CreateArticleRequest;

/// A connection to the server under load (with the bearer token, if any).
type Connection = super::client::Authed;

/// How the benchmark runs.
#[derive(Debug, Clone, clap::Args)]
pub(in crate::cli) struct BenchArgs {
    /// Where the store and the disk baselines live [default: a temporary
    /// directory]: choose the disk to measure.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Load a server that is already running instead of starting one (the
    /// baselines still run here; the figures that need the server's
    /// process and disk are left out).
    #[arg(long)]
    addr: Option<String>,
    /// The bearer token for `--addr` (role admin: the store is filled
    /// through the bulk import).
    #[arg(long, env = "ANSWERLOG_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Calls in flight to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    in_flight: Vec<usize>,
    /// HTTP/2 connections the calls in flight share (to answerlog and to
    /// the echo alike).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Commits in the store the reads, the stream and the rebuild work on.
    #[arg(long, default_value_t = 100_000)]
    commits: u64,
    /// Versions of the article read as of a random version.
    #[arg(long, default_value_t = 10_000)]
    versions: u64,
    /// A few seconds in all: small store, short runs, 1 and 16 in flight.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full run: a store of 1,000,000 commits.
    #[arg(long)]
    full: bool,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    /// Draw throughput and p99 latency against calls in flight to this SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Run the server on the JetStream log (R1), on a nats-server that the
    /// benchmark starts from this binary (`nats-server` for the one on the
    /// PATH), with its store in the benchmark's directory.
    #[arg(long, conflicts_with = "addr")]
    nats_server: Option<PathBuf>,
    /// With --nats-server: `sync_interval: always` (nats-server 2.10 and
    /// later), an fsync before each acknowledgement.
    #[arg(long, requires = "nats_server")]
    nats_sync_always: bool,
    /// Serve the bare echo and nothing else: the benchmark starts itself
    /// with this, so that the echo is a process of its own.
    #[arg(long, hide = true)]
    serve_echo: bool,
}

/// A request's payload in the append and echo figures.
const PAYLOAD: usize = 1024;
/// Inserts in one run of the raw sled baseline with a flush per 64.
const RAW_INSERTS: u64 = 20_000;

pub(in crate::cli) fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.serve_echo {
        return echo::serve_forever();
    }
    let mut args = args;
    if args.quick {
        args.in_flight = vec![1, 16];
        args.seconds = 0.3;
        args.runs = 1;
        args.commits = 2_000;
        args.versions = 300;
    }
    if args.full {
        args.commits = 1_000_000;
    }
    args.connections = args.connections.max(1);
    args.versions = args.versions.clamp(2, args.commits.max(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let temp = match &args.data_dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("cannot make the benchmark's directory")?;
    let started = Instant::now();
    let (rows, curves) = runtime.block_on(bench(&args, temp.path()))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        report::print_table(&rows)?;
        outln!("({:.0} s in all)", started.elapsed().as_secs_f64())?;
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &curves)?;
        noteln!("plot written to {}", path.display());
    }
    Ok(())
}

/// Acknowledged publishes straight to JetStream, `k` in flight.
async fn raw_publishes(url: &str, k: usize, duration: Duration) -> anyhow::Result<Sample> {
    let (parts, elapsed) = raw_jetstream::acked_publishes(url, k, duration, PAYLOAD)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(Sample::merge(parts, elapsed))
}

/// Starts the nats-server the JetStream figures run on; the server's flags
/// for it.
fn start_nats(
    binary: &Path,
    sync_always: bool,
    dir: &Path,
) -> anyhow::Result<(crate::jetstream::LocalNatsServer, Vec<String>)> {
    let version = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    step(&format!(
        "log: JetStream R1 on {version} ({})",
        if sync_always {
            "sync_interval: always, an fsync before each acknowledgement"
        } else {
            "its default sync interval"
        }
    ));
    let nats_dir = dir.join("nats");
    std::fs::create_dir_all(&nats_dir)?;
    let nats = crate::jetstream::LocalNatsServer::start(
        &nats_dir,
        &crate::jetstream::LocalNatsConfig {
            binary: binary.to_owned(),
            sync_always,
            ..Default::default()
        },
    )
    .map_err(anyhow::Error::msg)?;
    let flags = vec!["--log".to_owned(), nats.url()];
    Ok((nats, flags))
}

/// Each phase starts with the server and the disk at rest: what the
/// server's background threads have left of the phase before (the tree of
/// 100,000 imported commits, at first) and the page cache's dirty pages
/// (the file system synced, as the kernel would write them back in the
/// next half minute) do not run during the next phase. What a phase's own
/// commits cost is measured within it.
async fn at_rest(server: &Server, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    server.at_rest(Duration::from_secs(600)).await?;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let dir = std::fs::File::open(&dir)?;
        Ok(rustix::fs::syncfs(&dir)?)
    })
    .await?
    .context("cannot sync the benchmark's file system")?;
    let waited = started.elapsed();
    if waited >= Duration::from_millis(100) {
        step(&format!(
            "waited {:.1} s for the server's Merkle tree and the disk to be at rest",
            waited.as_secs_f64()
        ));
    }
    Ok(())
}

/// Says what the benchmark is doing, on standard error.
fn step(what: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "bench: {what}");
}

async fn bench(args: &BenchArgs, dir: &Path) -> anyhow::Result<(Vec<Row>, Vec<Curve>)> {
    let duration = Duration::from_secs_f64(args.seconds);
    let runs = args.runs;
    let mut rows = Vec::new();
    let mut curves = Vec::new();

    step("baselines: fdatasync, raw sled");
    let fsync = median_of(runs, || fsync_loop(dir, duration)).await?;
    rows.push(Row::rate("append + fdatasync, 1 KiB (baseline)", &fsync));
    let raw_inserts = if args.quick { 2_000 } else { RAW_INSERTS };
    let raw64 = median_of(runs, || {
        raw(dir, move |d| {
            let latencies = raw_sled::flushed_inserts(d, raw_inserts, PAYLOAD, 64, CACHE)?;
            let total = latencies.iter().sum();
            Ok(Sample::merge(vec![latencies], total))
        })
    })
    .await?;
    rows.push(Row::rate(
        "raw sled: 1 KiB inserts, one flush per 64 (baseline)",
        &raw64,
    ));

    let echo = Server::spawn_echo()?;
    let mut echo_channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        echo_channels.push(channel(echo.url()).await?);
    }
    let store_dir = dir.join("store");
    let (nats, log_args) = match &args.nats_server {
        Some(binary) => {
            let (nats, log_args) = start_nats(binary, args.nats_sync_always, dir)?;
            (Some(nats), log_args)
        }
        None => {
            step("log: sled in the data directory");
            (None, Vec::new())
        }
    };
    let mut server = match &args.addr {
        Some(url) => Server::Remote(url.clone()),
        None => {
            step("starting answerlog serve");
            Server::spawn(&store_dir, &log_args)?
        }
    };
    let target = ServerArg::plain(server.url(), args.token.clone());
    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        connections.push(super::client::connect(&target).await?);
    }
    let first = connections[0].clone();

    // The store: one deep article, then many articles in three imports
    // (the bulk import's figure is the median of the three).
    let written_before_import = server.written()?;
    let run_id = Uuid::now_v7().simple().to_string()[20..].to_owned();
    let run_id = format!("b{run_id}");
    step(&format!(
        "filling the store through the bulk import: {} commits",
        args.commits
    ));
    let deep = prefill::import(
        &first,
        &run_id,
        &Plan::Deep {
            versions: args.versions,
        },
    )
    .await?;
    let deep_article = deep.articles[0].clone();
    let mut last_position = deep.last_position;
    let mut imports = vec![];
    for plan in Plan::many(args.commits.saturating_sub(args.versions), 3) {
        let import = prefill::import(&first, &run_id, &plan).await?;
        last_position = last_position.max(import.last_position);
        imports.push(import.rate);
    }
    let imported: u64 = imports.iter().map(|s| s.count).sum::<u64>() + deep.rate.count;
    let import = median(imports);
    let import_row = Row::rate(
        format!("bulk import (ImportCommits), {imported} commits of 1 KiB in all"),
        &import,
    );
    match (written_before_import, server.written()?) {
        (Some(before), Some(after)) => {
            // Issue 15: against raw sled writing what the import wrote
            // (each commit's record, which goes to the log's files, as one
            // key, and the keys it wrote to sled), with the same sync.
            let raw = raw_import(dir, runs, raw_inserts, before, after).await?;
            rows.push(Row::rate(
                format!(
                    "raw sled: the commit ({} B) and {:.1} keys of {} B a commit, one flush per 64 (baseline)",
                    raw.record_bytes, raw.keys_per_commit, raw.bytes_per_key
                ),
                &raw.rate,
            ));
            rows.push(
                import_row
                    .against(
                        "÷ raw sled writing the same keys",
                        import.per_second() / raw.rate.per_second(),
                    )
                    .target(Target::AtLeast(0.7)),
            );
        }
        // A remote server's writes are not known here.
        _ => rows.push(import_row.against(
            "÷ raw sled inserts, one flush per 64",
            import.per_second() / raw64.per_second(),
        )),
    }

    at_rest(&server, dir).await?;
    step("appends and echo at each number of calls in flight");
    let most = args.in_flight.iter().copied().max().unwrap_or(1);
    let mut pool: Vec<(String, u64)> = scenarios::create_articles(&first, most)
        .await?
        .into_iter()
        .map(|id| (id, 1))
        .collect();
    let mut echo_curve = curve("tonic echo, 1 KiB", true);
    let mut append_curve = curve("answerlog durable appends", false);
    let written_before = server.written()?;
    let mut appends_at_one = None;
    for &k in &args.in_flight {
        // Interleaved with the echo's runs (echo, appends; appends, echo;
        // …) as the reads are (`medians_interleaved`), so that both
        // medians see the same stretches of a drifting host. An append run
        // leaves the Merkle tree growing: the server is let come to rest
        // after each, before anything else is timed.
        let (mut echoes, mut samples) = (Vec::new(), Vec::new());
        for run in 0..runs.max(1) {
            let echo_first = run % 2 == 0;
            if echo_first {
                echoes.push(echo::unary(&echo_channels, k, duration, PAYLOAD, 0).await?);
            }
            let writing: Vec<_> = pool.drain(..k.min(pool.len())).collect();
            let (sample, after) = scenarios::appends(&connections, writing, duration).await?;
            pool.extend(after);
            samples.push(sample);
            at_rest(&server, dir).await?;
            if !echo_first {
                echoes.push(echo::unary(&echo_channels, k, duration, PAYLOAD, 0).await?);
            }
        }
        let (echoed, appends) = (median(echoes), median(samples));
        if k == 1 {
            appends_at_one = Some(appends.clone());
        }
        rows.push(Row::rate(
            format!("tonic echo 1 KiB, {k} in flight (baseline)"),
            &echoed,
        ));
        if let Some(nats) = &nats {
            let url = nats.url();
            let raw = median_of(runs, || raw_publishes(&url, k, duration)).await?;
            rows.push(Row::rate(
                format!("raw JetStream: acknowledged 1 KiB publishes, {k} in flight (baseline)"),
                &raw,
            ));
            rows.push(
                Row::rate(
                    format!("durable appends on JetStream, {k} in flight"),
                    &appends,
                )
                .against(
                    format!("÷ raw JetStream publishes at {k} in flight"),
                    appends.per_second() / raw.per_second(),
                ),
            );
        }
        let row = Row::rate(
            format!("durable appends (1 KiB section edit), {k} in flight"),
            &appends,
        );
        rows.push(if k == 1 {
            let bound = echoed.p50() + fsync.p50() + 100.0;
            row.against(
                format!("p50 ÷ (echo p50 + fdatasync p50 + 100 µs = {bound:.0} µs)"),
                appends.p50() / bound,
            )
            .target(Target::AtMost(1.0))
        } else {
            let row = row.against(
                format!("÷ echo at {k} in flight"),
                appends.per_second() / echoed.per_second(),
            );
            // Issue 15's targets: half the echo at 64 in flight, 0.4 of
            // it at 16.
            match k {
                64 => row.target(Target::AtLeast(0.5)),
                16 => row.target(Target::AtLeast(0.4)),
                _ => row,
            }
        });
        echo_curve
            .points
            .push((k, echoed.per_second(), echoed.p99()));
        append_curve
            .points
            .push((k, appends.per_second(), appends.p99()));
    }
    curves.push(append_curve);
    curves.push(echo_curve);
    if let (Some(before), Some(after)) = (written_before, server.written()?) {
        written_per_commit(&mut rows, before, after);
    }

    at_rest(&server, dir).await?;
    step("one hot article, 16 writers");
    let (hot, conflicts) = scenarios::hot_article(&first, 16, duration).await?;
    rows.push(
        Row::rate(
            "16 writers on one article, retrying on ABORTED (accepted)",
            &hot,
        )
        .note(format!(
            "{conflicts} conflicts retried ({:.1} a commit)",
            conflicts as f64 / hot.count.max(1) as f64
        )),
    );

    at_rest(&server, dir).await?;
    step("GetAnswer of the example article, and the echo of its size");
    let (example, size) = example_article(&first).await?;
    let mut get_curve = curve("answerlog GetAnswer", false);
    let mut sized_curve = curve(&format!("tonic echo answering {size} B"), true);
    let readers = most.min(64);
    let mut alone = None;
    let mut without_receipts = Vec::new();
    for &k in &args.in_flight {
        let (echoed, reads) = medians_interleaved(
            runs,
            || echo::unary(&echo_channels, k, duration, PAYLOAD, size),
            || scenarios::get_answers(&connections, &example, k, duration, Read::CURRENT),
        )
        .await?;
        let row = Row::rate(
            format!("GetAnswer of the example article ({size} B), {k} in flight"),
            &reads,
        )
        .against(
            format!(
                "÷ echo answering {size} B at {k} in flight ({:.0}/s)",
                echoed.per_second()
            ),
            reads.per_second() / echoed.per_second(),
        );
        rows.push(if k == 64 {
            row.target(Target::AtLeast(0.8))
        } else {
            row
        });
        sized_curve
            .points
            .push((k, echoed.per_second(), echoed.p99()));
        get_curve.points.push((k, reads.per_second(), reads.p99()));
        if k == 1 || k == 64 {
            without_receipts.push((k, reads.clone()));
        }
        if k == readers {
            alone = Some(reads);
        }
    }
    step("GetAnswer with a receipt");
    for (k, without) in without_receipts {
        let with = median_of(runs, || {
            scenarios::get_answers(
                &connections,
                &example,
                k,
                duration,
                Read {
                    versions: None,
                    receipt: true,
                },
            )
        })
        .await?;
        rows.push(
            Row::rate(
                format!("GetAnswer with a receipt ({size} B), {k} in flight"),
                &with,
            )
            .against(
                format!("÷ GetAnswer without one at {k} in flight"),
                with.per_second() / without.per_second(),
            ),
        );
    }
    if let (Some(article), Some(appends)) = (pool.pop(), appends_at_one) {
        step("checkpoints signed on request, one after each write");
        let (pairs, article) =
            scenarios::checkpoints_after_writes(&first, article, duration).await?;
        pool.push(article);
        rows.push(
            Row::rate(
                "a write, then a checkpoint that covers it (signed on request), 1 in flight",
                &pairs,
            )
            .against(
                "÷ durable appends at 1 in flight",
                pairs.per_second() / appends.per_second(),
            ),
        );
        if args.addr.is_none() {
            step("checkpoints cosigned by a witness, one after each write");
            let pairs = witnessed_checkpoints(&dir.join("witnessed"), &log_args, duration).await?;
            rows.push(
                Row::rate(
                    "a write, then a checkpoint that covers it cosigned by a local witness, 1 in flight",
                    &pairs,
                )
                .against(
                    "÷ durable appends at 1 in flight",
                    pairs.per_second() / appends.per_second(),
                ),
            );
        }
    }
    curves.push(get_curve);
    curves.push(sized_curve);
    if let Some(alone) = alone {
        step("GetAnswer while writers write");
        let writers = pool.len().min(16);
        let (reads, appends) = reads_while_writing(
            &connections,
            &example,
            readers,
            &mut pool,
            writers,
            duration,
        )
        .await?;
        rows.push(
            Row::rate(
                format!(
                    "GetAnswer ({size} B), {readers} in flight, while {writers} writers append"
                ),
                &reads,
            )
            .against(
                format!("÷ GetAnswer alone at {readers} in flight"),
                reads.per_second() / alone.per_second(),
            )
            .note(format!("{:.0} appends/s meanwhile", appends.per_second())),
        );
    }

    at_rest(&server, dir).await?;
    step("reads of an article of many versions");
    let (current, as_of) = medians_interleaved(
        runs,
        || scenarios::get_answers(&connections, &deep_article.id, 1, duration, Read::CURRENT),
        || {
            scenarios::get_answers(
                &connections,
                &deep_article.id,
                1,
                duration,
                Read {
                    versions: Some(deep_article.versions),
                    receipt: false,
                },
            )
        },
    )
    .await?;
    rows.push(Row::rate(
        format!(
            "GetAnswer, current, of a {}-version article, 1 in flight",
            deep_article.versions
        ),
        &current,
    ));
    rows.push(
        Row::rate(
            "GetAnswer as of a random version of it, 1 in flight",
            &as_of,
        )
        .against("p50 ÷ current GetAnswer p50", as_of.p50() / current.p50())
        .target(Target::AtMost(1.5)),
    );
    let pages = median_of(runs, || {
        scenarios::revision_pages(&first, &deep_article.slug, 100)
    })
    .await?;
    rows.push(Row::rate(
        format!(
            "ListRevisions pages of 100, all {} versions",
            deep_article.versions
        ),
        &pages,
    ));

    at_rest(&server, dir).await?;
    step("StreamEvents catch-up over the whole store");
    // The whole store: the imports and every commit the scenarios added.
    let head = scenarios::log_head(&first).await?.max(last_position);
    // The bare stream sends as many messages, of the size the catch-up's
    // sent: the first catch-up runs first.
    let shape = std::cell::Cell::new((0, PAYLOAD));
    let (streamed, baseline) = medians_interleaved(
        runs,
        || async {
            let (sample, bytes) = scenarios::catch_up(&first, head).await?;
            shape.set((sample.count, bytes));
            Ok(sample)
        },
        || {
            let (count, message_bytes) = shape.get();
            echo::stream(&echo_channels[0], count, message_bytes)
        },
    )
    .await?;
    let message_bytes = shape.get().1;
    rows.push(Row::rate(
        format!("tonic server stream of {message_bytes} B messages (baseline)"),
        &baseline,
    ));
    rows.push(
        Row::rate(
            format!("StreamEvents catch-up, {} commits", streamed.count),
            &streamed,
        )
        .against(
            "÷ the bare server stream",
            streamed.per_second() / baseline.per_second(),
        )
        .target(Target::AtLeast(0.3)),
    );

    let Some(resident) = server.resident_bytes() else {
        step("a remote server: the figures of its process and disk are left out");
        return Ok((rows, curves));
    };
    rows.push(
        Row::value(
            "resident memory of the server after the run",
            resident as f64 / MIB,
            "MiB",
        )
        .against("÷ 512 MiB", resident as f64 / (512.0 * MIB))
        .target(Target::AtMost(1.0)),
    );
    drop(connections);
    drop(first);
    let stopping = Instant::now();
    server.stop(Duration::from_secs(60));
    rows.push(Row::value(
        "clean stop after the run (sled writes its recovery snapshot)",
        stopping.elapsed().as_secs_f64() * 1000.0,
        "ms",
    ));
    offline(&mut rows, dir, &store_dir, &log_args, runs).await?;
    Ok((rows, curves))
}

/// The figures of a stopped store: an offline rebuild beside raw sled
/// doing the same writes, a full scan, the start-up, the disk it takes.
async fn offline(
    rows: &mut Vec<Row>,
    dir: &Path,
    store_dir: &Path,
    log_args: &[String],
    runs: usize,
) -> anyhow::Result<()> {
    step("offline rebuild of the whole store");
    // In a process of its own, as an operator runs it: the database is
    // free for the next step the moment it exits. `runs` times, each over
    // the whole store, the median reported as for every figure.
    // Interleaved with the baseline, as the read figures are: each run
    // writes a whole read model and ends with its flush, so neither leaves
    // work behind for the next. The baseline writes the keys and bytes the
    // rebuild wrote: the first rebuild runs first.
    let last = std::cell::Cell::new(None);
    let (rebuild, raw_rebuild) = medians_interleaved(
        runs,
        || async {
            let run = rebuild_offline(store_dir).await?;
            let sample = Sample::rate(run.commits, Duration::from_secs_f64(run.seconds));
            last.set(Some(run));
            Ok(sample)
        },
        || async {
            let run = last.get().context("no rebuild ran")?;
            raw(dir, move |d| {
                let took = raw_sled::unflushed_batches(
                    d,
                    run.keys_written,
                    run.bytes_per_key() as usize,
                    (run.keys_per_commit() * 512.0).ceil() as u64,
                    CACHE,
                )?;
                Ok(Sample::rate(run.commits, took))
            })
            .await
        },
    )
    .await?;
    let rebuilt = last.take().context("no rebuild ran")?;
    let (keys_per_commit, bytes_per_key) = (rebuilt.keys_per_commit(), rebuilt.bytes_per_key());
    let (keys, commits) = (rebuilt.keys_written, rebuilt.commits);
    rows.push(Row::rate(
        format!(
            "raw sled: {keys_per_commit:.1} keys of {bytes_per_key} B a commit, one flush at the end (baseline)"
        ),
        &raw_rebuild,
    ));
    rows.push(
        Row::rate(
            format!("offline rebuild, {} commits", rebuilt.commits),
            &rebuild,
        )
        .against(
            "÷ raw sled writing the same keys",
            rebuild.per_second() / raw_rebuild.per_second(),
        )
        .target(Target::AtLeast(0.5)),
    );
    let scan = raw(dir, move |d| {
        let (count, _, took) = raw_sled::full_scan(d, keys, bytes_per_key as usize, CACHE)?;
        Ok(Sample::rate(count, took))
    })
    .await?;
    rows.push(Row::rate("raw sled: full scan, keys (baseline)", &scan));

    step("start-up on the store");
    let mut restarted = Server::spawn(store_dir, log_args)?;
    let started_in = restarted.started_in().unwrap_or_default();
    let seconds = started_in.as_secs_f64();
    rows.push(
        Row::value(
            format!("start-up on {commits} commits, to serving"),
            seconds * 1000.0,
            "ms",
        )
        .against(
            "÷ 1 s (the target is for 1,000,000 commits: --full)",
            seconds,
        )
        .target(Target::AtMost(1.0)),
    );
    let on_disk = crate::store::bytes_on_disk(store_dir);
    rows.push(Row::value(
        format!(
            "bytes on disk per byte of commit ({:.0} MiB for {:.0} MiB of commits)",
            on_disk as f64 / MIB,
            rebuilt.log_bytes as f64 / MIB
        ),
        on_disk as f64 / rebuilt.log_bytes.max(1) as f64,
        "×",
    ));
    killed_start_up(rows, &mut restarted, store_dir, log_args).await?;
    restarted.stop(Duration::from_secs(30));
    Ok(())
}

/// GetAnswer of `id` at `readers` in flight while `writers` writers take
/// articles from `pool` and append to them, for `duration`: both samples.
async fn reads_while_writing(
    connections: &[Connection],
    id: &str,
    readers: usize,
    pool: &mut Vec<(String, u64)>,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<(Sample, Sample)> {
    let writing: Vec<_> = pool.drain(..writers.min(pool.len())).collect();
    let (reads, appends) = tokio::join!(
        scenarios::get_answers(connections, id, readers, duration, Read::CURRENT),
        scenarios::appends(connections, writing, duration),
    );
    let (appends, after) = appends?;
    pool.extend(after);
    Ok((reads?, appends))
}

/// The raw sled baseline of the bulk import: `commits` commits of what
/// the server's group commits wrote between `before` and `after` (each
/// commit's record in the log's files, as one key of its size, and the
/// keys and bytes written to sled), 64 commits a flush. The log's records
/// count as sled keys here because they were sled keys when the target was
/// set: the baseline is sled doing the writes the store does.
struct RawImport {
    rate: Sample,
    record_bytes: u64,
    keys_per_commit: f64,
    bytes_per_key: u64,
}

async fn raw_import(
    dir: &Path,
    runs: usize,
    commits: u64,
    before: Written,
    after: Written,
) -> anyhow::Result<RawImport> {
    let keys = (after.keys - before.keys).max(1.0);
    let imported = (after.commits - before.commits).max(1.0);
    let keys_per_commit = keys / imported;
    let bytes_per_key = ((after.bytes - before.bytes) / keys).round() as u64;
    let record_bytes = ((after.log_bytes - before.log_bytes) / imported).round() as u64;
    let rate = median_of(runs, || {
        raw(dir, move |d| {
            let took = raw_sled::flushed_batches(
                d,
                commits,
                record_bytes as usize,
                keys_per_commit,
                bytes_per_key as usize,
                64,
                CACHE,
            )?;
            Ok(Sample::rate(commits, took))
        })
    })
    .await?;
    Ok(RawImport {
        rate,
        record_bytes,
        keys_per_commit,
        bytes_per_key,
    })
}

/// What the durable appends' group commits wrote to sled, per commit:
/// issue 15's critical path is one key a commit.
fn written_per_commit(rows: &mut Vec<Row>, before: Written, after: Written) {
    let commits = (after.commits - before.commits).max(1.0);
    rows.push(
        Row::value(
            "sled keys written per durable append, in its group commit",
            (after.keys - before.keys) / commits,
            "keys",
        )
        .against("÷ 1 key", (after.keys - before.keys) / commits)
        .target(Target::AtMost(1.0)),
    );
    rows.push(Row::value(
        "bytes of keys and values written per durable append (1 KiB edit)",
        (after.bytes - before.bytes) / commits,
        "B",
    ));
}

/// Start-up after SIGKILL: appends for a few seconds (as many writers as
/// articles), SIGKILL in their midst, and the time from the next spawn
/// to serving (sled recovers from its log, the read models catch up).
async fn killed_start_up(
    rows: &mut Vec<Row>,
    server: &mut Server,
    store_dir: &Path,
    log_args: &[String],
) -> anyhow::Result<()> {
    step("start-up after SIGKILL under writes");
    let target = ServerArg::plain(server.url(), None);
    let connection = super::client::connect(&target).await?;
    let articles = scenarios::create_articles(&connection, 64).await?;
    let writers = tokio::spawn(async move {
        let connections = [connection];
        let articles = articles.into_iter().map(|id| (id, 1)).collect();
        scenarios::appends(&connections, articles, Duration::from_secs(3)).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.kill();
    // The writers end with errors once the server is gone.
    let _ = writers.await;
    *server = Server::spawn(store_dir, log_args)?;
    let seconds = server.started_in().unwrap_or_default().as_secs_f64();
    rows.push(
        Row::value(
            "start-up after SIGKILL during appends at 64 in flight, to serving",
            seconds * 1000.0,
            "ms",
        )
        .against("÷ 2 s", seconds / 2.0)
        .target(Target::AtMost(1.0)),
    );
    Ok(())
}

/// What `answerlog rebuild --json` reports.
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rebuilt {
    commits: u64,
    keys_written: u64,
    bytes_written: u64,
    log_bytes: u64,
    seconds: f64,
}

impl Rebuilt {
    fn keys_per_commit(&self) -> f64 {
        self.keys_written as f64 / self.commits.max(1) as f64
    }

    fn bytes_per_key(&self) -> u64 {
        self.bytes_written / self.keys_written.max(1)
    }
}

async fn rebuild_offline(store_dir: &Path) -> anyhow::Result<Rebuilt> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["rebuild", "--json", "--data-dir"])
        .arg(store_dir)
        .env_remove("ANSWERLOG_CONFIG");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await?
        .context("cannot run answerlog rebuild")?;
    anyhow::ensure!(
        out.status.success(),
        "answerlog rebuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("answerlog rebuild --json printed no report")
}

const MIB: f64 = 1024.0 * 1024.0;
/// The cache raw sled gets: the store's default.
const CACHE: u64 = 256 * 1024 * 1024;

fn curve(name: &str, baseline: bool) -> Curve {
    Curve {
        name: name.to_owned(),
        points: Vec::new(),
        baseline,
    }
}

/// Runs a raw sled measurement on a blocking thread, in a fresh directory
/// beside the store (the same disk), removed afterwards.
async fn raw<F>(dir: &Path, measure: F) -> anyhow::Result<Sample>
where
    F: FnOnce(&Path) -> Result<Sample, crate::log::StoreError> + Send + 'static,
{
    let dir = dir.join(format!("raw-sled-{}", Uuid::now_v7().simple()));
    tokio::task::spawn_blocking(move || {
        let sample = measure(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(sample?)
    })
    .await?
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

/// Imports the example article; its id and the encoded size of its answer.
async fn example_article(connection: &Connection) -> anyhow::Result<(String, usize)> {
    let mut draft = crate::import::parse(include_str!("../../../examples/what-causes-jmt.md"))?;
    draft.slug = format!("bench-{}", Uuid::now_v7().simple());
    let id = ArticleServiceClient::new(connection.clone())
        .create_article(CreateArticleRequest {
            command_id: Uuid::now_v7().to_string(),
            reason: "bench".into(),
            article: Some(draft_message(draft)),
        })
        .await?
        .into_inner()
        .article_id;
    let size = scenarios::answer_bytes(connection, &id).await?;
    Ok((id, size))
}

async fn channel(url: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// A server of its own in `dir` (on the log `log_args` chooses) whose
/// checkpoints a local witness (`answerlog witness serve`) must cosign
/// before GetCheckpoint answers: a write, then such a checkpoint that
/// covers it, one pair after another.
async fn witnessed_checkpoints(
    dir: &Path,
    log_args: &[String],
    duration: Duration,
) -> anyhow::Result<Sample> {
    std::fs::create_dir_all(dir)?;
    let origin = "bench.answerlog/witnessed";
    let key_file = dir.join("log.key");
    let key = crate::signing::new_key_file(&key_file)?;
    let log_vkey = crate::verifier_key::VerifierKey::new(origin, key.verifying_key().to_bytes())
        .map_err(anyhow::Error::msg)?
        .to_string();
    let (witness_vkey, mut witness) = Server::spawn_witness(dir, &log_vkey)?;
    let witness_url = witness.url().to_owned();
    let mut flags = log_args.to_vec();
    if !flags.is_empty() {
        // Its own stream on a JetStream log.
        flags.extend(["--nats-stream".into(), "BENCH_WITNESSED".into()]);
    }
    flags.extend([
        "--signing-key".into(),
        key_file.display().to_string(),
        "--log-origin".into(),
        origin.into(),
        "--witness".into(),
        format!("{witness_vkey} {witness_url}"),
    ]);
    let mut server = Server::spawn(&dir.join("store"), &flags)?;
    let outcome = async {
        let target = ServerArg::plain(server.url(), None);
        let connection = super::client::connect(&target).await?;
        let id = scenarios::create_articles(&connection, 1)
            .await?
            .pop()
            .context("an article")?;
        let (pairs, _) =
            scenarios::checkpoints_after_writes(&connection, (id, 1), duration).await?;
        anyhow::Ok(pairs)
    }
    .await;
    server.stop(Duration::from_secs(30));
    witness.stop(Duration::from_secs(10));
    outcome
}
