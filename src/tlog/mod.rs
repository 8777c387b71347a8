//! The transparency-log formats of C2SP, which auditors' own tools read:
//! signed notes (`note.rs`), the checkpoints a log signs in them
//! (`checkpoint.rs`), the check that a newer checkpoint extends an older
//! one (`consistency.rs`), witnesses' cosignatures of checkpoints
//! (`cosignature.rs`), the witness protocol that obtains them
//! (`witness.rs`), and the offline proof of an entry that a receipt
//! carries (`proof.rs`, `receipt.rs`). The tree they commit to is
//! `domain::merkle`.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod checkpoint;
pub(crate) mod consistency;
pub(crate) mod cosignature;
pub(crate) mod note;
pub(crate) mod proof;
pub(crate) mod receipt;
pub(crate) mod witness;
