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

    /// The README's command table names every command (issue 19): each
    /// leaf of the command tree, as `answerlog PATH …` or, after a slash in
    /// a row that names several, as `PATH …`.
    #[test]
    fn the_readme_lists_every_command() {
        fn leaves(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            let subs: Vec<&clap::Command> = command
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .collect();
            if subs.is_empty() {
                out.push(path.trim().to_owned());
            }
            for sub in subs {
                leaves(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## The command line\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has a section \"The command line\"");
        let table: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
        let named = |path: &str| {
            table.iter().any(|row| {
                [format!("`answerlog {path}"), format!("/ `{path}")]
                    .iter()
                    .any(|start| {
                        row.match_indices(start.as_str()).any(|(at, _)| {
                            matches!(
                                row[at + start.len()..].chars().next(),
                                Some(' ' | '`' | '[')
                            )
                        })
                    })
            })
        };
        let mut all = Vec::new();
        leaves(&super::super::Cli::command(), "", &mut all);
        assert!(all.len() > 40, "{all:?}");
        let missing: Vec<&String> = all.iter().filter(|path| !named(path)).collect();
        assert!(
            missing.is_empty(),
            "commands the README's command table does not list: {missing:?}"
        );
    }
}
