//! The command line: `serve`, `rebuild`, and the client commands that talk
//! to a running server over gRPC.

// First: its macros (`out!`, `outln!`, `note!`, `noteln!`) are for every
// module below.
#[macro_use]
mod out;

mod apply;
mod audit;
mod backup;
mod bench;
mod client;
mod config;
mod context;
mod edits;
mod export;
mod format;
mod health;
mod import;
mod import_history;
mod instant;
mod json;
mod manual;
mod progress;
mod prove_digest;
mod rebuild;
mod serve;
mod show;
mod suggestions;
mod tail;
mod verify;
mod verify_receipt;
mod watch;
mod witness;
mod write;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use out::{sentence, ReaderGone};
pub use watch::Misbehaviour;

use crate::config::{ConfigArgs, LogFormat};
use crate::principals::{new_token, Role};

/// `answerlog --version`: the release, the commit it was built from, and
/// the API it speaks.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ANSWERLOG_COMMIT"),
    ", API answerlog.v1)"
);

/// answerlog: question-and-answer articles kept as an event-sourced history.
#[derive(Debug, Parser)]
#[command(name = "answerlog", version, long_version = LONG_VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where client commands find the server, and who they are.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct ServerArg {
    /// The server's URL [env: ANSWERLOG_SERVER] [default: the context's,
    /// else http://127.0.0.1:50051].
    #[arg(long)]
    server: Option<String>,
    /// The bearer token to present (see `answerlog token new`) [env:
    /// ANSWERLOG_TOKEN]. On argv it shows in `ps` and shell history:
    /// prefer --token-file or the environment.
    #[arg(long, conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the bearer token, its first line [env:
    /// ANSWERLOG_TOKEN_FILE].
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
    /// The saved context to use (`answerlog context`) [env:
    /// ANSWERLOG_CONTEXT] [default: the current one, unless --server or
    /// ANSWERLOG_SERVER names a server]. A context's token goes only to
    /// its server, or to a --server given with --context.
    #[arg(long)]
    context: Option<String>,
    /// The connection as first resolved: every attempt of a command goes
    /// to the same server as the same principal.
    #[arg(skip)]
    resolved: std::sync::Arc<std::sync::OnceLock<client::Resolved>>,
    /// The CA certificate (PEM) that signed the server's; with it, or with
    /// an https:// server URL, the connection uses TLS.
    #[arg(long, env = "ANSWERLOG_CA")]
    ca: Option<std::path::PathBuf>,
    /// This client's certificate (PEM), for a server that asks for one (mTLS).
    #[arg(long, env = "ANSWERLOG_CERT", requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// This client's private key (PEM).
    #[arg(long, env = "ANSWERLOG_KEY", requires = "cert", hide_env_values = true)]
    key: Option<std::path::PathBuf>,
}

