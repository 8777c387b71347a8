//! What each revision of a MediaWiki page becomes (README, "Importing
//! histories"): one step per revision, in the page's order, each one
//! commit, with what the source says of the revision as claims.
//!
//! - The first revision with text creates the article: the page title is
//!   the question, the lead (wikitext before the first level-2 heading)
//!   the quick answer, each level-2 section a section whose body is the
//!   section's whole text, heading line included (MediaWiki's own section
//!   cut), and the revision's date the "Last updated".
//! - A later revision revises the article as a whole (ReviseArticle):
//!   sections keep their ids by heading (the first unused section of the
//!   same heading) and else by place (the unused section at the same
//!   index), so that an edit of one section is a SectionEdited of it.
//! - A revision whose text is an earlier version's (the same SHA-1) is a
//!   revert to that version (RevertArticle: the page as it stood then,
//!   dated as the revision); one whose text is the current version's only
//!   dates the page (RedateArticle; the claims alone if the date is the
//!   same). Every version's "Last updated" is its revision's date.
//! - A revision whose text the source suppressed keeps the content and
//!   dates the page (with `text` suppressed); before the page has any text it
//!   is skipped, counted, as are redirects and pages that are not wikitext.
//! - An empty lead (a page that opens with a heading) is kept as the quick
//!   answer U+2060 (word joiner) followed by the lead's whitespace, since
//!   a quick answer may not be blank, and so is a lead that itself starts
//!   with U+2060; `render` takes the first U+2060 off.
//! - A revision whose content the server would refuse under its default
//!   limits (a body over 64 KiB, a heading over 200 characters, a control
//!   character, …) is skipped, counted with the rule, and the article
//!   stays as it was; so is a revision id given twice, and one whose text
//!   the dump does not hold.
//!
//! The wikitext stays wikitext: `render` puts it back, byte for byte.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::citations::{citations, Citation, NOT_STATED};
use super::mediawiki::{sha1_base36, Contributor, Given, Page, Revision, Site};
use super::wikitext;

/// The quick answer of an empty or blank lead starts with this.
pub const BLANK_LEAD: char = '\u{2060}';

/// What the source says of a revision (an import's origin claims).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The site and the page, e.g. `en.wikipedia.org/wiki/Tea`.
    pub origin: String,
    pub revision_id: String,
    pub parent_revision_id: String,
    pub time: DateTime<Utc>,
    pub minor: bool,
    /// "actor", "comment", "text": what the source suppressed.
    pub suppressed: Vec<&'static str>,
    /// A user name, or an address.
    pub actor: String,
    pub comment: String,
    pub sha1: String,
    /// What the source calls the change (empty: a MediaWiki revision).
    pub kind: String,
    /// The text's format: `wikitext`, `markdown`.
    pub format: &'static str,
    /// The licence the source gives the content under, where it says.
    pub license: String,
}

impl Claims {
    /// The claims as the domain keeps them: the time in whole
    /// microseconds, as claims count it.
    pub(crate) fn origin_claims(&self) -> crate::domain::OriginClaims {
        use chrono::Timelike as _;
        let micros = self.time.nanosecond() / 1000 * 1000;
        crate::domain::OriginClaims {
            origin: self.origin.clone(),
            revision_id: self.revision_id.clone(),
            parent_revision_id: self.parent_revision_id.clone(),
            time: Some(self.time.with_nanosecond(micros).unwrap_or(self.time)),
            minor: self.minor,
            suppressed: self.suppressed.iter().map(|s| s.to_string()).collect(),
            actor: self.actor.clone(),
            comment: self.comment.clone(),
            sha1: self.sha1.clone(),
            kind: self.kind.clone(),
            format: self.format.to_owned(),
            license: self.license.clone(),
        }
    }
}

/// A section as a step gives it: an id the article has (empty: new).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSection {
    pub id: String,
    pub heading: String,
    pub body: String,
}

