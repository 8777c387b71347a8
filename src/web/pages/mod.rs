//! The pages for people: server-rendered HTML (maud templates compiled
//! into the binary) over the same gRPC services as the JSON API, called
//! in process with the session's token (`session`). Every page carries a
//! Content-Security-Policy that allows no inline script and no other
//! origin; every form post carries the session's CSRF token and is
//! refused from another origin. The pages work without JavaScript.

/// The `ref` oneof of a request for `reference`: an article id if it is
/// shaped like one, else a slug (a slug never is). The oneof's path is
/// given as `pb::get_answer_request::Ref`.
macro_rules! article_ref {
    ($($oneof:ident)::+, $reference:expr) => {
        Some(if crate::domain::is_uuid_shaped($reference) {
            $($oneof)::+::Id($reference.to_owned())
        } else {
            $($oneof)::+::Slug($reference.to_owned())
        })
    };
}

mod answer;
mod assets;
mod blame;
mod diff;
mod freshness;
mod history;
mod layout;
mod list;
mod login;
mod markdown;
mod receipt;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use maud::Markup;

use super::session::{same_token, Caller};
use super::{gateway, Web, BODY_TIMEOUT};
use crate::principals::Right;

/// The largest form body taken: a question, a token, a CSRF token.
const MAX_FORM: usize = 64 * 1024;

/// What every page allows: its own scripts, styles and images, calls to
/// itself, forms to itself, and no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page's request, as the pages read it.
pub(super) struct Asked {
    path: String,
    query: Vec<(String, String)>,
}

impl Asked {
    /// The version `name` gives, if any: a whole number, 1 or more.
    fn version(&self, name: &str) -> Result<Option<u64>, Refusal> {
        self.param(name)
            .map(|v| {
                v.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name}: must be a whole number, 1 or more"),
                    )
                })
            })
            .transpose()
    }

    /// The query parameter `name`, if given and not empty.
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

pub(super) async fn answer(web: &Web, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if let Some(asset) = path.strip_prefix("/assets/") {
        return assets::serve(asset);
    }
    let asked = Asked {
        path: path.clone(),
        query: form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let posting = *request.method() == Method::POST;
    if !reading && !posting {
        return plain_error(StatusCode::METHOD_NOT_ALLOWED, "pages take GET and POST");
    }
    let cookies: Vec<String> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let caller = web.sessions.caller(cookies.iter().map(String::as_str));

    if posting {
        if !same_origin(&request, web.tls) {
            return plain_error(
                StatusCode::FORBIDDEN,
                "a form of another site cannot post here",
            );
        }
        let form = match read_form(request).await {
            Ok(form) => form,
            Err(response) => return *response,
        };
        if path == "/login" {
            return login::post(web, &form, cookies.iter().map(String::as_str));
        }
        let Some(caller) = caller else {
            return redirect_to_login(&asked);
        };
        if !field(&form, "csrf").is_some_and(|t| same_token(t, &caller.csrf)) {
            return plain_error(
                StatusCode::FORBIDDEN,
                "the form's csrf token is missing or stale: reload the page and try again",
            );
        }
        return match path.as_str() {
            "/logout" => login::logout(web, cookies.iter().map(String::as_str)),
            "/suggest" => answer::suggest(web, &caller, &form).await,
            _ => plain_error(StatusCode::NOT_FOUND, "no form is posted here"),
        };
    }

    if path == "/login" {
        return login::form(web, &asked, None, StatusCode::OK);
    }
    let Some(caller) = caller else {
        return redirect_to_login(&asked);
    };
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["a", reference, "receipt"] = segments[..] {
        return receipt::json(web, &caller, &asked, reference).await;
    }
    let page = match segments[..] {
        [""] => list::page(web, &caller, &asked).await,
        ["freshness"] => freshness::page(web, &caller, &asked).await,
        ["a", reference] => answer::page(web, &caller, &asked, reference).await,
        ["a", reference, "history"] => history::page(web, &caller, &asked, reference).await,
        ["a", reference, "diff"] => diff::page(web, &caller, &asked, reference).await,
        ["a", reference, "blame"] => blame::page(web, &caller, &asked, reference).await,
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "There is no page here.",
        )),
    };
    match page {
        Ok(markup) => html(StatusCode::OK, markup),
        Err(refusal) if refusal.login => redirect_to_login(&asked),
        Err(refusal) => html(refusal.status, layout::error(&caller, &refusal)),
    }
}

