//! Stack Exchange's data dump: `Posts.xml` (each post's kind, question,
//! accepted answer and score) and `PostHistory.xml` (every revision of
//! every post, one `<row/>` a change), read as streams; and a post's
//! history as CSV rows (a Data Explorer query's download: one post a file,
//! its columns named by a header).
//!
//! `PostHistory.xml` lists rows in the order they were made, every post's
//! interleaved, while an article is one question with its answers (a
//! thread). So the history is read once into an index of where each row
//! is (its thread, time, id, byte offset and line: about 40 bytes a row,
//! not its text), sorted by thread, and each thread's rows are then read
//! again from their offsets: a dump of any size is read in the memory of
//! its index and one thread. A malformed file is an error naming the
//! element (or CSV column) and its line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::events::{BytesStart, Event};

use super::mediawiki::DumpError;

/// A post as `Posts.xml` gives it (its current state: the dump keeps no
/// history of acceptance or votes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Post {
    /// `PostTypeId`: 1 a question, 2 an answer, 4 and 5 a tag's wiki.
    pub kind: u32,
    /// An answer's question.
    pub parent: Option<u64>,
    /// A question's accepted answer.
    pub accepted: Option<u64>,
    pub score: i64,
}

impl Post {
    pub const QUESTION: u32 = 1;
    pub const ANSWER: u32 = 2;
}

/// One history row: one change to one post (`PostHistory.xml`'s `<row/>`,
/// or a CSV line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: u64,
    /// `PostHistoryTypeId` (1 initial title, 2 initial body, 5 edit body,
    /// 10 closed, …: [`kind_name`]).
    pub kind: u32,
    pub post_id: u64,
    /// The rows of one change share it (a title, body and tags edited at
    /// once).
    pub revision_guid: String,
    /// To the millisecond, as the dump gives it (UTC).
    pub time: DateTime<Utc>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub comment: Option<String>,
    /// The post's Markdown after the change (a title's, body's or tags'
    /// text), or what a close or a delete records (JSON of voters).
    pub text: Option<String>,
    /// `ContentLicense`, e.g. `CC BY-SA 4.0`; CSV rows give none.
    pub license: Option<String>,
    pub line: usize,
}

/// What a history row's type is called, as a claim's `kind` says it.
pub fn kind_name(kind: u32) -> String {
    let name = match kind {
        1 => "initial title",
        2 => "initial body",
        3 => "initial tags",
        4 => "edit title",
        5 => "edit body",
        6 => "edit tags",
        7 => "rollback title",
        8 => "rollback body",
        9 => "rollback tags",
        10 => "closed",
        11 => "reopened",
        12 => "deleted",
        13 => "undeleted",
        14 => "locked",
        15 => "unlocked",
        16 => "community owned",
        17 => "post migrated",
        18 => "question merged",
        19 => "question protected",
        20 => "question unprotected",
        21 => "post disassociated",
        22 => "question unmerged",
        24 => "suggested edit applied",
        25 => "post tweeted",
        31 => "comment discussion moved to chat",
        33 => "post notice added",
        34 => "post notice removed",
        35 => "post migrated away",
        36 => "post migrated here",
        37 => "post merge source",
        38 => "post merge destination",
        50 => "bumped by Community",
        52 => "became hot network question",
        53 => "removed from hot network questions",
        66 => "created from Ask Wizard",
        other => return format!("history type {other}"),
    };
    name.to_owned()
}

/// The `<row/>` elements of a dump file (`<posts>`, `<posthistory>`), each
/// with its attributes, line and byte offset.
struct RowReader<R: BufRead> {
    xml: quick_xml::Reader<R>,
    buf: Vec<u8>,
    line: usize,
    /// The root element, once opened; the file's expected root.
    root: Option<String>,
    expected: &'static str,
    done: bool,
}

/// A row's attributes, by name, unescaped.
type Attributes = HashMap<String, String>;

impl<R: BufRead> RowReader<R> {
    fn new(input: R, expected: &'static str) -> Self {
        let mut xml = quick_xml::Reader::from_reader(input);
        xml.config_mut().trim_text(false);
        Self {
            xml,
            buf: Vec::new(),
            line: 1,
            root: None,
            expected,
            done: false,
        }
    }

    fn error(&self, element: &str, message: impl Into<String>) -> DumpError {
        DumpError {
            line: self.line,
            element: element.to_owned(),
            message: message.into(),
        }
    }

    fn position(&self) -> u64 {
        self.xml.buffer_position()
    }

