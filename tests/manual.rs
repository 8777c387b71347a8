//! The command line describing itself (issue 19): completions that a
//! real bash loads and that complete subcommands, a man page with every
//! command, and `--version` naming the commit and the API.

use crate::support::cli;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn completions_load_in_bash_and_complete_subcommands() {
    let out = cli(args(&["completion", "bash"])).await;
    assert!(out.success, "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("answerlog.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Sourced, it registers a completion for answerlog; asked to complete
    // `answerlog imp`, it offers both import commands.
    let probe = format!(
        "source {}; complete -p answerlog; COMP_WORDS=(answerlog imp); COMP_CWORD=1; COMP_LINE='answerlog imp'; COMP_POINT=${{#COMP_LINE}}; _answerlog answerlog imp answerlog; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let bash = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("bash runs");
    let said = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    assert!(
        said.starts_with("complete ") && said.contains("-F _answerlog answerlog"),
        "{said}"
    );
    let offered: Vec<&str> = said.lines().skip(1).collect();
    assert!(
        offered.contains(&"import") && offered.contains(&"import-history"),
        "{said}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = cli(args(&["completion", shell])).await;
        assert!(
            out.success && out.stdout.contains("answerlog"),
            "{shell}: {}",
            out.stderr
        );
    }
    let refused = cli(args(&["completion", "tcsh"])).await;
    assert!(
        !refused.success && refused.stderr.contains("tcsh"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn the_man_page_and_version_say_what_the_binary_is() {
    let out = cli(args(&["man"])).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(".ie") && out.stdout.contains(".TH answerlog 1"),
        "{}",
        &out.stdout[..200.min(out.stdout.len())]
    );
    for command in [
        "import\\-history",
        "verify\\-receipt",
        "completion",
        "serve",
    ] {
        assert!(
            out.stdout.contains(&format!("answerlog\\-{command}")),
            "{command} in the man page"
        );
    }
    let version = cli(args(&["--version"])).await;
    assert!(version.success, "{}", version.stderr);
    let line = version.stdout.trim();
    assert!(
        line.starts_with(&format!("answerlog {} (commit ", env!("CARGO_PKG_VERSION")))
            && line.ends_with(", API answerlog.v1)"),
        "{line}"
    );
}
