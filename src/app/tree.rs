//! The log's Merkle tree and its signed checkpoints (issue 16), kept off
//! the write path.
//!
//! A thread of its own (at the applier's low priority) takes each durable
//! commit in log order, finds the answer as it stands after it (the state
//! cache's, its own cache's, or a fold from the nearest snapshot), and
//! appends leaf `position − 1`, `merkle::commit_leaf(commit hash,
//! answer_digest)`, to the tree's files (`store::TreeWriter`). While the
//! tree grows it signs a C2SP checkpoint at most once an interval, and at
//! once when a reader waits for one (`Tree::covering`); each is recorded
//! on disk after the files it commits to are synced.
//!
//! It never signs two checkpoints that disagree: the one recorded last
//! is pinned, and until the tree has been grown from the log to its size
//! and gives its root, nothing new is signed. If the log gives another
//! root there (it is not the log that was signed), the tree refuses to
//! sign at all and says why to every reader.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::background::Background;
use super::read::fold_version;
use super::AppError;
use crate::domain::merkle;
use crate::domain::{
    hex, leaf_answer_digest, log_hash, Article, ArticleVersion, Commit, Event, Hash,
};
use crate::log::Log as _;
use crate::projection::StateCache;
use crate::signing::KeyRing;
use crate::store::{
    default_origin, recorded_checkpoint, ReadModels, SledStore, TreeNodes, TreeWriter, TREE_DIR,
};
use crate::tlog::checkpoint::{check_origin, Checkpoint, LOG_HASH_EXTENSION};
use crate::tlog::note::Note;
use crate::verifier_key::VerifierKey;

/// How often a checkpoint is signed while the log grows, unless configured.
const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Commits read and hashed at a time.
const CHUNK: u64 = 512;

/// The bound of the tree thread's own article states (those the state
/// cache no longer holds at the version it needs).
const OWN_STATES_BYTES: u64 = 16 * 1024 * 1024;

/// How long the thread waits after a failed read or write before trying
/// again.
const RETRY: Duration = Duration::from_secs(1);

/// How long the thread lets durable commits gather before it grows the
/// tree by them, unless a reader waits for a checkpoint: a wake-up a
/// commit took CPU from the appends at one in flight (BENCHMARKS.md).
const GATHER: Duration = Duration::from_millis(5);

/// What the tree needs from the configuration.
#[derive(Clone, Debug)]
pub struct TreeOptions {
    /// The checkpoints' origin line; none: the one this data directory
    /// took at its first start, `answerlog/<key id>` of the signing key
    /// then (kept in `tree/origin`, so that a key rotation does not rename
    /// the log).
    pub origin: Option<String>,
    pub checkpoint_interval: Duration,
}

impl Default for TreeOptions {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}

/// A checkpoint the server signed: the note's bytes as signed, and its
/// body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignedCheckpoint {
    pub(crate) note: Vec<u8>,
    pub(crate) checkpoint: Checkpoint,
}

/// The last checkpoint signed, as it changes.
#[derive(Clone, Debug)]
pub(crate) struct SignedCheckpoints {
    status: watch::Receiver<Status>,
}

impl SignedCheckpoints {
    /// The last checkpoint signed, unless signing is refused.
    pub(crate) fn latest(&mut self) -> Option<Arc<SignedCheckpoint>> {
        let status = self.status.borrow_and_update();
        status.signed.clone().filter(|_| status.refused.is_none())
    }