/// A source of an article (where its text comes from, or what it cites).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSource {
    /// A source the article has; empty: a new one.
    pub id: String,
    pub title: String,
    pub publisher: String,
    pub url: String,
    pub license: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Create {
        slug: String,
        question: String,
        quick_answer: String,
        key_facts: Vec<String>,
        sections: Vec<PlannedSection>,
        sources: Vec<PlannedSource>,
        last_updated: String,
    },
    Revise {
        expected_version: u64,
        question: String,
        quick_answer: String,
        key_facts: Vec<String>,
        sections: Vec<PlannedSection>,
        /// The sources after it; none: they stay.
        sources: Option<Vec<PlannedSource>>,
        last_updated: String,
    },
    /// The page as it stood at `to_version`, dated as the revision.
    Revert {
        expected_version: u64,
        to_version: u64,
        last_updated: String,
    },
    /// The text stays (the same text again, or one the source
    /// suppressed): the page is dated as the revision (RedateArticle; a
    /// commit of the claims alone if the date is the same).
    TextUnchanged {
        expected_version: u64,
        last_updated: String,
    },
    /// The source deleted the article's question: the article is retracted
    /// (RetractArticle, which keeps its date).
    Retract { expected_version: u64 },
    /// The source undeleted it (RestoreArticle).
    Restore { expected_version: u64 },
    /// Another page redirects to the article: its title's slug names the
    /// article too (AddSlugAlias), claimed with the redirect's revision.
    Alias { expected_version: u64, slug: String },
}

/// One revision's step, with its claims and a command id derived from the
/// revision (so that importing again is a retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub step: Step,
    /// The article's slug: an edit in a bulk import names its article by
    /// it (the import takes a slug for an article created in the same call).
    pub slug: String,
    pub claims: Claims,
    pub command_id: String,
    /// The version the step makes.
    pub version: u64,
    /// The revision's text, when the source gave it: what the version must
    /// render back to.
    pub text: Option<String>,
}

/// Why a revision is not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    Redirect {
        target: String,
    },
    NotWikitext {
        model: String,
    },
    /// The page's first revisions, whose text the source suppressed.
    NoTextYet,
    /// The dump holds no text for it (a stub dump).
    NoText,
    /// Its id was given before in the page.
    Repeated,
    /// Its content breaks a rule the server would refuse it for.
    Refused {
        why: String,
    },
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Redirect { .. } => write!(f, "a redirect page"),
            Skip::NotWikitext { model } => write!(f, "content of model {model}, not wikitext"),
            Skip::NoTextYet => {
                write!(
                    f,
                    "no text before it: the page's first text is suppressed at the source"
                )
            }
            Skip::NoText => write!(f, "the dump holds no text for it"),
            Skip::Repeated => write!(f, "a revision id given twice in its page"),
            Skip::Refused { why } => write!(f, "the server would refuse it ({why})"),
        }
    }
}

/// What a version has that a revert to it brings back.
#[derive(Clone, Default)]
struct Target {
    /// Each section's id and heading.
    sections: Vec<(String, String)>,
    sources: Vec<(String, String)>,
    citations: Vec<Citation>,
}

/// The article a page's steps have made so far.
pub struct PagePlanner {
    /// The site's host, for the command ids (which hold no title, so that
    /// a page renamed at the source keeps them).
    host: String,
    origin: String,
    page_id: String,
    title: String,
    /// Taken at the page's creation.
    slug: String,
    redirect: Option<String>,
    version: u64,
    next_section: u64,
    sections: Vec<(String, String)>,
    /// The first version of each text, by its SHA-1: a revert's target.
    versions_by_sha1: HashMap<String, u64>,
    current_sha1: Option<String>,
    /// The sources the article has: each citation's key and source id.
    sources: Vec<(String, String)>,
    /// What the current text cites.
    citations: Vec<Citation>,
    next_source: u64,
    /// What each version that is a revert's possible target (the first of
    /// its text) has.
    targets: HashMap<u64, Target>,
    /// The page's revision ids seen: one given twice is skipped.
    seen: std::collections::HashSet<String>,
    /// A redirect page's revision was taken for the alias.
    aliased: bool,
    limits: crate::domain::Limits,
}

impl PagePlanner {
    /// The planner of `page`, its content checked under the server's
    /// default limits.
    pub fn new(site: &Site, page: &Page) -> Self {
        Self {
            host: site.host().to_owned(),
            origin: format!("{}/wiki/{}", site.host(), page.title.replace(' ', "_")),
            page_id: page.id.clone(),
            title: page.title.clone(),
            slug: String::new(),
            redirect: page.redirect.clone(),
            version: 0,
            next_section: 1,
            sections: Vec::new(),
            versions_by_sha1: HashMap::new(),
            current_sha1: None,
            sources: Vec::new(),
            citations: Vec::new(),
            next_source: 1,
            targets: HashMap::new(),
            seen: std::collections::HashSet::new(),
            aliased: false,
            limits: crate::domain::Limits::default(),
        }
    }

