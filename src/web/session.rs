//! People's sessions on the pages: a login form takes a bearer token and
//! starts a session kept in this process, named by a random id in a
//! `__Host-` cookie (HttpOnly, Secure, SameSite=Strict, Path=/). The token
//! stays here, never in the browser; each page's calls present it as the
//! JSON API's callers present theirs, so a session's rights are its
//! principal's, checked by the same layer.
//!
//! A session ends at logout, after `idle` without a request, after
//! `lifetime` in all, and at its next request once its token no longer
//! names the same principal and role (a SIGHUP reload that removed or
//! changed it). The map holds SHA-256 digests of the ids, not the ids.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::header::HeaderValue;
use sha2::{Digest as _, Sha256};

use crate::principals::{Principal, Principals};

/// The session cookie's name: `__Host-` makes a browser refuse it unless
/// it is Secure, from this host, and for every path.
pub(crate) const COOKIE: &str = "__Host-answerlog";

/// Sessions open at once; a login beyond it is refused until some end.
const MAX_SESSIONS: usize = 10_000;
/// Sessions one principal may have open at once; a login beyond it ends
/// that principal's oldest, so that no one principal can fill the table.
const MAX_PER_PRINCIPAL: usize = 32;

/// Who a page is for.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    /// The `Authorization` the page's calls present (none in development
    /// mode, where every caller is `anonymous`).
    pub(crate) authorization: Option<HeaderValue>,
    /// The token each of the caller's forms carries.
    pub(crate) csrf: String,
    /// Whether the caller has a session to log out of.
    pub(crate) in_session: bool,
}

struct Session {
    principal: Principal,
    authorization: HeaderValue,
    token: String,
    csrf: String,
    started: Instant,
    used: Instant,
}

/// Why a login did not start a session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// No principal has that token.
    UnknownToken,
    /// `MAX_SESSIONS` are open.
    Full,
}

pub(crate) struct Sessions {
    principals: Arc<Principals>,
    idle: Duration,
    lifetime: Duration,
    open: Mutex<HashMap<[u8; 32], Session>>,
    /// Development mode's form token: there is no session to keep one in.
    development_csrf: String,
}

impl Sessions {
    pub(crate) fn new(principals: Arc<Principals>, idle: Duration, lifetime: Duration) -> Self {
        Self {
            principals,
            idle,
            lifetime,
            open: Mutex::new(HashMap::new()),
            development_csrf: random_id(),
        }
    }

    /// Development mode: every caller is `anonymous`, with no login.
    pub(crate) fn is_development(&self) -> bool {
        self.principals.is_development()
    }

    /// The caller of a request whose `Cookie` headers are `cookies`: the
    /// session's, if one is open and still valid; in development mode,
    /// `anonymous`.
    pub(crate) fn caller<'a>(&self, cookies: impl Iterator<Item = &'a str>) -> Option<Caller> {
        self.caller_at(cookies, Instant::now())
    }

    fn caller_at<'a>(
        &self,
        cookies: impl Iterator<Item = &'a str>,
        now: Instant,
    ) -> Option<Caller> {
        if self.is_development() {
            return Some(Caller {
                principal: Principal::anonymous(),
                authorization: None,
                csrf: self.development_csrf.clone(),
                in_session: false,
            });
        }
        let id = session_id(cookies)?;
        let key = digest(&id);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let session = open.get_mut(&key)?;
        let expired = now.saturating_duration_since(session.used) > self.idle
            || now.saturating_duration_since(session.started) > self.lifetime;
        let revoked =
            self.principals.authenticate(&session.token).as_ref() != Some(&session.principal);
        if expired || revoked {
            open.remove(&key);
            return None;
        }
        session.used = now;
        Some(Caller {
            principal: session.principal.clone(),
            authorization: Some(session.authorization.clone()),
            csrf: session.csrf.clone(),
            in_session: true,
        })
    }

    /// Starts a session for `token`'s principal, ending the one `cookies`
    /// name if any (a login never leaves the browser's old session open):
    /// the new id, for the cookie, and its caller.
    pub(crate) fn start<'a>(
        &self,
        token: &str,
        cookies: impl Iterator<Item = &'a str>,
    ) -> Result<(String, Caller), LoginRefused> {
        self.end(cookies);
        let token = token.trim();
        let principal = self
            .principals
            .authenticate(token)
            .ok_or(LoginRefused::UnknownToken)?;
        let authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| LoginRefused::UnknownToken)?;
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| {
            now.duration_since(s.used) <= self.idle
                && now.duration_since(s.started) <= self.lifetime
        });
        let mut own: Vec<([u8; 32], Instant)> = open
            .iter()
            .filter(|(_, s)| s.principal == principal)
            .map(|(key, s)| (*key, s.started))
            .collect();
        if own.len() >= MAX_PER_PRINCIPAL {
            own.sort_by_key(|(_, started)| *started);
            for (key, _) in &own[..=own.len() - MAX_PER_PRINCIPAL] {
                open.remove(key);
            }
        }
        if open.len() >= MAX_SESSIONS {
            return Err(LoginRefused::Full);
        }
        let id = random_id();
        let csrf = random_id();
        open.insert(
            digest(&id),
            Session {
                principal: principal.clone(),
                authorization: authorization.clone(),
                token: token.to_owned(),
                csrf: csrf.clone(),
                started: now,
                used: now,
            },
        );
        Ok((
            id,
            Caller {
                principal,
                authorization: Some(authorization),
                csrf,
                in_session: true,
            },
        ))
    }

    /// Ends the session the cookies name, if any.
    pub(crate) fn end<'a>(&self, cookies: impl Iterator<Item = &'a str>) {
        if let Some(id) = session_id(cookies) {
            self.open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&digest(&id));
        }
    }

    /// The `Set-Cookie` that names session `id` for `lifetime`.
    pub(crate) fn cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
            self.lifetime.as_secs()
        )
    }
}

