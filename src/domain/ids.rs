//! Identifiers: article and command ids (UUIDs), section and source ids.
//!
//! Plain values; parsing reports which field was malformed.

use std::fmt;

use uuid::Uuid;

/// An article's id: a UUID v7, assigned at creation, time-ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArticleId(Uuid);

impl ArticleId {
    /// Wraps a UUID the caller generated (the domain takes ids, never makes them).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The 16 big-endian bytes, the form stored in keys.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok().map(Self)
    }

    /// Parses the hyphenated text form; `None` if it is not a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }

    /// The hyphenated text form, as `Display` writes it, without a
    /// formatter: a catch-up writes two for every commit it streams.
    pub fn text(&self) -> String {
        hyphenated(&self.0)
    }

    /// `text`, as ASCII bytes in a buffer of their own.
    pub fn text_ascii(&self) -> [u8; 36] {
        hyphenated_ascii(&self.0)
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A client-chosen UUID that makes a write idempotent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandId(Uuid);

impl CommandId {
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok().map(Self)
    }

    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }

    /// As `ArticleId::text`.
    pub fn text(&self) -> String {
        hyphenated(&self.0)
    }

    /// `text`, as ASCII bytes in a buffer of their own.
    pub fn text_ascii(&self) -> [u8; 36] {
        hyphenated_ascii(&self.0)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// True if `text` looks like a UUID in any of its usual spellings; slugs may
/// not, so that a reference is an id or a slug and never both.
pub(crate) fn is_uuid_shaped(text: &str) -> bool {
    Uuid::parse_str(text).is_ok()
}

fn hyphenated_ascii(uuid: &Uuid) -> [u8; 36] {
    let mut ascii = [0; 36];
    uuid.hyphenated().encode_lower(&mut ascii);
    ascii
}

fn hyphenated(uuid: &Uuid) -> String {
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

fn parse_uuid(text: &str) -> Option<Uuid> {
    // Only the canonical 36-character form: one spelling per id.
    if text.len() != 36 {
        return None;
    }
    Uuid::parse_str(text).ok()
}

/// The id of a section within its article (`s1`, `s2`, ...), never reused.
pub(super) fn section_id(sequence: u64) -> String {
    format!("s{sequence}")
}

/// The id of a source within its article (`src1`, `src2`, ...), never reused.
pub(super) fn source_id(sequence: u64) -> String {
    format!("src{sequence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ids_text_is_what_display_writes() {
        for uuid in [
            Uuid::nil(),
            Uuid::max(),
            Uuid::from_u128(0x0192_3e4f_a1b2_7c3d_8e9f_0a1b_2c3d_4e5f),
        ] {
            let (article, command) = (ArticleId::from_uuid(uuid), CommandId::from_uuid(uuid));
            assert_eq!(article.text(), article.to_string());
            assert_eq!(command.text(), command.to_string());
            assert_eq!(ArticleId::parse(&article.text()), Some(article));
            assert_eq!(&article.text_ascii()[..], article.text().as_bytes());
            assert_eq!(&command.text_ascii()[..], command.text().as_bytes());
        }
    }
}
