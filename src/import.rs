//! The import format: TOML front matter between `+++` lines, then Markdown
//! with `# question`, `## Quick Answer`, `## Key Facts` (a bullet list) and
//! one `##` section each for the rest. A section's heading may end with
//! `{#id}`, the id of the article's section it is (written by `answerlog
//! get --output import`, read by `apply`; a creation gives new ids).
//! Parsing and writing only: no I/O, and nothing is checked here that
//! `decide` checks anyway.

use serde::{Deserialize, Serialize};

use crate::domain::{ArticleDraft, Provenance, SectionDraft, SourceDraft};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub(crate) struct ImportError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> ImportError {
    ImportError {
        line,
        message: message.into(),
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    /// The article the file was written from (`get --output import`):
    /// `apply` edits that one; a creation gives a new id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    question: Option<String>,
    slug: Option<String>,
    last_updated: String,
    #[serde(default)]
    ai_assisted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    generator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disclaimer: Option<String>,
    #[serde(default)]
    sources: Vec<FrontSource>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FrontSource {
    title: String,
    publisher: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessed: Option<String>,
}

/// A file of the import format: the draft, and for each of its sections
/// the id its heading names (empty: none).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ArticleFile {
    /// The article it was written from, if it says (empty: none).
    pub id: String,
    pub draft: ArticleDraft,
    pub section_ids: Vec<String>,
}

/// Parses one file of the import format into a draft (section ids aside).
pub(crate) fn parse(text: &str) -> Result<ArticleDraft, ImportError> {
    parse_file(text).map(|file| file.draft)
}

/// Parses one file of the import format.
pub(crate) fn parse_file(text: &str) -> Result<ArticleFile, ImportError> {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|l| l.trim_end()) != Some("+++") {
        return Err(error(
            1,
            "the file must start with a `+++` line (TOML front matter)",
        ));
    }
    let end = lines
        .iter()
        .skip(1)
        .position(|l| l.trim_end() == "+++")
        .map(|i| i + 1)
        .ok_or_else(|| error(1, "the front matter has no closing `+++` line"))?;
    let front = front_matter(&lines[1..end].join("\n"))?;

    let mut question = None;
    let mut blocks: Vec<(usize, String, Vec<&str>)> = Vec::new();
    let mut in_fence = false;
    for (i, line) in lines.iter().enumerate().skip(end + 1) {
        let number = i + 1;
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence {
            if let Some(heading) = line.strip_prefix("## ") {
                blocks.push((number, heading.trim().to_owned(), Vec::new()));
                continue;
            }
            if let Some(title) = line.strip_prefix("# ") {
                if question.is_some() || !blocks.is_empty() {
                    return Err(error(
                        number,
                        "only one `# question` line, before the sections",
                    ));
                }
                question = Some(title.trim().to_owned());
                continue;
            }
        }
        match blocks.last_mut() {
            Some((_, _, body)) => body.push(line),
            None if line.trim().is_empty() => {}
            None => {
                return Err(error(
                    number,
                    "text before the first `##` heading; put it under `## Quick Answer`",
                ))
            }
        }
    }

    let mut quick_answer = None;
    let mut key_facts = Vec::new();
    let mut sections = Vec::new();
    let mut section_ids = Vec::new();
    for (line, heading, body) in blocks {
        match heading.as_str() {
            "Quick Answer" => quick_answer = Some(trim_blank(&body)),
            "Key Facts" => key_facts = bullets(line + 1, &body)?,
            _ => {
                let (heading, id) = heading_id(&heading);
                section_ids.push(id.to_owned());
                sections.push(SectionDraft {
                    heading: heading.to_owned(),
                    body: trim_blank(&body),
                });
            }
        }
    }
    let question = match (front.question, question) {
        (Some(q), _) => q,
        (None, Some(q)) => q,
        (None, None) => return Err(error(1, "no question: give `question` or a `# ` line")),
    };
    let draft = ArticleDraft {
        slug: front.slug.unwrap_or_default(),
        question,
        quick_answer: quick_answer.ok_or_else(|| error(1, "no `## Quick Answer` section"))?,
        key_facts,
        sections,
        sources: front
            .sources
            .into_iter()
            .map(|s| SourceDraft {
                id: String::new(),
                title: s.title,
                publisher: s.publisher,
                url: s.url.unwrap_or_default(),
                license: s.license,
                accessed_on: s.accessed.unwrap_or_default(),
            })
            .collect(),
        last_updated: front.last_updated,
        provenance: Provenance {
            ai_assisted: front.ai_assisted,
            generator: front.generator.unwrap_or_default(),
            reviewed_by: String::new(),
        },
        reviewed_version: 0,
        disclaimer: front.disclaimer.unwrap_or_default(),
    };
    Ok(ArticleFile {
        id: front.id.unwrap_or_default(),
        draft,
        section_ids,
    })
}

