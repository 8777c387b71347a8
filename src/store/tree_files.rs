//! The log's Merkle tree on disk (issue 16): the hashes of tlog-tiles,
//! one file a level, in `tree/` beside the log's files.
//!
//! `tree/level-<L>` holds level L's hashes, 32 bytes each, in order:
//! level 0 the leaf hashes, and entry j of level L (L ≥ 1) the root of
//! the 256^L leaves from j · 256^L, written once those leaves are all in
//! the tree. Tile N of level L (c2sp.org/tlog-tiles, full tiles of 256)
//! is the file's bytes from 8,192 · N: the same hashes as the tiles,
//! laid end to end in a file a level rather than a file a tile, so that
//! an append is one write a level and a proof's node one read. A complete
//! subtree of height h is hashed from at most 128 entries of level h / 8
//! (4 KiB): an inclusion or consistency proof reads O(log n) runs.
//!
//! Derived data, written by one thread (`TreeWriter`) and read by any
//! (`TreeNodes`, with positioned reads). The writer syncs the files
//! before a checkpoint that covers them is recorded, and an open cuts
//! them back to the size that checkpoint gives (what lies past it may
//! not have reached the disk whole): the tree is then grown again from
//! the log.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::domain::merkle::{node_hash, Nodes};
use crate::domain::Hash;

/// The tree's directory in the data directory.
pub(crate) const TREE_DIR: &str = "tree";

/// The last checkpoint recorded, in the tree's directory: the signed
/// note's bytes, written after the level files are synced.
const CHECKPOINT_FILE: &str = "checkpoint";

/// A tile's height: a level's entry covers 2^8 of the level below.
const TILE_HEIGHT: u32 = 8;
const TILE_WIDTH: usize = 1 << TILE_HEIGHT;
const HASH: u64 = 32;

/// The level files, shared by the writer and the readers.
type Files = Arc<RwLock<Vec<File>>>;

/// Full tiles whose inner hashes were computed, at most this many (8 KiB
/// each): a proof's nodes then cost no hashing when its tiles were used
/// lately (the upper levels' few tiles nearly always are).
const CACHED_TILES: usize = 1024;

/// Nodes of the tiles at the right edge kept (32 bytes each).
const CACHED_EDGE_NODES: usize = 4096;

/// A full tile's inner hashes, heights 1 to 8 within it, row after row
/// (128, 64, …, 1).
type TileRows = Arc<Vec<Hash>>;

/// The tree's nodes as readers see them: every complete subtree within
/// the leaves the writer has written (`TreeWriter::write`).
#[derive(Clone)]
pub(crate) struct TreeNodes {
    files: Files,
    tiles: Arc<quick_cache::sync::Cache<(usize, u64), TileRows>>,
    /// Nodes within the tile at a level's right edge, which is not full:
    /// every proof at one checkpoint needs the same few, and a complete
    /// subtree's hash never changes.
    edge: Arc<quick_cache::sync::Cache<(u32, u64), Hash>>,
}

impl std::fmt::Debug for TreeNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeNodes").finish_non_exhaustive()
    }
}

impl Nodes for TreeNodes {
    type Error = io::Error;

    /// The root of leaves `index · 2^level ..`: the entries of tile level
    /// `level / 8` under it, hashed up `level % 8` times.
    fn node(&self, level: u32, index: u64) -> Result<Hash, io::Error> {
        let tile_level = (level / TILE_HEIGHT) as usize;
        let up = level % TILE_HEIGHT;
        let first = index
            .checked_mul(1 << up)
            .filter(|first| first.checked_mul(HASH).is_some())
            .ok_or_else(|| no_node(level, index))?;
        if up > 0 {
            if let Some(hash) = self.edge.get(&(level, index)) {
                return Ok(hash);
            }
        }
        if up == 0 {
            return Ok(self.read(tile_level, first, 1, level, index)?[0]);
        }
        // Within a full tile: its rows, cached.
        let tile = first / TILE_WIDTH as u64;
        let rows = match self.tiles.get(&(tile_level, tile)) {
            Some(rows) => Some(rows),
            None => match self.read(
                tile_level,
                tile * TILE_WIDTH as u64,
                TILE_WIDTH,
                level,
                index,
            ) {
                Ok(entries) => {
                    let rows = Arc::new(tile_rows(entries));
                    self.tiles.insert((tile_level, tile), Arc::clone(&rows));
                    Some(rows)
                }
                // The tile at the tree's right edge is not full yet.
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            },
        };
        if let Some(rows) = rows {
            // Row `up` starts after the rows below it: 256 − 2 · (256 >> up).
            let start = TILE_WIDTH - 2 * (TILE_WIDTH >> up);
            let at = (index - (tile << (TILE_HEIGHT - up))) as usize;
            return Ok(rows[start + at]);
        }
        let hash = subtree_root(self.read(tile_level, first, 1 << up, level, index)?);
        self.edge.insert((level, index), hash);
        Ok(hash)
    }
}

