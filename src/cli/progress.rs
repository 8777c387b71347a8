//! Progress bars for the long commands (import, backup, restore, offline
//! rebuild, export, verify): drawn on stderr, and only when stderr is a
//! terminal and the command prints for a person. With `--json`, or with
//! stderr in a pipe or a file, there is none: scripts and logs see only
//! the result.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar labelled `what`, counting `unit`s up to `total` (none: not
/// known, a running count); hidden when `quiet` (`--json`) or stderr is
/// no terminal.
pub(super) fn bar(what: &'static str, unit: &str, total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = if total.is_none() {
        format!("{{spinner}} [{{elapsed_precise}}] {{msg}} {{human_pos}} {unit} ({{per_sec}})")
    } else {
        format!(
            "{{spinner}} [{{elapsed_precise}}] {{msg}} {{bar:40}} {{human_pos}}/{{human_len}} {unit} (eta {{eta}})"
        )
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    // The templates are fixed: a bad one is a bug the tests would show.
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}