    /// Waits for the tree's next change (never, once the thread has
    /// stopped).
    pub(crate) async fn changed(&mut self) {
        if self.status.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What the thread publishes.
#[derive(Clone, Debug, Default)]
struct Status {
    /// Leaves in the tree's files, readable.
    size: u64,
    /// The last checkpoint signed for this origin.
    signed: Option<Arc<SignedCheckpoint>>,
    /// Why it refuses to sign, if it does.
    refused: Option<String>,
}

/// The tree as readers see it, and the handle of its thread.
pub(crate) struct Tree {
    /// First, so that it stops (and joins) the thread before the rest
    /// goes: with `wanted`'s sender gone, the thread's `changed()` would
    /// return at once, again and again.
    thread: Background,
    nodes: TreeNodes,
    origin: String,
    status: watch::Receiver<Status>,
    /// The least size a reader waits for a checkpoint of.
    wanted: watch::Sender<u64>,
    /// Rounds of the thread's loop: a thread at rest wakes about once an
    /// interval (a test holds it to that).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    rounds: Arc<AtomicU64>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("origin", &self.origin)
            .field("size", &self.status.borrow().size)
            .finish_non_exhaustive()
    }
}

impl Tree {
    /// Opens the tree in `data_dir` and starts its thread.
    pub(crate) fn start(
        data_dir: &Path,
        store: Arc<SledStore>,
        states: Arc<StateCache>,
        keys: Arc<KeyRing>,
        options: &TreeOptions,
    ) -> Result<Self, AppError> {
        let dir = data_dir.join(TREE_DIR);
        let unreadable = |e: std::io::Error| {
            AppError::Unavailable(format!("the Merkle tree's files cannot be read: {e}"))
        };
        let origin = match &options.origin {
            Some(origin) => origin.clone(),
            None => default_origin(&dir, &format!("answerlog/{}", keys.current_id()))
                .map_err(unreadable)?,
        };
        check_origin(&origin).map_err(|e| AppError::invalid("log_origin", e))?;
        let mut refused = None;
        let pinned = match recorded_checkpoint(&dir).map_err(unreadable)? {
            None => None,
            Some(bytes) => match read_recorded(&bytes) {
                Ok(pinned) => Some(pinned),
                Err(why) => {
                    refused = Some(format!(
                        "the last checkpoint recorded ({}/checkpoint) cannot be read ({why}): \
                         nothing is signed until it is moved away",
                        dir.display()
                    ));
                    None
                }
            },
        };
        let keep = pinned.as_ref().map_or(0, |p| p.checkpoint.size);
        let (mut writer, mut nodes) = TreeWriter::open(&dir, keep).map_err(unreadable)?;
        // The files give the pinned checkpoint's root (they were synced
        // before it was recorded), or they are grown again from the log,
        // which must give it.
        let mut verified = false;
        if pinned.is_some() && writer.size() < keep {
            // Files shorter than the checkpoint recorded after they were
            // synced: nothing in them is trusted.
            tracing::warn!(
                size = keep,
                held = writer.size(),
                "the Merkle tree's files hold less than the last checkpoint: growing the tree again from the log"
            );
            (writer, nodes) = TreeWriter::open(&dir, 0).map_err(unreadable)?;
        }
        if let Some(pinned) = &pinned {
            if writer.size() == keep {
                verified = merkle::root(&nodes, keep).ok() == Some(pinned.checkpoint.root);
                if !verified {
                    tracing::warn!(
                        size = keep,
                        "the Merkle tree's files do not give the root of the last checkpoint: growing the tree again from the log"
                    );
                    (writer, nodes) = TreeWriter::open(&dir, 0).map_err(unreadable)?;
                }
            }
        }
        let served = pinned
            .clone()
            .filter(|p| p.checkpoint.origin == origin)
            .map(Arc::new);
        let (status_tx, status) = watch::channel(Status {
            size: writer.size(),
            signed: served,
            refused,
        });
        let (wanted, wanted_rx) = watch::channel(0);
        let grower_nodes = nodes.clone();
        let grower_origin = origin.clone();
        let interval = options.checkpoint_interval;
        let pinned = pinned.map(|p| p.checkpoint).filter(|_| !verified);
        let rounds = Arc::new(AtomicU64::new(0));
        let grower_rounds = Arc::clone(&rounds);
        let make = move |stop| Grower {
            read_models: store.read_models(),
            store,
            states,
            own: StateCache::new(OWN_STATES_BYTES),
            writer,
            nodes: grower_nodes,
            keys,
            origin: grower_origin,
            interval,
            recorded: keep,
            pinned,
            last_signed: None,
            chain: None,
            last_recorded: None,
            status: status_tx,
            wanted: wanted_rx,
            stop,
            rounds: grower_rounds,
        };
        let thread = Background::spawn(
            "answerlog-tree",
            "the Merkle tree's",
            Some(crate::store::LOW_PRIORITY_NICE),
            move |stop| async move { make(stop).grow_and_sign().await },
        )?;
        Ok(Self {
            nodes,
            origin,
            status,
            wanted,
            rounds,
            thread,
        })
    }

    /// The checkpoints' origin.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Leaves in the tree now.
    pub(crate) fn size(&self) -> u64 {
        self.status.borrow().size
    }

