//! The tree's files against the tree in memory (`merkle::MemoryTree`):
//! the same nodes, roots and proofs, across writes, reopens and cuts.

use sha2::{Digest as _, Sha256};

use super::*;
use crate::domain::merkle::{self, MemoryTree};

fn leaf(i: u64) -> Hash {
    Sha256::digest(i.to_be_bytes()).into()
}

/// Every complete subtree of `memory` (up to `size` leaves) read from the
/// files is the one in memory.
fn same_nodes(nodes: &TreeNodes, memory: &MemoryTree, size: u64) {
    for level in 0..64 - size.leading_zeros() {
        for index in 0..size >> level {
            assert_eq!(
                nodes.node(level, index).unwrap(),
                memory.node(level, index).unwrap(),
                "level {level}, index {index} of {size}"
            );
        }
    }
}

/// A tree of `n` leaves written and recorded in `dir`, and the same in
/// memory.
fn written(dir: &Path, n: u64) -> MemoryTree {
    let mut memory = MemoryTree::default();
    let (mut writer, _) = TreeWriter::open(dir, 0).unwrap();
    for i in 0..n {
        memory.push(leaf(i));
        writer.push(leaf(i));
    }
    writer.record_checkpoint(b"note\n").unwrap();
    memory
}

#[test]
fn the_files_hold_the_nodes_and_roots_of_the_tree_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, nodes) = TreeWriter::open(dir.path(), 0).unwrap();
    let mut memory = MemoryTree::default();
    // Past two tile levels (65,536 leaves), written in uneven runs.
    let total = 65_536 + 300;
    let mut runs = [1u64, 255, 1, 256, 4_000, 7].iter().cycle();
    while memory.size() < total {
        let run = (*runs.next().unwrap()).min(total - memory.size());
        for _ in 0..run {
            let l = leaf(memory.size());
            memory.push(l);
            writer.push(l);
        }
        writer.write().unwrap();
        let size = memory.size();
        assert_eq!(writer.size(), size);
        assert_eq!(
            merkle::root(&nodes, size).unwrap(),
            merkle::root(&memory, size).unwrap(),
            "root at {size}"
        );
    }
    writer.record_checkpoint(b"note\n").unwrap();
    same_nodes(&nodes, &memory, total);
    for (index, size) in [
        (0, 1),
        (5, 300),
        (65_535, 65_536),
        (70, total),
        (total - 1, total),
    ] {
        assert_eq!(
            merkle::inclusion_proof(&nodes, index, size).unwrap(),
            merkle::inclusion_proof(&memory, index, size).unwrap()
        );
    }
    for (old, new) in [
        (1, 2),
        (256, 257),
        (300, 65_536),
        (65_536, total),
        (12_345, total),
    ] {
        assert_eq!(
            merkle::consistency_proof(&nodes, old, new).unwrap(),
            merkle::consistency_proof(&memory, old, new).unwrap()
        );
    }
    // Nothing past what was written.
    let err = nodes.node(0, total).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(nodes.node(17, 0).is_err());
}

#[test]
fn an_open_cuts_the_files_back_to_the_size_kept_and_grows_the_same_tree_again() {
    let dir = tempfile::tempdir().unwrap();
    let memory = written(dir.path(), 1_000);
    for keep in [600, 256, 0, 513] {
        let (mut writer, nodes) = TreeWriter::open(dir.path(), keep).unwrap();
        assert_eq!(writer.size(), keep);
        let len = std::fs::metadata(dir.path().join("level-0")).unwrap().len();
        assert_eq!(len, keep * 32);
        for i in keep..1_000 {
            writer.push(leaf(i));
        }
        writer.write().unwrap();
        same_nodes(&nodes, &memory, 1_000);
    }
    // More kept than the files hold: as many as they hold.
    let (writer, _) = TreeWriter::open(dir.path(), 5_000).unwrap();
    assert_eq!(writer.size(), 1_000);
}

#[test]
fn a_level_that_lost_entries_cuts_the_tree_to_what_every_level_holds() {
    let dir = tempfile::tempdir().unwrap();
    let memory = written(dir.path(), 1_000);
    // Level 1 lost its last two entries (a crash before they reached
    // the disk): the tree keeps the 512 leaves they both cover.
    let level1 = dir.path().join("level-1");
    let file = OpenOptions::new().write(true).open(&level1).unwrap();
    file.set_len(32).unwrap();
    let (writer, nodes) = TreeWriter::open(dir.path(), u64::MAX).unwrap();
    assert_eq!(writer.size(), 256);
    same_nodes(&nodes, &memory, 256);
    // A torn last entry counts as missing.
    let level0 = dir.path().join("level-0");
    OpenOptions::new()
        .write(true)
        .open(&level0)
        .unwrap()
        .set_len(100 * 32 + 7)
        .unwrap();
    let (writer, nodes) = TreeWriter::open(dir.path(), u64::MAX).unwrap();
    assert_eq!(writer.size(), 100);
    same_nodes(&nodes, &memory, 100);
    assert_eq!(std::fs::metadata(&level1).unwrap().len(), 0);
}

#[test]
fn a_recorded_checkpoint_is_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(recorded_checkpoint(dir.path()).unwrap(), None);
    let (mut writer, _) = TreeWriter::open(dir.path(), 0).unwrap();
    writer.push(leaf(0));
    writer.record_checkpoint(b"first\n").unwrap();
    writer.record_checkpoint(b"second\n").unwrap();
    assert_eq!(
        recorded_checkpoint(dir.path()).unwrap().as_deref(),
        Some(&b"second\n"[..])
    );
    assert!(!dir.path().join("checkpoint.partial").exists());
    // What was pushed before the record is in the files.
    assert_eq!(
        std::fs::metadata(dir.path().join("level-0")).unwrap().len(),
        32
    );
}
