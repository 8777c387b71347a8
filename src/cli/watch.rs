//! `answerlog audit watch`: the continuous auditor (immudb's audit mode,
//! for a transparency log). It pins the log's key, keeps the last
//! checkpoint it verified in a state file, and checks each new checkpoint:
//! signed by the pinned key under its origin, and an extension of the last
//! one (RFC 6962's consistency proof from the server, checked here). On a
//! fork, a rollback, a bad signature, a key it does not pin, a refused
//! proof between two checkpoints the server signed, or a server that says
//! its log is not the one it signed, it prints the evidence (both
//! checkpoints and the proof), records the failure in its metrics file,
//! and exits with status 3.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;

use super::client::{audit, status_error};
use super::ServerArg;
use crate::domain::Hash;
use crate::grpc::pb::{GetCheckpointRequest, GetConsistencyProofRequest};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::consistency;
use crate::tlog::cosignature::{self, CosignerKey};
use crate::tlog::note::Note;
use crate::verifier_key::VerifierKey;

/// The log was seen to misbehave: `main` exits with status 3.
#[derive(Debug, thiserror::Error)]
#[error("the log misbehaved: {0}")]
pub struct Misbehaviour(pub String);

#[derive(Debug, clap::Args)]
pub(super) struct WatchArgs {
    /// The log's key, pinned: a C2SP verifier key (name+hexkeyid+base64key)
    /// as `answerlog audit checkpoint --vkey` printed it.
    #[arg(long)]
    vkey: String,
    /// Where the last checkpoint verified is kept between runs [default:
    /// none: the first checkpoint seen is trusted, and nothing is kept].
    #[arg(long)]
    state: Option<PathBuf>,
    /// How long to wait between checks: a number with ms, s, m or h.
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    interval: Duration,
    /// Check once and exit (status 0: consistent; 3: misbehaviour).
    #[arg(long)]
    once: bool,
    /// Write Prometheus metrics to this file after each check (node
    /// exporter's textfile collector reads it), the failure included.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// A witness whose cosignature counts (its verifier key, as `answerlog
    /// witness vkey` prints it); repeat it for more. A checkpoint without
    /// the cosignatures --witness-quorum needs is not taken (it is checked
    /// again next time; with --once, status 1); a cosignature by a pinned
    /// witness that does not verify is a bad signature.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned each checkpoint
    /// [default: every one].
    #[arg(long, requires = "witnesses")]
    witness_quorum: Option<usize>,
    /// Print each check as one JSON object a line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArg,
}

/// What one check found.
enum Found {
    /// The new checkpoint extends the last verified one (or is the first).
    Verified {
        note: Vec<u8>,
        checkpoint: Checkpoint,
        from: Option<u64>,
        /// Key rotations followed to open it, as announced.
        followed: Vec<Vec<u8>>,
    },
    /// Evidence that the log misbehaved.
    Misbehaved {
        kind: &'static str,
        why: String,
        new_note: Vec<u8>,
        proof: Vec<Hash>,
    },
}

