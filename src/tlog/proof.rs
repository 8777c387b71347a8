//! C2SP tlog-proof (c2sp.org/tlog-proof@v1): an offline proof that an
//! entry is in a log, as a receipt carries it: the header line, an
//! optional `extra` line (opaque, base64, not authenticated), `index <n>`
//! (decimal, no leading zero), the inclusion proof (a base64 hash a line,
//! the leaf's sibling first), an empty line, then the checkpoint's signed
//! note verbatim.
//!
//! Checking one takes what the reader trusts: the log's key, its origin
//! (by default the key's name), and the witnesses whose cosignatures the
//! reader's policy requires, each a distinct key. Nothing is read from
//! `extra`.

use base64::Engine as _;

use super::checkpoint::{parse_decimal, Checkpoint};
use super::cosignature::{self, CosignerKey};
use super::note::Note;
use crate::domain::merkle;
use crate::domain::Hash;
use crate::verifier_key::VerifierKey;

/// The first line of every proof.
pub(crate) const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A proof, parsed; nothing checked but its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlogProof {
    pub(crate) extra: Option<Vec<u8>>,
    /// The entry's index in the log, from 0.
    pub(crate) index: u64,
    pub(crate) hashes: Vec<Hash>,
    /// The checkpoint's signed note, byte for byte.
    pub(crate) checkpoint: Vec<u8>,
}

/// What a reader trusts when checking a proof.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trust<'a> {
    pub(crate) log: &'a VerifierKey,
    /// The log's origin; unset, the log key's name (C2SP tlog-checkpoint:
    /// the key's name should be the origin).
    pub(crate) origin: Option<&'a str>,
    /// Witnesses whose cosignatures count.
    pub(crate) witnesses: &'a [CosignerKey],
    /// How many of them must have cosigned the checkpoint.
    pub(crate) quorum: usize,
}

impl TlogProof {
    /// Parses a proof's bytes. Errors begin "tlog-proof format".
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let bad = |why: String| format!("tlog-proof format: {why}");
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let mut rest = text;
        let mut next_line = || -> Result<&str, String> {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("it ends before its checkpoint".into()))?;
            rest = after;
            Ok(line)
        };
        let header = next_line()?;
        if header != HEADER {
            return Err(bad(format!("the first line is not {HEADER}: {header:?}")));
        }
        let mut line = next_line()?;
        let extra = match line.strip_prefix("extra ") {
            Some(encoded) => {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| bad(format!("the extra data is not canonical base64: {e}")))?;
                line = next_line()?;
                Some(data)
            }
            None => None,
        };
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| {
                bad(format!(
                    "expected \"index <n>\" (decimal, no leading zero), found {line:?}"
                ))
            })?;
        let mut hashes = Vec::new();
        loop {
            let line = next_line()?;
            if line.is_empty() {
                break;
            }
            let hash = base64::engine::general_purpose::STANDARD
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "a proof line is a 32-byte hash in canonical base64, not {line:?}"
                    ))
                })?;
            hashes.push(hash);
        }
        if rest.is_empty() {
            return Err(bad("no checkpoint after the proof".into()));
        }
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: rest.as_bytes().to_vec(),
        })
    }

    /// The proof's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        hashes_then_note(out, &self.hashes, &self.checkpoint)
    }

    /// Checks that the leaf whose hash is `leaf` is entry `index` of the
    /// tree the checkpoint commits to, that the log's key signed the
    /// checkpoint, and that every witness `trust` requires cosigned it.
    /// The checkpoint, once checked.
    pub(crate) fn verify(&self, leaf: &Hash, trust: &Trust<'_>) -> Result<Checkpoint, String> {
        let opened = Note::open(&self.checkpoint, std::slice::from_ref(trust.log))
            .map_err(|e| format!("checkpoint: {e}"))?;
        let checkpoint =
            Checkpoint::parse(&opened.note.text).map_err(|e| format!("checkpoint: {e}"))?;
        let origin = trust.origin.unwrap_or(&trust.log.name);
        if checkpoint.origin != origin {
            return Err(format!(
                "the checkpoint origin {:?} is not the log's, {origin:?}",
                checkpoint.origin
            ));
        }
        // A cosignature does not sign its witness's name: one key listed
        // under two names would count one cosignature twice.
        for (i, witness) in trust.witnesses.iter().enumerate() {
            if let Some(twin) = trust.witnesses[..i]
                .iter()
                .find(|w| w.public_key == witness.public_key)
            {
                return Err(format!(
                    "the witnesses {} and {} have one key: a policy counts distinct keys",
                    twin.name, witness.name
                ));
            }
        }
        // A line by a trusted witness that does not verify refuses the
        // note, as the log's own would; a witness with no line counts
        // nothing.
        let cosigned = cosignature::cosigners(&opened.note, trust.witnesses)?;
        if cosigned.len() < trust.quorum {
            let missing: Vec<&str> = trust
                .witnesses
                .iter()
                .map(|w| w.name.as_str())
                .filter(|name| !cosigned.contains(name))
                .collect();
            return Err(format!(
                "no cosignature from witness {}: the checkpoint has {} of the {} cosignatures needed",
                missing.join(", nor from witness "),
                cosigned.len(),
                trust.quorum
            ));
        }
        merkle::verify_inclusion(
            leaf,
            self.index,
            checkpoint.size,
            &self.hashes,
            &checkpoint.root,
        )
        .map_err(|e| format!("inclusion proof: {e}"))?;
        Ok(checkpoint)
    }
}

/// `head`, then a base64 hash a line, an empty line and `note`: how a
/// tlog-proof and a witness's add-checkpoint end.
pub(crate) fn hashes_then_note(mut head: String, hashes: &[Hash], note: &[u8]) -> Vec<u8> {
    for hash in hashes {
        head.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
        head.push('\n');
    }
    head.push('\n');
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(note);
    bytes
}

#[cfg(test)]
mod tests;
