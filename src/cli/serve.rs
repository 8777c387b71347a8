//! `answerlog serve` and `answerlog rebuild`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::app::{App, AppOptions, TreeOptions, WitnessPolicy};
use crate::config::{Config, ConfigArgs};
use crate::jetstream::{JetStreamOptions, LogChoice};
use crate::principals::Principals;
use crate::server::{run_with_http, ServerOptions};
use crate::store::StoreOptions;

pub(super) fn app_options(config: &Config) -> AppOptions {
    AppOptions {
        limits: config.limits.clone(),
        require_reason: config.require_reason,
        snapshot_interval: config.snapshot_interval,
        snapshot_interval_chosen: config.snapshot_interval_chosen,
        store: StoreOptions {
            cache_bytes: config.cache_bytes,
            batch_limit: config.batch_limit,
            apply_lag: config.apply_lag,
            queue_depth: config.queue_depth,
            live_buffer: config.live_buffer,
            ..StoreOptions::default()
        },
        signing_key: config.signing_key_file.clone(),
        request_key: config.request_key_file.clone(),
        state_cache_bytes: config.state_cache_bytes,
        tree: TreeOptions {
            origin: config.log_origin.clone(),
            checkpoint_interval: Duration::from_millis(config.checkpoint_interval_ms),
        },
        witnesses: WitnessPolicy {
            witnesses: config.witnesses.clone(),
            quorum: config.witness_quorum,
        },
    }
}

/// How a replica reaches its stream, from the configuration.
pub(crate) fn jetstream_options(config: &Config) -> JetStreamOptions {
    let servers = match &config.log {
        LogChoice::Nats(servers) => servers.clone(),
        LogChoice::Sled => Vec::new(),
    };
    JetStreamOptions {
        stream: config.nats_stream.clone(),
        replicas: config.nats_replicas,
        credentials: config.nats_credentials_file.clone(),
        orphan_grace: std::time::Duration::from_millis(config.nats_orphan_grace_ms),
        ..JetStreamOptions::new(servers)
    }
}

/// Writes the address a listener is bound to, whole, for a script that
/// started the server on port 0.
pub(super) fn write_address(
    path: &std::path::Path,
    address: std::net::SocketAddr,
) -> anyhow::Result<()> {
    crate::durable_file::write_whole(path, format!("{address}\n").as_bytes())
        .with_context(|| format!("cannot write the address to {}", path.display()))
}

pub(super) fn serve(
    args: &ConfigArgs,
    address_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let config = args.resolve()?;
    config.check_serving()?;
    // Before anything opens a file: connections and sled's files share it.
    crate::accept::raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = match &config.log {
            LogChoice::Sled => App::open(&config.data_dir, app_options(&config)),
            LogChoice::Nats(_) => {
                App::open_replica(&config.data_dir, app_options(&config), &jetstream_options(&config)).await
            }
        }
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let principals = Arc::new(match &config.principals_file {
            Some(path) => Principals::load(path)?,
            None => Principals::development(),
        });
        if principals.is_development() {
            tracing::warn!(
                "DEVELOPMENT MODE: no principals file; every caller is `anonymous` and may do anything"
            );
            if !config.listen.ip().is_loopback() {
                tracing::warn!(
                    address = %config.listen,
                    "DEVELOPMENT MODE ON THE NETWORK (--allow-development-on-network): anyone who can reach this address may write, audit and administer"
                );
            }
        } else {
            // Registered before the server says it is serving, so that no
            // SIGHUP can arrive unhandled (its default ends the process).
            reload_on_hangup(Arc::clone(&principals));
        }
        let app = Arc::new(app);
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?;
                tracing::info!(metrics = %listener.local_addr()?, "metrics at http://{}/metrics", listener.local_addr()?);
                Some(tokio::spawn(crate::metrics_http::serve_metrics(
                    listener,
                    Arc::clone(&app),
                    std::future::pending(),
                )))
            }
            None => None,
        };
        let http = match config.http_listen {
            Some(addr) => {
                let http = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for the JSON API on {addr}"))?;
                let scheme = if config.tls.is_some() { "https" } else { "http" };
                tracing::info!(http = %http.local_addr()?, "the pages at {scheme}://{0}/, the JSON API at {scheme}://{0}/api/v1/", http.local_addr()?);
                Some(http)
            }
            None => None,
        };
        // Before the server says it serves: a stop from then on is clean.
        let shutdown = shutdown_signal();
        tracing::info!(
            listen = %listener.local_addr()?,
            data_dir = %config.data_dir.display(),
            log = %config.log,
            position = app.durable(),
            "serving"
        );
        let tls = match &config.tls {
            Some(files) => {
                tracing::info!(
                    cert = %files.cert.display(),
                    client_ca = ?files.client_ca,
                    client_auth_optional = files.client_auth_optional,
                    "TLS on"
                );
                Some(files.load()?)
            }
            None => None,
        };
        let http_tls = match (&config.tls, config.http_listen) {
            (Some(files), Some(_)) => Some(files.http_config()?),
            _ => None,
        };
        let options = ServerOptions {
            http_tls,
            max_request_bytes: config.max_request_bytes,
            principals,
            stream_heartbeat: Duration::from_millis(config.stream_heartbeat_ms),
            max_concurrent_streams: config.max_concurrent_streams,
            max_subscriptions: config.max_subscriptions,
            default_deadline: Duration::from_millis(config.default_deadline_ms),
            max_connections: config.max_connections,
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
            session_idle: Duration::from_millis(config.session_idle_ms),
            session_lifetime: Duration::from_millis(config.session_lifetime_ms),
            tls,
            ..ServerOptions::default()
        };
        if let Some(path) = address_file {
            write_address(path, listener.local_addr()?)?;
        }
        let served = run_with_http(listener, http, shutdown, app, options).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        Ok(served?)
    })
}

