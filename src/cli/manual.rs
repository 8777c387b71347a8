//! The command line describing itself: shell completions (`answerlog
//! completion bash|zsh|fish|elvish|powershell`) and the man page
//! (`answerlog man`), both generated from the one clap definition, so
//! they never disagree with `--help`.

use clap::CommandFactory as _;

/// Prints the completion script for `shell` to stdout.
pub(super) fn completion(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "answerlog", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(())
}

/// Prints the man page (roff, section 1): the top command's, then each
/// subcommand's, as `man answerlog` shows one page.
pub(super) fn man() -> anyhow::Result<()> {
    let command = super::Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("answerlog-{}", sub.get_name());
        let sub = sub.clone().name(name);
        let mut section = Vec::new();
        let man = clap_mangen::Man::new(sub);
        man.render_name_section(&mut section)?;
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        man.render_options_section(&mut section)?;
        page.extend_from_slice(&section);
    }
    out!("{}", String::from_utf8_lossy(&page))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every positional argument of every command says what it is in
    /// `--help` (and so in the man page and completions).
    #[test]
    fn every_positional_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_positionals() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        // clap's own checks of the definition (a name given twice, …).
        super::super::Cli::command().debug_assert();
        let mut missing = Vec::new();
        walk(&super::super::Cli::command(), "answerlog", &mut missing);
        assert!(missing.is_empty(), "positionals without help: {missing:?}");
    }
}
