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
    /// What `seal` would otherwise make on the log's writer: the commit's
    /// salts and its events' payload digests, none of which depends on the
    /// article's head (`preseal`).
    pub presealed: Option<Presealed>,
}

/// A request's salts and its events' payload digests under them, made
/// before the request reaches the log's writer (`AppendRequest::preseal`).
#[derive(Clone, Debug)]
pub(crate) struct Presealed {
    salts: crate::domain::CommitSalts,
    digests: Vec<Hash>,
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
    /// Draws the commit's salts and hashes its events' contents now, on
    /// the caller's thread, so that the log's writer, which seals one
    /// commit after another, only hashes what depends on the article's
    /// head (docs/AUDIT.md, "Commit hash v2").
    pub(crate) fn preseal(&mut self) -> Result<(), AppendError> {
        let salts = new_salts(self.events.len())?;
        let digests = self
            .events
            .iter()
            .zip(&salts.events)
            .map(|(event, salt)| crate::domain::payload_digest(event, salt))
            .collect();
        self.presealed = Some(Presealed { salts, digests });
        Ok(())
    }

    /// The commit this request makes: `version` of `article` onto
    /// `prev_hash`, recorded now by `clock` or 1 µs after `after_micros`
    /// (time strictly increases), its hash, and the payload digests of its
    /// events that the hash covers. The request's actor, reason, events
    /// and salts move into the commit (the log's writer seals each request
    /// once); a publisher that may seal again at another version seals a
    /// clone.
    pub(crate) fn seal(
        self,
        article: ArticleId,
        version: u64,
        global_position: u64,
        prev_hash: &Hash,
        after_micros: i64,
        clock: Clock,
    ) -> Result<(Commit, Hash, Vec<Hash>), AppendError> {
        let micros = clock.now_micros().max(after_micros + 1);
        let recorded_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| AppendError::Unavailable("the clock is out of range".into()))?;
        // Encoding v2: a fresh salt for the reason and for each event's
        // content (docs/AUDIT.md, "Commit hash v2"), and one for the
        // answer's digest in its Merkle leaf.
        let (salts, digests) = match self.presealed {
            Some(presealed) => (presealed.salts, Some(presealed.digests)),
            None => (new_salts(self.events.len())?, None),
        };
        let mut commit = Commit {
            article_id: article,
            version,
            global_position,
            recorded_at,
            actor: self.actor,
            reason: self.reason,
            command_id: self.command_id,
            provenance: self.provenance,
            request_hash: self.request_hash.keyed,
            prev_hash: prev_hash.to_vec(),
            hash: Vec::new(),
            events: self.events,
            salts: Some(salts),
            redactions: Vec::new(),
            answer_digest: None,
        };
        let (hash, digests) = match digests {
            Some(digests) => (
                crate::domain::commit_hash_over(prev_hash, &commit, &digests),
                digests,
            ),
            None => crate::domain::commit_hash_and_digests(prev_hash, &commit),
        };
        commit.hash = hash.to_vec();
        Ok((commit, hash, digests))
    }
}

/// Random salts for a commit of `events` events.
fn new_salts(events: usize) -> Result<crate::domain::CommitSalts, AppendError> {
    SALTS.with_borrow_mut(|pool| {
        let mut take = || {
            pool.take()
                .map_err(|e| AppendError::Unavailable(format!("no random salt: {e}")))
        };
        Ok(crate::domain::CommitSalts {
            reason: take()?,
            answer: Some(take()?),
            events: (0..events).map(|_| take()).collect::<Result<_, _>>()?,
        })
    })
}

/// The bytes of randomness one `getrandom` call draws for the salts.
const SALT_POOL_BYTES: usize = 4096;

thread_local! {
    /// The salts of the commits sealed on this thread (the writer's, or a
    /// caller's that writes its own append).
    static SALTS: std::cell::RefCell<SaltPool> = const {
        std::cell::RefCell::new(SaltPool { bytes: Vec::new(), next: 0 })
    };
}

/// Salts drawn from the operating system's randomness 4 KiB at a time:
/// one `getrandom` call serves 128 salts, where a call for each commit's
/// took about 1% of the server's CPU at 64 appends in flight. Each byte
/// is handed out once, and zeroed in the pool as it is.
struct SaltPool {
    bytes: Vec<u8>,
    /// The first byte not yet handed out.
    next: usize,
}

