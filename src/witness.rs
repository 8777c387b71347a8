//! A witness (`answerlog witness serve`): a small C2SP tlog-witness that
//! auditors can run. It trusts the logs given to it (their C2SP verifier
//! keys, whose names are their origins), keeps the last checkpoint it
//! cosigned for each, and cosigns a new one only if it extends that one
//! (`tlog::witness::check`), with a C2SP tlog-cosignature
//! (cosignature/v1) by its own Ed25519 key.
//!
//! Its state is a directory: for each origin, the last checkpoint it
//! cosigned (`<sha256 of the origin, hex>.checkpoint`, the note as the log
//! sent it), replaced whole before the cosignature is answered; and under
//! `refused/` each request it refused for a fork or a rollback
//! (evidence of the log's misbehaviour, which it keeps).

mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

pub use http::serve_witness;

use crate::domain::hex;
use crate::durable_file::write_whole;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::cosignature::{cosign, CosignerKey};
use crate::tlog::note::Note;
use crate::tlog::witness::{self as protocol, AddCheckpoint, Refusal};
use crate::verifier_key::VerifierKey;

/// The most refused requests a witness keeps as evidence.
const MAX_EVIDENCE: usize = 1000;

/// What a witness is given.
#[derive(Clone, Debug)]
pub struct WitnessOptions {
    /// Its name, in its verifier key and on its cosignature lines, e.g.
    /// `witness.example.org/w1`.
    pub name: String,
    /// Its Ed25519 secret key: 64 hex digits.
    pub key_file: PathBuf,
    /// The logs it witnesses: C2SP verifier keys, named by their origins.
    pub logs: Vec<String>,
    /// Where it keeps the last checkpoint of each log.
    pub state_dir: PathBuf,
}

/// Why a request got no cosignature.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WitnessError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The witness could not keep the new checkpoint: nothing was cosigned.
    #[error("the witness cannot keep the checkpoint: {0}")]
    Storage(String),
}

