//! One error format (issue 14, item 15): every failure of the binary is
//! one line on standard error, `error: ` and a sentence that names the
//! cause once and, where there is one, what to do; no Rust debug forms
//! (`Os { code: 11, … }`) and no cause said twice.

use std::process::Command;

use crate::served::Served;

/// Checks the shape every error message shares; returns the line.
fn one_line_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    let line = errors[0].to_string();
    assert!(
        !stderr.contains("Error:"),
        "one spelling of error:\n{stderr}"
    );
    for debug_form in ["Os {", "Custom {", "kind: "] {
        assert!(
            !line.contains(debug_form),
            "no debug form {debug_form:?}: {line}"
        );
    }
    line
}

#[test]
fn a_data_directory_in_use_is_named_with_what_to_do() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let _first = Served::start(&data);
    let (status, log) = Served::refused(Served::command(&data));
    assert_eq!(status.code(), Some(1), "{log}");
    let line = one_line_error(&log);
    assert!(
        line.contains(&format!(
            "the data directory {} is in use by another process",
            data.display()
        )) && line.contains("or choose another --data-dir"),
        "{line}"
    );
}

#[test]
fn a_server_that_is_not_there_is_named_once_with_what_to_do() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args(["get", "what-causes-jmt", "--server"])
        .arg(format!("http://127.0.0.1:{port}"))
        .env_remove("ANSWERLOG_SERVER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line_error(&String::from_utf8_lossy(&out.stderr));
    assert!(
        line.starts_with(&format!(
            "error: cannot connect to http://127.0.0.1:{port} (is the server running there?"
        )),
        "{line}"
    );
    assert_eq!(line.matches("tcp connect error").count(), 1, "{line}");
}
