//! Slugs are unique across replicas: each is claimed, before the commit
//! that takes it is published, by a create-only put in a JetStream
//! key-value bucket. A claim names the article and the command that made
//! it. An article keeps every slug it ever had, so a claim is released
//! only when the commit it was made for can never be in the stream: it
//! was refused before it was published, or JetStream refused it because
//! the article had moved on (its expected sequence is then behind for
//! good, for every attempt of the command), and only at the revision it
//! was made: every later commit that finds the claim writes it again
//! first, so a claim that another commit stands on is never released. A
//! claim whose commit is in doubt (JetStream did not answer) stays.

use async_nats::jetstream::{self, kv, stream};

use super::{JetStreamOptions, JoinError};
use crate::domain::{ArticleId, CommandId, Event};
use crate::log::{AppendError, Rejection};
use crate::request_key::RequestKey;

/// The bucket's key for the log's request key: not a slug.
const REQUEST_KEY: &str = "_request-key";

/// How often a claim is tried while it changes under it.
const CLAIM_ATTEMPTS: usize = 8;

pub(super) struct Slugs {
    bucket: kv::Store,
}

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Claimed now, at this revision of the bucket.
    Made(Made),
    /// The slug was the article's already.
    Held,
    /// An earlier attempt of the same command claimed it for the article
    /// it was creating: a retry creates (or finds) that article.
    EarlierAttempt(ArticleId),
}

/// A claim this attempt made, which it may release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Made {
    pub(super) slug: String,
    pub(super) revision: u64,
}

