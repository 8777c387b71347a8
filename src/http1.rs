//! The plain HTTP/1.1 listeners beside the gRPC server (the metrics, a
//! witness): hyper's connection on each accepted socket, with keep-alive,
//! until the shutdown future resolves.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Connections served at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `handler` on `listener`, over TLS when `tls` is given, until
/// `shutdown` resolves; `what` names the listener in the logs. At most
/// `MAX_CONNECTIONS` at once, and a request's headers (and a TLS
/// handshake) must come within `HEADER_TIMEOUT`, so that silent clients
/// cannot take every descriptor. Once `shutdown` resolves, no connection
/// is accepted, each open one answers the request it is on and closes,
/// and this returns when all have; dropping it closes them at once.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    what: &'static str,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Dropped with this future: every connection goes with it.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: let the moment pass.
                    tracing::warn!(error = %e, listener = what, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if connections.len() >= MAX_CONNECTIONS {
            tracing::warn!(
                listener = what,
                "{MAX_CONNECTIONS} connections open: one more is closed"
            );
            continue;
        }
        let handler = handler.clone();
        let acceptor = acceptor.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = handler(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let served = match acceptor {
                None => drive(TokioIo::new(stream), service, stopping).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => drive(TokioIo::new(stream), service, stopping).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, listener = what, "a TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(listener = what, "a TLS handshake took too long");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, listener = what, "a connection ended badly");
            }
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it ends, or, once `stopping` turns true,
/// until the request it is on is answered.
async fn drive<I, S>(
    io: I,
    service: S,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Send,
    S::Future: Send,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let stop = async move {
        // The guard `wait_for` answers is dropped here, not held across
        // the connection's awaits.
        let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::select! {
        served = connection.as_mut() => served,
        () = stop => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

/// A response of `status` with a text body.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// `response` with its content type set.
pub(crate) fn with_type(
    mut response: Response<Full<Bytes>>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
