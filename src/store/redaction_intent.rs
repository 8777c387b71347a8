//! A redaction in progress on the embedded log (docs/AUDIT.md,
//! "Redaction"; docs/RELIABILITY.md): the commit that redacts and the
//! records it rewrites, made durable in `log/redaction.pending` before any
//! record of the log is rewritten. A crash then leaves neither the
//! rewritten records without the commit that names them nor the commit
//! without them: the next open completes the redaction before anything
//! reads the log (`complete`), and the file goes once it is done.
//!
//! The file is `ALREDACT`, a `u32` count of records, each a `u64`
//! position, a `u32` length and the record's payload (the commit first,
//! then the rewritten records), then a CRC-32 of everything before it,
//! numbers big-endian. A file that does not check was cut short as it
//! was written: nothing was rewritten after it, and it is removed.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::log_files::{LogFiles, DIR, REDACTION_INTENT as NAME};
use super::StoreError;

const MAGIC: &[u8; 8] = b"ALREDACT";

/// The commit that redacts, at its position, and the records it rewrites.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Intent {
    pub(super) commit: (u64, Vec<u8>),
    pub(super) rewrites: Vec<(u64, Vec<u8>)>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR).join(NAME)
}

impl Intent {
    fn encode(&self) -> Vec<u8> {
        let records = std::iter::once(&self.commit).chain(&self.rewrites);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(1 + self.rewrites.len() as u32).to_be_bytes());
        for (position, payload) in records {
            out.extend_from_slice(&position.to_be_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(payload);
        }
        let sum = crc32fast::hash(&out);
        out.extend_from_slice(&sum.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_be_bytes() != sum {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let (count, mut rest) = rest.split_at_checked(4)?;
        let count = u32::from_be_bytes(count.try_into().ok()?);
        let mut records = Vec::new();
        for _ in 0..count {
            let (position, after) = rest.split_at_checked(8)?;
            let (len, after) = after.split_at_checked(4)?;
            let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
            let (payload, after) = after.split_at_checked(len)?;
            records.push((
                u64::from_be_bytes(position.try_into().ok()?),
                payload.to_vec(),
            ));
            rest = after;
        }
        if !rest.is_empty() || records.is_empty() {
            return None;
        }
        let commit = records.remove(0);
        Some(Self {
            commit,
            rewrites: records,
        })
    }

    /// Makes the intent durable: written beside, synced, renamed in.
    pub(super) fn keep(&self, data_dir: &Path) -> Result<(), StoreError> {
        let to = path(data_dir);
        let written = to.with_extension("pending.new");
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&written)?;
            file.write_all(&self.encode())?;
            file.sync_all()?;
            std::fs::rename(&written, &to)?;
            File::open(data_dir.join(DIR))?.sync_all()
        };
        write().map_err(|e| StoreError::Io(format!("cannot keep {}: {e}", to.display())))
    }
}

/// Removes the intent of a redaction now done, durably.
pub(super) fn done(data_dir: &Path) -> Result<(), StoreError> {
    let at = path(data_dir);
    let remove = || -> std::io::Result<()> {
        match std::fs::remove_file(&at) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        File::open(data_dir.join(DIR))?.sync_all()
    };
    remove().map_err(|e| StoreError::Io(format!("cannot remove {}: {e}", at.display())))
}

/// Completes a redaction a crash interrupted, as the log opens: its
/// records rewritten (again: rewriting is idempotent), and its commit
/// appended if the crash came before it was. Returns whether there was
/// one. A commit at its position other than the intent's is corruption.
pub(super) fn complete(data_dir: &Path, log: &LogFiles) -> Result<bool, StoreError> {
    let at = path(data_dir);
    let _ = std::fs::remove_file(at.with_extension("pending.new"));
    let bytes = match std::fs::read(&at) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", at.display()))),
    };
    let Some(intent) = Intent::decode(&bytes) else {
        tracing::warn!(file = %at.display(), "a redaction's intent cut short as it was written: nothing was rewritten; removed");
        done(data_dir)?;
        return Ok(false);
    };
    let (position, commit) = &intent.commit;
    let last = log.last_position();
    if last + 1 < *position {
        return Err(StoreError::Corrupt(format!(
            "{} is of a redaction at position {position}, but the log ends at {last}",
            at.display()
        )));
    }
    if last >= *position && log.read(*position)?.as_deref() != Some(commit.as_slice()) {
        return Err(StoreError::Corrupt(format!(
            "{} is of a redaction at position {position}, but the log holds another commit there",
            at.display()
        )));
    }
    log.rewrite(&intent.rewrites)?;
    if last < *position {
        log.append(&[(*position, commit.as_slice())])?;
    }
    done(data_dir)?;
    tracing::warn!(
        position,
        rewritten = intent.rewrites.len(),
        "completed a redaction that a crash interrupted"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> Intent {
        Intent {
            commit: (4, b"the redaction".to_vec()),
            rewrites: vec![(1, b"one, redacted".to_vec()), (3, Vec::new())],
        }
    }

    #[test]
    fn an_intent_reads_back_and_one_cut_short_does_not() {
        let bytes = intent().encode();
        assert_eq!(Intent::decode(&bytes), Some(intent()));
        for cut in 0..bytes.len() {
            assert_eq!(Intent::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 1;
        assert_eq!(Intent::decode(&flipped), None);
    }

    /// A crash after the intent was kept, before or after the commit was
    /// appended: the next open rewrites the records and appends the
    /// commit once.
    #[test]
    fn an_interrupted_redaction_is_completed_as_the_log_opens() {
        for appended in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let log = LogFiles::open(dir.path(), 0).unwrap();
            let records: Vec<(u64, Vec<u8>)> = (1..=3)
                .map(|p| (p, format!("commit {p}").into_bytes()))
                .collect();
            let borrowed: Vec<(u64, &[u8])> =
                records.iter().map(|(p, b)| (*p, b.as_slice())).collect();
            log.append(&borrowed).unwrap();
            let intent = intent();
            intent.keep(dir.path()).unwrap();
            if appended {
                log.append(&[(4, intent.commit.1.as_slice())]).unwrap();
            }
            drop(log);
            let log = LogFiles::open(dir.path(), 0).unwrap();
            assert!(complete(dir.path(), &log).unwrap());
            let read = |p| log.read(p).unwrap().unwrap();
            assert_eq!(read(1), b"one, redacted");
            assert_eq!(read(2), b"commit 2");
            assert_eq!(read(3), b"");
            assert_eq!(read(4), b"the redaction");
            assert_eq!(log.last_position(), 4);
            assert!(!complete(dir.path(), &log).unwrap(), "done once");
            // What the old files held is gone from the directory.
            for entry in std::fs::read_dir(dir.path().join(DIR)).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                assert!(!bytes.windows(8).any(|w| w == b"commit 1"));
            }
        }
    }

    #[test]
    fn an_intent_for_another_commit_than_the_logs_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        for p in 1..=4u64 {
            log.append(&[(p, b"another".as_slice())]).unwrap();
        }
        intent().keep(dir.path()).unwrap();
        assert!(matches!(
            complete(dir.path(), &log),
            Err(StoreError::Corrupt(_))
        ));
    }
}
