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
