//! The public test vectors in `tests/vectors/tlog/` (their SOURCE.md),
//! as the unit tests of `domain::merkle` and `tlog` read them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A file or directory of the vectors.
pub(crate) fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/tlog")
        .join(relative)
}

/// A vector file's bytes.
pub(crate) fn read(relative: &str) -> Vec<u8> {
    let path = path(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file at `path`.
pub(crate) fn json_at(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file of the vectors.
pub(crate) fn json(relative: &str) -> Value {
    json_at(&path(relative))
}

/// Bytes written in hex, as the vectors write them.
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "hex of odd length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
