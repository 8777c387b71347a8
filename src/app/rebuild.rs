//! Online rebuild: a new generation of the read models, built from the log
//! while the server serves and writes, then switched to atomically.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::{App, AppError};
use crate::projection::Projection;
use crate::store::RebuildProgress;

/// Where a rebuild stands, as its caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Progress {
    /// "replaying", then "switched" once the new generation is in use.
    pub(crate) phase: &'static str,
    pub(crate) done: u64,
    pub(crate) total: u64,
    pub(crate) per_second: f64,
    pub(crate) eta_seconds: f64,
    /// The generation the read models are switched to, once switched.
    pub(crate) generation: Option<u8>,
}

impl App {
    /// Starts an online rebuild; its progress arrives on the channel. One
    /// at a time: another is refused while one runs.
    pub(crate) fn rebuild_online(
        self: &Arc<Self>,
        throttle: u64,
    ) -> Result<mpsc::Receiver<Result<Progress, AppError>>, AppError> {
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return Err(AppError::FailedPrecondition(
                "a rebuild is already running".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(16);
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let projection = Projection::new(app.snapshot_interval);
            let mut report = |p: RebuildProgress| {
                // A stopping server does not wait for a rebuild: it stops it.
                if app.is_stopping() {
                    return false;
                }
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let per_second = p.done as f64 / secs;
                let eta_seconds = if per_second > 0.0 {
                    p.total.saturating_sub(p.done) as f64 / per_second
                } else {
                    0.0
                };
                tx.blocking_send(Ok(Progress {
                    phase: p.phase,
                    done: p.done,
                    total: p.total,
                    per_second,
                    eta_seconds,
                    generation: None,
                }))
                .is_ok()
            };
            let outcome = app.store.rebuild_online(&projection, throttle, &mut report);
            app.rebuilding.store(false, Ordering::Release);
            let last = match outcome {
                Ok(generation) => Ok(Progress {
                    phase: "done",
                    done: app.durable(),
                    total: app.durable(),
                    per_second: 0.0,
                    eta_seconds: 0.0,
                    generation: Some(generation),
                }),
                Err(e) => Err(e.into()),
            };
            let _ = tx.blocking_send(last);
        });
        Ok(rx)
    }
}
