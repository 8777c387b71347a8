//! The sources a page's wikitext cites, where they can be recognised:
//! each `<ref>…</ref>` (a `{{cite …}}` template's url, title and
//! publisher; else its first link; else its text), and each external link
//! (`[https://… title]`) outside them. Named refs used again
//! (`<ref name=x />`) are the one source; so are a ref and a link to the
//! same address. The text stays as it is: these are only what an
//! article's sources list shows.

use super::plan;

/// What a source of an imported page says where nothing does: the
/// licence of a cited work, and the publisher of a ref with no address.
pub const NOT_STATED: &str = "not stated";

/// A source's fields' length, in characters, at most (the server's
/// default limit).
const FIELD_CHARS: usize = 300;

/// One source the text cites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citation {
    pub title: String,
    pub publisher: String,
    /// Empty for a ref that gives no address.
    pub url: String,
}

impl Citation {
    /// What tells two citations the same: the address, else the title.
    pub fn key(&self) -> &str {
        if self.url.is_empty() {
            &self.title
        } else {
            &self.url
        }
    }
}

/// The text's citations, in the order they first appear, each once, at
/// most `max`.
pub fn citations(text: &str, max: usize) -> Vec<Citation> {
    let mut found: Vec<Citation> = Vec::new();
    let mut keys: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
    let limits = crate::domain::Limits::default();
    let mut push = |citation: Option<Citation>, found: &mut Vec<Citation>| {
        // A citation the server would not take as a source is left out.
        let Some(c) = citation.filter(|c| {
            crate::domain::source_problem(&c.title, &c.publisher, &c.url, NOT_STATED, &limits)
                .is_none()
        }) else {
            return;
        };
        if found.len() < max && keys.insert(c.key().to_owned()) {
            found.push(c);
        }
    };
    let lower = text.to_ascii_lowercase();
    let mut outside = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(start) = lower[at..].find("<ref").map(|i| i + at) {
        // `<references/>` and the like are not refs.
        let after = lower.as_bytes().get(start + 4).copied();
        if !matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'/')) {
            outside.push_str(&text[at..start + 4]);
            at = start + 4;
            continue;
        }
        outside.push_str(&text[at..start]);
        let Some(open_end) = lower[start..].find('>').map(|i| i + start) else {
            at = text.len();
            break;
        };
        let tag = &text[start..open_end];
        if tag.ends_with('/') {
            at = open_end + 1;
            continue;
        }
        let Some(close) = lower[open_end..].find("</ref").map(|i| i + open_end) else {
            at = text.len();
            break;
        };
        let seen = ref_name(tag).is_some_and(|n| !names.insert(n));
        if !seen {
            push(in_ref(&text[open_end + 1..close]), &mut found);
        }
        at = lower[close..]
            .find('>')
            .map_or(text.len(), |i| close + i + 1);
    }
    outside.push_str(&text[at.min(text.len())..]);
    for link in links(&outside) {
        push(Some(link), &mut found);
    }
    found
}

/// A ref's name, from `<ref name="x">` or `<ref name=x>`.
fn ref_name(tag: &str) -> Option<String> {
    let at = tag.to_ascii_lowercase().find("name")?;
    let rest = tag[at + 4..].trim_start().strip_prefix('=')?.trim_start();
    let name = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].split(quote).next()?,
        _ => rest.split([' ', '/', '>']).next()?,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

/// The source one ref's content names.
fn in_ref(content: &str) -> Option<Citation> {
    if let Some(citation) = cite_template(content) {
        return Some(citation);
    }
    if let Some(link) = links(content).into_iter().next() {
        return Some(link);
    }
    let title = plain(content);
    (!title.is_empty()).then(|| Citation {
        title: plan::one_line(&title, FIELD_CHARS),
        publisher: NOT_STATED.to_owned(),
        url: bare_url(content).unwrap_or_default(),
    })
}

/// A `{{cite …}}` or `{{citation …}}` template's url, title and publisher.
fn cite_template(content: &str) -> Option<Citation> {
    let lower = content.to_ascii_lowercase();
    let start = ["{{cite", "{{citation"]
        .iter()
        .filter_map(|t| lower.find(t))
        .min()?;
    let end = content[start..]
        .find("}}")
        .map_or(content.len(), |i| start + i);
    let mut url = String::new();
    let mut title = String::new();
    let mut publisher = String::new();
    for param in content[start + 2..end].split('|').skip(1) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "url" => url = value.to_owned(),
            "title" => title = plain(value),
            "publisher" | "website" | "work" | "newspaper" | "journal" | "magazine"
                if publisher.is_empty() =>
            {
                publisher = plain(value)
            }
            _ => {}
        }
    }
    let url = usable(&url).unwrap_or_default();
    if title.is_empty() {
        title = if url.is_empty() {
            plain(content)
        } else {
            url.clone()
        };
    }
    if title.is_empty() {
        return None;
    }
    if publisher.is_empty() {
        publisher = host(&url).unwrap_or(NOT_STATED).to_owned();
    }
    if publisher.trim().is_empty() {
        publisher = NOT_STATED.to_owned();
    }
    Some(Citation {
        title: plan::one_line(&title, FIELD_CHARS),
        publisher: plan::one_line(&publisher, FIELD_CHARS),
        url,
    })
}