impl Slugs {
    pub(super) async fn open(
        context: &jetstream::Context,
        options: &JetStreamOptions,
    ) -> Result<Self, JoinError> {
        let name = options.bucket();
        let failed = |why: String| JoinError::Bucket {
            bucket: name.clone(),
            why,
        };
        // The bucket's stream is made here with the key-value conventions
        // (`KV_<bucket>`, `$KV.<bucket>.>`, one message a key), not with
        // `create_key_value`, which asks for account details that
        // nats-server 2.9 answers in a shape this client cannot read.
        let claims = context
            .get_or_create_stream(stream::Config {
                name: format!("KV_{name}"),
                description: Some("answerlog slug claims: slug → article and command".into()),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                num_replicas: options.replicas,
                allow_rollup: true,
                deny_delete: true,
                // Claims are read from the stream's leader: a lagging copy
                // answering a direct get could miss a claim just made.
                allow_direct: false,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        // A bucket made before claims were read from the leader answers
        // direct gets: stop it, or the client keeps using them. (From the
        // answer to the create: a new R3 stream may not answer a request
        // until it has elected its leader.)
        let config = claims.cached_info().config.clone();
        if config.allow_direct {
            context
                .update_stream(stream::Config {
                    allow_direct: false,
                    ..config
                })
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        let bucket = context
            .get_key_value(&name)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self { bucket })
    }

    /// The log's request key (`crate::request_key`): the one the bucket
    /// keeps, or `proposed`, kept from now on, when it keeps none. It is
    /// kept under a key no slug can be (slugs are lowercase letters,
    /// digits and hyphens) as its 32 bytes, put with a create-only put, so
    /// that replicas starting together agree. Nothing here deletes it; a
    /// key-value delete by hand would let the next replica to start put
    /// another (docs/AUDIT.md, "Request hashes").
    pub(super) async fn request_key(&self, proposed: &RequestKey) -> Result<RequestKey, String> {
        let read = |value: &[u8]| -> Result<RequestKey, String> {
            <[u8; 32]>::try_from(value)
                .map(RequestKey::from_bytes)
                .map_err(|_| format!("the bucket's {REQUEST_KEY} is not 32 bytes"))
        };
        match self
            .bucket
            .create(REQUEST_KEY, proposed.bytes().to_vec().into())
            .await
        {
            Ok(_) => return Ok(proposed.clone()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot keep the request key: {e}")),
        }
        match self.bucket.get(REQUEST_KEY).await {
            Ok(Some(value)) => read(&value),
            Ok(None) => Err(format!("the bucket's {REQUEST_KEY} is gone")),
            Err(e) => Err(format!("cannot read the request key: {e}")),
        }
    }

    /// Claims `slug` for `article`, made by `command`.
    ///
    /// A claim found already (the article's, or an earlier attempt's) is
    /// written again at its revision, unchanged: the commit about to be
    /// published now stands on it too, so a release by the attempt that
    /// made it (which lost its race, perhaps to this one) must fail.
    pub(super) async fn claim(
        &self,
        slug: &str,
        article: ArticleId,
        command: CommandId,
    ) -> Result<Claim, AppendError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            AppendError::Unavailable(format!("cannot claim slug {slug:?}: {e}"))
        };
        let mut value = article.as_bytes().to_vec();
        value.extend_from_slice(command.as_bytes());
        for _ in 0..CLAIM_ATTEMPTS {
            match self.bucket.create(slug, value.clone().into()).await {
                Ok(revision) => {
                    return Ok(Claim::Made(Made {
                        slug: slug.to_owned(),
                        revision,
                    }))
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(unavailable(&e)),
            }
            let Some(held) = self.bucket.entry(slug).await.map_err(|e| unavailable(&e))? else {
                continue;
            };
            if matches!(held.operation, kv::Operation::Delete | kv::Operation::Purge) {
                // Released since: claim it anew.
                continue;
            }
            let owner = held.value.get(..16).and_then(ArticleId::from_slice);
            let by = held.value.get(16..32).and_then(CommandId::from_slice);
            let found = match (owner, by) {
                (Some(owner), _) if owner == article => Claim::Held,
                (Some(owner), Some(by)) if by == command => Claim::EarlierAttempt(owner),
                (Some(_), _) => {
                    return Err(AppendError::Rejected(Rejection::SlugTaken {
                        slug: slug.to_owned(),
                    }))
                }
                (None, _) => {
                    return Err(AppendError::Corrupt(format!(
                        "the claim of slug {slug:?} does not name an article"
                    )))
                }
            };
            match self
                .bucket
                .update(slug, held.value.clone(), held.revision)
                .await
            {
                Ok(_) => return Ok(found),
                // Changed (released, or written again) since it was read.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(unavailable(&e)),
            }
        }
        Err(unavailable(&format!(
            "the claim changed under each of {CLAIM_ATTEMPTS} attempts"
        )))
    }

    /// How many messages of claims the bucket holds (claims, and their
    /// releases), the request key's left out.
    pub(super) async fn claims(&self) -> Result<u64, String> {
        let mut stream = self.bucket.stream.clone();
        let messages = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .messages;
        // The log's request key is kept beside the claims, not one of them.
        let key = self
            .bucket
            .get(REQUEST_KEY)
            .await
            .map_err(|e| e.to_string())?;
        Ok(messages.saturating_sub(u64::from(key.is_some())))
    }

    /// Releases claims made for a commit that can never be in the stream,
    /// each only if it is still the one made (its revision). A release
    /// that fails leaves the claim, as if it were never released.
    pub(super) async fn release(&self, made: &[Made]) -> usize {
        let mut released = 0;
        for claim in made {
            match self
                .bucket
                .delete_expect_revision(&claim.slug, Some(claim.revision))
                .await
            {
                Ok(()) => released += 1,
                Err(e) => {
                    tracing::warn!(slug = %claim.slug, error = %e, "a slug claim was not released")
                }
            }
        }
        released
    }
}

/// The slugs a commit's events give the article.
pub(super) fn slugs_taken(events: &[Event]) -> impl Iterator<Item = &str> {
    events.iter().filter_map(|event| match event {
        Event::ArticleCreated(created) => Some(created.slug.as_str()),
        Event::SlugChanged { slug } | Event::SlugAliased { slug } => Some(slug.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::{LocalNatsConfig, LocalNatsServer};

    fn ids() -> (ArticleId, CommandId) {
        (
            ArticleId::from_uuid(uuid::Uuid::now_v7()),
            CommandId::from_uuid(uuid::Uuid::now_v7()),
        )
    }

    fn local_server(dir: &std::path::Path) -> LocalNatsServer {
        let config = LocalNatsConfig {
            binary: std::env::var_os("ANSWERLOG_TEST_NATS_SERVER")
                .map_or_else(|| "nats-server".into(), Into::into),
            ..LocalNatsConfig::default()
        };
        LocalNatsServer::start(dir, &config).unwrap()
    }

    /// A bucket made before claims were read from the leader is changed to
    /// answer no direct gets.
    #[tokio::test]
    async fn an_old_bucket_stops_answering_direct_gets() {
        let dir = tempfile::tempdir().unwrap();
        let server = local_server(dir.path());
        let options = JetStreamOptions::new(vec![server.url()]);
        let context = jetstream::new(options.connect().await.unwrap());
        let name = options.bucket();
        context
            .create_stream(stream::Config {
                name: format!("KV_{name}"),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                allow_direct: true,
                ..Default::default()
            })
            .await
            .unwrap();
        Slugs::open(&context, &options).await.unwrap();
        let mut claims = context.get_stream(format!("KV_{name}")).await.unwrap();
        assert!(!claims.info().await.unwrap().config.allow_direct);
    }

    /// The race a release must lose: a rename claims a slug and then loses
    /// its conflict, while another rename of the same article found the
    /// claim and is publishing on it.
    #[tokio::test]
    async fn a_claim_that_another_commit_stands_on_is_not_released() {
        let dir = tempfile::tempdir().unwrap();
        let server = local_server(dir.path());
        let options = JetStreamOptions::new(vec![server.url()]);
        let context = jetstream::new(options.connect().await.unwrap());
        let slugs = Slugs::open(&context, &options).await.unwrap();
        let (article, first) = ids();
        let (other, third) = ids();
        let second = ids().1;

        let Claim::Made(made) = slugs.claim("s", article, first).await.unwrap() else {
            panic!("the first claim is made");
        };
        assert_eq!(
            slugs.claim("s", article, second).await.unwrap(),
            Claim::Held
        );
        assert_eq!(slugs.release(std::slice::from_ref(&made)).await, 0);
        assert!(matches!(
            slugs.claim("s", other, third).await,
            Err(AppendError::Rejected(Rejection::SlugTaken { .. }))
        ));

        // Nobody stands on this one: released, and free for another article.
        let Claim::Made(made) = slugs.claim("t", article, first).await.unwrap() else {
            panic!("the claim is made");
        };
        assert_eq!(slugs.release(&[made]).await, 1);
        assert!(matches!(
            slugs.claim("t", other, third).await.unwrap(),
            Claim::Made(_)
        ));
        // A retry of a creation finds its first attempt's article.
        assert_eq!(
            slugs.claim("t", article, third).await.unwrap(),
            Claim::EarlierAttempt(other)
        );
    }
}
