//! The log's index, in memory: where each version of each article and
//! each command's commit stand in the log, and the change feed (each
//! article's last change). sled used to hold these as three keys a commit,
//! written on every batch; here they cost a few bytes of memory a commit
//! and no write on the path of an append.
//!
//! The writer adds a batch's entries once its sync has returned, so the
//! index holds exactly what is durable, before anything is answered. It
//! is derived from the log alone, and kept between runs in `index/` files
//! of `SAVE_EVERY` entries each (`<first position, 20 digits>.keys`: a
//! header, 40 bytes an entry, a CRC), written as they fill, never synced:
//! an open loads the files that check out and reads the rest of the log's
//! commits again (at most one file's worth after a clean stop or a crash).
//!
//! A command id is kept as a 64-bit keyed hash (SipHash, a key drawn
//! anew each run); a caller reads the commit it points to and compares
//! the whole id. Two ids of one hash: the later goes to an exact map.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState as FastHash;
use std::hash::BuildHasher;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::log_files::LogFiles;
use super::StoreError;
use crate::codec::decode_commit_head;
use crate::domain::{ArticleId, CommandId, CommitHead};

/// The index's directory under the data directory.
pub(crate) const DIR: &str = "index";

/// Entries a file holds.
#[cfg(not(test))]
const SAVE_EVERY: usize = 16_384;
#[cfg(test)]
const SAVE_EVERY: usize = 100;

/// Starts every file; the format's version is its last byte.
const MAGIC: &[u8; 8] = b"ALKEYS\0\x01";

/// Magic, first position, count.
const HEADER: usize = 24;

/// Command id, article id, version.
const ENTRY: usize = 40;

/// One commit as the index takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) position: u64,
    pub(crate) article: ArticleId,
    pub(crate) version: u64,
    pub(crate) command: CommandId,
}

pub(crate) struct LogIndex {
    dir: PathBuf,
    hasher: RandomState,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each article's positions, version 1 first.
    streams: HashMap<ArticleId, Vec<u64>, FastHash>,
    /// A command id's hash (keyed: `LogIndex::key`) → the position of its
    /// first commit.
    commands: HashMap<u64, u64, FastHash>,
    /// Command ids whose hash an earlier id took.
    overflow: HashMap<CommandId, u64>,
    /// Each article's last position → the article.
    changed: BTreeMap<u64, ArticleId>,
    /// The last position the index holds.
    last: u64,
    /// The entries past the last file, oldest first.
    unsaved: Vec<IndexEntry>,
}