/// The root of a complete subtree from its bottom row (a power of two
/// hashes, at least one).
fn subtree_root(mut row: Vec<Hash>) -> Hash {
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    row[0]
}

impl TreeNodes {
    /// `count` entries of tile level `tile_level` from entry `first`;
    /// NotFound, naming the node (`level`, `index`) asked for, if the file
    /// does not hold them all.
    fn read(
        &self,
        tile_level: usize,
        first: u64,
        count: usize,
        level: u32,
        index: u64,
    ) -> io::Result<Vec<Hash>> {
        let mut bytes = vec![0; count * HASH as usize];
        let files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        let file = files.get(tile_level).ok_or_else(|| no_node(level, index))?;
        file.read_exact_at(&mut bytes, first * HASH)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => no_node(level, index),
                _ => e,
            })?;
        Ok(bytes
            .chunks_exact(HASH as usize)
            .map(|c| c.try_into().expect("32-byte chunks"))
            .collect())
    }
}

/// A full tile's inner hashes from its 256 entries: the rows of heights 1
/// to 8 within it, one after another.
fn tile_rows(entries: Vec<Hash>) -> Vec<Hash> {
    let mut rows = Vec::with_capacity(TILE_WIDTH - 1);
    let mut row = entries;
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
        rows.extend_from_slice(&row);
    }
    rows
}

fn no_node(level: u32, index: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("the tree's files hold no complete subtree at level {level}, index {index}"),
    )
}

/// Appends leaves. One at a time: the tree thread's.
pub(crate) struct TreeWriter {
    dir: PathBuf,
    files: Files,
    /// Leaves pushed, written or not.
    size: u64,
    /// Each level's entries in its file.
    written: Vec<u64>,
    /// Each level's entries pushed and not written yet, as bytes.
    pending: Vec<Vec<u8>>,
    /// Each level's entries since its last complete group of 256, which
    /// the next level's entry will be hashed from.
    edge: Vec<Vec<Hash>>,
    /// A level file was made since the last sync: sync the directory.
    new_file: bool,
}

