//! `run(listener, shutdown)`: the gRPC server with health and reflection,
//! and its graceful drain.
//!
//! On shutdown it reports NOT_SERVING, stops accepting, lets in-flight
//! calls finish, then stops the writer, which flushes what it holds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::{Server, ServerTlsConfig};

use crate::app::App;
use crate::grpc::pb::admin_service_server::AdminServiceServer;
use crate::grpc::pb::answer_service_server::AnswerServiceServer;
use crate::grpc::pb::article_service_server::ArticleServiceServer;
use crate::grpc::pb::audit_service_server::AuditServiceServer;
use crate::grpc::pb::suggestion_service_server::SuggestionServiceServer;
use crate::grpc::{
    pb, AdminApi, AnswerApi, ArticleApi, AuditApi, AuthLayer, DefaultDeadlineLayer, FramingLayer,
    ObserveLayer, SuggestionApi,
};
use crate::principals::Principals;

/// Settings of the transport, apart from the app's.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The largest request message accepted, in bytes.
    pub max_request_bytes: usize,
    /// Who may call; shared so that a SIGHUP can reload it in place.
    pub principals: Arc<Principals>,
    /// How long a StreamEvents follower may wait in silence before a heartbeat.
    pub stream_heartbeat: Duration,
    /// HTTP/2 streams (calls) one connection may have open at once; a
    /// client queues the calls beyond it.
    pub max_concurrent_streams: u32,
    /// StreamEvents followers the server serves at once; one more is
    /// refused with RESOURCE_EXHAUSTED.
    pub max_subscriptions: usize,
    /// The deadline of a unary call whose caller set none.
    pub default_deadline: Duration,
    /// TLS (and mTLS, with a client CA); none: plaintext HTTP/2.
    pub tls: Option<ServerTlsConfig>,
    /// TLS of the JSON API's listener (`tls::http_config`: the same
    /// certificate and key); none: plain HTTP/1.1.
    pub http_tls: Option<Arc<rustls::ServerConfig>>,
    /// A page session ends after this long without a request.
    pub session_idle: Duration,
    /// A page session ends this long after its login, used or not.
    pub session_lifetime: Duration,
    /// How long the drain waits for open calls once a stop begins; calls
    /// that never end on their own (a health Watch) are then closed. Kept
    /// under a supervisor's stop timeout (systemd's 30 s in `deploy/`).
    pub drain_limit: Duration,
    /// Connections open at once (less, when the open-files limit leaves
    /// room for fewer); at the limit a silent one is closed to make room.
    pub max_connections: usize,
    /// How long a new connection may stay silent before it is closed.
    pub handshake_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: 1024 * 1024,
            principals: Arc::new(Principals::development()),
            stream_heartbeat: Duration::from_secs(5),
            max_concurrent_streams: 256,
            max_subscriptions: 1024,
            default_deadline: Duration::from_secs(30),
            tls: None,
            http_tls: None,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 60 * 60),
            drain_limit: Duration::from_secs(20),
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("the writer did not stop cleanly: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Serves until `shutdown` resolves, then drains and stops the store.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    app: Arc<App>,
    options: ServerOptions,
) -> Result<(), ServerError> {
    run_with_http(listener, None, shutdown, app, options).await
}