/// Each external link `[https://… title]` in `text`, in order.
fn links(text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = text[at..].find('[').map(|i| i + at) {
        at = start + 1;
        let rest = &text[at..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let Some(end) = rest.find([']', '\n']) else {
            break;
        };
        let inside = &rest[..end];
        let (url, label) = inside.split_once([' ', '\t']).unwrap_or((inside, ""));
        if let Some(url) = usable(url) {
            let label = plain(label);
            out.push(Citation {
                title: plan::one_line(if label.is_empty() { &url } else { &label }, FIELD_CHARS),
                publisher: plan::one_line(host(&url).unwrap_or(NOT_STATED), FIELD_CHARS),
                url,
            });
        }
        at += end;
    }
    out
}

/// The first bare `http(s)://` address in `text`.
fn bare_url(text: &str) -> Option<String> {
    let start = text.find("https://").or_else(|| text.find("http://"))?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '|' | ']' | '}' | '<' | '"'))
        .collect();
    usable(&url)
}

/// `url` if the server would take it as a source's address.
fn usable(url: &str) -> Option<String> {
    let url = url.trim();
    (!url.is_empty() && url.chars().count() <= 2048 && crate::domain::url_problem(url).is_none())
        .then(|| url.to_owned())
}

/// A URL's host, lowercase.
fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// Wikitext as plain words: links as their text, templates, tags and
/// quote marks gone, whitespace made single spaces.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(inner) = rest.strip_prefix("[[") {
            let end = inner.find("]]").unwrap_or(inner.len());
            let link = &inner[..end];
            out.push_str(link.rsplit('|').next().unwrap_or(link));
            rest = inner.get(end + 2..).unwrap_or("");
        } else if let Some(inner) = rest.strip_prefix("{{") {
            let end = inner.find("}}").unwrap_or(inner.len());
            rest = inner.get(end + 2..).unwrap_or("");
        } else if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            let link = &inner[..end];
            out.push_str(link.split_once(' ').map_or(link, |(_, label)| label));
            rest = inner.get(end + 1..).unwrap_or("");
        } else if let Some(inner) = rest.strip_prefix('<') {
            let end = inner.find('>').unwrap_or(inner.len());
            rest = inner.get(end + 1..).unwrap_or("");
        } else if rest.starts_with("''") {
            rest = rest.trim_start_matches('\'');
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(text: &str) -> Vec<(String, String, String)> {
        citations(text, 200)
            .into_iter()
            .map(|c| (c.title, c.publisher, c.url))
            .collect()
    }

    fn c(title: &str, publisher: &str, url: &str) -> (String, String, String) {
        (title.into(), publisher.into(), url.into())
    }

    #[test]
    fn refs_and_links_are_recognised_once_each() {
        let text = "Lead.<ref name=edelstein>Edelstein, David. Intro to ''A Story of Water'' on [[TCM.com]] (July 19, 2013)</ref> More.<ref name=edelstein /> \
            Cited.<ref>{{cite web |url=https://example.org/a |title=The ''A'' page |website=Example}}</ref>\n\
            == External links ==\n* [http://www.torontopolice.ca/ Toronto Police Service]\n* [https://example.org/a again]\n\
            <references/>";
        assert_eq!(
            titles(text),
            [
                c(
                    "Edelstein, David. Intro to A Story of Water on TCM.com (July 19, 2013)",
                    NOT_STATED,
                    ""
                ),
                c("The A page", "Example", "https://example.org/a"),
                c(
                    "Toronto Police Service",
                    "www.torontopolice.ca",
                    "http://www.torontopolice.ca/"
                ),
            ]
        );
    }

    #[test]
    fn odd_wikitext_neither_panics_nor_invents() {
        for text in [
            "<ref",
            "<ref>unclosed",
            "<ref name=",
            "[http://",
            "[https://ex ample",
            "{{cite web|url=",
            "<ref>{{cite web|url=ftp://x|title=}}</ref>",
            "[[",
            "''",
            "é<ref>ü</ref>ß",
        ] {
            let found = citations(text, 200);
            assert!(
                found.iter().all(|c| !c.title.is_empty()),
                "{text}: {found:?}"
            );
        }
        assert_eq!(titles("<ref>ü</ref>"), [c("ü", NOT_STATED, "")]);
        // One the server would refuse (a bidirectional control in its
        // host, a host over 300 characters) is left out; the rest pass.
        let long = format!("[https://{}.org/ x]", "h".repeat(400));
        for text in ["[https://ex\u{202E}ample.org/ x]", long.as_str()] {
            let found = citations(text, 200);
            assert!(
                found.iter().all(|c| crate::domain::source_problem(
                    &c.title,
                    &c.publisher,
                    &c.url,
                    NOT_STATED,
                    &crate::domain::Limits::default()
                )
                .is_none()),
                "{found:?}"
            );
        }
        assert_eq!(citations(&"[https://e.org/x a] ".repeat(3), 200).len(), 1);
        let many: String = (0..300).map(|i| format!("[https://e.org/{i} x]")).collect();
        assert_eq!(citations(&many, 200).len(), 200);
    }
}
