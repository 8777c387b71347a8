//! A source's revisions, each planned, in order: what `import-history`
//! reads twice, once to check and count, then to send. One walk a
//! source: a MediaWiki XML file; a Stack Exchange dump (its `Posts.xml`
//! and `PostHistory.xml`); or a set of Stack Exchange CSV histories (one
//! post a file).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::mediawiki::{self, sha1_base36, DumpError, Given, Item, Site};
use super::plan::{self, PagePlanner, Planned};
use super::stackexchange::{read_csv, read_posts, HistoryIndex, Posts, Row, RowsAt};
use super::thread::{changes, has_carriage_returns, lf, ThreadPlanner};

/// The slugs an import's articles took.
pub type Slugs = HashSet<String>;

/// One source revision, planned.
#[derive(Debug)]
pub struct Walked {
    /// Where it is, for a message: `page "Tea" revision 123`.
    pub at: String,
    /// The source's id of the revision.
    pub revision_id: String,
    /// Its text's SHA-1 as computed here, and as the source gives it.
    pub sha1: Option<String>,
    pub given_sha1: Option<String>,
    /// Its step, or why it is skipped.
    pub outcome: Result<Planned, String>,
    /// A claim had to be made one line to fit.
    pub fitted: bool,
    /// Its text's line ends were made LF.
    pub made_lf: bool,
}

/// A file that cannot be read, or is malformed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", file.display())]
pub struct WalkError {
    pub file: PathBuf,
    pub error: DumpError,
}

impl WalkError {
    fn at(file: &Path, error: DumpError) -> Self {
        Self {
            file: file.to_owned(),
            error,
        }
    }

    fn unreadable(file: &Path, e: std::io::Error) -> Self {
        Self::at(
            file,
            DumpError {
                line: 0,
                element: "file".into(),
                message: format!("cannot read it: {e}"),
            },
        )
    }
}

/// The revisions of one source, planned in order.
pub trait Walk: Send {
    fn next_step(&mut self) -> Option<Result<Walked, WalkError>>;
    /// How far it is, out of [`Walk::length`] (bytes, rows or files).
    fn position(&self) -> u64;
    fn length(&self) -> u64;
    /// The pages (threads) begun so far.
    fn pages(&self) -> usize;
    /// The slugs taken, its articles' included.
    fn taken(self: Box<Self>) -> Slugs;
}

/// A MediaWiki XML export's revisions.
pub struct MediawikiWalk {
    file: PathBuf,
    length: u64,
    reader: mediawiki::Reader<BufReader<std::fs::File>>,
    site: Site,
    planner: Option<PagePlanner>,
    taken: Slugs,
    pages: usize,
    title: String,
    /// Each page whose article was made, by title: its slug and version,
    /// which a redirect to it aliases.
    articles: HashMap<String, (String, u64)>,
    /// Redirects whose target was not read yet: made at the file's end.
    redirects: VecDeque<Redirect>,
}

/// A redirect page's revision that makes an alias, waiting for its target.
struct Redirect {
    at: String,
    target: String,
    claims: plan::Claims,
    command_id: String,
    slug: String,
}

impl MediawikiWalk {
    pub fn open(file: &Path, taken: Slugs) -> Result<Self, WalkError> {
        let opened = std::fs::File::open(file).map_err(|e| WalkError::unreadable(file, e))?;
        let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            file: file.to_owned(),
            length,
            reader: mediawiki::Reader::new(BufReader::new(opened)),
            site: Site::default(),
            planner: None,
            taken,
            pages: 0,
            title: String::new(),
            articles: HashMap::new(),
            redirects: VecDeque::new(),
        })
    }

    /// The alias a redirect makes of its target's article, or why it
    /// cannot (its target is not an article of the file).
    fn alias(&mut self, redirect: Redirect) -> Walked {
        let revision_id = redirect.claims.revision_id.clone();
        let outcome = match self.articles.get_mut(&redirect.target) {
            Some((slug, version)) => {
                *version += 1;
                Ok(Planned {
                    step: plan::Step::Alias {
                        expected_version: *version - 1,
                        slug: redirect.slug,
                    },
                    slug: slug.clone(),
                    claims: redirect.claims,
                    command_id: redirect.command_id,
                    version: *version,
                    text: None,
                })
            }
            None => Err(format!(
                "a redirect to {:?}, which is not an article of the file",
                redirect.target
            )),
        };
        Walked {
            revision_id,
            at: redirect.at,
            sha1: None,
            given_sha1: None,
            outcome,
            fitted: false,
            made_lf: false,
        }
    }
}