pub(super) async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let pinned = VerifierKey::parse(&args.vkey).map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let (witnesses, quorum) = cosignature::pinned_witnesses(&args.witnesses, args.witness_quorum)
        .map_err(anyhow::Error::msg)?;
    let policy = Policy {
        witnesses: &witnesses,
        quorum,
    };
    // The pinned key, then each key it was rotated to, as followed before.
    let mut keys = vec![pinned];
    let mut followed: Vec<Vec<u8>> = Vec::new();
    if let Some(path) = &args.state {
        for note in read_rotations(&rotations_path(path))? {
            let current = keys.last().expect("the pinned key");
            let next = crate::key_rotation::next_key(current, &note).map_err(|e| {
                anyhow::anyhow!(
                    "{} holds a rotation {current} did not announce: {e}",
                    rotations_path(path).display()
                )
            })?;
            keys.push(next);
            followed.push(note);
        }
    }
    let mut last = match &args.state {
        Some(path) => read_state(path, &keys)?,
        None => None,
    };
    let mut checks: u64 = 0;
    loop {
        checks += 1;
        let found = check(&args.server, &keys, &policy, last.as_ref()).await;
        match found {
            Ok(Found::Verified {
                note,
                checkpoint,
                from,
                followed: now_followed,
            }) => {
                for announcement in now_followed {
                    let current = keys.last().expect("the pinned key");
                    let next = crate::key_rotation::next_key(current, &announcement)
                        .map_err(anyhow::Error::msg)?;
                    report_rotation(&args, current, &next)?;
                    keys.push(next);
                    followed.push(announcement);
                    if let Some(path) = &args.state {
                        write_rotations(&rotations_path(path), &followed)?;
                    }
                }
                if let Some(path) = &args.state {
                    write_state(path, &note)?;
                }
                report_verified(&args, &checkpoint, from)?;
                write_metrics(&args, checks, Some(&checkpoint), None)?;
                last = Some((note, checkpoint));
            }
            Ok(Found::Misbehaved {
                kind,
                why,
                new_note,
                proof,
            }) => {
                let old = last.as_ref().map(|(note, _)| note.as_slice());
                report_evidence(&args, kind, &why, old, &new_note, &proof)?;
                write_metrics(&args, checks, last.as_ref().map(|(_, c)| c), Some(kind))?;
                return Err(Misbehaviour(format!("{kind}: {why}")).into());
            }
            Err(e) if args.once => return Err(e),
            Err(e) => noteln!(
                "audit watch: could not check this time: {}",
                super::sentence(&e)
            ),
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// One check of the server's latest checkpoint against `last`, with the
/// log's keys so far (`keys`: the pinned one first, the current last),
/// following the rotations the current key announced.
async fn check(
    server: &ServerArg,
    keys: &[VerifierKey],
    policy: &Policy<'_>,
    last: Option<&(Vec<u8>, Checkpoint)>,
) -> anyhow::Result<Found> {
    let mut client = audit(server).await?;
    let (note, rotations) = match client
        .get_checkpoint(GetCheckpointRequest { min_position: 0 })
        .await
    {
        Ok(response) => {
            let response = response.into_inner();
            (response.note, response.key_rotations)
        }
        // The server says its log is not the one it signed.
        Err(status) if status.code() == tonic::Code::DataLoss => {
            return Ok(Found::Misbehaved {
                kind: "log-diverged",
                why: format!("the server refuses to sign: {}", status.message()),
                new_note: Vec::new(),
                proof: Vec::new(),
            })
        }
        Err(status) => return Err(status_error(status)),
    };
    let misbehaved = |kind, why: String, proof: Vec<Hash>| {
        Ok(Found::Misbehaved {
            kind,
            why,
            new_note: note.clone(),
            proof,
        })
    };
    // Keys the current one handed the log to, announced: followed, one
    // rotation after another, to one that opens the checkpoint.
    let mut keys = keys.to_vec();
    let mut followed = Vec::new();
    if let Some(path) = rotations_to(&keys, &rotations, &note, MAX_ROTATIONS) {
        for (announcement, next) in path {
            keys.push(next);
            followed.push(announcement);
        }
    }
    let key = keys.last().expect("a key");
    let opened = match Note::open(&note, std::slice::from_ref(key)) {
        Ok(opened) => opened,
        Err(crate::tlog::note::NoteError::NoVerifiedSignature(_)) => {
            return misbehaved(
                "unknown-key",
                format!("the checkpoint is not signed by the pinned key {key}"),
                Vec::new(),
            )
        }
        Err(e) => return misbehaved("bad-signature", e.to_string(), Vec::new()),
    };
    let checkpoint = match Checkpoint::parse(&opened.note.text) {
        Ok(c) if c.origin == key.name => c,
        Ok(c) => {
            return misbehaved(
                "wrong-origin",
                format!(
                    "the checkpoint's origin is {:?}, not the pinned key's name {:?}",
                    c.origin, key.name
                ),
                Vec::new(),
            )
        }
        Err(e) => return misbehaved("bad-checkpoint", e, Vec::new()),
    };
    let cosigned = match cosignature::cosigners(&opened.note, policy.witnesses) {
        Ok(cosigned) => cosigned,
        Err(why) => return misbehaved("bad-signature", why, Vec::new()),
    };
    if cosigned.len() < policy.quorum {
        anyhow::bail!(
            "the checkpoint of {} commits has cosignatures from {} of the {} witnesses needed ({}): not taken yet",
            checkpoint.size,
            cosigned.len(),
            policy.quorum,
            if cosigned.is_empty() { "none".to_owned() } else { cosigned.join(", ") }
        );
    }
    let Some((old_note, old)) = last else {
        return Ok(Found::Verified {
            note,
            checkpoint,
            from: None,
            followed,
        });
    };
    if checkpoint.size < old.size {
        return misbehaved(
            "rollback",
            format!(
                "the log's tree has {} commits, fewer than the {} of the checkpoint verified last",
                checkpoint.size, old.size
            ),
            Vec::new(),
        );
    }
    let proof: Vec<Hash> = if checkpoint.size > old.size && old.size > 0 {
        let asked = client
            .get_consistency_proof(GetConsistencyProofRequest {
                old_size: old.size,
                new_size: checkpoint.size,
            })
            .await;
        match asked {
            Ok(response) => response,
            // Sizes of two checkpoints it signed: it must be able to prove.
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                return misbehaved(
                    "refused-proof",
                    format!(
                        "the server refuses a consistency proof from {} to {}: {}",
                        old.size,
                        checkpoint.size,
                        status.message()
                    ),
                    Vec::new(),
                )
            }
            Err(status) => return Err(status_error(status)),
        }
        .into_inner()
        .hashes
        .into_iter()
        .map(|h| Hash::try_from(h.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            anyhow::anyhow!("the server's consistency proof holds a hash that is not 32 bytes")
        })?
    } else {
        Vec::new()
    };
    match consistency::check(old_note, &note, &proof, &keys) {
        Ok(_) => Ok(Found::Verified {
            note,
            checkpoint,
            from: Some(old.size),
            followed,
        }),
        Err(why) => misbehaved("fork", why, proof),
    }
}

/// The witnesses whose cosignatures count, and how many a checkpoint needs.
struct Policy<'a> {
    witnesses: &'a [CosignerKey],
    quorum: usize,
}

