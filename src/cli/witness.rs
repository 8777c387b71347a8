//! `answerlog witness`: a witness's key, and the witness itself
//! (`witness serve`, C2SP tlog-witness over HTTP).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::witness::{
    generate_witness_key, serve_witness, witness_verifier_key, Witness, WitnessOptions,
};

#[derive(Debug, Subcommand)]
pub(super) enum WitnessCommand {
    /// Make a new witness key (an Ed25519 secret, 64 hex digits, mode
    /// 0600) and print its verifier key, which logs and auditors pin.
    NewKey {
        /// The key file to make; an existing file is never replaced.
        file: PathBuf,
        /// The witness's name, e.g. witness.example.org/w1.
        #[arg(long)]
        name: String,
    },
    /// Print the verifier key of a witness key:
    /// name+hexkeyid+base64(0x04 ‖ key) (C2SP tlog-cosignature).
    Vkey {
        /// The witness's key file.
        file: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// Run a witness: it cosigns each checkpoint of the logs it is given
    /// that extends the last one it cosigned, and refuses any other.
    Serve {
        /// The witness key (from `witness new-key`).
        #[arg(long)]
        key: PathBuf,
        /// The witness's name, as in its verifier key.
        #[arg(long)]
        name: String,
        /// A log to witness: its checkpoint verifier key, as `answerlog
        /// audit checkpoint --vkey` prints it (the key's name is the log's
        /// origin). Repeat it for more logs.
        #[arg(long = "log", required = true)]
        logs: Vec<String>,
        /// Where the witness keeps the last checkpoint of each log, and
        /// the requests it refused.
        #[arg(long)]
        state: PathBuf,
        /// The address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: std::net::SocketAddr,
        /// Write the address listened on to this file once serving.
        #[arg(long)]
        address_file: Option<PathBuf>,
    },
}

pub(super) fn run(command: WitnessCommand) -> anyhow::Result<()> {
    match command {
        WitnessCommand::NewKey { file, name } => {
            let vkey = generate_witness_key(&file, &name)?;
            outln!("{vkey}")?;
            Ok(())
        }
        WitnessCommand::Vkey { file, name } => {
            outln!("{}", witness_verifier_key(&file, &name)?)?;
            Ok(())
        }
        WitnessCommand::Serve {
            key,
            name,
            logs,
            state,
            listen,
            address_file,
        } => {
            let witness = Arc::new(Witness::open(&WitnessOptions {
                name,
                key_file: key,
                logs,
                state_dir: state,
            })?);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let address = listener.local_addr()?;
                if let Some(path) = &address_file {
                    super::serve::write_address(path, address)?;
                }
                tracing::info!(
                    listen = %address,
                    vkey = %witness.verifier_key(),
                    "witnessing at http://{address}/add-checkpoint"
                );
                serve_witness(listener, witness, super::serve::shutdown_signal()).await;
                tracing::info!("the witness stopped");
                Ok(())
            })
        }
    }
}
