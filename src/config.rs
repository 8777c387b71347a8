//! Configuration: one TOML file, environment variables and flags, with
//! precedence flag > environment > file > default. Unknown keys in the file
//! are refused by name. No global state: the result is passed down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::domain::Limits;
use crate::jetstream::LogChoice;
use crate::tls::ServerTlsFiles;

/// The effective configuration of `answerlog serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// The articles' current states held in memory, in bytes.
    pub state_cache_bytes: u64,
    /// Snapshot every K versions.
    pub snapshot_interval: u64,
    /// Whether the snapshot interval was set (flag, environment or file)
    /// rather than defaulted: a rebuild adopts only a chosen one.
    pub snapshot_interval_chosen: bool,
    /// The largest request message accepted, in bytes.
    pub max_request_bytes: usize,
    /// The most commits one group commit takes.
    pub batch_limit: usize,
    /// The most answered batches the read models may lag behind before
    /// the writer waits for them (embedded log).
    pub apply_lag: usize,
    /// The bounded queue before the writer.
    pub queue_depth: usize,
    /// Flushed batches the live feed holds for a slow follower.
    pub live_buffer: usize,
    /// Milliseconds of silence before a StreamEvents heartbeat.
    pub stream_heartbeat_ms: u64,
    /// Calls one connection may have open at once (HTTP/2 streams).
    pub max_concurrent_streams: u32,
    /// StreamEvents followers served at once.
    pub max_subscriptions: usize,
    /// The deadline of a unary call that sets none, in milliseconds.
    pub default_deadline_ms: u64,
    /// Connections open at once (fewer if the open-files limit says so).
    pub max_connections: usize,
    /// How long a new connection may stay silent before it is closed, ms.
    pub handshake_timeout_ms: u64,
    /// A page session ends after this long without a request, ms.
    pub session_idle_ms: u64,
    /// A page session ends this long after its login, ms.
    pub session_lifetime_ms: u64,
    pub log_format: LogFormat,
    /// Where `/metrics` is served (Prometheus); none: not at all.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the JSON API is served (`/api/v1/`); none: not at all.
    pub http_listen: Option<SocketAddr>,
    /// The principals file; none means development mode.
    pub principals_file: Option<PathBuf>,
    /// Development mode on an address other than loopback: every caller
    /// on the network may do anything. Refused unless this is set.
    pub allow_development_on_network: bool,
    /// Every write must carry a reason (its edit summary), which auditors
    /// read; off: only a retraction must.
    pub require_reason: bool,
    /// The Ed25519 secret key that signs digests; none: generated into the
    /// data directory on first start.
    pub signing_key_file: Option<PathBuf>,
    /// The secret that request hashes are keyed with (64 hex digits);
    /// none: `DATA_DIR/request-key`, made on first start (a JetStream
    /// replica's: the log's bucket's).
    pub request_key_file: Option<PathBuf>,
    /// The origin line of the Merkle tree's checkpoints; none:
    /// `answerlog/<key id>`.
    pub log_origin: Option<String>,
    /// How often a checkpoint is signed while the log grows, in ms.
    pub checkpoint_interval_ms: u64,
    /// The witnesses that cosign checkpoints: `VKEY URL` each.
    pub witnesses: Vec<String>,
    /// Cosignatures a checkpoint needs before receipts use it; none: every
    /// witness's.
    pub witness_quorum: Option<usize>,
    /// TLS: the server's certificate and key, and the client CA for mTLS.
    pub tls: Option<ServerTlsFiles>,
    pub limits: Limits,
    /// The log: sled in the data directory, or a JetStream stream.
    pub log: LogChoice,
    /// The JetStream stream's name (its subjects and slug bucket follow).
    pub nats_stream: String,
    /// Copies of the stream JetStream keeps: 1, or 3 (or 5) on a cluster.
    pub nats_replicas: usize,
    /// A NATS credentials file (user JWT and NKey seed); none: no auth.
    pub nats_credentials_file: Option<PathBuf>,
    /// How long a commit's content may wait for its commit before a
    /// replica finishes or erases it, in ms (`jetstream/sweeper.rs`).
    pub nats_orphan_grace_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            cache_bytes: 256 * 1024 * 1024,
            state_cache_bytes: crate::projection::DEFAULT_STATE_CACHE_BYTES,
            snapshot_interval: crate::projection::DEFAULT_SNAPSHOT_INTERVAL,
            snapshot_interval_chosen: false,
            max_request_bytes: 1024 * 1024,
            batch_limit: 512,
            apply_lag: 8,
            queue_depth: 4096,
            live_buffer: 1024,
            stream_heartbeat_ms: 5000,
            max_concurrent_streams: 256,
            max_subscriptions: 1024,
            default_deadline_ms: 30_000,
            max_connections: 4096,
            handshake_timeout_ms: 10_000,
            session_idle_ms: 30 * 60 * 1000,
            session_lifetime_ms: 12 * 60 * 60 * 1000,
            log_format: LogFormat::Text,
            metrics_listen: None,
            http_listen: None,
            principals_file: None,
            allow_development_on_network: false,
            require_reason: true,
            signing_key_file: None,
            request_key_file: None,
            log_origin: None,
            checkpoint_interval_ms: 1000,
            witnesses: Vec::new(),
            witness_quorum: None,
            tls: None,
            limits: Limits::default(),
            log: LogChoice::Sled,
            nats_stream: "ANSWERLOG".into(),
            nats_replicas: 1,
            nats_credentials_file: None,
            nats_orphan_grace_ms: 30_000,
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    cache_bytes: Option<u64>,
    state_cache_bytes: Option<u64>,
    snapshot_interval: Option<u64>,
    max_request_bytes: Option<usize>,
    batch_limit: Option<usize>,
    apply_lag: Option<usize>,
    queue_depth: Option<usize>,
    live_buffer: Option<usize>,
    stream_heartbeat_ms: Option<u64>,
    max_concurrent_streams: Option<u32>,
    max_subscriptions: Option<usize>,
    default_deadline_ms: Option<u64>,
    max_connections: Option<usize>,
    handshake_timeout_ms: Option<u64>,
    session_idle_ms: Option<u64>,
    session_lifetime_ms: Option<u64>,
    log_format: Option<LogFormat>,
    metrics_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    principals_file: Option<PathBuf>,
    allow_development_on_network: Option<bool>,
    require_reason: Option<bool>,
    signing_key_file: Option<PathBuf>,
    request_key_file: Option<PathBuf>,
    log_origin: Option<String>,
    checkpoint_interval_ms: Option<u64>,
    witnesses: Option<Vec<String>>,
    witness_quorum: Option<usize>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_client_ca_file: Option<PathBuf>,
    tls_client_auth_optional: Option<bool>,
    limits: Option<Limits>,
    log: Option<String>,
    nats_stream: Option<String>,
    nats_replicas: Option<usize>,
    nats_credentials_file: Option<PathBuf>,
    nats_orphan_grace_ms: Option<u64>,
}