/// The most rotations followed in one check.
const MAX_ROTATIONS: usize = 64;

/// The announcements, each by the key before it (the last of `keys`
/// first), that lead to a key that opens `note`; none if `note` opens with
/// no key they reach. An announcement whose key never signed (a rotation
/// that failed after it was announced) is a dead end, not the path.
fn rotations_to(
    keys: &[VerifierKey],
    rotations: &[Vec<u8>],
    note: &[u8],
    depth: usize,
) -> Option<Vec<(Vec<u8>, VerifierKey)>> {
    let current = keys.last()?;
    if Note::open(note, std::slice::from_ref(current)).is_ok() {
        return Some(Vec::new());
    }
    if depth == 0 {
        return None;
    }
    for announcement in rotations {
        let Ok(next) = crate::key_rotation::next_key(current, announcement) else {
            continue;
        };
        if keys.contains(&next) {
            continue;
        }
        let mut chain = keys.to_vec();
        chain.push(next.clone());
        if let Some(mut rest) = rotations_to(&chain, rotations, note, depth - 1) {
            rest.insert(0, (announcement.clone(), next));
            return Some(rest);
        }
    }
    None
}

fn report_rotation(args: &WatchArgs, old: &VerifierKey, new: &VerifierKey) -> anyhow::Result<()> {
    if args.json {
        return outln!(
            "{}",
            serde_json::json!({ "keyRotated": { "from": old.to_string(), "to": new.to_string() } })
        );
    }
    outln!(
        "{}: the key {old} announced its successor: the log is now signed by {new}",
        old.name
    )
}

fn report_verified(args: &WatchArgs, c: &Checkpoint, from: Option<u64>) -> anyhow::Result<()> {
    let root = base64::engine::general_purpose::STANDARD.encode(c.root);
    if args.json {
        return outln!(
            "{}",
            serde_json::json!({
                "verified": true,
                "origin": c.origin,
                "treeSize": c.size.to_string(),
                "rootHash": root,
                "extends": from.map(|f| f.to_string()),
            })
        );
    }
    match from {
        None => outln!(
            "{}: checkpoint of {} commits (root {root}) verified; trusted as the first",
            c.origin,
            c.size
        ),
        Some(old) => outln!(
            "{}: checkpoint of {} commits (root {root}) verified; it extends the one of {old}",
            c.origin,
            c.size
        ),
    }
}

/// The evidence, on standard output (`--json`: one object) and standard
/// error: what went wrong, both checkpoints as signed, and the proof.
fn report_evidence(
    args: &WatchArgs,
    kind: &str,
    why: &str,
    old: Option<&[u8]>,
    new: &[u8],
    proof: &[Hash],
) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let proof: Vec<String> = proof.iter().map(|h| b64.encode(h)).collect();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "verified": false,
                "misbehaviour": kind,
                "why": why,
                "lastVerified": old.map(text),
                "new": text(new),
                "consistencyProof": proof,
            })
        )?;
    }
    noteln!("audit watch: {kind}: {why}");
    if let Some(old) = old {
        noteln!("the checkpoint verified last:\n{}", text(old));
    }
    noteln!("the server's checkpoint now:\n{}", text(new));
    if !proof.is_empty() {
        noteln!("the consistency proof it gave:\n{}", proof.join("\n"));
    }
    Ok(())
}

