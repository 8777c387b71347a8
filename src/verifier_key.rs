//! Verifier keys in the C2SP signed-note form, `name+hexkeyid+base64key`:
//! how an auditor names the one Ed25519 key they trust (`answerlog verify
//! --vkey`, printed by `answerlog keys show`), in the same form that
//! transparency-log tools use for checkpoints.
//!
//! In that form (C2SP signed-note, "Verifier keys"), `base64key` is the
//! standard base64 of the signature type byte 0x01 (Ed25519) followed by the
//! 32-byte public key, and `hexkeyid` is the first 4 bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)` in 8 lowercase hex digits.
//! The name is any non-empty string without spaces or `+`. A witness's key
//! (C2SP tlog-cosignature, `tlog::cosignature::CosignerKey`) has the same
//! form with the type byte 0x04, which its key id hashes instead.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::domain::hex;

/// The signature type byte of Ed25519 in C2SP signed notes.
const ED25519: u8 = 0x01;

/// A named Ed25519 public key, as an auditor pins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifierKey {
    pub(crate) name: String,
    pub(crate) public_key: [u8; 32],
}

impl VerifierKey {
    pub(crate) fn new(name: &str, public_key: [u8; 32]) -> Result<Self, String> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            public_key,
        })
    }

    /// The key id the signed-note form carries: 4 bytes of the hash of the
    /// name, the type byte and the key.
    pub(crate) fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, ED25519, &self.public_key)
    }

    /// Parses `name+hexkeyid+base64key`, checking that the key is Ed25519
    /// and that the key id is the one its name and key give.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (name, public_key) = parse_typed(text, ED25519, "Ed25519")?;
        Ok(Self { name, public_key })
    }
}

/// The first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key).
pub(crate) fn key_id(name: &str, kind: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', kind]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Parses `name+hexkeyid+base64(kind ‖ key)`: the name, and the key once
/// its type is `kind` and its id the one the name and key give.
pub(crate) fn parse_typed(
    text: &str,
    kind: u8,
    kind_name: &str,
) -> Result<(String, [u8; 32]), String> {
    // The name and the id hold no `+`; the base64 key may.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a verifier key is name+hexkeyid+base64key (three parts joined by +)".into());
    };
    check_name(name)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|e| format!("the key part is not standard base64: {e}"))?;
    let public_key: [u8; 32] = match bytes.split_first() {
        Some((&found, rest)) if found == kind => rest.try_into().map_err(|_| {
            format!(
                "a {kind_name} key is 32 bytes after its type byte, not {}",
                rest.len()
            )
        })?,
        Some((found, _)) => {
            return Err(format!(
                "unsupported signature type: the key's type byte is 0x{found:02x}; only {kind_name} (0x{kind:02x}) is supported here"
            ))
        }
        None => return Err("the key part is empty".into()),
    };
    let expected = hex(&key_id(name, kind, &public_key));
    if id != expected {
        return Err(format!(
            "the key id {id} is not the one its name and key give ({expected})"
        ));
    }
    Ok((name.to_owned(), public_key))
}

pub(crate) fn write_key(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    kind: u8,
    public_key: &[u8; 32],
) -> fmt::Result {
    let mut key = Vec::with_capacity(33);
    key.push(kind);
    key.extend_from_slice(public_key);
    write!(
        f,
        "{}+{}+{}",
        name,
        hex(&key_id(name, kind, public_key)),
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_key(f, &self.name, ED25519, &self.public_key)
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(format!(
            "a verifier key's name must be non-empty, without spaces or +: {name:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of C2SP signed-note (and of Go's golang.org/x/mod/sumdb/note):
    /// the verifier key of "PeterNeumann".
    const NEUMANN: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn the_published_example_parses_and_prints_back() {
        let key = VerifierKey::parse(NEUMANN).unwrap();
        assert_eq!(key.name, "PeterNeumann");
        assert_eq!(hex(&key.key_id()), "c74f20a3");
        assert_eq!(key.to_string(), NEUMANN);
    }

    #[test]
    fn every_key_prints_and_parses_back_even_with_a_plus_in_its_base64() {
        let mut pluses = 0;
        for byte in 0..=255u8 {
            let key = VerifierKey::new("answerlog", [byte; 32]).unwrap();
            let text = key.to_string();
            pluses += usize::from(text.matches('+').count() > 2);
            assert_eq!(VerifierKey::parse(&text).unwrap(), key, "{text}");
        }
        assert!(pluses > 0, "some base64 keys hold a +");
    }

    #[test]
    fn a_key_whose_id_or_type_or_shape_is_wrong_is_refused() {
        for (bad, says) in [
            (
                "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "is not the one",
            ),
            (
                "Someone+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "is not the one",
            ),
            (
                "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "type byte is 0x02",
            ),
            ("PeterNeumann+c74f20a3", "three parts"),
            ("PeterNeumann+c74f20a3+!!!", "base64"),
            (
                "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "name",
            ),
        ] {
            let error = VerifierKey::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
