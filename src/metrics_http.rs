//! The metrics listener: `GET /metrics` answers the server's metrics in
//! Prometheus' text exposition format (OpenMetrics 1.0), on an address of
//! its own (`--metrics-listen`, off by default), over plain HTTP/1.1 as
//! scrapers expect. Anything else is 404 (or 405 for another method).

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
    if request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "the metrics are at /metrics\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
    }
    match app.metrics_text() {
        Ok(metrics) => with_type(text(StatusCode::OK, metrics), CONTENT_TYPE),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the metrics: {e}\n"),
        ),
    }
}
