//! A gate that a test can hold closed: before each flush (what is visible
//! while a batch is written but not yet durable), or before the applier
//! writes an answered batch into sled (`StoreOptions::apply_gate`: what a
//! read waits for).

use std::sync::{Condvar, Mutex};

/// Each flush takes one permit; with none, the writer waits before it.
#[derive(Debug, Default)]
pub struct FlushGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    permits: u64,
    /// Flushes waiting at the gate.
    waiting: u64,
}

impl FlushGate {
    /// Lets `n` more flushes through.
    pub fn release(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.permits += n;
        self.changed.notify_all();
    }

    /// Closes the gate: takes back every permit not yet used.
    pub fn take_permits(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.permits = 0;
    }

    /// Blocks until a flush is waiting at the gate.
    pub fn wait_until_waiting(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.waiting == 0 {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether a flush waits at the gate with no permit left to take.
    pub fn holds(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting > 0 && state.permits == 0
    }

    /// Called by the writer before each flush.
    pub(super) fn pass(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting += 1;
        self.changed.notify_all();
        while state.permits == 0 {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.permits -= 1;
        state.waiting -= 1;
        self.changed.notify_all();
    }
}