    /// The next row: its attributes, line and byte offset.
    fn next_row(&mut self) -> Option<Result<(Attributes, usize, u64), DumpError>> {
        if self.done {
            return None;
        }
        let outcome = self.read();
        if !matches!(outcome, Ok(Some(_))) {
            self.done = true;
        }
        outcome.transpose()
    }

    fn read(&mut self) -> Result<Option<(Attributes, usize, u64)>, DumpError> {
        loop {
            let offset = self.position();
            self.buf.clear();
            let read = self
                .xml
                .read_event_into(&mut self.buf)
                .map(|e| e.into_owned());
            let event = match read {
                Ok(event) => event,
                Err(e) => {
                    let element = self.root.clone().unwrap_or_else(|| self.expected.into());
                    return Err(self.error(&element, format!("not well-formed XML: {e}")));
                }
            };
            let line = self.line;
            self.line += self.buf.iter().filter(|&&b| b == b'\n').count();
            match event {
                Event::Start(start) if self.root.is_none() => {
                    let name = name(&start);
                    if name != self.expected {
                        return Err(self.error(
                            &name,
                            format!("the file's root is <{name}>, not <{}>", self.expected),
                        ));
                    }
                    self.root = Some(name);
                }
                Event::Empty(start) if self.root.is_none() => {
                    // An empty file of its kind: `<posts/>`.
                    let name = name(&start);
                    if name != self.expected {
                        return Err(self.error(
                            &name,
                            format!("the file's root is <{name}>, not <{}>", self.expected),
                        ));
                    }
                    return Ok(None);
                }
                Event::Empty(start) if name(&start) == "row" => {
                    return attributes(&start)
                        .map(|a| Some((a, line, offset)))
                        .map_err(|e| self.error("row", e));
                }
                Event::Start(start) => {
                    let name = name(&start);
                    return Err(self.error(
                        &name,
                        format!("<{}> holds only <row/> elements", self.expected),
                    ));
                }
                Event::End(_) => return Ok(None),
                Event::Eof => {
                    let element = self.root.clone().unwrap_or_else(|| self.expected.into());
                    return Err(
                        self.error(&element, "the file ends inside this element (truncated?)")
                    );
                }
                _ => {}
            }
        }
    }
}

fn name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

fn attributes(start: &BytesStart<'_>) -> Result<Attributes, String> {
    let mut all = Attributes::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("an attribute: {e}"))?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        let value = attribute
            .unescape_value()
            .map_err(|e| format!("attribute {key}: {e}"))?
            .into_owned();
        all.insert(key, value);
    }
    Ok(all)
}

/// A field's value, or an error naming it.
fn required<'a>(row: &'a Attributes, key: &str) -> Result<&'a str, String> {
    row.get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("no {key}"))
}

fn number<T: std::str::FromStr>(row: &Attributes, key: &str) -> Result<T, String> {
    let value = required(row, key)?;
    value
        .parse()
        .map_err(|_| format!("{key} {value:?} is not a number"))
}

fn optional_number<T: std::str::FromStr>(row: &Attributes, key: &str) -> Result<Option<T>, String> {
    match row.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(_) => number(row, key).map(Some),
    }
}

/// A dump's time: `2018-02-06T22:16:38.973` (XML), `2012-04-06
/// 21:24:55.0` or `2012-05-24 09:40:33` (CSV); UTC.
/// Not a leap second (which chrono reads as `:60`), and in the years 1 to
/// 9999, as a claim's time must be.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    use chrono::{Datelike as _, Timelike as _};
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .filter(|t| t.nanosecond() < 1_000_000_000 && (1..=9999).contains(&t.year()))
        .map(|t| t.and_utc())
}

fn time(row: &Attributes, key: &str) -> Result<DateTime<Utc>, String> {
    let value = required(row, key)?;
    parse_time(value).ok_or_else(|| format!("{key} {value:?} is not a time"))
}

/// A claim's one-line value: at most `max` characters, no control
/// character.
fn claim_line(attributes: &Attributes, key: &str, max: usize) -> Result<Option<String>, String> {
    match attributes.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(format!(
            "{key} must be one line of at most {max} characters"
        )),
        Some(v) => Ok(Some(v.clone())),
    }
}

