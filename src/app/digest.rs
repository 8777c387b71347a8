//! Signed log digests: the log chain's hash at a position, signed with the
//! server's key, for an auditor to keep and check later.

use chrono::{DateTime, Utc};

use super::{App, AppError};
use crate::domain::{backup_manifest_message, digest_message, Hash, RequestHashes, ZERO_HASH};
use crate::signing::Signed;

/// The log chain's hash at a position, and the server's signature over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogDigest {
    pub(crate) global_position: u64,
    pub(crate) log_hash: Hash,
    /// When the commit at that position was recorded (none at position 0).
    pub(crate) recorded_at: Option<DateTime<Utc>>,
    pub(crate) signed: Signed,
}

impl LogDigest {
    /// The bytes its signature covers.
    pub(crate) fn message(&self) -> Vec<u8> {
        let micros = self.recorded_at.map_or(0, |t| t.timestamp_micros());
        digest_message(self.global_position, &self.log_hash, micros)
    }
}

/// The request hashes of the log through a position, signed with the log
/// hash there (for backups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BackupManifest {
    pub(crate) global_position: u64,
    pub(crate) log_hash: Hash,
    pub(crate) request_hashes: Hash,
    pub(crate) signed: Signed,
}

impl BackupManifest {
    /// The bytes its signature covers.
    pub(crate) fn message(&self) -> Vec<u8> {
        backup_manifest_message(self.global_position, &self.log_hash, &self.request_hashes)
    }
}

impl App {
    /// The signed manifest of the log's request hashes through `position`,
    /// which must be durable. Reads every commit up to it.
    pub(crate) async fn backup_manifest(&self, position: u64) -> Result<BackupManifest, AppError> {
        let durable = self.durable();
        if position > durable {
            return Err(AppError::invalid(
                "global_position",
                format!("position {position} is past the durable end of the log ({durable})"),
            ));
        }
        let mut hashes = RequestHashes::default();
        for p in 1..=position {
            let commit = self
                .store
                .read(p)?
                .ok_or_else(|| AppError::DataLoss(format!("log position {p} is missing")))?;
            hashes.add(&commit.request_hash);
        }
        let log_hash = if position == 0 {
            ZERO_HASH
        } else {
            self.log_hash(position).await?
        };
        let request_hashes = hashes.finish();
        Ok(BackupManifest {
            global_position: position,
            log_hash,
            request_hashes,
            signed: self.keys.sign(&backup_manifest_message(
                position,
                &log_hash,
                &request_hashes,
            )),
        })
    }

    /// A signed digest of the durable log as it stands.
    pub(crate) async fn log_digest(&self) -> Result<LogDigest, AppError> {
        let position = self.durable();
        let (log_hash, recorded_at) = if position == 0 {
            (ZERO_HASH, None)
        } else {
            let commit = self
                .store
                .read(position)?
                .ok_or_else(|| AppError::DataLoss(format!("log position {position} is missing")))?;
            (self.log_hash(position).await?, Some(commit.recorded_at))
        };
        let message = digest_message(
            position,
            &log_hash,
            recorded_at.map_or(0, |t| t.timestamp_micros()),
        );
        Ok(LogDigest {
            global_position: position,
            log_hash,
            recorded_at,
            signed: self.keys.sign(&message),
        })
    }

    /// Whether a digest was signed by a key of this server's history.
    pub(crate) fn check_digest_signature(&self, digest: &LogDigest) -> Result<(), String> {
        self.keys.verify(&digest.message(), &digest.signed)
    }
}
