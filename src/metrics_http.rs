//! The metrics listener: `GET /metrics` answers the server's metrics in
//! Prometheus' text exposition format (OpenMetrics 1.0), on an address of
//! its own (`--metrics-listen`, off by default), over plain HTTP/1.1 as
//! scrapers expect. It also answers probes, as etcd's and NATS' monitoring
//! ports do, in plain HTTP whether or not gRPC is behind TLS: `/livez`
//! (the process answers) and `/readyz` (it serves: 503 once it drains).
//! Anything else is 404 (or 405 for another method).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::app::App;
use crate::http1::{text, with_type};

/// The content type of OpenMetrics text, which Prometheus reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    let handler = move |request: Request<hyper::body::Incoming>| {
        let response = answer(&app, &request);
        async move { response }
    };
    crate::http1::serve(listener, None, "metrics", handler, shutdown).await;
}

fn answer<B>(app: &App, request: &Request<B>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, body: &str| text(status, body.to_owned());
    let path = request.uri().path();
    if !matches!(path, "/metrics" | "/livez" | "/readyz") {
        return plain(
            StatusCode::NOT_FOUND,
            "the metrics are at /metrics; probes at /livez and /readyz\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, &format!("GET {path}\n"));
    }
    match path {
        "/livez" => return plain(StatusCode::OK, "ok\n"),
        // As the gRPC health service's whole server (""): serving while
        // it runs, reads going on while writes fail, not once it drains.
        "/readyz" if app.is_stopping() => {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        }
        "/readyz" if app.store().is_failing() => {
            return plain(
                StatusCode::OK,
                "serving reads; writes are failing (the disk: see the server's log)\n",
            )
        }
        "/readyz" => return plain(StatusCode::OK, "serving\n"),
        _ => {}
    }
    match app.metrics_text() {
        Ok(metrics) => with_type(text(StatusCode::OK, metrics), CONTENT_TYPE),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the metrics: {e}\n"),
        ),
    }
}
