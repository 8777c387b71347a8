//! What each change of a Stack Exchange thread (a question and its
//! answers) becomes (README, "Importing histories"): one article a thread,
//! one commit a change (the history rows of one `RevisionGUID`), with what
//! the source says of the change as claims.
//!
//! - The question's title is the question; its body the section headed
//!   "Question"; each answer's body a section headed "Answer 123 by
//!   user 45", "(accepted)" after the accepted one's. The accepted
//!   answer comes first, then the others by score, then by id: the
//!   dump's current acceptance and scores, since it keeps no history of
//!   either, so sections never move.
//! - The quick answer is the first paragraph of the first answer shown
//!   (the accepted one, else the highest scored), cut to 500 characters;
//!   before any answer, [`NO_ANSWER`].
//! - Key facts: the tags (`Tags: grammar, phonology`), and while they
//!   hold, "Closed on …", "Locked on …", "Protected on …", "Community
//!   wiki".
//! - A deleted answer's section goes, and comes back when it is
//!   undeleted; a deleted question retracts the article (RetractArticle)
//!   and an undeleted one restores it; changes between are skipped,
//!   counted, and what they set shows from the first change after.
//! - A change of nothing shown (a suggested edit's approval, a post
//!   notice, a migration) is a commit of its claims (RedateArticle); a
//!   bump by Community is skipped, counted, as are tags' wikis (not
//!   questions) and changes before the question has both a title and a
//!   body (what they set is in the first version).
//! - Text keeps its Markdown, line ends made LF: the server takes no
//!   carriage return in content, and the dump writes CRLF (counted).
//!
//! A thread whose root post is an answer (a CSV history of one answer)
//! is an article of that answer alone, its question "Answer 123 on
//! stackoverflow.com".

use std::collections::{BTreeMap, HashMap};

use super::mediawiki::DumpError;
use super::plan::{self, Claims, Planned, PlannedSection, PlannedSource, Step};
use super::stackexchange::{kind_name, Post, Posts, Row};

/// The quick answer of a thread with no answer shown.
pub const NO_ANSWER: &str = "(No answer in the imported history.)";
/// The heading of the question's section.
pub const QUESTION_HEADING: &str = "Question";
/// A quick answer's length, in characters, at most.
const QUICK_ANSWER_CHARS: usize = 500;

/// Why a change is not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadSkip {
    /// A tag's wiki or its excerpt: not a question.
    TagWiki,
    /// "Bumped by Community": the post is unchanged.
    Bumped,
    /// The thread's question is not in Posts.xml (a deleted question's
    /// answer, a dump cut short).
    NoQuestion { thread: u64 },
    /// Before the question has a title and a body.
    BeforeQuestion,
    /// Made while the question (the article's post) was deleted at the
    /// source, held back until it is undeleted (never in
    /// [`ThreadPlanner::plan_thread`]'s outcomes).
    Held,
    /// Made while the question was deleted, which it still is at the
    /// history's end.
    NeverUndeleted,
    /// The root post is neither a question nor an answer (a moderator
    /// nomination, a wiki placeholder, …).
    NotQuestionOrAnswer { kind: u32 },
    /// Its content breaks a rule the server would refuse it for.
    Refused { why: String },
}

impl std::fmt::Display for ThreadSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadSkip::TagWiki => write!(f, "a tag's wiki, not a question"),
            ThreadSkip::Bumped => write!(f, "bumped by Community: nothing changed"),
            ThreadSkip::NoQuestion { thread } => {
                write!(f, "its question (post {thread}) is not in Posts.xml")
            }
            ThreadSkip::BeforeQuestion => write!(
                f,
                "before the question has a title and a body (what it set is in the first version)"
            ),
            ThreadSkip::Held => write!(f, "held back while the question is deleted"),
            ThreadSkip::NeverUndeleted => write!(
                f,
                "made while the question was deleted at the source, and never undeleted"
            ),
            ThreadSkip::NotQuestionOrAnswer { kind } => {
                write!(
                    f,
                    "a post of PostTypeId {kind}, not a question or an answer"
                )
            }
            ThreadSkip::Refused { why } => write!(f, "the server would refuse it ({why})"),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct PostState {
    body: Option<String>,
    author: String,
    deleted: bool,
    community: bool,
    /// Its last change's RevisionGUID: the next one's parent.
    last_revision: String,
}

#[derive(Clone, Debug, Default)]
struct State {
    title: Option<String>,
    tags: Vec<String>,
    closed: Option<String>,
    locked: Option<String>,
    protected: Option<String>,
    community: bool,
    retracted: bool,
    posts: BTreeMap<u64, PostState>,
}

/// What an article shows: compared to tell a change of nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Content {
    question: String,
    quick_answer: String,
    key_facts: Vec<String>,
    /// Each section's post, heading and body.
    sections: Vec<(u64, String, String)>,
}

