//! The log as an RFC 6962 Merkle tree (RFC 9162 §2.1): leaf and node
//! hashes, the tree's root at any size, inclusion and consistency proofs,
//! and their verification.
//!
//! A tree is read through [`Nodes`]: the hash of each complete subtree,
//! `2^level` leaves from `index · 2^level`, which is what tlog-tiles
//! stores. Every hash a proof needs is one such node or is computed from
//! O(log n) of them, so a proof costs O(log n) reads of any store that
//! keeps them. [`MemoryTree`] keeps them all in memory.
//!
//! The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. Two
//! cases the RFC leaves to the caller are settled as C2SP tlog-witness
//! settles them: a tree of size 0 (whose root is SHA-256 of no bytes) is
//! consistent with any tree, by an empty proof; a tree is consistent with itself by an empty proof, if
//! the two roots are equal.

use sha2::{Digest, Sha256};

use super::chain::Hash;

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProofError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("the old tree size {old} is larger than the new one {new}")]
    SizesReversed { old: u64, new: u64 },
    #[error("the proof has {got} hashes where {want} are needed")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// The hash of the leaf that holds `data`: SHA-256(0x00 ‖ data).
pub(crate) fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub(crate) fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The leaf of the commit whose hash is `commit` (docs/AUDIT.md, "The
/// Merkle tree"): leaf i holds the commit at global position i + 1, its
/// data the commit's hash then the digest of the answer as it stands after
/// it (`chain::answer_digest`).
pub(crate) fn commit_leaf(commit: &Hash, answer: &Hash) -> Hash {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(commit);
    data[32..].copy_from_slice(answer);
    leaf_hash(&data)
}

/// The root of the empty tree: SHA-256 of no bytes.
pub(crate) fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hashes of a tree's complete subtrees: `node(level, index)` is the
/// root of leaves `index · 2^level .. (index + 1) · 2^level`, level 0 the
/// leaf hashes. Asked only for subtrees within the tree's size.
pub(crate) trait Nodes {
    type Error;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two below `n` (n ≥ 2): where RFC 6962 splits a
/// tree of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:end]), the root of the leaves `start..end` (RFC 9162
/// §2.1.1), from the complete subtrees it is made of.
fn range_root<N: Nodes>(nodes: &N, start: u64, end: u64) -> Result<Hash, N::Error> {
    debug_assert!(start <= end);
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start % n == 0 {
        let level = n.trailing_zeros();
        return nodes.node(level, start >> level);
    }
    let k = split(n);
    let left = range_root(nodes, start, start + k)?;
    let right = range_root(nodes, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree's first `size` leaves.
pub(crate) fn root<N: Nodes>(nodes: &N, size: u64) -> Result<Hash, N::Error> {
    range_root(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves:
/// PATH(m, D[n]) of RFC 9162 §2.1.3.1, the sibling nearest the leaf first.
pub(crate) fn inclusion_proof<N: Nodes>(
    nodes: &N,
    index: u64,
    size: u64,
) -> Result<Result<Vec<Hash>, ProofError>, N::Error> {
    if index >= size {
        return Ok(Err(ProofError::IndexBeyondSize { index, size }));
    }
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Ok(Ok(proof))
}

/// PATH(m, D[start:end]), appended to `proof` deepest first.
fn path<N: Nodes>(
    nodes: &N,
    m: u64,
    start: u64,
    end: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(nodes, m, start, start + k, proof)?;
        proof.push(range_root(nodes, start + k, end)?);
    } else {
        path(nodes, m - k, start + k, end, proof)?;
        proof.push(range_root(nodes, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves:
/// PROOF(m, D[n]) of RFC 9162 §2.1.4.1; empty when `old` is 0 or equals
/// `new`.
pub(crate) fn consistency_proof<N: Nodes>(
    nodes: &N,
    old: u64,
    new: u64,
) -> Result<Result<Vec<Hash>, ProofError>, N::Error> {
    if old > new {
        return Ok(Err(ProofError::SizesReversed { old, new }));
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(nodes, old, 0, new, true, &mut proof)?;
    }
    Ok(Ok(proof))
}

/// SUBPROOF(m, D[start:end], b), appended to `proof` deepest first.
fn subproof<N: Nodes>(
    nodes: &N,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            proof.push(range_root(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, start, start + k, whole, proof)?;
        proof.push(range_root(nodes, start + k, end)?);
    } else {
        subproof(nodes, m - k, start + k, end, false, proof)?;
        proof.push(range_root(nodes, start, start + k)?);
    }
    Ok(())
}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub(crate) fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix
/// of the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub(crate) fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesReversed { old, new });
    }
    let want = consistency_len(old, new);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    if old == 0 {
        // The empty tree's root is fixed; the new tree may be any (of
        // size 0 too, then with the same root).
        return if *old_root == empty_root() && (new > 0 || new_root == old_root) {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // Step 2: a power-of-two old tree is itself a node of the new one.
    let prefixed: Vec<Hash>;
    let path = if old.is_power_of_two() {
        prefixed = std::iter::once(*old_root)
            .chain(proof.iter().copied())
            .collect();
        &prefixed[..]
    } else {
        proof
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// How many hashes the inclusion proof of `index` in a tree of `size`
/// leaves holds.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = split(n);
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    len
}

/// How many hashes the consistency proof from `old` to `new` leaves holds.
fn consistency_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    let (mut m, mut n, mut whole, mut len) = (old, new, true, 0);
    while m != n {
        let k = split(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            whole = false;
        }
        len += 1;
    }
    len + usize::from(!whole)
}

/// Every complete subtree's hash, in memory: `levels[l][i]` is
/// `node(l, i)`. Grows a leaf at a time.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// How many leaves the tree holds.
    pub(crate) fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf (its hash), completing the subtrees it ends.
    pub(crate) fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if row.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }
}

/// A node a tree does not hold: asked of a size beyond the tree's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree holds no complete subtree at level {level}, index {index}")]
pub(crate) struct NoSuchNode {
    pub(crate) level: u32,
    pub(crate) index: u64,
}

impl Nodes for MemoryTree {
    type Error = NoSuchNode;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(level as usize)?.get(i))
            .copied()
            .ok_or(NoSuchNode { level, index })
    }
}

#[cfg(test)]
mod tests;