impl std::fmt::Debug for TreeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeWriter")
            .field("dir", &self.dir)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl TreeWriter {
    /// Opens the tree in `dir` (made if missing), cut back to at most
    /// `keep` leaves: fewer if its files hold fewer whole.
    pub(crate) fn open(dir: &Path, keep: u64) -> io::Result<(Self, TreeNodes)> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        let mut lengths = Vec::new();
        loop {
            let path = level_path(dir, files.len());
            let file = match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(named(&path, e)),
            };
            lengths.push(file.metadata().map_err(|e| named(&path, e))?.len() / HASH);
            files.push(file);
        }
        // The most leaves every level agrees on: level L must hold
        // size / 256^L entries.
        let mut size = keep.min(lengths.first().copied().unwrap_or(0));
        for (level, &held) in lengths.iter().enumerate().skip(1) {
            let shift = TILE_HEIGHT * level as u32;
            if shift < 64 && (size >> shift) > held {
                size = held << shift;
            }
        }
        let mut written = Vec::new();
        let mut edge = Vec::new();
        for (level, file) in files.iter().enumerate() {
            let shift = TILE_HEIGHT * level as u32;
            let entries = if shift < 64 { size >> shift } else { 0 };
            let path = level_path(dir, level);
            file.set_len(entries * HASH).map_err(|e| named(&path, e))?;
            let tail = (entries % TILE_WIDTH as u64) as usize;
            let mut bytes = vec![0; tail * HASH as usize];
            file.read_exact_at(&mut bytes, (entries - tail as u64) * HASH)
                .map_err(|e| named(&path, e))?;
            edge.push(
                bytes
                    .chunks_exact(HASH as usize)
                    .map(|c| Hash::try_from(c).expect("32-byte chunks"))
                    .collect(),
            );
            written.push(entries);
        }
        let pending = vec![Vec::new(); files.len()];
        let files = Arc::new(RwLock::new(files));
        let writer = Self {
            dir: dir.to_owned(),
            files: Arc::clone(&files),
            size,
            written,
            pending,
            edge,
            new_file: false,
        };
        let nodes = TreeNodes {
            files,
            tiles: Arc::new(quick_cache::sync::Cache::new(CACHED_TILES)),
            edge: Arc::new(quick_cache::sync::Cache::new(CACHED_EDGE_NODES)),
        };
        Ok((writer, nodes))
    }

    /// Leaves pushed.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Leaves written to the files (readers see them): `size()` once
    /// `write` has succeeded.
    pub(crate) fn written(&self) -> u64 {
        self.written.first().copied().unwrap_or(0)
    }

    /// Appends a leaf's hash; readers see it after `write`.
    pub(crate) fn push(&mut self, leaf: Hash) {
        self.size += 1;
        let mut entry = leaf;
        let mut level = 0;
        loop {
            if self.edge.len() == level {
                self.edge.push(Vec::with_capacity(TILE_WIDTH));
                self.pending.push(Vec::new());
                self.written.push(0);
            }
            self.pending[level].extend_from_slice(&entry);
            let edge = &mut self.edge[level];
            edge.push(entry);
            if edge.len() < TILE_WIDTH {
                return;
            }
            entry = subtree_root(std::mem::take(edge));
            level += 1;
        }
    }

    /// Writes what was pushed to the files (not synced): readers see it.
    pub(crate) fn write(&mut self) -> io::Result<()> {
        for level in 0..self.pending.len() {
            if self.pending[level].is_empty() {
                continue;
            }
            let path = level_path(&self.dir, level);
            if self.read_files().len() == level {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(|e| named(&path, e))?;
                self.files
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(file);
                self.new_file = true;
            }
            self.read_files()[level]
                .write_all_at(&self.pending[level], self.written[level] * HASH)
                .map_err(|e| named(&path, e))?;
            self.written[level] += self.pending[level].len() as u64 / HASH;
            self.pending[level].clear();
        }
        Ok(())
    }

    /// Writes and syncs what was pushed, then records `note` (a signed
    /// checkpoint of `size()` leaves) as the last checkpoint, replacing
    /// the one before it whole (a new file renamed over it).
    pub(crate) fn record_checkpoint(&mut self, note: &[u8]) -> io::Result<()> {
        self.write()?;
        self.sync()?;
        crate::durable_file::write_whole(&self.dir.join(CHECKPOINT_FILE), note)
    }

    /// Syncs what was written.
    fn sync(&mut self) -> io::Result<()> {
        let files = self.read_files();
        for (level, file) in files.iter().enumerate() {
            file.sync_data()
                .map_err(|e| named(&level_path(&self.dir, level), e))?;
        }
        drop(files);
        if self.new_file {
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| named(&self.dir, e))?;
            self.new_file = false;
        }
        Ok(())
    }

    fn read_files(&self) -> std::sync::RwLockReadGuard<'_, Vec<File>> {
        self.files.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The last checkpoint recorded in the tree's directory `dir`, if any.
pub(crate) fn recorded_checkpoint(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    let path = dir.join(CHECKPOINT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(named(&path, e)),
    }
}

/// The origin a log without a configured one took at its first start,
/// kept in the tree's directory `dir` so that it stays the log's name
/// across key rotations; `default` is taken and kept if none is.
pub(crate) fn default_origin(dir: &Path, default: &str) -> io::Result<String> {
    let path = dir.join("origin");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(named(&path, e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
    std::fs::write(&path, format!("{default}\n")).map_err(|e| named(&path, e))?;
    Ok(default.to_owned())
}

fn level_path(dir: &Path, level: usize) -> PathBuf {
    dir.join(format!("level-{level}"))
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
