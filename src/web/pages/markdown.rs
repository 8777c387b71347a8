//! A section's body as HTML. Bodies are Markdown (the import format's);
//! they are text a writer gave, so raw HTML in them is shown as text,
//! links go only to http, https and mailto addresses, and images are
//! shown as links (the pages load nothing from another origin).

use maud::{Markup, PreEscaped};
use pulldown_cmark::{CowStr, Event, Parser, Tag};

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
        other => other,
    });
    let mut html = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    PreEscaped(html)
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