/// Why a page is not shown.
pub(super) struct Refusal {
    status: StatusCode,
    message: String,
    /// The session's token stopped working: log in again.
    login: bool,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            login: false,
        }
    }

    /// A failed call, as a page says it.
    fn from_status(status: &tonic::Status) -> Self {
        let http = super::status::http_status(status.code());
        let message = match status.code() {
            tonic::Code::PermissionDenied => {
                format!("Your role may not see this page: {}", status.message())
            }
            tonic::Code::NotFound => format!("Not found: {}", status.message()),
            _ => status.message().to_owned(),
        };
        Self {
            status: http,
            message,
            login: status.code() == tonic::Code::Unauthenticated,
        }
    }
}

/// Calls `path` as `caller`.
async fn call<Q, A>(web: &Web, caller: &Caller, path: &str, request: &Q) -> Result<A, Refusal>
where
    Q: prost::Message,
    A: prost::Message + Default,
{
    gateway::call_typed(&web.grpc, path, request, caller.authorization.as_ref())
        .await
        .map_err(|status| Refusal::from_status(&status))
}

/// Whether `caller`'s role has `right` (to show or hide what it may use;
/// the calls check it again).
fn may(caller: &Caller, right: Right) -> bool {
    right.granted_to(caller.principal.role)
}

fn html(status: StatusCode, markup: Markup) -> Response<Full<Bytes>> {
    respond(status, markup.into_string(), "text/html; charset=utf-8")
}

fn respond(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(headers);
    response
}

/// The headers every page and asset carries.
fn secure_headers(headers: &mut hyper::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn plain_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    respond(status, format!("{message}\n"), "text/plain; charset=utf-8")
}

/// 303 to `location` (a path of this site).
fn see_other(location: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

fn redirect_to_login(asked: &Asked) -> Response<Full<Bytes>> {
    let mut next = asked.path.clone();
    if !asked.query.is_empty() {
        next.push('?');
        next.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&asked.query)
                .finish(),
        );
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    see_other(&format!("/login?{query}"))
}

/// A path of this site to go on to: one that starts with a single `/`
/// and holds no backslash, space or control character (a browser drops
/// tabs and newlines from an address, so `/\t/evil.example` would leave
/// this site), else the list.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            path
        }
        _ => "/",
    }
}

/// Whether a form post comes from a page of this site: a browser names
/// the page's origin in `Origin`, which must be this listener's own.
fn same_origin<B>(request: &Request<B>, tls: bool) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        // Browsers send Origin with every cross-site form post; a client
        // that sends none is not a page of another site.
        return true;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let scheme = if tls { "https" } else { "http" };
    origin.to_str().ok() == Some(&format!("{scheme}://{host}"))
}

type Form = Vec<(String, String)>;

/// The first value of `name` in a form.
fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn read_form(request: Request<Incoming>) -> Result<Form, Box<Response<Full<Bytes>>>> {
    let urlencoded = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !urlencoded {
        return Err(Box::new(plain_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a form is sent as application/x-www-form-urlencoded",
        )));
    }
    let body = request.into_body();
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_FORM).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(form_urlencoded::parse(&collected.to_bytes())
            .into_owned()
            .collect()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Box::new(plain_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a form is at most {MAX_FORM} bytes"),
        ))),
        Ok(Err(_)) | Err(_) => Err(Box::new(plain_error(
            StatusCode::BAD_REQUEST,
            "the form did not arrive",
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_paths_of_this_site_are_gone_on_to() {
        for (next, expected) in [
            (Some("/a/x?version=2"), "/a/x?version=2"),
            (Some("//evil.example/"), "/"),
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some(""), "/"),
            (None, "/"),
        ] {
            assert_eq!(super::local_path(next), expected, "{next:?}");
        }
    }
}
