//! The size limits of an article and its fields, with their defaults;
//! configurable.

use serde::Deserialize;

/// Limits on what one article and one request may hold.
///
/// Lengths of single-line text are counted in characters, bodies in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub question_chars: usize,
    pub heading_chars: usize,
    pub body_bytes: usize,
    pub sections: usize,
    pub sources: usize,
    pub key_fact_chars: usize,
    pub key_facts: usize,
    pub reason_chars: usize,
    /// A whole article, encoded: one commit always fits one message.
    pub article_bytes: usize,
    pub source_field_chars: usize,
    pub url_chars: usize,
    pub disclaimer_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            question_chars: 300,
            heading_chars: 200,
            body_bytes: 64 * 1024,
            sections: 200,
            sources: 200,
            key_fact_chars: 500,
            key_facts: 50,
            reason_chars: 500,
            article_bytes: 1024 * 1024,
            source_field_chars: 300,
            url_chars: 2048,
            disclaimer_chars: 2000,
        }
    }
}

impl Limits {
    /// The most edits one `ApplyChanges` may make: enough to remove, add,
    /// move and edit every section and source an article may hold, and
    /// its other five parts.
    pub fn apply_edits(&self) -> usize {
        3 * self.sections + 2 * self.sources + 5
    }
}
