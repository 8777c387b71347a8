//! Whether a log's newer checkpoint extends an older one: both signed by
//! the log's key, with one origin, and the RFC 6962 consistency proof
//! between their trees. What a continuous auditor and a witness check
//! before they take a new checkpoint.

use super::checkpoint::Checkpoint;
use super::note::Note;
use crate::domain::merkle;
use crate::domain::Hash;
use crate::verifier_key::VerifierKey;

/// Checks that the checkpoint note `new` extends the checkpoint note
/// `old` by `proof`, each signed by one of the log's keys (its key and
/// those it rotated to); the two checkpoints, once checked.
pub(crate) fn check(
    old: &[u8],
    new: &[u8],
    proof: &[Hash],
    log: &[VerifierKey],
) -> Result<(Checkpoint, Checkpoint), String> {
    let open = |bytes: &[u8], which: &str| -> Result<Checkpoint, String> {
        let opened =
            Note::open(bytes, log).map_err(|e| format!("{which} checkpoint signature: {e}"))?;
        Checkpoint::parse(&opened.note.text).map_err(|e| format!("{which} checkpoint: {e}"))
    };
    let old = open(old, "old")?;
    let new = open(new, "new")?;
    if old.origin != new.origin {
        return Err(format!(
            "the checkpoints' origins differ: {:?} and {:?}",
            old.origin, new.origin
        ));
    }
    if old.size > 0 && old.size < new.size && proof.is_empty() {
        return Err(format!(
            "the consistency proof is empty, but trees of {} and {} leaves need one",
            old.size, new.size
        ));
    }
    merkle::verify_consistency(old.size, new.size, &old.root, &new.root, proof)
        .map_err(|e| format!("consistency proof from {} to {}: {e}", old.size, new.size))?;
    Ok((old, new))
}