/// The metrics file, written whole (a new file renamed over the old).
fn write_metrics(
    args: &WatchArgs,
    checks: u64,
    verified: Option<&Checkpoint>,
    failure: Option<&str>,
) -> anyhow::Result<()> {
    let Some(path) = &args.metrics_file else {
        return Ok(());
    };
    let mut text = String::new();
    text.push_str(
        "# HELP answerlog_audit_watch_checks_total Checks of the log's checkpoint made.\n",
    );
    text.push_str("# TYPE answerlog_audit_watch_checks_total counter\n");
    text.push_str(&format!("answerlog_audit_watch_checks_total {checks}\n"));
    if let Some(c) = verified {
        text.push_str("# HELP answerlog_audit_watch_verified_tree_size The tree size of the checkpoint verified last.\n");
        text.push_str("# TYPE answerlog_audit_watch_verified_tree_size gauge\n");
        text.push_str(&format!(
            "answerlog_audit_watch_verified_tree_size {}\n",
            c.size
        ));
    }
    text.push_str("# HELP answerlog_audit_watch_misbehaviour 1 when the log was seen to misbehave, by kind.\n");
    text.push_str("# TYPE answerlog_audit_watch_misbehaviour gauge\n");
    for kind in [
        "fork",
        "rollback",
        "bad-signature",
        "unknown-key",
        "wrong-origin",
        "bad-checkpoint",
        "refused-proof",
        "log-diverged",
    ] {
        text.push_str(&format!(
            "answerlog_audit_watch_misbehaviour{{kind=\"{kind}\"}} {}\n",
            u8::from(failure == Some(kind))
        ));
    }
    write_whole(path, text.as_bytes())
}

/// The last checkpoint verified, kept in `path`; it must open with one of
/// the log's keys followed so far.
fn read_state(path: &Path, keys: &[VerifierKey]) -> anyhow::Result<Option<(Vec<u8>, Checkpoint)>> {
    let note = match std::fs::read(path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let opened = Note::open(&note, keys).map_err(|e| {
        anyhow::anyhow!(
            "{} does not hold a checkpoint the pinned key signed: {e}",
            path.display()
        )
    })?;
    let checkpoint = Checkpoint::parse(&opened.note.text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Some((note, checkpoint)))
}

fn write_state(path: &Path, note: &[u8]) -> anyhow::Result<()> {
    write_whole(path, note)
}

/// Where the rotations followed are kept beside the state: `STATE.rotations`.
fn rotations_path(state: &Path) -> PathBuf {
    let mut path = state.as_os_str().to_owned();
    path.push(".rotations");
    PathBuf::from(path)
}

/// The announcements followed, a base64 note a line.
fn read_rotations(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .map(|line| {
            base64::engine::general_purpose::STANDARD
                .decode(line)
                .with_context(|| format!("{} holds a line that is not base64", path.display()))
        })
        .collect()
}

fn write_rotations(path: &Path, notes: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut text = String::new();
    for note in notes {
        text.push_str(&base64::engine::general_purpose::STANDARD.encode(note));
        text.push('\n');
    }
    write_whole(path, text.as_bytes())
}

/// Writes `bytes` to `path` whole (`durable_file`).
fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::durable_file::write_whole(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `30s`, `500ms`, `5m`, `1h`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s, m or h"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number and a unit"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{text:?}: the unit is ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("the interval must be more than 0".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::key_rotation::ROTATION_EXTENSION;
    use crate::tlog::note;

    const ORIGIN: &str = "example.org/log";

    fn vkey(key: &SigningKey) -> VerifierKey {
        VerifierKey::new(ORIGIN, key.verifying_key().to_bytes()).unwrap()
    }

    /// A checkpoint signed by `by`, with a rotation line naming `next`.
    fn signed(by: &SigningKey, next: Option<&SigningKey>) -> Vec<u8> {
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size: 7,
            root: [1; 32],
            extensions: next
                .map(|n| vec![format!("{ROTATION_EXTENSION} {}", vkey(n))])
                .unwrap_or_default(),
        };
        let text = checkpoint.text();
        Note {
            signatures: vec![note::sign(&text, ORIGIN, by).unwrap()],
            text,
        }
        .to_bytes()
    }

    #[test]
    fn rotations_are_followed_past_a_dead_end_to_the_key_that_signs() {
        let [a, b, c, d] = [1u8, 2, 3, 4].map(|n| SigningKey::from_bytes(&[n; 32]));
        // A announced B (a rotation that failed: B never signed), then C;
        // C announced D, which signs today.
        let rotations = vec![
            signed(&a, Some(&b)),
            signed(&a, Some(&c)),
            signed(&c, Some(&d)),
        ];
        let today = signed(&d, None);
        let path = rotations_to(&[vkey(&a)], &rotations, &today, MAX_ROTATIONS).unwrap();
        let keys: Vec<VerifierKey> = path.into_iter().map(|(_, k)| k).collect();
        assert_eq!(keys, [vkey(&c), vkey(&d)]);
        // Nothing leads to a key no announcement names.
        let stranger = SigningKey::from_bytes(&[9; 32]);
        assert!(rotations_to(&[vkey(&a)], &rotations, &signed(&stranger, None), 8).is_none());
        // A checkpoint the pinned key signs needs no rotation.
        assert_eq!(
            rotations_to(&[vkey(&a)], &rotations, &signed(&a, None), 8).map(|p| p.len()),
            Some(0)
        );
    }
}