impl SaltPool {
    fn take(&mut self) -> Result<[u8; 32], getrandom::Error> {
        if self.next + 32 > self.bytes.len() {
            self.bytes.resize(SALT_POOL_BYTES, 0);
            // Spent until the draw succeeds.
            self.next = SALT_POOL_BYTES;
            getrandom::fill(&mut self.bytes)?;
            self.next = 0;
        }
        let taken = &mut self.bytes[self.next..self.next + 32];
        let mut salt = [0; 32];
        salt.copy_from_slice(taken);
        taken.fill(0);
        self.next += 32;
        Ok(salt)
    }
}

/// A request of one event on `article 1`, for tests.
#[cfg(test)]
pub(crate) fn sample_request(
    expected_version: u64,
    decided_after: Option<CommandId>,
) -> AppendRequest {
    use crate::domain::RequestHash;
    AppendRequest {
        article_id: ArticleId::from_uuid(uuid::Uuid::from_u128(1)),
        expected_version,
        command_id: CommandId::from_uuid(uuid::Uuid::from_u128(2)),
        request_hash: RequestHash {
            keyed: [7; 32],
            unkeyed: [8; 32],
        },
        actor: "ada".into(),
        reason: "a test".into(),
        provenance: Provenance::default(),
        events: vec![Event::QuestionEdited {
            question: "why?".into(),
        }],
        decided_after,
        rewrites: Vec::new(),
        presealed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sample_request` with a second event.
    fn two_events() -> AppendRequest {
        let mut request = sample_request(3, None);
        request
            .events
            .push(crate::domain::Event::QuickAnswerEdited {
                quick_answer: "because".into(),
            });
        request
    }

    /// The request sealed as version 4 at position 9.
    fn sealed_at_four(request: &AppendRequest) -> (Commit, Hash, Vec<Hash>) {
        request
            .clone()
            .seal(request.article_id, 4, 9, &[5; 32], 0, Clock::default())
            .unwrap()
    }

    /// The Merkle tree's thread hashes the commit the writer sealed, where
    /// verifiers hash the one the log gives back: they must be one.
    #[test]
    fn a_sealed_commit_is_what_the_log_gives_back() {
        let request = two_events();
        let (sealed, hash, digests) = sealed_at_four(&request);
        assert_eq!(sealed.hash, hash);
        let stored =
            crate::codec::decode_commit(&crate::codec::encode_commit(&sealed)[..]).unwrap();
        assert_eq!(stored, sealed);
        // The digests kept beside the chain are the ones a reader makes.
        assert_eq!(digests, crate::domain::commit_event_digests(&stored));
        assert_eq!(digests.len(), 2);
    }

    /// A request presealed on its caller's thread seals to the commit a
    /// verifier hashes the same: its salts are the commit's, and the
    /// digests made beforehand are the ones the commit gives.
    #[test]
    fn a_presealed_request_seals_to_the_hash_its_commit_gives() {
        let mut request = two_events();
        request.preseal().unwrap();
        let (sealed, hash, digests) = sealed_at_four(&request);
        let stored =
            crate::codec::decode_commit(&crate::codec::encode_commit(&sealed)[..]).unwrap();
        assert_eq!(
            crate::domain::commit_hash_and_digests(&[5; 32], &stored),
            (hash, digests)
        );
        assert_eq!(stored.hash, hash);
        // Sealed again (a retry of the write), it keeps its salts.
        let (again, _, _) = sealed_at_four(&request);
        assert_eq!(again.salts, sealed.salts);
    }

    #[test]
    fn salts_are_distinct_across_the_pools_refills() {
        let mut pool = SaltPool {
            bytes: Vec::new(),
            next: 0,
        };
        let salts: Vec<[u8; 32]> = (0..3 * SALT_POOL_BYTES / 32 + 5)
            .map(|_| pool.take().unwrap())
            .collect();
        let distinct: std::collections::HashSet<_> = salts.iter().collect();
        assert_eq!(distinct.len(), salts.len());
        assert!(salts.iter().all(|s| s != &[0; 32]));
        // What was handed out is not kept.
        assert!(pool.bytes[..pool.next].iter().all(|&b| b == 0));
        let commit = new_salts(3).unwrap();
        assert_eq!(commit.events.len(), 3);
        assert_ne!(Some(commit.reason), commit.answer);
    }
}
