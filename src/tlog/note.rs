//! C2SP signed-note: a text and the signatures over it, in the form
//! transparency logs sign checkpoints in (c2sp.org/signed-note).
//!
//! A note is its text (UTF-8, no character below U+0020 but the newline,
//! ending in a newline), a blank line, and one or more signature lines,
//! each `— <name> <base64(key id ‖ signature)>` and a newline (U+2014 and
//! a space first). The key id is 4 bytes (for Ed25519, the start of
//! SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key): `verifier_key.rs`); the
//! Ed25519 signature is over the text's bytes, its final newline included.
//!
//! Opening a note with the keys a reader trusts is strict where the
//! specification leaves room: every signature line must be well formed and
//! in canonical base64; a note of more than 100 signatures is refused
//! unread; a line by a trusted key (its name and id) that does not verify
//! refuses the whole note, even when another line by the same key does;
//! two different trusted keys of one name and key id are refused as
//! ambiguous;
//! lines by keys not trusted are kept, unverified; a note with no verified
//! signature is refused.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::verifier_key::VerifierKey;

/// What a signature line starts with: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may hold (as Go's `note.Open`).
pub(crate) const MAX_SIGNATURES: usize = 100;

/// Why a note is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("invalid signature by {name} (key id {key_id})")]
    InvalidSignature { name: String, key_id: String },
    #[error("no signature from key {0}")]
    NoVerifiedSignature(String),
    #[error(
        "two trusted keys share the name {name} and key id {key_id}: which one signed is ambiguous"
    )]
    AmbiguousKey { name: String, key_id: String },
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoteSignature {
    pub(crate) name: String,
    pub(crate) key_id: [u8; 4],
    /// The signature's bytes after the key id.
    pub(crate) signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as the note holds it, newline included.
    pub(crate) fn line(&self) -> String {
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }
}

/// A note parsed into its text and signatures; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// The signed text, its final newline included.
    pub(crate) text: String,
    pub(crate) signatures: Vec<NoteSignature>,
}

/// A note opened with trusted keys: which of them signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) note: Note,
    /// The trusted keys whose signatures verified, in the note's order.
    pub(crate) verified: Vec<VerifierKey>,
}

impl Note {
    /// Parses a note's bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        let malformed = |why: &str| NoteError::Malformed(why.to_owned());
        let message = std::str::from_utf8(bytes).map_err(|_| malformed("the note is not UTF-8"))?;
        if message.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed(
                "the note holds an ASCII control character (below U+0020) other than a newline",
            ));
        }
        let split = message
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures"))?;
        let (text, lines) = (&message[..=split], &message[split + 2..]);
        if lines.is_empty() {
            return Err(malformed("no signature lines"));
        }
        let Some(lines) = lines.strip_suffix('\n') else {
            return Err(malformed(
                "the last signature line does not end in a newline",
            ));
        };
        let lines: Vec<&str> = lines.split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(malformed(&format!(
                "{} signature lines, more than {MAX_SIGNATURES}",
                lines.len()
            )));
        }
        let signatures = lines
            .into_iter()
            .map(parse_signature_line)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses `bytes` and checks its signatures against `trusted`: see the
    /// module's rules. `NoVerifiedSignature` names the trusted keys.
    pub(crate) fn open(bytes: &[u8], trusted: &[VerifierKey]) -> Result<Opened, NoteError> {
        let note = Self::parse(bytes)?;
        let mut verified: Vec<VerifierKey> = Vec::new();
        for signature in &note.signatures {
            let mut matching = trusted
                .iter()
                .filter(|k| k.name == signature.name && k.key_id() == signature.key_id);
            let Some(key) = matching.next() else {
                continue;
            };
            if matching.any(|other| other != key) {
                return Err(NoteError::AmbiguousKey {
                    name: signature.name.clone(),
                    key_id: crate::domain::hex(&signature.key_id),
                });
            }
            let invalid = || NoteError::InvalidSignature {
                name: signature.name.clone(),
                key_id: crate::domain::hex(&signature.key_id),
            };
            if !ed25519_verifies(&key.public_key, note.text.as_bytes(), &signature.signature) {
                return Err(invalid());
            }
            if !verified.contains(key) {
                verified.push(key.clone());
            }
        }
        if verified.is_empty() {
            let names: Vec<String> = trusted.iter().map(ToString::to_string).collect();
            return Err(NoteError::NoVerifiedSignature(names.join(", ")));
        }
        Ok(Opened { note, verified })
    }

    /// The note's bytes: the text, a blank line, the signature lines.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out.into_bytes()
    }
}

/// Signs `text` (which must end in a newline) as `name`: the signature
/// line to add to its note.
pub(crate) fn sign(text: &str, name: &str, key: &SigningKey) -> Result<NoteSignature, String> {
    if !text.ends_with('\n') {
        return Err("a note's text ends in a newline".into());
    }
    let verifier = VerifierKey::new(name, key.verifying_key().to_bytes())?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: verifier.key_id(),
        signature: key.sign(text.as_bytes()).to_bytes().to_vec(),
    })
}

/// Whether `signature` is a valid Ed25519 signature of `message` by
/// `public_key` (RFC 8032's checks, with dalek's strict verification:
/// no small-order key or R, S below the group order), as Wycheproof's
/// vectors want.
pub(crate) fn ed25519_verifies(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(public) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    public
        .verify_strict(message, &Signature::from_bytes(&bytes))
        .is_ok()
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let malformed = |why: String| NoteError::Malformed(why);
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
        malformed(format!(
            "a signature line starts with \"— \": {}",
            quoted_start(line)
        ))
    })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or_else(|| malformed("a signature line is \"— name signature\"".into()))?;
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(malformed(format!(
            "a signer's name is non-empty, without spaces or +: {name:?}"
        )));
    }
    // The standard engine refuses padding errors and non-zero trailing bits
    // alike: one text for each byte string.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| {
            malformed(format!(
                "the signature of {name} is malformed or non-canonical base64: {e}"
            ))
        })?;
    if bytes.len() < 5 {
        return Err(malformed(format!(
            "the signature of {name} holds {} bytes, fewer than a key id and a signature",
            bytes.len()
        )));
    }
    let (id, signature) = bytes.split_at(4);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: id.try_into().expect("four bytes"),
        signature: signature.to_vec(),
    })
}

/// The start of a line, for an error message.
fn quoted_start(line: &str) -> String {
    format!("{:?}", line.chars().take(24).collect::<String>())
}

#[cfg(test)]
mod tests;
