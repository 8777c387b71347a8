//! Proofs, cosignatures and consistency against the constructed vectors'
//! cases (tests/vectors/tlog/constructed/manifest.json), each accepted or
//! refused with the reason it names, and proofs made from `merkle.rs`.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::Value;

use super::*;
use crate::domain::merkle::MemoryTree;
use crate::test_vectors::unhex;
use crate::tlog::{consistency, note};

/// A file of the constructed vectors ('@' in a case's argv names their
/// directory).
fn read(name: &str) -> Vec<u8> {
    let name = name.trim_start_matches("@/").trim_start_matches('@');
    crate::test_vectors::read(&format!("constructed/{name}"))
}

fn manifest() -> Value {
    crate::test_vectors::json("constructed/manifest.json")
}

/// The flags of a case's command line: each flag's values, in order.
fn flags(argv: &[Value]) -> Vec<(String, String)> {
    let words: Vec<&str> = argv.iter().map(|v| v.as_str().unwrap()).collect();
    words
        .windows(2)
        .filter(|w| w[0].starts_with("--"))
        .map(|w| (w[0].to_owned(), w[1].to_owned()))
        .collect()
}

fn flag<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.as_str())
}

/// What the `proof` case asks, checked here.
fn check_proof(argv: &[Value]) -> Result<(), String> {
    let file = argv[1].as_str().unwrap();
    let flags = flags(argv);
    let log = VerifierKey::parse(flag(&flags, "--vkey").unwrap())?;
    let witnesses = flags
        .iter()
        .filter(|(f, _)| f == "--witness-vkey")
        .map(|(_, v)| CosignerKey::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf: Hash = match (
        flag(&flags, "--leaf-data-hex"),
        flag(&flags, "--leaf-hash-hex"),
    ) {
        (Some(data), None) => merkle::leaf_hash(&unhex(data)),
        (None, Some(hash)) => unhex(hash).try_into().unwrap(),
        _ => panic!("a leaf is given as data or as a hash"),
    };
    let proof = TlogProof::parse(&read(file))?;
    let trust = Trust {
        log: &log,
        origin: flag(&flags, "--origin"),
        witnesses: &witnesses,
        quorum: witnesses.len(),
    };
    proof.verify(&leaf, &trust).map(drop)
}

/// A consistency proof file: a hash a line.
fn proof_lines(bytes: &[u8]) -> Vec<Hash> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// What the `consistency` case asks, checked here.
fn check_consistency(argv: &[Value]) -> Result<(), String> {
    let flags = flags(argv);
    let log = VerifierKey::parse(flag(&flags, "--vkey").unwrap())?;
    let proof = proof_lines(&read(flag(&flags, "--proof").unwrap()));
    consistency::check(
        &read(flag(&flags, "--old").unwrap()),
        &read(flag(&flags, "--new").unwrap()),
        &proof,
        std::slice::from_ref(&log),
    )
    .map(drop)
}

/// Every command-line case of the constructed vectors, but the two whose
/// proof is a tlog-witness add-checkpoint body (the witness protocol's
/// request, checked where the witness is built).
#[test]
fn every_constructed_case_is_accepted_or_refused_for_its_reason() {
    let manifest = manifest();
    let mut witness_requests = Vec::new();
    let mut checked = 0;
    for case in manifest["cli_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let argv = case["argv"].as_array().unwrap();
        let outcome = match argv[0].as_str().unwrap() {
            "proof" => check_proof(argv),
            "consistency" => {
                let proof_file = flag(&flags(argv), "--proof").unwrap().to_owned();
                if read(&proof_file).starts_with(b"old ") {
                    witness_requests.push(name.to_owned());
                    continue;
                }
                check_consistency(argv)
            }
            other => panic!("unknown command {other}"),
        };
        match case["expect"].as_str().unwrap() {
            "ok" => assert!(outcome.is_ok(), "{name}: {outcome:?}"),
            _ => {
                let err = outcome.expect_err(name);
                let says = case["failure_contains"].as_str().unwrap();
                assert!(err.contains(says), "{name}: {err:?} lacks {says:?}");
            }
        }
        checked += 1;
    }
    assert_eq!(
        witness_requests,
        [
            "8 -> 13 as add-checkpoint body",
            "add-checkpoint old size differs from old checkpoint"
        ]
    );
    assert_eq!(checked, 34);
}

#[test]
fn every_constructed_cosignature_case_is_accepted_or_refused() {
    let manifest = manifest();
    let cases = manifest["cosignature_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let checkpoint = String::from_utf8(read(case["checkpoint"].as_str().unwrap())).unwrap();
        let outcome = CosignerKey::parse(case["witness_vkey"].as_str().unwrap()).and_then(|key| {
            // The line as a note holds it, parsed by the note's rules.
            let note = format!("{checkpoint}\n{}", case["line"].as_str().unwrap());
            let note = Note::parse(note.as_bytes()).map_err(|e| e.to_string())?;
            cosignature::find(&note, &key)
        });
        let want_ok = case["expect"].as_str() == Some("ok");
        assert_eq!(outcome.is_ok(), want_ok, "{name}: {outcome:?}");
    }
}

fn c2sp_examples() -> Value {
    crate::test_vectors::json("c2sp/examples.json")
}

/// The specification's example: its signatures are elided (`[...]`) and
/// it claims 5 hashes where index 73894 of 109482 needs 17, so it is
/// parsed, not verified.
#[test]
fn the_c2sp_proof_example_parses_and_prints_back() {
    let file = c2sp_examples();
    let bytes = file["tlog_proof_example"]["proof"]
        .as_str()
        .unwrap()
        .as_bytes();
    let proof = TlogProof::parse(bytes).unwrap();
    assert_eq!(proof.index, 73894);
    assert_eq!(proof.hashes.len(), 5);
    assert!(proof.extra.is_some());
    assert!(proof
        .checkpoint
        .starts_with(b"example.com/fancylog\n109482\n"));
    assert_eq!(proof.to_bytes(), bytes);
}

#[test]
fn the_c2sp_cosignature_example_signs_the_message_it_shows() {
    let file = c2sp_examples();
    let example = &file["tlog_cosignature_example"];
    let note = Note::parse(example["note"].as_str().unwrap().as_bytes()).unwrap();
    let line = &note.signatures[1];
    assert_eq!(
        crate::domain::hex(&line.key_id),
        example["want_key_id_hex"].as_str().unwrap()
    );
    let timestamp = u64::from_be_bytes(line.signature[..8].try_into().unwrap());
    assert_eq!(timestamp, example["want_timestamp"].as_u64().unwrap());
    assert_eq!(
        String::from_utf8(cosignature::message(&note.text, timestamp)).unwrap(),
        example["signed_message_example"].as_str().unwrap()
    );
}

/// The proof of entry `index` of `tree` under `note`, as bytes.
fn note_proof(note: &Note, tree: &MemoryTree, index: u64) -> Vec<u8> {
    TlogProof {
        extra: None,
        index,
        hashes: merkle::inclusion_proof(tree, index, tree.size())
            .unwrap()
            .unwrap(),
        checkpoint: note.to_bytes(),
    }
    .to_bytes()
}

/// A log and two witnesses made here: every entry's proof verifies, round
/// trips through its bytes, and fails for another leaf, a missing
/// cosignature or another origin.
#[test]
fn proofs_made_from_a_tree_verify_with_their_cosignatures() {
    let log_key = SigningKey::from_bytes(&[1; 32]);
    let origin = "answerlog.example.org/test";
    let log = VerifierKey::new(origin, log_key.verifying_key().to_bytes()).unwrap();
    let witness_keys = [
        SigningKey::from_bytes(&[2; 32]),
        SigningKey::from_bytes(&[3; 32]),
    ];
    let witnesses: Vec<CosignerKey> = witness_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            CosignerKey::new(&format!("w{i}.example"), k.verifying_key().to_bytes()).unwrap()
        })
        .collect();
    let mut tree = MemoryTree::default();
    let leaves: Vec<Hash> = (0..21)
        .map(|i| merkle::leaf_hash(format!("entry {i}").as_bytes()))
        .collect();
    for leaf in &leaves {
        tree.push(*leaf);
    }
    let checkpoint = Checkpoint {
        origin: origin.to_owned(),
        size: 21,
        root: merkle::root(&tree, 21).unwrap(),
        extensions: Vec::new(),
    };
    let text = checkpoint.text();
    let mut signatures = vec![note::sign(&text, origin, &log_key).unwrap()];
    for (i, key) in witness_keys.iter().enumerate() {
        signatures.push(
            cosignature::cosign(&text, 1_700_000_000 + i as u64, &witnesses[i].name, key).unwrap(),
        );
    }
    let note = Note { text, signatures };
    let both = Trust {
        log: &log,
        origin: Some(origin),
        witnesses: &witnesses,
        quorum: 2,
    };
    for (index, leaf) in leaves.iter().enumerate() {
        let proof = TlogProof {
            extra: Some(format!("article {index}").into_bytes()),
            index: index as u64,
            hashes: merkle::inclusion_proof(&tree, index as u64, 21)
                .unwrap()
                .unwrap(),
            checkpoint: note.to_bytes(),
        };
        let parsed = TlogProof::parse(&proof.to_bytes()).unwrap();
        assert_eq!(parsed, proof);
        assert_eq!(parsed.verify(leaf, &both).unwrap(), checkpoint);
        let other = leaves[(index + 1) % leaves.len()];
        assert!(parsed
            .verify(&other, &both)
            .unwrap_err()
            .contains("inclusion proof"));
    }
    let proof = TlogProof {
        extra: None,
        index: 3,
        hashes: merkle::inclusion_proof(&tree, 3, 21).unwrap().unwrap(),
        checkpoint: Note {
            text: note.text.clone(),
            signatures: note.signatures[..2].to_vec(),
        }
        .to_bytes(),
    };
    let err = proof.verify(&leaves[3], &both).unwrap_err();
    assert!(
        err.contains("no cosignature from witness w1.example: the checkpoint has 1 of the 2"),
        "{err}"
    );
    // One of the two is enough for a policy of one.
    let one_of_two = Trust { quorum: 1, ..both };
    proof.verify(&leaves[3], &one_of_two).unwrap();
    let elsewhere = Trust {
        origin: Some("another.example/log"),
        witnesses: &[],
        quorum: 0,
        ..both
    };
    assert!(proof
        .verify(&leaves[3], &elsewhere)
        .unwrap_err()
        .contains("origin"));
    assert!(cosignature::cosign(&note.text, 1 << 63, "w", &witness_keys[0]).is_err());
    // One key under two names counts once: such a policy is refused.
    let twice = [
        witnesses[0].clone(),
        CosignerKey::new("alias.example", witnesses[0].public_key).unwrap(),
    ];
    let err = TlogProof::parse(&note_proof(&note, &tree, 3))
        .unwrap()
        .verify(
            &leaves[3],
            &Trust {
                witnesses: &twice,
                ..both
            },
        )
        .unwrap_err();
    assert!(err.contains("have one key"), "{err}");
    // Without an origin given, the log key's name is the origin: a key
    // named otherwise signs no checkpoint of this log for the reader.
    let renamed = VerifierKey::new("another.example/log", log.public_key).unwrap();
    let by_renamed = Note {
        text: note.text.clone(),
        signatures: vec![note::sign(&note.text, &renamed.name, &log_key).unwrap()],
    };
    let unset = Trust {
        log: &renamed,
        origin: None,
        witnesses: &[],
        quorum: 0,
    };
    let err = TlogProof::parse(&note_proof(&by_renamed, &tree, 3))
        .unwrap()
        .verify(&leaves[3], &unset)
        .unwrap_err();
    assert!(err.contains("checkpoint origin"), "{err}");
    let given = Trust {
        origin: Some(origin),
        ..unset
    };
    TlogProof::parse(&note_proof(&by_renamed, &tree, 3))
        .unwrap()
        .verify(&leaves[3], &given)
        .unwrap();
}

#[test]
fn a_proof_of_the_wrong_form_is_refused_as_such() {
    let good = read("proof-ok-index5.tlog-proof");
    let text = String::from_utf8(good.clone()).unwrap();
    for (bytes, says) in [
        (text.replacen("index 5", "index 5x", 1), "index <n>"),
        (text.replacen("index 5", "index ", 1), "index <n>"),
        (
            text.replacen("index 5", "extra !!\nindex 5", 1),
            "extra data",
        ),
        (text.replacen("gxFf", "gxF", 1), "32-byte hash"),
        (text.split("\n\n").next().unwrap().to_owned(), "ends before"),
        (
            format!("{}\n\n", text.split("\n\n").next().unwrap()),
            "no checkpoint",
        ),
    ] {
        let err = TlogProof::parse(bytes.as_bytes()).unwrap_err();
        assert!(err.starts_with("tlog-proof format"), "{err}");
        assert!(err.contains(says), "{err} lacks {says:?}");
    }
    assert_eq!(TlogProof::parse(&good).unwrap().to_bytes(), good);
}