/// The article one thread's changes have made so far.
pub struct ThreadPlanner {
    host: String,
    thread: u64,
    /// The root post's kind as Posts.xml gives it (none for CSV).
    root_kind: Option<u32>,
    /// Posts.xml was read and has no such post.
    missing: bool,
    accepted: Option<u64>,
    scores: HashMap<u64, i64>,
    /// The licence of rows that give none (a CSV's, from its LICENSE).
    default_license: String,
    slug: String,
    version: u64,
    next_section: u64,
    /// Each shown post's section id.
    section_ids: HashMap<u64, String>,
    current: Option<Content>,
    state: State,
    /// Changes made while the question was deleted, held back, each with
    /// its post's change before it.
    held: Vec<(Vec<Row>, String)>,
    limits: crate::domain::Limits,
}

impl ThreadPlanner {
    /// The planner of the thread whose root post is `thread`; `posts` as
    /// Posts.xml gives them (empty for CSV).
    pub fn new(host: &str, thread: u64, posts: &Posts, default_license: &str) -> Self {
        let root = posts.get(thread);
        let scores = posts.answers_of(thread).iter().copied().collect();
        Self {
            host: host.to_owned(),
            thread,
            root_kind: root.map(|p| p.kind),
            missing: root.is_none() && !posts.is_empty(),
            accepted: root.and_then(|p| p.accepted),
            scores,
            default_license: default_license.to_owned(),
            slug: String::new(),
            version: 0,
            next_section: 1,
            section_ids: HashMap::new(),
            current: None,
            state: State::default(),
            held: Vec::new(),
            limits: crate::domain::Limits::default(),
        }
    }

    /// Every change of the thread, each with its step or why it is
    /// skipped, in the order the import sends them: a change made while
    /// the question was deleted comes after the change that undeletes it
    /// (the server takes no change to a retracted article), or, if it
    /// never is, is skipped ([`ThreadSkip::NeverUndeleted`]).
    pub fn plan_thread(
        &mut self,
        changes: Vec<Vec<Row>>,
        taken: &mut std::collections::HashSet<String>,
    ) -> Vec<(Vec<Row>, Result<Planned, ThreadSkip>)> {
        let mut queue: std::collections::VecDeque<(Vec<Row>, Option<String>)> =
            changes.into_iter().map(|c| (c, None)).collect();
        let mut out = Vec::with_capacity(queue.len());
        while let Some((change, held_parent)) = queue.pop_front() {
            let was_retracted = self.state.retracted;
            let outcome = self.plan(&change, taken, held_parent);
            if outcome == Err(ThreadSkip::Held) {
                continue;
            }
            out.push((change, outcome));
            // Undeleted (restored, or created by the undelete itself): what
            // was held back comes next, in its order.
            if was_retracted && !self.state.retracted {
                for (held, parent) in std::mem::take(&mut self.held).into_iter().rev() {
                    queue.push_front((held, Some(parent)));
                }
            }
        }
        for (held, _) in std::mem::take(&mut self.held) {
            out.push((held, Err(ThreadSkip::NeverUndeleted)));
        }
        out
    }

    /// The article's slug (empty before it is created).
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// Whether the root post is a question: as Posts.xml says, else
    /// whether it has a title (a CSV history of an answer has none).
    fn root_is_question(&self, state: &State) -> bool {
        match self.root_kind {
            Some(kind) => kind == Post::QUESTION,
            None => state.title.is_some(),
        }
    }

