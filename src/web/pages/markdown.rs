//! A section's body as HTML. Bodies are Markdown (the import format's);
//! their headings sit two levels below the section's own (h3 and lower);
//! they are text a writer gave, so raw HTML in them is shown as text,
//! links go only to http, https and mailto addresses, and images are
//! shown as links (the pages load nothing from another origin).

use maud::{Markup, PreEscaped};
use pulldown_cmark::{CowStr, Event, HeadingLevel, Parser, Tag};

pub(super) fn render(text: &str) -> Markup {
    let events = Parser::new(text).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(
            Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }
            | Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            },
        ) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::End(pulldown_cmark::TagEnd::Image) => Event::End(pulldown_cmark::TagEnd::Link),
        // A body's headings sit under its section's h2.
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: below_section(level),
            id,
            classes,
            attrs,
        }),
        Event::End(pulldown_cmark::TagEnd::Heading(level)) => {
            Event::End(pulldown_cmark::TagEnd::Heading(below_section(level)))
        }
        other => other,
    });
    let mut html = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    PreEscaped(html)
}

/// A heading level two below: h1 to h3, h2 to h4, the rest h5 or h6.
fn below_section(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// `url` if it is an http, https or mailto address, else nothing.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        url
    } else {
        CowStr::Borrowed("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_lists_render() {
        let html = render("One.\n\nTwo:\n\n- a\n- b\n").into_string();
        assert_eq!(
            html,
            "<p>One.</p>\n<p>Two:</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"
        );
    }

    #[test]
    fn a_bodys_headings_sit_below_its_section() {
        let html = render("# One\n\nText\n---\n").into_string();
        assert_eq!(html, "<h3>One</h3>\n<h4>Text</h4>\n");
    }

    #[test]
    fn raw_html_and_script_urls_stay_inert() {
        let html = render("<script>alert(1)</script>\n\nx <b>y</b> [l](javascript:alert(1)) ![i](https://e.example/i.png)")
            .into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains(r#"<a href="https://e.example/i.png">i</a>"#),
            "{html}"
        );
    }
}