/// A heading and the section id it ends with (`Causes {#s2}`), if any.
fn heading_id(heading: &str) -> (&str, &str) {
    let id = heading
        .strip_suffix('}')
        .and_then(|rest| rest.rsplit_once("{#"))
        .filter(|(_, id)| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    match id {
        Some((heading, id)) => (heading.trim_end(), id),
        None => (heading, ""),
    }
}

/// Writes an article in the import format, each section's heading ending
/// with its id from `section_ids` (none where it is empty): what `parse_file`
/// reads back as the same file.
pub(crate) fn format(file: &ArticleFile) -> String {
    let d = &file.draft;
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let front = FrontMatter {
        id: optional(&file.id),
        question: None,
        slug: optional(&d.slug),
        last_updated: d.last_updated.clone(),
        ai_assisted: d.provenance.ai_assisted,
        generator: optional(&d.provenance.generator),
        disclaimer: optional(&d.disclaimer),
        sources: d
            .sources
            .iter()
            .map(|s| FrontSource {
                title: s.title.clone(),
                publisher: s.publisher.clone(),
                url: optional(&s.url),
                license: s.license.clone(),
                accessed: optional(&s.accessed_on),
            })
            .collect(),
    };
    // Plain structs and strings: serialising them cannot fail.
    let toml = toml::to_string(&front).unwrap_or_default();
    let mut out = format!(
        "+++\n{toml}+++\n\n# {}\n\n## Quick Answer\n\n{}\n",
        d.question, d.quick_answer
    );
    if !d.key_facts.is_empty() {
        out.push_str("\n## Key Facts\n\n");
        for fact in &d.key_facts {
            out.push_str(&format!("- {fact}\n"));
        }
    }
    for (i, section) in d.sections.iter().enumerate() {
        let id = file.section_ids.get(i).map(String::as_str).unwrap_or("");
        let tag = if id.is_empty() {
            String::new()
        } else {
            format!(" {{#{id}}}")
        };
        out.push_str(&format!("\n## {}{tag}\n\n", section.heading));
        if !section.body.is_empty() {
            out.push_str(&section.body);
            out.push('\n');
        }
    }
    out
}

/// Parses the front matter. Dates may be TOML dates or strings; both
/// become text here (`decide` checks that they are real dates).
fn front_matter(text: &str) -> Result<FrontMatter, ImportError> {
    let fail = |message: String| error(2, format!("front matter: {message}"));
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.message().to_owned()))?;
    dates_to_text(&mut table, "last_updated");
    if let Some(toml::Value::Array(sources)) = table.get_mut("sources") {
        for source in sources {
            if let toml::Value::Table(source) = source {
                dates_to_text(source, "accessed");
            }
        }
    }
    table
        .try_into()
        .map_err(|e: toml::de::Error| fail(e.message().to_owned()))
}

fn dates_to_text(table: &mut toml::Table, key: &str) {
    if let Some(value) = table.get_mut(key) {
        if let toml::Value::Datetime(date) = value {
            *value = toml::Value::String(date.to_string());
        }
    }
}

/// The items of a bullet list (`- ` or `* `); indented lines continue one.
fn bullets(first_line: usize, body: &[&str]) -> Result<Vec<String>, ImportError> {
    let mut items: Vec<String> = Vec::new();
    for (i, line) in body.iter().enumerate() {
        let number = first_line + i;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            items.push(item.trim().to_owned());
        } else if line.starts_with(' ') && !items.is_empty() {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            return Err(error(number, "Key Facts must be a bullet list (`- fact`)"));
        }
    }
    Ok(items)
}