    /// The step one change (its rows, of one post) is, or why it is
    /// skipped (the article as it was). `taken` holds the import's slugs.
    /// A change made while the question is deleted is held back
    /// ([`ThreadSkip::Held`]: not yet a step nor a skip) until the change
    /// that undeletes it: [`ThreadPlanner::plan_thread`] plans it then.
    /// `held_parent`: the change was held back, and this was its post's
    /// change before it when it was made.
    fn plan(
        &mut self,
        rows: &[Row],
        taken: &mut std::collections::HashSet<String>,
        held_parent: Option<String>,
    ) -> Result<Planned, ThreadSkip> {
        let Some(first) = rows.first() else {
            return Err(ThreadSkip::Refused {
                why: "a change of no rows".into(),
            });
        };
        let post_id = first.post_id;
        match self.root_kind {
            Some(4 | 5) => return Err(ThreadSkip::TagWiki),
            Some(kind) if kind != Post::QUESTION && kind != Post::ANSWER => {
                return Err(ThreadSkip::NotQuestionOrAnswer { kind })
            }
            _ => {}
        }
        if self.missing {
            return Err(ThreadSkip::NoQuestion {
                thread: self.thread,
            });
        }
        let changes: Vec<&Row> = rows.iter().filter(|r| r.kind != 50).collect();
        if changes.is_empty() {
            return Err(ThreadSkip::Bumped);
        }
        let is_root = post_id == self.thread;
        let undeletes = is_root && changes.iter().any(|r| r.kind == 13);
        if self.state.retracted && !undeletes {
            // Its parent is its post's change before it in time; the next
            // change of the post follows it.
            let post = self.state.posts.entry(post_id).or_default();
            let parent = std::mem::replace(&mut post.last_revision, first.revision_guid.clone());
            self.held.push((rows.to_vec(), parent));
            return Err(ThreadSkip::Held);
        }
        let date = first.time.date_naive().to_string();
        let mut next = self.state.clone();
        let mut deletion = None;
        let replayed = held_parent.is_some();
        let parent = held_parent.unwrap_or_else(|| {
            next.posts
                .get(&post_id)
                .map(|p| p.last_revision.clone())
                .unwrap_or_default()
        });
        for row in &changes {
            let text = row.text.as_deref().map(lf);
            let post = next.posts.entry(post_id).or_default();
            match row.kind {
                1 | 4 | 7 => next.title = text.map(|t| plan::one_line(&t, usize::MAX)),
                2 | 5 | 8 => {
                    post.body = text;
                    if post.author.is_empty() || row.kind == 2 {
                        post.author = actor(row);
                    }
                }
                3 | 6 | 9 => next.tags = tags(text.as_deref().unwrap_or("")),
                10 => next.closed = Some(closed(&date, row.comment.as_deref())),
                11 => next.closed = None,
                12 if is_root => deletion = Some(true),
                13 if is_root => deletion = Some(false),
                12 => post.deleted = true,
                13 => post.deleted = false,
                14 => next.locked = Some(format!("Locked on {date}")),
                15 => next.locked = None,
                16 if is_root => next.community = true,
                16 => post.community = true,
                19 => next.protected = Some(format!("Protected on {date}")),
                20 => next.protected = None,
                _ => {}
            }
        }
        // A held change's place in its post's chain was taken when it was
        // held.
        if let Some(post) = next.posts.get_mut(&post_id).filter(|_| !replayed) {
            post.last_revision = first.revision_guid.clone();
        }
        if let Some(deleted) = deletion {
            next.retracted = deleted;
        }
        let claims = self.claims(rows, &parent, &next);
        if let Some(why) = crate::domain::origin_problem(&claims.origin_claims()) {
            return Err(ThreadSkip::Refused { why });
        }
        let command_id = plan::command_id(
            "stackexchange",
            &self.host,
            &self.thread.to_string(),
            &first.revision_guid,
        );
        if self.version == 0 {
            let root = next.posts.get(&self.thread);
            let ready = root.is_some_and(|p| p.body.is_some())
                && (self.root_kind != Some(Post::QUESTION) || next.title.is_some());
            if !ready || next.retracted {
                // What it set is kept for the first version.
                self.state = next;
                return Err(ThreadSkip::BeforeQuestion);
            }
        }
        let content = self.content(&next);
        let changed = self.current.as_ref() != Some(&content);
        // Only a change of what the article shows can break a rule: a
        // deletion, an undeletion and a claim alone leave it as it is.
        if changed && (deletion.is_none() || self.version == 0) {
            let bodies: Vec<(&str, &str)> = content
                .sections
                .iter()
                .map(|(_, heading, body)| (heading.as_str(), body.as_str()))
                .collect();
            if let Some(why) = crate::domain::content_problem(
                &content.question,
                &content.quick_answer,
                &content.key_facts,
                &bodies,
                {
                    // The article's one source (its address, its first licence).
                    let s = self.source(&content, self.root_is_question(&next), &claims.license);
                    crate::domain::source_bytes(&s.title, &s.publisher, &s.url, &s.license)
                },
                &self.limits,
            ) {
                return Err(ThreadSkip::Refused { why });
            }
        }
        let step = match (self.version, deletion) {
            (0, _) => {
                self.slug = plan::slug_for(&content.question, &self.thread.to_string(), taken);
                let sections = self.place_sections(&content);
                Step::Create {
                    slug: self.slug.clone(),
                    question: content.question.clone(),
                    quick_answer: content.quick_answer.clone(),
                    key_facts: content.key_facts.clone(),
                    sections,
                    sources: vec![self.source(
                        &content,
                        self.root_is_question(&next),
                        &claims.license,
                    )],
                    last_updated: date,
                }
            }
            (_, Some(true)) => Step::Retract {
                expected_version: self.version,
            },
            (_, Some(false)) => Step::Restore {
                expected_version: self.version,
            },
            _ if !changed => Step::TextUnchanged {
                expected_version: self.version,
                last_updated: date,
            },
            _ => Step::Revise {
                expected_version: self.version,
                question: content.question.clone(),
                quick_answer: content.quick_answer.clone(),
                key_facts: content.key_facts.clone(),
                sections: self.place_sections(&content),
                sources: None,
                last_updated: date,
            },
        };
        self.state = next;
        // A retraction or restoration changes nothing shown.
        if deletion.is_none() || self.version == 0 {
            self.current = Some(content);
        }
        self.version += 1;
        Ok(Planned {
            step,
            slug: self.slug.clone(),
            claims,
            command_id,
            version: self.version,
            text: None,
        })
    }

