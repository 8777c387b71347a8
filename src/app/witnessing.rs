//! Witnesses' cosignatures of the log's checkpoints (C2SP tlog-witness),
//! off the write path.
//!
//! A thread of its own takes each checkpoint the tree signs and sends it
//! to every configured witness (`add-checkpoint`) with the consistency
//! proof from the size that witness last cosigned (learnt from its 409
//! the first time). The checkpoint with the cosignature lines it got is
//! published once it has as many as the policy's quorum; receipts and
//! `GetCheckpoint` wait for that one. A witness that is down or slow
//! holds up only those readers: writes never wait for witnesses.
//!
//! A witness that refuses a checkpoint because it cosigned another tree
//! of the log (a fork) is logged at ERROR and counted; the round is tried
//! again with the next checkpoint, or after a backoff.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::watch;
use tokio::time::Instant;

use super::background::Background;
use super::tree::{SignedCheckpoint, SignedCheckpoints};
use super::AppError;
use crate::domain::merkle;
use crate::metrics::Metrics;
use crate::store::TreeNodes;
use crate::tlog::checkpoint::parse_decimal;
use crate::tlog::cosignature::{self, CosignerKey};
use crate::tlog::note::{Note, NoteSignature};
use crate::tlog::witness::{parse_witness, AddCheckpoint};

/// How long one add-checkpoint call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer taken from a witness: a few signature lines.
const MAX_ANSWER: usize = 64 * 1024;

/// The longest wait before a round that left witnesses out is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The witnesses the log's checkpoints go to, and how many must cosign one
/// before receipts use it.
#[derive(Clone, Debug, Default)]
pub struct WitnessPolicy {
    /// Each witness: its C2SP verifier key (`name+hexkeyid+base64(0x04 ‖
    /// key)`), a space, and its submission prefix (`http://host:port`).
    pub witnesses: Vec<String>,
    /// Cosignatures a checkpoint needs; none: every witness's.
    pub quorum: Option<usize>,
}

/// A witness as the thread reaches it.
#[derive(Clone, Debug)]
struct Witness {
    key: CosignerKey,
    /// `<prefix>/add-checkpoint`.
    url: hyper::Uri,
}

