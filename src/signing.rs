//! The key ring that signs log digests: an Ed25519 key generated into the
//! data directory on first start (or given by configuration), and the
//! history of every key used, so that old digests still verify after a
//! rotation.
//!
//! The ring is `DATA_DIR/signing-keys.toml`, written with mode 0600. It
//! holds the secret of the current key only; retired keys keep their public
//! half.

use crate::domain::hex;
use crate::tlog::note::{Note, NoteSignature};
use crate::verifier_key::VerifierKey;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const RING_FILE: &str = "signing-keys.toml";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the signing key file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot make a key: {0}")]
    Random(#[from] getrandom::Error),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RingFile {
    current: String,
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    public: String,
    /// Only for the current key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired: Option<String>,
}

/// A signature with what is needed to check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signed {
    pub signature: [u8; 64],
    pub key_id: String,
    pub public_key: [u8; 32],
}

pub(crate) struct KeyRing {
    current: SigningKey,
    current_id: String,
    history: Vec<(String, VerifyingKey)>,
}

impl KeyRing {
    /// Opens the ring in `data_dir`, creating it with a new key on first
    /// start. A key file given by configuration (32 bytes of secret as hex)
    /// becomes the current key; the one it replaces is retired.
    pub(crate) fn open(data_dir: &Path, given: Option<&Path>) -> Result<Self, SigningError> {
        std::fs::create_dir_all(data_dir).map_err(|e| file_error(data_dir, e))?;
        let path = data_dir.join(RING_FILE);
        let mut ring = if path.exists() {
            read_ring(&path)?
        } else {
            RingFile::default()
        };
        let mut changed = false;
        if let Some(given) = given {
            let text = std::fs::read_to_string(given).map_err(|e| file_error(given, e))?;
            let key = parse_secret(text.trim()).ok_or_else(|| SigningError::File {
                path: given.to_owned(),
                message: "must hold a 32-byte Ed25519 secret key as 64 hex digits".into(),
            })?;
            let id = key_id(&key.verifying_key());
            if ring.current != id {
                replace(data_dir, &mut ring, &key)?;
                changed = true;
            }
        } else if ring.key.is_empty() {
            install(&mut ring, &new_key()?);
            changed = true;
        }
        if changed {
            write_ring(&path, &ring)?;
        }
        Self::from_file(&path, ring)
    }

    /// Replaces the current key with a new one; the old one is kept, public
    /// half only, so that its digests still verify. Returns the new key id.
    pub(crate) fn rotate(data_dir: &Path) -> Result<String, SigningError> {
        let path = data_dir.join(RING_FILE);
        let mut ring = if path.exists() {
            read_ring(&path)?
        } else {
            RingFile::default()
        };
        let key = new_key()?;
        replace(data_dir, &mut ring, &key)?;
        write_ring(&path, &ring)?;
        Ok(key_id(&key.verifying_key()))
    }