/// Flags (each also read from its `ANSWERLOG_…` environment variable).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct ConfigArgs {
    /// A TOML configuration file.
    #[arg(long, env = "ANSWERLOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the store lives [default: ./data].
    #[arg(long, env = "ANSWERLOG_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address to serve gRPC on [default: 127.0.0.1:50051].
    #[arg(long, env = "ANSWERLOG_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// sled's page cache in bytes [default: 268435456].
    #[arg(long, env = "ANSWERLOG_CACHE_BYTES")]
    pub cache_bytes: Option<u64>,
    /// The articles' current states held in memory, in bytes [default:
    /// 33554432].
    #[arg(long, env = "ANSWERLOG_STATE_CACHE_BYTES")]
    pub state_cache_bytes: Option<u64>,
    /// Snapshot every K versions in a new store; a store keeps its own
    /// until `rebuild --snapshot-interval` [default: 16].
    #[arg(long, env = "ANSWERLOG_SNAPSHOT_INTERVAL")]
    pub snapshot_interval: Option<u64>,
    /// The largest request accepted, in bytes [default: 1048576].
    #[arg(long, env = "ANSWERLOG_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// The most commits one group commit takes [default: 512].
    #[arg(long, env = "ANSWERLOG_BATCH_LIMIT")]
    pub batch_limit: Option<usize>,
    /// Answered batches the read models may lag behind before the writer waits [default: 8].
    #[arg(long, env = "ANSWERLOG_APPLY_LAG")]
    pub apply_lag: Option<usize>,
    /// The bounded queue before the writer [default: 4096].
    #[arg(long, env = "ANSWERLOG_QUEUE_DEPTH")]
    pub queue_depth: Option<usize>,
    /// Flushed batches the live feed holds for a slow follower [default: 1024].
    #[arg(long, env = "ANSWERLOG_LIVE_BUFFER")]
    pub live_buffer: Option<usize>,
    /// Milliseconds of silence before a StreamEvents heartbeat [default: 5000].
    #[arg(long, env = "ANSWERLOG_STREAM_HEARTBEAT_MS")]
    pub stream_heartbeat_ms: Option<u64>,
    /// Calls one connection may have open at once [default: 256].
    #[arg(long, env = "ANSWERLOG_MAX_CONCURRENT_STREAMS")]
    pub max_concurrent_streams: Option<u32>,
    /// StreamEvents followers served at once [default: 1024].
    #[arg(long, env = "ANSWERLOG_MAX_SUBSCRIPTIONS")]
    pub max_subscriptions: Option<usize>,
    /// The deadline of a unary call that sets none, in ms [default: 30000].
    #[arg(long, env = "ANSWERLOG_DEFAULT_DEADLINE_MS")]
    pub default_deadline_ms: Option<u64>,
    /// Connections open at once; at the limit a silent one is closed to
    /// make room [default: 4096, fewer if the open-files limit says so].
    #[arg(long, env = "ANSWERLOG_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// How long a new connection may stay silent before it is closed, in
    /// ms [default: 10000].
    #[arg(long, env = "ANSWERLOG_HANDSHAKE_TIMEOUT_MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// A page session (`--http-listen`) ends after this long without a
    /// request, in ms [default: 1800000, 30 minutes].
    #[arg(long, env = "ANSWERLOG_SESSION_IDLE_MS")]
    pub session_idle_ms: Option<u64>,
    /// A page session ends this long after its login, in ms [default:
    /// 43200000, 12 hours].
    #[arg(long, env = "ANSWERLOG_SESSION_LIFETIME_MS")]
    pub session_lifetime_ms: Option<u64>,
    /// Log lines as text or JSON [default: text].
    #[arg(long, env = "ANSWERLOG_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve Prometheus metrics at http://ADDR/metrics [default: off].
    #[arg(long, env = "ANSWERLOG_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the JSON API at http://ADDR/api/v1/ (a loopback address:
    /// behind a TLS proxy on the network) [default: off].
    #[arg(long, env = "ANSWERLOG_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// The principals file (names, roles, SHA-256 of tokens); reloaded on
    /// SIGHUP. Without one the server runs in development mode.
    #[arg(long = "principals", env = "ANSWERLOG_PRINCIPALS")]
    pub principals_file: Option<PathBuf>,
    /// Run development mode (no principals file: every caller may do
    /// anything, as `anonymous`) on an address other than loopback. Refused
    /// without this; never for a server others can reach.
    #[arg(
        long,
        env = "ANSWERLOG_ALLOW_DEVELOPMENT_ON_NETWORK",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub allow_development_on_network: Option<bool>,
    /// Refuse writes without a reason (the edit summary auditors read)
    /// [default: true; false: only a retraction needs one].
    #[arg(long, env = "ANSWERLOG_REQUIRE_REASON")]
    pub require_reason: Option<bool>,
    /// A file with the Ed25519 secret key (64 hex digits) that signs log
    /// digests [default: one generated into the data directory].
    #[arg(long = "signing-key", env = "ANSWERLOG_SIGNING_KEY")]
    pub signing_key_file: Option<PathBuf>,
    /// A file with the secret (64 hex digits) that request hashes are
    /// keyed with, so that an export's hashes cannot be matched against
    /// guessed requests; give every replica and restore of a log the same
    /// one, so that each answers a retry alike [default: DATA_DIR/request-key,
    /// made on first start; on a JetStream replica, the one the log's
    /// bucket keeps].
    #[arg(
        long = "request-key",
        env = "ANSWERLOG_REQUEST_KEY",
        hide_env_values = true
    )]
    pub request_key_file: Option<PathBuf>,
    /// The origin line of the log's checkpoints, which auditors and
    /// witnesses know the log by, e.g. answerlog.example.org/prod; give
    /// every replica of a log, and its restores, the same one and the same
    /// --signing-key [default: answerlog/<signing key id>].
    #[arg(long, env = "ANSWERLOG_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// Sign a checkpoint at most this often while the log grows (and at
    /// once when a reader waits for one), in ms [default: 1000].
    #[arg(long, env = "ANSWERLOG_CHECKPOINT_INTERVAL_MS")]
    pub checkpoint_interval_ms: Option<u64>,
    /// A witness that cosigns the log's checkpoints (C2SP tlog-witness):
    /// its verifier key, a space, and its URL, e.g. "witness.example/w1+…
    /// http://127.0.0.1:7380"; repeat it (or separate with commas) for
    /// more [default: none].
    #[arg(long = "witness", env = "ANSWERLOG_WITNESSES", value_delimiter = ',')]
    pub witnesses: Vec<String>,
    /// How many witnesses' cosignatures a checkpoint needs before receipts
    /// and GetCheckpoint use it; 0: cosignatures are gathered but not
    /// waited for [default: every witness].
    #[arg(long, env = "ANSWERLOG_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,
    /// The server's TLS certificate chain (PEM); with --tls-key, the
    /// server speaks TLS only.
    #[arg(long = "tls-cert", env = "ANSWERLOG_TLS_CERT")]
    pub tls_cert_file: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long = "tls-key", env = "ANSWERLOG_TLS_KEY")]
    pub tls_key_file: Option<PathBuf>,
    /// A CA (PEM) that client certificates must chain to: mTLS, with the
    /// certificate's subject as principal.
    #[arg(long = "tls-client-ca", env = "ANSWERLOG_TLS_CLIENT_CA")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// With --tls-client-ca: admit clients without a certificate too (they
    /// authenticate with a bearer token).
    #[arg(long, env = "ANSWERLOG_TLS_CLIENT_AUTH_OPTIONAL")]
    pub tls_client_auth_optional: Option<bool>,
    /// The log: `sled` (in the data directory) or
    /// `nats://host:port[,host:port…]` (a JetStream stream shared by
    /// replicas; the data directory keeps this replica's read models)
    /// [default: sled].
    #[arg(long, env = "ANSWERLOG_LOG")]
    pub log: Option<LogChoice>,
    /// The JetStream stream [default: ANSWERLOG].
    #[arg(long, env = "ANSWERLOG_NATS_STREAM")]
    pub nats_stream: Option<String>,
    /// Copies of the stream, when this replica creates it: 1, or 3 on a
    /// three-node cluster [default: 1].
    #[arg(long, env = "ANSWERLOG_NATS_REPLICAS")]
    pub nats_replicas: Option<usize>,
    /// A NATS credentials file (user JWT and NKey seed).
    #[arg(long = "nats-credentials", env = "ANSWERLOG_NATS_CREDENTIALS")]
    pub nats_credentials_file: Option<PathBuf>,
    /// How long a commit's content may wait for its commit (a replica
    /// died between the two) before a replica finishes the commit, or
    /// erases the content if another commit took its place, in ms
    /// [default: 30000].
    #[arg(long, env = "ANSWERLOG_NATS_ORPHAN_GRACE_MS")]
    pub nats_orphan_grace_ms: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The size limits (`domain/limits.rs`), each a flag and an environment variable.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct LimitArgs {
    #[arg(long, env = "ANSWERLOG_LIMIT_QUESTION_CHARS", hide = true)]
    pub limit_question_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_HEADING_CHARS", hide = true)]
    pub limit_heading_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_BODY_BYTES", hide = true)]
    pub limit_body_bytes: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_SECTIONS", hide = true)]
    pub limit_sections: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_SOURCES", hide = true)]
    pub limit_sources: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_KEY_FACT_CHARS", hide = true)]
    pub limit_key_fact_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_KEY_FACTS", hide = true)]
    pub limit_key_facts: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_REASON_CHARS", hide = true)]
    pub limit_reason_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_ARTICLE_BYTES", hide = true)]
    pub limit_article_bytes: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_SOURCE_FIELD_CHARS", hide = true)]
    pub limit_source_field_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_URL_CHARS", hide = true)]
    pub limit_url_chars: Option<usize>,
    #[arg(long, env = "ANSWERLOG_LIMIT_DISCLAIMER_CHARS", hide = true)]
    pub limit_disclaimer_chars: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key} must be at least 1")]
    Zero { key: &'static str },
    #[error("TLS needs both tls_cert_file and tls_key_file; {missing} is missing")]
    HalfTls { missing: &'static str },
    #[error("tls_client_ca_file needs TLS: set tls_cert_file and tls_key_file too")]
    ClientCaWithoutTls,
    #[error("{key} is invalid: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ConfigArgs {
    /// Merges flags and environment (already in `self`, clap's precedence)
    /// over the file over the defaults.
    pub(crate) fn resolve(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let mut limits = file.limits.unwrap_or(d.limits.clone());
        let l = &self.limits;
        for (flag, slot) in [
            (l.limit_question_chars, &mut limits.question_chars),
            (l.limit_heading_chars, &mut limits.heading_chars),
            (l.limit_body_bytes, &mut limits.body_bytes),
            (l.limit_sections, &mut limits.sections),
            (l.limit_sources, &mut limits.sources),
            (l.limit_key_fact_chars, &mut limits.key_fact_chars),
            (l.limit_key_facts, &mut limits.key_facts),
            (l.limit_reason_chars, &mut limits.reason_chars),
            (l.limit_article_bytes, &mut limits.article_bytes),
            (l.limit_source_field_chars, &mut limits.source_field_chars),
            (l.limit_url_chars, &mut limits.url_chars),
            (l.limit_disclaimer_chars, &mut limits.disclaimer_chars),
        ] {
            if let Some(value) = flag {
                *slot = value;
            }
        }
        let snapshot_interval_chosen =
            self.snapshot_interval.is_some() || file.snapshot_interval.is_some();
        let config = Config {
            snapshot_interval_chosen,
            data_dir: pick(&self.data_dir, file.data_dir, d.data_dir),
            listen: pick(&self.listen, file.listen, d.listen),
            cache_bytes: pick(&self.cache_bytes, file.cache_bytes, d.cache_bytes),
            state_cache_bytes: pick(
                &self.state_cache_bytes,
                file.state_cache_bytes,
                d.state_cache_bytes,
            ),
            snapshot_interval: pick(
                &self.snapshot_interval,
                file.snapshot_interval,
                d.snapshot_interval,
            ),
            max_request_bytes: pick(
                &self.max_request_bytes,
                file.max_request_bytes,
                d.max_request_bytes,
            ),
            batch_limit: pick(&self.batch_limit, file.batch_limit, d.batch_limit),
            apply_lag: pick(&self.apply_lag, file.apply_lag, d.apply_lag),
            queue_depth: pick(&self.queue_depth, file.queue_depth, d.queue_depth),
            live_buffer: pick(&self.live_buffer, file.live_buffer, d.live_buffer),
            stream_heartbeat_ms: pick(
                &self.stream_heartbeat_ms,
                file.stream_heartbeat_ms,
                d.stream_heartbeat_ms,
            ),
            max_concurrent_streams: pick(
                &self.max_concurrent_streams,
                file.max_concurrent_streams,
                d.max_concurrent_streams,
            ),
            max_subscriptions: pick(
                &self.max_subscriptions,
                file.max_subscriptions,
                d.max_subscriptions,
            ),
            default_deadline_ms: pick(
                &self.default_deadline_ms,
                file.default_deadline_ms,
                d.default_deadline_ms,
            ),
            max_connections: pick(
                &self.max_connections,
                file.max_connections,
                d.max_connections,
            ),
            handshake_timeout_ms: pick(
                &self.handshake_timeout_ms,
                file.handshake_timeout_ms,
                d.handshake_timeout_ms,
            ),
            session_idle_ms: pick(
                &self.session_idle_ms,
                file.session_idle_ms,
                d.session_idle_ms,
            ),
            session_lifetime_ms: pick(
                &self.session_lifetime_ms,
                file.session_lifetime_ms,
                d.session_lifetime_ms,
            ),
            log_format: pick(&self.log_format, file.log_format, d.log_format),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            http_listen: self.http_listen.or(file.http_listen),
            principals_file: self.principals_file.clone().or(file.principals_file),
            allow_development_on_network: pick(
                &self.allow_development_on_network,
                file.allow_development_on_network,
                d.allow_development_on_network,
            ),
            require_reason: pick(&self.require_reason, file.require_reason, d.require_reason),
            signing_key_file: self.signing_key_file.clone().or(file.signing_key_file),
            request_key_file: self.request_key_file.clone().or(file.request_key_file),
            log_origin: self.log_origin.clone().or(file.log_origin),
            checkpoint_interval_ms: pick(
                &self.checkpoint_interval_ms,
                file.checkpoint_interval_ms,
                d.checkpoint_interval_ms,
            ),
            witnesses: if self.witnesses.is_empty() {
                file.witnesses.unwrap_or_default()
            } else {
                self.witnesses.clone()
            },
            witness_quorum: self.witness_quorum.or(file.witness_quorum),
            tls: tls_files(
                self.tls_cert_file.clone().or(file.tls_cert_file),
                self.tls_key_file.clone().or(file.tls_key_file),
                self.tls_client_ca_file.clone().or(file.tls_client_ca_file),
                pick(
                    &self.tls_client_auth_optional,
                    file.tls_client_auth_optional,
                    false,
                ),
            )?,
            limits,
            log: match (&self.log, file.log) {
                (Some(log), _) => log.clone(),
                (None, Some(text)) => text.parse().map_err(|message| ConfigError::Invalid {
                    key: "log",
                    message,
                })?,
                (None, None) => d.log,
            },
            nats_stream: pick(&self.nats_stream, file.nats_stream, d.nats_stream),
            nats_replicas: pick(&self.nats_replicas, file.nats_replicas, d.nats_replicas),
            nats_credentials_file: self
                .nats_credentials_file
                .clone()
                .or(file.nats_credentials_file),
            nats_orphan_grace_ms: pick(
                &self.nats_orphan_grace_ms,
                file.nats_orphan_grace_ms,
                d.nats_orphan_grace_ms,
            ),
        };
        if !(1..=5).contains(&config.nats_replicas) {
            return Err(ConfigError::Invalid {
                key: "nats_replicas",
                message: format!(
                    "{} is not 1 to 5 (JetStream keeps at most 5 copies)",
                    config.nats_replicas
                ),
            });
        }
        let valid_stream = !config.nats_stream.is_empty()
            && config
                .nats_stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_stream {
            return Err(ConfigError::Invalid {
                key: "nats_stream",
                message: format!("{:?} must be letters, digits, - and _", config.nats_stream),
            });
        }
        for (key, value) in [
            ("snapshot_interval", config.snapshot_interval as usize),
            ("batch_limit", config.batch_limit),
            ("apply_lag", config.apply_lag),
            ("queue_depth", config.queue_depth),
            ("live_buffer", config.live_buffer),
            ("stream_heartbeat_ms", config.stream_heartbeat_ms as usize),
            (
                "max_concurrent_streams",
                config.max_concurrent_streams as usize,
            ),
            ("max_subscriptions", config.max_subscriptions),
            ("default_deadline_ms", config.default_deadline_ms as usize),
            ("max_connections", config.max_connections),
            ("handshake_timeout_ms", config.handshake_timeout_ms as usize),
            ("session_idle_ms", config.session_idle_ms as usize),
            ("session_lifetime_ms", config.session_lifetime_ms as usize),
            (
                "checkpoint_interval_ms",
                config.checkpoint_interval_ms as usize,
            ),
            ("nats_orphan_grace_ms", config.nats_orphan_grace_ms as usize),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { key });
            }
        }
        if config.checkpoint_interval_ms > 86_400_000 {
            return Err(ConfigError::Invalid {
                key: "checkpoint_interval_ms",
                message: format!(
                    "{} is more than a day (86400000 ms)",
                    config.checkpoint_interval_ms
                ),
            });
        }
        let mut keys: Vec<[u8; 32]> = Vec::new();
        for entry in &config.witnesses {
            let (key, _) = crate::tlog::witness::parse_witness(entry).map_err(|message| {
                ConfigError::Invalid {
                    key: "witnesses",
                    message,
                }
            })?;
            if keys.contains(&key.public_key) {
                return Err(ConfigError::Invalid {
                    key: "witnesses",
                    message: format!(
                        "the witness key {key} is given twice: a quorum counts each witness once"
                    ),
                });
            }
            keys.push(key.public_key);
        }
        if let Some(quorum) = config.witness_quorum {
            if quorum > config.witnesses.len() {
                return Err(ConfigError::Invalid {
                    key: "witness_quorum",
                    message: format!(
                        "{quorum} cosignatures cannot come from {} witnesses",
                        config.witnesses.len()
                    ),
                });
            }
        }
        if let Some(origin) = &config.log_origin {
            crate::tlog::checkpoint::check_origin(origin).map_err(|message| {
                ConfigError::Invalid {
                    key: "log_origin",
                    message,
                }
            })?;
        }
        Ok(config)
    }
}

