//! A thread of the app's own, off the request path (the Merkle tree, the
//! witnesses' calls), on a current-thread runtime, told to stop through a
//! watch and joined when it is.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use super::AppError;

pub(super) struct Background {
    /// What the thread does, for the logs: "the Merkle tree's".
    what: &'static str,
    stop: watch::Sender<bool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl Background {
    /// Starts the thread `name`, which runs `work` (given the stop
    /// signal) on a runtime of its own with time and I/O; `nice`, if set,
    /// lowers its priority first. `what` names it in the logs.
    pub(super) fn spawn<F, Fut>(
        name: &str,
        what: &'static str,
        nice: Option<i32>,
        work: F,
    ) -> Result<Self, AppError>
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                #[cfg(target_os = "linux")]
                if let Some(nice) = nice {
                    if let Err(e) = rustix::process::setpriority_process(None, nice) {
                        tracing::debug!(error = %e, "{what} thread keeps the default priority");
                    }
                }
                #[cfg(not(target_os = "linux"))]
                let _ = nice;
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(work(stopped)),
                    Err(e) => tracing::error!(error = %e, "{what} thread cannot run"),
                }
            })
            .map_err(|e| AppError::Unavailable(format!("cannot start {what} thread: {e}")))?;
        Ok(Self {
            what,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Tells the thread to stop and waits until it has.
    pub(super) fn stop(&self) {
        self.stop.send_replace(true);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("{} thread panicked", self.what);
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}