impl LogIndex {
    /// The index of everything `log` holds: from the files under
    /// `data_dir/index` that check out, the rest read from the log.
    pub(crate) fn open(data_dir: &Path, log: &LogFiles) -> Result<Self, StoreError> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let index = Self {
            dir,
            hasher: RandomState::new(),
            inner: RwLock::new(Inner::default()),
        };
        let last = log.last_position();
        match index.load_files(last) {
            Ok(()) => {}
            Err(Refused::PastTheLog(why)) => return Err(StoreError::Corrupt(why)),
            Err(Refused::Disagrees(why)) => {
                tracing::warn!(why = %why, "the log's index files do not agree: reading the whole log again");
                *index.write() = Inner::default();
                index.remove_files_from(0);
            }
        }
        let from = index.read().last + 1;
        if from <= last {
            if last - from >= SAVE_EVERY as u64 {
                tracing::info!(from, to = last, "indexing the log's commits");
            }
            let mut batch = Vec::with_capacity(SAVE_EVERY);
            log.read_range(from, last, |position, bytes| {
                let head = decode_commit_head(bytes).map_err(|e| {
                    StoreError::Corrupt(format!("the log's commit at position {position}: {e}"))
                })?;
                batch.push(IndexEntry {
                    position,
                    article: head.article_id,
                    version: head.version,
                    command: head.command_id,
                });
                if batch.len() == SAVE_EVERY {
                    index.add(&std::mem::take(&mut batch))?;
                }
                Ok(())
            })?;
            index.add(&batch)?;
        }
        index.write().rebuild_changed();
        Ok(index)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, command: CommandId) -> u64 {
        self.hasher.hash_one(command)
    }

    /// Takes in a durable batch's commits, in log order, following the
    /// last position held. A file that fills is written (a failure to
    /// write it is only logged: the next open reads those commits again).
    /// All or nothing: a batch that does not follow is refused whole.
    pub(crate) fn add(&self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        let full = {
            let mut inner = self.write();
            inner.check(entries).map_err(StoreError::Corrupt)?;
            for entry in entries {
                let key = self.key(entry.command);
                inner.push(key, entry, true).map_err(StoreError::Corrupt)?;
            }
            inner.take_full()
        };
        for file in full {
            if let Err(e) = self.save(&file) {
                tracing::warn!(error = %e, "cannot write a file of the log's index; the next open reads its commits again");
            }
        }
        Ok(())
    }

    /// How many articles the log had created by `position`.
    pub(crate) fn articles_through(&self, position: u64) -> u64 {
        self.read()
            .streams
            .values()
            .filter(|stream| stream.first().is_some_and(|first| *first <= position))
            .count() as u64
    }

    /// The position of `version` of `article`.
    pub(crate) fn position(&self, article: ArticleId, version: u64) -> Option<u64> {
        let index = usize::try_from(version.checked_sub(1)?).ok()?;
        self.read().streams.get(&article)?.get(index).copied()
    }

    /// The versions `from..=to` of `article` the log holds at or before
    /// `max_position`, and their positions, in order.
    pub(crate) fn positions(
        &self,
        article: ArticleId,
        from: u64,
        to: u64,
        max_position: u64,
    ) -> Vec<(u64, u64)> {
        let inner = self.read();
        let Some(stream) = inner.streams.get(&article) else {
            return Vec::new();
        };
        let from = from.max(1);
        let to = to.min(stream.len() as u64);
        (from..=to)
            .map(|version| (version, stream[(version - 1) as usize]))
            .take_while(|(_, position)| *position <= max_position)
            .collect()
    }

    /// The last version of `article` at or before `max_position`, and its
    /// position.
    fn last_version(&self, article: ArticleId, max_position: u64) -> Option<(u64, u64)> {
        let inner = self.read();
        let stream = inner.streams.get(&article)?;
        let held = stream.partition_point(|position| *position <= max_position);
        let position = *stream.get(held.checked_sub(1)?)?;
        Some((held as u64, position))
    }

    /// The positions whose commit may hold `command`, most likely first:
    /// the caller reads each and compares the whole id.
    fn command_candidates(&self, command: CommandId) -> Vec<u64> {
        self.read().candidates(self.key(command), command)
    }

    /// The commit of `command` in `log`, if the index holds one.
    pub(crate) fn find_command(
        &self,
        log: &LogFiles,
        command: CommandId,
    ) -> Result<Option<CommitHead>, StoreError> {
        for position in self.command_candidates(command) {
            let head = read_head_at(log, position)?;
            if head.command_id == command {
                return Ok(Some(head));
            }
        }
        Ok(None)
    }

    /// The last commit of `article` at or before `max_position` in `log`.
    pub(crate) fn head(
        &self,
        log: &LogFiles,
        article: ArticleId,
        max_position: u64,
    ) -> Result<Option<CommitHead>, StoreError> {
        match self.last_version(article, max_position) {
            Some((version, position)) => read_head(log, position, article, version).map(Some),
            None => Ok(None),
        }
    }

    /// Version `version` of `article` in `log`, if the index holds it at or
    /// before `max_position`.
    pub(crate) fn version(
        &self,
        log: &LogFiles,
        article: ArticleId,
        version: u64,
        max_position: u64,
    ) -> Result<Option<CommitHead>, StoreError> {
        match self.position(article, version) {
            Some(position) if position <= max_position => {
                read_head(log, position, article, version).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Up to `limit` entries of the change feed after `after_position`:
    /// the position of each article's last change, and the article.
    pub(crate) fn changed_after(&self, after_position: u64, limit: usize) -> Vec<(u64, ArticleId)> {
        self.read()
            .changed
            .range(after_position.saturating_add(1)..)
            .take(limit)
            .map(|(position, article)| (*position, *article))
            .collect()
    }

    /// Loads the files in order while they follow one another and check
    /// out; a file that does not (and every one after it) is removed.
    fn load_files(&self, log_last: u64) -> Result<(), Refused> {
        let mut files = self
            .files()
            .map_err(|e| Refused::Disagrees(e.to_string()))?;
        files.sort_unstable();
        let mut inner = self.write();
        let count: usize = files.len() * SAVE_EVERY;
        inner.commands.reserve(count);
        for (first, path) in &files {
            let expected = inner.last + 1;
            let entries = read_file(path, *first).and_then(|entries| match *first == expected {
                true => Ok(entries),
                false => Err(format!("it does not follow position {}", inner.last)),
            });
            let entries = match entries {
                Ok(entries) => entries,
                Err(why) => {
                    tracing::warn!(file = %path.display(), why = %why, "a file of the log's index does not check out: reading its commits from the log");
                    drop(inner);
                    self.remove_files_from(*first);
                    return Ok(());
                }
            };
            if *first + entries.len() as u64 - 1 > log_last {
                // Written only once its commits were durable: the log lost
                // commits that were answered, or the index is another log's.
                return Err(Refused::PastTheLog(format!(
                    "{} indexes positions through {}, and the log ends at {log_last}: the log lost answered commits, or the index is another log's (remove {} to derive it from this log)",
                    path.display(),
                    *first + entries.len() as u64 - 1,
                    self.dir.display()
                )));
            }
            for entry in &entries {
                let key = self.key(entry.command);
                inner.push(key, entry, false).map_err(Refused::Disagrees)?;
            }
            inner.unsaved.clear();
        }
        Ok(())
    }

    /// The index's files and the first position each holds.
    fn files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let first = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".keys"))
                .filter(|n| n.len() == 20)
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                files.push((first, path));
            }
        }
        Ok(files)
    }

    /// Removes the files from the one holding `first` on (all, for 0).
    fn remove_files_from(&self, first: u64) {
        for (at, path) in self.files().unwrap_or_default() {
            if at >= first {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove a file of the log's index");
                }
            }
        }
    }

    fn save(&self, entries: &[IndexEntry]) -> io::Result<()> {
        let first = entries.first().map_or(0, |e| e.position);
        let mut bytes = Vec::with_capacity(HEADER + entries.len() * ENTRY + 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&first.to_be_bytes());
        bytes.extend_from_slice(&(entries.len() as u64).to_be_bytes());
        for entry in entries {
            bytes.extend_from_slice(entry.command.as_bytes());
            bytes.extend_from_slice(entry.article.as_bytes());
            bytes.extend_from_slice(&entry.version.to_be_bytes());
        }
        let sum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&sum.to_be_bytes());
        let path = self.dir.join(format!("{first:020}.keys"));
        let partial = path.with_extension("partial");
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(&bytes)?;
        std::fs::rename(&partial, &path)
    }
}