    /// For the metrics: leaves, the last signed checkpoint's size, and
    /// whether signing is refused.
    pub(crate) fn levels(&self) -> (u64, u64, bool) {
        let status = self.status.borrow();
        (
            status.size,
            status.signed.as_ref().map_or(0, |s| s.checkpoint.size),
            status.refused.is_some(),
        )
    }

    /// The tree's nodes: every complete subtree within `size()` leaves.
    pub(crate) fn nodes(&self) -> &TreeNodes {
        &self.nodes
    }

    /// The checkpoints as the thread signs them.
    pub(crate) fn signed_checkpoints(&self) -> SignedCheckpoints {
        SignedCheckpoints {
            status: self.status.clone(),
        }
    }

    /// The latest signed checkpoint once one covers the first `size`
    /// commits: waits for the tree to reach them and has one signed at
    /// once if the last is older. `DataLoss` if the tree refuses to sign.
    pub(crate) async fn covering(&self, size: u64) -> Result<Arc<SignedCheckpoint>, AppError> {
        let mut status = self.status.clone();
        loop {
            {
                let now = status.borrow_and_update();
                if let Some(why) = &now.refused {
                    return Err(AppError::DataLoss(why.clone()));
                }
                // The tree holds the checkpoint's leaves (after a restart it
                // is grown again up to the one recorded): proofs within it
                // can be made.
                if let Some(signed) = now.signed.as_ref() {
                    if signed.checkpoint.size >= size && now.size >= signed.checkpoint.size {
                        return Ok(Arc::clone(signed));
                    }
                }
            }
            self.wanted.send_if_modified(|wanted| {
                let raise = *wanted < size;
                if raise {
                    *wanted = size;
                }
                raise
            });
            if status.changed().await.is_err() {
                return Err(AppError::Unavailable(
                    "the Merkle tree's thread has stopped".into(),
                ));
            }
        }
    }

