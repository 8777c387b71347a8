//! nats-server processes for the tests (`answerlog::LocalNatsServer`): each
//! on a free loopback port, with JetStream storage in a temporary
//! directory, stopped when dropped or when the test binary exits.
//!
//! The binary is `nats-server` on the PATH (Debian's 2.9.10 in CI), or
//! `ANSWERLOG_TEST_NATS_SERVER`; `ANSWERLOG_TEST_NATS_SYNC=always` adds
//! `sync_interval: always` (nats-server 2.10 and later: an fsync before
//! each acknowledgement).

use std::path::Path;
use std::time::{Duration, Instant};

use answerlog::{LocalNatsConfig, LocalNatsServer};

/// How long a cluster may take before JetStream answers on it.
const READY_LIMIT: Duration = Duration::from_secs(30);

pub(crate) struct NatsServer {
    server: LocalNatsServer,
    config: LocalNatsConfig,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// One server with JetStream, alone.
    pub(crate) fn start() -> Self {
        Self::start_configured(None, "")
    }

    /// One server with JetStream and more configuration (`max_payload: …`).
    pub(crate) fn start_with(extra: &str) -> Self {
        Self::start_configured(None, extra)
    }

    fn start_configured(cluster: Option<(String, u16, Vec<u16>)>, extra: &str) -> Self {
        Self::try_start(cluster, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start(cluster: Option<(String, u16, Vec<u16>)>, extra: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("a directory for nats-server");
        let config = LocalNatsConfig {
            binary: std::env::var_os("ANSWERLOG_TEST_NATS_SERVER")
                .map_or_else(|| "nats-server".into(), Into::into),
            sync_always: std::env::var("ANSWERLOG_TEST_NATS_SYNC").as_deref() == Ok("always"),
            cluster,
            extra: extra.to_owned(),
        };
        let server = LocalNatsServer::start(dir.path(), &config)?;
        Ok(Self {
            server,
            config,
            dir,
        })
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server at once (SIGKILL): no flush, no goodbye to peers.
    pub(crate) fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the server again on its store (after `kill`), on a new port.
    pub(crate) fn restart(&mut self) {
        self.server =
            LocalNatsServer::start(self.dir.path(), &self.config).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A cluster of nats-servers with JetStream, each on free loopback ports.
/// How many times a cluster is made on fresh ports before a test fails.
const CLUSTER_ATTEMPTS: usize = 3;

pub(crate) struct NatsCluster {
    pub(crate) nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Nodes `n0`, `n1`, …, routed to one another.
    pub(crate) fn start(size: usize) -> Self {
        let mut failures = Vec::new();
        while failures.len() < CLUSTER_ATTEMPTS {
            match Self::try_start(size) {
                Ok(cluster) => return cluster,
                Err(e) => failures.push(e),
            }
        }
        panic!("no cluster of {size} started: {failures:?}");
    }

    /// Free ports for the routes are taken from the kernel and let go just
    /// before the nodes bind them: another process may take one meanwhile,
    /// and then a node does not start (and the cluster is made again).
    fn try_start(size: usize) -> Result<Self, String> {
        let taken: Vec<std::net::TcpListener> = (0..size)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let ports: Vec<u16> = taken
            .iter()
            .map(|l| l.local_addr().expect("its address").port())
            .collect();
        drop(taken);
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(n, port)| {
                NatsServer::try_start(Some((format!("n{n}"), *port, ports.clone())), "")
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nodes })
    }

    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Waits until JetStream answers on the cluster (its nodes have chosen
    /// a metadata leader): an unknown stream is then "not found" rather
    /// than a request that times out.
    pub(crate) async fn ready(&self) {
        let addrs: Vec<async_nats::ServerAddr> =
            self.urls().iter().map(|u| u.parse().unwrap()).collect();
        let client = async_nats::ConnectOptions::new()
            .connect(addrs)
            .await
            .expect("the cluster accepts a client");
        let jetstream = async_nats::jetstream::new(client);
        let started = Instant::now();
        loop {
            let asked = tokio::time::timeout(
                Duration::from_millis(500),
                jetstream.get_stream("READINESS_PROBE"),
            )
            .await;
            if let Ok(Err(answer)) = asked {
                if answer.to_string().contains("not found") {
                    return;
                }
            }
            assert!(
                started.elapsed() < READY_LIMIT,
                "JetStream did not answer on the cluster within {READY_LIMIT:?}"
            );
            // Until the nodes have elected their metadata leader.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
