//! A request's hash, which a commit keeps so that a retry of its command
//! id is told from a reuse by another request (`crate::request_key` makes
//! it).

/// Under the log's request key (what a commit keeps from now on), and the
/// plain SHA-256 of the same bytes, which commits made before request
/// hashes were keyed kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestHash {
    pub(crate) keyed: [u8; 32],
    pub(crate) unkeyed: [u8; 32],
}

impl RequestHash {
    /// Whether `stored`, a commit's request hash, was made from the same
    /// request: under the key, or before hashes were keyed.
    pub(crate) fn matches(&self, stored: &[u8; 32]) -> bool {
        stored == &self.keyed || stored == &self.unkeyed
    }
}
