//! The bare tonic echo server the benchmark measures answerlog against:
//! same transport, same payload, nothing behind it.

use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

#[allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/bench/answerlog.bench.v1.rs"));
}

use pb::echo_service_server::{EchoService, EchoServiceServer};
use pb::{EchoRequest, EchoResponse};

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let m = request.into_inner();
        let payload = match m.response_bytes {
            0 => m.payload,
            n => vec![b'x'; n as usize],
        };
        Ok(Response::new(EchoResponse { payload }))
    }
}

/// Serves the echo on 127.0.0.1 (a free port) until the runtime ends;
/// returns its URL.
pub(super) async fn start() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(EchoServiceServer::new(Echo))
            .serve_with_incoming(crate::server::incoming(listener))
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the echo server stopped");
        }
    });
    Ok(url)
}
