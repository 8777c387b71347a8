//! The `answerlog` binary: parse the command line, start logging, dispatch.

use std::io::Write as _;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: at 64 appends in flight glibc's
/// malloc and free were a seventh of the server's CPU (BENCHMARKS.md).
/// Built without its transparent huge pages (`no_thp`): each fresh 2 MiB
/// page it took was zeroed whole, which cost a third of the start-up and
/// a third of the resident memory (BENCHMARKS.md, session 19).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let (cli, matches) = answerlog::Cli::parse_with_matches();
    answerlog::init_tracing(cli.log_format());
    match cli.run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`| head`): it has what
        // it wanted, and the command ends quietly.
        Err(e) if e.chain().any(|c| c.is::<answerlog::ReaderGone>()) => ExitCode::SUCCESS,
        // `audit watch` found the log misbehaving (it printed the
        // evidence): a status of its own for a supervisor to alert on.
        Err(e) if e.chain().any(|c| c.is::<answerlog::Misbehaviour>()) => {
            let _ = writeln!(std::io::stderr(), "error: {}", answerlog::sentence(&e));
            ExitCode::from(3)
        }
        Err(e) => {
            // A standard error that is gone too takes nothing.
            let _ = writeln!(std::io::stderr(), "error: {}", answerlog::sentence(&e));
            ExitCode::FAILURE
        }
    }
}