    /// The sections as a step gives them, each with the id of the
    /// article's section of its post (none: new, numbered on as the server
    /// numbers); the article's ids become them.
    fn place_sections(&mut self, content: &Content) -> Vec<PlannedSection> {
        let mut ids = HashMap::new();
        let planned = content
            .sections
            .iter()
            .map(|(post, heading, body)| {
                let given = self.section_ids.get(post).cloned().unwrap_or_default();
                let id = match given.is_empty() {
                    false => given.clone(),
                    true => {
                        let id = format!("s{}", self.next_section);
                        self.next_section += 1;
                        id
                    }
                };
                ids.insert(*post, id);
                PlannedSection {
                    id: given,
                    heading: heading.clone(),
                    body: body.clone(),
                }
            })
            .collect();
        self.section_ids = ids;
        planned
    }

    /// What the article shows in `state`.
    fn content(&self, state: &State) -> Content {
        let root_is_question = self.root_is_question(state);
        let question = match (root_is_question, &state.title) {
            (true, Some(title)) => title.clone(),
            _ => format!("Answer {} on {}", self.thread, self.host),
        };
        let mut answers: Vec<(u64, &PostState)> = state
            .posts
            .iter()
            .filter(|(id, p)| {
                !p.deleted && p.body.is_some() && (**id != self.thread || !root_is_question)
            })
            .map(|(id, p)| (*id, p))
            .collect();
        answers.sort_by_key(|(id, _)| {
            (
                Some(*id) != self.accepted,
                std::cmp::Reverse(self.scores.get(id).copied().unwrap_or(0)),
                *id,
            )
        });
        let mut sections = Vec::with_capacity(answers.len() + 1);
        if root_is_question {
            if let Some(body) = state.posts.get(&self.thread).and_then(|p| p.body.clone()) {
                sections.push((self.thread, QUESTION_HEADING.to_owned(), body));
            }
        }
        for (id, post) in &answers {
            sections.push((
                *id,
                self.answer_heading(*id, post),
                post.body.clone().unwrap_or_default(),
            ));
        }
        let quick_answer = answers
            .first()
            .and_then(|(_, p)| p.body.as_deref())
            .and_then(first_paragraph)
            .unwrap_or_else(|| NO_ANSWER.to_owned());
        let mut key_facts = Vec::new();
        if !state.tags.is_empty() {
            key_facts.push(format!("Tags: {}", state.tags.join(", ")));
        }
        key_facts.extend(state.closed.iter().cloned());
        key_facts.extend(state.locked.iter().cloned());
        key_facts.extend(state.protected.iter().cloned());
        if state.community {
            key_facts.push("Community wiki".to_owned());
        }
        Content {
            question,
            quick_answer,
            key_facts,
            sections,
        }
    }

    fn answer_heading(&self, id: u64, post: &PostState) -> String {
        let mut heading = format!("Answer {id}");
        if !post.author.is_empty() {
            heading.push_str(&format!(" by {}", post.author));
        }
        if Some(id) == self.accepted {
            heading.push_str(" (accepted)");
        }
        if post.community {
            heading.push_str(" (community wiki)");
        }
        plan::one_line(&heading, 200)
    }

    fn source(&self, content: &Content, is_question: bool, license: &str) -> PlannedSource {
        let kind = if is_question { "q" } else { "a" };
        PlannedSource {
            id: String::new(),
            title: plan::one_line(&content.question, 300),
            publisher: format!("{} (Stack Exchange)", self.host),
            url: format!("https://{}/{kind}/{}", self.host, self.thread),
            license: license.to_owned(),
        }
    }

    /// The claims of a change (`rows`) to a post whose change before it
    /// was `parent`; `state` is the thread after it.
    fn claims(&self, rows: &[Row], parent: &str, state: &State) -> Claims {
        let first = &rows[0];
        let question = first.post_id == self.thread && self.root_is_question(state);
        let kind = if question { "q" } else { "a" };
        let comments: Vec<String> = rows
            .iter()
            .filter_map(|r| r.comment.as_deref())
            .map(lf)
            .collect();
        let kinds: Vec<String> = rows.iter().map(|r| kind_name(r.kind)).collect();
        Claims {
            origin: format!("{}/{kind}/{}", self.host, first.post_id),
            revision_id: first.revision_guid.clone(),
            parent_revision_id: parent.to_owned(),
            time: first.time,
            minor: false,
            suppressed: Vec::new(),
            actor: plan::one_line(
                &rows
                    .iter()
                    .map(actor)
                    .find(|a| !a.is_empty())
                    .unwrap_or_default(),
                256,
            ),
            comment: plan::one_line(&comments.join(" · "), 2048),
            sha1: String::new(),
            kind: plan::one_line(&kinds.join(", "), 128),
            format: "markdown",
            license: rows
                .iter()
                .find_map(|r| r.license.clone())
                .unwrap_or_else(|| self.default_license.clone()),
        }
    }
}

