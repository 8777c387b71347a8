//! Which log a server runs on, and how it reaches JetStream.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::JoinError;
use crate::domain::ArticleId;

/// The log a server runs on: `sled` (the default) or `nats://host:port[,…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogChoice {
    Sled,
    /// The NATS servers to connect to (any of them will do).
    Nats(Vec<String>),
}

impl std::str::FromStr for LogChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "sled" {
            return Ok(LogChoice::Sled);
        }
        let Some(hosts) = text.strip_prefix("nats://") else {
            return Err(format!(
                "{text:?} is neither \"sled\" nor a nats://host:port[,host:port…] URL"
            ));
        };
        let mut servers = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim().trim_start_matches("nats://");
            let valid = host
                .rsplit_once(':')
                .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(format!(
                    "{host:?} in {text:?} is not host:port (for example nats://127.0.0.1:4222)"
                ));
            }
            servers.push(format!("nats://{host}"));
        }
        Ok(LogChoice::Nats(servers))
    }
}

impl std::fmt::Display for LogChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogChoice::Sled => f.write_str("sled"),
            LogChoice::Nats(servers) => {
                let hosts: Vec<_> = servers
                    .iter()
                    .map(|s| s.trim_start_matches("nats://"))
                    .collect();
                write!(f, "nats://{}", hosts.join(","))
            }
        }
    }
}

/// How a replica reaches its stream.
#[derive(Clone, Debug)]
pub struct JetStreamOptions {
    pub servers: Vec<String>,
    /// The stream's name; its subjects are `<stream>.commit.<article id>`,
    /// the content stream is `<stream>_content` and the slug bucket is
    /// `<stream>_slugs`.
    pub stream: String,
    /// Copies of the stream (and of the slug bucket): 1, or 3 on a cluster.
    pub replicas: usize,
    /// A NATS credentials file (a user JWT and its NKey seed).
    pub credentials: Option<PathBuf>,
    /// How long JetStream remembers a `Nats-Msg-Id` (a stream's setting,
    /// fixed when the stream is created). Older retries are answered from
    /// the command index.
    pub duplicate_window: Duration,
    /// Appends waiting for the publisher.
    pub queue_depth: usize,
    /// How long a commit's content may wait for its commit (the stub its
    /// replica sends once the content is stored) before another replica
    /// finishes the commit, or removes the content if the commit can no
    /// longer be (`sweeper.rs`).
    pub orphan_grace: Duration,
}

impl JetStreamOptions {
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            servers,
            stream: "ANSWERLOG".into(),
            replicas: 1,
            credentials: None,
            duplicate_window: Duration::from_secs(120),
            queue_depth: 4096,
            orphan_grace: Duration::from_secs(30),
        }
    }

    pub(super) fn subject(&self, article: ArticleId) -> String {
        format!("{}.commit.{article}", self.stream)
    }

    pub(super) fn subject_filter(&self) -> String {
        format!("{}.commit.*", self.stream)
    }

    /// The stream that holds each commit's content (`content.rs`).
    pub(super) fn content_stream(&self) -> String {
        format!("{}_content", self.stream)
    }

    pub(super) fn bucket(&self) -> String {
        format!("{}_slugs", self.stream)
    }

    pub(super) async fn connect(&self) -> Result<async_nats::Client, JoinError> {
        let servers = self.servers.join(",");
        let options = match &self.credentials {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| JoinError::Credentials {
                    path: path.display().to_string(),
                    why: e.to_string(),
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        let addresses = self
            .servers
            .iter()
            .map(|s| s.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JoinError::Connect {
                servers: servers.clone(),
                why: e.to_string(),
            })?;
        options
            .name("answerlog")
            .connection_timeout(Duration::from_secs(5))
            .connect(addresses)
            .await
            .map_err(|e| JoinError::Connect {
                servers,
                why: e.to_string(),
            })
    }

    /// The stream, created if it does not exist. Deletes and purges are
    /// denied: the stream is an append-only ledger.
    pub(super) async fn open_stream(
        &self,
        context: &jetstream::Context,
    ) -> Result<stream::Stream, JoinError> {
        let failed = |why: String| JoinError::Stream {
            stream: self.stream.clone(),
            why,
        };
        let mut stream = context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                description: Some("answerlog commits, one message a commit".into()),
                subjects: vec![self.subject_filter()],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                duplicate_window: self.duplicate_window,
                deny_delete: true,
                deny_purge: true,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        let config = &stream
            .info()
            .await
            .map_err(|e| failed(e.to_string()))?
            .config;
        if config.subjects != [self.subject_filter()] {
            return Err(failed(format!(
                "it exists with subjects {:?}, not {:?}",
                config.subjects,
                self.subject_filter()
            )));
        }
        if config.num_replicas != self.replicas {
            tracing::warn!(
                stream = %self.stream,
                existing = config.num_replicas,
                configured = self.replicas,
                "the stream exists with another replica count; it keeps its own"
            );
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::LogChoice;

    #[test]
    fn a_log_is_sled_or_a_list_of_nats_servers() {
        assert_eq!("sled".parse(), Ok(LogChoice::Sled));
        let choice: LogChoice = "nats://127.0.0.1:4222,nats-2:4223".parse().unwrap();
        assert_eq!(
            choice,
            LogChoice::Nats(vec![
                "nats://127.0.0.1:4222".into(),
                "nats://nats-2:4223".into()
            ])
        );
        assert_eq!(choice.to_string(), "nats://127.0.0.1:4222,nats-2:4223");
        for bad in [
            "postgres://x:1",
            "nats://",
            "nats://host",
            "nats://host:port",
            "nats://:4222",
        ] {
            let refused = bad.parse::<LogChoice>().unwrap_err();
            assert!(
                refused.contains("nats://") || refused.contains("host:port"),
                "{bad}: {refused}"
            );
        }
    }
}
