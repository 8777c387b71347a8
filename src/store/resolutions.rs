//! Suggested questions, and their resolutions, that were never
//! acknowledged.
//!
//! A resolution rewrites its suggestion's record in place (`q/<sequence>`)
//! and takes the next suggestion sequence number as its own; the writer's
//! state (`meta`) says how far the suggestions are durable. sled may keep
//! a record of a batch whose `meta` it lost (a crash part-way, a torn
//! batch), and a later suggestion would then take the resolution's number
//! and make it visible though no one was told it was made; and a
//! suggestion's own record past that number would show once a resolution
//! took the number. So at open (and when the writer reopens sled after a
//! failure), every suggestion numbered past the writer's last is removed,
//! and every resolution numbered past it taken back: the suggestion is
//! open again, as its resolver was never told otherwise.

use super::disk::Disk;
use super::keys::{position_key, Space};
use super::StoreError;
use crate::codec::{decode_suggestion, encode_suggestion};

/// Removes every suggestion numbered past `last_suggestion`, and reopens
/// every one whose resolution is; how many records it changed.
pub(super) fn forget_unacknowledged(disk: &Disk, last_suggestion: u64) -> Result<u64, StoreError> {
    let tree = disk.tree()?;
    let all = position_key(Space::Suggestions, 0)..=position_key(Space::Suggestions, u64::MAX);
    let mut batch = sled::Batch::default();
    let mut reopened = 0;
    for item in tree.range(all) {
        let (key, bytes) = item?;
        if key.as_ref() > position_key(Space::Suggestions, last_suggestion).as_slice() {
            batch.remove(key);
            reopened += 1;
            continue;
        }
        // One that does not decode is the listing's to report (DATA_LOSS);
        // it does not keep the store from opening.
        let Ok(mut suggestion) = decode_suggestion(&bytes) else {
            tracing::warn!(key = ?key, "a suggestion's record does not decode");
            continue;
        };
        if suggestion.open_unless_durable(last_suggestion) {
            batch.insert(key, encode_suggestion(&suggestion));
            reopened += 1;
        }
    }
    if reopened > 0 {
        tree.apply_batch(batch)?;
        disk.flush(&tree)?;
    }
    Ok(reopened)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Outcome, Resolution, Suggestion};

    fn resolved(sequence: u64, resolution_sequence: u64) -> Suggestion {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Suggestion {
            id: Uuid::from_u128(u128::from(sequence)),
            question: "Is it rare?".into(),
            suggested_by: "rita".into(),
            suggested_at: at,
            status: "declined".into(),
            sequence,
            article_id: None,
            resolution: Some(Resolution {
                outcome: Outcome::Declined,
                by: "wanda".into(),
                at,
                note: "no".into(),
                sequence: resolution_sequence,
            }),
        }
    }

    #[test]
    fn a_resolution_past_the_durable_suggestions_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(dir.path(), 1 << 20).unwrap();
        let tree = disk.tree().unwrap();
        let kept = resolved(1, 2);
        let lost = resolved(3, 5);
        let restored = resolved(4, 0);
        let never_told = resolved(6, 0);
        for s in [&kept, &lost, &restored, &never_told] {
            tree.insert(
                position_key(Space::Suggestions, s.sequence),
                encode_suggestion(s),
            )
            .unwrap();
        }
        assert_eq!(forget_unacknowledged(&disk, 4).unwrap(), 2);
        assert!(tree
            .get(position_key(Space::Suggestions, 6))
            .unwrap()
            .is_none());
        let read = |sequence| {
            let bytes = tree
                .get(position_key(Space::Suggestions, sequence))
                .unwrap()
                .unwrap();
            decode_suggestion(&bytes).unwrap()
        };
        assert_eq!(read(1), kept);
        assert_eq!(read(4), restored);
        let reopened = read(3);
        assert_eq!(
            (reopened.status.as_str(), reopened.resolution),
            ("open", None)
        );
        assert_eq!(forget_unacknowledged(&disk, 4).unwrap(), 0, "done once");
    }
}
