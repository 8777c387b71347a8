//! What readers learn of the writer's trouble, and the exit that a failed
//! sync takes.

use crate::log::StoreError;

/// What readers learn of the writer's trouble.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Health {
    /// A batch failed and the disk has not recovered: what is in memory
    /// past the durable position will not become durable as it is.
    pub(crate) failed: bool,
    /// How often the database was reopened after a failure.
    pub(crate) reopens: u64,
    /// The applier failed to write answered batches into sled: they wait
    /// in the log's files for the reopen, and reads do not wait for them.
    pub(crate) applier_failed: bool,
}

/// The exit status when sled cannot reopen its database in this process
/// (EX_TEMPFAIL): a supervisor restarts the server, which recovers as
/// after a crash.
pub(crate) const EXIT_WEDGED: i32 = 75;

/// A failed sync ends the process, with status `EXIT_WEDGED` for its
/// supervisor to restart it (crash-only recovery: nothing of the batch was
/// answered, every earlier batch was synced, and a new process reads the
/// disk, not the page cache's idea of it). Any other error is returned.
pub(super) fn unless_wedged(e: StoreError) -> StoreError {
    if let StoreError::Wedged(why) = &e {
        tracing::error!(
            error = %why,
            "a sync failed; exiting with status {EXIT_WEDGED} so that the supervisor restarts the server on what the disk holds"
        );
        std::process::exit(EXIT_WEDGED);
    }
    e
}
