//! C2SP tlog-witness (c2sp.org/tlog-witness): the `add-checkpoint` call a
//! log makes to a witness, and the witness's checks before it cosigns.
//!
//! The request body is `old <size>\n`, up to 63 lines of one base64 hash
//! each (RFC 6962's consistency proof from the old size to the
//! checkpoint's), an empty line, then the checkpoint's signed note. The
//! witness answers 200 with its cosignature lines, or refuses: 400 (a
//! malformed request, or an old size past the checkpoint's), 403 (no
//! signature by a key it trusts for the origin), 404 (an origin it does
//! not know), 409 (the old size is not the size it last cosigned, or it
//! is and the roots differ; the body is that size, a decimal and a
//! newline, of type `text/x.tlog.size`), 422 (the proof does not verify).

use base64::Engine as _;

use super::checkpoint::{parse_decimal, Checkpoint};
use super::cosignature::CosignerKey;
use super::note::{Note, NoteError};
use super::proof::hashes_then_note;
use crate::domain::merkle;
use crate::domain::Hash;
use crate::verifier_key::VerifierKey;

/// The most proof lines a request may carry.
pub(crate) const MAX_PROOF_LINES: usize = 63;

/// The content type of a 409's body: the size the witness holds.
pub(crate) const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddCheckpoint {
    /// The size of the last checkpoint the witness cosigned for the log,
    /// as the log believes it.
    pub(crate) old: u64,
    /// RFC 6962's consistency proof from `old` to the checkpoint's size.
    pub(crate) proof: Vec<Hash>,
    /// The checkpoint's signed note, byte for byte.
    pub(crate) checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        hashes_then_note(format!("old {}\n", self.old), &self.proof, &self.checkpoint)
    }

    /// Parses a request body; nothing checked but its form.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes;
        let mut next_line = || -> Result<&str, String> {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("the request ends before its checkpoint")?;
            let line = std::str::from_utf8(&rest[..end])
                .map_err(|_| "a line before the checkpoint is not UTF-8".to_owned())?;
            rest = &rest[end + 1..];
            Ok(line)
        };
        let first = next_line()?;
        let old = first
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| format!("the first line is `old <size>`, not {first:?}"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line()?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                ));
            }
            let hash = base64::engine::general_purpose::STANDARD
                .decode(line)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
                .ok_or_else(|| {
                    format!("a proof line is one base64 hash of 32 bytes, not {line:?}")
                })?;
            proof.push(hash);
        }
        Ok(Self {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }
}

/// A witness as a log is configured with it: its verifier key
/// (cosignature/v1), a space, and its submission prefix, an `http://` URL
/// (`https://` witnesses are reached through a local TLS proxy). The key
/// and the URL calls go to, `<prefix>/add-checkpoint`.
pub(crate) fn parse_witness(entry: &str) -> Result<(CosignerKey, hyper::Uri), String> {
    let (key, prefix) = entry
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{entry:?} is not a witness's verifier key, a space and its URL"))?;
    let key = CosignerKey::parse(key)?;
    let prefix = prefix.trim().trim_end_matches('/');
    let url: hyper::Uri = format!("{prefix}/add-checkpoint")
        .parse()
        .map_err(|e| format!("{prefix:?} is not a URL: {e}"))?;
    if url.scheme_str() != Some("http") || url.host().is_none() {
        return Err(format!(
            "{prefix:?} is not an http:// URL (reach an https:// witness through a local TLS proxy)"
        ));
    }
    if url.query().is_some() {
        return Err(format!(
            "{prefix:?} has a query; give the witness's submission prefix"
        ));
    }
    Ok((key, url))
}

/// Why a witness does not cosign: the HTTP status of each case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403.
    #[error("not signed by a key trusted for the origin: {0}")]
    Forbidden(String),
    /// 404.
    #[error("unknown origin {0:?}")]
    UnknownOrigin(String),
    /// 409, with the size the witness last cosigned.
    #[error("conflict: the witness last cosigned a checkpoint of {latest} leaves ({why})")]
    Conflict { latest: u64, why: String },
    /// 422.
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(String),
}

impl Refusal {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::UnknownOrigin(_) => 404,
            Self::Conflict { .. } => 409,
            Self::Inconsistent(_) => 422,
        }
    }
}

/// The origin a request's checkpoint names, so that the witness can find
/// the keys and the last checkpoint it holds for it.
pub(crate) fn origin_of(request: &AddCheckpoint) -> Result<(Note, Checkpoint), Refusal> {
    let note = Note::parse(&request.checkpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&note.text)
        .map_err(|e| Refusal::BadRequest(format!("the checkpoint: {e}")))?;
    Ok((note, checkpoint))
}

/// A witness's checks of `request` for a log it trusts `keys` for (keys
/// named by the checkpoint's origin; none: an unknown origin), given the
/// last checkpoint it cosigned for that origin. The checkpoint to cosign.
pub(crate) fn check(
    request: &AddCheckpoint,
    keys: &[VerifierKey],
    latest: Option<&Checkpoint>,
) -> Result<Checkpoint, Refusal> {
    let (_, checkpoint) = origin_of(request)?;
    if keys.is_empty() {
        return Err(Refusal::UnknownOrigin(checkpoint.origin));
    }
    match Note::open(&request.checkpoint, keys) {
        Ok(_) => {}
        Err(NoteError::Malformed(why)) => return Err(Refusal::BadRequest(why)),
        Err(e) => return Err(Refusal::Forbidden(e.to_string())),
    }
    if request.old > checkpoint.size {
        return Err(Refusal::BadRequest(format!(
            "the old size {} is past the checkpoint's, {}",
            request.old, checkpoint.size
        )));
    }
    let held = latest.map_or(0, |l| l.size);
    if request.old != held {
        return Err(Refusal::Conflict {
            latest: held,
            why: format!("not the old size given, {}", request.old),
        });
    }
    let Some(latest) = latest.filter(|l| l.size > 0) else {
        if !request.proof.is_empty() {
            return Err(Refusal::Inconsistent(
                "a proof from the empty tree is empty".into(),
            ));
        }
        return Ok(checkpoint);
    };
    if latest.size == checkpoint.size {
        if latest.root != checkpoint.root {
            return Err(Refusal::Conflict {
                latest: held,
                why: "a checkpoint of that size with another root".into(),
            });
        }
        if !request.proof.is_empty() {
            return Err(Refusal::Inconsistent(
                "a proof between two trees of one size is empty".into(),
            ));
        }
        return Ok(checkpoint);
    }
    merkle::verify_consistency(
        latest.size,
        checkpoint.size,
        &latest.root,
        &checkpoint.root,
        &request.proof,
    )
    .map_err(|e| {
        Refusal::Inconsistent(format!(
            "from the {} leaves cosigned to {}: {e}",
            latest.size, checkpoint.size
        ))
    })?;
    Ok(checkpoint)
}

#[cfg(test)]
pub(crate) mod tests;
