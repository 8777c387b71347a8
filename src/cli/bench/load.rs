//! Measuring: latencies of many calls, their rate and percentiles.

use std::time::Duration;

/// What one measurement saw.
#[derive(Clone, Debug, Default)]
pub(super) struct Sample {
    pub(super) latencies: Vec<Duration>,
    pub(super) elapsed: Duration,
}

impl Sample {
    pub(super) fn merge(parts: Vec<Vec<Duration>>, elapsed: Duration) -> Self {
        let mut latencies: Vec<Duration> = parts.into_iter().flatten().collect();
        latencies.sort_unstable();
        Self { latencies, elapsed }
    }

    pub(super) fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in microseconds.
    pub(super) fn micros(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1e6
    }
}

/// The run with the median rate of several.
pub(super) fn median(mut runs: Vec<Sample>) -> Sample {
    runs.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}
