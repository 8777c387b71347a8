//! The server's metrics in a Prometheus registry: gRPC calls by service,
//! method and status code with their latency (the names and labels of
//! go-grpc-prometheus, so that existing dashboards fit); the writer's
//! appends, batches, flushes and queue; the store's commits, articles and
//! size on disk; StreamEvents followers and their lag. `metrics_http`
//! serves them as text on a listener of their own.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// One kind of call: its service, method and shape.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    pub(crate) grpc_service: String,
    pub(crate) grpc_method: String,
    /// `unary`, `server_stream`, `client_stream` or `bidi_stream`.
    pub(crate) grpc_type: &'static str,
}

/// One kind of call and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CodeLabels {
    pub(crate) grpc_service: String,
    pub(crate) grpc_method: String,
    pub(crate) grpc_type: &'static str,
    /// The status code's name: `OK`, `INVALID_ARGUMENT`, …
    pub(crate) grpc_code: &'static str,
}

fn seconds() -> Histogram {
    // 50 µs to about 26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// The status codes gRPC has: `OK` (0) to `UNAUTHENTICATED` (16).
const CODES: usize = 17;

/// One kind of call's counters and histogram, found in their families at
/// its first call and kept, so that a call does not hash its labels to
/// find them again (about 1% of the server's CPU at 64 appends in flight).
/// Each is made at its first use: the text lists the calls and codes seen.
#[derive(Debug)]
pub(crate) struct CallMetrics {
    method: MethodLabels,
    started_family: Family<MethodLabels, Counter>,
    handling_family: Family<MethodLabels, Histogram, fn() -> Histogram>,
    handled_family: Family<CodeLabels, Counter>,
    started: OnceLock<Counter>,
    handling: OnceLock<Histogram>,
    /// By status code.
    handled: [OnceLock<Counter>; CODES],
}

impl CallMetrics {
    pub(crate) fn started(&self) {
        self.started
            .get_or_init(|| self.started_family.get_or_create(&self.method).clone())
            .inc();
    }

    /// A call ended with status `code` (0–16) named `name` (`OK`,
    /// `NOT_FOUND`, …) after `seconds`.
    pub(crate) fn ended(&self, code: usize, name: &'static str, seconds: f64) {
        self.handling
            .get_or_init(|| self.handling_family.get_or_create(&self.method).clone())
            .observe(seconds);
        let labels = || CodeLabels {
            grpc_service: self.method.grpc_service.clone(),
            grpc_method: self.method.grpc_method.clone(),
            grpc_type: self.method.grpc_type,
            grpc_code: name,
        };
        match self.handled.get(code) {
            Some(handled) => handled
                .get_or_init(|| self.handled_family.get_or_create(&labels()).clone())
                .inc(),
            None => self.handled_family.get_or_create(&labels()).inc(),
        };
    }
}

/// What the binary is: `answerlog_build_info{version, commit, api} 1`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BuildLabels {
    pub(crate) version: &'static str,
    pub(crate) commit: &'static str,
    pub(crate) api: &'static str,
}

/// The process's own figures (`process_stats.rs`), set at each scrape.
#[derive(Debug, Default)]
struct ProcessGauges {
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// The CPU seconds the counter holds, to add only what is new.
    cpu_counted: std::sync::Mutex<f64>,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    open_fds: Gauge,
    start_time_seconds: Gauge,
}

/// A witness, by the name in its verifier key.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WitnessLabels {
    pub(crate) witness: String,
}

/// What the scrape reads off the store and the app when it happens.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Levels {
    pub(crate) queue_depth: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) subscribers: u64,
    pub(crate) max_subscriber_lag: u64,
    /// Leaves in the log's Merkle tree, the size of the last checkpoint
    /// signed, and whether the server refuses to sign (app/tree.rs).
    pub(crate) tree_leaves: u64,
    pub(crate) checkpoint_size: u64,
    pub(crate) checkpoint_refused: bool,
}

/// A read counted among those waiting for the read models while it lives.
#[derive(Debug)]
pub(crate) struct WaitingRead(Gauge);