pub(super) fn rebuild(args: &ConfigArgs, json: bool) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let started = std::time::Instant::now();
    let chosen = config
        .snapshot_interval_chosen
        .then_some(config.snapshot_interval);
    let bar = super::progress::bar("rebuilding the read models", "commits", Some(0), json);
    let show = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let rebuilt = App::rebuild_showing(&config.data_dir, &app_options(&config), chosen, &show)
        .with_context(|| format!("cannot rebuild the store in {}", config.data_dir.display()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let report = serde_json::json!({
            "commits": rebuilt.commits,
            "keysWritten": rebuilt.keys_written,
            "bytesWritten": rebuilt.bytes_written,
            "logBytes": rebuilt.log_bytes,
            "seconds": seconds,
        });
        outln!("{report}")?;
    } else {
        outln!(
            "rebuilt the read models from {} commits in {seconds:.1} s",
            rebuilt.commits
        )?;
    }
    Ok(())
}

pub(super) fn compact(args: &ConfigArgs, json: bool) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let started = std::time::Instant::now();
    let compacted = App::compact(&config.data_dir, &app_options(&config))
        .with_context(|| format!("cannot compact the store in {}", config.data_dir.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let report = serde_json::json!({
            "keys": compacted.keys,
            "bytesBefore": compacted.bytes_before,
            "bytesAfter": compacted.bytes_after,
            "seconds": seconds,
        });
        return outln!("{report}");
    }
    outln!(
        "compacted sled's files: {} keys copied; {} bytes before, {} after, in {seconds:.1} s",
        compacted.keys,
        compacted.bytes_before,
        compacted.bytes_after
    )
}

/// Re-reads the principals file on every SIGHUP; connections stay open.
/// Listens from the moment it returns.
fn reload_on_hangup(principals: Arc<Principals>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the principals file will not be reloaded");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match principals.reload() {
                    Ok(n) => tracing::info!(principals = n, "reloaded the principals file"),
                    Err(e) => tracing::error!(error = %e, "kept the principals in force"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = principals;
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so that a signal that
/// arrives as soon as the server says it is serving stops it cleanly rather
/// than killing it.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        match (interrupt, term) {
            (Ok(mut interrupt), Ok(mut term)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (interrupt, term) => {
                let e = interrupt.err().or(term.err());
                tracing::warn!(error = ?e.map(|e| e.to_string()), "cannot listen for SIGINT and SIGTERM; falling back to Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
