//! Keyspaces and key encodings: one sled tree, one prefix byte a keyspace,
//! numbers big-endian so that sled's byte order is numeric order.

use crate::domain::ArticleId;

/// The meta key of the read models' checkpoint: the last position applied.
pub(super) const CHECKPOINT: &str = "checkpoint";

/// The meta key of the read models' generation in use.
pub(super) const GENERATION: &str = "generation";

/// The meta key set while an offline rebuild writes the read models over
/// the ones they replace (`SledStore::rebuild`). Until it is cleared a
/// read-model key is only trusted once the rebuild has written it: a
/// catch-up that finds it set (the rebuild was stopped) replays the whole
/// log over them again.
pub(super) const REBUILDING: &str = "rebuilding";

/// A keyspace of the store's one tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// global_position → the commit: only in a store written before the
    /// log had files of its own (`log_files.rs`), which its first open
    /// moves into them (`log_migration.rs`). Reads of the log are counted
    /// under this keyspace.
    Log,
    /// article_id → the materialized answer at version 1 and every
    /// `projection::STATE_EVERY`th version (the later ones fold from the log).
    Current,
    /// slug → article_id (old slugs too).
    Slugs,
    /// article_id ++ version → the date the article displays from that
    /// version on, at version 1 and at each version that changed it (a
    /// revision's summary is its commit, its stream entry and this date).
    Dates,
    /// article_id ++ version → the materialized answer every K versions.
    Snapshots,
    /// sequence → suggested question.
    Suggestions,
    /// global_position → the log chain's hashes from that position on, one
    /// record a group commit (`chain_hash_in`).
    Chain,
    /// global_position → the payload digests of the events of the commits
    /// from that position on, one record a group commit
    /// (`payload_digests_in`): what each commit's hash covers, kept where
    /// the writer makes them so that a reader need not hash the events
    /// again. A position without is hashed by its reader.
    Digests,
    /// name → value.
    Meta,
}

impl Space {
    pub const ALL: [Space; 9] = [
        Space::Log,
        Space::Current,
        Space::Slugs,
        Space::Dates,
        Space::Snapshots,
        Space::Suggestions,
        Space::Chain,
        Space::Digests,
        Space::Meta,
    ];

    /// The read models: what a rebuild derives again from the log.
    pub const READ_MODELS: [Space; 4] =
        [Space::Current, Space::Slugs, Space::Dates, Space::Snapshots];

    pub fn prefix(self) -> u8 {
        match self {
            Space::Log => b'L',
            Space::Current => b'c',
            Space::Slugs => b's',
            Space::Dates => b'd',
            Space::Snapshots => b'n',
            Space::Suggestions => b'q',
            Space::Chain => b'K',
            Space::Digests => b'P',
            Space::Meta => b'm',
        }
    }

    pub fn index(self) -> usize {
        Space::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Space::Log => "log",
            Space::Current => "current",
            Space::Slugs => "slugs",
            Space::Dates => "dates",
            Space::Snapshots => "snapshots",
            Space::Suggestions => "suggestions",
            Space::Chain => "chain",
            Space::Digests => "digests",
            Space::Meta => "meta",
        }
    }
}

impl Space {
    /// Whether the keyspace is a read model, kept per generation.
    pub(crate) fn is_read_model(self) -> bool {
        Space::READ_MODELS.contains(&self)
    }
}

/// The prefixes of read models no longer kept (`r`: each version's
/// revision summary, until read-model format 4; `h`: the change feed,
/// position → article, until format 5, now the log's index in memory),
/// each followed by a generation byte: a rebuild removes what an older
/// store holds of them.
pub(crate) const RETIRED_READ_MODELS: [u8; 2] = [b'r', b'h'];

/// The prefixes of the log's indexes sled kept until the index moved into
/// memory (`log_index.rs`): `S`, article ++ version → position, time and
/// hash; `C`, command id → its outcome. An older store's first open
/// removes them (`log_migration.rs`).
pub(crate) const RETIRED_INDEXES: [u8; 2] = [b'S', b'C'];

/// Every prefix a read model of `generation` has, or had before it was
/// retired: what a rebuild or the drop of a generation removes.
pub(crate) fn read_model_prefixes(generation: u8) -> Vec<Vec<u8>> {
    let keys = Keys { generation };
    Space::READ_MODELS
        .iter()
        .map(|space| keys.prefix(*space))
        .chain(RETIRED_READ_MODELS.iter().map(|p| vec![*p, generation]))
        .collect()
}

/// Builds keys for one generation of the read models: a read-model key is
/// its keyspace's prefix, the generation byte, then its parts; every other
/// keyspace has no generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) generation: u8,
}

