//! MediaWiki's XML export (schemas 0.10 and 0.11, as `Special:Export` and
//! the `pages-meta-history` dumps write it), read as a stream: the site,
//! then each page's header, each of its revisions, and its end, one at a
//! time, so that a dump of any size is read in the memory of one revision.
//!
//! A revision's parts that the dump suppressed (`deleted="deleted"` on its
//! contributor, comment or text) are read as [`Given::Suppressed`]: the
//! dump holds no such content. Slots other than `main` (schema 0.11's
//! `<content>`, such as Commons' structured data) are counted and not
//! read. A malformed dump is an error naming the element and its line.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};

/// What the dump says of a part of a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Given<T> {
    Given(T),
    /// `deleted="deleted"`: suppressed at the source.
    Suppressed,
    Absent,
}

/// Who made a revision, as the dump names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contributor {
    User { name: String, id: String },
    Ip(String),
}

/// The site the dump comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub dbname: String,
    /// The main page's address, e.g. `https://en.wikipedia.org/wiki/Main_Page`.
    pub base: String,
}

impl Site {
    /// The site's host, e.g. `en.wikipedia.org` (its dbname when the dump
    /// names no base).
    pub fn host(&self) -> &str {
        self.base
            .split("//")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .filter(|host| !host.is_empty())
            .unwrap_or(&self.dbname)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    pub namespace: i64,
    pub id: String,
    /// The page a redirect points to.
    pub redirect: Option<String>,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    pub parent_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub contributor: Given<Contributor>,
    pub minor: bool,
    pub comment: Given<String>,
    /// The main slot's text.
    pub text: Given<String>,
    /// The main slot's SHA-1 in base 36, as the dump gives it: the text's
    /// own (`<text sha1>`), else the revision's when it has one slot.
    pub sha1: Option<String>,
    pub model: Option<String>,
    pub format: Option<String>,
    /// Slots other than `main` the revision has (not read).
    pub other_slots: usize,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Site(Site),
    Page(Page),
    Revision(Box<Revision>),
    PageEnd,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: <{element}>: {message}")]
pub struct DumpError {
    pub line: usize,
    pub element: String,
    pub message: String,
}

/// The dump's items, in order.
pub struct Reader<R: BufRead> {
    xml: quick_xml::Reader<R>,
    buf: Vec<u8>,
    /// The line the reader is at: 1 and the newlines of every event so far.
    line: usize,
    /// The elements open, outermost first.
    open: Vec<String>,
    in_page: bool,
    /// A revision's start tag was read with its page's header.
    revision_started: bool,
    /// A page's end was read with its header (a page with no revision).
    page_ended: bool,
    /// The ids of the page's revisions read so far: a parent must be one.
    page_revisions: std::collections::HashSet<String>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        let mut xml = quick_xml::Reader::from_reader(input);
        xml.config_mut().trim_text(false);
        Self {
            xml,
            buf: Vec::new(),
            line: 1,
            open: Vec::new(),
            in_page: false,
            revision_started: false,
            page_ended: false,
            page_revisions: std::collections::HashSet::new(),
            done: false,
        }
    }

    /// The bytes of the input read so far.
    pub fn position(&self) -> u64 {
        self.xml.buffer_position()
    }

    fn error(&self, element: &str, message: impl Into<String>) -> DumpError {
        DumpError {
            line: self.line,
            element: element.to_owned(),
            message: message.into(),
        }
    }

    /// The next event, owned; the line counted; Eof inside an element is
    /// an error naming it.
    fn next_event(&mut self) -> Result<Event<'static>, DumpError> {
        self.buf.clear();
        let event = match self.xml.read_event_into(&mut self.buf) {
            Ok(event) => event.into_owned(),
            Err(e) => {
                let element = self
                    .open
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "mediawiki".into());
                return Err(self.error(&element, format!("not well-formed XML: {e}")));
            }
        };
        self.line += self.buf.iter().filter(|&&b| b == b'\n').count();
        match &event {
            Event::Start(start) => self.open.push(name(start)),
            Event::End(_) => {
                self.open.pop();
            }
            Event::Eof if !self.open.is_empty() => {
                let element = self.open.last().cloned().unwrap_or_default();
                return Err(self.error(&element, "the dump ends inside this element (truncated?)"));
            }
            _ => {}
        }
        Ok(event)
    }

    /// The text of the element just opened, up to its end (entities and
    /// character references resolved, line ends as XML 1.0 reads them).
    fn text_of(&mut self, element: &str) -> Result<String, DumpError> {
        let mut text = String::new();
        loop {
            match self.next_event()? {
                Event::Text(t) => text.push_str(
                    &t.xml10_content()
                        .map_err(|e| self.error(element, format!("text: {e}")))?,
                ),
                // Line ends as XML 1.0 reads them, as in text.
                Event::CData(c) => text.push_str(
                    &c.decode()
                        .map_err(|e| self.error(element, format!("text: {e}")))?
                        .replace("\r\n", "\n")
                        .replace('\r', "\n"),
                ),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let entity = r
                                .decode()
                                .map_err(|e| self.error(element, format!("text: {e}")))?;
                            quick_xml::escape::resolve_predefined_entity(&entity)
                                .ok_or_else(|| {
                                    self.error(element, format!("an unknown entity &{entity};"))
                                })?
                                .to_owned()
                        }
                        Err(e) => return Err(self.error(element, format!("text: {e}"))),
                    };
                    text.push_str(&resolved);
                }
                Event::End(_) => return Ok(text),
                Event::Comment(_) => {}
                Event::Start(start) | Event::Empty(start) => {
                    return Err(self.error(
                        element,
                        format!("holds an element <{}>; text was expected", name(&start)),
                    ))
                }
                _ => {}
            }
        }
    }

    /// Skips the element just opened, with everything in it.
    fn skip(&mut self) -> Result<(), DumpError> {
        let depth = self.open.len();
        while self.open.len() >= depth {
            self.next_event()?;
        }
        Ok(())
    }

    fn site(&mut self) -> Result<Site, DumpError> {
        let mut site = Site::default();
        loop {
            match self.next_event()? {
                Event::Start(start) => match name(&start).as_str() {
                    "sitename" => site.name = self.text_of("sitename")?,
                    "dbname" => site.dbname = self.text_of("dbname")?,
                    "base" => site.base = self.text_of("base")?,
                    _ => self.skip()?,
                },
                Event::End(_) => return Ok(site),
                _ => {}
            }
        }
    }

    fn page_header(&mut self, line: usize) -> Result<Page, DumpError> {
        let mut title = None;
        let mut namespace = None;
        let mut id = None;
        let mut redirect = None;
        loop {
            match self.next_event()? {
                Event::Start(start) => match name(&start).as_str() {
                    "title" => title = Some(self.text_of("title")?),
                    "ns" => {
                        let text = self.text_of("ns")?;
                        namespace = Some(text.trim().parse::<i64>().map_err(|_| {
                            self.error("ns", format!("{text:?} is not a namespace number"))
                        })?);
                    }
                    "id" => id = Some(self.text_of("id")?.trim().to_owned()),
                    "redirect" => {
                        redirect = attribute(&start, "title");
                        self.skip()?;
                    }
                    "revision" => {
                        // Its start is read: the next item reads the rest.
                        self.revision_started = true;
                        let page = Page {
                            title: title.ok_or_else(|| self.error("page", "no <title>"))?,
                            namespace: namespace.unwrap_or(0),
                            id: id.ok_or_else(|| self.error("page", "no <id>"))?,
                            redirect,
                            line,
                        };
                        return Ok(page);
                    }
                    _ => self.skip()?,
                },
                Event::Empty(start) if name(&start) == "redirect" => {
                    redirect = attribute(&start, "title");
                }
                // A page with no revision (the schema allows it): its
                // header, then its end.
                Event::End(_) => {
                    self.page_ended = true;
                    return Ok(Page {
                        title: title.ok_or_else(|| self.error("page", "no <title>"))?,
                        namespace: namespace.unwrap_or(0),
                        id: id.ok_or_else(|| self.error("page", "no <id>"))?,
                        redirect,
                        line,
                    });
                }
                _ => {}
            }
        }
    }

    /// The revision whose start tag was just read.
    fn revision(&mut self) -> Result<Revision, DumpError> {
        let line = self.line;
        let mut id = None;
        let mut parent_id = None;
        let mut timestamp = None;
        let mut contributor = Given::Absent;
        let mut minor = false;
        let mut comment = Given::Absent;
        let mut text = Given::Absent;
        let mut text_sha1 = None;
        let mut sha1 = None;
        let mut model = None;
        let mut format = None;
        let mut other_slots = 0;
        loop {
            match self.next_event()? {
                Event::Start(start) => {
                    let element = name(&start);
                    let deleted = attribute(&start, "deleted").is_some();
                    match element.as_str() {
                        "id" => id = Some(self.text_of("id")?.trim().to_owned()),
                        "parentid" => parent_id = Some(self.text_of("parentid")?.trim().to_owned()),
                        "timestamp" => {
                            let value = self.text_of("timestamp")?;
                            timestamp = Some(
                                DateTime::parse_from_rfc3339(value.trim())
                                    .map_err(|_| {
                                        self.error(
                                            "timestamp",
                                            format!("{value:?} is not an ISO 8601 time"),
                                        )
                                    })?
                                    .with_timezone(&Utc),
                            );
                        }
                        "contributor" if deleted => {
                            contributor = Given::Suppressed;
                            self.skip()?;
                        }
                        "contributor" => contributor = self.contributor()?,
                        "comment" if deleted => {
                            comment = Given::Suppressed;
                            self.skip()?;
                        }
                        "comment" => comment = Given::Given(self.text_of("comment")?),
                        "text" if deleted => {
                            text = Given::Suppressed;
                            self.skip()?;
                        }
                        "text" => {
                            text_sha1 = attribute(&start, "sha1");
                            let given = self.text_of("text")?;
                            text = if given.is_empty() && held_elsewhere(&start) {
                                Given::Absent
                            } else {
                                Given::Given(given)
                            };
                        }
                        "sha1" => sha1 = Some(self.text_of("sha1")?.trim().to_owned()),
                        "model" => model = Some(self.text_of("model")?),
                        "format" => format = Some(self.text_of("format")?),
                        "minor" => {
                            minor = true;
                            self.skip()?;
                        }
                        "content" => {
                            other_slots += 1;
                            self.skip()?;
                        }
                        _ => self.skip()?,
                    }
                }
                Event::Empty(start) => {
                    let deleted = attribute(&start, "deleted").is_some();
                    match name(&start).as_str() {
                        "minor" => minor = true,
                        "contributor" if deleted => contributor = Given::Suppressed,
                        "comment" if deleted => comment = Given::Suppressed,
                        "comment" => comment = Given::Given(String::new()),
                        "text" if deleted => text = Given::Suppressed,
                        "text" => {
                            text_sha1 = attribute(&start, "sha1");
                            text = if held_elsewhere(&start) {
                                Given::Absent
                            } else {
                                Given::Given(String::new())
                            };
                        }
                        _ => {}
                    }
                }
                Event::End(_) => break,
                _ => {}
            }
        }
        let id = id.ok_or_else(|| self.error_at(line, "revision", "no <id>"))?;
        if let Some(parent) = parent_id
            .as_deref()
            .filter(|p| !self.page_revisions.contains(*p))
        {
            return Err(self.error_at(
                line,
                "parentid",
                &format!(
                    "revision {id} names revision {parent} as its parent, which is not before it in the page (a history cut short, or split across files)"
                ),
            ));
        }
        self.page_revisions.insert(id.clone());
        Ok(Revision {
            id,
            parent_id,
            timestamp: timestamp
                .ok_or_else(|| self.error_at(line, "revision", "no <timestamp>"))?,
            contributor,
            minor,
            comment,
            text,
            sha1: text_sha1.or(if other_slots == 0 { sha1 } else { None }),
            model,
            format,
            other_slots,
            line,
        })
    }

    fn error_at(&self, line: usize, element: &str, message: &str) -> DumpError {
        DumpError {
            line,
            element: element.to_owned(),
            message: message.to_owned(),
        }
    }

    fn contributor(&mut self) -> Result<Given<Contributor>, DumpError> {
        let mut user = None;
        let mut id = None;
        let mut ip = None;
        loop {
            match self.next_event()? {
                Event::Start(start) => match name(&start).as_str() {
                    "username" => user = Some(self.text_of("username")?),
                    "id" => id = Some(self.text_of("id")?.trim().to_owned()),
                    "ip" => ip = Some(self.text_of("ip")?),
                    _ => self.skip()?,
                },
                Event::End(_) => break,
                _ => {}
            }
        }
        Ok(match (user, ip) {
            (Some(name), _) => Given::Given(Contributor::User {
                name,
                id: id.unwrap_or_default(),
            }),
            (None, Some(ip)) => Given::Given(Contributor::Ip(ip)),
            (None, None) => Given::Absent,
        })
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Item, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read_item();
        if !matches!(item, Ok(Some(_))) {
            self.done = true;
        }
        item.transpose()
    }
}