impl Drop for WaitingRead {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    started: Family<MethodLabels, Counter>,
    handled: Family<CodeLabels, Counter>,
    handling: Family<MethodLabels, Histogram, fn() -> Histogram>,
    append_seconds: Histogram,
    batch_commits: Histogram,
    batch_keys: Counter,
    batch_bytes: Counter,
    log_bytes: Counter,
    flush_seconds: Histogram,
    queue_depth: Gauge,
    reads_waiting: Gauge,
    commits: Gauge,
    articles: Gauge,
    disk_bytes: Gauge,
    subscribers: Gauge,
    max_subscriber_lag: Gauge,
    tree_leaves: Gauge,
    checkpoint_size: Gauge,
    checkpoint_refused: Gauge,
    witnessed_size: Gauge,
    witness_cosigned: Family<WitnessLabels, Gauge>,
    witness_failures: Family<WitnessLabels, Counter>,
    slug_claims_released: Counter,
    accept_errors: Counter,
    connections_closed_silent: Counter,
    connections_refused: Counter,
    process: ProcessGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let started = Family::<MethodLabels, Counter>::default();
        registry.register(
            "grpc_server_started",
            "RPCs started on the server",
            started.clone(),
        );
        let handled = Family::<CodeLabels, Counter>::default();
        registry.register(
            "grpc_server_handled",
            "RPCs completed on the server, by status code",
            handled.clone(),
        );
        let handling =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(seconds);
        registry.register(
            "grpc_server_handling_seconds",
            "Time from an RPC's start to its status (a stream's whole life)",
            handling.clone(),
        );
        let append_seconds = seconds();
        registry.register(
            "answerlog_append_duration_seconds",
            "Time from handing a commit to the writer to its being durable",
            append_seconds.clone(),
        );
        let batch_commits = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "answerlog_append_batch_commits",
            "Commits one group commit (one flush) made durable",
            batch_commits.clone(),
        );
        let flush_seconds = seconds();
        registry.register(
            "answerlog_flush_duration_seconds",
            "Time of one group commit's flush (sled's fsync)",
            flush_seconds.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let queue_depth = gauge(
            &mut registry,
            "answerlog_write_queue_depth",
            "Jobs waiting for the writer",
        );
        let reads_waiting = gauge(
            &mut registry,
            "answerlog_reads_waiting",
            "Calls waiting for the read models to take writes already answered (read-your-writes)",
        );
        let commits = gauge(
            &mut registry,
            "answerlog_commits",
            "Commits in the log (its durable position)",
        );
        let articles = gauge(&mut registry, "answerlog_articles", "Articles ever created");
        let disk_bytes = gauge(
            &mut registry,
            "answerlog_store_disk_bytes",
            "Bytes the data directory's files take",
        );
        let subscribers = gauge(
            &mut registry,
            "answerlog_stream_subscribers",
            "StreamEvents followers connected",
        );
        let max_subscriber_lag = gauge(
            &mut registry,
            "answerlog_stream_max_lag_commits",
            "Commits the furthest-behind StreamEvents follower has yet to be sent",
        );
        let tree_leaves = gauge(
            &mut registry,
            "answerlog_merkle_tree_leaves",
            "Commits in the log's Merkle tree (behind answerlog_commits while it grows)",
        );
        let checkpoint_size = gauge(
            &mut registry,
            "answerlog_checkpoint_tree_size",
            "Commits the last signed checkpoint covers",
        );
        let checkpoint_refused = gauge(
            &mut registry,
            "answerlog_checkpoint_refused",
            "1 while the server refuses to sign checkpoints: its log does not give the root it signed last",
        );
        let witnessed_size = gauge(
            &mut registry,
            "answerlog_witnessed_checkpoint_tree_size",
            "Commits the latest checkpoint with the cosignatures the witness policy needs covers",
        );
        let witness_cosigned = Family::<WitnessLabels, Gauge>::default();
        registry.register(
            "answerlog_witness_cosigned_tree_size",
            "Commits the last checkpoint each witness cosigned covers",
            witness_cosigned.clone(),
        );
        let witness_failures = Family::<WitnessLabels, Counter>::default();
        registry.register(
            "answerlog_witness_failures",
            "add-checkpoint calls to each witness that gave no cosignature (down, slow, or refused)",
            witness_failures.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let batch_keys = counter(
            &mut registry,
            "answerlog_store_batch_keys",
            "sled keys (inserted or removed) the group commits wrote",
        );
        let batch_bytes = counter(
            &mut registry,
            "answerlog_store_batch_bytes",
            "Bytes of the keys and values the group commits wrote to sled",
        );
        let log_bytes = counter(
            &mut registry,
            "answerlog_log_appended_bytes",
            "Bytes of records the group commits appended to the log's files",
        );
        let slug_claims_released = counter(
            &mut registry,
            "answerlog_slug_claims_released",
            "Slug claims in the JetStream bucket released because their commit was refused for good",
        );
        let accept_errors = counter(
            &mut registry,
            "answerlog_accept_errors",
            "Failed accept calls (EMFILE and the like), each followed by a backoff",
        );
        let connections_closed_silent = counter(
            &mut registry,
            "answerlog_connections_closed_silent",
            "Connections closed because they sent no handshake in time, or to make room at the limit",
        );
        let connections_refused = counter(
            &mut registry,
            "answerlog_connections_refused",
            "Connections closed on arrival at the connection limit, with no silent one to close",
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "answerlog_build_info",
            "The binary: its version, commit and API (the value is 1)",
            build.clone(),
        );
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                commit: env!("ANSWERLOG_COMMIT"),
                api: "answerlog.v1",
            })
            .set(1);
        let process = ProcessGauges::default();
        if crate::process_stats::ProcessStats::read().is_some() {
            registry.register(
                "process_cpu_seconds",
                "User and system CPU time the process spent, in seconds",
                process.cpu_seconds.clone(),
            );
            for (name, help, gauge) in [
                (
                    "process_resident_memory_bytes",
                    "Resident memory, in bytes",
                    &process.resident_bytes,
                ),
                (
                    "process_virtual_memory_bytes",
                    "Virtual memory, in bytes",
                    &process.virtual_bytes,
                ),
                (
                    "process_open_fds",
                    "Open file descriptors",
                    &process.open_fds,
                ),
                (
                    "process_start_time_seconds",
                    "When the process started, in seconds since the Unix epoch",
                    &process.start_time_seconds,
                ),
            ] {
                registry.register(name, help, gauge.clone());
            }
        }
        Self {
            registry,
            process,
            accept_errors,
            connections_closed_silent,
            connections_refused,
            slug_claims_released,
            started,
            handled,
            handling,
            append_seconds,
            batch_commits,
            batch_keys,
            batch_bytes,
            log_bytes,
            flush_seconds,
            queue_depth,
            reads_waiting,
            commits,
            articles,
            disk_bytes,
            subscribers,
            max_subscriber_lag,
            tree_leaves,
            checkpoint_size,
            checkpoint_refused,
            witnessed_size,
            witness_cosigned,
            witness_failures,
        }
    }

    /// A witness cosigned a checkpoint of `size` commits.
    pub(crate) fn witness_cosigned(&self, witness: &str, size: u64) {
        let labels = WitnessLabels {
            witness: witness.to_owned(),
        };
        self.witness_cosigned
            .get_or_create(&labels)
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// An add-checkpoint call to a witness gave no cosignature.
    pub(crate) fn witness_failed(&self, witness: &str) {
        let labels = WitnessLabels {
            witness: witness.to_owned(),
        };
        self.witness_failures.get_or_create(&labels).inc();
    }

    /// The latest checkpoint that meets the witness policy.
    pub(crate) fn witnessed(&self, size: u64) {
        self.witnessed_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// One kind of call's metrics, to be updated by each of its calls.
    pub(crate) fn calls(&self, method: MethodLabels) -> CallMetrics {
        CallMetrics {
            method,
            started_family: self.started.clone(),
            handling_family: self.handling.clone(),
            handled_family: self.handled.clone(),
            started: OnceLock::new(),
            handling: OnceLock::new(),
            handled: Default::default(),
        }
    }

    /// A group commit made durable: `commits` new ones, handed to the
    /// writer at `queued_at`, written as `(keys, bytes)` to sled; the log
    /// now ends at `position` and holds `articles` articles.
    pub(crate) fn batched(
        &self,
        commits: u64,
        queued_at: &[Instant],
        position: u64,
        articles: u64,
        (keys, bytes): (u64, u64),
    ) {
        self.batch_commits.observe(commits as f64);
        self.batch_keys.inc_by(keys);
        self.batch_bytes.inc_by(bytes);
        let now = Instant::now();
        for at in queued_at {
            self.append_seconds
                .observe(now.saturating_duration_since(*at).as_secs_f64());
        }
        self.stored(position, articles);
    }

    /// One append answered (on a replica, once its store applied it),
    /// handed to the log at `queued_at`.
    pub(crate) fn appended(&self, queued_at: Instant) {
        self.append_seconds
            .observe(queued_at.elapsed().as_secs_f64());
    }

    /// A read waits for the read models until what this returns drops.
    pub(crate) fn read_waiting(&self) -> WaitingRead {
        self.reads_waiting.inc();
        WaitingRead(self.reads_waiting.clone())
    }

    /// Reads waiting for the read models now.
    pub(crate) fn reads_waiting(&self) -> u64 {
        u64::try_from(self.reads_waiting.get()).unwrap_or(0)
    }

    /// A failed `accept`; the running count.
    pub(crate) fn accept_failed(&self) -> u64 {
        self.accept_errors.inc() + 1
    }

    /// A connection closed silent (no handshake in time, or evicted).
    pub(crate) fn connection_closed_silent(&self) {
        self.connections_closed_silent.inc();
    }

    /// A connection refused at the connection limit.
    pub(crate) fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// Slug claims released (JetStream): `n` more.
    pub(crate) fn slug_claims_released(&self, n: usize) {
        self.slug_claims_released.inc_by(n as u64);
    }

    /// Where the store stands (at start, and after every group commit).
    pub(crate) fn stored(&self, position: u64, articles: u64) {
        set(&self.commits, position);
        set(&self.articles, articles);
    }

    /// A group commit's records, `bytes` in all, appended to the log's
    /// files and synced in `seconds`.
    pub(crate) fn flushed(&self, seconds: f64, bytes: u64) {
        self.flush_seconds.observe(seconds);
        self.log_bytes.inc_by(bytes);
    }

    /// The exposition text, with the levels read at this scrape.
    pub(crate) fn encode(&self, levels: Levels) -> Result<String, std::fmt::Error> {
        set(&self.queue_depth, levels.queue_depth);
        set(&self.disk_bytes, levels.disk_bytes);
        set(&self.subscribers, levels.subscribers);
        set(&self.max_subscriber_lag, levels.max_subscriber_lag);
        set(&self.tree_leaves, levels.tree_leaves);
        set(&self.checkpoint_size, levels.checkpoint_size);
        set(
            &self.checkpoint_refused,
            u64::from(levels.checkpoint_refused),
        );
        if let Some(now) = crate::process_stats::ProcessStats::read() {
            let p = &self.process;
            let mut counted = p.cpu_counted.lock().unwrap_or_else(|e| e.into_inner());
            if now.cpu_seconds > *counted {
                p.cpu_seconds.inc_by(now.cpu_seconds - *counted);
                *counted = now.cpu_seconds;
            }
            drop(counted);
            set(&p.resident_bytes, now.resident_bytes);
            set(&p.virtual_bytes, now.virtual_bytes);
            set(&p.open_fds, now.open_fds);
            set(&p.start_time_seconds, now.start_time_seconds);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn set(gauge: &Gauge, value: u64) {
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_method_and_code_and_timed() {
        let metrics = Metrics::new();
        let method = MethodLabels {
            grpc_service: "answerlog.v1.ArticleService".into(),
            grpc_method: "CreateArticle".into(),
            grpc_type: "unary",
        };
        let calls = metrics.calls(method.clone());
        calls.started();
        calls.ended(0, "OK", 0.001);
        calls.started();
        calls.ended(3, "INVALID_ARGUMENT", 0.002);
        // Found in the same families, as a second server's would be.
        let again = metrics.calls(method);
        again.started();
        again.ended(3, "INVALID_ARGUMENT", 0.003);
        metrics.flushed(0.0002, 2300);
        metrics.batched(2, &[Instant::now(), Instant::now()], 7, 1, (15, 3000));
        let text = metrics.encode(Levels::default()).unwrap();
        let labels = r#"grpc_service="answerlog.v1.ArticleService",grpc_method="CreateArticle",grpc_type="unary""#;
        for line in [
            format!("grpc_server_started_total{{{labels}}} 3"),
            format!("grpc_server_handled_total{{{labels},grpc_code=\"OK\"}} 1"),
            format!("grpc_server_handled_total{{{labels},grpc_code=\"INVALID_ARGUMENT\"}} 2"),
            format!("grpc_server_handling_seconds_count{{{labels}}} 3"),
            "answerlog_append_batch_commits_count 1".to_owned(),
            "answerlog_store_batch_keys_total 15".to_owned(),
            "answerlog_store_batch_bytes_total 3000".to_owned(),
            "answerlog_append_duration_seconds_count 2".to_owned(),
            "answerlog_flush_duration_seconds_count 1".to_owned(),
            "answerlog_log_appended_bytes_total 2300".to_owned(),
            "answerlog_commits 7".to_owned(),
            "answerlog_articles 1".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
