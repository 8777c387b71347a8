//! Saved connections, as `nats context` keeps them (issue 19): `answerlog
//! context add|use|ls|show|rm`. A context names a server and, optionally,
//! a CA certificate, a client certificate and key, and a file holding the
//! bearer token: never the token itself, which stays out of the file and
//! out of argv. Client commands use the current context (or `--context
//! NAME`) for whatever their flags and environment do not give.
//!
//! The file is `$ANSWERLOG_CONTEXTS`, else
//! `$XDG_CONFIG_HOME/answerlog/contexts.toml`, else
//! `$HOME/.config/answerlog/contexts.toml`; written whole, through a
//! temporary file renamed over it, readable by its owner only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// One saved connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Saved {
    pub(super) server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) key: Option<PathBuf>,
}

/// The contexts file.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, Saved>,
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum ContextCommand {
    /// Save a connection under a name (replacing one of that name).
    Add {
        /// The context's name.
        name: String,
        /// The server's URL.
        #[arg(long)]
        server: String,
        /// The CA certificate (PEM) that signed the server's.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// A file holding the bearer token (its first line).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// This client's certificate (PEM), for mTLS.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// This client's private key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Make it the current context too.
        #[arg(long = "use")]
        make_current: bool,
    },
    /// Make a saved context the current one.
    Use {
        /// The context's name.
        name: String,
    },
    /// List the saved contexts; the current one is marked `*`.
    Ls {
        /// One JSON object: `current` and each context by name.
        #[arg(long)]
        json: bool,
    },
    /// Print a context (the current one if none is named).
    Show {
        /// The context's name.
        name: Option<String>,
    },
    /// Forget a saved context.
    Rm {
        /// The context's name.
        name: String,
    },
}

/// Where the contexts are kept.
fn path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ANSWERLOG_CONTEXTS") {
        return Ok(PathBuf::from(path));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(
            std::env::var_os("HOME")
                .context("no HOME to keep contexts in: set ANSWERLOG_CONTEXTS")?,
        )
        .join(".config"),
    };
    Ok(config.join("answerlog").join("contexts.toml"))
}

fn load(path: &Path) -> anyhow::Result<Contexts> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not a contexts file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contexts::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the file whole and durably: a temporary file beside it, synced,
/// renamed over it, and the directory synced (a crash leaves the old file
/// or the new one). Mode 0600 from the start.
fn store(path: &Path, contexts: &Contexts) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let failed = || format!("cannot write {}", path.display());
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let text = toml::to_string(contexts)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir).with_context(failed)?;
    temp.as_file_mut()
        .write_all(text.as_bytes())
        .with_context(failed)?;
    temp.as_file().sync_all().with_context(failed)?;
    temp.persist(path).with_context(failed)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(failed)?;
    Ok(())
}

/// The context a client command uses: `named`, else the current one; none
/// if there is no current one (then the flags and defaults say all).
pub(super) fn chosen(named: Option<&str>) -> anyhow::Result<Option<(String, Saved)>> {
    let path = match path() {
        Ok(path) => path,
        // Nowhere to keep contexts, and none asked for: there are none.
        Err(_) if named.is_none() => return Ok(None),
        Err(e) => return Err(e),
    };
    let contexts = load(&path)?;
    let Some(name) = named.map(str::to_owned).or(contexts.current.clone()) else {
        return Ok(None);
    };
    match contexts.context.get(&name) {
        Some(saved) => Ok(Some((name, saved.clone()))),
        None => anyhow::bail!(
            "context: no context {name:?} in {} (answerlog context ls)",
            path.display()
        ),
    }
}

pub(super) fn run(command: ContextCommand) -> anyhow::Result<()> {
    let path = path()?;
    let mut contexts = load(&path)?;
    match command {
        ContextCommand::Add {
            name,
            server,
            ca,
            token_file,
            cert,
            key,
            make_current,
        } => {
            if name.is_empty() || name.chars().any(char::is_control) {
                anyhow::bail!("name: a context's name is one line, not empty");
            }
            tonic::transport::Endpoint::from_shared(server.clone())
                .with_context(|| format!("server: {server:?} is not a server URL"))?;
            // Kept as given, made absolute: the file is read from anywhere.
            let absolute = |p: Option<PathBuf>| -> anyhow::Result<Option<PathBuf>> {
                p.map(|p| std::path::absolute(&p).with_context(|| format!("{}", p.display())))
                    .transpose()
            };
            let saved = Saved {
                server,
                ca: absolute(ca)?,
                token_file: absolute(token_file)?,
                cert: absolute(cert)?,
                key: absolute(key)?,
            };
            contexts.context.insert(name.clone(), saved);
            if make_current || contexts.current.is_none() {
                contexts.current = Some(name.clone());
            }
            store(&path, &contexts)?;
            outln!("context {name} saved in {}", path.display())?;
        }
        ContextCommand::Use { name } => {
            if !contexts.context.contains_key(&name) {
                anyhow::bail!("name: no context {name:?} (answerlog context ls)");
            }
            contexts.current = Some(name.clone());
            store(&path, &contexts)?;
            outln!("context {name} is the current one")?;
        }
        ContextCommand::Ls { json } => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "current": contexts.current,
                        // The JSON convention's key names (the file's are TOML's).
                        "contexts": contexts.context.iter().map(|(name, saved)| {
                            (name.clone(), serde_json::json!({
                                "server": saved.server,
                                "ca": saved.ca,
                                "tokenFile": saved.token_file,
                                "cert": saved.cert,
                                "key": saved.key,
                            }))
                        }).collect::<serde_json::Map<_, _>>(),
                    })
                )?;
            } else {
                for (name, saved) in &contexts.context {
                    let mark = if contexts.current.as_ref() == Some(name) {
                        "*"
                    } else {
                        " "
                    };
                    outln!("{mark} {name:<20} {}", saved.server)?;
                }
            }
        }
        ContextCommand::Show { name } => {
            let (name, saved) = chosen(name.as_deref())?
                .ok_or_else(|| anyhow::anyhow!("name: there is no current context; name one"))?;
            outln!("{}", toml::to_string(&BTreeMap::from([(name, saved)]))?)?;
        }
        ContextCommand::Rm { name } => {
            if contexts.context.remove(&name).is_none() {
                anyhow::bail!("name: no context {name:?} (answerlog context ls)");
            }
            if contexts.current.as_ref() == Some(&name) {
                contexts.current = None;
            }
            store(&path, &contexts)?;
            outln!("context {name} removed")?;
        }
    }
    Ok(())
}
