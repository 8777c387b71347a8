//! Where an appended commit stands: what every log answers an append
//! with, and what the app hands its edges.

use super::ArticleId;

/// Where an appended commit stands (or the original, for a retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub article_id: ArticleId,
    pub version: u64,
    pub global_position: u64,
    /// True when this was a retry of a command already appended.
    pub duplicate: bool,
}
