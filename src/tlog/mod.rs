//! The transparency-log formats of C2SP, which auditors' own tools read:
//! signed notes (`note.rs`) and the checkpoints a log signs in them
//! (`checkpoint.rs`). The tree they commit to is `domain::merkle`.
//!
//! Issue 16: the server does not sign checkpoints yet; until it does only
//! the tests use these.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod checkpoint;
pub(crate) mod note;