    /// The article's slug (empty before it is created).
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// The ids the planner expects the article's sources to have, in order.
    #[cfg(test)]
    fn source_ids(&self) -> Vec<&str> {
        self.sources.iter().map(|(_, id)| id.as_str()).collect()
    }

    /// The page's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The page a redirect page points to (its title, without a
    /// `#section`), if it is one.
    pub fn redirect_target(&self) -> Option<&str> {
        let target = self.redirect.as_deref()?;
        Some(target.split('#').next().unwrap_or(target))
    }

    /// A redirect page's revision that makes the alias (the first whose
    /// text is a `#REDIRECT`): its claims and command id, the alias's
    /// slug taken from the page's title. None for any other revision,
    /// which [`PagePlanner::plan`] skips.
    pub fn redirect(
        &mut self,
        revision: &Revision,
        taken: &mut std::collections::HashSet<String>,
    ) -> Option<(Claims, String, String)> {
        self.redirect_target()?;
        let Given::Given(text) = &revision.text else {
            return None;
        };
        let redirects = text
            .trim_start()
            .get(..9)
            .is_some_and(|head| head.eq_ignore_ascii_case("#redirect"));
        if self.aliased || !redirects || !self.seen.insert(revision.id.clone()) {
            return None;
        }
        let claims = self.claims(revision);
        if crate::domain::origin_problem(&claims.origin_claims()).is_some() {
            return None;
        }
        self.aliased = true;
        let slug = slug_for(&self.title, &self.page_id, taken);
        let command_id = command_id("mediawiki", &self.host, &self.page_id, &revision.id);
        Some((claims, command_id, slug))
    }

    /// The article's version after the steps planned so far (0: none).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The step `revision` is, or why it is skipped (the article as it
    /// was). `taken` holds the slugs of the import's articles.
    pub fn plan(
        &mut self,
        revision: &Revision,
        taken: &mut std::collections::HashSet<String>,
    ) -> Result<Planned, Skip> {
        if let Some(target) = &self.redirect {
            return Err(Skip::Redirect {
                target: target.clone(),
            });
        }
        if let Some(model) = revision.model.as_deref().filter(|m| *m != "wikitext") {
            return Err(Skip::NotWikitext {
                model: model.to_owned(),
            });
        }
        if !self.seen.insert(revision.id.clone()) {
            return Err(Skip::Repeated);
        }
        let claims = self.claims(revision);
        if let Some(why) = crate::domain::origin_problem(&claims.origin_claims()) {
            return Err(Skip::Refused { why });
        }
        let date = revision.timestamp.date_naive().to_string();
        let (step, text) = match &revision.text {
            Given::Given(text) => {
                let sha1 = sha1_base36(text);
                let step = if self.version > 0 && self.current_sha1.as_deref() == Some(&*sha1) {
                    Step::TextUnchanged {
                        expected_version: self.version,
                        last_updated: date,
                    }
                } else if let Some(&to_version) = self.versions_by_sha1.get(&sha1) {
                    let target = self.targets.get(&to_version).cloned().unwrap_or_default();
                    self.sections = target.sections;
                    self.sources = target.sources;
                    self.citations = target.citations;
                    Step::Revert {
                        expected_version: self.version,
                        to_version,
                        last_updated: date,
                    }
                } else {
                    let parts = wikitext::split(text);
                    let quick_answer = quick_answer(&parts.lead);
                    let (sections, now, next) = self.match_sections(&parts);
                    let content: Vec<(&str, &str)> = sections
                        .iter()
                        .map(|s| (s.heading.as_str(), s.body.as_str()))
                        .collect();
                    let cited = citations(text, self.limits.sources);
                    if let Some(why) = crate::domain::content_problem(
                        &self.title,
                        &quick_answer,
                        &[],
                        &content,
                        cited
                            .iter()
                            .map(|c| {
                                crate::domain::source_bytes(
                                    &c.title,
                                    &c.publisher,
                                    &c.url,
                                    NOT_STATED,
                                )
                            })
                            .sum(),
                        &self.limits,
                    ) {
                        return Err(Skip::Refused { why });
                    }
                    self.sections = now;
                    self.next_section = next;
                    let sources = (cited != self.citations || self.version == 0)
                        .then(|| self.place_sources(cited));
                    self.targets.insert(
                        self.version + 1,
                        Target {
                            sections: self.sections.clone(),
                            sources: self.sources.clone(),
                            citations: self.citations.clone(),
                        },
                    );
                    self.versions_by_sha1.insert(sha1.clone(), self.version + 1);
                    if self.version == 0 {
                        self.slug = slug_for(&self.title, &self.page_id, taken);
                        Step::Create {
                            slug: self.slug.clone(),
                            question: self.title.clone(),
                            quick_answer,
                            key_facts: Vec::new(),
                            sections,
                            sources: sources.unwrap_or_default(),
                            last_updated: date,
                        }
                    } else {
                        Step::Revise {
                            expected_version: self.version,
                            question: self.title.clone(),
                            quick_answer,
                            key_facts: Vec::new(),
                            sections,
                            sources,
                            last_updated: date,
                        }
                    }
                };
                if !matches!(step, Step::TextUnchanged { .. }) {
                    self.current_sha1 = Some(sha1);
                }
                (step, Some(text.clone()))
            }
            Given::Suppressed if self.version > 0 => (
                Step::TextUnchanged {
                    expected_version: self.version,
                    last_updated: date,
                },
                None,
            ),
            Given::Suppressed => return Err(Skip::NoTextYet),
            Given::Absent => return Err(Skip::NoText),
        };
        self.version += 1;
        Ok(Planned {
            step,
            slug: self.slug.clone(),
            command_id: command_id("mediawiki", &self.host, &self.page_id, &revision.id),
            claims,
            version: self.version,
            text,
        })
    }
}