    /// Adds `public` to the ring in `data_dir` (made with a new current key
    /// if there is none yet) as a retired key, so that what it signed
    /// verifies here too: the key of a restored backup's digest, which the
    /// server the backup came from signed. Returns its key id.
    pub(crate) fn adopt(data_dir: &Path, public: &[u8; 32]) -> Result<String, SigningError> {
        Self::open(data_dir, None)?;
        let path = data_dir.join(RING_FILE);
        let key = VerifyingKey::from_bytes(public).map_err(|e| SigningError::File {
            path: path.clone(),
            message: format!("the adopted public key is not an Ed25519 key: {e}"),
        })?;
        let id = key_id(&key);
        let mut ring = read_ring(&path)?;
        if !ring.key.iter().any(|k| k.id == id) {
            let now = chrono::Utc::now().to_rfc3339();
            ring.key.insert(
                0,
                KeyEntry {
                    id: id.clone(),
                    public: hex(public),
                    secret: None,
                    created: now.clone(),
                    retired: Some(now),
                },
            );
            write_ring(&path, &ring)?;
        }
        Ok(id)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signed {
        Signed {
            signature: self.current.sign(message).to_bytes(),
            key_id: self.current_id.clone(),
            public_key: self.current.verifying_key().to_bytes(),
        }
    }

    /// The current key's id.
    pub(crate) fn current_id(&self) -> &str {
        &self.current_id
    }

    /// The current key as auditors pin it for notes signed as `name`.
    pub(crate) fn verifier_key(&self, name: &str) -> Result<VerifierKey, String> {
        VerifierKey::new(name, self.current.verifying_key().to_bytes())
    }

    /// Signs `text` as a C2SP signed note by `name` (a checkpoint's
    /// origin) with the current key: the signature line.
    pub(crate) fn sign_note(&self, text: &str, name: &str) -> Result<NoteSignature, String> {
        crate::tlog::note::sign(text, name, &self.current)
    }

    /// Whether the note `bytes` carries a signature by the current key
    /// under `name` (not whether it verifies: this server's own note).
    pub(crate) fn signed_note(&self, bytes: &[u8], name: &str) -> bool {
        let Ok(key) = self.verifier_key(name) else {
            return false;
        };
        Note::parse(bytes).is_ok_and(|note| {
            note.signatures
                .iter()
                .any(|s| s.name == name && s.key_id == key.key_id())
        })
    }

    /// Checks a signature made by any key of the ring's history; `Err` says
    /// why not.
    pub(crate) fn verify(&self, message: &[u8], signed: &Signed) -> Result<(), String> {
        let (_, key) = self
            .history
            .iter()
            .find(|(id, _)| *id == signed.key_id)
            .ok_or_else(|| format!("key {} is not in this server's key history", signed.key_id))?;
        if key.to_bytes() != signed.public_key {
            return Err(format!(
                "the public key given is not the one of key {}",
                signed.key_id
            ));
        }
        verify_with(&signed.public_key, message, &signed.signature)
    }

    fn from_file(path: &Path, ring: RingFile) -> Result<Self, SigningError> {
        let bad = |message: String| SigningError::File {
            path: path.to_owned(),
            message,
        };
        let mut history = Vec::new();
        let mut current = None;
        for entry in &ring.key {
            let public = parse_public(&entry.public)
                .ok_or_else(|| bad(format!("key {} has a bad public key", entry.id)))?;
            if entry.id == ring.current {
                let secret = entry
                    .secret
                    .as_deref()
                    .and_then(parse_secret)
                    .ok_or_else(|| {
                        bad(format!("the current key {} has no usable secret", entry.id))
                    })?;
                if secret.verifying_key() != public {
                    return Err(bad(format!(
                        "key {}: secret and public key differ",
                        entry.id
                    )));
                }
                current = Some(secret);
            }
            history.push((entry.id.clone(), public));
        }
        let current = current.ok_or_else(|| bad(format!("no current key {:?}", ring.current)))?;
        Ok(Self {
            current_id: ring.current,
            current,
            history,
        })
    }
}

/// Checks an Ed25519 signature with a public key (offline verification).
pub(crate) fn verify_with(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), String> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|e| format!("bad public key: {e}"))?;
    key.verify(message, &Signature::from_bytes(signature))
        .map_err(|_| "the signature does not verify".to_owned())
}

/// The id of a key: `ed25519:` and the first 8 bytes of the SHA-256 of its
/// public key, in hex.
pub(crate) fn key_id(key: &VerifyingKey) -> String {
    key_id_of(key.as_bytes())
}

/// [`key_id`] of a public key's 32 bytes.
pub(crate) fn key_id_of(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    format!("ed25519:{}", hex(&digest[..8]))
}

/// Makes `key` the ring's current key, once the key it replaces (if the
/// ring holds its secret) has announced it (`key_rotation.rs`): before the
/// ring is written, so that no rotation goes unannounced.
fn replace(data_dir: &Path, ring: &mut RingFile, key: &SigningKey) -> Result<(), SigningError> {
    let old = ring
        .key
        .iter()
        .find(|k| k.id == ring.current)
        .and_then(|k| k.secret.as_deref())
        .and_then(parse_secret);
    if let Some(old) = old {
        let announced =
            crate::key_rotation::announce(data_dir, &old, key.verifying_key().as_bytes()).map_err(
                |message| SigningError::File {
                    path: data_dir.to_owned(),
                    message: format!("the rotation was not announced, so not made: {message}"),
                },
            )?;
        if let Some(path) = announced {
            tracing::info!(
                announcement = %path.display(),
                "the retiring key announced its successor"
            );
        }
    }
    install(ring, key);
    Ok(())
}

fn install(ring: &mut RingFile, key: &SigningKey) {
    let now = chrono::Utc::now().to_rfc3339();
    for entry in &mut ring.key {
        if entry.retired.is_none() {
            entry.retired = Some(now.clone());
        }
        entry.secret = None;
    }
    let id = key_id(&key.verifying_key());
    ring.key.retain(|k| k.id != id);
    ring.key.push(KeyEntry {
        id: id.clone(),
        public: hex(key.verifying_key().as_bytes()),
        secret: Some(hex(&key.to_bytes())),
        created: now,
        retired: None,
    });
    ring.current = id;
}

