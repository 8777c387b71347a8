//! Measuring: closed loops of calls, their rate and percentiles.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one measurement saw.
#[derive(Clone, Debug, Default)]
pub(super) struct Sample {
    /// Operations done (calls, commits, messages).
    pub(super) count: u64,
    /// The latency of each call, sorted; empty for a figure that is only a
    /// rate (a stream, a rebuild).
    pub(super) latencies: Vec<Duration>,
    pub(super) elapsed: Duration,
}

impl Sample {
    /// A sample of calls, from each worker's latencies.
    pub(super) fn merge(parts: Vec<Vec<Duration>>, elapsed: Duration) -> Self {
        let mut latencies: Vec<Duration> = parts.into_iter().flatten().collect();
        latencies.sort_unstable();
        Self {
            count: latencies.len() as u64,
            latencies,
            elapsed,
        }
    }

    /// A sample that is only a rate: `count` operations in `elapsed`.
    pub(super) fn rate(count: u64, elapsed: Duration) -> Self {
        Self {
            count,
            latencies: Vec::new(),
            elapsed,
        }
    }

    pub(super) fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in microseconds.
    pub(super) fn micros(&self, q: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        Some(self.latencies[i].as_secs_f64() * 1e6)
    }

    pub(super) fn p50(&self) -> f64 {
        self.micros(0.5).unwrap_or(0.0)
    }

    pub(super) fn p99(&self) -> f64 {
        self.micros(0.99).unwrap_or(0.0)
    }
}

/// The run with the median rate of several.
pub(super) fn median(mut runs: Vec<Sample>) -> Sample {
    runs.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

/// Runs a measurement `runs` times, one after another; the median.
pub(super) async fn median_of<F, Fut>(runs: usize, mut once: F) -> anyhow::Result<Sample>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Sample>>,
{
    let mut samples = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        samples.push(once().await?);
    }
    Ok(median(samples))
}

/// Two measurements whose rates make one ratio, `runs` times each and
/// interleaved (a b, b a, a b, …) rather than one's runs and then the
/// other's: on a machine whose speed drifts over seconds (a shared host),
/// each median then sees the same stretch of it. For measurements that
/// leave nothing behind (reads, a bare echo), so that the order is free.
/// Their medians, `a`'s first.
pub(super) async fn medians_interleaved<A, AF, B, BF>(
    runs: usize,
    mut a: A,
    mut b: B,
) -> anyhow::Result<(Sample, Sample)>
where
    A: FnMut() -> AF,
    AF: Future<Output = anyhow::Result<Sample>>,
    B: FnMut() -> BF,
    BF: Future<Output = anyhow::Result<Sample>>,
{
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for run in 0..runs.max(1) {
        if run % 2 == 0 {
            first.push(a().await?);
            second.push(b().await?);
        } else {
            second.push(b().await?);
            first.push(a().await?);
        }
    }
    Ok((median(first), median(second)))
}

/// One worker per state, each calling `call` in a loop (the next call as
/// soon as the last one is answered) until `duration` is over. A call
/// takes its worker's state and gives it back; the states at the end come
/// back with the sample.
pub(super) async fn closed_loop<S, F, Fut>(
    states: Vec<S>,
    duration: Duration,
    call: F,
) -> anyhow::Result<(Sample, Vec<S>)>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<S>> + Send + 'static,
{
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::with_capacity(states.len());
    for mut state in states {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                state = call(state).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok((latencies, state))
        }));
    }
    let mut parts = Vec::with_capacity(workers.len());
    let mut states = Vec::with_capacity(workers.len());
    for worker in workers {
        let (latencies, state) = worker.await??;
        parts.push(latencies);
        states.push(state);
    }
    Ok((Sample::merge(parts, started.elapsed()), states))
}

/// A small, fast pseudo-random sequence (SplitMix64): which version or
/// page a reader asks for; not for anything that must be unpredictable.
#[derive(Clone, Debug)]
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A number in `1..=n`.
    pub(super) fn roll(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        1 + z % n.max(1)
    }
}
