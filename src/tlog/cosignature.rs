//! C2SP tlog-cosignature (cosignature/v1): a witness's signature on a
//! checkpoint it has checked, a signature line of the checkpoint's note.
//!
//! The line's bytes after the key id are an 8-byte big-endian timestamp
//! (seconds since the Unix epoch, at most 2^63 − 1) and an Ed25519
//! signature of `cosignature/v1\ntime <timestamp>\n` followed by the
//! checkpoint's text. The key id hashes the type byte 0x04
//! (`CosignerKey`).

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};

use super::note::{ed25519_verifies, Note, NoteSignature};
use crate::verifier_key;

/// The signature type byte of a witness's cosignature.
const COSIGNATURE_V1: u8 = 0x04;

/// The message a witness signs for `checkpoint` (a note's text) at
/// `timestamp`.
pub(crate) fn message(checkpoint: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint}").into_bytes()
}

/// A cosignature of `checkpoint` at `timestamp` by the witness `key`
/// named `name`: the signature line to add to the checkpoint's note.
pub(crate) fn cosign(
    checkpoint: &str,
    timestamp: u64,
    name: &str,
    key: &SigningKey,
) -> Result<NoteSignature, String> {
    if i64::try_from(timestamp).is_err() {
        return Err(format!(
            "a cosignature's time is at most 2^63 - 1, not {timestamp}"
        ));
    }
    let witness = CosignerKey::new(name, key.verifying_key().to_bytes())?;
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(&key.sign(&message(checkpoint, timestamp)).to_bytes());
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: witness.key_id(),
        signature,
    })
}

/// Checks one signature line as `witness`'s cosignature of `checkpoint`:
/// its timestamp.
pub(crate) fn verify(
    line: &NoteSignature,
    checkpoint: &str,
    witness: &CosignerKey,
) -> Result<u64, String> {
    let invalid = |why: &str| format!("invalid cosignature from witness {}: {why}", witness.name);
    if line.name != witness.name || line.key_id != witness.key_id() {
        return Err(format!("no cosignature from witness {}", witness.name));
    }
    let (time, signature) = match line.signature.split_at_checked(8) {
        Some((time, signature)) if signature.len() == 64 => (time, signature),
        _ => return Err(invalid("not a timestamp and an Ed25519 signature")),
    };
    let timestamp = u64::from_be_bytes(time.try_into().expect("eight bytes"));
    if i64::try_from(timestamp).is_err() {
        return Err(invalid("its time is past 2^63 - 1"));
    }
    if !ed25519_verifies(
        &witness.public_key,
        &message(checkpoint, timestamp),
        signature,
    ) {
        return Err(invalid("the signature does not verify"));
    }
    Ok(timestamp)
}

/// `witness`'s cosignature among a checkpoint note's lines: its timestamp.
/// Every line under the witness's name and key id must verify.
pub(crate) fn find(note: &Note, witness: &CosignerKey) -> Result<u64, String> {
    let mut found = None;
    for line in &note.signatures {
        if line.name == witness.name && line.key_id == witness.key_id() {
            let timestamp = verify(line, &note.text, witness)?;
            found = Some(found.map_or(timestamp, |t: u64| t.max(timestamp)));
        }
    }
    found.ok_or_else(|| format!("no cosignature from witness {}", witness.name))
}

/// The witnesses among `witnesses` that cosigned the note: every line
/// under a witness's name and key id must verify (one that does not
/// refuses the note, as the log's own would); a witness with no line is
/// not counted. Their names, in the order given.
pub(crate) fn cosigners<'a>(
    note: &Note,
    witnesses: &'a [CosignerKey],
) -> Result<Vec<&'a str>, String> {
    let mut cosigned = Vec::new();
    for witness in witnesses {
        let present = note
            .signatures
            .iter()
            .any(|line| line.name == witness.name && line.key_id == witness.key_id());
        if present {
            find(note, witness)?;
            cosigned.push(witness.name.as_str());
        }
    }
    Ok(cosigned)
}

/// The witnesses a reader pins, as the command line gives them (verifier
/// keys), and how many of them must cosign (none: every one).
pub(crate) fn pinned_witnesses(
    keys: &[String],
    quorum: Option<usize>,
) -> Result<(Vec<CosignerKey>, usize), String> {
    let witnesses = keys
        .iter()
        .map(|text| CosignerKey::parse(text).map_err(|e| format!("--witness {text}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        return Err(format!(
            "--witness-quorum: {quorum} cosignatures cannot come from {} witnesses",
            witnesses.len()
        ));
    }
    Ok((witnesses, quorum))
}

/// A witness's key for C2SP tlog-cosignature (cosignature/v1): the same
/// form with the type byte 0x04, its key id hashing that byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CosignerKey {
    pub(crate) name: String,
    pub(crate) public_key: [u8; 32],
}

impl CosignerKey {
    pub(crate) fn new(name: &str, public_key: [u8; 32]) -> Result<Self, String> {
        verifier_key::check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            public_key,
        })
    }

    pub(crate) fn key_id(&self) -> [u8; 4] {
        verifier_key::key_id(&self.name, COSIGNATURE_V1, &self.public_key)
    }

    /// Parses `name+hexkeyid+base64(0x04 ‖ key)`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (name, public_key) = verifier_key::parse_typed(text, COSIGNATURE_V1, "cosignature/v1")?;
        Ok(Self { name, public_key })
    }
}

impl fmt::Display for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        verifier_key::write_key(f, &self.name, COSIGNATURE_V1, &self.public_key)
    }
}