impl<R: BufRead> Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item>, DumpError> {
        if std::mem::take(&mut self.revision_started) {
            return Ok(Some(Item::Revision(Box::new(self.revision()?))));
        }
        if std::mem::take(&mut self.page_ended) {
            self.in_page = false;
            return Ok(Some(Item::PageEnd));
        }
        loop {
            let line = self.line;
            match self.next_event()? {
                Event::Start(start) => match (name(&start).as_str(), self.in_page) {
                    ("mediawiki", false) => {}
                    ("siteinfo", false) => return Ok(Some(Item::Site(self.site()?))),
                    ("page", false) => {
                        self.in_page = true;
                        self.page_revisions.clear();
                        return Ok(Some(Item::Page(self.page_header(line)?)));
                    }
                    ("revision", true) => {
                        return Ok(Some(Item::Revision(Box::new(self.revision()?))))
                    }
                    (_, _) => self.skip()?,
                },
                Event::End(end) => {
                    let closed = String::from_utf8_lossy(end.local_name().as_ref()).into_owned();
                    if closed == "page" && self.in_page {
                        self.in_page = false;
                        return Ok(Some(Item::PageEnd));
                    }
                }
                Event::Eof => return Ok(None),
                _ => {}
            }
        }
    }
}

/// Whether a `<text>` the dump leaves empty has text elsewhere: a stub
/// dump's `bytes` over 0, or a `location` (the text is not in the file).
fn held_elsewhere(start: &BytesStart<'_>) -> bool {
    attribute(start, "location").is_some()
        || attribute(start, "bytes")
            .and_then(|b| b.parse::<i64>().ok())
            .is_some_and(|b| b > 0)
}

