//! Small files replaced whole, so that a crash leaves the old content or
//! the new, never a mix: a new file written and synced beside the old,
//! renamed over it, and the directory synced so that the rename lasts.

use std::io::{self, Write as _};
use std::path::Path;

/// Writes `bytes` to `path` whole (see the module). Errors name the path.
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let named =
        |path: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = Path::new(&partial);
    let mut file = std::fs::File::create(partial).map_err(|e| named(partial, e))?;
    file.write_all(bytes).map_err(|e| named(partial, e))?;
    file.sync_all().map_err(|e| named(partial, e))?;
    drop(file);
    std::fs::rename(partial, path).map_err(|e| named(path, e))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| named(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_whole(&path, b"first").unwrap();
        write_whole(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state"]);
        let e = write_whole(&dir.path().join("missing/state"), b"x").unwrap_err();
        assert!(e.to_string().contains("missing/state.partial"), "{e}");
    }
}