/// The `Set-Cookie` that makes a browser forget its session.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether two form tokens are the same, compared in constant time.
pub(crate) fn same_token(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The session id in `Cookie` headers, if one is there.
fn session_id<'a>(cookies: impl Iterator<Item = &'a str>) -> Option<String> {
    cookies
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// 32 random bytes in unpadded base64url.
fn random_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principals::Role;

    fn principals(dir: &std::path::Path, entries: &[(&str, &str, &str)]) -> Arc<Principals> {
        let path = dir.join("principals.toml");
        write(&path, entries);
        Arc::new(Principals::load(&path).unwrap())
    }

    fn write(path: &std::path::Path, entries: &[(&str, &str, &str)]) {
        let mut text = String::new();
        for (name, role, token) in entries {
            let hash = crate::domain::hex(&Sha256::digest(token.as_bytes()));
            text += &format!(
                "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{hash}\"\n"
            );
        }
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_session_is_its_principal_until_the_token_goes() {
        let dir = tempfile::tempdir().unwrap();
        let principals = principals(dir.path(), &[("ada", "auditor", "t-ada")]);
        let sessions = Sessions::new(
            Arc::clone(&principals),
            Duration::from_secs(60),
            Duration::from_secs(600),
        );
        assert_eq!(
            sessions.start("nope", std::iter::empty()).unwrap_err(),
            LoginRefused::UnknownToken
        );
        let (id, caller) = sessions.start("t-ada", std::iter::empty()).unwrap();
        assert_eq!(caller.principal.role, Role::Auditor);
        let cookie = format!("other=1; {COOKIE}={id}");
        let again = sessions.caller([cookie.as_str()].into_iter()).unwrap();
        assert_eq!(again.principal.name, "ada");
        assert_eq!(again.csrf, caller.csrf);
        assert!(sessions
            .caller(["__Host-answerlog=forged"].into_iter())
            .is_none());
        // A reload that removes the token ends the session at once.
        write(
            &dir.path().join("principals.toml"),
            &[("bo", "reader", "t-bo")],
        );
        principals.reload().unwrap();
        assert!(sessions.caller([cookie.as_str()].into_iter()).is_none());
    }

    #[test]
    fn a_session_ends_when_idle_or_old_and_at_logout() {
        let dir = tempfile::tempdir().unwrap();
        let principals = principals(dir.path(), &[("ada", "reader", "t-ada")]);
        let minute = Duration::from_secs(60);
        let sessions = Sessions::new(principals, minute, 10 * minute);
        let start = Instant::now();
        let (id, _) = sessions.start("t-ada", std::iter::empty()).unwrap();
        let cookie = format!("{COOKIE}={id}");
        let cookies = || [cookie.as_str()].into_iter();
        // Used every 50 s, it lives until its lifetime is over.
        for step in 1..=12 {
            assert!(sessions
                .caller_at(cookies(), start + step * Duration::from_secs(50))
                .is_some());
        }
        assert!(sessions
            .caller_at(cookies(), start + 13 * Duration::from_secs(50))
            .is_none());

        let (id, _) = sessions.start("t-ada", std::iter::empty()).unwrap();
        let idle = format!("{COOKIE}={id}");
        assert!(sessions
            .caller_at(
                [idle.as_str()].into_iter(),
                Instant::now() + minute + Duration::from_secs(1)
            )
            .is_none());

        let (id, _) = sessions.start("t-ada", std::iter::empty()).unwrap();
        let live = format!("{COOKIE}={id}");
        assert!(sessions.caller([live.as_str()].into_iter()).is_some());
        sessions.end([live.as_str()].into_iter());
        assert!(sessions.caller([live.as_str()].into_iter()).is_none());
    }

    #[test]
    fn a_login_ends_the_browsers_old_session_and_a_principals_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let principals = principals(dir.path(), &[("ada", "reader", "t-ada")]);
        let minute = Duration::from_secs(60);
        let sessions = Sessions::new(principals, minute, 10 * minute);
        let (old, _) = sessions.start("t-ada", std::iter::empty()).unwrap();
        let old = format!("{COOKIE}={old}");
        let (new, _) = sessions.start("t-ada", [old.as_str()].into_iter()).unwrap();
        let new = format!("{COOKIE}={new}");
        assert!(sessions.caller([old.as_str()].into_iter()).is_none());
        assert!(sessions.caller([new.as_str()].into_iter()).is_some());
        let more: Vec<String> = (0..MAX_PER_PRINCIPAL)
            .map(|_| {
                let (id, _) = sessions.start("t-ada", std::iter::empty()).unwrap();
                format!("{COOKIE}={id}")
            })
            .collect();
        assert!(
            sessions.caller([new.as_str()].into_iter()).is_none(),
            "the oldest ended"
        );
        assert!(more
            .iter()
            .all(|c| sessions.caller([c.as_str()].into_iter()).is_some()));
    }

    #[test]
    fn form_tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("abd", "abc"));
    }
}