impl ServerArg {
    /// A server at `url` over plain HTTP/2, with `token` if any.
    fn plain(url: &str, token: Option<String>) -> Self {
        Self {
            server: Some(url.to_owned()),
            token,
            token_file: None,
            context: None,
            resolved: Default::default(),
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// What every client write takes besides its own arguments.
#[derive(Debug, Clone, clap::Args)]
struct WriteArgs {
    /// The edit summary recorded with the change.
    #[arg(long, default_value = "")]
    reason: String,
    /// The version the edit is made on [default: the current one].
    #[arg(long)]
    expected_version: Option<u64>,
    /// The write's id (a UUID) [default: a new one, printed]. Run the same
    /// command again with it after an error to learn whether the write was
    /// applied, or to apply it once.
    #[arg(long)]
    command_id: Option<String>,
    /// Print where the write left the article as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (defaults: ./data, 127.0.0.1:50051).
    Serve(ServeArgs),
    /// The server's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Rebuild the read models from the log: offline (stop the server
    /// first), or --online on a running server that keeps serving.
    Rebuild(RebuildArgs),
    /// Compact the store offline (stop the server first): sled's live
    /// values copied into new files that take the old ones' place, so that
    /// what sled kept of overwritten values (after a redaction: README,
    /// "Redaction") leaves the data directory.
    Compact {
        /// Print what was copied and the bytes before and after as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Measure the server against baselines taken in the same run.
    Bench(bench::BenchArgs),
    /// Print the completion script for a shell (e.g. `source <(answerlog
    /// completion bash)`).
    Completion {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `answerlog man > answerlog.1`.
    Man,
    /// Saved connections: server, CA, client certificate and token file.
    #[command(subcommand)]
    Context(context::ContextCommand),
    /// Restore a backup (from `answerlog backup`) into an empty data
    /// directory, offline: the same positions, times and hashes.
    Restore {
        /// The backup's directory; for incremental backups, the chain in
        /// order: the full backup, then each increment (`backup --since`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Print what was restored as JSON (and draw no progress bar).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Bearer tokens for the principals file.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The keys that sign log digests.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check an export (from `answerlog export`) with no server: every
    /// article chain, the log chain and Merkle tree if it holds the whole
    /// log, a digest and a checkpoint.
    #[command(group(clap::ArgGroup::new("kept").args(["digest", "checkpoint"]).multiple(true)))]
    Verify {
        /// The export (JSON lines, as `answerlog export` writes them).
        file: PathBuf,
        /// A digest kept from `answerlog audit digest --json`.
        #[arg(long)]
        digest: Option<PathBuf>,
        /// A checkpoint kept from `answerlog audit checkpoint` (a signed
        /// note, as printed): the export's Merkle tree at its size must
        /// have its root. Needs --vkey.
        #[arg(long, requires = "vkey")]
        checkpoint: Option<PathBuf>,
        /// The only key the digest and the checkpoint may be signed with:
        /// a verifier key `name+hexkeyid+base64key` (C2SP signed-note), as
        /// `answerlog keys show` or `audit checkpoint --vkey` prints it.
        #[arg(long, requires = "kept")]
        vkey: Option<String>,
        /// Print the outcome as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check an answer's receipt (from `answerlog get --receipt`) with no
    /// server: the answer's leaf is in the tree the receipt's checkpoint
    /// commits to, and the pinned key signed that checkpoint.
    VerifyReceipt {
        /// The receipt, as saved (a C2SP tlog-proof).
        file: PathBuf,
        /// The answer it is for, as `answerlog get --json` prints it.
        #[arg(long)]
        answer: PathBuf,
        /// The log's key: a C2SP verifier key (name+hexkeyid+base64key), as
        /// `answerlog audit checkpoint --vkey` prints it.
        #[arg(long)]
        vkey: String,
        /// A witness whose cosignature counts: its verifier key
        /// (name+hexkeyid+base64(0x04 ‖ key)), as `answerlog witness vkey`
        /// prints it. Repeat it for more.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the --witness keys must have cosigned the
        /// receipt's checkpoint [default: every one].
        #[arg(long, requires = "witnesses")]
        witness_quorum: Option<usize>,
        /// Print the outcome as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A witness of logs' checkpoints (C2SP tlog-witness) that auditors
    /// can run, and its key.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Write the address the server listens on to this file once it
    /// serves (for a script that gave --listen 127.0.0.1:0).
    #[arg(long)]
    address_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RebuildArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Rebuild on the running server (see --server), which keeps serving
    /// and writing, and switches to the new read models when done.
    #[arg(long)]
    online: bool,
    /// With --online: the most commits replayed per second [default: 20000].
    #[arg(long, default_value_t = 0)]
    max_commits_per_second: u64,
    /// Print JSON: offline, what was replayed and written (and draw no
    /// progress bar); with --online, each progress report as a line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArg,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the configuration `serve` would run with, given the same file,
    /// environment and flags, and where each value came from (flag,
    /// environment, file or default).
    Print {
        #[command(flatten)]
        args: ConfigArgs,
        /// Print it as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new token (once) and the principals-file entry that admits it.
    New {
        /// The principal's name, recorded as the actor of its writes.
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Print the token and the entry as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print the current signing key's verifier key, for auditors to pin
    /// (`answerlog verify --vkey`), offline.
    Show {
        #[arg(long, env = "ANSWERLOG_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The key's name in the verifier key.
        #[arg(long, default_value = "answerlog")]
        name: String,
        /// Print the name, key id, public key and verifier key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a new signing key file (an Ed25519 secret, 64 hex digits, mode
    /// 0600) for --signing-key, and print its checkpoint verifier key under
    /// --name: give every replica and restore of a log this one file.
    New {
        /// The key file to make; an existing file is never replaced.
        file: PathBuf,
        /// The log's origin (--log-origin), the verifier key's name.
        #[arg(long, default_value = "answerlog")]
        name: String,
    },
    /// Replace the signing key with a new one, offline; old digests still
    /// verify (the ring keeps every public key). Restart the server after.
    Rotate {
        #[arg(long, env = "ANSWERLOG_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// Commands that talk to a running server.
#[derive(Debug, Subcommand)]
enum ClientCommand {
    #[command(flatten)]
    Edit(edits::EditCommand),
    /// Print an article's history, or the whole log, as JSON Lines.
    Export {
        /// The article (slug or id); or --all.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        reference: Option<String>,
        /// Every commit of the log, in order.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Audit queries.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Suggest a question for the articles (as the page's "Suggest a
    /// question" does; role reader).
    Suggest {
        /// The question, one line.
        question: String,
        /// The article the question came up on: its slug or id.
        #[arg(long)]
        article: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// The suggested questions: list them, answer or decline each.
    #[command(subcommand)]
    Suggestions(suggestions::SuggestionsCommand),
    /// Copy the running server's log, as it stands at one position, into a
    /// new directory (role auditor; writes may go on meanwhile).
    Backup {
        /// The new directory the backup is written into.
        dir: PathBuf,
        /// An incremental backup: only the commits after this earlier
        /// backup's (full or incremental) position, linked to its digest.
        #[arg(long, value_name = "PREVIOUS_BACKUP")]
        since: Option<PathBuf>,
        /// Print what was backed up as one JSON object (and draw no
        /// progress bar).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Ask the server's health service; exit status 0 when it is SERVING
    /// (for probes and health checks; no token needed).
    Health {
        /// One service (e.g. answerlog.v1.AnswerService) [default: the
        /// server as a whole].
        #[arg(long, default_value = "")]
        service: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print the event stream: every commit after a position, then live.
    Tail {
        /// Start after this global position (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Only this article (slug or id).
        #[arg(long)]
        article: Option<String>,
        /// Stop after this many commits.
        #[arg(long)]
        count: Option<u64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Who introduced and who last changed each part of an article.
    Blame {
        /// The article: its slug or id.
        reference: String,
        /// As of this version [default: the current one].
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Create articles from files in the import format. Many files go
    /// through the bulk import (admin role), group-committed.
    Import {
        #[arg(required = true)]
        /// The files, in the import format (README, "The import format").
        files: Vec<PathBuf>,
        /// One CreateArticle a file (the writer role suffices), even for
        /// many files.
        #[arg(long)]
        one_by_one: bool,
        /// One JSON object a file imported (and no progress bar).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Import another system's history (MediaWiki's XML export, Stack
    /// Exchange's dump or CSV post histories) through the bulk import
    /// (admin role): one commit a source revision, with the source's
    /// revision, author, time and comment as origin claims. Running it
    /// again is a retry: what is done is a duplicate.
    ImportHistory {
        /// The dump's format.
        #[arg(long, value_enum)]
        format: import_history::HistoryFormat,
        /// MediaWiki: XML files. Stack Exchange: a folder with Posts.xml
        /// and PostHistory.xml (or PostHistory.xml itself), CSV files, or
        /// a folder of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The Stack Exchange site the dump is of (its host, e.g.
        /// stackoverflow.com): the dump does not name it.
        #[arg(long)]
        site: Option<String>,
        /// The licence of Stack Exchange rows that give none (CSV rows
        /// never do), as the data's LICENSE says, e.g. "CC BY-SA 4.0".
        #[arg(long)]
        license: Option<String>,
        /// Read and check every file, and say what it would import,
        /// sending nothing (no server needed).
        #[arg(long)]
        dry_run: bool,
        /// One JSON object a file: its summary.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print an answer by slug or id, current or past.
    Get {
        /// The article: its slug or id.
        reference: String,
        /// The version to show.
        #[arg(long, conflicts_with_all = ["at", "as_of_origin"])]
        version: Option<u64>,
        /// Show the version current at this instant: RFC 3339
        /// (2026-11-25T15:33:35Z), a date (2026-11-25: the end of that day,
        /// UTC) or a time relative to now ('10 minutes ago').
        #[arg(long, conflicts_with = "as_of_origin")]
        at: Option<String>,
        /// For an imported article: show it as its source showed it at
        /// this instant (its claimed times, not the log's), written as
        /// `--at` takes it.
        #[arg(long, value_name = "TIME")]
        as_of_origin: Option<String>,
        /// Wait until the server has applied this position (a write's,
        /// made through another replica) [default: 0].
        #[arg(long, default_value_t = 0)]
        min_position: u64,
        /// Save the answer's receipt here, byte for byte as served (a C2SP
        /// tlog-proof at a signed checkpoint; check it with `answerlog
        /// verify-receipt`).
        #[arg(long, value_name = "FILE")]
        receipt: Option<std::path::PathBuf>,
        /// Print the protobuf JSON mapping (as `--output json`).
        #[arg(long, conflicts_with = "output")]
        json: bool,
        /// How to print it: `text`, `json` (the protobuf JSON mapping),
        /// `yaml` (the same, as YAML) or `import` (the import format, each
        /// section's heading ending with its id, for `apply`).
        #[arg(short, long, value_enum, default_value_t = show::GetOutput::Text)]
        output: show::GetOutput,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Update an article from a file of the import format, in one commit:
    /// the edits that turn the version read into the file's content
    /// (sections matched by `{#id}` or heading, sources by title), shown
    /// first, then sent as one ApplyChanges (writer role). A concurrent
    /// edit makes it fail, not overwrite.
    Apply {
        /// The file, in the import format (`-`: stdin); `answerlog get
        /// SLUG --output import` writes one.
        file: PathBuf,
        /// The article: its slug or id [default: the file's slug].
        #[arg(long)]
        article: Option<String>,
        /// Show the plan and send nothing (with --json: the edits as the
        /// API takes them).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List an article's revisions.
    History {
        /// The article: its slug or id.
        reference: String,
        /// Wait until the server has applied this position [default: 0].
        #[arg(long, default_value_t = 0)]
        min_position: u64,
        #[command(flatten)]
        output: format::OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Show what changed between two versions.
    Diff {
        /// The article: its slug or id.
        reference: String,
        /// The earlier version.
        from: u64,
        /// The later version.
        to: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Replace a section's body (and heading) from a file or text.
    EditSection {
        /// The article: its slug or id.
        reference: String,
        /// The section's id (as `get` shows it, e.g. s2).
        section_id: String,
        /// The new body.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// Read the new body from this file (`-` for standard input).
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// The new heading.
        #[arg(long)]
        heading: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Add a source to an article.
    AddSource {
        /// The article: its slug or id.
        reference: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        publisher: String,
        #[arg(long, default_value = "")]
        url: String,
        #[arg(long)]
        license: String,
        /// When the source was accessed (YYYY-MM-DD).
        #[arg(long, default_value = "")]
        accessed_on: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Set the date the page displays (YYYY-MM-DD).
    Redate {
        /// The article: its slug or id.
        reference: String,
        /// The date to show, YYYY-MM-DD.
        date: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Remove the content of one event of an article's history for good
    /// (role admin; docs/AUDIT.md, "Redaction"): it shows "[redacted]",
    /// its digest stays, and every proof still verifies. `--reason` is
    /// required; find the version (or position) and event with `answerlog
    /// history` or `export`.
    #[command(group(clap::ArgGroup::new("commit").args(["position", "version"]).required(true)))]
    Redact {
        /// The article: its id or slug (retracted articles too).
        reference: String,
        /// The log position of the article's commit that holds the event.
        #[arg(long)]
        position: Option<u64>,
        /// Or the article's version whose commit holds the event.
        #[arg(long)]
        version: Option<u64>,
        /// The event's index in that commit, from 0.
        #[arg(long, default_value_t = 0)]
        event: u32,
        /// Redact the commit's origin claims (an imported commit's
        /// OriginClaimed: the source's user, comment and checksum) rather
        /// than an event named by `--event`.
        #[arg(long, conflicts_with = "event")]
        origin_claims: bool,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        server: ServerArg,
    },
}

impl Cli {
    /// The log format `serve` asked for; text for everything else.
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Serve(args) => args
                .config
                .resolve()
                .map_or(LogFormat::Text, |c| c.log_format),
            _ => LogFormat::Text,
        }
    }

    /// Parses the command line, keeping its matches (they tell a flag
    /// from its environment variable).
    pub fn parse_with_matches() -> (Self, clap::ArgMatches) {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command().get_matches();
        let cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        (cli, matches)
    }

    pub fn run(self, matches: &clap::ArgMatches) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::serve(&args.config, args.address_file.as_deref()),
            Command::Witness(command) => witness::run(command),
            Command::Config(ConfigCommand::Print { args, json }) => {
                let empty = clap::ArgMatches::default();
                let print = matches
                    .subcommand_matches("config")
                    .and_then(|m| m.subcommand_matches("print"))
                    .unwrap_or(&empty);
                config::print(&args, print, json)
            }
            Command::Rebuild(args) if args.online => client::block_on(rebuild::online(
                &args.server,
                args.max_commits_per_second,
                args.json,
            )),
            Command::Rebuild(args) => serve::rebuild(&args.config, args.json),
            Command::Compact { json, config } => serve::compact(&config, json),
            Command::Bench(args) => bench::run(args),
            Command::Completion { shell } => manual::completion(shell),
            Command::Man => manual::man(),
            Command::Context(command) => context::run(command),
            Command::Restore { dirs, json, config } => backup::restore(&dirs, &config, json),
            Command::Verify {
                file,
                digest,
                checkpoint,
                vkey,
                json,
            } => verify::verify(
                &file,
                &verify::Kept {
                    digest: digest.as_deref(),
                    checkpoint: checkpoint.as_deref(),
                    vkey: vkey.as_deref(),
                },
                json,
            ),
            Command::VerifyReceipt {
                file,
                answer,
                vkey,
                witnesses,
                witness_quorum,
                json,
            } => verify_receipt::verify_receipt(
                &file,
                &answer,
                &verify_receipt::Pinned {
                    vkey: &vkey,
                    witnesses: &witnesses,
                    quorum: witness_quorum,
                },
                json,
            ),
            Command::Keys(KeysCommand::Show {
                data_dir,
                name,
                json,
            }) => {
                let public = crate::signing::current_public_key(&data_dir)?;
                let vkey = crate::verifier_key::VerifierKey::new(&name, public)
                    .map_err(anyhow::Error::msg)?;
                if json {
                    let out = serde_json::json!({
                        "name": vkey.name,
                        "keyId": crate::signing::key_id_of(&public),
                        "publicKey": crate::domain::hex(&public),
                        "vkey": vkey.to_string(),
                    });
                    outln!("{out}")?;
                } else {
                    outln!("{vkey}")?;
                }
                Ok(())
            }
            Command::Keys(KeysCommand::New { file, name }) => {
                let key = crate::signing::new_key_file(&file)?;
                let vkey =
                    crate::verifier_key::VerifierKey::new(&name, key.verifying_key().to_bytes())
                        .map_err(anyhow::Error::msg)?;
                outln!("{vkey}")?;
                Ok(())
            }
            Command::Keys(KeysCommand::Rotate { data_dir }) => {
                let id = crate::signing::KeyRing::rotate(&data_dir)?;
                outln!("the signing key is now {id}; restart the server to use it")?;
                Ok(())
            }
            Command::Token(TokenCommand::New { name, role, json }) => {
                let (token, entry) = new_token(&name, role)?;
                if json {
                    let out = serde_json::json!({
                        "name": name,
                        "role": role.name(),
                        "token": token,
                        "principalsEntry": entry,
                    });
                    outln!("{out}")?;
                    return Ok(());
                }
                noteln!("The token, shown only this once (the server keeps only its SHA-256):");
                outln!("{token}")?;
                noteln!("\nAdd this to the principals file, then send the server SIGHUP:\n");
                note!("{entry}");
                Ok(())
            }
            Command::Client(command) => client::block_on(run_client(command)),
        }
    }
}

async fn run_client(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Edit(command) => edits::run(command).await,
        ClientCommand::Export {
            reference,
            all: _,
            server,
        } => export::export(&server, reference.as_deref()).await,
        ClientCommand::Audit(command) => audit::run(command).await,
        ClientCommand::Suggest {
            question,
            article,
            json,
            server,
        } => suggestions::suggest(&server, question, article.as_deref(), json).await,
        ClientCommand::Suggestions(command) => suggestions::run(command).await,
        ClientCommand::Backup {
            dir,
            since,
            json,
            server,
        } => backup::backup(&server, &dir, since.as_deref(), json).await,
        ClientCommand::Health {
            service,
            json,
            server,
        } => health::check(&server, &service, json).await,
        ClientCommand::Tail {
            from,
            article,
            count,
            json,
            server,
        } => tail::tail(&server, from, article.as_deref(), count, json).await,
        ClientCommand::Blame {
            reference,
            version,
            json,
            server,
        } => audit::blame(&server, &reference, version, json).await,
        ClientCommand::Import {
            files,
            one_by_one,
            json,
            server,
        } => import::import(&server, &files, one_by_one, json).await,
        ClientCommand::ImportHistory {
            format,
            files,
            site,
            license,
            dry_run,
            json,
            server,
        } => {
            let origin = import_history::Origin { site, license };
            import_history::import_history(&server, format, &files, &origin, dry_run, json).await
        }
        ClientCommand::Get {
            reference,
            version,
            at,
            as_of_origin,
            min_position,
            receipt,
            json,
            output,
            server,
        } => {
            let as_of = show::AsOfArgs {
                version,
                at,
                as_of_origin,
                min_position,
                receipt,
            };
            let output = if json { show::GetOutput::Json } else { output };
            show::get(&server, &reference, &as_of, output).await
        }
        ClientCommand::Apply {
            file,
            article,
            dry_run,
            write,
            server,
        } => apply::apply(&server, &file, article.as_deref(), dry_run, write).await,
        ClientCommand::History {
            reference,
            min_position,
            output,
            server,
        } => show::history(&server, &reference, min_position, output.format()).await,
        ClientCommand::Diff {
            reference,
            from,
            to,
            json,
            server,
        } => show::diff(&server, &reference, from, to, json).await,
        ClientCommand::EditSection {
            reference,
            section_id,
            body,
            body_file,
            heading,
            write,
            server,
        } => {
            let body = match (body, body_file) {
                (Some(body), _) => Some(body),
                (None, Some(path)) => Some(write::read_text(&path)?),
                (None, None) => None,
            };
            write::edit_section(&server, &reference, section_id, heading, body, write).await
        }
        ClientCommand::AddSource {
            reference,
            title,
            publisher,
            url,
            license,
            accessed_on,
            write,
            server,
        } => {
            let source = crate::grpc::pb::Source {
                id: String::new(),
                title,
                publisher,
                url,
                license,
                accessed_on,
            };
            write::add_source(&server, &reference, source, write).await
        }
        ClientCommand::Redate {
            reference,
            date,
            write,
            server,
        } => write::redate(&server, &reference, date, write).await,
        ClientCommand::Redact {
            reference,
            position,
            version,
            event,
            origin_claims,
            write,
            server,
        } => {
            let commit = match (position, version) {
                (Some(position), _) => write::Commit::Position(position),
                (None, Some(version)) => write::Commit::Version(version),
                (None, None) => anyhow::bail!("--position or --version names the commit"),
            };
            let target = match origin_claims {
                true => write::Target::OriginClaims,
                false => write::Target::Event(event),
            };
            write::redact(&server, &reference, commit, target, write).await
        }
    }
}

/// Starts logging: human-readable text or JSON lines, filtered by
/// `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && out::colour_allowed())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
