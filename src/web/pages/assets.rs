//! The pages' stylesheet and script, compiled into the binary and served
//! from this origin (the Content-Security-Policy allows no other).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// Where the stylesheet is served.
pub(super) const STYLESHEET: &str = "/assets/app.css";

/// Where the script is served: the diff's "jump to the next change" and
/// the verification badge, the two things that need it.
pub(super) const SCRIPT: &str = "/assets/app.js";

const FILES: [(&str, &str, &str); 2] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
];

pub(super) fn serve(name: &str) -> Response<Full<Bytes>> {
    let Some((_, content_type, text)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return super::plain_error(StatusCode::NOT_FOUND, "no such asset");
    };
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    super::secure_headers(headers);
    // Revalidated on each use: a new binary's assets are seen at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
