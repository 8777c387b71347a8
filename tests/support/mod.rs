//! Helpers shared by the integration tests: a real server on 127.0.0.1:0
//! over a temporary data directory, its generated clients, and the CLI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::suggestion_service_client::SuggestionServiceClient;
use answerlog::pb::{get_answer_request, Answer, GetAnswerRequest};
use answerlog::{App, AppOptions, ServerOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use uuid::Uuid;

pub(crate) mod audit_md;
pub(crate) mod nats;

use nats::NatsServer;

/// Which log the server runs on. Every backend must pass every test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The embedded default: sled in a local data directory.
    Sled,
    /// A JetStream stream (R1) on a nats-server of the test's own; the
    /// data directory holds the replica's read models.
    JetStream,
}

/// The nats-servers of stopped test servers, by data directory, kept for
/// the server that starts again on that directory.
static PARKED: std::sync::Mutex<Vec<(PathBuf, Arc<NatsServer>)>> =
    std::sync::Mutex::new(Vec::new());

/// The nats-server a stopped server on `dir` left.
pub(crate) fn parked_nats(dir: &Path) -> Option<Arc<NatsServer>> {
    let mut parked = PARKED.lock().unwrap();
    let at = parked.iter().position(|(d, _)| d == dir)?;
    Some(parked.swap_remove(at).1)
}

/// Generates one `#[tokio::test]` per backend for each scenario
/// `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sled).await
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::JetStream).await
                }
            )*
        }
    };
}

/// Generates one `#[tokio::test]` on the embedded log only, for each
/// scenario about sled's own disk (faults thrown into its batches).
#[macro_export]
macro_rules! sled_tests {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sled).await
                }
            )*
        }
    };
}