/// What one witness did last, for the readers that wait.
#[derive(Clone, Debug, Default)]
struct WitnessState {
    /// The size of the last checkpoint it cosigned for this log.
    cosigned: u64,
    /// Why the last call gave no cosignature, if it did not.
    failure: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Witnessed {
    /// The latest checkpoint with the policy's cosignatures, with them.
    checkpoint: Option<Arc<SignedCheckpoint>>,
    witnesses: Vec<WitnessState>,
}

/// The witnessed checkpoints as readers see them, and the thread's handle.
pub(crate) struct Witnessing {
    names: Vec<String>,
    quorum: usize,
    witnessed: watch::Receiver<Witnessed>,
    /// None without witnesses.
    thread: Option<Background>,
}

impl std::fmt::Debug for Witnessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnessing")
            .field("witnesses", &self.names)
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

impl Witnessing {
    /// Starts the thread for `policy`'s witnesses (none: nothing starts,
    /// and every checkpoint meets the policy).
    pub(crate) fn start(
        policy: &WitnessPolicy,
        signed: SignedCheckpoints,
        nodes: TreeNodes,
        metrics: Arc<Metrics>,
    ) -> Result<Self, AppError> {
        let witnesses = policy
            .witnesses
            .iter()
            .map(|entry| {
                parse_witness(entry)
                    .map(|(key, url)| Witness { key, url })
                    .map_err(|e| AppError::invalid("witnesses", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, witness) in witnesses.iter().enumerate() {
            if witnesses[..i]
                .iter()
                .any(|w| w.key.public_key == witness.key.public_key)
            {
                return Err(AppError::invalid(
                    "witnesses",
                    format!(
                        "the witness key {} is given twice: a quorum counts each witness once",
                        witness.key
                    ),
                ));
            }
        }
        let quorum = policy.quorum.unwrap_or(witnesses.len());
        if quorum > witnesses.len() {
            return Err(AppError::invalid(
                "witness_quorum",
                format!(
                    "{quorum} cosignatures cannot come from {} witnesses",
                    witnesses.len()
                ),
            ));
        }
        let names: Vec<String> = witnesses.iter().map(|w| w.key.name.clone()).collect();
        let (status, witnessed) = watch::channel(Witnessed {
            checkpoint: None,
            witnesses: vec![WitnessState::default(); witnesses.len()],
        });
        let thread = if witnesses.is_empty() {
            None
        } else {
            let round_names = names.clone();
            let make = move |stop| Rounds {
                names: round_names,
                witnesses,
                quorum,
                signed,
                nodes,
                metrics,
                status,
                stop,
            };
            Some(Background::spawn(
                "answerlog-witnesses",
                "the witnesses'",
                None,
                move |stop| make(stop).rounds(),
            )?)
        };
        Ok(Self {
            names,
            quorum,
            witnessed,
            thread,
        })
    }

    /// How many cosignatures a checkpoint needs before readers use it.
    pub(crate) fn quorum(&self) -> usize {
        self.quorum
    }

    /// The latest witnessed checkpoint once one covers `size` commits.
    pub(crate) async fn covering(&self, size: u64) -> Result<Arc<SignedCheckpoint>, AppError> {
        let mut witnessed = self.witnessed.clone();
        loop {
            if let Some(checkpoint) = witnessed.borrow_and_update().checkpoint.as_ref() {
                if checkpoint.checkpoint.size >= size {
                    return Ok(Arc::clone(checkpoint));
                }
            }
            if witnessed.changed().await.is_err() {
                return Err(AppError::Unavailable(
                    "the witnesses' thread has stopped".into(),
                ));
            }
        }
    }

    /// The policy and what each witness did last, for an UNAVAILABLE.
    pub(crate) fn describe(&self) -> String {
        let witnessed = self.witnessed.borrow();
        let each: Vec<String> = self
            .names
            .iter()
            .zip(&witnessed.witnesses)
            .map(|(name, state)| match &state.failure {
                None => format!("{name} cosigned {} commits", state.cosigned),
                Some(why) => format!("{name} cosigned {} commits, then: {why}", state.cosigned),
            })
            .collect();
        format!(
            "cosignatures from {} of the witnesses {} (the latest checkpoint with them covers {} commits; {})",
            self.quorum,
            self.names.join(", "),
            witnessed
                .checkpoint
                .as_ref()
                .map_or(0, |c| c.checkpoint.size),
            each.join("; ")
        )
    }

    /// Stops the thread; calls under way are dropped.
    pub(crate) fn stop(&self) {
        if let Some(thread) = &self.thread {
            thread.stop();
        }
    }
}

/// The thread: a round of calls for each new checkpoint.
struct Rounds {
    witnesses: Vec<Witness>,
    /// Their names, by index.
    names: Vec<String>,
    quorum: usize,
    signed: SignedCheckpoints,
    nodes: TreeNodes,
    metrics: Arc<Metrics>,
    status: watch::Sender<Witnessed>,
    stop: watch::Receiver<bool>,
}

/// One witness's part of a round.
struct Call<'a> {
    witness: &'a Witness,
    /// The size it last cosigned, once known.
    known: Option<u64>,
    /// Its cosignature of the round's checkpoint, once it gave one.
    line: Option<NoteSignature>,
}

impl Rounds {
    async fn rounds(mut self) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let witnesses = std::mem::take(&mut self.witnesses);
        let mut calls: Vec<Call<'_>> = witnesses
            .iter()
            .map(|witness| Call {
                witness,
                known: None,
                line: None,
            })
            .collect();
        let mut round_of: Option<Arc<SignedCheckpoint>> = None;
        let mut backoff = Duration::from_secs(1);
        let mut retry_at: Option<Instant> = None;
        loop {
            if *self.stop.borrow() {
                return;
            }
            let Some(latest) = self.signed.latest() else {
                // Nothing signed (or signing refused): nothing to send, and
                // no retry to wait for.
                retry_at = None;
                tokio::select! {
                    () = self.signed.changed() => {}
                    _ = self.stop.changed() => {}
                }
                continue;
            };
            let new = round_of
                .as_ref()
                .is_none_or(|round| round.note != latest.note);
            let due = retry_at.is_some_and(|at| at <= Instant::now());
            if new || due {
                if new {
                    for call in &mut calls {
                        call.line = None;
                    }
                    backoff = Duration::from_secs(1);
                }
                let mut stop = self.stop.clone();
                tokio::select! {
                    () = self.round(&client, &mut calls, &latest) => {}
                    // Calls under way are dropped.
                    _ = stop.wait_for(|stop| *stop) => return,
                }
                round_of = Some(latest);
                retry_at = if calls.iter().all(|c| c.line.is_some()) {
                    None
                } else {
                    let at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    Some(at)
                };
                continue;
            }
            let sleep = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.signed.changed() => {}
                _ = self.stop.changed() => {}
                () = sleep => {}
            }
        }
    }

