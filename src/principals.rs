//! Who may call: the principals file (names, roles and the SHA-256 of each
//! bearer token, never a token itself) and the check of a presented token.
//!
//! Knows no tonic: the gRPC layer asks `authenticate` and `allows`.

use crate::domain::hex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a principal may do (README, "Roles and the principals file").
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read answers, follow the event stream, suggest a question.
    Reader,
    /// A reader who also writes articles.
    Writer,
    /// A reader who also sees revisions, diffs, audits and suggestions.
    Auditor,
    /// Everything, including rebuild and bulk import.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// What a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Right {
    Read,
    Write,
    /// One article's revisions, diffs and blame: what a writer reads to
    /// know what they edit, and an auditor to know who changed what.
    History,
    Audit,
    Admin,
}

impl Right {
    /// Whether `role` has this right.
    pub(crate) fn granted_to(self, role: Role) -> bool {
        match self {
            Right::Read => true,
            Right::Write => matches!(role, Role::Writer | Role::Admin),
            Right::History => role != Role::Reader,
            Right::Audit => matches!(role, Role::Auditor | Role::Admin),
            Right::Admin => role == Role::Admin,
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// Every caller in development mode (no principals file).
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".into(),
            role: Role::Admin,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalsFile {
    #[serde(default)]
    principal: Vec<PrincipalEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalEntry {
    name: String,
    role: Role,
    /// SHA-256 of the token, 64 hex digits.
    token_sha256: Option<String>,
    /// The subject of the client certificate (mTLS) that authenticates
    /// this principal, as the server prints it: `CN=ingest, O=Example`.
    subject: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PrincipalsError {
    #[error("cannot read the principals file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the principals file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("the principals file {path} does not exist: make a token and its entry with `answerlog token new NAME --role admin`, put the entry it prints in that file (in a container, mount it there as a secret), and start again")]
    Missing { path: PathBuf },
}

/// The principals, by token hash and by certificate subject.
#[derive(Debug, Default)]
struct Table {
    /// Each principal with a token, and the SHA-256 of that token.
    tokens: Vec<(Principal, [u8; 32])>,
    /// Each principal with a client certificate, by its subject.
    subjects: std::collections::HashMap<String, Principal>,
}

/// The principals in force. Cheap to share; reloaded in place on SIGHUP.
#[derive(Debug)]
pub struct Principals {
    file: Option<PathBuf>,
    table: RwLock<Arc<Table>>,
}

impl Principals {
    /// Development mode: no file, every caller `anonymous`.
    pub fn development() -> Self {
        Self {
            file: None,
            table: RwLock::new(Arc::new(Table::default())),
        }
    }

    pub fn load(path: &Path) -> Result<Self, PrincipalsError> {
        let table = read_table(path)?;
        Ok(Self {
            file: Some(path.to_owned()),
            table: RwLock::new(Arc::new(table)),
        })
    }

    pub fn is_development(&self) -> bool {
        self.file.is_none()
    }

    /// Re-reads the file. On error the principals in force stay.
    pub fn reload(&self) -> Result<usize, PrincipalsError> {
        let Some(path) = &self.file else {
            return Ok(0);
        };
        let table = read_table(path)?;
        let n = table.tokens.len() + table.subjects.len();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(n)
    }

    /// The principal a bearer token belongs to. Every entry is compared, in
    /// constant time, so that timing tells nothing about which matched.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        if self.file.is_none() {
            return Some(Principal::anonymous());
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let table = Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()));
        let mut found = None;
        for (principal, hash) in table.tokens.iter() {
            if bool::from(hash.ct_eq(&digest)) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }

    /// The principal a verified client certificate's subject names. In
    /// development mode the subject itself, with every right.
    pub fn authenticate_subject(&self, subject: &str) -> Option<Principal> {
        if self.file.is_none() {
            return Some(Principal {
                name: subject.to_owned(),
                role: Role::Admin,
            });
        }
        let table = Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()));
        table.subjects.get(subject).cloned()
    }
}

fn read_table(path: &Path) -> Result<Table, PrincipalsError> {
    let invalid = |message: String| PrincipalsError::Invalid {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PrincipalsError::Missing {
                path: path.to_owned(),
            }
        } else {
            PrincipalsError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let file: PrincipalsFile =
        toml::from_str(&text).map_err(|e| invalid(e.message().to_owned()))?;
    let mut names = BTreeSet::new();
    let mut table = Table::default();
    for entry in file.principal {
        if entry.name.is_empty() || entry.name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "principal name {:?} is not usable",
                entry.name
            )));
        }
        if !names.insert(entry.name.clone()) {
            return Err(invalid(format!("principal {:?} appears twice", entry.name)));
        }
        let principal = Principal {
            name: entry.name,
            role: entry.role,
        };
        if entry.token_sha256.is_none() && entry.subject.is_none() {
            return Err(invalid(format!(
                "principal {:?} needs a token_sha256 or a certificate subject",
                principal.name
            )));
        }
        if let Some(text) = &entry.token_sha256 {
            let hash = parse_hash(text).ok_or_else(|| {
                invalid(format!(
                    "token_sha256 of {:?} must be 64 hex digits (the SHA-256 of the token)",
                    principal.name
                ))
            })?;
            table.tokens.push((principal.clone(), hash));
        }
        if let Some(subject) = entry.subject {
            if subject.trim().is_empty() {
                return Err(invalid(format!(
                    "the subject of {:?} is empty",
                    principal.name
                )));
            }
            if let Some(other) = table.subjects.insert(subject.clone(), principal.clone()) {
                return Err(invalid(format!(
                    "subject {subject:?} is claimed by {:?} and {:?}",
                    other.name, principal.name
                )));
            }
        }
    }
    Ok(table)
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// A new random token and the principals-file entry that admits it.
pub fn new_token(name: &str, role: Role) -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = format!("alt_{}", hex(&bytes));
    let digest = Sha256::digest(token.as_bytes());
    let entry = format!(
        "[[principal]]\nname = {}\nrole = \"{}\"\ntoken_sha256 = \"{}\"\n",
        toml::Value::String(name.to_owned()),
        role.name(),
        hex(&digest)
    );
    Ok((token, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_admitted_by_its_entry_and_no_other_token_is() {
        let (token, entry) = new_token("alice", Role::Writer).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), entry).unwrap();
        let principals = Principals::load(file.path()).unwrap();
        let alice = principals.authenticate(&token).unwrap();
        assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Writer));
        assert_eq!(principals.authenticate("alt_guess"), None);
        assert_eq!(principals.authenticate(""), None);
    }

    #[test]
    fn bad_files_are_refused_by_reason() {
        let file = tempfile::NamedTempFile::new().unwrap();
        for (text, needle) in [
            ("[[principal]]\nname = \"a\"\nrole = \"god\"\ntoken_sha256 = \"00\"\n", "god"),
            ("[[principal]]\nname = \"a\"\nrole = \"admin\"\ntoken_sha256 = \"00\"\n", "64 hex"),
            ("[[principal]]\nname = \"a\"\nrole = \"admin\"\ntoken = \"x\"\ntoken_sha256 = \"00\"\n", "token"),
            ("[[principal]]\nname = \"a\"\nrole = \"admin\"\n", "needs a token_sha256 or a certificate subject"),
            ("[[principal]]\nname = \"a\"\nrole = \"admin\"\nsubject = \"CN=x\"\n[[principal]]\nname = \"b\"\nrole = \"reader\"\nsubject = \"CN=x\"\n", "claimed by"),
        ] {
            std::fs::write(file.path(), text).unwrap();
            let e = Principals::load(file.path()).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn rights_follow_the_roles() {
        let table = [
            (Role::Reader, [true, false, false, false, false]),
            (Role::Writer, [true, true, true, false, false]),
            (Role::Auditor, [true, false, true, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        let rights_in_order = [
            Right::Read,
            Right::Write,
            Right::History,
            Right::Audit,
            Right::Admin,
        ];
        for (role, rights) in table {
            for (right, expected) in rights_in_order.into_iter().zip(rights) {
                assert_eq!(right.granted_to(role), expected, "{role:?} {right:?}");
            }
        }
    }
}
