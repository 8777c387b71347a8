//! nats-server processes for the tests: each on a free loopback port
//! (`port: -1`, read back from its ports file), with JetStream storage in a
//! temporary directory, stopped when dropped.
//!
//! The binary is `nats-server` on the PATH (Debian's 2.9.10 in CI), or
//! `ANSWERLOG_TEST_NATS_SERVER`; `ANSWERLOG_TEST_NATS_SYNC=always` adds
//! `sync_interval: always` (nats-server 2.10 and later: an fsync before
//! each acknowledgement).
//!
//! Each server runs under a shell that reads its standard input: when the
//! test binary exits, however it exits, the pipe closes and the shell
//! stops the server, so that no server outlives the tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to write its ports file.
const START_LIMIT: Duration = Duration::from_secs(20);

pub(crate) struct NatsServer {
    shell: Child,
    stdin: Option<ChildStdin>,
    /// The server's own process id, for SIGKILL.
    pub(crate) pid: i32,
    pub(crate) port: u16,
    /// Its cluster port, when it is a cluster's node.
    pub(crate) cluster_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// One server with JetStream, alone.
    pub(crate) fn start() -> Self {
        Self::start_configured(None, 0, "")
    }

    /// One server with JetStream and more configuration (`max_payload: …`).
    pub(crate) fn start_with(extra: &str) -> Self {
        Self::start_configured(None, 0, extra)
    }

    /// A node of a cluster named `answerlog` whose nodes' cluster ports
    /// are `routes` (its own among them, which nats-server skips).
    pub(crate) fn start_node(routes: Option<(&str, &[u16])>, cluster_port: u16) -> Self {
        Self::start_configured(routes, cluster_port, "")
    }

    fn start_configured(routes: Option<(&str, &[u16])>, cluster_port: u16, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("a directory for nats-server");
        let store = dir.path().join("jetstream");
        let mut config = format!(
            "host: 127.0.0.1\nport: -1\nports_file_dir: {:?}\njetstream {{\n  store_dir: {:?}\n",
            dir.path(),
            store
        );
        if std::env::var("ANSWERLOG_TEST_NATS_SYNC").as_deref() == Ok("always") {
            config.push_str("  sync_interval: always\n");
        }
        config.push_str("}\n");
        config.push_str(extra);
        config.push('\n');
        if let Some((name, ports)) = routes {
            let routes: Vec<String> = ports
                .iter()
                .map(|p| format!("    nats-route://127.0.0.1:{p}"))
                .collect();
            config.push_str(&format!(
                "server_name: {name}\ncluster {{\n  name: answerlog\n  listen: 127.0.0.1:{cluster_port}\n  routes: [\n{}\n  ]\n}}\n",
                routes.join("\n")
            ));
        }
        let config_path = dir.path().join("nats.conf");
        std::fs::write(&config_path, config).expect("the nats-server configuration");
        Self::spawn(
            dir,
            &config_path,
            (cluster_port != 0).then_some(cluster_port),
        )
    }

    fn spawn(dir: tempfile::TempDir, config: &Path, cluster_port: Option<u16>) -> Self {
        let binary =
            std::env::var("ANSWERLOG_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let log = dir.path().join("nats.log");
        let script =
            format!("{binary:?} -c {config:?} -l {log:?} & pid=$!; read _; kill $pid; wait $pid");
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {binary}: {e} (install the nats-server package)")
            });
        let stdin = shell.stdin.take();
        let (pid, port) = wait_for_ports(dir.path(), &log);
        Self {
            shell,
            stdin,
            pid,
            port,
            cluster_port,
            dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server at once (SIGKILL): no flush, no goodbye to peers.
    pub(crate) fn kill(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.pid).expect("a pid"),
            rustix::process::Signal::KILL,
        );
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.shell.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server's pid and client port, from the ports file it writes once it
/// listens.
fn wait_for_ports(dir: &Path, log: &PathBuf) -> (i32, u16) {
    let started = Instant::now();
    loop {
        let found = std::fs::read_dir(dir)
            .expect("the nats-server directory")
            .filter_map(Result::ok)
            .find_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let pid = name.strip_prefix("nats-server_")?.strip_suffix(".ports")?;
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
                let client = ports["nats"][0].as_str()?;
                let port = client.rsplit(':').next()?.parse().ok()?;
                Some((pid.parse().ok()?, port))
            });
        if let Some(found) = found {
            return found;
        }
        if started.elapsed() > START_LIMIT {
            panic!(
                "nats-server did not start within {START_LIMIT:?}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A cluster of nats-servers with JetStream, each on free loopback ports.
pub(crate) struct NatsCluster {
    pub(crate) nodes: Vec<NatsServer>,
}

impl NatsCluster {
    pub(crate) fn start(size: usize) -> Self {
        // Free ports for the routes, taken from the kernel and let go just
        // before the nodes bind them.
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
            .map(|(n, port)| NatsServer::start_node(Some((&format!("n{n}"), &ports)), *port))
            .collect();
        Self { nodes }
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
            if matches!(asked, Ok(Err(_))) && started.elapsed() < START_LIMIT {
                let answered = asked.unwrap().unwrap_err();
                if answered.to_string().contains("not found") {
                    return;
                }
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "JetStream did not answer on the cluster within {START_LIMIT:?}"
            );
        }
    }
}
