//! The pages' guards over plain HTTP (issue 17): login and its session
//! cookie, the CSRF token and the origin check on form posts, the
//! Content-Security-Policy, and development mode, where no login is
//! needed. The pages themselves are tried in a browser (tests/web.rs).

use std::time::{Duration, Instant};

use answerlog::{new_token, Role};

use crate::auth::spawn_server;
use crate::support::{header, http_with_head, Backend, TestServer};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `name=value` pairs as a form body.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

#[tokio::test]
async fn a_session_begins_at_login_and_guards_every_form() {
    let (server, tokens) =
        TestServer::start_with_tokens(Backend::Sled, &[("rita", Role::Reader)]).await;
    let url = &server.http_url;
    let origin = url.clone();

    // No session: a page sends the visitor to log in, and comes back after.
    let (status, head, _) = http_with_head(url, "GET", "/a/some-slug?version=2", &[], b"").await;
    assert_eq!(status, 303);
    assert_eq!(
        header(&head, "location"),
        Some("/login?next=%2Fa%2Fsome-slug%3Fversion%3D2")
    );

    // The login form is a page like any: its own scripts and styles only.
    let (status, head, body) = http_with_head(url, "GET", "/login", &[], b"").await;
    assert_eq!(status, 200);
    let csp = header(&head, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
    assert!(body.contains(r#"name="token""#), "{body}");

    // A wrong token is named; a post from another site is refused.
    let (status, _, body) = http_with_head(
        url,
        "POST",
        "/login",
        &[FORM, ("Origin", &origin)],
        &form(&[("token", "wrong"), ("next", "/")]),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body.contains("token: no principal has this token"),
        "{body}"
    );
    let (status, head, _) = http_with_head(
        url,
        "POST",
        "/login",
        &[FORM, ("Origin", "http://evil.example")],
        &form(&[("token", &tokens[0]), ("next", "/")]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(header(&head, "set-cookie"), None);

    // A `next` that a browser would read as another site goes to the list.
    let (status, head, _) = http_with_head(
        url,
        "POST",
        "/login",
        &[FORM, ("Origin", &origin)],
        &form(&[("token", &tokens[0]), ("next", "/\t/evil.example")]),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(header(&head, "location"), Some("/"));

    // A good token: a session cookie, and on to `next`, a path of this
    // site only.
    let (status, head, _) = http_with_head(
        url,
        "POST",
        "/login",
        &[FORM, ("Origin", &origin)],
        &form(&[("token", &tokens[0]), ("next", "//evil.example/")]),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(header(&head, "location"), Some("/"));
    let set = header(&head, "set-cookie").unwrap().to_owned();
    for part in [
        "__Host-answerlog=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains(&tokens[0]), "the cookie is not the token");
    let cookie = set.split(';').next().unwrap().to_owned();

    let (status, _, body) = http_with_head(url, "GET", "/", &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("rita"), "{body}");
    let csrf = body
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the logout form carries a csrf token")
        .to_owned();

    // A form post needs the session's csrf token, as a form.
    for (headers, body, expected) in [
        (vec![FORM, ("Cookie", cookie.as_str())], form(&[]), 403),
        (
            vec![FORM, ("Cookie", cookie.as_str())],
            form(&[("csrf", "forged")]),
            403,
        ),
        (
            vec![("Content-Type", "text/plain"), ("Cookie", cookie.as_str())],
            format!("csrf={csrf}").into_bytes(),
            415,
        ),
    ] {
        let (status, _, answer) = http_with_head(url, "POST", "/logout", &headers, &body).await;
        assert_eq!(status, expected, "{answer}");
    }
    // The session still stands; a right logout ends it.
    let (status, _, _) = http_with_head(url, "GET", "/", &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 200);
    let (status, head, _) = http_with_head(
        url,
        "POST",
        "/logout",
        &[FORM, ("Cookie", &cookie), ("Origin", &origin)],
        &form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(status, 303);
    assert!(header(&head, "set-cookie").unwrap().contains("Max-Age=0"));
    let (status, _, _) = http_with_head(url, "GET", "/", &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 303, "the session is over");

    // The JSON API takes no cookie: a session is no bearer token there.
    let (status, _, _) =
        http_with_head(url, "GET", "/api/v1/answers", &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn development_mode_needs_no_login() {
    let server = TestServer::start(Backend::Sled).await;
    let (status, _, body) = http_with_head(&server.http_url, "GET", "/", &[], b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("anonymous"), "{body}");
    let (status, _, body) = http_with_head(&server.http_url, "GET", "/login", &[], b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("development mode"), "{body}");
    let (status, _, _) =
        http_with_head(&server.http_url, "GET", "/a/no-such-article", &[], b"").await;
    assert_eq!(status, 404);
    let (status, head, body) =
        http_with_head(&server.http_url, "GET", "/assets/app.css", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/css; charset=utf-8")
    );
    assert!(body.contains("@media print"));
}

/// Logs in at `url` with `token`: the session's cookie (`name=value`).
async fn login(url: &str, token: &str) -> String {
    let (status, head, body) = http_with_head(
        url,
        "POST",
        "/login",
        &[FORM],
        &form(&[("token", token), ("next", "/")]),
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let set = header(&head, "set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

/// Issue 17: a session ends at once when a SIGHUP reload removes its
/// principal's token; others stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_removes_a_token_ends_its_sessions() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("principals.toml");
    let (rita, rita_entry) = new_token("rita", Role::Reader).unwrap();
    let (ada, ada_entry) = new_token("ada", Role::Admin).unwrap();
    std::fs::write(&file, format!("{rita_entry}{ada_entry}")).unwrap();
    let child = tokio::task::spawn_blocking({
        let (data, file) = (data.path().to_owned(), file.clone());
        move || spawn_server(&data, &file)
    })
    .await
    .unwrap();
    let url = child.http_url.clone();
    let rita_cookie = login(&url, &rita).await;
    let ada_cookie = login(&url, &ada).await;
    for cookie in [&rita_cookie, &ada_cookie] {
        let (status, _, _) = http_with_head(&url, "GET", "/", &[("Cookie", cookie)], b"").await;
        assert_eq!(status, 200);
    }

    std::fs::write(&file, &ada_entry).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Once the server has read the file again, rita's next page asks her
    // to log in, and her token starts no session.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) =
            http_with_head(&url, "GET", "/", &[("Cookie", &rita_cookie)], b"").await;
        if status == 303 {
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "the session outlived the reload");
        tokio::task::yield_now().await;
    }
    let (status, _, body) = http_with_head(
        &url,
        "POST",
        "/login",
        &[FORM],
        &form(&[("token", &rita), ("next", "/")]),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = http_with_head(&url, "GET", "/", &[("Cookie", &ada_cookie)], b"").await;
    assert_eq!(status, 200, "ada's session stands");
    drop(child);
}
