//! One commit to append, as the app asks for it, and how a log seals it:
//! its version, position, time, salts and hash.

use chrono::{DateTime, Utc};

use super::AppendError;
use crate::domain::{ArticleId, CommandId, Commit, Event, Hash, Provenance, RequestHash};

/// The clock commits are stamped with: the system's, or the system's set
/// back by a fixed amount, as another machine's may run behind. Replicas
/// of one log stamp with their own clocks, so time increases along each
/// article's chain only (`domain::link::follow`); tests run a replica
/// behind to write such a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    behind_micros: i64,
}

impl Clock {
    /// A clock that runs `by` behind the system's.
    pub fn behind(by: std::time::Duration) -> Self {
        Self {
            behind_micros: i64::try_from(by.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// Now, in microseconds since the epoch.
    pub(crate) fn now_micros(self) -> i64 {
        Utc::now()
            .timestamp_micros()
            .saturating_sub(self.behind_micros)
    }
}

/// One commit to append, decided on the article at `expected_version`.
#[derive(Clone, Debug)]
pub(crate) struct AppendRequest {
    pub article_id: ArticleId,
    /// The version the decision was made on; 0 for a creation.
    pub expected_version: u64,
    pub command_id: CommandId,
    /// The request's hash, to tell a retry from a reuse of the id: the
    /// commit keeps the keyed one (`crate::request_key`).
    pub request_hash: RequestHash,
    pub actor: String,
    pub reason: String,
    /// The article's provenance once the events are applied.
    pub provenance: Provenance,
    pub events: Vec<Event>,
    /// Set when the decision was made on the state an earlier append, not
    /// yet durable, leaves (a bulk import's writes to one article): that
    /// append's command id. Unless the article's head is that append, the
    /// commit was decided on a state the log never had and is refused.
    pub decided_after: Option<CommandId>,
    /// A redaction's (docs/AUDIT.md, "Redaction"): the article's commits
    /// it rewrites, as they are to be stored, their redactions' position
    /// left 0 for the log to fill in with this commit's. The commit and
    /// the rewrites are made durable together (`redaction_intent.rs`).
    /// Empty for any other commit.
    pub rewrites: Vec<Commit>,
}

impl AppendRequest {
    /// The rewritten commits' records, their redactions made by the commit
    /// at `position`.
    pub(crate) fn rewritten_records(&self, position: u64) -> Vec<(u64, Vec<u8>)> {
        self.rewrites
            .iter()
            .map(|c| {
                let mut c = c.clone();
                for r in &mut c.redactions {
                    if r.by_position == 0 {
                        r.by_position = position;
                    }
                }
                (c.global_position, crate::codec::encode_commit(&c))
            })
            .collect()
    }
}

impl AppendRequest {
    /// The commit this request makes: `version` of `article` onto
    /// `prev_hash`, recorded now by `clock` or 1 µs after `after_micros`
    /// (time strictly increases), and its hash.
    pub(crate) fn seal(
        &self,
        article: ArticleId,
        version: u64,
        global_position: u64,
        prev_hash: &Hash,
        after_micros: i64,
        clock: Clock,
    ) -> Result<(Commit, Hash), AppendError> {
        let micros = clock.now_micros().max(after_micros + 1);
        let recorded_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| AppendError::Unavailable("the clock is out of range".into()))?;
        let mut commit = Commit {
            article_id: article,
            version,
            global_position,
            recorded_at,
            actor: self.actor.clone(),
            reason: self.reason.clone(),
            command_id: self.command_id,
            provenance: self.provenance.clone(),
            request_hash: self.request_hash.keyed,
            prev_hash: prev_hash.to_vec(),
            hash: Vec::new(),
            events: self.events.clone(),
            // Encoding v2: a fresh salt for the reason and for each
            // event's content (docs/AUDIT.md, "Commit hash v2"), and one
            // for the answer's digest in its Merkle leaf.
            salts: Some(new_salts(self.events.len())?),
            redactions: Vec::new(),
            answer_digest: None,
        };
        let hash = crate::domain::commit_hash(prev_hash, &commit);
        commit.hash = hash.to_vec();
        Ok((commit, hash))
    }
}

/// Random salts for a commit of `events` events.
fn new_salts(events: usize) -> Result<crate::domain::CommitSalts, AppendError> {
    let mut bytes = vec![0u8; 32 * (events + 2)];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppendError::Unavailable(format!("no random salt: {e}")))?;
    let mut salts = bytes
        .chunks_exact(32)
        .map(|c| <[u8; 32]>::try_from(c).expect("32 bytes"));
    let reason = salts.next().expect("two salts at least");
    let answer = salts.next().expect("two salts at least");
    Ok(crate::domain::CommitSalts {
        reason,
        events: salts.collect(),
        answer: Some(answer),
    })
}