    /// Stops the thread once it has written what it holds.
    pub(crate) fn stop(&self) {
        self.thread.stop();
    }
}

/// The recorded note, as this server wrote it.
fn read_recorded(bytes: &[u8]) -> Result<SignedCheckpoint, String> {
    let note = Note::parse(bytes).map_err(|e| e.to_string())?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    Ok(SignedCheckpoint {
        note: bytes.to_vec(),
        checkpoint,
    })
}

/// The tree's thread.
struct Grower {
    store: Arc<SledStore>,
    read_models: ReadModels,
    /// The writer's current states: the answer after a commit, most often.
    states: Arc<StateCache>,
    /// The states this thread made, for the commits after them.
    own: StateCache,
    writer: TreeWriter,
    nodes: TreeNodes,
    keys: Arc<KeyRing>,
    origin: String,
    interval: Duration,
    /// The last checkpoint signed: the tree must give its root at its
    /// size before anything new is signed. Cleared once it does.
    pinned: Option<Checkpoint>,
    last_signed: Option<Instant>,
    /// The log chain's hash at the tree's size, once known (read from the
    /// store at the first need, then extended leaf by leaf).
    chain: Option<Hash>,
    /// The size of the last checkpoint recorded on disk, and when: one is
    /// recorded (its files synced first) at most once an interval, and at
    /// a clean stop.
    recorded: u64,
    last_recorded: Option<Instant>,
    status: watch::Sender<Status>,
    wanted: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    rounds: Arc<AtomicU64>,
}

impl Grower {
    async fn grow_and_sign(&mut self) {
        let mut durable = self.store.durable_position();
        loop {
            self.rounds.fetch_add(1, Ordering::Relaxed);
            self.wanted.borrow_and_update();
            if *self.stop.borrow() {
                // What it grew is signed and recorded, so that the next
                // start grows the tree on from here.
                let outcome = self
                    .writer
                    .write()
                    .map_err(io_failed)
                    .and_then(|()| if self.stale() { self.sign() } else { Ok(()) })
                    .and_then(|()| self.record());
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "the Merkle tree's last leaves were not recorded");
                }
                return;
            }
            let through = *durable.borrow_and_update();
            let outcome = if self.writer.written() < self.writer.size() {
                self.flush()
            } else if self.writer.size() < through {
                self.grow(through.min(self.writer.size() + CHUNK))
            } else if self.should_sign() {
                self.sign()
            } else if self.record_due() {
                self.record()
            } else {
                Ok(())
            };
            if let Err(e) = outcome {
                // What was pushed stays pushed (each leaf is whole), and
                // a write that failed is made again at the same place.
                tracing::warn!(error = %e, "the Merkle tree's thread failed; trying again");
                let _ = tokio::time::timeout(RETRY, self.stop.changed()).await;
                continue;
            }
            if self.writer.size() < *durable.borrow() || self.should_sign() || self.record_due() {
                continue;
            }
            let next = self.next_signing().min(self.next_recording());
            tokio::select! {
                changed = durable.changed() => {
                    if changed.is_err() {
                        // The store stopped: nothing more will come.
                        let _ = self.stop.changed().await;
                        continue;
                    }
                    // Let a few commits gather, unless a reader waits.
                    tokio::select! {
                        () = tokio::time::sleep(GATHER) => {}
                        _ = self.wanted.changed() => {}
                        _ = self.stop.changed() => {}
                    }
                }
                _ = self.wanted.changed() => {}
                _ = self.stop.changed() => {}
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// Appends the leaves of the commits up to `through` and publishes them.
    fn grow(&mut self, through: u64) -> Result<(), AppError> {
        let positions: Vec<u64> = (self.writer.size() + 1..=through).collect();
        // A redaction rewrites earlier commits before its own is durable
        // (docs/AUDIT.md, "Redaction"): leaves worked out across one, from
        // commits read before it, are worked out again from the commits as
        // they stand, whose kept answer digests then stand for what changed.
        let leaves = loop {
            let rewrites = self.store.rewrites();
            let leaves = self.leaves(&positions)?;
            if self.store.rewrites() == rewrites {
                break leaves;
            }
        };
        let mut chain = self.chain_at_size()?;
        for (position, hash, leaf) in leaves {
            self.writer.push(leaf);
            chain = log_hash(&chain, position, &hash);
            self.chain = Some(chain);
        }
        self.flush()
    }

    /// Each commit's position, hash and Merkle leaf.
    fn leaves(&mut self, positions: &[u64]) -> Result<Vec<(u64, Hash, Hash)>, AppError> {
        let commits = self.store.take_commits(positions)?;
        let mut leaves = Vec::with_capacity(positions.len());
        for (&position, commit) in positions.iter().zip(commits) {
            let commit = commit
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            let state = self.state_after(&commit)?;
            let hash = Hash::try_from(commit.hash.as_slice()).map_err(|_| {
                AppError::DataLoss(format!("the commit at {position} has no 32-byte hash"))
            })?;
            let answer = leaf_answer_digest(&commit, &state.article);
            leaves.push((position, hash, merkle::commit_leaf(&hash, &answer)));
        }
        Ok(leaves)
    }

    /// The log chain's hash at the tree's size (leaves pushed).
    fn chain_at_size(&mut self) -> Result<Hash, AppError> {
        if let Some(chain) = self.chain {
            return Ok(chain);
        }
        let size = self.writer.size();
        let chain = if size == 0 {
            [0; 32]
        } else {
            self.store
                .log_hashes(&[size])?
                .pop()
                .ok_or_else(|| AppError::DataLoss(format!("the log chain has no hash at {size}")))?
        };
        self.chain = Some(chain);
        Ok(chain)
    }

    /// Writes the leaves pushed to the files, checks the pinned checkpoint
    /// once the tree reaches it, and publishes the size. A write that
    /// failed is made again, at the same place, by the next call.
    fn flush(&mut self) -> Result<(), AppError> {
        self.writer.write().map_err(io_failed)?;
        let size = self.writer.written();
        if let Some(pinned) = self.pinned.as_ref().filter(|p| p.size <= size) {
            let root = merkle::root(&self.nodes, pinned.size).map_err(io_failed)?;
            if root != pinned.root {
                let why = format!(
                    "the log does not extend the last checkpoint signed: at size {} it was signed with root {}, and the log gives {}; nothing is signed until an operator restores the log that was signed",
                    pinned.size,
                    hex(&pinned.root),
                    hex(&root)
                );
                tracing::error!("{why}");
                self.status.send_modify(|s| s.refused = Some(why));
            }
            self.pinned = None;
        }
        self.status.send_modify(|s| s.size = size);
        Ok(())
    }

    /// The article as it stands after `commit`.
    fn state_after(&self, commit: &Commit) -> Result<Arc<ArticleVersion>, AppError> {
        let (id, version) = (commit.article_id, commit.version);
        if commit
            .events
            .iter()
            .any(|e| matches!(e, Event::PayloadRedacted { .. }))
        {
            // A redaction changed earlier versions: no state held from
            // before it stands, and the read models, folded again from the
            // rewritten log as they took it, give the state after it.
            let state = Arc::new(fold_version(&self.store, &self.read_models, id, version)?);
            self.own.put(Arc::clone(&state));
            return Ok(state);
        }
        let held = |wanted: u64| {
            [&*self.states, &self.own]
                .into_iter()
                .find_map(|cache| cache.get(id).filter(|s| s.article.version == wanted))
        };
        if let Some(state) = held(version) {
            self.own.put(Arc::clone(&state));
            return Ok(state);
        }
        let previous = match version {
            0 | 1 => None,
            _ => Some(match held(version - 1) {
                Some(state) => state.article.clone(),
                None => fold_version(&self.store, &self.read_models, id, version - 1)?.article,
            }),
        };
        let article = Article::fold(previous, id, version, &commit.events).ok_or_else(|| {
            AppError::DataLoss(format!(
                "version {version} of article {id} (position {}) does not fold",
                commit.global_position
            ))
        })?;
        let state = Arc::new(ArticleVersion {
            article,
            global_position: commit.global_position,
            recorded_at: commit.recorded_at,
        });
        self.own.put(Arc::clone(&state));
        Ok(state)
    }

    /// Whether a checkpoint is due: one is stale, and the interval is
    /// over or a reader waits for one.
    fn should_sign(&self) -> bool {
        let status = self.status.borrow();
        let signed_size = status.signed.as_ref().map_or(0, |s| s.checkpoint.size);
        // A reader waits for a size this tree holds (a size beyond it
        // makes no one sign before the interval).
        let wanted = *self.wanted.borrow();
        let asked =
            (wanted > signed_size && wanted <= self.writer.written()) || status.signed.is_none();
        drop(status);
        self.stale()
            && (asked
                || self
                    .last_signed
                    .is_none_or(|at| at.elapsed() >= self.interval))
    }

    /// Whether the tree holds what the last checkpoint does not (or the
    /// last was another origin's or key's), past the last one signed
    /// before a restart, with nothing refused.
    fn stale(&self) -> bool {
        let status = self.status.borrow();
        if status.refused.is_some() || self.pinned.is_some() {
            return false;
        }
        match &status.signed {
            None => true,
            Some(signed) => {
                signed.checkpoint.size < self.writer.written()
                    || !self.keys.signed_note(&signed.note, &self.origin)
            }
        }
    }

    /// When the interval since the last checkpoint is over, if one is
    /// stale; otherwise an interval from now (new commits wake the thread
    /// before then).
    fn next_signing(&self) -> Instant {
        let due = self.status.borrow().signed.is_some() && self.stale();
        wake_at(self.last_signed, self.interval, due, Instant::now())
    }

    fn sign(&mut self) -> Result<(), AppError> {
        let size = self.writer.written();
        if size != self.writer.size() {
            // Leaves pushed but not written (a write to try again): the
            // chain is at the pushed size, the checkpoint at the written.
            return Ok(());
        }
        let root = merkle::root(&self.nodes, size).map_err(io_failed)?;
        let chain = self.chain_at_size()?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: vec![format!("{LOG_HASH_EXTENSION} {}", hex(&chain))],
        };
        let text = checkpoint.text();
        let signature = self
            .keys
            .sign_note(&text, &self.origin)
            .map_err(AppError::Unavailable)?;
        let note = Note {
            text,
            signatures: vec![signature],
        }
        .to_bytes();
        self.last_signed = Some(Instant::now());
        let signed = Arc::new(SignedCheckpoint { note, checkpoint });
        self.status.send_modify(|s| s.signed = Some(signed));
        Ok(())
    }

