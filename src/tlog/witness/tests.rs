//! The add-checkpoint request's form, and every refusal a witness makes,
//! on trees built in memory (their helpers serve the witness's tests too).

use ed25519_dalek::SigningKey;

use super::*;
use crate::domain::merkle::MemoryTree;
use crate::tlog::note;

pub(crate) const ORIGIN: &str = "example.org/log";

pub(crate) fn log_key() -> (SigningKey, VerifierKey) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let vkey = VerifierKey::new(ORIGIN, key.verifying_key().to_bytes()).unwrap();
    (key, vkey)
}

/// A tree of `size` leaves whose leaf i is `seed` + i.
pub(crate) fn tree(size: u64, seed: u8) -> MemoryTree {
    let mut tree = MemoryTree::default();
    for i in 0..size {
        tree.push(merkle::leaf_hash(&[seed, i as u8, (i >> 8) as u8]));
    }
    tree
}

pub(crate) fn signed(tree: &MemoryTree, key: &SigningKey) -> (Vec<u8>, Checkpoint) {
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: tree.size(),
        root: merkle::root(tree, tree.size()).unwrap(),
        extensions: Vec::new(),
    };
    let text = checkpoint.text();
    let signature = note::sign(&text, ORIGIN, key).unwrap();
    let bytes = Note {
        text,
        signatures: vec![signature],
    }
    .to_bytes();
    (bytes, checkpoint)
}

pub(crate) fn request(old: &MemoryTree, new: &MemoryTree, key: &SigningKey) -> AddCheckpoint {
    AddCheckpoint {
        old: old.size(),
        proof: merkle::consistency_proof(new, old.size(), new.size())
            .unwrap()
            .unwrap(),
        checkpoint: signed(new, key).0,
    }
}

#[test]
fn a_request_reads_back_as_written() {
    let (key, _) = log_key();
    let request = request(&tree(5, 1), &tree(13, 1), &key);
    let bytes = request.to_bytes();
    assert!(bytes.starts_with(b"old 5\n"));
    assert_eq!(AddCheckpoint::parse(&bytes).unwrap(), request);
}

#[test]
fn malformed_requests_are_refused_with_the_reason() {
    for (body, why) in [
        (&b"old 05\n\nx"[..], "`old <size>`"),
        (b"new 5\n\nx", "`old <size>`"),
        (b"old 5\n", "ends before"),
        (b"old 5\nnot base64\n\nx", "one base64 hash"),
        (b"old 5\nAAAA\n\nx", "one base64 hash"),
    ] {
        let e = AddCheckpoint::parse(body).unwrap_err();
        assert!(e.contains(why), "{e}");
    }
    let mut many = b"old 1\n".to_vec();
    for _ in 0..=MAX_PROOF_LINES {
        many.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    }
    many.extend_from_slice(b"\nx");
    assert!(AddCheckpoint::parse(&many)
        .unwrap_err()
        .contains("more than 63"));
}

#[test]
fn a_witness_cosigns_the_first_checkpoint_and_each_that_extends_it() {
    let (key, vkey) = log_key();
    let first = check(
        &request(&tree(0, 1), &tree(9, 1), &key),
        std::slice::from_ref(&vkey),
        None,
    )
    .unwrap();
    assert_eq!(first.size, 9);
    let second = check(
        &request(&tree(9, 1), &tree(300, 1), &key),
        std::slice::from_ref(&vkey),
        Some(&first),
    )
    .unwrap();
    assert_eq!(second.size, 300);
    // The same checkpoint again: cosigned again.
    let again = check(
        &request(&tree(300, 1), &tree(300, 1), &key),
        &[vkey],
        Some(&second),
    )
    .unwrap();
    assert_eq!(again, second);
}

#[test]
fn each_refusal_has_its_status() {
    let (key, vkey) = log_key();
    let keys = std::slice::from_ref(&vkey);
    let held = signed(&tree(9, 1), &key).1;
    let status = |request: &AddCheckpoint, keys: &[VerifierKey], latest: Option<&Checkpoint>| {
        check(request, keys, latest).unwrap_err().status()
    };
    let good = request(&tree(9, 1), &tree(20, 1), &key);
    // An origin it does not know.
    assert_eq!(status(&good, &[], Some(&held)), 404);
    // Signed by another key.
    let stranger = SigningKey::from_bytes(&[8; 32]);
    assert_eq!(
        status(
            &request(&tree(9, 1), &tree(20, 1), &stranger),
            keys,
            Some(&held)
        ),
        403
    );
    // An old size past the checkpoint's.
    let mut past = good.clone();
    past.old = 21;
    assert_eq!(status(&past, keys, Some(&held)), 400);
    // Not the size it holds: 409 naming it.
    let stale = request(&tree(5, 1), &tree(20, 1), &key);
    match check(&stale, keys, Some(&held)) {
        Err(Refusal::Conflict { latest: 9, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&good, keys, None), 409);
    // A fork: the same size with another root, and a larger tree that
    // does not extend the one it holds.
    let fork_same = request(&tree(9, 2), &tree(9, 2), &key);
    assert_eq!(status(&fork_same, keys, Some(&held)), 409);
    let fork_larger = request(&tree(9, 2), &tree(20, 2), &key);
    let refusal = check(&fork_larger, keys, Some(&held)).unwrap_err();
    assert_eq!(refusal.status(), 422, "{refusal}");
    // A proof where none is due.
    let mut padded = request(&tree(0, 1), &tree(9, 1), &key);
    padded.proof.push([0; 32]);
    assert_eq!(status(&padded, keys, None), 422);
}
