//! `answerlog serve` as a child process on a data directory.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tonic::transport::Channel;

/// Starts `command` with its log (stderr) piped back, line by line.
fn start_logging(mut command: Command) -> (Child, Lines<BufReader<ChildStderr>>) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("answerlog serve starts");
    let stderr = child.stderr.take().expect("a stderr pipe");
    (child, BufReader::new(stderr).lines())
}

/// How long a server may take to say where it listens or to exit (a start
/// repairs or rebuilds in seconds here): past it, it is killed, and the
/// test fails with its log rather than hanging the suite.
const START_WITHIN: Duration = Duration::from_secs(180);

/// Kills the process `pid` and its descendants (a tracer's server) with
/// SIGKILL unless settled within `START_WITHIN`.
struct Watchdog {
    settled: mpsc::Sender<()>,
    watching: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn watch(pid: u32) -> Self {
        let (settled, watch) = mpsc::channel::<()>();
        let watching = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = watch.recv_timeout(START_WITHIN) {
                eprintln!(
                    "the server neither listens nor exits within {START_WITHIN:?}: killing it"
                );
                kill_with_descendants(pid);
            }
        });
        Self { settled, watching }
    }

    /// Called off; returns once the watchdog can no longer signal (before
    /// the child is reaped, so that it never signals a pid taken since).
    fn settle(self) {
        drop(self.settled);
        let _ = self.watching.join();
    }
}

fn kill_with_descendants(pid: u32) {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
    for child in children.unwrap_or_default().split_whitespace() {
        if let Ok(child) = child.parse() {
            kill_with_descendants(child);
        }
    }
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Keeps draining a server's log so that it never blocks on it; its
/// warnings and errors show in the test's output.
fn drain(lines: Lines<BufReader<ChildStderr>>) {
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("server: {line}");
            }
        }
    });
}

/// A server child process on a data directory.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
}

impl Served {
    /// Starts `answerlog serve` on a free port and waits until it says
    /// where it listens.
    pub(crate) fn start(dir: &Path) -> Self {
        Self::spawn(Self::command(dir))
    }

    /// `answerlog serve` on a free port and `dir`, for a test to add to.
    pub(crate) fn command(dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_answerlog"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "info")
            .env_remove("ANSWERLOG_CONFIG");
        command
    }

    /// `answerlog serve` on `dir` (as [`Served::command`]), run by
    /// `strace` with `args` (its options, before `--`).
    pub(crate) fn under_strace(dir: &Path, args: &[String]) -> Command {
        let served = Self::command(dir);
        let mut command = Command::new("strace");
        command
            .args(args)
            .arg("--")
            .arg(served.get_program())
            .args(served.get_args());
        for (key, value) in served.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Waits for the child (a tracer whose server was killed) to end.
    pub(crate) fn wait_for_exit(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("the child is reaped")
    }

    /// Starts `command` (from [`Served::command`]) and waits until the
    /// server says where it listens.
    pub(crate) fn spawn(command: Command) -> Self {
        Self::spawn_telling(command).0
    }

    /// [`Served::spawn`], and what the server logged before it said where
    /// it listens.
    pub(crate) fn spawn_telling(command: Command) -> (Self, String) {
        let (served, told, lines) = Self::until_listening(command);
        drain(lines);
        (served, told)
    }

    /// [`Served::spawn`], handing every line the server logs from then on
    /// to the returned receiver, for a test to wait on.
    pub(crate) fn spawn_recording(command: Command) -> (Self, std::sync::mpsc::Receiver<String>) {
        let (served, _, lines) = Self::until_listening(command);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (served, rx)
    }

    /// Starts `command` and reads its log until the server says where it
    /// listens: the server, what it logged before, and the rest of its log.
    fn until_listening(command: Command) -> (Self, String, Lines<BufReader<ChildStderr>>) {
        Self::listening_or_exited(command).unwrap_or_else(|(status, log)| {
            panic!("the server says where it listens before it exits ({status:?}): {log}")
        })
    }

    /// Starts `command` and reads its log until the server says where it
    /// listens (as `until_listening`) or exits: then its exit status and
    /// its log.
    #[allow(clippy::type_complexity)]
    fn listening_or_exited(
        command: Command,
    ) -> Result<(Self, String, Lines<BufReader<ChildStderr>>), (std::process::ExitStatus, String)>
    {
        let (mut child, mut lines) = start_logging(command);
        let watchdog = Watchdog::watch(child.id());
        let mut told = String::new();
        let listen = loop {
            let Some(Ok(line)) = lines.next() else {
                watchdog.settle();
                return Err((child.wait().expect("the child is reaped"), told));
            };
            if let Some(at) = line.find("listen=") {
                let rest = &line[at + "listen=".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            told.push_str(&line);
            told.push('\n');
        };
        watchdog.settle();
        let served = Self {
            child,
            url: format!("http://{listen}"),
        };
        Ok((served, told, lines))
    }

    /// Runs `command` (from [`Served::command`]), which must refuse to
    /// start: its exit status and its log. A server that starts listening
    /// instead is killed and the test fails (rather than waiting forever).
    pub(crate) fn refused(command: Command) -> (std::process::ExitStatus, String) {
        match Self::listening_or_exited(command) {
            Ok((served, told, _)) => {
                served.kill();
                panic!("the server started and listens: {told}");
            }
            Err(refused) => refused,
        }
    }

    /// Runs `command`, which may start or refuse to: the server once it
    /// listens (its warnings and errors shown, as `spawn_telling`), or its
    /// exit status and log.
    pub(crate) fn started_or_refused(
        command: Command,
    ) -> Result<Self, (std::process::ExitStatus, String)> {
        let (served, _, lines) = Self::listening_or_exited(command)?;
        drain(lines);
        Ok(served)
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .expect("the server accepts connections")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the child is reaped");
    }

    /// The exit status, if the server has exited on its own.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("the child's state")
    }

    /// The pid of the server that this child (a tracer such as strace)
    /// started: its only child process.
    pub(crate) fn traced_pid(&self) -> u32 {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .expect("the tracer's children");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the tracer runs the server")
    }

    /// Stops the traced server `pid` with SIGTERM (a clean stop) and waits
    /// for the tracer to end with it.
    pub(crate) fn stop_traced(mut self, pid: u32) {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().expect("the tracer is reaped");
        assert!(exit.success(), "a clean stop under the tracer: {exit:?}");
    }

    pub(crate) fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().expect("the child is reaped");
        assert!(exit.success(), "a clean stop: {exit:?}");
    }
}

impl Drop for Served {
    /// A test that fails leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
