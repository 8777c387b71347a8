//! Logging in (a token from the principals file starts a session) and
//! out.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use maud::html;

use super::super::session::{cleared_cookie, LoginRefused};
use super::{field, html, layout, local_path, see_other, Asked, Form, Web};

/// The login form, with `problem` said beside the token field.
pub(super) fn form(
    web: &Web,
    asked: &Asked,
    problem: Option<&str>,
    status: StatusCode,
) -> Response<Full<Bytes>> {
    let next = local_path(asked.param("next"));
    let development = web.sessions.is_development();
    html(
        status,
        layout::page(
            "Log in",
            None,
            html! {
                h1 { "Log in" }
                @if development {
                    p.notice.old {
                        "This server runs in development mode (no principals file): everyone is "
                        code { "anonymous" } " with every right, and no login is needed. "
                        a href=(next) { "Go on" }
                    }
                } @else {
                    p { "Paste the bearer token your administrator gave you. It stays on the server for this session; your browser keeps only a session cookie." }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        div.field {
                            label for="token" { "Token" }
                            input #token type="password" name="token" required autocomplete="current-password"
                                aria-invalid=[problem.map(|_| "true")]
                                aria-describedby=[problem.map(|_| "token-error")];
                            @if let Some(problem) = problem {
                                p #token-error .field-error role="alert" { "token: " (problem) }
                            }
                        }
                        button type="submit" { "Log in" }
                    }
                }
            },
        ),
    )
}

/// A login: a session and its cookie (ending the one `cookies` name),
/// then on to `next`.
pub(super) fn post<'a>(
    web: &Web,
    form: &Form,
    cookies: impl Iterator<Item = &'a str>,
) -> Response<Full<Bytes>> {
    let next = local_path(field(form, "next")).to_owned();
    let asked = Asked {
        path: "/login".into(),
        query: vec![("next".into(), next.clone())],
    };
    let token = field(form, "token").unwrap_or("");
    if token.trim().is_empty() {
        return self::form(web, &asked, Some("is required"), StatusCode::BAD_REQUEST);
    }
    match web.sessions.start(token, cookies) {
        Ok((id, _)) => {
            let mut response = see_other(&next);
            if let Ok(cookie) = HeaderValue::from_str(&web.sessions.cookie(&id)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(LoginRefused::UnknownToken) => self::form(
            web,
            &asked,
            Some("no principal has this token"),
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginRefused::Full) => self::form(
            web,
            &asked,
            Some("too many sessions are open; try again later"),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    }
}

/// Ends the session and forgets its cookie.
pub(super) fn logout<'a>(
    web: &Web,
    cookies: impl Iterator<Item = &'a str>,
) -> Response<Full<Bytes>> {
    web.sessions.end(cookies);
    let mut response = see_other("/login");
    if let Ok(cookie) = HeaderValue::from_str(&cleared_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
