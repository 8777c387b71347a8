//! A large MediaWiki dump (issue 18): at least 200 MB, built from the real
//! English Wikipedia sample by repeating its pages under new page and
//! revision ids and titles, imported by the real binaries. The importer
//! reads it as a stream and the server takes it through group commit:
//! neither's peak resident memory may grow with the dump (each stays under
//! 300 MiB, printed). Every revision is accounted for.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::served::Served;

/// The dump's size, at least.
const DUMP_BYTES: usize = 200 * 1024 * 1024;
/// The most either process may hold resident, in KiB.
const MAX_RSS_KIB: u64 = 300 * 1024;

/// GNU time (Debian's `time`, which `bash .ci/test` installs).
fn gnu_time() -> &'static str {
    let path = "/usr/bin/time";
    assert!(
        std::path::Path::new(path).is_file(),
        "GNU time is needed: run the suite with `bash .ci/test`, which installs it (apt-get install time)"
    );
    path
}

/// A process's peak resident memory so far (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The sample's header (up to its first page), its non-redirect pages and
/// its footer.
fn sample() -> (String, Vec<String>, String) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/realdata/enwiki_history_sample_xml/sample.xml"),
    )
    .unwrap();
    let first = text.find("  <page>").unwrap();
    let end = text.rfind("</mediawiki>").unwrap();
    let pages = text[first..end]
        .split_inclusive("</page>\n")
        .filter(|p| p.contains("<page>") && !p.contains("<redirect"))
        .map(str::to_owned)
        .collect();
    (text[..first].to_owned(), pages, text[end..].to_owned())
}

#[test]
fn a_dump_of_200_mb_imports_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (head, pages, foot) = sample();
    let path = dir.path().join("large.xml");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    file.write_all(head.as_bytes()).unwrap();
    let (mut written, mut copies, mut revisions) = (head.len(), 0u64, 0usize);
    while written < DUMP_BYTES {
        copies += 1;
        for page in &pages {
            // New ids: page and revision ids shifted by the copy, titles
            // numbered, so each copy is a page of its own.
            let copy = page
                .replace("<id>", &format!("<id>{copies}0"))
                .replace("<parentid>", &format!("<parentid>{copies}0"))
                .replace("</title>", &format!(" ({copies})</title>"));
            revisions += copy.matches("<revision>").count();
            written += copy.len();
            file.write_all(copy.as_bytes()).unwrap();
        }
    }
    file.write_all(foot.as_bytes()).unwrap();
    file.flush().unwrap();
    drop(file);
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!("dump: {size} bytes, {copies} copies of the sample's pages, {revisions} revisions");

    let data = dir.path().join("data");
    let served = Served::start(&data);
    let started = Instant::now();
    // GNU time reports the importer's peak resident memory once it ends.
    let output = Command::new(gnu_time())
        .args(["-f", "peak-rss-kib %M", env!("CARGO_BIN_EXE_answerlog")])
        .args([
            "import-history",
            "--format",
            "mediawiki",
            "--json",
            "--server",
        ])
        .arg(&served.url)
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server_kib = peak_rss_kib(served.pid()).expect("the server's memory");
    let importer_kib: u64 = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|k| k.trim().parse().ok())
        .expect("GNU time's report");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim()).unwrap();
    eprintln!(
        "imported in {:.1} s: {summary}\npeak resident memory: importer {} MiB, server {} MiB",
        took.as_secs_f64(),
        importer_kib / 1024,
        server_kib / 1024
    );
    let count = |key: &str| summary[key].as_u64().unwrap() as usize;
    assert_eq!(count("revisions"), revisions);
    let skipped: usize = summary["skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(
        count("commits") + skipped,
        revisions,
        "every revision accounted for"
    );
    assert!(
        importer_kib < MAX_RSS_KIB,
        "the importer held {importer_kib} KiB"
    );
    assert!(server_kib < MAX_RSS_KIB, "the server held {server_kib} KiB");
    served.kill();
}