impl Walk for MediawikiWalk {
    fn next_step(&mut self) -> Option<Result<Walked, WalkError>> {
        loop {
            let item = match self.reader.next() {
                Some(item) => item,
                None => {
                    // The file's end: the redirects whose target came after
                    // them.
                    let redirect = self.redirects.pop_front()?;
                    return Some(Ok(self.alias(redirect)));
                }
            };
            match item {
                Err(e) => return Some(Err(WalkError::at(&self.file, e))),
                Ok(Item::Site(site)) => self.site = site,
                Ok(Item::Page(page)) => {
                    self.pages += 1;
                    self.title = page.title.clone();
                    self.planner = Some(PagePlanner::new(&self.site, &page));
                }
                Ok(Item::PageEnd) => {
                    if let Some(planner) = self.planner.take() {
                        if planner.version() > 0 {
                            self.articles.insert(
                                planner.title().to_owned(),
                                (planner.slug().to_owned(), planner.version()),
                            );
                        }
                    }
                }
                Ok(Item::Revision(revision)) => {
                    let planner = self.planner.as_mut()?;
                    if let Some((claims, command_id, slug)) =
                        planner.redirect(&revision, &mut self.taken)
                    {
                        let redirect = Redirect {
                            at: format!("page {:?} revision {}", self.title, revision.id),
                            target: planner.redirect_target().unwrap_or_default().to_owned(),
                            claims,
                            command_id,
                            slug,
                        };
                        if self.articles.contains_key(&redirect.target) {
                            return Some(Ok(self.alias(redirect)));
                        }
                        self.redirects.push_back(redirect);
                        continue;
                    }
                    let sha1 = match &revision.text {
                        Given::Given(text) => Some(sha1_base36(text)),
                        _ => None,
                    };
                    let fitted = match &revision.comment {
                        Given::Given(comment) => plan::fitted(comment, 2048),
                        _ => false,
                    };
                    let outcome = planner
                        .plan(&revision, &mut self.taken)
                        .map_err(|skip| skip.to_string());
                    return Some(Ok(Walked {
                        at: format!("page {:?} revision {}", self.title, revision.id),
                        revision_id: revision.id.clone(),
                        sha1,
                        given_sha1: revision.sha1.clone(),
                        outcome,
                        fitted,
                        made_lf: false,
                    }));
                }
            }
        }
    }

    fn position(&self) -> u64 {
        self.reader.position()
    }

    fn length(&self) -> u64 {
        self.length
    }

    fn pages(&self) -> usize {
        self.pages
    }

    fn taken(self: Box<Self>) -> Slugs {
        self.taken
    }
}

/// Where a Stack Exchange walk's threads come from.
enum Threads {
    /// `PostHistory.xml`, indexed; the next thread starts at row `at`.
    Xml {
        file: PathBuf,
        posts: Posts,
        index: HistoryIndex,
        rows: RowsAt<std::fs::File>,
        at: usize,
    },
    /// CSV files, one post each; the next is `files[at]`.
    Csv { files: Vec<PathBuf>, at: usize },
}

/// A Stack Exchange source's changes: each thread's, thread by thread.
pub struct ThreadWalk {
    host: String,
    license: String,
    threads: Threads,
    /// The thread's changes, planned, to yield.
    pending: VecDeque<(Vec<Row>, Result<Planned, String>)>,
    /// The file the thread's rows were read from.
    file: PathBuf,
    taken: Slugs,
    pages: usize,
    done: u64,
    length: u64,
}

