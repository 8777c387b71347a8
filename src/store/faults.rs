//! Storage faults on purpose: a switch the writer consults before it
//! applies a batch, before it flushes one, and when it probes the disk
//! after a failure; the applier, before and after it writes a batch into
//! sled. Tests throw it to make writes fail the way a full disk
//! does, at a chosen point, and clear it to let the store recover.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::StoreError;

/// Where in a write a fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Before the batch is applied: nothing of it reaches sled.
    Apply,
    /// After the batch is applied in memory, at the flush: what a full
    /// disk does (the batch may or may not reach the disk later).
    Flush,
    /// After the applier wrote a batch into sled, as sled's own failure:
    /// what a full disk does as sled writes its buffers, which may leave
    /// on disk any part of what it holds (`applier.rs`). Only in a store
    /// that is never reopened in process: the writer ends the process
    /// once the disk has room again.
    Sled,
}

const OFF: u8 = 0;
const AT_APPLY: u8 = 1;
const AT_FLUSH: u8 = 2;
const AT_SLED: u8 = 3;

/// The switch. Off by default; shared between a test and the store.
#[derive(Debug, Default)]
pub struct Faults {
    point: AtomicU8,
    /// Writes that still pass before the fault strikes.
    grace: AtomicU64,
    /// Writes a fault failed, for the test's report.
    struck: AtomicU64,
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// From the write after the next `grace` ones on, every write fails at
    /// `point`, and so does every probe, until `clear`.
    pub fn fail(&self, point: FaultPoint, grace: u64) {
        self.grace.store(grace, Ordering::SeqCst);
        self.point.store(
            match point {
                FaultPoint::Apply => AT_APPLY,
                FaultPoint::Flush => AT_FLUSH,
                FaultPoint::Sled => AT_SLED,
            },
            Ordering::SeqCst,
        );
    }

    /// The disk is healthy again.
    pub fn clear(&self) {
        self.point.store(OFF, Ordering::SeqCst);
    }

    /// How many writes a fault has failed so far (probes not counted).
    pub fn struck(&self) -> u64 {
        self.struck.load(Ordering::SeqCst)
    }

    /// Called by the writer at `point` of each write.
    pub(super) fn check(&self, point: FaultPoint) -> Result<(), StoreError> {
        let armed = match self.point.load(Ordering::SeqCst) {
            AT_APPLY => point == FaultPoint::Apply,
            AT_FLUSH => point == FaultPoint::Flush,
            AT_SLED => point == FaultPoint::Sled,
            _ => false,
        };
        if !armed {
            return Ok(());
        }
        let passed = self
            .grace
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |g| g.checked_sub(1))
            .is_ok();
        if passed {
            return Ok(());
        }
        self.struck.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Io(
            "No space left on device (os error 28) [injected]".into(),
        ))
    }

    /// Called by the writer's probe of a disk that failed: fails while any
    /// fault is thrown.
    pub(super) fn check_probe(&self) -> Result<(), StoreError> {
        if self.point.load(Ordering::SeqCst) == OFF {
            return Ok(());
        }
        Err(StoreError::Io(
            "No space left on device (os error 28) [injected, probe]".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_strikes_after_its_grace_at_its_point_until_cleared() {
        let faults = Faults::new();
        assert!(faults.check(FaultPoint::Flush).is_ok());
        faults.fail(FaultPoint::Flush, 2);
        assert!(faults.check(FaultPoint::Apply).is_ok());
        assert!(faults.check(FaultPoint::Flush).is_ok());
        assert!(faults.check(FaultPoint::Flush).is_ok());
        assert!(faults.check(FaultPoint::Flush).is_err());
        assert!(faults.check(FaultPoint::Flush).is_err());
        assert!(faults.check_probe().is_err());
        faults.clear();
        assert!(faults.check(FaultPoint::Flush).is_ok());
        assert!(faults.check_probe().is_ok());
        assert_eq!(faults.struck(), 2);
    }
}
