//! C2SP tlog-checkpoint: the text a log signs to commit to its tree
//! (c2sp.org/tlog-checkpoint): the origin line, the tree size in decimal,
//! the root hash in standard base64, each ending in a newline, then
//! optional extension lines. The text is the body of a signed note
//! (`note.rs`).

use base64::Engine as _;

use crate::domain::Hash;

/// A checkpoint's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The log's name, e.g. `answerlog.example.org/prod`: opaque to a
    /// reader, compared whole.
    pub(crate) origin: String,
    pub(crate) size: u64,
    pub(crate) root: Hash,
    /// Extension lines, without their newlines.
    pub(crate) extensions: Vec<String>,
}

/// The extension line by which answerlog's checkpoints carry the log
/// chain's hash at their size (docs/AUDIT.md, "Checkpoints"): this, a
/// space, and 64 lowercase hex digits.
pub(crate) const LOG_HASH_EXTENSION: &str = "answerlog-log-hash";

/// Opens a checkpoint note signed by one of the log's keys `log`; its
/// body, parsed (the origin is the caller's to compare).
pub(crate) fn open(
    note: &[u8],
    log: &[crate::verifier_key::VerifierKey],
) -> Result<Checkpoint, String> {
    let opened = super::note::Note::open(note, log).map_err(|e| format!("signature: {e}"))?;
    Checkpoint::parse(&opened.note.text)
}

impl Checkpoint {
    /// The log chain's hash the checkpoint carries, if it has the
    /// extension; an error if it has it malformed, or twice.
    pub(crate) fn log_hash(&self) -> Result<Option<Hash>, String> {
        let mut found = None;
        for line in &self.extensions {
            let Some(value) = line
                .strip_prefix(LOG_HASH_EXTENSION)
                .and_then(|rest| rest.strip_prefix(' '))
            else {
                continue;
            };
            let hash = crate::signing::unhex::<32>(value)
                .filter(|_| value.bytes().all(|b| !b.is_ascii_uppercase()))
                .ok_or_else(|| {
                    format!("the {LOG_HASH_EXTENSION} line holds 64 lowercase hex digits, not {value:?}")
                })?;
            if found.replace(hash).is_some() {
                return Err(format!("the checkpoint has two {LOG_HASH_EXTENSION} lines"));
            }
        }
        Ok(found)
    }

    /// Parses a note's text as a checkpoint.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err("a checkpoint's text ends in a newline".into());
        };
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(
                "a checkpoint is an origin, a tree size and a root hash, a line each".into(),
            );
        };
        if origin.is_empty() {
            return Err("a checkpoint's origin line is empty".into());
        }
        let size = parse_decimal(size)
            .ok_or_else(|| format!("a checkpoint's tree size is a decimal number, not {size:?}"))?;
        let root = base64::engine::general_purpose::STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or_else(|| {
                format!("a checkpoint's root is 32 bytes in canonical base64, not {root:?}")
            })?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err("a checkpoint's extension line is empty".into());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The text to sign.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// Whether `origin` can be a checkpoint's origin line and the name its
/// note is signed under: not empty, no spaces, control characters or `+`
/// (C2SP asks for a schema-less URL, such as `answerlog.example.org/prod`).
pub(crate) fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty()
        || origin
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(format!(
            "{origin:?}: a checkpoint's origin is a name without spaces, control characters or +, such as answerlog.example.org/prod"
        ));
    }
    Ok(())
}

/// A number as C2SP writes one: ASCII decimal digits without a leading
/// zero (but "0"), within 64 bits.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse::<u64>().ok()).flatten()
}

#[cfg(test)]
mod tests;