impl PagePlanner {
    /// The sources `cited` makes, each with the id of the article's source
    /// of the same key (none: new, numbered on as the server numbers); the
    /// article's sources become them.
    fn place_sources(&mut self, cited: Vec<Citation>) -> Vec<PlannedSource> {
        let mut now = Vec::with_capacity(cited.len());
        let planned = cited
            .iter()
            .map(|c| {
                let given = self
                    .sources
                    .iter()
                    .find(|(key, _)| key == c.key())
                    .map(|(_, id)| id.clone())
                    .unwrap_or_default();
                let id = match given.is_empty() {
                    false => given.clone(),
                    true => {
                        let id = format!("src{}", self.next_source);
                        self.next_source += 1;
                        id
                    }
                };
                now.push((c.key().to_owned(), id));
                PlannedSource {
                    id: given,
                    title: c.title.clone(),
                    publisher: c.publisher.clone(),
                    url: c.url.clone(),
                    license: NOT_STATED.to_owned(),
                }
            })
            .collect();
        self.sources = now;
        self.citations = cited;
        planned
    }

    /// The parts' sections, each with the id of the article's section it
    /// continues (by heading, else by place) or none; the article's
    /// sections become them, new ones numbered on as the server numbers.
    fn match_sections(
        &self,
        parts: &wikitext::Parts,
    ) -> (Vec<PlannedSection>, Vec<(String, String)>, u64) {
        let mut next = self.next_section;
        let mut used = vec![false; self.sections.len()];
        let mut ids: Vec<Option<usize>> = vec![None; parts.sections.len()];
        for (i, section) in parts.sections.iter().enumerate() {
            let found = self
                .sections
                .iter()
                .enumerate()
                .position(|(j, (_, heading))| !used[j] && *heading == section.heading);
            if let Some(j) = found {
                used[j] = true;
                ids[i] = Some(j);
            }
        }
        for (i, id) in ids.iter_mut().enumerate() {
            if id.is_none() && i < used.len() && !used[i] {
                used[i] = true;
                *id = Some(i);
            }
        }
        let mut planned = Vec::with_capacity(parts.sections.len());
        let mut now = Vec::with_capacity(parts.sections.len());
        for (section, id) in parts.sections.iter().zip(ids) {
            let (given, id) = match id {
                Some(j) => (self.sections[j].0.clone(), self.sections[j].0.clone()),
                None => {
                    let id = format!("s{next}");
                    next += 1;
                    (String::new(), id)
                }
            };
            planned.push(PlannedSection {
                id: given,
                heading: section.heading.clone(),
                body: section.text.clone(),
            });
            now.push((id, section.heading.clone()));
        }
        (planned, now, next)
    }