fn row_of(attributes: &Attributes, line: usize) -> Result<Row, String> {
    let text = |key: &str| attributes.get(key).filter(|v| !v.is_empty()).cloned();
    Ok(Row {
        id: number(attributes, "Id")?,
        kind: number(attributes, "PostHistoryTypeId")?,
        post_id: number(attributes, "PostId")?,
        revision_guid: claim_line(attributes, "RevisionGUID", 128)?
            .ok_or_else(|| "no RevisionGUID".to_owned())?,
        time: time(attributes, "CreationDate")?,
        user_id: text("UserId"),
        user_name: text("UserDisplayName"),
        comment: text("Comment"),
        text: attributes.get("Text").cloned(),
        license: claim_line(attributes, "ContentLicense", 128)?,
        line,
    })
}

fn post_of(attributes: &Attributes) -> Result<(u64, Post), String> {
    Ok((
        number(attributes, "Id")?,
        Post {
            kind: number(attributes, "PostTypeId")?,
            parent: optional_number(attributes, "ParentId")?,
            accepted: optional_number(attributes, "AcceptedAnswerId")?,
            score: optional_number(attributes, "Score")?.unwrap_or(0),
        },
    ))
}

/// The posts of `Posts.xml`: each by id, and each question's answers.
#[derive(Debug, Default)]
pub struct Posts {
    by_id: HashMap<u64, Post>,
    /// A question's answers, with their scores.
    answers: HashMap<u64, Vec<(u64, i64)>>,
}

impl Posts {
    pub fn get(&self, id: u64) -> Option<&Post> {
        self.by_id.get(&id)
    }

    /// None were read (a CSV history has no Posts.xml).
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The posts of kind `kind`.
    pub fn count(&self, kind: u32) -> usize {
        self.by_id.values().filter(|p| p.kind == kind).count()
    }

    /// Posts given here rather than read (for tests and tools).
    pub fn from_posts(posts: impl IntoIterator<Item = (u64, Post)>) -> Self {
        let mut all = Self::default();
        for (id, post) in posts {
            all.insert(id, post);
        }
        all
    }

    fn insert(&mut self, id: u64, post: Post) -> bool {
        if self.by_id.insert(id, post).is_some() {
            return false;
        }
        if let (Post::ANSWER, Some(question)) = (post.kind, post.parent) {
            self.answers
                .entry(question)
                .or_default()
                .push((id, post.score));
        }
        true
    }

    /// A question's answers and their scores.
    pub fn answers_of(&self, question: u64) -> &[(u64, i64)] {
        self.answers.get(&question).map_or(&[], Vec::as_slice)
    }
}

/// Every post of `Posts.xml`.
pub fn read_posts(input: impl BufRead) -> Result<Posts, DumpError> {
    let mut reader = RowReader::new(input, "posts");
    let mut posts = Posts::default();
    while let Some(row) = reader.next_row() {
        let (attributes, line, _) = row?;
        let (id, post) = post_of(&attributes).map_err(|message| DumpError {
            line,
            element: "row".into(),
            message,
        })?;
        if !posts.insert(id, post) {
            return Err(DumpError {
                line,
                element: "row".into(),
                message: format!("post {id} is given twice"),
            });
        }
    }
    Ok(posts)
}

/// Where one history row is: enough to sort it into its thread and read it
/// again.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    thread: u64,
    time_micros: i64,
    id: u64,
    offset: u64,
    line: u32,
}

/// The thread (the question) a post belongs to: an answer's question, or
/// the post itself.
pub fn thread_of(posts: &Posts, post_id: u64) -> u64 {
    match posts.get(post_id) {
        Some(Post {
            kind: Post::ANSWER,
            parent: Some(parent),
            ..
        }) => *parent,
        _ => post_id,
    }
}

/// `PostHistory.xml`'s rows by thread: checked whole, then read again a
/// thread at a time.
pub struct HistoryIndex {
    entries: Vec<Entry>,
    /// Rows read: the index holds every one.
    pub rows: usize,
}

impl HistoryIndex {
    /// Reads `input` through: every row checked (its required attributes,
    /// its time), its place kept; `progress` told the bytes read.
    pub fn read(
        input: impl BufRead,
        posts: &Posts,
        mut progress: impl FnMut(u64),
    ) -> Result<Self, DumpError> {
        let mut reader = RowReader::new(input, "posthistory");
        let mut entries = Vec::new();
        while let Some(row) = reader.next_row() {
            let (attributes, line, offset) = row?;
            let row = row_of(&attributes, line).map_err(|message| DumpError {
                line,
                element: "row".into(),
                message,
            })?;
            entries.push(Entry {
                thread: thread_of(posts, row.post_id),
                time_micros: row.time.timestamp_micros(),
                id: row.id,
                offset,
                line: u32::try_from(line).unwrap_or(u32::MAX),
            });
            progress(reader.position());
        }
        entries.sort_by_key(|e| (e.thread, e.time_micros, e.id));
        Ok(Self {
            rows: entries.len(),
            entries,
        })
    }