    /// Whether the last checkpoint signed should be recorded now: it is
    /// not yet, and the interval since the last record is over.
    fn record_due(&self) -> bool {
        self.unrecorded()
            && self
                .last_recorded
                .is_none_or(|at| at.elapsed() >= self.interval)
    }

    /// Whether the last checkpoint signed is larger than the last recorded.
    fn unrecorded(&self) -> bool {
        self.status
            .borrow()
            .signed
            .as_ref()
            .is_some_and(|s| s.checkpoint.size > self.recorded)
    }

    /// When the interval since the last record is over.
    fn next_recording(&self) -> Instant {
        wake_at(
            self.last_recorded,
            self.interval,
            self.unrecorded(),
            Instant::now(),
        )
    }

    /// Records the last checkpoint signed, once the files it commits to are
    /// synced: what an open keeps to.
    fn record(&mut self) -> Result<(), AppError> {
        let Some(signed) = self.status.borrow().signed.clone() else {
            return Ok(());
        };
        if signed.checkpoint.size <= self.recorded {
            return Ok(());
        }
        self.writer
            .record_checkpoint(&signed.note)
            .map_err(io_failed)?;
        self.recorded = signed.checkpoint.size;
        self.last_recorded = Some(Instant::now());
        Ok(())
    }
}

impl super::App {
    /// The latest signed checkpoint once one covers the log through
    /// `min_position` and every write acknowledged before the call (a
    /// reader sees their own writes in it), waiting until `deadline`.
    pub(crate) async fn checkpoint(
        &self,
        min_position: u64,
        deadline: Option<Instant>,
    ) -> Result<Arc<SignedCheckpoint>, AppError> {
        // The log through `min_position` first (it may be a write made
        // through another replica): no one waits on the tree for a
        // position the log does not hold.
        self.wait_for_position(min_position, deadline).await?;
        let size = min_position.max(self.store.acknowledged());
        self.checkpoint_covering(size, deadline).await
    }