/// The public half of the current key of the ring in `data_dir`, without
/// creating a ring where there is none (`answerlog keys show`).
pub(crate) fn current_public_key(data_dir: &Path) -> Result<[u8; 32], SigningError> {
    let path = data_dir.join(RING_FILE);
    let ring = read_ring(&path)?;
    ring.key
        .iter()
        .find(|k| k.id == ring.current)
        .and_then(|k| parse_public(&k.public))
        .map(|k| k.to_bytes())
        .ok_or_else(|| SigningError::File {
            path,
            message: format!("the current key {} is not in the ring", ring.current),
        })
}

/// Makes a new Ed25519 key in `path`, its secret as 64 hex digits (mode
/// 0600), for `--signing-key` or a witness; an existing file is never
/// replaced. The key.
pub(crate) fn new_key_file(path: &Path) -> Result<SigningKey, SigningError> {
    use std::io::Write as _;
    let key = new_key()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let exists = |e: std::io::Error| SigningError::File {
        path: path.to_owned(),
        message: format!("{e} (a key file is never replaced)"),
    };
    let mut file = options.open(path).map_err(exists)?;
    file.write_all(format!("{}\n", hex(&key.to_bytes())).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, e))?;
    Ok(key)
}

fn new_key() -> Result<SigningKey, SigningError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(SigningKey::from_bytes(&secret))
}

fn read_ring(path: &Path) -> Result<RingFile, SigningError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    toml::from_str(&text).map_err(|e| SigningError::File {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

fn write_ring(path: &Path, ring: &RingFile) -> Result<(), SigningError> {
    let text = toml::to_string(ring).map_err(|e| SigningError::File {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let tmp = path.with_extension("toml.tmp");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| file_error(&tmp, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| file_error(&tmp, e))?;
        file.sync_all().map_err(|e| file_error(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

fn file_error(path: &Path, e: std::io::Error) -> SigningError {
    SigningError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn parse_secret(text: &str) -> Option<SigningKey> {
    Some(SigningKey::from_bytes(&unhex::<32>(text)?))
}

fn parse_public(text: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&unhex::<32>(text)?).ok()
}

/// `N` bytes from `2N` hex digits.
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adopted_key_verifies_what_it_signed_and_signs_nothing() {
        let source = tempfile::tempdir().unwrap();
        let signed = KeyRing::open(source.path(), None).unwrap().sign(b"digest");
        let restored = tempfile::tempdir().unwrap();
        let id = KeyRing::adopt(restored.path(), &signed.public_key).unwrap();
        assert_eq!(id, signed.key_id);
        // Adopting it again changes nothing.
        assert_eq!(
            KeyRing::adopt(restored.path(), &signed.public_key).unwrap(),
            id
        );
        let ring = KeyRing::open(restored.path(), None).unwrap();
        assert_eq!(ring.verify(b"digest", &signed), Ok(()));
        assert!(ring.verify(b"other", &signed).is_err());
        assert_ne!(
            ring.sign(b"digest").key_id,
            id,
            "the ring signs with its own key"
        );
        let file = std::fs::read_to_string(restored.path().join(RING_FILE)).unwrap();
        assert_eq!(file.matches("secret").count(), 1, "{file}");
    }

    #[test]
    fn a_rotated_ring_still_verifies_old_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path(), None).unwrap();
        let old = ring.sign(b"digest one");
        assert!(ring.verify(b"digest one", &old).is_ok());
        assert!(ring.verify(b"digest two", &old).is_err());
        let reopened = KeyRing::open(dir.path(), None).unwrap();
        assert_eq!(reopened.sign(b"x").key_id, old.key_id, "the key persists");

        let new_id = KeyRing::rotate(dir.path()).unwrap();
        let rotated = KeyRing::open(dir.path(), None).unwrap();
        let new = rotated.sign(b"digest two");
        assert_eq!(new.key_id, new_id);
        assert_ne!(new.key_id, old.key_id);
        assert!(
            rotated.verify(b"digest one", &old).is_ok(),
            "old digests still verify"
        );
        assert!(rotated.verify(b"digest two", &new).is_ok());
        let text = std::fs::read_to_string(dir.path().join(RING_FILE)).unwrap();
        assert_eq!(
            text.matches("secret").count(),
            1,
            "only the current secret is kept"
        );
    }

    #[test]
    fn a_given_key_becomes_current() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("given.key");
        std::fs::write(&key_file, "11".repeat(32)).unwrap();
        let ring = KeyRing::open(&dir.path().join("data"), Some(&key_file)).unwrap();
        let signed = ring.sign(b"m");
        let expected = SigningKey::from_bytes(&[0x11; 32]).verifying_key();
        assert_eq!(signed.public_key, expected.to_bytes());
        assert_eq!(signed.key_id, key_id(&expected));
    }
}