    /// Asks every witness without a cosignature of `checkpoint` for one, at
    /// once; publishes the checkpoint as soon as enough have one (a slow
    /// witness beyond the quorum holds up no reader), and again with each
    /// later cosignature.
    async fn round(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        calls: &mut [Call<'_>],
        checkpoint: &SignedCheckpoint,
    ) {
        let mut lines: Vec<Option<NoteSignature>> = calls.iter().map(|c| c.line.clone()).collect();
        let mut asks: FuturesUnordered<_> = calls
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| c.line.is_none())
            .map(|(i, call)| async move {
                let outcome = tokio::time::timeout(
                    CALL_TIMEOUT,
                    add_checkpoint(client, call, checkpoint, &self.nodes),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {CALL_TIMEOUT:?}")));
                (i, call.known, outcome)
            })
            .collect();
        while let Some((i, known, outcome)) = asks.next().await {
            let name = &self.names[i];
            let failure = match outcome {
                Ok(line) => {
                    lines[i] = Some(line);
                    self.metrics
                        .witness_cosigned(name, checkpoint.checkpoint.size);
                    None
                }
                Err(why) => {
                    self.metrics.witness_failed(name);
                    if why.contains("forked") {
                        tracing::error!(witness = %name, size = checkpoint.checkpoint.size, "no cosignature: {why}");
                    } else {
                        tracing::warn!(witness = %name, size = checkpoint.checkpoint.size, "no cosignature: {why}");
                    }
                    Some(why)
                }
            };
            let cosigned = if lines[i].is_some() {
                Some(checkpoint.checkpoint.size)
            } else {
                known
            };
            self.status.send_modify(|status| {
                let state = &mut status.witnesses[i];
                state.cosigned = cosigned.unwrap_or(state.cosigned);
                state.failure = failure;
            });
            if lines[i].is_some() {
                self.publish(checkpoint, &lines);
            }
        }
        drop(asks);
        for (call, line) in calls.iter_mut().zip(lines) {
            if line.is_some() {
                call.known = Some(checkpoint.checkpoint.size);
            }
            call.line = line;
        }
    }

    /// Publishes `checkpoint` with the cosignature lines got so far, in the
    /// order of the configuration, once they are as many as the quorum.
    fn publish(&self, checkpoint: &SignedCheckpoint, lines: &[Option<NoteSignature>]) {
        let got: Vec<&NoteSignature> = lines.iter().flatten().collect();
        if got.len() < self.quorum {
            return;
        }
        let mut bytes = checkpoint.note.clone();
        for line in &got {
            bytes.extend_from_slice(line.line().as_bytes());
        }
        let witnessed = Arc::new(SignedCheckpoint {
            note: bytes,
            checkpoint: checkpoint.checkpoint.clone(),
        });
        self.metrics.witnessed(witnessed.checkpoint.size);
        self.status.send_modify(|status| {
            let larger = status
                .checkpoint
                .as_ref()
                .is_none_or(|c| c.checkpoint.size <= witnessed.checkpoint.size);
            if larger {
                status.checkpoint = Some(witnessed);
            }
        });
    }
}

/// One add-checkpoint call, made again once with the size a 409 names:
/// the witness's cosignature line.
async fn add_checkpoint(
    client: &Client<HttpConnector, Full<Bytes>>,
    call: &mut Call<'_>,
    checkpoint: &SignedCheckpoint,
    nodes: &TreeNodes,
) -> Result<NoteSignature, String> {
    let size = checkpoint.checkpoint.size;
    for _ in 0..2 {
        let old = call.known.unwrap_or(0);
        if old > size {
            return Err(format!(
                "it cosigned a tree of {old} commits, more than this checkpoint's {size}; a later checkpoint goes to it"
            ));
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            merkle::consistency_proof(nodes, old, size)
                .map_err(|e| format!("the Merkle tree's files: {e}"))?
                .map_err(|e| format!("no consistency proof from {old} to {size}: {e}"))?
        };
        let body = AddCheckpoint {
            old,
            proof,
            checkpoint: checkpoint.note.clone(),
        }
        .to_bytes();
        let request = hyper::Request::post(call.witness.url.clone())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{}: {}", call.witness.url, chain(&e)))?;
        let status = response.status();
        let answer = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("the answer's body (at most {MAX_ANSWER} bytes): {e}"))?
            .to_bytes();
        let answer = String::from_utf8_lossy(&answer);
        match status.as_u16() {
            200 => return cosignature_of(checkpoint, &answer, &call.witness.key),
            409 => {
                let held = parse_decimal(answer.trim_end_matches('\n')).ok_or_else(|| {
                    format!("409 without the size it holds: {:?}", answer.trim_end())
                })?;
                if held == old {
                    return Err(format!(
                        "refused (409): it cosigned another checkpoint of {old} commits for this origin; the log was forked"
                    ));
                }
                call.known = Some(held);
            }
            422 => {
                return Err(format!(
                    "refused (422): the tree it cosigned at {old} commits is not the start of this one; the log was forked: {}",
                    answer.trim_end()
                ))
            }
            code => return Err(format!("refused ({code}): {}", answer.trim_end())),
        }
    }
    Err("its size changed between two calls".into())
}

/// The witness's cosignature among the lines it answered, verified.
fn cosignature_of(
    checkpoint: &SignedCheckpoint,
    answer: &str,
    key: &CosignerKey,
) -> Result<NoteSignature, String> {
    let mut bytes = checkpoint.note.clone();
    bytes.extend_from_slice(answer.as_bytes());
    let note =
        Note::parse(&bytes).map_err(|e| format!("its answer is not signature lines: {e}"))?;
    cosignature::find(&note, key)?;
    note.signatures
        .into_iter()
        .find(|line| line.name == key.name && line.key_id == key.key_id())
        .ok_or_else(|| format!("no cosignature from witness {}", key.name))
}

/// An error and its sources, each once: hyper's client says only "client
/// error (Connect)" on top.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