    /// The latest checkpoint once one covers the first `size` commits and
    /// has the cosignatures the witness policy needs, waiting until
    /// `deadline`; past it UNAVAILABLE, naming what the checkpoint must
    /// meet.
    pub(super) async fn checkpoint_covering(
        &self,
        size: u64,
        deadline: Option<Instant>,
    ) -> Result<Arc<SignedCheckpoint>, AppError> {
        let witnessed = self.witnessing.quorum() > 0;
        let wait = async {
            // Signed at once if need be; then witnessed, if the policy
            // asks for cosignatures.
            let signed = self.tree.covering(size).await?;
            if witnessed {
                self.witnessing.covering(size).await
            } else {
                Ok(signed)
            }
        };
        match deadline {
            None => wait.await,
            Some(deadline) => tokio::time::timeout_at(deadline, wait)
                .await
                .unwrap_or_else(|_| {
                    let policy = if witnessed {
                        self.witnessing.describe()
                    } else {
                        "no witness cosignatures are required".to_owned()
                    };
                    Err(AppError::NoCheckpoint(format!(
                        "no checkpoint of {size} commits met the policy before the deadline: one signed by the key of {}; {policy}. The Merkle tree holds {} commits",
                        self.tree.origin(),
                        self.tree.size()
                    )))
                }),
        }
    }

    /// Each rotation of the signing key this data directory announced,
    /// oldest first (`key_rotation.rs`).
    pub(crate) fn key_rotations(&self) -> &[Vec<u8>] {
        &self.key_rotations
    }

    /// The key checkpoints are signed with now, as auditors pin it.
    pub(crate) fn checkpoint_key(&self) -> Result<VerifierKey, AppError> {
        self.keys
            .verifier_key(self.tree.origin())
            .map_err(AppError::FailedPrecondition)
    }
}

/// When the tree's thread must wake for a task done at most once an
/// `interval`, last done at `last`: an interval after `last` while the task
/// is `due` (a time already past when the interval is over), an interval
/// from `now` while it is not. A time in the past for a task not due would
/// wake the thread at once, again and again: a spinning thread.
fn wake_at(last: Option<Instant>, interval: Duration, due: bool, now: Instant) -> Instant {
    match last {
        Some(at) if due => later(at, interval),
        _ => later(now, interval),
    }
}

/// `at` + `interval`, or a day on if that is past what an instant holds.
fn later(at: Instant, interval: Duration) -> Instant {
    at.checked_add(interval)
        .unwrap_or_else(|| at + Duration::from_secs(86_400))
}

fn io_failed(e: std::io::Error) -> AppError {
    AppError::Unavailable(format!("the Merkle tree's files: {e}"))
}

#[cfg(test)]
mod tests;