impl Config {
    /// What only a server that listens must satisfy (checked by `serve`
    /// and `config print`, not by the offline commands that read the same
    /// configuration): development mode, with no principals file, stays on
    /// loopback unless allowed by name.
    pub(crate) fn check_serving(&self) -> Result<(), ConfigError> {
        if self.principals_file.is_none()
            && !self.listen.ip().is_loopback()
            && !self.allow_development_on_network
        {
            return Err(ConfigError::Invalid {
                key: "listen",
                message: format!(
                    "{} is not a loopback address, and without a principals file the server runs in development mode, where every caller may do anything. Give a principals file (principals_file, --principals or ANSWERLOG_PRINCIPALS; `answerlog token new NAME --role admin` prints a token and its entry), listen on 127.0.0.1, or accept the risk with --allow-development-on-network",
                    self.listen
                ),
            });
        }
        let plain = self.tls.is_none();
        if let Some(http) = self.http_listen.filter(|a| plain && !a.ip().is_loopback()) {
            return Err(ConfigError::Invalid {
                key: "http_listen",
                message: format!(
                    "{http} is not a loopback address, and without TLS bearer tokens would cross the network in the clear (and browsers give WebCrypto only to secure contexts). Give the server a certificate (tls_cert and tls_key, which the JSON API's listener uses too), or listen on 127.0.0.1"
                ),
            });
        }
        Ok(())
    }
}

