//! Checkpoints against golang.org/x/mod's tree notes and the constructed
//! vectors: signed notes of trees of "leaf 0"… whose roots `merkle.rs`
//! recomputes (their consistency proofs are `proof/tests.rs`'s cases).

use base64::Engine as _;

use super::*;
use crate::domain::merkle::{self, MemoryTree};
use crate::test_vectors::{json, read};
use crate::tlog::note::Note;
use crate::verifier_key::VerifierKey;

fn log_key() -> VerifierKey {
    let manifest = json("constructed/manifest.json");
    VerifierKey::parse(manifest["keys"]["log_vkey"].as_str().unwrap()).unwrap()
}

/// The constructed vectors' tree: "leaf 0" … "leaf 12".
fn leaves() -> MemoryTree {
    let mut tree = MemoryTree::default();
    for i in 0..13 {
        tree.push(merkle::leaf_hash(format!("leaf {i}").as_bytes()));
    }
    tree
}

fn open(relative: &str) -> Result<Checkpoint, String> {
    let opened = Note::open(&read(relative), &[log_key()]).map_err(|e| e.to_string())?;
    Checkpoint::parse(&opened.note.text)
}

#[test]
fn go_s_tree_note_and_its_bad_and_junk_bodies_parse_as_c2sp_says() {
    let file = json("golang-mod/tlog_tree_note.json");
    let tree = Checkpoint::parse(file["tree_note"].as_str().unwrap()).unwrap();
    assert_eq!(tree.origin, "go.sum database tree");
    assert_eq!(tree.size, file["want_size"].as_u64().unwrap());
    assert_eq!(
        tree.root,
        merkle::leaf_hash(file["root_is_leaf_hash_of"].as_str().unwrap().as_bytes())
    );
    assert_eq!(tree.text(), file["tree_note"].as_str().unwrap());
    for case in file["bad"]
        .as_array()
        .unwrap()
        .iter()
        .chain(file["junk"].as_array().unwrap())
    {
        let parsed = Checkpoint::parse(case["body"].as_str().unwrap());
        let want_ok = case["c2sp_expect"].as_str() == Some("ok");
        assert_eq!(parsed.is_ok(), want_ok, "{}: {parsed:?}", case["desc"]);
        if let (Ok(parsed), Some(n)) = (&parsed, case["extensions"].as_u64()) {
            assert_eq!(parsed.extensions.len() as u64, n);
            assert_eq!(parsed.text(), case["body"].as_str().unwrap());
        }
    }
}

#[test]
fn the_constructed_checkpoints_open_and_commit_to_the_trees_merkle_rs_builds() {
    let tree = leaves();
    for (file, size) in [
        ("constructed/checkpoint-0.note", 0),
        ("constructed/checkpoint-7.note", 7),
        ("constructed/checkpoint-8.note", 8),
        ("constructed/checkpoint-13.note", 13),
    ] {
        let checkpoint = open(file).unwrap();
        assert_eq!(checkpoint.origin, "example.com/tlog-verify/log");
        assert_eq!(checkpoint.size, size);
        assert_eq!(
            checkpoint.root,
            merkle::root(&tree, size).unwrap(),
            "{file}"
        );
        assert!(checkpoint.extensions.is_empty());
    }
    // The witnesses' cosignatures (type 0x04) are lines of keys not
    // trusted here: kept, not verified.
    let note = Note::parse(&read("constructed/checkpoint-13.note")).unwrap();
    assert_eq!(note.signatures.len(), 3);
    // Signed under the log's name by another key (whose own key id the
    // line carries): no signature of the trusted key.
    let err = open("constructed/checkpoint-13-other-key.note").unwrap_err();
    assert!(err.contains("no signature from key"), "{err}");
    let other = open("constructed/checkpoint-13-other-origin.note").unwrap();
    assert_ne!(other.origin, "example.com/tlog-verify/log");

    let body = String::from_utf8(read("constructed/checkpoint-13-body.txt")).unwrap();
    assert_eq!(Checkpoint::parse(&body).unwrap().text(), body);
    let ext = String::from_utf8(read("constructed/checkpoint-13-ext-body.txt")).unwrap();
    let parsed = Checkpoint::parse(&ext).unwrap();
    assert_eq!(parsed.extensions, ["ext one", "ext two"]);
    assert_eq!(parsed.text(), ext);
}

#[test]
fn a_checkpoint_with_a_bad_size_or_root_or_shape_is_refused() {
    let root = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    for (text, says) in [
        (format!("o\n007\n{root}\n"), "tree size"),
        (format!("o\n-1\n{root}\n"), "tree size"),
        (format!("o\n18446744073709551616\n{root}\n"), "tree size"),
        (format!("o\n\n{root}\n"), "tree size"),
        ("o\n1\nAAAA\n".to_owned(), "32 bytes"),
        (format!("o\n1\n{root}"), "ends in a newline"),
        (format!("\n1\n{root}\n"), "origin"),
        ("o\n1\n".to_owned(), "a line each"),
        (format!("o\n1\n{root}\n\next\n"), "extension line is empty"),
    ] {
        let err = Checkpoint::parse(&text).unwrap_err();
        assert!(err.contains(says), "{text:?}: {err} lacks {says:?}");
    }
    let max = format!("o\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::parse(&max).unwrap().size, u64::MAX);
}

#[test]
fn the_c2sp_checkpoint_example_parses() {
    let file = json("c2sp/examples.json");
    let note = Note::parse(
        file["tlog_checkpoint_example"]["note"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let checkpoint = Checkpoint::parse(&note.text).unwrap();
    assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size, 20_852_163);
    assert_eq!(checkpoint.text(), note.text);
    // Its signature carries sum.golang.org's key id, whose key it is not:
    // illustrative only, so nothing is verified.
    assert_eq!(crate::domain::hex(&note.signatures[0].key_id), "033de0ae");
}

#[test]
fn the_log_hash_line_is_read_strictly() {
    let base = "example.org/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let with = |lines: &str| Checkpoint::parse(&format!("{base}{lines}")).unwrap();
    let hash = "ab".repeat(32);
    assert_eq!(with("").log_hash(), Ok(None));
    assert_eq!(with("other extension\n").log_hash(), Ok(None));
    assert_eq!(
        with(&format!("answerlog-log-hash {hash}\n")).log_hash(),
        Ok(Some([0xab; 32]))
    );
    for bad in [
        format!("answerlog-log-hash {}\n", hash.to_uppercase()),
        format!("answerlog-log-hash {}\n", &hash[2..]),
        format!("answerlog-log-hash {hash}\nanswerlog-log-hash {hash}\n"),
    ] {
        assert!(with(&bad).log_hash().is_err(), "{bad}");
    }
}