    /// The thread whose rows start at row `at` (in the index's order): its
    /// id and its rows' places. The next one starts after them.
    pub fn thread_at(&self, at: usize) -> Option<(u64, &[Entry])> {
        let rest = self.entries.get(at..).filter(|r| !r.is_empty())?;
        let thread = rest[0].thread;
        let end = rest
            .iter()
            .position(|e| e.thread != thread)
            .unwrap_or(rest.len());
        Some((thread, &rest[..end]))
    }

    /// The threads, in id order: each one's id and its rows' places.
    pub fn threads(&self) -> impl Iterator<Item = (u64, &[Entry])> + '_ {
        self.entries
            .chunk_by(|a, b| a.thread == b.thread)
            .map(|rows| (rows[0].thread, rows))
    }
}

/// Reads the rows of one thread again from their offsets in the file.
pub struct RowsAt<F: Read + Seek> {
    file: BufReader<F>,
    buf: Vec<u8>,
}

impl<F: Read + Seek> RowsAt<F> {
    pub fn new(file: F) -> Self {
        Self {
            file: BufReader::with_capacity(16 * 1024, file),
            buf: Vec::new(),
        }
    }

    /// The rows `entries` place, in their order.
    pub fn read(&mut self, entries: &[Entry]) -> Result<Vec<Row>, DumpError> {
        entries.iter().map(|e| self.row(e)).collect()
    }

    fn row(&mut self, entry: &Entry) -> Result<Row, DumpError> {
        let line = entry.line as usize;
        let error = |message: String| DumpError {
            line,
            element: "row".into(),
            message,
        };
        self.file
            .seek(SeekFrom::Start(entry.offset))
            .map_err(|e| error(format!("cannot read it again: {e}")))?;
        let mut xml = quick_xml::Reader::from_reader(&mut self.file);
        xml.config_mut().trim_text(false);
        loop {
            self.buf.clear();
            match xml.read_event_into(&mut self.buf) {
                Ok(Event::Empty(start)) if name(&start) == "row" => {
                    let attributes = attributes(&start).map_err(error)?;
                    let row = row_of(&attributes, line).map_err(error)?;
                    if row.id != entry.id {
                        return Err(error(format!(
                            "row {} is where row {} was: the file changed since it was read?",
                            row.id, entry.id
                        )));
                    }
                    return Ok(row);
                }
                Ok(Event::Text(_)) => {}
                Ok(_) => {
                    return Err(error(
                        "not where it was: the file changed since it was read?".into(),
                    ))
                }
                Err(e) => return Err(error(format!("not well-formed XML: {e}"))),
            }
        }
    }
}

/// A post's history as CSV (`;`-separated, `"`-quoted, with a header that
/// names the columns in any order: Id, PostHistoryTypeId, PostId,
/// RevisionGUID, CreationDate, UserId, UserDisplayName, Comment, Text; and
/// ContentLicense, if it has one). Rows come back sorted by time and id.
pub fn read_csv(path: &Path) -> Result<Vec<Row>, DumpError> {
    let file = std::fs::File::open(path).map_err(|e| DumpError {
        line: 0,
        element: "file".into(),
        message: format!("cannot read it: {e}"),
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| csv_error(e, "header"))?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(e, "row"))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let attributes: Attributes = headers
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // An empty Text column is an empty text, as the XML's attribute is.
        let row = row_of(&attributes, line).map_err(|message| DumpError {
            line,
            element: "row".into(),
            message,
        })?;
        if let Some(first) = rows.first().filter(|f: &&Row| f.post_id != row.post_id) {
            return Err(DumpError {
                line,
                element: "row".into(),
                message: format!(
                    "PostId {} in a history of post {}: a CSV history is of one post",
                    row.post_id, first.post_id
                ),
            });
        }
        rows.push(row);
    }
    rows.sort_by_key(|r| (r.time, r.id));
    Ok(rows)
}

