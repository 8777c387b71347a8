//! Admission: whether a commit may be appended, decided from what the log
//! knows of its command id and its article. One check for both logs: the
//! embedded writer looks the facts up in its batch and its indexes, the
//! JetStream publisher in what it published and in its replica's store,
//! and both ask `admit`. (Slugs are claimed apart, as each log holds them:
//! the projector's view on the embedded log, a key-value bucket on
//! JetStream.)

use super::{AppendError, AppendRequest, CommandEntry};
use crate::domain::{Appended, ArticleId};

/// What the log knows when a request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    /// What the request's command id produced before, if it was used.
    pub earlier: Option<CommandEntry>,
    /// The article's head version: 0 for an article not yet created.
    pub head: u64,
    /// For a request decided after an earlier append
    /// (`AppendRequest::decided_after`): the article and version that
    /// append made, if the log knows it made one. Ignored otherwise.
    pub basis: Option<(ArticleId, u64)>,
}

/// What admission decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A retry of a command the log holds: answer what it produced.
    Retry(Appended),
    /// A new commit: the article's next version.
    Next { version: u64 },
}

/// Admits `request` or says why not, in this order: a command id already
/// used is a retry (the same request) or a reuse (`CommandReused`); then
/// the version must be the head (`VersionMismatch`), an import's basis
/// must be that head (`BasisLost`), and the commit must hold events.
pub(crate) fn admit(request: &AppendRequest, facts: &Facts) -> Result<Admission, AppendError> {
    if let Some(appended) = retried(request, facts.earlier)? {
        return Ok(Admission::Retry(appended));
    }
    if facts.head != request.expected_version {
        return Err(AppendError::VersionMismatch {
            expected: request.expected_version,
            current: facts.head,
        });
    }
    if request.decided_after.is_some() && facts.basis != Some((request.article_id, facts.head)) {
        return Err(AppendError::BasisLost {
            version: facts.head,
        });
    }
    if request.events.is_empty() {
        return Err(AppendError::Corrupt("a commit must hold events".into()));
    }
    Ok(Admission::Next {
        version: facts.head + 1,
    })
}

/// What a retry is answered with: what the command produced before, when
/// `earlier` (what its id produced) came from the same request; a reuse
/// of the id for another request is refused (`CommandReused`).
pub(crate) fn retried(
    request: &AppendRequest,
    earlier: Option<CommandEntry>,
) -> Result<Option<Appended>, AppendError> {
    let Some(entry) = earlier else {
        return Ok(None);
    };
    if !request.request_hash.matches(&entry.request_hash) {
        return Err(AppendError::CommandReused(request.command_id));
    }
    Ok(Some(Appended {
        article_id: entry.article_id,
        version: entry.version,
        global_position: entry.global_position,
        duplicate: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CommandId;
    use crate::log::request::sample_request as request;

    fn facts(head: u64) -> Facts {
        Facts {
            earlier: None,
            head,
            basis: None,
        }
    }

    fn earlier(request_hash: [u8; 32]) -> Option<CommandEntry> {
        Some(CommandEntry {
            article_id: ArticleId::from_uuid(uuid::Uuid::from_u128(9)),
            version: 4,
            global_position: 40,
            request_hash,
        })
    }

    #[test]
    fn the_next_version_is_admitted_on_the_head() {
        assert_eq!(
            admit(&request(3, None), &facts(3)),
            Ok(Admission::Next { version: 4 })
        );
        assert_eq!(
            admit(&request(0, None), &facts(0)),
            Ok(Admission::Next { version: 1 })
        );
    }

    #[test]
    fn a_version_not_the_head_is_refused() {
        assert_eq!(
            admit(&request(2, None), &facts(3)),
            Err(AppendError::VersionMismatch {
                expected: 2,
                current: 3
            })
        );
    }

    /// A retry is answered with what its command produced, whatever the
    /// head is now, under the keyed hash or the unkeyed one of old commits.
    #[test]
    fn a_retry_is_answered_with_the_first_outcome() {
        for hash in [[7; 32], [8; 32]] {
            let facts = Facts {
                earlier: earlier(hash),
                ..facts(10)
            };
            assert_eq!(
                admit(&request(2, None), &facts),
                Ok(Admission::Retry(Appended {
                    article_id: ArticleId::from_uuid(uuid::Uuid::from_u128(9)),
                    version: 4,
                    global_position: 40,
                    duplicate: true,
                }))
            );
        }
    }

    #[test]
    fn a_command_id_reused_for_another_request_is_refused() {
        let request = request(3, None);
        let facts = Facts {
            earlier: earlier([9; 32]),
            ..facts(3)
        };
        assert_eq!(
            admit(&request, &facts),
            Err(AppendError::CommandReused(request.command_id))
        );
    }

    /// An import's write decided after an earlier one is admitted only
    /// when that earlier one made the head.
    #[test]
    fn a_write_decided_after_another_needs_that_one_at_the_head() {
        let basis = CommandId::from_uuid(uuid::Uuid::from_u128(5));
        let request = request(3, Some(basis));
        let article = request.article_id;
        let on = |basis| Facts { basis, ..facts(3) };
        assert_eq!(
            admit(&request, &on(Some((article, 3)))),
            Ok(Admission::Next { version: 4 })
        );
        for lost in [
            None,
            Some((article, 2)),
            Some((ArticleId::from_uuid(uuid::Uuid::from_u128(6)), 3)),
        ] {
            assert_eq!(
                admit(&request, &on(lost)),
                Err(AppendError::BasisLost { version: 3 })
            );
        }
    }

    #[test]
    fn a_commit_without_events_is_refused() {
        let mut request = request(0, None);
        request.events.clear();
        assert!(matches!(
            admit(&request, &facts(0)),
            Err(AppendError::Corrupt(_))
        ));
    }
}
