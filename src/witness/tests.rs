//! The witness's state: kept across a restart, updated only by what it
//! cosigned, and a fork's request kept as evidence.

use super::*;
use crate::tlog::cosignature;
use crate::tlog::witness::tests::{log_key, request, tree};

fn options(dir: &Path) -> WitnessOptions {
    let key_file = dir.join("witness.key");
    if !key_file.exists() {
        generate_witness_key(&key_file, "witness.example/w1").unwrap();
    }
    WitnessOptions {
        name: "witness.example/w1".into(),
        key_file,
        logs: vec![log_key().1.to_string()],
        state_dir: dir.join("state"),
    }
}

#[test]
fn it_cosigns_what_extends_its_state_and_remembers_it_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = log_key();
    let witness = Witness::open(&options(dir.path())).unwrap();
    let vkey = CosignerKey::parse(&witness.verifier_key()).unwrap();
    assert_eq!(
        witness.verifier_key(),
        witness_verifier_key(&dir.path().join("witness.key"), "witness.example/w1").unwrap()
    );
    let first = request(&tree(0, 1), &tree(10, 1), &key);
    let line = witness.add_checkpoint(&first.to_bytes()).unwrap();
    // The line is the witness's cosignature of the checkpoint.
    let mut note = Note::parse(&first.checkpoint).unwrap();
    let mut with_line = note.to_bytes();
    with_line.extend_from_slice(&line);
    note = Note::parse(&with_line).unwrap();
    cosignature::find(&note, &vkey).unwrap();
    drop(witness);

    let witness = Witness::open(&options(dir.path())).unwrap();
    let again = witness.add_checkpoint(&first.to_bytes());
    assert!(
        matches!(
            again,
            Err(WitnessError::Refused(Refusal::Conflict { latest: 10, .. }))
        ),
        "{again:?}"
    );
    witness
        .add_checkpoint(&request(&tree(10, 1), &tree(40, 1), &key).to_bytes())
        .unwrap();
    // A fork of the 40 it holds is refused, kept as evidence, and changes
    // nothing.
    let fork = request(&tree(40, 2), &tree(50, 2), &key);
    let refused = witness.add_checkpoint(&fork.to_bytes()).unwrap_err();
    assert!(refused.to_string().contains("does not verify"), "{refused}");
    let mut evidence: Vec<_> = std::fs::read_dir(dir.path().join("state/refused"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    evidence.sort();
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    assert!(evidence[0].extension().is_some_and(|x| x == "held"));
    assert_eq!(
        std::fs::read(&evidence[1]).unwrap(),
        fork.to_bytes(),
        "the request, beside the checkpoint held then"
    );
    // The same checkpoint replayed with another proof replaces its pair.
    let mut replayed = fork.clone();
    replayed.proof.reverse();
    witness.add_checkpoint(&replayed.to_bytes()).unwrap_err();
    assert_eq!(
        std::fs::read_dir(dir.path().join("state/refused"))
            .unwrap()
            .count(),
        2
    );
    // A second witness on the same state is refused.
    let e = Witness::open(&options(dir.path())).unwrap_err();
    assert!(e.to_string().contains("in use by another witness"), "{e}");
    witness
        .add_checkpoint(&request(&tree(40, 1), &tree(41, 1), &key).to_bytes())
        .unwrap();
}

#[test]
fn a_key_file_is_never_replaced_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.key");
    generate_witness_key(&path, "w").unwrap();
    let e = generate_witness_key(&path, "w").unwrap_err();
    assert!(format!("{e:#}").contains("never replaced"), "{e:#}");
    std::fs::write(&path, "not hex").unwrap();
    let e = witness_verifier_key(&path, "w").unwrap_err();
    assert!(e.to_string().contains("64 hex digits"), "{e}");
}