impl From<&Config> for FileConfig {
    /// The effective configuration in the file's shape: every key, as the
    /// file would name it.
    fn from(c: &Config) -> Self {
        let tls = c.tls.as_ref();
        FileConfig {
            data_dir: Some(c.data_dir.clone()),
            listen: Some(c.listen),
            cache_bytes: Some(c.cache_bytes),
            state_cache_bytes: Some(c.state_cache_bytes),
            snapshot_interval: Some(c.snapshot_interval),
            max_request_bytes: Some(c.max_request_bytes),
            batch_limit: Some(c.batch_limit),
            apply_lag: Some(c.apply_lag),
            queue_depth: Some(c.queue_depth),
            live_buffer: Some(c.live_buffer),
            stream_heartbeat_ms: Some(c.stream_heartbeat_ms),
            max_concurrent_streams: Some(c.max_concurrent_streams),
            max_subscriptions: Some(c.max_subscriptions),
            default_deadline_ms: Some(c.default_deadline_ms),
            max_connections: Some(c.max_connections),
            handshake_timeout_ms: Some(c.handshake_timeout_ms),
            session_idle_ms: Some(c.session_idle_ms),
            session_lifetime_ms: Some(c.session_lifetime_ms),
            log_format: Some(c.log_format),
            metrics_listen: c.metrics_listen,
            http_listen: c.http_listen,
            principals_file: c.principals_file.clone(),
            allow_development_on_network: Some(c.allow_development_on_network),
            require_reason: Some(c.require_reason),
            signing_key_file: c.signing_key_file.clone(),
            request_key_file: c.request_key_file.clone(),
            log_origin: c.log_origin.clone(),
            checkpoint_interval_ms: Some(c.checkpoint_interval_ms),
            witnesses: Some(c.witnesses.clone()),
            witness_quorum: c.witness_quorum,
            tls_cert_file: tls.map(|t| t.cert.clone()),
            tls_key_file: tls.map(|t| t.key.clone()),
            tls_client_ca_file: tls.and_then(|t| t.client_ca.clone()),
            tls_client_auth_optional: Some(tls.is_some_and(|t| t.client_auth_optional)),
            limits: Some(c.limits.clone()),
            log: Some(c.log.to_string()),
            nats_stream: Some(c.nats_stream.clone()),
            nats_replicas: Some(c.nats_replicas),
            nats_credentials_file: c.nats_credentials_file.clone(),
            nats_orphan_grace_ms: Some(c.nats_orphan_grace_ms),
        }
    }
}