fn csv_error(e: csv::Error, element: &str) -> DumpError {
    DumpError {
        line: e.position().map_or(0, |p| p.line() as usize),
        element: element.into(),
        message: format!("not well-formed CSV: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "tests/fixtures/realdata/stackexchange_conlang_meta_xml";

    fn open(name: &str) -> BufReader<std::fs::File> {
        BufReader::new(std::fs::File::open(format!("{DIR}/{name}")).unwrap())
    }

    #[test]
    fn the_real_dump_reads_as_its_source_md_counts_it() {
        // SOURCE.md: 177 posts (54 questions, 115 answers, 8 of tags'
        // wikis); 450 history rows, every one of a post in Posts.xml.
        let posts = read_posts(open("Posts.xml")).unwrap();
        assert_eq!(posts.len(), 177);
        let kinds = |k: u32| posts.count(k);
        assert_eq!((kinds(1), kinds(2), kinds(4) + kinds(5)), (54, 115, 8));
        // Every answer is its question's (post ids run below 1000).
        let answered: usize = (0..1000).map(|q| posts.answers_of(q).len()).sum();
        assert_eq!(answered, 115);
        let index = HistoryIndex::read(open("PostHistory.xml"), &posts, |_| {}).unwrap();
        assert_eq!(index.rows, 450);
        // Threads: the 54 questions and the 8 tag wikis.
        assert_eq!(index.threads().count(), 62);
        let mut again = RowsAt::new(std::fs::File::open(format!("{DIR}/PostHistory.xml")).unwrap());
        let mut rows = 0;
        let mut licenses = std::collections::BTreeMap::<Option<String>, usize>::new();
        for (thread, entries) in index.threads() {
            let read = again.read(entries).unwrap();
            for row in &read {
                assert_eq!(thread_of(&posts, row.post_id), thread);
                *licenses.entry(row.license.clone()).or_default() += 1;
            }
            assert!(read
                .windows(2)
                .all(|w| (w[0].time, w[0].id) <= (w[1].time, w[1].id)));
            rows += read.len();
        }
        assert_eq!(rows, 450);
        // SOURCE.md: 256 rows CC BY-SA 3.0, 169 rows 4.0, 25 with none.
        assert_eq!(
            licenses.into_iter().collect::<Vec<_>>(),
            [
                (None, 25),
                (Some("CC BY-SA 3.0".to_owned()), 256),
                (Some("CC BY-SA 4.0".to_owned()), 169)
            ]
        );
    }

    #[test]
    fn a_row_s_text_keeps_its_line_ends_and_characters() {
        let posts = read_posts(open("Posts.xml")).unwrap();
        let index = HistoryIndex::read(open("PostHistory.xml"), &posts, |_| {}).unwrap();
        let mut again = RowsAt::new(std::fs::File::open(format!("{DIR}/PostHistory.xml")).unwrap());
        let rows: Vec<Row> = index
            .threads()
            .flat_map(|(_, e)| again.read(e).unwrap())
            .collect();
        // `&#xD;&#xA;` is a CRLF in the text.
        assert!(rows
            .iter()
            .any(|r| r.text.as_deref().is_some_and(|t| t.contains("\r\n"))));
        let first = rows.iter().find(|r| r.id == 1).unwrap();
        assert_eq!(
            (first.kind, first.post_id, first.user_id.as_deref()),
            (2, 1, Some("14"))
        );
        assert_eq!(first.revision_guid, "990d3fa1-a80c-4b14-9414-14b2ec0fd7ad");
        assert_eq!(first.time, parse_time("2018-02-06T20:19:50.957").unwrap());
        assert!(first.text.as_deref().unwrap().starts_with(
            "We anticipate conlang specialists on this site, and, most naturally, some of them are familiar with popular conlangs to an extent that they can express fluently and discuss various matters using that languages.\r\n\r\nAlso,"
        ));
    }

    #[test]
    fn a_malformed_file_is_named_with_its_line() {
        let posts = Posts::default();
        let cases = [
            ("<posthistory>\n  <row Id=\"1\" PostHistoryTypeId=\"2\" PostId=\"3\" RevisionGUID=\"g\" CreationDate=\"2020-01-01T00:00:00.000\" />\n", "line 3: <posthistory>: the file ends inside this element (truncated?)"),
            ("<posthistory>\n  <row Id=\"1\" PostHistoryTypeId=\"2\" PostId=\"3\" RevisionGUID=\"g\" />\n</posthistory>", "line 2: <row>: no CreationDate"),
            ("<posthistory>\n\n  <row Id=\"1\" PostHistoryTypeId=\"2\" PostId=\"3\" RevisionGUID=\"g\" CreationDate=\"yesterday\" />\n</posthistory>", "line 3: <row>: CreationDate \"yesterday\" is not a time"),
            ("<posts>\n</posts>", "line 1: <posts>: the file's root is <posts>, not <posthistory>"),
            ("<posthistory>\n  <row Id=\"1\" PostHistoryTypeId=\"2\" PostId=\"3\" RevisionGUID=\"g\" CreationDate=\"2016-12-31T23:59:60\" />\n</posthistory>", "line 2: <row>: CreationDate \"2016-12-31T23:59:60\" is not a time"),
            ("<posthistory>\n  <row Id=\"1\" PostHistoryTypeId=\"2\" PostId=\"3\" RevisionGUID=\"g&#xA;h\" CreationDate=\"2016-12-31T23:59:59\" />\n</posthistory>", "line 2: <row>: RevisionGUID must be one line of at most 128 characters"),
            ("", "line 1: <posthistory>: the file ends inside this element (truncated?)"),
        ];
        for (text, expected) in cases {
            let error = HistoryIndex::read(text.as_bytes(), &posts, |_| {})
                .err()
                .unwrap_or_else(|| panic!("{text} is refused"));
            assert_eq!(error.to_string(), expected, "{text}");
        }
    }

    #[test]
    fn the_real_csv_histories_read_as_their_readme_counts_them() {
        // README.md: 95 posts, 623 rows, 541 revisions (RevisionGUIDs), in
        // two column orders.
        let dir = "tests/fixtures/realdata/stackoverflow_posthistory/post_version_lists";
        let mut files = 0;
        let mut rows = 0;
        let mut guids = std::collections::HashSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let read = read_csv(&path).unwrap();
            let post: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            assert!(read
                .iter()
                .all(|r| r.post_id == post && r.license.is_none()));
            files += 1;
            rows += read.len();
            guids.extend(read.into_iter().map(|r| r.revision_guid));
        }
        assert_eq!((files, rows, guids.len()), (95, 623, 541));
        // A quoted text with doubled quotes and backslashes, as written.
        let rows = read_csv(Path::new(&format!("{dir}/10049438.csv"))).unwrap();
        assert_eq!(
            rows[1].text.as_deref(),
            Some("Rather than using `\\'$first_name\\'` replace it with `\\\\\"$first_name\\\\\"` and the same follows with other variables too.")
        );
        assert_eq!(rows[1].comment.as_deref(), Some("corrected code layout"));
    }

    #[test]
    fn a_malformed_csv_history_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let header = "Id;PostId;UserId;PostHistoryTypeId;RevisionGUID;CreationDate;Text;UserDisplayName;Comment\n";
        let cases = [
            (format!("{header}1;5;7;2;g;2012-04-06 21:24:55.0;\"Text\";;\n2;6;7;5;h;2012-04-06 21:24:56.0;\"Text\";;\n"), "line 3: <row>: PostId 6 in a history of post 5: a CSV history is of one post"),
            (format!("{header}1;5;7;2;g;April;\"Text\";;\n"), "line 2: <row>: CreationDate \"April\" is not a time"),
            ("Id;PostId\n1;5\n".to_owned(), "line 2: <row>: no PostHistoryTypeId"),
            (format!("{header}1;5;7;2;g\n"), "line 2: <row>: not well-formed CSV"),
        ];
        for (text, expected) in cases {
            let path = dir.path().join("history.csv");
            std::fs::write(&path, &text).unwrap();
            let error = read_csv(&path)
                .err()
                .unwrap_or_else(|| panic!("{text} is refused"));
            assert!(
                error.to_string().starts_with(expected),
                "{error} for {text}"
            );
        }
        // A header alone, or nothing: no rows.
        for text in [header, ""] {
            let path = dir.path().join("empty.csv");
            std::fs::write(&path, text).unwrap();
            assert_eq!(read_csv(&path).unwrap(), []);
        }
    }

    #[test]
    fn times_read_in_each_of_the_dumps_forms() {
        let t = |s: &str| parse_time(s).map(|t| t.timestamp_micros());
        assert_eq!(t("2018-02-06T22:16:38.973"), Some(1_517_955_398_973_000));
        assert_eq!(t("2012-04-06 21:24:55.0"), Some(1_333_747_495_000_000));
        assert_eq!(t("2012-05-24 09:40:33"), Some(1_337_852_433_000_000));
        assert_eq!(t("2012-05-24"), None);
        assert_eq!(t("2016-12-31T23:59:60"), None);
        assert_eq!(t("0000-01-01T00:00:00"), None);
    }
}