/// The changes of one thread: its rows grouped by RevisionGUID, each group
/// where its first row is (rows come sorted by time, then id); a GUID of
/// two posts is an error naming its second post's row.
pub fn changes(rows: Vec<Row>) -> Result<Vec<Vec<Row>>, DumpError> {
    let mut order: Vec<Vec<Row>> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for row in rows {
        match at.get(&row.revision_guid) {
            Some(&i) if order[i][0].post_id != row.post_id => {
                return Err(DumpError {
                    line: row.line,
                    element: "row".into(),
                    message: format!(
                        "RevisionGUID {} is of post {} and of post {}",
                        row.revision_guid, order[i][0].post_id, row.post_id
                    ),
                })
            }
            Some(&i) => order[i].push(row),
            None => {
                at.insert(row.revision_guid.clone(), order.len());
                order.push(vec![row]);
            }
        }
    }
    Ok(order)
}

/// Who made a change, as a claim names them: the name the row gives, else
/// Community for user -1, else the user's id.
pub fn actor(row: &Row) -> String {
    match (&row.user_name, row.user_id.as_deref()) {
        (Some(name), _) => name.clone(),
        (None, Some("-1")) => "Community".to_owned(),
        (None, Some(id)) => format!("user {id}"),
        (None, None) => String::new(),
    }
}

/// Whether a change's texts have carriage returns, which [`lf`] takes out.
pub fn has_carriage_returns(change: &[Row]) -> bool {
    change
        .iter()
        .any(|r| r.text.as_deref().is_some_and(|t| t.contains('\r')))
}

/// Line ends made LF: CRLF and a lone CR.
pub fn lf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Tags as a row writes them: `<grammar><phonology>` (or, in newer
/// dumps, `|grammar|phonology|`).
pub fn tags(text: &str) -> Vec<String> {
    text.split(['<', '>', '|'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The key fact a close makes: its date and, where the comment holds a
/// close reason's number, the reason.
fn closed(date: &str, comment: Option<&str>) -> String {
    let reason = match comment.map(str::trim) {
        Some("1" | "101") => " as a duplicate",
        Some("2" | "102") => " as off-topic",
        Some("3" | "105") => " as primarily opinion-based",
        Some("4") => " as not a real question",
        Some("103") => " as unclear",
        Some("7") => " as too localized",
        Some("104") => " as needing more focus",
        _ => "",
    };
    format!("Closed on {date}{reason}")
}

/// A body's first paragraph that is not blank, cut to the quick answer's
/// length.
fn first_paragraph(body: &str) -> Option<String> {
    let paragraph = body.split("\n\n").map(str::trim).find(|p| !p.is_empty())?;
    if paragraph.chars().count() <= QUICK_ANSWER_CHARS {
        return Some(paragraph.to_owned());
    }
    let mut cut: String = paragraph.chars().take(QUICK_ANSWER_CHARS - 1).collect();
    if let Some(space) = cut
        .rfind(char::is_whitespace)
        .filter(|i| *i > QUICK_ANSWER_CHARS / 2)
    {
        cut.truncate(space);
    }
    cut.push('…');
    Some(cut)
}

/// The text of post `post` as an article shows it: the body of its
/// section (the question's is headed [`QUESTION_HEADING`], an answer's
/// "Answer {post} …"), or none if it is not shown.
pub fn post_body<'a>(
    sections: impl IntoIterator<Item = (&'a str, &'a str)>,
    post: u64,
    is_question: bool,
) -> Option<&'a str> {
    let answer = format!("Answer {post}");
    sections
        .into_iter()
        .find(|(heading, _)| match is_question {
            true => *heading == QUESTION_HEADING,
            false => heading
                .strip_prefix(answer.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')),
        })
        .map(|(_, body)| body)
}

/// What an article's version shows, as [`shows`] reads it.
pub struct Shown<'a> {
    pub question: &'a str,
    pub key_facts: Vec<&'a str>,
    /// Each section's heading and body.
    pub sections: Vec<(&'a str, &'a str)>,
    /// Readers are served it (not retracted).
    pub served: bool,
}

/// Whether a version shows what a change's rows say, by the documented
/// mapping read backwards: a title is the question, a body its post's
/// section (line ends LF), tags the `Tags:` key fact; a deleted question
/// retracts, a deleted answer is not shown, an undeleted post is again.
/// `root` is the thread's root post and `is_question` tells a question;
/// the first row that is not shown is the error.
pub fn shows(
    shown: &Shown<'_>,
    change: &[Row],
    root: u64,
    is_question: impl Fn(u64) -> bool,
) -> Result<(), String> {
    for row in change {
        let text = row.text.as_deref().map(lf);
        let post = row.post_id;
        let section = post_body(shown.sections.iter().copied(), post, is_question(post));
        let fact = |prefix: &str| shown.key_facts.iter().any(|f| f.starts_with(prefix));
        let ok = match row.kind {
            1 | 4 | 7 => text.as_deref() == Some(shown.question),
            2 | 5 | 8 => section == text.as_deref(),
            3 | 6 | 9 => {
                tags_shown(shown.key_facts.iter().copied()) == tags(text.as_deref().unwrap_or(""))
            }
            10 => fact("Closed on "),
            11 => !fact("Closed on "),
            14 => fact("Locked on "),
            15 => !fact("Locked on "),
            19 => fact("Protected on "),
            20 => !fact("Protected on "),
            16 if post == root => fact("Community wiki"),
            16 => shown.sections.iter().any(|(h, _)| {
                h.starts_with(&format!("Answer {post}")) && h.ends_with("(community wiki)")
            }),
            12 if post == root => !shown.served,
            12 => section.is_none(),
            13 => shown.served && section.is_some(),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "row {} ({}) of post {post} is not what the version shows",
                row.id,
                kind_name(row.kind)
            ));
        }
    }
    Ok(())
}

