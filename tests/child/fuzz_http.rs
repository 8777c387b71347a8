//! The JSON API fuzzed from its own OpenAPI document (issue 17):
//! schemathesis generates requests for every operation, valid and not,
//! against the real binary, and none may be answered with a server error.
//! The bounded waits (`min_position`, receipts) end within the server's
//! default deadline, set short here, as 504, which alone is allowed.
//!
//! schemathesis comes from PyPI: `bash .ci/test` installs it under
//! `target/tools/schemathesis` and names it in `ANSWERLOG_TEST_SCHEMATHESIS`;
//! else `st` must be on the PATH.

use std::path::PathBuf;
use std::process::Command;

use rand::Rng as _;

use crate::served::Served;

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("ANSWERLOG_TEST_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("st"))
        .find(|st| st.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "schemathesis is needed: run the suite with `bash .ci/test`, which installs it, or set ANSWERLOG_TEST_SCHEMATHESIS to its `st`"
        )
    })
}

#[test]
fn no_generated_request_gets_a_server_error() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Served::command(dir.path());
    command.args([
        "--http-listen",
        "127.0.0.1:0",
        "--default-deadline-ms",
        "2000",
    ]);
    let (served, told) = Served::spawn_telling(command);
    let http = told
        .lines()
        .find_map(|line| {
            let at = line.find("http=")?;
            line[at + "http=".len()..].split_whitespace().next()
        })
        .unwrap_or_else(|| panic!("the server says where the JSON API listens: {told}"))
        .to_owned();
    // Something to read: the example article, imported over gRPC.
    let imported = Command::new(env!("CARGO_BIN_EXE_answerlog"))
        .args([
            "import",
            "examples/what-causes-jmt.md",
            "--server",
            &served.url,
        ])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    // 504 is the documented answer of a bounded wait (`min_position` not
    // reached, a receipt's checkpoint not signed in time: DEADLINE_EXCEEDED,
    // here within 2 s); every other 5xx fails the run.
    std::fs::write(
        dir.path().join("schemathesis.toml"),
        "[checks.not_a_server_error]\nexpected-statuses = [\"2xx\", \"3xx\", \"4xx\", \"504\"]\n",
    )
    .unwrap();
    let seed: u64 = rand::rng().random_range(1..u64::MAX / 2);
    eprintln!("schemathesis seed {seed}");
    let run = Command::new(&st)
        .current_dir(dir.path())
        .args(["run", &format!("http://{http}/api/v1/openapi.json")])
        .args(["--checks", "not_a_server_error"])
        .args(["--phases", "coverage,fuzzing"])
        .args(["--max-time", "60", "--workers", "2"])
        .args(["--request-timeout", "10", "--seed", &seed.to_string()])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // A server error (ST101) or a call that did not end (a network error:
    // no answer within 10 s) fails the test. schemathesis' own errors
    // (its generator's, reported as runtime errors) are not the server's:
    // they are printed, and the run must still have generated its cases.
    assert!(
        !report.contains("ST101") && !report.contains("Network Error"),
        "schemathesis found server errors or calls that did not end (seed {seed}):\n{report}\n{stderr}"
    );
    if !run.status.success() {
        eprintln!("schemathesis reported errors of its own (seed {seed}):\n{report}\n{stderr}");
    }
    // The summary's line: `4340 generated, 4340 passed`.
    let generated = report
        .lines()
        .find_map(|l| l.trim().split_once(" generated,")?.0.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        generated > 500,
        "only {generated} cases ran (seed {seed}):\n{report}\n{stderr}"
    );
    served.kill();
}
