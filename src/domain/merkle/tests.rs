//! The Merkle tree against public vectors (tests/vectors/tlog/SOURCE.md)
//! and against every proof of a 48-leaf tree and its corruptions.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use super::*;
use crate::test_vectors::{json, json_at, unhex as hex};

fn hash_hex(text: &str) -> Hash {
    hex(text).try_into().unwrap()
}

/// A base64 field as a hash. The probes put placeholders of other lengths
/// ("don't care", empty) where the outcome must not depend on a hash: they
/// stand in as SHA-256("placeholder" ‖ bytes), so that the verifier runs
/// on every probe and equal placeholders stay equal.
fn hash_b64(value: &Value) -> Hash {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap();
    Hash::try_from(bytes.clone()).unwrap_or_else(|_| {
        let mut hasher = Sha256::new();
        hasher.update(b"placeholder");
        hasher.update(&bytes);
        hasher.finalize().into()
    })
}

fn hashes_b64(value: &Value) -> Vec<Hash> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(hash_b64).collect(),
        other => panic!("a proof is a list of hashes, not {other}"),
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::default();
    for leaf in leaves {
        tree.push(leaf_hash(leaf));
    }
    tree
}

fn root_of(tree: &MemoryTree, size: u64) -> Hash {
    root(tree, size).unwrap()
}

/// A root asked beyond the tree: the node it lacks, not a panic.
fn root_of_checked(tree: &MemoryTree, size: u64) -> Result<Hash, NoSuchNode> {
    root(tree, size)
}