/// Whether an article's last version shows the last of what a thread's
/// rows (all of them, in time order) say of each post: its body, unless
/// it was deleted; the question's title and tags; and not served if the
/// question ends deleted.
pub fn shows_last(
    shown: &Shown<'_>,
    rows: &[Row],
    root: u64,
    is_question: impl Fn(u64) -> bool,
) -> Result<(), String> {
    let mut bodies: BTreeMap<u64, (Option<String>, bool)> = BTreeMap::new();
    let mut title = None;
    let mut tag_list = Vec::new();
    for row in rows {
        let text = row.text.as_deref().map(lf);
        let post = bodies.entry(row.post_id).or_default();
        match row.kind {
            1 | 4 | 7 => title = text,
            2 | 5 | 8 => post.0 = text,
            3 | 6 | 9 => tag_list = tags(text.as_deref().unwrap_or("")),
            12 => post.1 = true,
            13 => post.1 = false,
            _ => {}
        }
    }
    if bodies.get(&root).is_some_and(|(_, deleted)| *deleted) {
        return match shown.served {
            false => Ok(()),
            true => Err("the question ends deleted, and the article is served".into()),
        };
    }
    if is_question(root) && title.as_deref() != Some(shown.question) {
        return Err(format!("the question is not the last title {title:?}"));
    }
    if tags_shown(shown.key_facts.iter().copied()) != tag_list {
        return Err(format!("the tags are not the last ones {tag_list:?}"));
    }
    for (post, (body, deleted)) in &bodies {
        let section = post_body(shown.sections.iter().copied(), *post, is_question(*post));
        let expected = if *deleted { None } else { body.as_deref() };
        if section != expected {
            return Err(format!("post {post} shows {section:?}, not its last body"));
        }
    }
    Ok(())
}

