//! The bare tonic services the benchmark measures answerlog against: same
//! transport, same payloads, nothing behind them. A unary echo and a
//! server stream.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::load::{closed_loop, Sample};

#[allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/bench/answerlog.bench.v1.rs"));
}

use pb::echo_service_client::EchoServiceClient;
use pb::echo_service_server::{EchoService, EchoServiceServer};
use pb::{EchoRequest, EchoResponse, StreamRequest, StreamResponse};

/// The server's codec (`grpc::CheckedCodec`), the bare stream's messages
/// encoded into the buffers a catch-up's are: the bare stream and a
/// catch-up then differ in what they send alone, not in how tonic buffers
/// it.
pub(crate) type EchoCodec<T, U> = crate::grpc::CheckedCodec<T, U, EchoStreams>;

/// The echo's message type sent many to a call: the bare stream's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EchoStreams;

impl crate::grpc::Streamed for EchoStreams {
    fn streams(message: std::any::TypeId) -> bool {
        message == std::any::TypeId::of::<StreamResponse>()
    }
}

struct Echo;

type Messages = std::pin::Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>>;

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

    type StreamStream = Messages;

    async fn stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let m = request.into_inner();
        let payload = vec![b'x'; m.message_bytes as usize];
        let messages = (0..m.count).map(move |_| {
            Ok(StreamResponse {
                payload: payload.clone(),
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(messages))))
    }
}

/// The echo as a process of its own, as the server under load is one
/// (`answerlog bench --serve-echo`, which the benchmark starts): serves on
/// 127.0.0.1 (a free port), logs `listen=ADDR` on standard error as
/// `answerlog serve` does, and runs until it is killed or its standard
/// input closes (the benchmark went away).
pub(super) fn serve_forever() -> anyhow::Result<()> {
    // The runtime `answerlog serve` runs on.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        noteln!("echo serving listen={addr}");
        let served = tonic::transport::Server::builder()
            .add_service(EchoServiceServer::new(Echo))
            // Accepted as the server accepts (TCP_NODELAY, the same limits).
            .serve_with_incoming_shutdown(
                crate::accept::incoming(
                    listener,
                    crate::accept::AcceptLimits {
                        max_connections: 4096,
                        handshake_timeout: std::time::Duration::from_secs(10),
                    },
                    std::sync::Arc::new(crate::metrics::Metrics::new()),
                ),
                parent_gone(),
            );
        served.await?;
        Ok(())
    })
}

/// Ends when standard input reaches its end: the parent closed its pipe
/// or exited.
async fn parent_gone() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
}

/// `k` callers in flight over `channels`, each sending `request_bytes`
/// and getting `response_bytes` back.
pub(super) async fn unary(
    channels: &[Channel],
    k: usize,
    duration: Duration,
    request_bytes: usize,
    response_bytes: usize,
) -> anyhow::Result<Sample> {
    let clients = (0..k)
        .map(|i| EchoServiceClient::new(channels[i % channels.len()].clone()))
        .collect();
    let response_bytes = u32::try_from(response_bytes).unwrap_or(u32::MAX);
    closed_loop(clients, duration, move |mut client| async move {
        client
            .echo(EchoRequest {
                payload: vec![b'x'; request_bytes],
                response_bytes,
            })
            .await?;
        Ok(client)
    })
    .await
    .map(|(sample, _)| sample)
}

/// One stream of `count` messages of `message_bytes`, read to its end.
pub(super) async fn stream(
    channel: &Channel,
    count: u64,
    message_bytes: usize,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let mut messages = EchoServiceClient::new(channel.clone())
        .max_decoding_message_size(64 << 20)
        .stream(StreamRequest {
            count,
            message_bytes: u32::try_from(message_bytes).unwrap_or(u32::MAX),
        })
        .await?
        .into_inner();
    let mut got = 0;
    while messages.message().await?.is_some() {
        got += 1;
    }
    Ok(Sample::rate(got, started.elapsed()))
}