impl Keys {
    pub(crate) fn key(self, space: Space, parts: &[&[u8]]) -> Vec<u8> {
        if space.is_read_model() {
            let mut all = Vec::with_capacity(parts.len() + 1);
            let generation = [self.generation];
            all.push(&generation[..]);
            all.extend_from_slice(parts);
            key(space, &all)
        } else {
            key(space, parts)
        }
    }

    pub(crate) fn article(self, space: Space, article: ArticleId) -> Vec<u8> {
        self.key(space, &[article.as_bytes()])
    }

    pub(crate) fn version(self, space: Space, article: ArticleId, version: u64) -> Vec<u8> {
        self.key(space, &[article.as_bytes(), &version.to_be_bytes()])
    }

    /// The prefix every key of `space` in this generation starts with.
    pub(crate) fn prefix(self, space: Space) -> Vec<u8> {
        self.key(space, &[])
    }
}

/// The full key of `parts` in `space`.
pub(crate) fn key(space: Space, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(space.prefix());
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub(crate) fn position_key(space: Space, position: u64) -> Vec<u8> {
    key(space, &[&position.to_be_bytes()])
}

pub(super) fn meta_key(name: &str) -> Vec<u8> {
    key(Space::Meta, &[name.as_bytes()])
}

/// Reads a big-endian u64 at `at`; `None` if the bytes are too short.
pub(super) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

/// The last 8 bytes of a key as a big-endian u64 (a position or a version).
pub(super) fn key_suffix_u64(key: &[u8]) -> Option<u64> {
    key.len().checked_sub(8).and_then(|at| u64_at(key, at))
}

/// The log chain's hash at `position` in the `chain` record found at or
/// before it (`first` the position its key names, `hashes` its value: the
/// hashes of `first`, `first + 1`, … in order, 32 bytes each). `None` when
/// the record ends before `position`.
pub(super) fn chain_hash_in(first: u64, hashes: &[u8], position: u64) -> Option<[u8; 32]> {
    let at = usize::try_from(position.checked_sub(first)?)
        .ok()?
        .checked_mul(32)?;
    hashes.get(at..at.checked_add(32)?)?.try_into().ok()
}

/// The payload digests of each position a `digests` record holds (`first`
/// the position its key names, `bytes` its value: for `first`, `first + 1`,
/// … in order, a big-endian u16 count of events and that many 32-byte
/// digests), in order, as the bytes of each position's digests; `None` for
/// a record that does not parse, of which nothing is to be used.
pub(super) fn payload_digests_in(first: u64, bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut position = first;
    while !rest.is_empty() {
        let (count, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*count)).checked_mul(32)?;
        out.push((position, tail.get(..len)?));
        rest = &tail[len..];
        position = position.checked_add(1)?;
    }
    Some(out)
}

/// The digests of one position of a `digests` record, as bytes.
pub(super) fn digests_of(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes
        .chunks_exact(32)
        .filter_map(|d| d.try_into().ok())
        .collect()
}

/// One position's entry of a `digests` record (`payload_digests_in`).
pub(super) fn encode_payload_digests(digests: &[[u8; 32]], into: &mut Vec<u8>) {
    let count = u16::try_from(digests.len()).unwrap_or(u16::MAX);
    into.extend_from_slice(&count.to_be_bytes());
    for digest in digests.iter().take(usize::from(count)) {
        into.extend_from_slice(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digests_record_holds_each_position_s_digests_in_order() {
        let mut record = Vec::new();
        encode_payload_digests(&[[1; 32]], &mut record);
        encode_payload_digests(&[[2; 32], [3; 32]], &mut record);
        let entries = payload_digests_in(40, &record).unwrap();
        let read: Vec<(u64, Vec<[u8; 32]>)> =
            entries.iter().map(|&(p, d)| (p, digests_of(d))).collect();
        assert_eq!(
            read,
            vec![(40, vec![[1; 32]]), (41, vec![[2; 32], [3; 32]])]
        );
        // Cut short: refused, not read in part.
        assert_eq!(payload_digests_in(40, &record[..record.len() - 1]), None);
        assert_eq!(payload_digests_in(40, &[]), Some(vec![]));
    }

    #[test]
    fn a_chain_record_holds_the_hashes_of_the_positions_from_its_key_on() {
        let hashes: Vec<u8> = (0u8..3).flat_map(|n| [n; 32]).collect();
        assert_eq!(chain_hash_in(10, &hashes, 10), Some([0; 32]));
        assert_eq!(chain_hash_in(10, &hashes, 12), Some([2; 32]));
        assert_eq!(chain_hash_in(10, &hashes, 13), None);
        assert_eq!(chain_hash_in(10, &hashes, 9), None);
        // A record of one hash a key, as stores before batched records
        // wrote them, reads the same way.
        assert_eq!(chain_hash_in(7, &[5; 32], 7), Some([5; 32]));
        assert_eq!(chain_hash_in(7, &[5; 32], u64::MAX), None);
    }
}
