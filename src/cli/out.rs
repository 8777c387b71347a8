//! Standard output and standard error for the command line. Every line a
//! command prints goes through here, so that a reader that goes away
//! (`answerlog export --all | head`) ends the command quietly, with status
//! 0, instead of a panic in `println!` (Rust ignores SIGPIPE, so a write to
//! a closed pipe fails with `BrokenPipe`, and `println!` panics on it).

use std::fmt;
use std::io::{self, Write as _};

/// Standard output's reader has gone away: the command has nothing left to
/// do. `main` ends such a run quietly, with success.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct ReaderGone;

/// Writes to standard output; a closed pipe is [`ReaderGone`], any other
/// failure an error naming standard output.
pub(crate) fn write(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(ReaderGone.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Writes to standard error, for messages beside the output (progress, a
/// token's instructions). A standard error that is gone takes nothing: the
/// message has no one left to read it, and the command goes on.
pub(crate) fn note(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// An error as one line for a person: each cause once, joined by ": ".
/// Libraries repeat themselves (hyper's "tcp connect error" wraps an error
/// that says "tcp connect error: …", and a cause's text is often its
/// source's too): a cause that the next one begins with, or that the line
/// already says, is left out.
pub fn sentence(error: &anyhow::Error) -> String {
    let causes: Vec<String> = error.chain().map(|c| c.to_string()).collect();
    let mut line = String::new();
    for (i, cause) in causes.iter().enumerate() {
        let cause = cause.trim();
        let repeated_next = causes
            .get(i + 1)
            .is_some_and(|next| next.trim().starts_with(cause));
        if cause.is_empty() || repeated_next || line.contains(cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(cause);
    }
    line
}

/// `print!` that returns an error (`?`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

/// `println!` that returns an error (`?`) instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! noteln {
    ($($arg:tt)*) => {
        $crate::cli::out::note(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::out::note(format_args!($($arg)*))
    };
}

/// Whether what goes to a terminal may be coloured: not while `NO_COLOR`
/// is set to anything but the empty string (no-color.org).
pub(crate) fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No command prints past this file: `println!` and friends panic
    /// when the reader goes away.
    #[test]
    fn the_command_line_prints_only_through_here() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
        let mut all = Vec::new();
        files(&cli, &mut all);
        let mut found = Vec::new();
        for path in all.iter().filter(|p| !p.ends_with("out.rs")) {
            let text = std::fs::read_to_string(path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let printing = ["println!(", "print!(", "eprintln!(", "eprint!("]
                    .iter()
                    .any(|m| line.contains(m) && !line.contains(&format!("out{m}")));
                if printing {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "print through out!/outln!/note!/noteln!:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let error = anyhow::Error::new(io)
            .context("tcp connect error: Connection refused")
            .context("tcp connect error")
            .context("transport error")
            .context("cannot connect to http://127.0.0.1:1");
        assert_eq!(
            sentence(&error),
            "cannot connect to http://127.0.0.1:1: transport error: tcp connect error: Connection refused"
        );
    }
}