/// Why the index's files were not taken.
enum Refused {
    /// They hold positions past the log's end.
    PastTheLog(String),
    /// They do not agree with one another: the log is read again.
    Disagrees(String),
}

impl Inner {
    /// Whether `entries` follow what the index holds, one another, and
    /// each its article's last version.
    fn check(&self, entries: &[IndexEntry]) -> Result<(), String> {
        let mut added: HashMap<ArticleId, u64> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let expected = self.last + 1 + i as u64;
            if entry.position != expected {
                return Err(format!(
                    "the index holds position {} and is given {}",
                    expected - 1,
                    entry.position
                ));
            }
            let count = added.entry(entry.article).or_insert(0);
            let before = self.streams.get(&entry.article).map_or(0, Vec::len) as u64 + *count;
            if entry.version != before + 1 {
                return Err(format!(
                    "position {} holds version {} of article {}, which has {before} before it",
                    entry.position, entry.version, entry.article
                ));
            }
            *count += 1;
        }
        Ok(())
    }

    /// Takes one entry; `unsaved`: keep it for a file.
    fn push(&mut self, key: u64, entry: &IndexEntry, unsaved: bool) -> Result<(), String> {
        if entry.position != self.last + 1 {
            return Err(format!(
                "the index holds position {} and is given {}",
                self.last, entry.position
            ));
        }
        let stream = self.streams.entry(entry.article).or_default();
        if entry.version != stream.len() as u64 + 1 {
            return Err(format!(
                "position {} holds version {} of article {}, which has {} before it",
                entry.position,
                entry.version,
                entry.article,
                stream.len()
            ));
        }
        let previous = stream.last().copied();
        stream.push(entry.position);
        match self.commands.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(entry.position);
            }
            // Another id of this hash, or the same id again (a replica's
            // retry that reached the stream twice: its first outcome
            // stands, and a look-up meets it first).
            Entry::Occupied(_) => {
                self.overflow.entry(entry.command).or_insert(entry.position);
            }
        }
        if unsaved {
            if let Some(previous) = previous {
                self.changed.remove(&previous);
            }
            self.changed.insert(entry.position, entry.article);
            self.unsaved.push(*entry);
        }
        self.last = entry.position;
        Ok(())
    }

    /// The positions whose commit may hold `command` of hash `key`.
    fn candidates(&self, key: u64, command: CommandId) -> Vec<u64> {
        self.commands
            .get(&key)
            .into_iter()
            .chain(self.overflow.get(&command))
            .copied()
            .collect()
    }

    /// The change feed from the streams, after a load that skipped it.
    fn rebuild_changed(&mut self) {
        self.changed = self
            .streams
            .iter()
            .filter_map(|(article, stream)| Some((*stream.last()?, *article)))
            .collect();
    }

    /// Every run of `SAVE_EVERY` entries not in a file, oldest first.
    fn take_full(&mut self) -> Vec<Vec<IndexEntry>> {
        let full = self.unsaved.len() / SAVE_EVERY * SAVE_EVERY;
        let taken: Vec<IndexEntry> = self.unsaved.drain(..full).collect();
        taken
            .chunks(SAVE_EVERY)
            .map(<[IndexEntry]>::to_vec)
            .collect()
    }
}