fn name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

fn attribute(start: &BytesStart<'_>, key: &str) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// A text's SHA-1 as MediaWiki writes it: base 36, lowercase, 31 digits.
pub fn sha1_base36(text: &str) -> String {
    use sha1::{Digest as _, Sha1};
    let digest = Sha1::digest(text.as_bytes());
    // 160 bits as a big number, divided by 36 digit by digit.
    let mut number: Vec<u8> = digest.to_vec();
    let mut digits = Vec::with_capacity(31);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 36) as u8;
            remainder = value % 36;
        }
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[remainder as usize]);
    }
    while digits.len() < 31 {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history_import::wikitext;

    fn fixture(path: &str) -> std::io::BufReader<std::fs::File> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/realdata")
            .join(path);
        std::io::BufReader::new(std::fs::File::open(path).expect("the fixture"))
    }

    /// What one real dump holds, read through: pages, revisions, suppressed
    /// texts, comments and contributors, revisions whose text's SHA-1 is
    /// not the dump's, revisions that repeat an earlier text of their page.
    fn survey(path: &str) -> [usize; 7] {
        let mut counts = [0; 7];
        let mut seen = std::collections::HashSet::new();
        for item in Reader::new(fixture(path)) {
            match item.expect("the real dump reads") {
                Item::Page(_) => {
                    counts[0] += 1;
                    seen.clear();
                }
                Item::Revision(revision) => {
                    counts[1] += 1;
                    counts[3] += usize::from(revision.comment == Given::Suppressed);
                    counts[4] += usize::from(revision.contributor == Given::Suppressed);
                    match &revision.text {
                        Given::Given(text) => {
                            // The split loses nothing, on every real revision.
                            assert_eq!(&wikitext::render(&wikitext::split(text)), text);
                            let sha1 = sha1_base36(text);
                            counts[5] += usize::from(revision.sha1.as_deref() != Some(&sha1));
                            counts[6] += usize::from(!seen.insert(sha1));
                        }
                        _ => counts[2] += 1,
                    }
                }
                Item::Site(_) | Item::PageEnd => {}
            }
        }
        counts
    }

    /// The counts agree with an independent reading of the same files
    /// (Python's ElementTree and hashlib).
    #[test]
    fn real_dumps_read_through_and_their_texts_split_without_loss() {
        // [pages, revisions, suppressed texts, suppressed comments,
        //  suppressed contributors, SHA-1 mismatches, repeated texts]
        assert_eq!(
            survey("enwiki_history_sample_xml/sample.xml"),
            [3, 101, 0, 0, 0, 0, 5]
        );
        assert_eq!(
            survey("simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Simplewiki.Sample.xml"),
            [2, 33, 4, 3, 4, 0, 10]
        );
        assert_eq!(
            survey("simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Commonswiki.Sample.xml"),
            [1, 59, 0, 0, 21, 0, 12]
        );
    }

    #[test]
    fn a_revision_reads_as_the_dump_gives_it() {
        let items: Vec<Item> = Reader::new(fixture("enwiki_history_sample_xml/sample.xml"))
            .take(3)
            .collect::<Result<_, _>>()
            .unwrap();
        let Item::Site(site) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(site.host(), "en.wikipedia.org");
        let Item::Page(page) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(
            (
                page.title.as_str(),
                page.id.as_str(),
                page.redirect.as_deref()
            ),
            ("Death In Brunswick", "2332638", Some("Death in Brunswick"))
        );
        let Item::Revision(revision) = &items[2] else {
            panic!("{items:?}")
        };
        assert!(revision.parent_id.is_none());
        assert_eq!(revision.model.as_deref(), Some("wikitext"));
        assert_eq!(revision.sha1.as_deref().map(str::len), Some(31));
    }

    #[test]
    fn a_malformed_dump_is_named_by_element_and_line() {
        let read =
            |xml: &str| -> Result<Vec<Item>, DumpError> { Reader::new(xml.as_bytes()).collect() };
        let head = "<mediawiki>\n<page>\n<title>T</title>\n<ns>0</ns>\n<id>1</id>\n";
        let error = read(&format!("{head}<revision>\n<id>7</id>\n<text>cut sh")).unwrap_err();
        assert_eq!((error.element.as_str(), error.line), ("text", 8), "{error}");
        let error = read(&format!(
            "{head}<revision>\n<id>7</id>\n<text>x</text>\n</revision>\n</page>\n</mediawiki>"
        ))
        .unwrap_err();
        assert_eq!(error.to_string(), "line 6: <revision>: no <timestamp>",);
        let error = read(&format!("{head}<revision>\n<id>7</id></page>")).unwrap_err();
        assert_eq!(error.element, "revision", "{error}");
        let error = read(&format!(
            "{head}<revision>\n<id>7</id>\n<parentid>6</parentid>\n<timestamp>2020-01-01T00:00:00Z</timestamp>\n</revision>\n</page>\n</mediawiki>"
        ))
        .unwrap_err();
        assert_eq!(
            (error.element.as_str(), error.line),
            ("parentid", 6),
            "{error}"
        );
        assert!(
            error.message.contains("revision 7 names revision 6"),
            "{error}"
        );
    }

    #[test]
    fn stub_texts_empty_pages_and_cdata_read_as_the_dump_means_them() {
        let xml = "<mediawiki>\n<page><title>Empty</title><ns>0</ns><id>1</id></page>\n\
            <page><title>T</title><ns>0</ns><id>2</id>\n\
            <revision><id>7</id><timestamp>2020-01-01T00:00:00Z</timestamp>\
            <text bytes=\"1234\" sha1=\"x\" /></revision>\n\
            <revision><id>8</id><timestamp>2020-01-02T00:00:00Z</timestamp>\
            <text bytes=\"3\"><![CDATA[a\r\nb]]></text></revision>\n</page>\n</mediawiki>";
        let items: Vec<Item> = Reader::new(xml.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| match i {
                Item::Site(_) => "site",
                Item::Page(_) => "page",
                Item::Revision(_) => "revision",
                Item::PageEnd => "end",
            })
            .collect();
        assert_eq!(
            kinds,
            ["page", "end", "page", "revision", "revision", "end"]
        );
        let Item::Revision(stub) = &items[3] else {
            unreachable!()
        };
        assert_eq!(stub.text, Given::Absent, "a stub's text is not in the file");
        let Item::Revision(cdata) = &items[4] else {
            unreachable!()
        };
        assert_eq!(cdata.text, Given::Given("a\nb".into()));
    }

    #[test]
    fn sha1_in_base_36() {
        // MediaWiki's SHA-1 of "{{babel|en}}", from the Simple English dump.
        assert_eq!(
            sha1_base36("{{babel|en}}"),
            "61o9wqbehiqpmke7163b1675fic2cri"
        );
        assert_eq!(sha1_base36(""), "phoiac9h4m842xq45sp7s6u21eteeq1");
    }
}
