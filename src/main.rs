//! The `answerlog` binary: parse the command line, start logging, dispatch.

use std::process::ExitCode;

fn main() -> ExitCode {
    let (cli, matches) = answerlog::Cli::parse_with_matches();
    answerlog::init_tracing(cli.log_format());
    match cli.run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