/// Where a value of the effective configuration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    Flag,
    Environment,
    File,
    Default,
}

impl Origin {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Origin::Flag => "flag",
            Origin::Environment => "environment",
            Origin::File => "file",
            Origin::Default => "default",
        }
    }
}

/// One key of the effective configuration: its value (null when unset)
/// and where that came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct Setting {
    /// As the file names it (`limits.question_chars` for a limit).
    pub key: String,
    pub value: serde_json::Value,
    pub origin: Origin,
}

impl ConfigArgs {
    /// Every key of the effective configuration and where its value came
    /// from. `matches` are the command line's, which tell a flag from its
    /// environment variable.
    pub(crate) fn settings(&self, matches: &clap::ArgMatches) -> Result<Vec<Setting>, ConfigError> {
        let config = self.resolve()?;
        config.check_serving()?;
        let in_file = match &self.config {
            Some(path) => file_keys(path)?,
            None => Vec::new(),
        };
        let effective =
            serde_json::to_value(FileConfig::from(&config)).map_err(|e| ConfigError::Parse {
                path: PathBuf::from("(effective configuration)"),
                message: e.to_string(),
            })?;
        let mut values = Vec::new();
        flatten("", effective, &mut values);
        Ok(values
            .into_iter()
            .map(|(key, value)| {
                let id = key
                    .strip_prefix("limits.")
                    .map_or_else(|| key.clone(), |limit| format!("limit_{limit}"));
                let source = match matches.try_contains_id(&id) {
                    Ok(_) => matches.value_source(&id),
                    Err(_) => None,
                };
                let origin = match source {
                    Some(clap::parser::ValueSource::CommandLine) => Origin::Flag,
                    Some(clap::parser::ValueSource::EnvVariable) => Origin::Environment,
                    _ if in_file.contains(&key) => Origin::File,
                    _ => Origin::Default,
                };
                Setting { key, value, origin }
            })
            .collect())
    }
}