impl ThreadWalk {
    /// A dump's `Posts.xml` and `PostHistory.xml`: both read through and
    /// checked, the history indexed (`progress` told the bytes read, out
    /// of the history's length).
    pub fn xml(
        posts_file: &Path,
        history_file: &Path,
        host: &str,
        license: &str,
        taken: Slugs,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Self, WalkError> {
        let open =
            |file: &Path| std::fs::File::open(file).map_err(|e| WalkError::unreadable(file, e));
        let posts = read_posts(BufReader::new(open(posts_file)?))
            .map_err(|e| WalkError::at(posts_file, e))?;
        let history = open(history_file)?;
        let length = history.metadata().map(|m| m.len()).unwrap_or(0);
        let index = HistoryIndex::read(BufReader::new(history), &posts, |at| progress(at, length))
            .map_err(|e| WalkError::at(history_file, e))?;
        Ok(Self {
            host: host.to_owned(),
            license: license.to_owned(),
            length: index.rows as u64,
            threads: Threads::Xml {
                file: history_file.to_owned(),
                posts,
                index,
                rows: RowsAt::new(open(history_file)?),
                at: 0,
            },
            pending: VecDeque::new(),
            file: history_file.to_owned(),
            taken,
            pages: 0,
            done: 0,
        })
    }

    /// CSV histories, one post a file: each an article.
    pub fn csv(files: Vec<PathBuf>, host: &str, license: &str, taken: Slugs) -> Self {
        Self {
            host: host.to_owned(),
            license: license.to_owned(),
            length: files.len() as u64,
            threads: Threads::Csv { files, at: 0 },
            pending: VecDeque::new(),
            file: PathBuf::new(),
            taken,
            pages: 0,
            done: 0,
        }
    }

    /// Reads the next thread's rows and makes its planner; none at the end.
    fn next_thread(&mut self) -> Option<Result<(), WalkError>> {
        let no_posts = Posts::default();
        let (thread, rows, posts) = match &mut self.threads {
            Threads::Xml {
                file,
                posts,
                index,
                rows,
                at,
            } => {
                let (thread, entries) = index.thread_at(*at)?;
                *at += entries.len();
                self.done += entries.len() as u64;
                self.file = file.clone();
                match rows.read(entries) {
                    Ok(read) => (thread, read, &*posts),
                    Err(e) => return Some(Err(WalkError::at(file, e))),
                }
            }
            Threads::Csv { files, at } => {
                let file = files.get(*at)?.clone();
                *at += 1;
                self.done += 1;
                let read = match read_csv(&file) {
                    Ok(read) => read,
                    Err(e) => return Some(Err(WalkError::at(&file, e))),
                };
                self.file = file;
                let Some(first) = read.first() else {
                    return Some(Ok(()));
                };
                (first.post_id, read, &no_posts)
            }
        };
        self.pages += 1;
        let mut planner = ThreadPlanner::new(&self.host, thread, posts, &self.license);
        let changes = match changes(rows) {
            Ok(changes) => changes,
            Err(e) => return Some(Err(WalkError::at(&self.file, e))),
        };
        self.pending = planner
            .plan_thread(changes, &mut self.taken)
            .into_iter()
            .map(|(change, outcome)| (change, outcome.map_err(|skip| skip.to_string())))
            .collect();
        Some(Ok(()))
    }
}

impl ThreadWalk {
    /// Where a change is, for a message.
    fn at(&self, change: &[Row]) -> String {
        change.first().map_or_else(String::new, |first| {
            format!(
                "post {} change {} ({}, line {})",
                first.post_id,
                first.revision_guid,
                self.file.display(),
                first.line
            )
        })
    }

    fn walked(&self, change: &[Row], outcome: Result<Planned, String>) -> Walked {
        let comments: Vec<&str> = change.iter().filter_map(|r| r.comment.as_deref()).collect();
        Walked {
            at: self.at(change),
            revision_id: change
                .first()
                .map(|r| r.revision_guid.clone())
                .unwrap_or_default(),
            sha1: None,
            given_sha1: None,
            made_lf: has_carriage_returns(change),
            fitted: plan::fitted(&lf(&comments.join(" · ")), 2048),
            outcome,
        }
    }
}

impl Walk for ThreadWalk {
    fn next_step(&mut self) -> Option<Result<Walked, WalkError>> {
        loop {
            if let Some((change, outcome)) = self.pending.pop_front() {
                return Some(Ok(self.walked(&change, outcome)));
            }
            if let Err(e) = self.next_thread()? {
                return Some(Err(e));
            }
        }
    }

    fn position(&self) -> u64 {
        self.done
    }

    fn length(&self) -> u64 {
        self.length
    }

    fn pages(&self) -> usize {
        self.pages
    }

    fn taken(self: Box<Self>) -> Slugs {
        self.taken
    }
}
