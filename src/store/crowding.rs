//! Whether appends come one at a time: what decides if a caller may write
//! its own append on its runtime worker (`SledStore::lead`).
//!
//! A caller that leads pays no hand-over to the writer's thread and no
//! wake-up back: at one call in flight that is a fifth of an append's
//! latency (BENCHMARKS.md, session 15). Beside other calls it writes a
//! batch of one and holds its worker through the sync, while the others'
//! requests wait to be read. Counting the appends in flight is not enough
//! to tell: with 16 calls in flight at the client, the server often holds
//! one append at a time, the rest on their way through the transport, and
//! 28 % of the syncs were such leads (BENCHMARKS.md, session 38). So an
//! append leads only once appends have come alone for `ALONE_FOR`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long appends must have come one at a time before a caller writes
/// its own.
pub(super) const ALONE_FOR: Duration = Duration::from_millis(10);

/// When an append last found others in flight.
pub(super) struct Crowding {
    started: Instant,
    /// In µs since `started`, plus one: 0 before any was seen.
    crowded_at: AtomicU64,
}

impl Crowding {
    pub(super) fn new() -> Self {
        Self {
            started: Instant::now(),
            crowded_at: AtomicU64::new(0),
        }
    }

    /// Whether an append that finds `in_flight` appends (itself included)
    /// comes alone, and has for `ALONE_FOR`.
    pub(super) fn alone(&self, in_flight: usize) -> bool {
        self.alone_at(in_flight, self.started.elapsed())
    }

    /// `alone` at `now` since the start.
    fn alone_at(&self, in_flight: usize, now: Duration) -> bool {
        let now = now.as_micros() as u64 + 1;
        if in_flight > 1 {
            // (callers on other threads may mark an earlier time after it)
            self.crowded_at.fetch_max(now, Ordering::Relaxed);
            return false;
        }
        let crowded_at = self.crowded_at.load(Ordering::Relaxed);
        crowded_at == 0 || now.saturating_sub(crowded_at) >= ALONE_FOR.as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_comes_alone_once_appends_have_come_one_at_a_time_for_a_while() {
        let crowding = Crowding::new();
        let ms = Duration::from_millis;
        assert!(crowding.alone_at(1, ms(1)), "never crowded");
        assert!(!crowding.alone_at(2, ms(0)), "crowded from the start");
        assert!(!crowding.alone_at(1, ms(1)));
        let crowding = Crowding::new();
        assert!(crowding.alone_at(1, ms(2)));
        assert!(!crowding.alone_at(2, ms(3)), "another in flight");
        assert!(!crowding.alone_at(1, ms(4)), "the others are on their way");
        assert!(!crowding.alone_at(1, ms(3) + ALONE_FOR - ms(1)));
        assert!(crowding.alone_at(1, ms(3) + ALONE_FOR));
        assert!(!crowding.alone_at(16, ms(20)));
        assert!(!crowding.alone_at(1, ms(21)));
        assert!(crowding.alone_at(1, ms(20) + ALONE_FOR));
    }
}