/// As [`run`], with the JSON API on `http` too (`serve --http-listen`):
/// its calls go through the same services and layers as gRPC's.
pub async fn run_with_http(
    listener: TcpListener,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
    app: Arc<App>,
    options: ServerOptions,
) -> Result<(), ServerError> {
    let limit = options.max_request_bytes;
    let open_files = crate::accept::raise_open_files_limit();
    let accept_limits = crate::accept::AcceptLimits {
        max_connections: crate::accept::fitting(options.max_connections, open_files),
        handshake_timeout: options.handshake_timeout,
    };
    if accept_limits.max_connections < options.max_connections {
        tracing::warn!(
            configured = options.max_connections,
            open_files,
            limit = accept_limits.max_connections,
            "the open-files limit leaves room for fewer connections than configured"
        );
    }
    // HTTP/2 keepalive: a peer that stops answering pings is dropped.
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = options.tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ArticleServiceServer<ArticleApi>>()
        .await;
    health.set_serving::<AnswerServiceServer<AnswerApi>>().await;
    health.set_serving::<AuditServiceServer<AuditApi>>().await;
    health
        .set_serving::<SuggestionServiceServer<SuggestionApi>>()
        .await;
    health.set_serving::<AdminServiceServer<AdminApi>>().await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // While writes fail (a full disk), the write services say NOT_SERVING
    // and the read services stay SERVING, and so does the server as a whole
    // (""), which probes ask: reads go on being served from what is
    // durable, and an orchestrator or alert watching
    // `answerlog.v1.ArticleService` sees that writes are refused.
    let writes_watch = tokio::spawn(report_failing_writes(health.clone(), app.store().health()));

    // Every service, and the layers before them, once: the gRPC listener
    // and the JSON API serve the same stack.
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            ArticleServiceServer::new(ArticleApi::new(Arc::clone(&app)))
                .max_decoding_message_size(limit),
        )
        .add_service(
            AnswerServiceServer::new(AnswerApi::new(Arc::clone(&app)))
                .max_decoding_message_size(limit),
        )
        .add_service(
            AuditServiceServer::new(AuditApi::new(
                Arc::clone(&app),
                options.stream_heartbeat,
                options.max_subscriptions,
            ))
            .max_decoding_message_size(limit),
        )
        .add_service(
            SuggestionServiceServer::new(SuggestionApi::new(Arc::clone(&app)))
                .max_decoding_message_size(limit),
        )
        .add_service(
            AdminServiceServer::new(AdminApi::new(Arc::clone(&app)))
                .max_decoding_message_size(limit),
        );
    // Outermost: it sees every status, the deadline's and auth's too.
    let observe = ObserveLayer::new(
        app.metrics(),
        &[
            pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ],
    );
    let deadline = DefaultDeadlineLayer::new(options.default_deadline);
    let auth = AuthLayer::new(Arc::clone(&options.principals));
    // Innermost: a caller's malformed frames are its own fault, answered
    // as the gRPC documents say rather than tonic's INTERNAL.
    let framing = FramingLayer::new(
        &[
            pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ],
        limit,
    );
    let (stop_web, web_stops) = tokio::sync::watch::channel(false);
    let web = http.map(|listener| {
        use tower_layer::Layer as _;
        let stack = observe.layer(deadline.layer(auth.layer(framing.layer(routes.clone()))));
        let sessions = crate::web::Sessions::new(
            Arc::clone(&options.principals),
            options.session_idle,
            options.session_lifetime,
        );
        let web = crate::web::Web::new(
            crate::web::grpc(stack),
            limit,
            options.http_tls.is_some(),
            sessions,
        );
        let mut stops = web_stops;
        tokio::spawn(crate::web::serve(
            listener,
            options.http_tls.clone(),
            web,
            async move {
                let _ = stops.wait_for(|stop| *stop).await;
            },
        ))
    });

    let (draining, drain_began) = tokio::sync::oneshot::channel::<()>();
    let drained = {
        let health = health.clone();
        let app = Arc::clone(&app);
        async move {
            shutdown.await;
            writes_watch.abort();
            let _ = writes_watch.await;
            let _ = draining.send(());
            let _ = stop_web.send(true);
            tracing::info!("shutting down: draining in-flight calls");
            app.stop_streams();
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            health
                .set_not_serving::<ArticleServiceServer<ArticleApi>>()
                .await;
            health
                .set_not_serving::<AnswerServiceServer<AnswerApi>>()
                .await;
            health
                .set_not_serving::<AuditServiceServer<AuditApi>>()
                .await;
            health
                .set_not_serving::<SuggestionServiceServer<SuggestionApi>>()
                .await;
            health
                .set_not_serving::<AdminServiceServer<AdminApi>>()
                .await;
        }
    };

    let serving = builder
        .max_concurrent_streams(options.max_concurrent_streams)
        .layer(observe)
        .layer(deadline)
        .layer(auth)
        .layer(framing)
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            crate::accept::incoming(listener, accept_limits, app.metrics()),
            drained,
        );
    let drain_limit = options.drain_limit;
    let served = tokio::select! {
        served = serving => served,
        () = async {
            match drain_began.await {
                Ok(()) => tokio::time::sleep(drain_limit).await,
                // The server ended before any stop began.
                Err(_) => std::future::pending().await,
            }
        } => {
            tracing::warn!(
                limit_ms = drain_limit.as_millis() as u64,
                "calls were still open when the drain's time ran out (a health watch, say): they are closed"
            );
            Ok(())
        }
    };

    // The JSON API's connections were told to close when the drain began:
    // each answers the request it is on. Bounded as the gRPC drain is.
    if let Some(mut web) = web {
        if tokio::time::timeout(drain_limit, &mut web).await.is_err() {
            tracing::warn!(
                limit_ms = drain_limit.as_millis() as u64,
                "JSON API calls were still open when the drain's time ran out: they are closed"
            );
            web.abort();
            let _ = web.await;
        }
    }
    // In-flight calls are done: stop the writer, which flushes what it holds.
    tokio::task::spawn_blocking(move || app.shutdown()).await?;
    tracing::info!("stopped");
    Ok(served?)
}

/// Keeps the write services' health in step with the store: NOT_SERVING
/// while writes fail, SERVING once the disk has recovered. Runs until the
/// drain begins (it is aborted then) or the store stops.
async fn report_failing_writes(
    health: tonic_health::server::HealthReporter,
    mut store: tokio::sync::watch::Receiver<crate::store::Health>,
) {
    let mut was_failing = false;
    loop {
        let failing = store.borrow_and_update().failed;
        if failing != was_failing {
            let status = if failing {
                tracing::warn!("writes are failing: ArticleService and AdminService report NOT_SERVING; reads are served");
                tonic_health::ServingStatus::NotServing
            } else {
                tracing::info!("writes succeed again: every service reports SERVING");
                tonic_health::ServingStatus::Serving
            };
            for service in [
                <ArticleServiceServer<ArticleApi> as tonic::server::NamedService>::NAME,
                <AdminServiceServer<AdminApi> as tonic::server::NamedService>::NAME,
            ] {
                health.set_service_status(service, status).await;
            }
            was_failing = failing;
        }
        if store.changed().await.is_err() {
            return;
        }
    }
}