/// A running server. Dropping it without `stop` leaves the task to the
/// test runtime's end.
pub(crate) struct TestServer {
    /// The server's app, for counters only: tests talk over gRPC.
    pub(crate) app: Arc<App>,
    pub(crate) backend: Backend,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) url: String,
    /// The JSON API's listener (`http://127.0.0.1:PORT`).
    pub(crate) http_url: String,
    /// The nats-server of a JetStream backend.
    pub(crate) nats: Option<Arc<NatsServer>>,
    dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub(crate) async fn start(backend: Backend) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(backend, dir, AppOptions::default()).await
    }

    pub(crate) async fn start_with(backend: Backend, options: AppOptions) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(backend, dir, options).await
    }

    /// Starts a server on `dir` (which may hold an earlier server's store).
    pub(crate) async fn start_in(
        backend: Backend,
        dir: Arc<tempfile::TempDir>,
        options: AppOptions,
    ) -> Self {
        Self::start_full(backend, dir, options, ServerOptions::default()).await
    }

    /// Starts a server that admits the principals of `file`.
    pub(crate) async fn start_with_principals(backend: Backend, file: &Path) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let server = ServerOptions {
            principals: Arc::new(answerlog::Principals::load(file).expect("the principals file")),
            ..ServerOptions::default()
        };
        Self::start_full(backend, dir, AppOptions::default(), server).await
    }

    /// Starts a server that admits one principal of each `(name, role)`;
    /// their bearer tokens, in that order.
    pub(crate) async fn start_with_tokens(
        backend: Backend,
        principals: &[(&str, answerlog::Role)],
    ) -> (Self, Vec<String>) {
        let mut entries = String::new();
        let mut tokens = Vec::new();
        for (name, role) in principals {
            let (token, entry) = answerlog::new_token(name, *role).expect("a token");
            entries.push_str(&entry);
            tokens.push(token);
        }
        let file = tempfile::NamedTempFile::new().expect("a principals file");
        std::fs::write(file.path(), entries).expect("the principals file is written");
        (
            Self::start_with_principals(backend, file.path()).await,
            tokens,
        )
    }

    pub(crate) async fn start_full(
        backend: Backend,
        dir: Arc<tempfile::TempDir>,
        options: AppOptions,
        server_options: ServerOptions,
    ) -> Self {
        let nats = match backend {
            Backend::Sled => None,
            Backend::JetStream => {
                Some(parked_nats(dir.path()).unwrap_or_else(|| Arc::new(NatsServer::start())))
            }
        };
        Self::start_on(backend, nats, dir, options, server_options).await
    }

    /// Starts another replica on this server's stream, with a data
    /// directory of its own.
    pub(crate) async fn replica(&self) -> Self {
        self.replica_with(AppOptions::default()).await
    }

    /// Another replica on this server's stream, with `options`.
    pub(crate) async fn replica_with(&self, options: AppOptions) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_on(
            self.backend,
            self.nats.clone(),
            dir,
            options,
            ServerOptions::default(),
        )
        .await
    }

    pub(crate) async fn start_on(
        backend: Backend,
        nats: Option<Arc<NatsServer>>,
        dir: Arc<tempfile::TempDir>,
        options: AppOptions,
        server_options: ServerOptions,
    ) -> Self {
        let jetstream = nats
            .as_ref()
            .map(|nats| answerlog::JetStreamOptions::new(vec![nats.url()]));
        let mut server = Self::start_joined(backend, jetstream, dir, options, server_options).await;
        server.nats = nats;
        server
    }

    /// A replica of the stream `stream` on `nats`, on `dir`.
    pub(crate) async fn start_on_stream(
        nats: Arc<NatsServer>,
        stream: &str,
        dir: Arc<tempfile::TempDir>,
    ) -> Self {
        let jetstream = answerlog::JetStreamOptions {
            stream: stream.to_owned(),
            ..answerlog::JetStreamOptions::new(vec![nats.url()])
        };
        Self::start_on_options(nats, jetstream, dir, AppOptions::default()).await
    }

    /// A replica on `nats` that joins as `jetstream` says, on `dir`.
    pub(crate) async fn start_on_options(
        nats: Arc<NatsServer>,
        jetstream: answerlog::JetStreamOptions,
        dir: Arc<tempfile::TempDir>,
        options: AppOptions,
    ) -> Self {
        let mut server = Self::start_joined(
            Backend::JetStream,
            Some(jetstream),
            dir,
            options,
            ServerOptions::default(),
        )
        .await;
        server.nats = Some(nats);
        server
    }

    /// A replica of a stream on `cluster` kept in `replicas` copies.
    pub(crate) async fn start_on_cluster(cluster: &nats::NatsCluster, replicas: usize) -> Self {
        let jetstream = answerlog::JetStreamOptions {
            replicas,
            ..answerlog::JetStreamOptions::new(cluster.urls())
        };
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_joined(
            Backend::JetStream,
            Some(jetstream),
            dir,
            AppOptions::default(),
            ServerOptions::default(),
        )
        .await
    }

    async fn start_joined(
        backend: Backend,
        jetstream: Option<answerlog::JetStreamOptions>,
        dir: Arc<tempfile::TempDir>,
        options: AppOptions,
        server_options: ServerOptions,
    ) -> Self {
        // ANSWERLOG_TEST_LOG=1 (with RUST_LOG) shows the servers' logs.
        static LOGGING: std::sync::Once = std::sync::Once::new();
        if std::env::var_os("ANSWERLOG_TEST_LOG").is_some() {
            LOGGING.call_once(|| answerlog::init_tracing(answerlog::LogFormat::Text));
        }
        let app = Arc::new(match &jetstream {
            None => App::open(dir.path(), options).expect("the store opens"),
            Some(jetstream) => App::open_replica(dir.path(), options, jetstream)
                .await
                .expect("the replica joins the stream"),
        });
        let served = Arc::clone(&app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("an address");
        // Every test server serves the JSON API too.
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let http_url = format!("http://{}", http.local_addr().expect("an address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            answerlog::run_with_http(listener, Some(http), shutdown, served, server_options)
                .await
                .expect("the server runs and stops cleanly");
        });
        Self {
            app,
            backend,
            addr,
            url: format!("http://{addr}"),
            http_url,
            nats: None,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server gracefully and waits until its store is closed;
    /// returns the data directory for a restart.
    pub(crate) async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task ends");
        }
        if let Some(nats) = self.nats.take() {
            let mut parked = PARKED.lock().unwrap();
            // Those whose directory is gone will not be started again.
            parked.retain(|(dir, _)| dir.exists());
            parked.push((self.dir.path().to_owned(), nats));
        }
        Arc::clone(&self.dir)
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("a URL")
            .connect()
            .await
            .expect("the server accepts connections")
    }

    pub(crate) async fn articles(&self) -> ArticleServiceClient<Channel> {
        ArticleServiceClient::new(self.channel().await)
    }

    pub(crate) async fn answers(&self) -> AnswerServiceClient<Channel> {
        AnswerServiceClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    pub(crate) async fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    pub(crate) async fn suggestions(&self) -> SuggestionServiceClient<Channel> {
        SuggestionServiceClient::new(self.channel().await)
    }

    /// The current answer by id.
    pub(crate) async fn get(&self, id: &str) -> Answer {
        self.answers()
            .await
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
                ..Default::default()
            })
            .await
            .expect("the answer")
            .into_inner()
            .answer
            .expect("an answer")
    }

    /// The answer by id as of `version`, as readers are served it.
    pub(crate) async fn get_as_of(&self, id: &str, version: u64) -> Answer {
        self.answers()
            .await
            .get_answer(GetAnswerRequest {
                receipt: false,
                r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
                as_of: Some(get_answer_request::AsOf::Version(version)),
                min_position: 0,
            })
            .await
            .expect("the answer as of a version")
            .into_inner()
            .answer
            .expect("an answer")
    }

    /// The answer by id as of `version`, as an auditor reads it.
    pub(crate) async fn inspect_as_of(
        &self,
        id: &str,
        version: u64,
    ) -> answerlog::pb::InspectAnswerResponse {
        self.audit()
            .await
            .inspect_answer(answerlog::pb::InspectAnswerRequest {
                receipt: false,
                r#ref: Some(answerlog::pb::inspect_answer_request::Ref::Id(
                    id.to_owned(),
                )),
                as_of: Some(answerlog::pb::inspect_answer_request::AsOf::Version(
                    version,
                )),
                min_position: 0,
            })
            .await
            .expect("the inspected answer")
            .into_inner()
    }

    /// One commit of an article in full (GetRevision).
    pub(crate) async fn revision(
        &self,
        id: &str,
        version: u64,
    ) -> answerlog::pb::GetRevisionResponse {
        self.audit()
            .await
            .get_revision(answerlog::pb::GetRevisionRequest {
                article_id: id.into(),
                version,
                min_position: 0,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// VerifyLog over the whole log.
    pub(crate) async fn verify_log(&self) -> answerlog::pb::VerifyLogResponse {
        self.audit()
            .await
            .verify_log(answerlog::pb::VerifyLogRequest::default())
            .await
            .expect("VerifyLog answers")
            .into_inner()
    }

    /// The article's answer once this server has applied `position`.
    pub(crate) async fn get_at_least(&self, id: &str, position: u64) -> Answer {
        self.answers()
            .await
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.to_owned())),
                min_position: position,
                ..Default::default()
            })
            .await
            .expect("GetAnswer answers")
            .into_inner()
            .answer
            .expect("an answer")
    }

    /// Imports the reference page with the CLI; its article id.
    pub(crate) async fn import_example(&self) -> String {
        let out = self
            .cli(&["import", example_path().to_str().expect("a UTF-8 path")])
            .await;
        assert!(out.success, "import failed: {}", out.stderr);
        imported_id(&out.stdout)
    }

    /// The server's key for its checkpoints, as `audit checkpoint --vkey`
    /// prints it.
    pub(crate) async fn vkey(&self) -> String {
        let out = self.cli(&["audit", "checkpoint", "--vkey"]).await;
        assert!(out.success, "{}", out.stderr);
        out.stdout.trim().to_owned()
    }

    /// The latest checkpoint (covering every write answered so far).
    pub(crate) async fn checkpoint(&self) -> answerlog::pb::GetCheckpointResponse {
        self.audit()
            .await
            .get_checkpoint(answerlog::pb::GetCheckpointRequest { min_position: 0 })
            .await
            .expect("a checkpoint")
            .into_inner()
    }

    /// RFC 6962's proof that the tree of `old` leaves is the start of the
    /// tree of `new`, as the server gives it.
    pub(crate) async fn consistency_proof(&self, old: u64, new: u64) -> Vec<[u8; 32]> {
        consistency_proof(&mut self.audit().await, old, new).await
    }

    /// Runs the `answerlog` binary with `args` against this server.
    pub(crate) async fn cli(&self, args: &[&str]) -> CliOutput {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push("--server".into());
        all.push(self.url.clone());
        cli(all).await
    }
}