pub struct Witness {
    name: String,
    key: SigningKey,
    logs: Vec<VerifierKey>,
    dir: PathBuf,
    /// The last checkpoint cosigned for each origin. Held across the
    /// check and the record, so that two requests cannot both pass against
    /// one size and the smaller one be recorded last (a rollback).
    latest: Mutex<BTreeMap<String, Checkpoint>>,
    /// An exclusive lock on the state directory, held while the witness
    /// is open: two witnesses on one state would roll each other back.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Reads the key and the state. Every log key and every state file
    /// must be sound: a witness that forgot a checkpoint would cosign a
    /// rollback.
    pub fn open(options: &WitnessOptions) -> anyhow::Result<Self> {
        let key = read_key(&options.key_file)?;
        CosignerKey::new(&options.name, key.verifying_key().to_bytes())
            .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
        if options.logs.is_empty() {
            anyhow::bail!("--log: a witness needs at least one log's verifier key");
        }
        let logs = options
            .logs
            .iter()
            .map(|text| VerifierKey::parse(text).map_err(|e| anyhow::anyhow!("--log {text}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        std::fs::create_dir_all(&options.state_dir)
            .with_context(|| format!("cannot make {}", options.state_dir.display()))?;
        let lock_path = options.state_dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                anyhow::anyhow!(
                    "{} is in use by another witness ({e}): one witness a state directory",
                    options.state_dir.display()
                )
            },
        )?;
        let mut latest = BTreeMap::new();
        for log in &logs {
            let path = state_path(&options.state_dir, &log.name);
            let note = match std::fs::read(&path) {
                Ok(note) => note,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            let checkpoint = Note::parse(&note)
                .map_err(|e| e.to_string())
                .and_then(|note| Checkpoint::parse(&note.text))
                .map_err(|e| anyhow::anyhow!("{} is not a checkpoint: {e}", path.display()))?;
            if checkpoint.origin != log.name {
                anyhow::bail!(
                    "{} holds a checkpoint of {:?}, not {:?}",
                    path.display(),
                    checkpoint.origin,
                    log.name
                );
            }
            latest.insert(checkpoint.origin.clone(), checkpoint);
        }
        Ok(Self {
            name: options.name.clone(),
            key,
            logs,
            dir: options.state_dir.clone(),
            latest: Mutex::new(latest),
            _lock: lock,
        })
    }

    /// Its verifier key, as logs and auditors pin it:
    /// `name+hexkeyid+base64(0x04 ‖ key)`.
    pub fn verifier_key(&self) -> String {
        cosigner_key(&self.name, &self.key).to_string()
    }

    /// Answers an `add-checkpoint` request's body: the cosignature line,
    /// once the checkpoint is kept as the origin's latest.
    pub(crate) fn add_checkpoint(&self, body: &[u8]) -> Result<Vec<u8>, WitnessError> {
        let request = AddCheckpoint::parse(body).map_err(Refusal::BadRequest)?;
        let (note, claimed) = protocol::origin_of(&request)?;
        let keys: Vec<VerifierKey> = self
            .logs
            .iter()
            .filter(|k| k.name == claimed.origin)
            .cloned()
            .collect();
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let checkpoint = match protocol::check(&request, &keys, latest.get(&claimed.origin)) {
            Ok(checkpoint) => checkpoint,
            Err(refusal) => {
                let held = latest.get(&claimed.origin).map_or(0, |l| l.size);
                if held > 0 && request.old == held {
                    match &refusal {
                        Refusal::Conflict { .. } => {
                            tracing::error!(origin = %claimed.origin, size = held, "the log signed two checkpoints of one size with different roots: a fork");
                            self.keep_evidence(&claimed.origin, &request.checkpoint, body);
                        }
                        Refusal::Inconsistent(why) => {
                            tracing::warn!(origin = %claimed.origin, %why, "a checkpoint the log signed came with a consistency proof that does not verify: a fork, or a broken proof");
                            self.keep_evidence(&claimed.origin, &request.checkpoint, body);
                        }
                        _ => {}
                    }
                }
                return Err(refusal.into());
            }
        };
        write_whole(
            &state_path(&self.dir, &checkpoint.origin),
            &request.checkpoint,
        )
        .map_err(|e| WitnessError::Storage(e.to_string()))?;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = cosign(&note.text, timestamp, &self.name, &self.key)
            .map_err(|e| WitnessError::Storage(e.to_string()))?;
        tracing::info!(
            origin = %checkpoint.origin,
            size = checkpoint.size,
            "cosigned a checkpoint"
        );
        latest.insert(checkpoint.origin.clone(), checkpoint);
        Ok(line.line().into_bytes())
    }

    /// Keeps a refused request whose checkpoint the log's key signed,
    /// beside the checkpoint the witness held: `refused/<SHA-256 of the
    /// checkpoint note>.request` and `.held`. One pair a checkpoint (a
    /// request replayed with another proof replaces it), at most
    /// `MAX_EVIDENCE` pairs.
    fn keep_evidence(&self, origin: &str, checkpoint: &[u8], body: &[u8]) {
        let dir = self.dir.join("refused");
        let name = hex(&Sha256::digest(checkpoint));
        let keep = || -> std::io::Result<bool> {
            std::fs::create_dir_all(&dir)?;
            let request = dir.join(format!("{name}.request"));
            if !request.exists() && std::fs::read_dir(&dir)?.count() >= 2 * MAX_EVIDENCE {
                return Ok(false);
            }
            let held = std::fs::read(state_path(&self.dir, origin))?;
            write_whole(&dir.join(format!("{name}.held")), &held)?;
            write_whole(&request, body)?;
            Ok(true)
        };
        match keep() {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "{} holds {MAX_EVIDENCE} refused requests already: this one is not kept",
                dir.display()
            ),
            Err(e) => tracing::warn!(error = %e, "the refused request was not kept"),
        }
    }
}

/// The key a witness's cosignatures verify under.
fn cosigner_key(name: &str, key: &SigningKey) -> CosignerKey {
    CosignerKey {
        name: name.to_owned(),
        public_key: key.verifying_key().to_bytes(),
    }
}

/// Makes a new witness key in `path` (mode 0600; refused if the file is
/// there): its verifier key under `name`.
pub fn generate_witness_key(path: &Path, name: &str) -> anyhow::Result<String> {
    crate::verifier_key::check_name(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let key = crate::signing::new_key_file(path)?;
    Ok(cosigner_key(name, &key).to_string())
}

/// The verifier key of the witness key in `path` under `name`.
pub fn witness_verifier_key(path: &Path, name: &str) -> anyhow::Result<String> {
    crate::verifier_key::check_name(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    Ok(cosigner_key(name, &read_key(path)?).to_string())
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the witness key {}", path.display()))?;
    crate::signing::unhex::<32>(text.trim())
        .map(|secret| SigningKey::from_bytes(&secret))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} must hold a 32-byte Ed25519 secret key as 64 hex digits",
                path.display()
            )
        })
}

fn origin_file(origin: &str) -> String {
    hex(&Sha256::digest(origin.as_bytes()))
}

fn state_path(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("{}.checkpoint", origin_file(origin)))
}

#[cfg(test)]
mod tests;
