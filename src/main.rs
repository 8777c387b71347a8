//! The `answerlog` binary: parse the command line, start logging, dispatch.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = answerlog::Cli::parse();
    answerlog::init_tracing(cli.log_format());
    cli.run()
}