/// The tags an article's key facts give.
pub fn tags_shown<'a>(key_facts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    key_facts
        .into_iter()
        .find_map(|f| f.strip_prefix("Tags: "))
        .map(|t| t.split(", ").map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::domain::{Article, Status};
    use crate::history_import::replay::decided;
    use crate::history_import::stackexchange::{read_csv, read_posts, HistoryIndex, RowsAt};

    const XML: &str = "tests/fixtures/realdata/stackexchange_conlang_meta_xml";
    const CSV: &str = "tests/fixtures/realdata/stackoverflow_posthistory/post_version_lists";

    fn shown_of(article: &Article) -> Shown<'_> {
        Shown {
            question: &article.question,
            key_facts: article.key_facts.iter().map(String::as_str).collect(),
            sections: article
                .sections
                .iter()
                .map(|s| (s.heading.as_str(), s.body.as_str()))
                .collect(),
            served: article.status == Status::Published,
        }
    }

    /// A thread's changes planned and decided by the domain as the server
    /// would: each is one version, which shows what its rows say, and the
    /// last shows the last of every post. Counts the steps and skips by
    /// kind into `counts`, and the changes whose line ends were made LF.
    fn replay(
        planner: &mut ThreadPlanner,
        rows: Vec<Row>,
        is_question: impl Fn(u64) -> bool,
        taken: &mut HashSet<String>,
        counts: &mut BTreeMap<String, usize>,
    ) {
        let mut versions: Vec<Article> = Vec::new();
        let thread = planner.thread;
        for (change, outcome) in planner.plan_thread(changes(rows.clone()).unwrap(), taken) {
            if has_carriage_returns(&change) {
                *counts.entry("made LF".into()).or_default() += 1;
            }
            let planned = match outcome {
                Ok(planned) => planned,
                Err(skip) => {
                    *counts.entry(skip.to_string()).or_default() += 1;
                    continue;
                }
            };
            *counts
                .entry(
                    match planned.step {
                        Step::Create { .. } => "create",
                        Step::Revise { .. } => "revise",
                        Step::TextUnchanged { .. } => "unchanged",
                        Step::Retract { .. } => "retract",
                        Step::Restore { .. } => "restore",
                        Step::Revert { .. } => "revert",
                        Step::Alias { .. } => "alias",
                    }
                    .to_owned(),
                )
                .or_default() += 1;
            let article = decided(&planned, &versions);
            assert_eq!(article.version, planned.version);
            let id = &change[0].revision_guid;
            // Every version is dated as its change, but a retraction's or
            // restoration's, which RetractArticle does not date.
            if !matches!(planned.step, Step::Retract { .. } | Step::Restore { .. }) {
                assert_eq!(
                    article.last_updated,
                    change[0].time.date_naive(),
                    "change {id}"
                );
            }
            if let Err(e) = shows(&shown_of(&article), &change, thread, &is_question) {
                panic!("change {id}: {e}");
            }
            versions.push(article);
        }
        if let Some(last) = versions.last() {
            if let Err(e) = shows_last(&shown_of(last), &rows, thread, &is_question) {
                panic!("thread {thread}: {e}");
            }
        }
    }

    #[test]
    fn every_change_of_the_real_dump_is_one_version_that_shows_it() {
        let open = |name: &str| {
            std::io::BufReader::new(std::fs::File::open(format!("{XML}/{name}")).unwrap())
        };
        let posts = read_posts(open("Posts.xml")).unwrap();
        let index = HistoryIndex::read(open("PostHistory.xml"), &posts, |_| {}).unwrap();
        let mut again = RowsAt::new(std::fs::File::open(format!("{XML}/PostHistory.xml")).unwrap());
        let mut taken = HashSet::new();
        let mut counts = BTreeMap::new();
        for (thread, entries) in index.threads() {
            let mut planner =
                ThreadPlanner::new("conlang.meta.stackexchange.com", thread, &posts, "");
            let is_question = |post: u64| posts.get(post).is_some_and(|p| p.kind == Post::QUESTION);
            replay(
                &mut planner,
                again.read(entries).unwrap(),
                is_question,
                &mut taken,
                &mut counts,
            );
        }
        // As an independent reading of the files finds (Python's
        // ElementTree, grouping rows by RevisionGUID within each question's
        // thread): 324 changes, of which 54 create the questions, 13 are
        // bumps, 13 are tags' wikis, and question 186 was deleted and
        // undeleted; the other 242 change the article or only claim.
        let made_lf = counts.remove("made LF").unwrap_or(0);
        let count = |key: &str| counts.get(key).copied().unwrap_or(0);
        assert_eq!(counts.values().sum::<usize>(), 324, "{counts:?}");
        assert_eq!(
            [count("create"), count("retract"), count("restore")],
            [54, 1, 1],
            "{counts:?}"
        );
        assert_eq!(count(&ThreadSkip::Bumped.to_string()), 13, "{counts:?}");
        assert_eq!(count(&ThreadSkip::TagWiki.to_string()), 13, "{counts:?}");
        assert_eq!(count("revise") + count("unchanged"), 242, "{counts:?}");
        assert_eq!(count("unchanged"), 0, "{counts:?}");
        // 217 rows' texts have carriage returns (214 CRLF only, 3 with
        // lone LFs too), one a change.
        assert_eq!(made_lf, 217, "{counts:?}");
    }

    #[test]
    fn every_change_of_the_real_csv_histories_is_one_version_that_shows_it() {
        let mut taken = HashSet::new();
        let mut counts = BTreeMap::new();
        let no_posts = Posts::default();
        for entry in std::fs::read_dir(CSV).unwrap() {
            let path = entry.unwrap().path();
            let rows = read_csv(&path).unwrap();
            let post = rows[0].post_id;
            let titled = rows.iter().any(|r| r.kind == 1);
            let mut planner =
                ThreadPlanner::new("stackoverflow.com", post, &no_posts, "CC BY-SA 4.0");
            replay(&mut planner, rows, |_| titled, &mut taken, &mut counts);
        }
        // 541 changes of 95 posts; 29813692's file holds only an edit of
        // its title, so it has no body to create an article with.
        // Posts 1223598, 1669 (twice) and 9875710 were deleted and
        // undeleted, with an edit made between in the first and last (sent
        // after the undelete); 1669 had 5 post notices added or removed
        // and a merge, which change nothing shown.
        let made_lf = counts.remove("made LF").unwrap_or(0);
        assert_eq!(counts.values().sum::<usize>(), 541, "{counts:?}");
        let count = |key: &str| counts.get(key).copied().unwrap_or(0);
        assert_eq!(
            [
                count("create"),
                count("retract"),
                count("restore"),
                count(&ThreadSkip::NeverUndeleted.to_string()),
                count("unchanged"),
                count(&ThreadSkip::BeforeQuestion.to_string()),
                count("revise"),
                made_lf,
            ],
            [94, 4, 4, 0, 6, 1, 432, 484],
            "{counts:?}"
        );
    }

    #[test]
    fn an_answer_whose_question_is_not_in_the_dump_is_skipped() {
        let posts = Posts::from_posts([(
            7,
            Post {
                kind: Post::ANSWER,
                parent: Some(6),
                accepted: None,
                score: 1,
            },
        )]);
        let row = Row {
            id: 1,
            kind: 2,
            post_id: 7,
            revision_guid: "g".into(),
            time: chrono::DateTime::from_timestamp(1_600_000_000, 0).unwrap(),
            user_id: Some("3".into()),
            user_name: None,
            comment: None,
            text: Some("An answer.".into()),
            license: Some("CC BY-SA 4.0".into()),
            line: 2,
        };
        let thread = crate::history_import::stackexchange::thread_of(&posts, 7);
        let mut planner = ThreadPlanner::new("example.stackexchange.com", thread, &posts, "");
        let planned = planner.plan_thread(vec![vec![row]], &mut HashSet::new());
        assert_eq!(planned[0].1, Err(ThreadSkip::NoQuestion { thread: 6 }));
    }

    #[test]
    fn changes_made_while_the_question_is_deleted_follow_its_undelete() {
        let row = |id: u64, kind: u32, guid: &str, text: Option<&str>| Row {
            id,
            kind,
            post_id: 5,
            revision_guid: guid.into(),
            time: chrono::DateTime::from_timestamp(1_600_000_000 + id as i64, 0).unwrap(),
            user_id: Some("3".into()),
            user_name: None,
            comment: None,
            text: text.map(str::to_owned),
            license: Some("CC BY-SA 4.0".into()),
            line: id as usize,
        };
        // A body with no title yet; deleted; titled while deleted;
        // undeleted; edited. The article is made by the held title, after
        // the undelete, and every claim names its post's change before it.
        let changes = vec![
            vec![row(1, 2, "g1", Some("Body."))],
            vec![row(2, 12, "g2", None)],
            vec![row(3, 4, "g3", Some("A title?"))],
            vec![row(4, 13, "g4", None)],
            vec![row(5, 5, "g5", Some("Body, edited."))],
        ];
        let posts = Posts::from_posts([(
            5,
            Post {
                kind: Post::QUESTION,
                parent: None,
                accepted: None,
                score: 0,
            },
        )]);
        let mut planner = ThreadPlanner::new("example.stackexchange.com", 5, &posts, "");
        let planned = planner.plan_thread(changes, &mut HashSet::new());
        let seen: Vec<(&str, String, String)> = planned
            .iter()
            .map(|(change, outcome)| {
                let (what, parent) = match outcome {
                    Ok(p) => (
                        match p.step {
                            Step::Create { .. } => "create",
                            Step::Revise { .. } => "revise",
                            _ => "other",
                        }
                        .to_owned(),
                        p.claims.parent_revision_id.clone(),
                    ),
                    Err(skip) => (skip.to_string(), String::new()),
                };
                (change[0].revision_guid.as_str(), what, parent)
            })
            .collect();
        let before = ThreadSkip::BeforeQuestion.to_string();
        assert_eq!(
            seen,
            [
                ("g1", before.clone(), String::new()),
                ("g2", before.clone(), String::new()),
                ("g4", before, String::new()),
                ("g3", "create".to_owned(), "g2".to_owned()),
                ("g5", "revise".to_owned(), "g4".to_owned()),
            ]
        );
    }

    #[test]
    fn a_first_paragraph_is_cut_to_a_quick_answer() {
        assert_eq!(
            first_paragraph("\n\nFirst.\nStill first.\n\nSecond."),
            Some("First.\nStill first.".into())
        );
        assert_eq!(first_paragraph("  \n\n "), None);
        let long = "word ".repeat(200);
        let cut = first_paragraph(&long).unwrap();
        assert!(
            cut.ends_with('…') && cut.chars().count() <= QUICK_ANSWER_CHARS,
            "{cut}"
        );
        assert_eq!(tags("<grammar><phonology>"), ["grammar", "phonology"]);
        assert_eq!(tags("|grammar|phonology|"), ["grammar", "phonology"]);
        assert_eq!(lf("a\r\nb\rc\n"), "a\nb\nc\n");
    }
}