/// Runs `answerlog rebuild` on the stopped store in `dir` and checks that
/// the rebuilt read models equal, record for record, those it had.
pub(crate) async fn assert_read_models_equal_a_rebuild(dir: &Path) {
    let before = App::dump_read_models(dir).expect("the store opens");
    let out = cli(vec![
        "rebuild".into(),
        "--data-dir".into(),
        dir.display().to_string(),
    ])
    .await;
    assert!(out.success, "the rebuild failed: {}", out.stderr);
    let after = App::dump_read_models(dir).expect("the store opens");
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(
            a.len(),
            b.len(),
            "{name}: record counts differ after a rebuild"
        );
        assert!(a == b, "{name}: the read models differ from a rebuild");
    }
}

pub(crate) struct CliOutput {
    pub(crate) success: bool,
    /// The exit status, unless a signal ended it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the `answerlog` binary (off the async workers: it blocks).
pub(crate) async fn cli(args: Vec<String>) -> CliOutput {
    cli_with_env(args, Vec::new()).await
}

/// As [`cli`], with these environment variables set.
pub(crate) async fn cli_with_env(args: Vec<String>, env: Vec<(String, String)>) -> CliOutput {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_answerlog"))
            .args(&args)
            .env_remove("ANSWERLOG_SERVER")
            .env_remove("ANSWERLOG_TOKEN")
            .env_remove("ANSWERLOG_TOKEN_FILE")
            .env_remove("ANSWERLOG_CONTEXT")
            .env_remove("ANSWERLOG_CA")
            .env_remove("ANSWERLOG_CERT")
            .env_remove("ANSWERLOG_KEY")
            // No one's saved contexts: a file that is not there, unless
            // the test gives one.
            .env(
                "ANSWERLOG_CONTEXTS",
                std::env::temp_dir().join("answerlog-tests-no-contexts.toml"),
            )
            .envs(env)
            .output()
            .expect("the answerlog binary runs");
        CliOutput {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("the CLI task ends")
}

/// `answerlog restore BACKUP --data-dir DIR` and `extra` (offline).
pub(crate) async fn restore(backup: &Path, dir: &Path, extra: &[String]) -> CliOutput {
    let mut args = vec![
        "restore".into(),
        backup.display().to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
    ];
    args.extend_from_slice(extra);
    cli(args).await
}

/// Runs `answerlog ARGS` on a pseudo-terminal (util-linux's `script`,
/// which .ci/test installs), with `NO_COLOR` set to `no_color` or unset;
/// what it showed there. It must succeed.
pub(crate) async fn on_a_terminal(args: &[String], no_color: Option<&str>) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_answerlog").to_owned())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let command_line = line.clone();
    let no_color = no_color.map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new("script");
        command
            .args(["-qec", &command_line, "/dev/null"])
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        command.output().expect("util-linux's script runs")
    })
    .await
    .expect("the terminal's run finishes");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{line}: {shown}");
    shown
}