fn trim_blank(lines: &[&str]) -> String {
    let start = lines.iter().position(|l| !l.trim().is_empty());
    let end = lines.iter().rposition(|l| !l.trim().is_empty());
    match (start, end) {
        (Some(s), Some(e)) => lines[s..=e]
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/what-causes-jmt.md");

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 2000,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Arbitrary bytes: an error or a draft, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        /// The reference page with random edits (bytes replaced, cut or
        /// inserted, lines duplicated): an error or a draft, never a panic.
        #[test]
        fn mangled_reference_pages_never_panic(
            edits in proptest::collection::vec((0usize..20_000, 0u8..4, proptest::prelude::any::<char>()), 1..20)
        ) {
            let mut text: Vec<char> = EXAMPLE.chars().collect();
            for (at, how, c) in edits {
                let at = at % (text.len() + 1);
                match how {
                    0 if at < text.len() => text[at] = c,
                    1 if at < text.len() => {
                        text.remove(at);
                    }
                    2 => text.insert(at, c),
                    _ => {
                        let line: Vec<char> = text[at..].iter().take_while(|c| **c != '\n').copied().collect();
                        for (i, c) in line.into_iter().enumerate() {
                            text.insert(at + i, c);
                        }
                    }
                }
            }
            let _ = parse(&text.into_iter().collect::<String>());
        }
    }

    #[test]
    fn parses_the_reference_page() {
        let d = parse(EXAMPLE).unwrap();
        assert_eq!(d.question, "What causes jmt");
        assert_eq!(d.slug, "what-causes-jmt");
        assert_eq!(d.last_updated, "2026-04-04");
        assert!(d.provenance.ai_assisted);
        assert!(d.quick_answer.starts_with("JMT, or Juvenile Myositis"));
        assert_eq!(d.key_facts.len(), 5);
        let headings: Vec<_> = d.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(
            headings,
            [
                "What is Juvenile Myositis (JMT)?",
                "What Causes Juvenile Myositis?",
                "Genetic Factors",
                "Environmental Triggers",
                "The Autoimmune Process",
                "Risk Factors",
                "Symptoms of Juvenile Myositis",
                "Diagnosis and Treatment",
            ]
        );
        assert!(d.sections[5].body.contains("- A genetic predisposition"));
        assert_eq!(d.sources.len(), 3);
        assert_eq!(d.sources[0].publisher, "Mayo Clinic");
        assert!(d.disclaimer.contains("AI-assisted"));
    }

    #[test]
    fn reports_the_line_of_a_problem() {
        assert_eq!(parse("no front matter").unwrap_err().line, 1);
        let e = parse("+++\nlast_updated = 2026-01-01\nbogus = 1\n+++\n").unwrap_err();
        assert!(e.message.contains("bogus"), "{e}");
        let e = parse("+++\nlast_updated = 2026-01-01\n+++\n# Q\n\nstray\n").unwrap_err();
        assert_eq!(e.line, 6);
        let e = parse(
            "+++\nlast_updated = 2026-01-01\n+++\n# Q\n## Quick Answer\nA\n## Key Facts\nnot a bullet\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 8);
    }

    #[test]
    fn a_written_file_reads_back_the_same_with_its_section_ids() {
        let mut file = parse_file(EXAMPLE).unwrap();
        assert!(file.section_ids.iter().all(String::is_empty));
        file.section_ids = (1..=file.draft.sections.len())
            .map(|i| format!("s{i}"))
            .collect();
        file.section_ids[2].clear();
        file.draft.sources[1].url = "https://example.org/a?b=\"c\"".into();
        file.draft.sources[1].accessed_on = "2026-01-02".into();
        let text = format(&file);
        assert!(text.contains("\n## Genetic Factors\n"), "{text}");
        assert!(text.contains("\n## What Causes Juvenile Myositis? {#s2}\n"));
        assert_eq!(parse_file(&text).unwrap(), file);
        // A heading that only looks like it names an id keeps its text.
        assert_eq!(heading_id("Sets {#a b}"), ("Sets {#a b}", ""));
        assert_eq!(heading_id("Causes {#s12}"), ("Causes", "s12"));
    }

    #[test]
    fn fenced_headings_stay_in_their_section() {
        let d = parse(
            "+++\nlast_updated = \"2026-01-01\"\n+++\n# Q\n## Quick Answer\nA\n## Code\n```\n## not a heading\n```\n",
        )
        .unwrap();
        assert_eq!(d.sections.len(), 1);
        assert!(d.sections[0].body.contains("## not a heading"));
    }
}
