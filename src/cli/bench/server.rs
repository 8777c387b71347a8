//! The server under load: `answerlog serve` as a child process of the
//! benchmark, on loopback with its own data directory; or one given by URL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub(super) enum Server {
    Child {
        process: std::process::Child,
        url: String,
        /// From the spawn to the "serving" line: opening the store (no
        /// replay) and binding, as a restart does.
        started_in: Duration,
        /// Where it serves its metrics, if it said.
        metrics: Option<String>,
    },
    Remote(String),
}

/// What the server's group commits wrote to sled so far (its metrics).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Written {
    pub(super) commits: f64,
    pub(super) keys: f64,
    pub(super) bytes: f64,
    /// Bytes of records appended to the log's files.
    pub(super) log_bytes: f64,
}

/// A scrape of the server's metrics (OpenMetrics text).
struct Metrics(String);

impl Metrics {
    fn value(&self, name: &str) -> anyhow::Result<f64> {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("the server's metrics have no {name}"))?
            .trim()
            .parse()
            .with_context(|| format!("the server's {name} is not a number"))
    }
}

impl Server {
    /// Starts `answerlog serve` on `data_dir` (with more flags: the log's)
    /// and waits until it serves.
    pub(super) fn spawn(data_dir: &Path, flags: &[String]) -> anyhow::Result<Self> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(flags);
        Self::start(command)
    }

    /// Starts `answerlog witness serve` for the log whose checkpoint key
    /// is `log_vkey`, its key and state in `dir`; its verifier key, and the
    /// witness once it serves.
    pub(super) fn spawn_witness(dir: &Path, log_vkey: &str) -> anyhow::Result<(String, Self)> {
        let name = "bench.answerlog/witness";
        let key = dir.join("witness.key");
        let vkey = crate::witness::generate_witness_key(&key, name)?;
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["witness", "serve", "--name", name, "--log", log_vkey])
            .args(["--listen", "127.0.0.1:0", "--key"])
            .arg(&key)
            .arg("--state")
            .arg(dir.join("witness-state"));
        Ok((vkey, Self::start(command)?))
    }

    /// Starts the bare echo the figures are measured against
    /// (`answerlog bench --serve-echo`), a process of its own as the server
    /// is, and waits until it serves.
    pub(super) fn spawn_echo() -> anyhow::Result<Self> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["bench", "--serve-echo"])
            .stdin(std::process::Stdio::piped());
        Self::start(command)
    }

    /// Runs `command` and waits for its `listen=ADDR` line.
    fn start(mut command: std::process::Command) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut process = command
            .env("RUST_LOG", "warn,answerlog=info")
            .env_remove("ANSWERLOG_PRINCIPALS")
            .env_remove("ANSWERLOG_CONFIG")
            .env_remove("ANSWERLOG_LOG")
            .env_remove("ANSWERLOG_NATS_STREAM")
            .env_remove("ANSWERLOG_NATS_REPLICAS")
            .env_remove("ANSWERLOG_NATS_CREDENTIALS")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot start the server")?;
        let stderr = process.stderr.take().context("the server's log")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut metrics = None;
        let url = loop {
            let line = lines
                .next()
                .context("the server stopped before it listened")??;
            if let Some(rest) = line.split(" metrics=").nth(1) {
                metrics = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break format!("http://{addr}");
            }
        };
        let started_in = started.elapsed();
        // Keep reading its log, so that the pipe never fills and blocks it.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server::Child {
            process,
            url,
            started_in,
            metrics,
        })
    }

    /// What the server's group commits wrote so far, from its metrics;
    /// none for a remote server or one without metrics.
    pub(super) fn written(&self) -> anyhow::Result<Option<Written>> {
        let Some(metrics) = self.metrics()? else {
            return Ok(None);
        };
        Ok(Some(Written {
            commits: metrics.value("answerlog_append_batch_commits_sum")?,
            keys: metrics.value("answerlog_store_batch_keys_total")?,
            bytes: metrics.value("answerlog_store_batch_bytes_total")?,
            log_bytes: metrics.value("answerlog_log_appended_bytes_total")?,
        }))
    }

    /// Waits until the server is at rest: its Merkle tree holds every
    /// commit in the log and a checkpoint signs them all, so that what the
    /// thread growing it has left to do after one phase (100,000 imported
    /// commits, or the appends) does not run during the next. At once for
    /// a remote server or one without metrics.
    pub(super) async fn at_rest(&self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let Some(metrics) = self.metrics()? else {
                return Ok(());
            };
            let commits = metrics.value("answerlog_commits")?;
            let leaves = metrics.value("answerlog_merkle_tree_leaves")?;
            let signed = metrics.value("answerlog_checkpoint_tree_size")?;
            let refused = metrics.value("answerlog_checkpoint_refused")? > 0.0;
            if leaves >= commits && (signed >= commits || refused) {
                return Ok(());
            }
            if started.elapsed() > limit {
                anyhow::bail!(
                    "the server's Merkle tree holds {leaves} of {commits} commits ({signed} in a checkpoint) after {} s",
                    limit.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's metrics as it serves them now.
    fn metrics(&self) -> anyhow::Result<Option<Metrics>> {
        use std::io::{Read as _, Write as _};
        let Server::Child {
            metrics: Some(addr),
            ..
        } = self
        else {
            return Ok(None);
        };
        let mut stream = std::net::TcpStream::connect(addr)
            .with_context(|| format!("cannot reach the server's metrics at {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(Some(Metrics(text)))
    }

    pub(super) fn url(&self) -> &str {
        match self {
            Server::Child { url, .. } | Server::Remote(url) => url,
        }
    }

    /// How long the child took to serve; none for a remote server.
    pub(super) fn started_in(&self) -> Option<Duration> {
        match self {
            Server::Child { started_in, .. } => Some(*started_in),
            Server::Remote(_) => None,
        }
    }

    /// The child's resident memory, in bytes (Linux).
    pub(super) fn resident_bytes(&self) -> Option<u64> {
        let Server::Child { process, .. } = self else {
            return None;
        };
        let status = std::fs::read_to_string(format!("/proc/{}/status", process.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Kills the child with SIGKILL (a crash) and reaps it.
    pub(super) fn kill(&mut self) {
        if let Server::Child { process, .. } = self {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Stops the child as an operator would (SIGTERM: drain, flush) and
    /// waits for it; kills it if it has not stopped within `patience`.
    pub(super) fn stop(&mut self, patience: Duration) {
        let Server::Child { process, .. } = self else {
            return;
        };
        if let Ok(Some(_)) = process.try_wait() {
            return;
        }
        if let Some(pid) = rustix::process::Pid::from_raw(process.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = process.kill();
        let _ = process.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