/// The reference page in the import format.
pub(crate) fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/what-causes-jmt.md")
}

/// `message` with `token` as its bearer token.
pub(crate) fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("a header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A fresh command id.
pub(crate) fn cid() -> String {
    Uuid::now_v7().to_string()
}

/// The article id a CLI import printed.
pub(crate) fn imported_id(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "article")
        .nth(1)
        .expect("the import names the article")
        .to_owned()
}

/// Sends `bytes` as the body of a unary call to `path`, as they are.
pub(crate) async fn raw_call(
    channel: Channel,
    path: &'static str,
    bytes: Vec<u8>,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(bytes), path, RawCodec)
        .await
        .map(|_| ())
}

/// A codec that sends and receives bytes unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

/// Creates a small article numbered `n`; its id.
pub(crate) async fn create_article(server: &TestServer, n: usize) -> String {
    server
        .articles()
        .await
        .create_article(answerlog::pb::CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(answerlog::pb::ArticleDraft {
                question: format!("Question {n}"),
                quick_answer: "A.".into(),
                last_updated: "2026-01-01".into(),
                ..answerlog::pb::ArticleDraft::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .article_id
}

/// `edits` edits of one article, one after another; the last position.
pub(crate) async fn edit_many(channel: Channel, id: String, from_version: u64, edits: u64) -> u64 {
    let mut articles = answerlog::pb::article_service_client::ArticleServiceClient::new(channel);
    let mut last = 0;
    for v in from_version..from_version + edits {
        last = articles
            .edit_quick_answer(answerlog::pb::EditQuickAnswerRequest {
                article_id: id.clone(),
                expected_version: v,
                command_id: cid(),
                reason: "test".into(),
                quick_answer: format!("Answer {v}."),
            })
            .await
            .unwrap()
            .into_inner()
            .global_position;
    }
    last
}

/// Retries `attempt` until it gives a value, failing the test after 30 s:
/// the wait on a condition no one announces (a file growing, a replica
/// noticing), polled every 10 ms.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < give_up, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// RFC 6962's proof that the tree of `old` leaves is the start of the tree
/// of `new`, asked of `audit`.
pub(crate) async fn consistency_proof(
    audit: &mut AuditServiceClient<Channel>,
    old: u64,
    new: u64,
) -> Vec<[u8; 32]> {
    audit
        .get_consistency_proof(answerlog::pb::GetConsistencyProofRequest {
            old_size: old,
            new_size: new,
        })
        .await
        .unwrap_or_else(|e| panic!("a consistency proof from {old} to {new}: {e}"))
        .into_inner()
        .hashes
        .into_iter()
        .map(|h| h.try_into().expect("a 32-byte hash"))
        .collect()
}

/// One HTTP/1.1 request to `url` (`http://host:port`) with `headers`, the
/// connection closed after it: the status code and the body.
pub(crate) async fn http(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let (status, _, body) = http_with_head(url, method, path, headers, body).await;
    (status, body)
}

/// As [`http`], with the answer's header lines too (`Name: value`, as sent).
pub(crate) async fn http_with_head(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<String>, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // A body over the server's limit may be refused before it is read.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let lines = head.lines().skip(1).map(str::to_owned).collect();
    (status, lines, body.to_owned())
}

/// The value of header `name` among an answer's header lines.
pub(crate) fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The whole log, exported, passes `verify`; the export's text.
pub(crate) async fn export_verifies(server: &TestServer) -> String {
    let export = server.cli(&["export", "--all"]).await;
    assert!(export.success, "{}", export.stderr);
    let file = server.dir().join("all.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let checked = cli(vec!["verify".into(), file.display().to_string()]).await;
    assert!(checked.success, "{}", checked.stderr);
    export.stdout
}

/// The files under `dir` that hold `text`.
pub(crate) fn found_in(dir: &std::path::Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(text.len())
                .any(|w| w == text.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}