/// The head of the commit at `position`, which the index says is version
/// `version` of `article`.
fn read_head(
    log: &LogFiles,
    position: u64,
    article: ArticleId,
    version: u64,
) -> Result<CommitHead, StoreError> {
    let head = read_head_at(log, position)?;
    if (head.article_id, head.version) != (article, version) {
        return Err(StoreError::Corrupt(format!(
            "the log's index says position {position} holds version {version} of article {article}, and it holds version {} of article {}",
            head.version, head.article_id
        )));
    }
    Ok(head)
}

/// The head of the commit at `position`, which the index says the log holds.
fn read_head_at(log: &LogFiles, position: u64) -> Result<CommitHead, StoreError> {
    let bytes = log.read(position)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the log's index names position {position}, which the log does not hold"
        ))
    })?;
    let head = decode_commit_head(&bytes[..])?;
    if head.global_position != position {
        return Err(StoreError::Corrupt(format!(
            "the log's commit at position {position} says it is at {}",
            head.global_position
        )));
    }
    Ok(head)
}

/// A file's entries, if it checks out: its magic, its first position, its
/// length and its CRC.
fn read_file(path: &Path, first: u64) -> Result<Vec<IndexEntry>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let count = bytes
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or("shorter than its header")?;
    let body = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(ENTRY))
        .and_then(|b| b.checked_add(HEADER))
        .ok_or("a count out of range")?;
    if count == 0 || bytes.len() != body + 4 {
        return Err(format!("{} bytes for {count} entries", bytes.len()));
    }
    if &bytes[..8] != MAGIC || bytes[8..16] != first.to_be_bytes() {
        return Err("not an index file of this format and name".into());
    }
    if crc32fast::hash(&bytes[..body]).to_be_bytes() != bytes[body..] {
        return Err("its checksum does not match".into());
    }
    bytes[HEADER..body]
        .chunks_exact(ENTRY)
        .zip(first..)
        .map(|(entry, position)| {
            Ok(IndexEntry {
                position,
                command: CommandId::from_slice(&entry[..16]).ok_or("a bad command id")?,
                article: ArticleId::from_slice(&entry[16..32]).ok_or("a bad article id")?,
                version: u64::from_be_bytes(entry[32..40].try_into().map_err(|_| "short")?),
            })
        })
        .collect()
}