/// The dotted keys and leaf values of a JSON object, in its order.
fn flatten(prefix: &str, value: serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf)),
    }
}

/// The dotted keys the configuration file sets.
fn file_keys(path: &Path) -> Result<Vec<String>, ConfigError> {
    let table: toml::Table = parse_file(path)?;
    let json = serde_json::to_value(table).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut keys = Vec::new();
    flatten("", json, &mut keys);
    Ok(keys.into_iter().map(|(key, _)| key).collect())
}

fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    client_auth_optional: bool,
) -> Result<Option<ServerTlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(ServerTlsFiles {
            cert,
            key,
            client_ca,
            client_auth_optional,
        })),
        (None, None) if client_ca.is_some() => Err(ConfigError::ClientCaWithoutTls),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::HalfTls {
            missing: "tls_key_file",
        }),
        (None, Some(_)) => Err(ConfigError::HalfTls {
            missing: "tls_cert_file",
        }),
    }
}

fn pick<T: Clone>(flag: &Option<T>, file: Option<T>, default: T) -> T {
    flag.clone().or(file).unwrap_or(default)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    parse_file(path)
}

/// The configuration file, parsed as `T`.
fn parse_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    /// The JSON API's listener takes a non-loopback address only with TLS.
    #[test]
    fn the_http_listener_leaves_loopback_only_with_tls() {
        let on = |addr: &str, tls: bool| {
            let mut config = Config {
                http_listen: Some(addr.parse().unwrap()),
                principals_file: Some(PathBuf::from("principals.toml")),
                ..Config::default()
            };
            if tls {
                config.tls = Some(ServerTlsFiles {
                    cert: PathBuf::from("cert.pem"),
                    key: PathBuf::from("key.pem"),
                    ..ServerTlsFiles::default()
                });
            }
            config.check_serving()
        };
        assert!(on("127.0.0.1:8080", false).is_ok());
        assert!(matches!(
            on("0.0.0.0:8080", false),
            Err(ConfigError::Invalid {
                key: "http_listen",
                ..
            })
        ));
        assert!(on("0.0.0.0:8080", true).is_ok());
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let f =
            file("listen = \"127.0.0.1:6000\"\nsnapshot_interval = 8\n[limits]\nsections = 10\n");
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            snapshot_interval: Some(4),
            limits: LimitArgs {
                limit_sources: Some(3),
                ..LimitArgs::default()
            },
            ..ConfigArgs::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.snapshot_interval, 4);
        assert_eq!(c.limits.sections, 10);
        assert_eq!(c.limits.sources, 3);
        assert_eq!(c.limits.heading_chars, Limits::default().heading_chars);
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let f = file("listen = \"127.0.0.1:6000\"\nsnapshot_intervall = 8\n");
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            ..ConfigArgs::default()
        };
        let e = args.resolve().unwrap_err().to_string();
        assert!(e.contains("snapshot_intervall"), "{e}");
        let f = file("[limits]\nsectoins = 1\n");
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            ..ConfigArgs::default()
        };
        let e = args.resolve().unwrap_err().to_string();
        assert!(e.contains("sectoins"), "{e}");
    }

    #[test]
    fn tls_needs_a_certificate_and_its_key() {
        let half = ConfigArgs {
            tls_cert_file: Some("server.pem".into()),
            ..ConfigArgs::default()
        };
        let e = half.resolve().unwrap_err().to_string();
        assert!(e.contains("tls_key_file"), "{e}");
        let ca_alone = ConfigArgs {
            tls_client_ca_file: Some("ca.pem".into()),
            ..ConfigArgs::default()
        };
        let e = ca_alone.resolve().unwrap_err().to_string();
        assert!(e.contains("tls_client_ca_file needs TLS"), "{e}");
        let f = file("tls_cert_file = \"s.pem\"\ntls_key_file = \"s.key\"\ntls_client_ca_file = \"ca.pem\"\n");
        let whole = ConfigArgs {
            config: Some(f.path().to_owned()),
            ..ConfigArgs::default()
        };
        let tls = whole.resolve().unwrap().tls.unwrap();
        assert_eq!(tls.client_ca, Some(PathBuf::from("ca.pem")));
        assert!(!tls.client_auth_optional);
    }

    #[test]
    fn witnesses_are_checked_by_name_and_the_quorum_against_them() {
        let key = crate::tlog::cosignature::CosignerKey::new("witness.example/w1", [1; 32])
            .unwrap()
            .to_string();
        let key = key.as_str();
        let bad = |entry: &str| ConfigArgs {
            witnesses: vec![entry.to_owned()],
            ..ConfigArgs::default()
        };
        for (entry, why) in [
            (key.to_owned(), "a space and its URL"),
            (
                format!("{key} https://witness.example"),
                "not an http:// URL",
            ),
            (format!("{key} http://w.example?x=1"), "has a query"),
            ("notakey http://127.0.0.1:1".to_owned(), "witnesses"),
        ] {
            let e = bad(&entry).resolve().unwrap_err().to_string();
            assert!(e.contains("witnesses") && e.contains(why), "{entry}: {e}");
        }
        let twice = ConfigArgs {
            witnesses: vec![
                format!("{key} http://127.0.0.1:1"),
                format!("{key} http://127.0.0.1:2"),
            ],
            ..ConfigArgs::default()
        };
        let e = twice.resolve().unwrap_err().to_string();
        assert!(e.contains("witnesses") && e.contains("given twice"), "{e}");
        let f = file(&format!(
            "witnesses = [\"{key} http://127.0.0.1:7380/\"]\nwitness_quorum = 2\n"
        ));
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            ..ConfigArgs::default()
        };
        let e = args.resolve().unwrap_err().to_string();
        assert!(
            e.contains("witness_quorum") && e.contains("2 cosignatures cannot come from 1"),
            "{e}"
        );
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            witness_quorum: Some(1),
            ..ConfigArgs::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.witnesses.len(), 1);
        assert_eq!(c.witness_quorum, Some(1));
    }
}
