//! Who is calling, and may they: a tower layer before every service that
//! reads `authorization: Bearer …`, authenticates it against the principals
//! and checks the method's right, then hands the principal to the service.
//!
//! The recorded actor is always this principal; no request field sets it.
//! Health and reflection stay open.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Status};

use crate::principals::{Principal, Principals, Right};

/// The authenticated principal's name, recorded as the actor.
pub(super) fn actor<T>(request: &Request<T>) -> Result<String, Status> {
    request
        .extensions()
        .get::<Principal>()
        .map(|p| p.name.clone())
        .ok_or_else(|| Status::unauthenticated("the caller is not authenticated"))
}

/// The right a method needs; `None` for the open standard services.
fn right(path: &str) -> Option<Right> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    match service {
        "answerlog.v1.ArticleService" => Some(Right::Write),
        "answerlog.v1.AnswerService" => Some(Right::Read),
        "answerlog.v1.AuditService"
            if matches!(
                method,
                "StreamEvents" | "GetCheckpoint" | "GetConsistencyProof"
            ) =>
        {
            Some(Right::Read)
        }
        "answerlog.v1.AuditService"
            if matches!(
                method,
                "ListRevisions" | "GetRevision" | "DiffVersions" | "GetAttribution"
            ) =>
        {
            Some(Right::History)
        }
        "answerlog.v1.AuditService" => Some(Right::Audit),
        "answerlog.v1.SuggestionService" if method == "SuggestQuestion" => Some(Right::Read),
        "answerlog.v1.SuggestionService" if method == "ResolveSuggestion" => Some(Right::Write),
        // Writers answer them; auditors and admins see them too.
        "answerlog.v1.SuggestionService" if method == "ListSuggestions" => Some(Right::History),
        s if s.starts_with("answerlog.") => Some(Right::Admin),
        _ => None,
    }
}

/// Checks a call; the principal to attach, or the status to answer. A
/// bearer token, when one is presented, decides; otherwise the subject of
/// a verified client certificate (mTLS), when there is one.
fn check(
    principals: &Principals,
    path: &str,
    headers: &http::HeaderMap,
    subject: Option<&str>,
) -> Result<Option<Principal>, Status> {
    let Some(right) = right(path) else {
        return Ok(None);
    };
    let header = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| {
                    // The scheme is case-insensitive (RFC 9110).
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then_some(token)
                })
                .ok_or_else(|| {
                    Status::unauthenticated("authorization: a `Bearer <token>` header is required")
                })
        })
        .transpose()?;
    let principal = match (header, subject) {
        _ if principals.is_development() && subject.is_none() => Principal::anonymous(),
        (Some(token), _) => principals
            .authenticate(token.trim())
            .ok_or_else(|| Status::unauthenticated("authorization: the token is not valid"))?,
        (None, Some(subject)) => principals.authenticate_subject(subject).ok_or_else(|| {
            Status::unauthenticated(format!(
                "the client certificate's subject {subject:?} is no principal's"
            ))
        })?,
        (None, None) => {
            return Err(Status::unauthenticated(
                "authorization: a `Bearer <token>` header or a client certificate is required",
            ))
        }
    };
    if !right.granted_to(principal.role) {
        return Err(Status::permission_denied(format!(
            "{} (role {}) may not call {path}",
            principal.name,
            principal.role.name()
        )));
    }
    Ok(Some(principal))
}

/// The subject of the client certificate the connection presented, if it
/// is a TLS connection with one (rustls has verified it against the CA).
fn client_subject<B>(request: &http::Request<B>) -> Option<String> {
    let info = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    crate::tls::certificate_subject(certs.first()?.as_ref())
}

/// The layer that puts `Authenticate` before the services.
#[derive(Clone)]
pub(crate) struct AuthLayer {
    principals: Arc<Principals>,
}

impl AuthLayer {
    pub(crate) fn new(principals: Arc<Principals>) -> Self {
        Self { principals }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            principals: Arc::clone(&self.principals),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Authenticate<S> {
    inner: S,
    principals: Arc<Principals>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for Authenticate<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let subject = client_subject(&request);
        match check(
            &self.principals,
            request.uri().path(),
            request.headers(),
            subject.as_deref(),
        ) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                tracing::info!(path = request.uri().path(), code = ?status.code(), "refused");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_need_the_rights_of_design() {
        assert_eq!(
            right("/answerlog.v1.ArticleService/EditQuestion"),
            Some(Right::Write)
        );
        assert_eq!(
            right("/answerlog.v1.AnswerService/GetAnswer"),
            Some(Right::Read)
        );
        assert_eq!(
            right("/answerlog.v1.AuditService/VerifyLog"),
            Some(Right::Audit)
        );
        for public in ["GetCheckpoint", "GetConsistencyProof"] {
            assert_eq!(
                right(&format!("/answerlog.v1.AuditService/{public}")),
                Some(Right::Read)
            );
        }
        for history in [
            "ListRevisions",
            "GetRevision",
            "DiffVersions",
            "GetAttribution",
        ] {
            assert_eq!(
                right(&format!("/answerlog.v1.AuditService/{history}")),
                Some(Right::History)
            );
        }
        for audit in [
            "ListCommits",
            "InspectAnswer",
            "GetFreshnessReport",
            "GetLogDigest",
            "VerifyArticle",
        ] {
            assert_eq!(
                right(&format!("/answerlog.v1.AuditService/{audit}")),
                Some(Right::Audit)
            );
        }
        assert_eq!(
            right("/answerlog.v1.SuggestionService/SuggestQuestion"),
            Some(Right::Read)
        );
        assert_eq!(
            right("/answerlog.v1.SuggestionService/ListSuggestions"),
            Some(Right::History)
        );
        assert_eq!(
            right("/answerlog.v1.SuggestionService/ResolveSuggestion"),
            Some(Right::Write)
        );
        assert_eq!(
            right("/answerlog.v1.AdminService/Rebuild"),
            Some(Right::Admin)
        );
        assert_eq!(right("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            right("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
    }
}
