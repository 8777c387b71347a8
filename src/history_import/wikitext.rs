//! A MediaWiki page's wikitext as an article's parts, and back, without
//! loss: the lead (MediaWiki's section 0, everything before the first
//! level-2 heading) and each level-2 section as MediaWiki's own section
//! editing cuts it: the heading line and everything up to the next
//! level-2 heading. So the text is the lead followed by each section's
//! text, byte for byte, and `render(split(text)) == text` for any text.
//! Deeper headings (`=== … ===`) stay inside their section. The wikitext
//! stays wikitext: nothing is converted.

/// A level-2 section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The heading as a person reads it: the heading line's title, trimmed.
    pub heading: String,
    /// The heading line and what follows it, up to the next level-2
    /// heading (or the end), exactly.
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    pub lead: String,
    pub sections: Vec<Section>,
}

/// The title of a level-2 heading line (`== Title ==`, the closing run
/// of `=` two or more, spaces and tabs after it allowed), if it is one.
pub fn level_two_title(line: &str) -> Option<&str> {
    let line = line.trim_end_matches([' ', '\t']);
    let inner = line.strip_prefix("==")?.strip_suffix("==")?;
    let title = inner.trim_end_matches('=').trim();
    if inner.starts_with('=') || title.is_empty() {
        return None;
    }
    Some(title)
}

pub fn split(text: &str) -> Parts {
    let mut parts = Parts::default();
    let mut start = 0;
    let mut current: Option<String> = None;
    for (at, line) in lines_at(text) {
        if let Some(title) = level_two_title(line.trim_end_matches('\n')) {
            let chunk = text[start..at].to_owned();
            match current.take() {
                None => parts.lead = chunk,
                Some(heading) => parts.sections.push(Section {
                    heading,
                    text: chunk,
                }),
            }
            current = Some(title.to_owned());
            start = at;
        }
    }
    let chunk = text[start..].to_owned();
    match current {
        None => parts.lead = chunk,
        Some(heading) => parts.sections.push(Section {
            heading,
            text: chunk,
        }),
    }
    parts
}

/// The wikitext the parts make: the lead, then each section's text.
pub fn render(parts: &Parts) -> String {
    let mut text = parts.lead.clone();
    for section in &parts.sections {
        text.push_str(&section.text);
    }
    text
}

/// Each line of `text` with its byte offset, its newline kept.
fn lines_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |line| {
        let here = at;
        at += line.len();
        (here, line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_two_headings_only() {
        assert_eq!(level_two_title("== Plot =="), Some("Plot"));
        assert_eq!(level_two_title("==Plot==  "), Some("Plot"));
        assert_eq!(level_two_title("== A = B =="), Some("A = B"));
        assert_eq!(level_two_title("=== Cast ==="), None);
        assert_eq!(level_two_title("= Top ="), None);
        assert_eq!(level_two_title("===="), None);
        assert_eq!(level_two_title("==  =="), None);
        assert_eq!(level_two_title("== ==="), None);
        assert_eq!(level_two_title("==\t==="), None);
        assert_eq!(level_two_title("text == not =="), None);
    }

    #[test]
    fn a_text_splits_into_lead_and_sections_and_back() {
        let text =
            "Lead line.\n\n== One ==\nBody one.\n=== Deeper ===\nStill one.\n==Two==\nBody two";
        let parts = split(text);
        assert_eq!(parts.lead, "Lead line.\n\n");
        assert_eq!(
            parts.sections,
            vec![
                Section {
                    heading: "One".into(),
                    text: "== One ==\nBody one.\n=== Deeper ===\nStill one.\n".into()
                },
                Section {
                    heading: "Two".into(),
                    text: "==Two==\nBody two".into()
                },
            ]
        );
        assert_eq!(render(&parts), text);
        for text in [
            "",
            "\n",
            "== Only ==",
            "== A ==\n== B ==\n",
            "lead\n==x==\n\n",
        ] {
            assert_eq!(render(&split(text)), text, "{text:?}");
        }
    }
}
