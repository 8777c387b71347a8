//! Where the writer stands, persisted in `meta` with every batch so that
//! start-up reads it instead of the log, and how a stored one is read back
//! and completed.

use super::keys::{meta_key, GENERATION};
use super::log_files::LogFiles;
use super::log_index::LogIndex;
use crate::domain::Hash;
use crate::log::StoreError;

/// Where the writer stands: persisted in `meta` with every batch, so that
/// start-up reads it instead of the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct WriterState {
    pub(super) last_position: u64,
    /// The latest recorded_at in the log (µs), which need not be the last
    /// position's: see `clock_lag`.
    pub(super) last_micros: i64,
    pub(super) last_suggestion: u64,
    /// The log chain's hash at `last_position`.
    pub(super) last_log_hash: Hash,
    /// Articles ever created (commits at version 1).
    pub(super) articles: u64,
    /// The most a commit's recorded_at lies before the latest recorded_at
    /// of the positions before it (µs): 0 while one clock wrote the log;
    /// more where replicas' clocks differ (time increases along each
    /// article's chain only, `domain::link`). A reader that searches the
    /// log by time widens its search by this much.
    pub(super) clock_lag: i64,
}

impl WriterState {
    pub(super) const KEY: &'static str = "writer";

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&self.last_position.to_be_bytes());
        bytes.extend_from_slice(&self.last_micros.to_be_bytes());
        bytes.extend_from_slice(&self.last_suggestion.to_be_bytes());
        bytes.extend_from_slice(&self.last_log_hash);
        bytes.extend_from_slice(&self.articles.to_be_bytes());
        bytes.extend_from_slice(&self.clock_lag.to_be_bytes());
        bytes
    }

    /// The state, and which of the fields added later it held: records
    /// written before the article count was kept have 56 bytes, before the
    /// clock lag 64 (the caller derives what is missing).
    pub(super) fn decode(bytes: &[u8]) -> Option<(Self, Held)> {
        let word = |i: usize| bytes.get(i * 8..i * 8 + 8)?.try_into().ok();
        let later = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
        let articles = later(56).map(u64::from_be_bytes);
        let clock_lag = later(64).map(i64::from_be_bytes);
        Some((
            Self {
                last_position: u64::from_be_bytes(word(0)?),
                last_micros: i64::from_be_bytes(word(1)?),
                last_suggestion: u64::from_be_bytes(word(2)?),
                last_log_hash: bytes.get(24..56)?.try_into().ok()?,
                articles: articles.unwrap_or(0),
                clock_lag: clock_lag.unwrap_or(0),
            },
            Held {
                articles: articles.is_some(),
                clock_lag: clock_lag.is_some(),
            },
        ))
    }

    /// Takes the next position's recorded_at (µs) into `last_micros` and
    /// `clock_lag`.
    pub(super) fn record_time(&mut self, micros: i64) {
        self.clock_lag = self.clock_lag.max(self.last_micros.saturating_sub(micros));
        self.last_micros = self.last_micros.max(micros);
    }
}

/// Which of the fields added later a stored writer state held.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) articles: bool,
    pub(super) clock_lag: bool,
}

/// Where the writer stood at its last flushed batch, the read-model
/// generation in use, and which of the later fields the stored state held:
/// what `meta` says.
pub(super) fn stored_state(tree: &sled::Tree) -> Result<(WriterState, u8, Held), StoreError> {
    let generation = tree
        .get(meta_key(GENERATION))?
        .and_then(|v| v.first().copied())
        .unwrap_or(0);
    let (state, held) = match tree.get(meta_key(WriterState::KEY))? {
        Some(bytes) => WriterState::decode(&bytes)
            .ok_or_else(|| StoreError::Corrupt("the writer state in meta is corrupt".into()))?,
        None => (
            WriterState::default(),
            Held {
                articles: true,
                clock_lag: true,
            },
        ),
    };
    Ok((state, generation, held))
}

/// `state` with what a state written before a field was kept lacks
/// (`held`), derived from the log: once; the next batch stores it.
pub(super) fn completed_state(
    mut state: WriterState,
    held: Held,
    log: &LogFiles,
    index: &LogIndex,
) -> Result<WriterState, StoreError> {
    if !held.clock_lag {
        state.clock_lag = clock_lag_of_log(log, state.last_position)?;
    }
    if !held.articles {
        state.articles = index.articles_through(state.last_position);
    }
    Ok(state)
}

/// The log's clock lag (`WriterState::clock_lag`) through `last`, from the
/// recorded_at of every commit.
fn clock_lag_of_log(log: &LogFiles, last: u64) -> Result<i64, StoreError> {
    let mut state = WriterState::default();
    if last > 0 {
        log.read_range(1, last, |_, bytes| {
            let head = crate::codec::decode_commit_head(bytes)?;
            state.record_time(head.recorded_at.timestamp_micros());
            Ok(())
        })?;
    }
    Ok(state.clock_lag)
}