    fn claims(&self, revision: &Revision) -> Claims {
        let mut suppressed = Vec::new();
        let actor = match &revision.contributor {
            Given::Given(Contributor::User { name, .. }) => one_line(name, 256),
            Given::Given(Contributor::Ip(ip)) => one_line(ip, 256),
            Given::Suppressed => {
                suppressed.push("actor");
                String::new()
            }
            Given::Absent => String::new(),
        };
        let comment = match &revision.comment {
            Given::Given(comment) => one_line(comment, 2048),
            Given::Suppressed => {
                suppressed.push("comment");
                String::new()
            }
            Given::Absent => String::new(),
        };
        if revision.text == Given::Suppressed {
            suppressed.push("text");
        }
        Claims {
            origin: self.origin.clone(),
            revision_id: revision.id.clone(),
            parent_revision_id: revision.parent_id.clone().unwrap_or_default(),
            time: revision.timestamp,
            minor: revision.minor,
            suppressed,
            actor,
            comment,
            sha1: revision.sha1.clone().unwrap_or_default(),
            kind: String::new(),
            format: "wikitext",
            license: String::new(),
        }
    }
}

/// The slug of a page's article: derived from its title as the server
/// derives one, and made unique among the import's articles (`taken`) and
/// valid (two titles that differ only in case or punctuation, a long one,
/// one shaped like a UUID) with the page's id, then a count.
pub fn slug_for(
    title: &str,
    page_id: &str,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let derived = crate::domain::derive_slug(title);
    let usable = |slug: &str, taken: &std::collections::HashSet<String>| -> bool {
        !taken.contains(slug) && crate::domain::slug_problem(slug).is_none()
    };
    let page: String = page_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let stem: String = derived.chars().take(90).collect();
    let stem = stem.trim_end_matches('-');
    let mut candidates = vec![derived.clone()];
    candidates.push(match stem {
        "" => format!("page-{page}"),
        stem => format!("{stem}-{page}"),
    });
    let mut slug = candidates
        .into_iter()
        .find(|c| !c.is_empty() && usable(c, taken));
    let mut n = 2;
    while slug.is_none() {
        let candidate = format!("page-{page}-{n}");
        if usable(&candidate, taken) {
            slug = Some(candidate);
        }
        n += 1;
    }
    let slug = slug.unwrap_or_default();
    taken.insert(slug.clone());
    slug
}

/// `text` as one line of at most `max` characters, as a claim must be: a
/// line break shown as " ⏎ ", other control characters and bidirectional
/// formatting characters as U+FFFD, the rest cut with "…". Most claims
/// are already so; [`fitted`] tells those that were not.
pub fn one_line(text: &str, max: usize) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => line.push_str(" \u{23CE} "),
            '\t' => line.push('\t'),
            c if c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                line.push('\u{FFFD}')
            }
            c => line.push(c),
        }
    }
    if line.chars().count() > max {
        line = line.chars().take(max.saturating_sub(1)).collect();
        line.push('…');
    }
    line
}

/// Whether a claim had to be made to fit ([`one_line`] changed it).
pub fn fitted(text: &str, max: usize) -> bool {
    one_line(text, max) != text
}

/// The quick answer a lead is kept as.
fn quick_answer(lead: &str) -> String {
    if lead.trim().is_empty() || lead.starts_with(BLANK_LEAD) {
        format!("{BLANK_LEAD}{lead}")
    } else {
        lead.to_owned()
    }
}

/// The wikitext an article's quick answer and sections' bodies make: the
/// lead, then each section's text.
pub fn render<'a>(quick_answer: &str, bodies: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = quick_answer
        .strip_prefix(BLANK_LEAD)
        .unwrap_or(quick_answer)
        .to_owned();
    for body in bodies {
        text.push_str(body);
    }
    text
}

