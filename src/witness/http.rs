//! The witness over HTTP/1.1: `POST /add-checkpoint` (C2SP tlog-witness),
//! each refusal with its status and a line saying why.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::{Witness, WitnessError};
use crate::http1::{text, with_type};
use crate::tlog::witness::{Refusal, SIZE_CONTENT_TYPE};

/// The largest request body taken: a checkpoint with a hundred signatures
/// and a full proof is a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// Serves `witness` on `listener` until `shutdown` resolves.
pub async fn serve_witness(
    listener: TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()>,
) {
    let handler = move |request: Request<Incoming>| {
        let witness = Arc::clone(&witness);
        async move { answer(witness, request).await }
    };
    crate::http1::serve(listener, None, "witness", handler, shutdown).await;
}

async fn answer(witness: Arc<Witness>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/add-checkpoint" {
        return text(
            StatusCode::NOT_FOUND,
            "this witness answers POST /add-checkpoint (c2sp.org/tlog-witness)\n",
        );
    }
    if request.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST /add-checkpoint\n");
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {MAX_BODY} bytes\n"),
            )
        }
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("the request body is unreadable: {e}\n"),
            )
        }
    };
    // The check and the record (two syncs) off the connections' runtime.
    let outcome = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => Err(WitnessError::Storage(format!(
            "the check did not finish: {e}"
        ))),
    };
    match outcome {
        Ok(lines) => text(StatusCode::OK, lines),
        Err(WitnessError::Refused(Refusal::Conflict { latest, .. })) => with_type(
            text(StatusCode::CONFLICT, format!("{latest}\n")),
            SIZE_CONTENT_TYPE,
        ),
        Err(WitnessError::Refused(refusal)) => {
            tracing::info!(%refusal, "refused an add-checkpoint");
            text(
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST),
                format!("{refusal}\n"),
            )
        }
        Err(e @ WitnessError::Storage(_)) => {
            tracing::error!(error = %e, "a checkpoint was not kept");
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}