/// MTH of RFC 9162 §2.1.1 over the leaves themselves, written apart from
/// the module's node-based code.
fn naive_root(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaf_hash(&leaves[0]),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

#[test]
fn the_rfc_6962_hasher_vectors_hold() {
    let file = json("transparency-dev-merkle/rfc6962_hasher.json");
    let cases = file["vectors"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let want = hash_hex(case["want_hex"].as_str().unwrap());
        let got = match case["kind"].as_str().unwrap() {
            "empty_root" => empty_root(),
            "leaf" => leaf_hash(&hex(case["input_hex"].as_str().unwrap())),
            "node" => {
                // The vectors' children are short strings, not hashes:
                // this checks the node's form (`node_hash` is checked on
                // hashes below).
                let mut hasher = Sha256::new();
                hasher.update([0x01]);
                hasher.update(hex(case["left_hex"].as_str().unwrap()));
                hasher.update(hex(case["right_hex"].as_str().unwrap()));
                hasher.finalize().into()
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(got, want, "{}", case["desc"]);
    }
    let children = [[1u8; 32], [2u8; 32]];
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&children[0]);
    bytes.extend_from_slice(&children[1]);
    assert_eq!(
        node_hash(&children[0], &children[1]),
        <[u8; 32]>::from(Sha256::digest(&bytes))
    );
}

#[test]
fn the_reference_tree_has_its_nodes_and_roots_at_every_size() {
    let file = json("transparency-dev-merkle/reference_tree.json");
    let leaves: Vec<Vec<u8>> = file["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| hex(v.as_str().unwrap()))
        .collect();
    let tree = tree_of(&leaves);
    for (level, row) in file["node_hashes_hex_by_level"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (index, want) in row.as_array().unwrap().iter().enumerate() {
            let got = tree.node(level as u32, index as u64).unwrap();
            assert_eq!(
                got,
                hash_hex(want.as_str().unwrap()),
                "node {level}/{index}"
            );
        }
    }
    let roots = file["root_hashes_hex_by_size"].as_array().unwrap();
    assert_eq!(roots.len(), leaves.len() + 1);
    for (size, want) in roots.iter().enumerate() {
        let want = hash_hex(want.as_str().unwrap());
        assert_eq!(root_of(&tree, size as u64), want, "root at size {size}");
        assert_eq!(
            naive_root(&leaves[..size]),
            want,
            "naive root at size {size}"
        );
    }
}

/// RFC 6962 §2.1.3's tree of seven leaves: its audit paths and consistency
/// proofs, node by node.
#[test]
fn the_rfc_6962_example_proofs_are_made_node_for_node() {
    let file = json("rfc6962/example-7-leaves.json");
    let size = file["tree_size"].as_u64().unwrap();
    let leaves: Vec<Vec<u8>> = (0..size).map(|i| format!("d{i}").into_bytes()).collect();
    let tree = tree_of(&leaves);
    let label = |name: &Value| -> Hash {
        let range = &file["labels"][name.as_str().unwrap()];
        let (start, end) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
        naive_root(&leaves[start as usize..end as usize])
    };
    let root = root_of(&tree, size);
    for (index, want) in file["audit_paths"].as_object().unwrap() {
        let index: u64 = index.parse().unwrap();
        let want: Vec<Hash> = want.as_array().unwrap().iter().map(label).collect();
        let proof = inclusion_proof(&tree, index, size).unwrap().unwrap();
        assert_eq!(proof, want, "audit path of d{index}");
        verify_inclusion(
            &leaf_hash(&leaves[index as usize]),
            index,
            size,
            &proof,
            &root,
        )
        .unwrap();
    }
    for (old, want) in file["consistency_proofs"].as_object().unwrap() {
        let old: u64 = old.parse().unwrap();
        let want: Vec<Hash> = want.as_array().unwrap().iter().map(label).collect();
        let proof = consistency_proof(&tree, old, size).unwrap().unwrap();
        assert_eq!(proof, want, "PROOF({old}, D[{size}])");
        verify_consistency(old, size, &root_of(&tree, old), &root, &proof).unwrap();
    }
}

/// transparency-dev/merkle's probes of inclusion verifiers, every one of
/// them run. One differs from upstream's outcome because of the stand-ins:
/// its empty leaf hash and empty root are the same placeholder, which then
/// verifies as a one-leaf tree.
#[test]
fn the_inclusion_probes_are_accepted_or_refused_as_they_say() {
    let files = files_under(&crate::test_vectors::path(
        "transparency-dev-merkle/testdata/inclusion",
    ));
    assert_eq!(files.len(), 98);
    let stand_in_artefacts = ["single-entry/empty-root-and-leaf.json"];
    for path in files {
        let case = json_at(&path);
        let outcome = verify_inclusion(
            &hash_b64(&case["leafHash"]),
            case["leafIdx"].as_u64().unwrap(),
            case["treeSize"].as_u64().unwrap(),
            &hashes_b64(&case["proof"]),
            &hash_b64(&case["root"]),
        );
        let mut want_ok = !case["wantErr"].as_bool().unwrap();
        if stand_in_artefacts.iter().any(|p| path.ends_with(p)) {
            want_ok = !want_ok;
        }
        assert_eq!(outcome.is_ok(), want_ok, "{}: {outcome:?}", path.display());
    }
}

/// transparency-dev/merkle's probes of consistency verifiers, every one of
/// them run. One differs from upstream's outcome, as the vectors'
/// SOURCE.md says: upstream refuses any proof from size 0, where C2SP
/// tlog-witness holds the empty tree consistent with any tree by an empty
/// proof.
#[test]
fn the_consistency_probes_are_accepted_or_refused_as_they_say() {
    let files = files_under(&crate::test_vectors::path(
        "transparency-dev-merkle/testdata/consistency",
    ));
    assert_eq!(files.len(), 98);
    let tlog_witness_rule = ["additional/size1-is-zero-and-size2-is-not-zero.json"];
    for path in files {
        let case = json_at(&path);
        let outcome = verify_consistency(
            case["size1"].as_u64().unwrap(),
            case["size2"].as_u64().unwrap(),
            &hash_b64(&case["root1"]),
            &hash_b64(&case["root2"]),
            &hashes_b64(&case["proof"]),
        );
        let mut want_ok = !case["wantErr"].as_bool().unwrap();
        if tlog_witness_rule.iter().any(|p| path.ends_with(p)) {
            want_ok = !want_ok;
        }
        assert_eq!(outcome.is_ok(), want_ok, "{}: {outcome:?}", path.display());
    }
}

/// The empty tree is consistent with any tree by an empty proof (C2SP
/// tlog-witness), and no proof from it is anything but empty.
#[test]
fn the_empty_tree_is_consistent_with_every_tree_by_an_empty_proof() {
    let leaves: Vec<Vec<u8>> = (0..8).map(|i| format!("leaf {i}").into_bytes()).collect();
    let tree = tree_of(&leaves);
    let root = root_of(&tree, 8);
    assert_eq!(
        consistency_proof(&tree, 0, 8).unwrap().unwrap(),
        Vec::<Hash>::new()
    );
    verify_consistency(0, 8, &empty_root(), &root, &[]).unwrap();
    assert!(verify_consistency(0, 8, &root, &root, &[]).is_err());
    assert!(verify_consistency(0, 8, &empty_root(), &root, &[root]).is_err());
    verify_consistency(8, 8, &root, &root, &[]).unwrap();
    verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
    assert!(verify_consistency(0, 0, &root, &root, &[]).is_err());
    assert!(root_of_checked(&tree, 9).is_err());
    assert!(verify_consistency(8, 8, &root, &[0; 32], &[]).is_err());
    assert!(verify_consistency(8, 7, &root, &root, &[]).is_err());
    assert!(inclusion_proof(&tree, 8, 8).unwrap().is_err());
}

fn flip(proof: &[Hash], which: usize, bit: u8) -> Vec<Hash> {
    let mut out = proof.to_vec();
    out[which][usize::from(bit) % 32] ^= 1 << (bit % 8);
    out
}

/// Every inclusion proof of every tree of up to 48 leaves ("leaf 0"…, the
/// sumdb/tlog pattern) verifies, and none survives a change.
#[test]
fn every_inclusion_proof_up_to_48_leaves_verifies_and_no_corruption_does() {
    let leaves: Vec<Vec<u8>> = (0..48).map(|i| format!("leaf {i}").into_bytes()).collect();
    let tree = tree_of(&leaves);
    assert_eq!(tree.size(), 48);
    for size in 1..=48u64 {
        let root = root_of(&tree, size);
        assert_eq!(root, naive_root(&leaves[..size as usize]), "size {size}");
        for index in 0..size {
            let leaf = leaf_hash(&leaves[index as usize]);
            let proof = inclusion_proof(&tree, index, size).unwrap().unwrap();
            assert_eq!(proof.len(), inclusion_len(index, size));
            verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
            let refused = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
                assert!(
                    verify_inclusion(leaf, index, size, proof, root).is_err(),
                    "accepted a corruption of leaf {index} in {size}"
                );
            };
            for which in 0..proof.len() {
                refused(
                    &leaf,
                    index,
                    size,
                    &flip(&proof, which, (index + size) as u8),
                    &root,
                );
            }
            if let Some((_, shorter)) = proof.split_last() {
                refused(&leaf, index, size, shorter, &root);
            }
            let mut longer = proof.clone();
            longer.push(root);
            refused(&leaf, index, size, &longer, &root);
            for other in [index.wrapping_sub(1), index + 1] {
                if other < size {
                    refused(&leaf, other, size, &proof, &root);
                }
            }
            if size < 48 {
                refused(&leaf, index, size + 1, &proof, &root_of(&tree, size + 1));
            }
            refused(&leaf_hash(b"another leaf"), index, size, &proof, &root);
            refused(&leaf, index, size, &proof, &leaf_hash(b"not a root"));
        }
    }
}

/// Every consistency proof between trees of up to 48 leaves verifies, and
/// none survives a change.
#[test]
fn every_consistency_proof_up_to_48_leaves_verifies_and_no_corruption_does() {
    let leaves: Vec<Vec<u8>> = (0..48).map(|i| format!("leaf {i}").into_bytes()).collect();
    let tree = tree_of(&leaves);
    for new in 0..=48u64 {
        let new_root = root_of(&tree, new);
        for old in 0..=new {
            let old_root = root_of(&tree, old);
            let proof = consistency_proof(&tree, old, new).unwrap().unwrap();
            assert_eq!(proof.len(), consistency_len(old, new));
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
            let refused = |old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]| {
                assert!(
                    verify_consistency(old, new, old_root, new_root, proof).is_err(),
                    "accepted a corruption of {old} → {new}"
                );
            };
            for which in 0..proof.len() {
                let bit = (old * 7 + new) as u8;
                refused(old, new, &old_root, &new_root, &flip(&proof, which, bit));
            }
            if let Some((_, shorter)) = proof.split_last() {
                refused(old, new, &old_root, &new_root, shorter);
            }
            let mut longer = proof.clone();
            longer.push(new_root);
            refused(old, new, &old_root, &new_root, &longer);
            let wrong = leaf_hash(b"not a root");
            if old > 0 {
                refused(old, new, &wrong, &new_root, &proof);
                refused(old, new, &old_root, &wrong, &proof);
            }
            if old > 0 && old < new {
                // The proof is for this pair of sizes only.
                refused(old - 1, new, &root_of(&tree, old - 1), &new_root, &proof);
                if new < 48 {
                    refused(old, new + 1, &old_root, &root_of(&tree, new + 1), &proof);
                }
            }
        }
    }
}

/// The function cases of the constructed vectors (tests/vectors/tlog/
/// constructed/manifest.json): the size a proof is checked with is bound by
/// the signed checkpoint, not by the proof, so a path of the same shape
/// verifies at another size.
#[test]
fn the_constructed_function_cases_are_accepted_or_refused_as_they_say() {
    let file = json("constructed/manifest.json");
    let cases = file["function_cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let args = &case["args"];
        let hashes = |v: &Value| -> Vec<Hash> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|h| hash_hex(h.as_str().unwrap()))
                .collect()
        };
        let h = |v: &Value| hash_hex(v.as_str().unwrap());
        let outcome = match case["fn"].as_str().unwrap() {
            "verify_inclusion" => verify_inclusion(
                &h(&args["leaf_hash"]),
                args["index"].as_u64().unwrap(),
                args["size"].as_u64().unwrap(),
                &hashes(&args["proof"]),
                &h(&args["root"]),
            ),
            "verify_consistency" => verify_consistency(
                args["size1"].as_u64().unwrap(),
                args["size2"].as_u64().unwrap(),
                &h(&args["root1"]),
                &h(&args["root2"]),
                &hashes(&args["proof"]),
            ),
            other => panic!("unknown function {other}"),
        };
        let want_ok = case["expect"].as_str() == Some("ok");
        assert_eq!(outcome.is_ok(), want_ok, "{}: {outcome:?}", case["name"]);
    }
}
