//! JetStream alone, doing what the replicated log asks of it with nothing
//! on top: acknowledged publishes to a stream of the same storage, the
//! baseline `answerlog bench` measures the JetStream log against, on the
//! same nats-server in the same run. With the bench, outside the
//! library's core: the one file beside jetstream/ that uses async-nats
//! (`src/tidy.rs`), to measure it bare.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

/// The latencies of acknowledged publishes of `payload_bytes` to a scratch
/// stream (file storage, R1) with `in_flight` publishers for `duration`,
/// and the time they took in all.
pub(crate) async fn acked_publishes(
    url: &str,
    in_flight: usize,
    duration: Duration,
    payload_bytes: usize,
) -> Result<(Vec<Vec<Duration>>, Duration), String> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(stream::Config {
            name: "BENCH_BASELINE".into(),
            subjects: vec!["bench.baseline.*".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create the baseline stream: {e}"))?;
    let payload = bytes::Bytes::from(vec![b'p'; payload_bytes]);
    let started = Instant::now();
    let mut publishers = tokio::task::JoinSet::new();
    for n in 0..in_flight.max(1) {
        let context = context.clone();
        let payload = payload.clone();
        publishers.spawn(async move {
            let subject = format!("bench.baseline.{n}");
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let sent = Instant::now();
                let ack = context
                    .publish(subject.clone(), payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                ack.await.map_err(|e| e.to_string())?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, String>(latencies)
        });
    }
    let mut parts = Vec::new();
    while let Some(done) = publishers.join_next().await {
        parts.push(done.map_err(|e| e.to_string())??);
    }
    Ok((parts, started.elapsed()))
}