/// A command id (a UUID, of RFC 9562's version 8) derived from the
/// source's format, the site, the page's (or thread's) id and the
/// revision's: importing the same revision again is a retry, whatever the
/// page is called now.
pub(super) fn command_id(format: &str, host: &str, page_id: &str, revision_id: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(format!("{format}\0{host}\0{page_id}\0{revision_id}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Article, Limits};
    use crate::history_import::mediawiki::{Item, Reader};

    fn fixture(path: &str) -> std::io::BufReader<std::fs::File> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/realdata")
            .join(path);
        std::io::BufReader::new(std::fs::File::open(path).expect("the fixture"))
    }

    /// Every revision of a real dump, planned and decided by the domain as
    /// the server would: each is one version, and each version with text
    /// renders back to it. The counts of steps and skips, by kind.
    fn replay(path: &str) -> HashMap<&'static str, usize> {
        replay_citing(path).0
    }

    /// The counts, and every source some version had (title and URL).
    fn replay_citing(
        path: &str,
    ) -> (
        HashMap<&'static str, usize>,
        std::collections::BTreeSet<(String, String)>,
    ) {
        let mut cited_ever = std::collections::BTreeSet::new();
        let mut counts = HashMap::new();
        let mut site = Site::default();
        let mut planner = None;
        let mut versions: Vec<Article> = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for item in Reader::new(fixture(path)) {
            match item.unwrap() {
                Item::Site(s) => site = s,
                Item::Page(page) => {
                    planner = Some(PagePlanner::new(&site, &page));
                    versions.clear();
                }
                Item::Revision(revision) => {
                    let planner = planner.as_mut().unwrap();
                    let planned = match planner.plan(&revision, &mut taken) {
                        Ok(planned) => planned,
                        Err(skip) => {
                            *counts
                                .entry(match skip {
                                    Skip::Redirect { .. } => "redirect",
                                    Skip::NotWikitext { .. } => "not wikitext",
                                    Skip::NoTextYet => "no text yet",
                                    Skip::NoText => "no text",
                                    Skip::Repeated => "repeated",
                                    Skip::Refused { .. } => "refused",
                                })
                                .or_default() += 1;
                            continue;
                        }
                    };
                    *counts
                        .entry(match planned.step {
                            Step::Create { .. } => "create",
                            Step::Revise { .. } => "revise",
                            Step::Revert { .. } => "revert",
                            Step::Alias { .. } => "alias",
                            Step::TextUnchanged { .. } => "unchanged",
                            Step::Retract { .. } => "retract",
                            Step::Restore { .. } => "restore",
                        })
                        .or_default() += 1;
                    let next = super::super::replay::decided(&planned, &versions);
                    assert_eq!(next.version, planned.version);
                    if let Some(text) = &planned.text {
                        let rendered = render(
                            &next.quick_answer,
                            next.sections.iter().map(|s| s.body.as_str()),
                        );
                        assert_eq!(&rendered, text, "revision {} renders back", revision.id);
                        // Its sources are what its text cites.
                        let sources: Vec<(&str, &str, &str)> = next
                            .sources
                            .iter()
                            .map(|s| (s.title.as_str(), s.publisher.as_str(), s.url.as_str()))
                            .collect();
                        let cited = citations(text, Limits::default().sources);
                        let cited: Vec<(&str, &str, &str)> = cited
                            .iter()
                            .map(|c| (c.title.as_str(), c.publisher.as_str(), c.url.as_str()))
                            .collect();
                        assert_eq!(sources, cited, "revision {} cites", revision.id);
                        // With the ids the planner gives them (a source kept
                        // by its key keeps its id).
                        let ids: Vec<&str> = next.sources.iter().map(|s| s.id.as_str()).collect();
                        assert_eq!(ids, planner.source_ids(), "revision {}", revision.id);
                        cited_ever.extend(
                            sources
                                .iter()
                                .map(|(title, _, url)| (title.to_string(), url.to_string())),
                        );
                    }
                    versions.push(next);
                }
                Item::PageEnd => {}
            }
        }
        (counts, cited_ever)
    }

    #[test]
    fn every_real_revision_is_one_version_that_renders_back() {
        let counts =
            |pairs: &[(&'static str, usize)]| pairs.iter().copied().collect::<HashMap<_, _>>();
        // As an independent reading of the files finds (Python's
        // ElementTree and hashlib, with the same rules): in the English
        // sample 3 revisions of a redirect, 3 whose text is the one before
        // it, 2 whose text is an older one's; in the Simple English one, 4
        // of the 7 claims are revisions whose text is suppressed.
        let (enwiki, cited) = replay_citing("enwiki_history_sample_xml/sample.xml");
        // Its sources: an external link, and a ref that gives no address.
        for source in [
            ("Toronto Police Service", "http://www.torontopolice.ca/"),
            (
                "Edelstein, David. Intro to A Story of Water on TCM.com (July 19, 2013)",
                "",
            ),
        ] {
            assert!(
                cited.contains(&(source.0.to_owned(), source.1.to_owned())),
                "{source:?} in {cited:?}"
            );
        }
        assert_eq!(
            enwiki,
            counts(&[
                ("redirect", 3),
                ("create", 2),
                ("revise", 91),
                ("unchanged", 3),
                ("revert", 2)
            ])
        );
        assert_eq!(
            replay("simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Simplewiki.Sample.xml"),
            counts(&[
                ("create", 2),
                ("revise", 17),
                ("revert", 7),
                ("unchanged", 7)
            ])
        );
        assert_eq!(
            replay("simplewiki_commonswiki_xml/MediawikiDumperOutputTest.Commonswiki.Sample.xml"),
            counts(&[
                ("create", 1),
                ("revise", 46),
                ("unchanged", 11),
                ("revert", 1)
            ])
        );
    }

    #[test]
    fn slugs_are_unique_and_valid_in_an_import() {
        let mut taken = std::collections::HashSet::new();
        let mut slug = |title: &str, id: &str| slug_for(title, id, &mut taken);
        assert_eq!(slug("Death in Brunswick", "1"), "death-in-brunswick");
        assert_eq!(slug("Death In Brunswick", "2"), "death-in-brunswick-2");
        assert_eq!(slug("日本", "3"), "page-3");
        assert_eq!(slug("Page 3", "4"), "page-3-4");
        assert_eq!(slug("日本 again", "3"), "again");
        assert_eq!(slug("日本", "3"), "page-3-2");
        // UUID-shaped, and too long: the page's id makes them valid.
        assert_eq!(
            slug("0123456789abcdef0123456789abcdef", "5"),
            "0123456789abcdef0123456789abcdef-5"
        );
        let long = slug(&"word ".repeat(60), "6");
        assert!(long.len() <= 120, "{long}");
        let again = slug(&"word ".repeat(60), "7");
        assert!(again.len() <= 120 && again.ends_with("-7"), "{again}");
    }

    #[test]
    fn a_revision_the_server_would_refuse_is_skipped_and_the_article_stays() {
        let site = Site::default();
        let page = Page {
            title: "T".into(),
            namespace: 0,
            id: "1".into(),
            redirect: None,
            line: 1,
        };
        let revision = |id: &str, text: &str| Revision {
            id: id.into(),
            parent_id: None,
            timestamp: DateTime::from_timestamp(1_600_000_000, 0).unwrap(),
            contributor: Given::Absent,
            minor: false,
            comment: Given::Absent,
            text: Given::Given(text.into()),
            sha1: None,
            model: None,
            format: None,
            other_slots: 0,
            line: 1,
        };
        let mut taken = std::collections::HashSet::new();
        let mut planner = PagePlanner::new(&site, &page);
        let first = planner
            .plan(&revision("1", "Lead.\n== A ==\nx\n"), &mut taken)
            .unwrap();
        assert_eq!(first.version, 1);
        let long = format!("Lead.\n== {} ==\nx\n", "h".repeat(201));
        let refused = planner.plan(&revision("2", &long), &mut taken).unwrap_err();
        assert!(
            matches!(&refused, Skip::Refused { why } if why.starts_with("sections[0].heading")),
            "{refused:?}"
        );
        assert_eq!(
            planner.plan(&revision("2", "x"), &mut taken).unwrap_err(),
            Skip::Repeated
        );
        let next = planner
            .plan(&revision("3", "Lead.\n== A ==\ny\n"), &mut taken)
            .unwrap();
        assert_eq!(next.version, 2);
        let Step::Revise { sections, .. } = &next.step else {
            panic!("{next:?}")
        };
        assert_eq!(
            sections[0].id, "s1",
            "the section keeps its id past the refusal"
        );
    }

    #[test]
    fn a_blank_lead_renders_back() {
        for lead in ["", "\n", "  \n", "\u{2060}\n", "\u{2060}x"] {
            assert_eq!(
                render(&quick_answer(lead), ["== A ==\n"]),
                format!("{lead}== A ==\n")
            );
        }
        assert_eq!(render("Lead.\n", ["== A ==\nx"]), "Lead.\n== A ==\nx");
    }
}
