//! The StreamEvents followers connected now and how far each has been
//! sent, so that the metrics can show how many there are and how far the
//! slowest lags behind the durable head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Default)]
pub(crate) struct Followers {
    next: AtomicU64,
    seats: Mutex<HashMap<u64, Arc<AtomicU64>>>,
}

impl Followers {
    /// A follower starting after `position`; it leaves when the seat goes.
    pub(crate) fn join(self: &Arc<Self>, position: u64) -> Seat {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let at = Arc::new(AtomicU64::new(position));
        self.seats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&at));
        Seat {
            id,
            at,
            followers: Arc::clone(self),
        }
    }

    /// How many followers there are, and how many commits the one furthest
    /// behind has yet to be sent of the log up to `durable`.
    pub(crate) fn levels(&self, durable: u64) -> (u64, u64) {
        let seats = self.seats.lock().unwrap_or_else(PoisonError::into_inner);
        let lag = seats
            .values()
            .map(|at| durable.saturating_sub(at.load(Ordering::Relaxed)))
            .max()
            .unwrap_or(0);
        (seats.len() as u64, lag)
    }
}

/// One follower's place.
pub(crate) struct Seat {
    id: u64,
    at: Arc<AtomicU64>,
    followers: Arc<Followers>,
}

impl Seat {
    /// The follower has been sent (or has passed over) the log through
    /// `position`.
    pub(crate) fn at(&self, position: u64) {
        self.at.store(position, Ordering::Relaxed);
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.followers
            .seats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_follower_sets_the_lag_and_a_follower_that_leaves_is_gone() {
        let followers = Arc::new(Followers::default());
        let slow = followers.join(10);
        let fast = followers.join(10);
        fast.at(95);
        assert_eq!(followers.levels(100), (2, 90));
        drop(slow);
        assert_eq!(followers.levels(100), (1, 5));
        drop(fast);
        assert_eq!(followers.levels(100), (0, 0));
    }
}