fn io_error(what: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", what.display()))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::codec::encode_commit;
    use crate::domain::{Commit, Event, Provenance};

    const ARTICLES: u64 = 7;

    fn article(n: u64) -> ArticleId {
        ArticleId::from_uuid(Uuid::from_u128(u128::from(n)))
    }

    fn command(position: u64) -> CommandId {
        CommandId::from_uuid(Uuid::from_u128(1_000_000 + u128::from(position)))
    }

    /// The commit at `position`: of article `(position − 1) % ARTICLES + 1`,
    /// which gets a version every `ARTICLES` positions.
    fn entry(position: u64) -> IndexEntry {
        IndexEntry {
            position,
            article: article((position - 1) % ARTICLES + 1),
            version: (position - 1) / ARTICLES + 1,
            command: command(position),
        }
    }

    fn commit(position: u64) -> Vec<u8> {
        let e = entry(position);
        encode_commit(&Commit {
            article_id: e.article,
            version: e.version,
            global_position: position,
            recorded_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
            actor: "a".into(),
            reason: String::new(),
            command_id: e.command,
            provenance: Provenance::default(),
            request_hash: [position as u8; 32],
            prev_hash: Vec::new(),
            hash: vec![position as u8; 32],
            events: vec![Event::QuestionEdited {
                question: "Q".into(),
            }],
            salts: None,
            redactions: Vec::new(),
            answer_digest: None,
        })
    }

    /// Appends positions `from..=to` to the log and, if given, the index,
    /// in batches of 9.
    fn append(log: &LogFiles, index: Option<&LogIndex>, from: u64, to: u64) {
        let positions: Vec<u64> = (from..=to).collect();
        for batch in positions.chunks(9) {
            let bytes: Vec<Vec<u8>> = batch.iter().map(|p| commit(*p)).collect();
            let records: Vec<(u64, &[u8])> = batch
                .iter()
                .zip(&bytes)
                .map(|(p, b)| (*p, b.as_slice()))
                .collect();
            log.append(&records).unwrap();
            if let Some(index) = index {
                let entries: Vec<IndexEntry> = batch.iter().map(|p| entry(*p)).collect();
                index.add(&entries).unwrap();
            }
        }
    }

    /// Checks every answer of `index` against a log of positions `1..=last`.
    fn check(index: &LogIndex, log: &LogFiles, last: u64) {
        for position in 1..=last {
            let e = entry(position);
            assert_eq!(index.position(e.article, e.version), Some(position));
            let found = index.find_command(log, e.command).unwrap().unwrap();
            assert_eq!(
                (found.global_position, found.version),
                (position, e.version)
            );
        }
        assert_eq!(index.find_command(log, command(last + 1)).unwrap(), None);
        assert_eq!(index.position(article(1), last), None);
        let versions = (last - 1) / ARTICLES + 1;
        let last_of = |a: u64| (versions - 1) * ARTICLES + a;
        let a = article(1);
        assert_eq!(
            index.last_version(a, u64::MAX),
            Some((versions, last_of(1)))
        );
        assert_eq!(
            index.last_version(a, last_of(1) - 1),
            Some((versions - 1, last_of(1) - ARTICLES))
        );
        assert_eq!(index.last_version(a, 0), None);
        assert_eq!(
            index.positions(a, 2, 3, u64::MAX),
            vec![(2, 1 + ARTICLES), (3, 1 + 2 * ARTICLES)]
        );
        assert_eq!(index.positions(a, 1, 3, ARTICLES), vec![(1, 1)]);
        let mut changed: Vec<(u64, ArticleId)> = (1..=ARTICLES)
            .map(|n| {
                let at = if last_of(n) <= last {
                    last_of(n)
                } else {
                    last_of(n) - ARTICLES
                };
                (at, article(n))
            })
            .collect();
        changed.sort_unstable();
        assert_eq!(index.changed_after(0, 100), changed);
        assert_eq!(index.changed_after(changed[2].0, 2), changed[3..5].to_vec());
        assert_eq!(index.articles_through(3), 3);
        assert_eq!(index.articles_through(last), ARTICLES);
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_index_finds_versions_commands_and_last_changes_and_reopens_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        let index = LogIndex::open(dir.path(), &log).unwrap();
        append(&log, Some(&index), 1, 250);
        check(&index, &log, 250);
        let saved = ["00000000000000000001.keys", "00000000000000000101.keys"];
        assert_eq!(files(dir.path()), saved);
        drop((index, log));
        let log = LogFiles::open(dir.path(), 250).unwrap();
        let index = LogIndex::open(dir.path(), &log).unwrap();
        check(&index, &log, 250);
        append(&log, Some(&index), 251, 333);
        check(&index, &log, 333);
        assert_eq!(files(dir.path()).len(), 3);
    }

    #[test]
    fn a_head_that_is_not_the_version_the_index_names_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, None, 1, 20);
        let index = LogIndex::open(dir.path(), &log).unwrap();
        // Another log's index, its positions holding other commits.
        let mut other = Inner::default();
        for position in 1..=20 {
            let mut e = entry(position);
            e.article = article(100 + position);
            e.version = 1;
            other.push(index.key(e.command), &e, true).unwrap();
        }
        *index.write() = other;
        let refused = index.head(&log, article(101), u64::MAX).unwrap_err();
        assert!(
            refused.to_string().contains("holds version 1 of article"),
            "{refused}"
        );
        assert!(index.version(&log, article(105), 1, u64::MAX).is_err());
    }

    #[test]
    fn a_file_that_does_not_check_out_is_read_again_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        let index = LogIndex::open(dir.path(), &log).unwrap();
        append(&log, Some(&index), 1, 420);
        drop(index);
        let path = |first: u64| dir.path().join(DIR).join(format!("{first:020}.keys"));
        // A flipped byte in the second file, the third lost.
        let mut bytes = std::fs::read(path(101)).unwrap();
        bytes[HEADER + 45] ^= 1;
        std::fs::write(path(101), bytes).unwrap();
        std::fs::remove_file(path(201)).unwrap();
        let index = LogIndex::open(dir.path(), &log).unwrap();
        check(&index, &log, 420);
        // Read again, and written again.
        assert_eq!(files(dir.path()).len(), 4);
        assert!(read_file(&path(101), 101).is_ok());
        // A file of a longer log than this one is not this log's index.
        let other = tempfile::tempdir().unwrap();
        let short = LogFiles::open(other.path(), 0).unwrap();
        append(&short, None, 1, 150);
        std::fs::create_dir_all(other.path().join(DIR)).unwrap();
        for first in [1, 101, 201] {
            let to = other.path().join(DIR).join(format!("{first:020}.keys"));
            std::fs::copy(path(first), to).unwrap();
        }
        let refused = LogIndex::open(other.path(), &short).err().unwrap();
        assert!(
            refused.to_string().contains("the log ends at 150"),
            "{refused}"
        );
        // Without them, the index is this log's again.
        std::fs::remove_dir_all(other.path().join(DIR)).unwrap();
        let index = LogIndex::open(other.path(), &short).unwrap();
        check(&index, &short, 150);
        assert_eq!(files(other.path()), ["00000000000000000001.keys"]);
    }

    #[test]
    fn an_index_is_read_from_a_log_without_files_and_refuses_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFiles::open(dir.path(), 0).unwrap();
        append(&log, None, 1, 230);
        let index = LogIndex::open(dir.path(), &log).unwrap();
        check(&index, &log, 230);
        assert_eq!(files(dir.path()).len(), 2);
        let refused = index.add(&[entry(232)]).unwrap_err();
        assert!(
            refused.to_string().contains("holds position 230"),
            "{refused}"
        );
        // All or nothing: a batch whose last entry is wrong adds none.
        let mut wrong = entry(232);
        wrong.version += 1;
        let refused = index.add(&[entry(231), wrong]).unwrap_err();
        assert!(refused.to_string().contains("which has"), "{refused}");
        check(&index, &log, 230);
        // A batch past a whole file's worth writes every file it fills.
        append(&log, None, 231, 450);
        let entries: Vec<IndexEntry> = (231..=450).map(entry).collect();
        index.add(&entries).unwrap();
        assert_eq!(files(dir.path()).len(), 4);
        check(&index, &log, 450);
    }

    #[test]
    fn two_command_ids_of_one_hash_are_both_found_and_a_repeated_id_keeps_its_first() {
        let mut inner = Inner::default();
        let (one, two) = (entry(1), entry(2));
        inner.push(42, &one, true).unwrap();
        inner.push(42, &two, true).unwrap();
        assert_eq!(inner.candidates(42, one.command), vec![1]);
        assert_eq!(inner.candidates(42, two.command), vec![1, 2]);
        // The same id again (a replica's retry on the stream twice): the
        // first stays first.
        let mut again = entry(3);
        again.command = one.command;
        inner.push(42, &again, true).unwrap();
        assert_eq!(inner.candidates(42, one.command), vec![1, 3]);
    }
}
