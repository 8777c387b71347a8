//! A signing key's rotation, announced by the key it retires, so that an
//! auditor who pinned the old key can follow the log to the new one
//! (docs/AUDIT.md, "Key rotation").
//!
//! When the ring's current key is replaced (`keys rotate`, or a new
//! `--signing-key`), and the data directory has recorded a checkpoint,
//! the old key signs that checkpoint once more with one more extension
//! line, `answerlog-key-rotation <verifier key of the new key under the
//! origin>`: the same origin, size and root, so it agrees with every
//! checkpoint of the log. It is kept in `tree/key-rotations/`, one file a
//! rotation numbered in order, and served with every checkpoint.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::durable_file::write_whole;
use crate::store::{recorded_checkpoint, TREE_DIR};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::{self, Note};
use crate::verifier_key::VerifierKey;

/// The extension line that names the next key.
pub(crate) const ROTATION_EXTENSION: &str = "answerlog-key-rotation";

const ROTATIONS_DIR: &str = "key-rotations";

/// Signs and keeps the announcement that `new` replaces `old` in
/// `data_dir`, before the ring changes: where it was kept, or none when
/// this data directory never recorded a checkpoint (no auditor holds one
/// to follow from).
pub(crate) fn announce(
    data_dir: &Path,
    old: &SigningKey,
    new: &[u8; 32],
) -> Result<Option<PathBuf>, String> {
    let tree = data_dir.join(TREE_DIR);
    let Some(recorded) = recorded_checkpoint(&tree)
        .map_err(|e| format!("cannot read the last checkpoint to announce the new key: {e}"))?
    else {
        return Ok(None);
    };
    let mut checkpoint = Note::parse(&recorded)
        .map_err(|e| e.to_string())
        .and_then(|n| Checkpoint::parse(&n.text))
        .map_err(|e| format!("the last checkpoint recorded cannot be read: {e}"))?;
    let next = VerifierKey::new(&checkpoint.origin, *new)?;
    checkpoint
        .extensions
        .retain(|line| !line.starts_with(ROTATION_EXTENSION));
    checkpoint
        .extensions
        .push(format!("{ROTATION_EXTENSION} {next}"));
    let text = checkpoint.text();
    let signature = note::sign(&text, &checkpoint.origin, old)?;
    let bytes = Note {
        text,
        signatures: vec![signature],
    }
    .to_bytes();
    let dir = tree.join(ROTATIONS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let count = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .count();
    let path = dir.join(format!("{:06}.note", count + 1));
    write_whole(&path, &bytes).map_err(|e| e.to_string())?;
    Ok(Some(path))
}

/// Every announcement kept in `data_dir`, oldest first.
pub(crate) fn announcements(data_dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = data_dir.join(TREE_DIR).join(ROTATIONS_DIR);
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    paths.retain(|p| p.extension().is_some_and(|x| x == "note"));
    paths.sort();
    paths.into_iter().map(std::fs::read).collect()
}

/// The key `note` hands the log over to, if it is a rotation announced by
/// `pinned`: it opens with `pinned`, its origin is the key's name, and its
/// one rotation line names another key under that name.
pub(crate) fn next_key(pinned: &VerifierKey, note: &[u8]) -> Result<VerifierKey, String> {
    let opened = Note::open(note, std::slice::from_ref(pinned)).map_err(|e| e.to_string())?;
    let checkpoint = Checkpoint::parse(&opened.note.text)?;
    if checkpoint.origin != pinned.name {
        return Err(format!(
            "its origin {:?} is not the key's name {:?}",
            checkpoint.origin, pinned.name
        ));
    }
    let mut named = checkpoint.extensions.iter().filter_map(|line| {
        line.strip_prefix(ROTATION_EXTENSION)
            .and_then(|rest| rest.strip_prefix(' '))
    });
    let (Some(next), None) = (named.next(), named.next()) else {
        return Err(format!("it has not one {ROTATION_EXTENSION} line"));
    };
    let next = VerifierKey::parse(next)?;
    if next.name != pinned.name || next.public_key == pinned.public_key {
        return Err(format!(
            "it names {next}, not another key of {}",
            pinned.name
        ));
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_hands_the_log_to_the_new_key_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let old = SigningKey::from_bytes(&[3; 32]);
        let new = SigningKey::from_bytes(&[4; 32]);
        let new_public = new.verifying_key().to_bytes();
        // No checkpoint recorded: nothing to announce.
        assert_eq!(announce(dir.path(), &old, &new_public), Ok(None));
        let origin = "example.org/log";
        let checkpoint = Checkpoint {
            origin: origin.into(),
            size: 5,
            root: [9; 32],
            extensions: vec!["answerlog-log-hash ".to_owned() + &"ab".repeat(32)],
        };
        let text = checkpoint.text();
        let recorded = Note {
            signatures: vec![note::sign(&text, origin, &old).unwrap()],
            text,
        };
        let tree = dir.path().join(TREE_DIR);
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("checkpoint"), recorded.to_bytes()).unwrap();
        let path = announce(dir.path(), &old, &new_public).unwrap().unwrap();
        assert!(path.ends_with("tree/key-rotations/000001.note"));
        let kept = announcements(dir.path()).unwrap();
        assert_eq!(kept.len(), 1);
        let pinned = VerifierKey::new(origin, old.verifying_key().to_bytes()).unwrap();
        let next = next_key(&pinned, &kept[0]).unwrap();
        assert_eq!(next, VerifierKey::new(origin, new_public).unwrap());
        // The same size and root: it agrees with the checkpoint it extends.
        let announced = Checkpoint::parse(&Note::parse(&kept[0]).unwrap().text).unwrap();
        assert_eq!((announced.size, announced.root), (5, [9; 32]));
        // Only the pinned key hands the log on.
        let stranger = VerifierKey::new(origin, [5; 32]).unwrap();
        assert!(next_key(&stranger, &kept[0]).is_err());
        // A plain checkpoint is no announcement.
        assert!(next_key(&pinned, &recorded.to_bytes())
            .unwrap_err()
            .contains("not one answerlog-key-rotation line"));
    }
}
