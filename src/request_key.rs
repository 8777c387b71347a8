//! The log's request key: the secret that request hashes are keyed with
//! (docs/AUDIT.md, "Request hashes").
//!
//! Every commit keeps a hash of the request that made it, so that a retry
//! of its command id is told from a reuse by another request. A plain
//! SHA-256 of the request would let anyone who holds an export test
//! guesses of a request's content against it, content that a redaction
//! removed included. So the hash is an HMAC-SHA256 under a secret of the
//! log's: 32 random bytes, the same for every replica and restore of one
//! log, so that each of them answers a retry the same way.
//!
//! Where it is kept: the file given by `request_key_file`
//! (`--request-key`); else `DATA_DIR/request-key`, made on first start;
//! on a replica of the JetStream log without a given file, in the log's
//! key-value bucket, where the first replica to start puts it (and each
//! replica keeps a copy in its data directory). The file holds the key as
//! 64 hex digits, mode 0600; it is never in a backup or an export.

use std::io::Write as _;
use std::path::Path;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::domain::{hex, RequestHash};
use crate::signing::unhex;

/// The file in the data directory that holds the key when none is given.
pub(crate) const FILE: &str = "request-key";

#[derive(Clone)]
pub(crate) struct RequestKey([u8; 32]);

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestKey(…)")
    }
}

impl RequestKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A new random key.
    pub(crate) fn random() -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a request key: {e}"))?;
        Ok(Self(bytes))
    }

    /// The key in `path` (64 hex digits).
    pub(crate) fn read(path: &Path) -> Result<Self, String> {
        let looks_like_a_key = |text: &str| {
            let text = text.trim();
            let text = text.strip_prefix("0x").unwrap_or(text);
            unhex::<32>(text).is_some()
        };
        if path.to_str().is_some_and(looks_like_a_key)
            || path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(looks_like_a_key)
        {
            // Not echoed: a key given where its file's path belongs.
            return Err(
                "the request key file's path is 64 hex digits: give the path of a file that holds the key, not the key".into(),
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the request key {}: {e}", path.display()))?;
        unhex::<32>(text.trim()).map(Self).ok_or_else(|| {
            format!(
                "{} does not hold a request key (64 hex digits)",
                path.display()
            )
        })
    }

    /// The key of the data directory `dir`: read, or made and kept there
    /// when it has none.
    pub(crate) fn in_data_dir(dir: &Path) -> Result<Self, String> {
        let path = dir.join(FILE);
        if path.exists() {
            return Self::read(&path);
        }
        let key = Self::random()?;
        key.keep_in(dir)?;
        Ok(key)
    }

    /// The key given by a file, kept in the data directory `dir` too (so
    /// that a start without the file keys hashes alike); refused when the
    /// directory keeps another.
    pub(crate) fn given(path: &Path, dir: &Path) -> Result<Self, String> {
        let key = Self::read(path)?;
        let kept = dir.join(FILE);
        if !kept.exists() {
            key.keep_in(dir)?;
        } else if Self::read(&kept)?.0 != key.0 {
            return Err(format!(
                "{} keeps another request key than {} gives: a store keys request hashes with one key for good (give its own, or move it away to start anew, and retries of commands made before are refused as reuses)",
                kept.display(),
                path.display()
            ));
        }
        Ok(key)
    }

    /// What a store records of its key: enough to tell another key from
    /// it, nothing to find the key by (the first 16 bytes of an HMAC under
    /// it of a fixed text).
    pub(crate) fn id(&self) -> [u8; 16] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"answerlog.request-key.id");
        let mut id = [0; 16];
        id.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        id
    }

    /// Keeps the key in `DATA_DIR/request-key`, replacing what was there,
    /// whole: written beside it (mode 0600), synced, renamed over it, the
    /// directory synced.
    pub(crate) fn keep_in(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(FILE);
        let partial = dir.join(format!("{FILE}.partial"));
        let failed = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial).map_err(|e| failed(&partial, e))?;
        file.write_all(format!("{}\n", hex(&self.0)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| failed(&partial, e))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(|e| failed(&path, e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed(dir, e))
    }

    /// A request's hash: HMAC-SHA256 under this key of the request's
    /// plain SHA-256 `digest` (of the caller, the RPC's name and the
    /// request's bytes, `grpc::write`), which is kept beside it for the
    /// commits made before hashes were keyed.
    pub(crate) fn hash(&self, digest: &[u8; 32]) -> RequestHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(digest);
        RequestHash {
            keyed: mac.finalize().into_bytes().into(),
            unkeyed: *digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn a_data_directory_keeps_its_key_and_another_makes_another() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let first = RequestKey::in_data_dir(one.path()).unwrap();
        let again = RequestKey::in_data_dir(one.path()).unwrap();
        let other = RequestKey::in_data_dir(two.path()).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        assert_ne!(first.bytes(), other.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(one.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!one.path().join(format!("{FILE}.partial")).exists());
    }

    #[test]
    fn the_hash_is_an_hmac_of_the_digest_and_keeps_the_digest_beside_it() {
        let a = RequestKey::from_bytes([1; 32]);
        let b = RequestKey::from_bytes([2; 32]);
        let digest: [u8; 32] = Sha256::digest(b"alice\0EditQuestion\0request").into();
        let ha = a.hash(&digest);
        let hb = b.hash(&digest);
        assert_ne!(ha.keyed, hb.keyed);
        assert_ne!(ha.keyed, digest);
        assert_eq!(ha.unkeyed, digest);
        // RFC 4231 test case 2 fixes the HMAC-SHA256 this uses.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(ha.matches(&ha.keyed) && ha.matches(&digest));
        assert!(!ha.matches(&hb.keyed));
    }

    #[test]
    fn a_given_key_is_kept_in_the_data_directory_and_another_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let one = files.path().join("one");
        let two = files.path().join("two");
        std::fs::write(&one, format!("{}\n", hex(&[1; 32]))).unwrap();
        std::fs::write(&two, format!("{}\n", hex(&[2; 32]))).unwrap();
        let given = RequestKey::given(&one, dir.path()).unwrap();
        assert_eq!(given.bytes(), &[1; 32]);
        assert_eq!(
            RequestKey::in_data_dir(dir.path()).unwrap().bytes(),
            &[1; 32]
        );
        assert_eq!(
            RequestKey::given(&one, dir.path()).unwrap().bytes(),
            &[1; 32]
        );
        let e = RequestKey::given(&two, dir.path()).unwrap_err();
        assert!(e.contains("keeps another request key"), "{e}");
        assert_ne!(given.id(), RequestKey::from_bytes([2; 32]).id());
        // The key where its path belongs is refused without echoing it.
        let e = RequestKey::read(Path::new(&hex(&[3; 32]))).unwrap_err();
        assert!(!e.contains(&hex(&[3; 32])), "{e}");
    }

    #[test]
    fn a_file_without_a_key_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "not hex\n").unwrap();
        let e = RequestKey::read(&path).unwrap_err();
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
}
