//! `-o text|table|wide|json|yaml` (issue 19) through the real server: the
//! listing commands print tables under headers (wide with more columns),
//! the protobuf JSON mapping as JSON or YAML, times in RFC 3339 UTC; and
//! `NO_COLOR` turns off the diff's colours on a terminal.

use crate::support::{on_a_terminal, Backend, TestServer};

/// A CLI run that must succeed; its stdout.
async fn ok(server: &TestServer, args: &[&str]) -> String {
    let out = server.cli(args).await;
    assert!(out.success, "{args:?}: {}", out.stderr);
    out.stdout
}

/// The words of a table's header line.
fn header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn listings_print_as_tables_json_and_yaml() {
    let server = TestServer::start(Backend::Sled).await;
    let id = server.import_example().await;
    let slug = "what-causes-jmt";
    ok(
        &server,
        &["edit-question", slug, "What causes JMT?", "--reason", "r"],
    )
    .await;
    ok(&server, &["suggest", "Is it rare?"]).await;

    // list
    let table = ok(&server, &["list", "-o", "table"]).await;
    assert_eq!(
        header(&table),
        ["SLUG", "VERSION", "LAST", "UPDATED", "QUESTION"]
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], [slug, "2", "2026-04-04"], "{table}");
    let wide = ok(&server, &["list", "-o", "wide"]).await;
    assert!(
        header(&wide).ends_with(&["ID", "POSITION", "RECORDED"]),
        "{wide}"
    );
    let row = wide.lines().nth(1).unwrap();
    assert!(row.contains(&id), "{wide}");
    let recorded = row.split_whitespace().last().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(recorded).is_ok() && recorded.ends_with('Z'),
        "{recorded}"
    );
    let json = ok(&server, &["list", "-o", "json"]).await;
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["slug"], slug);
    assert_eq!(
        first["version"], "2",
        "uint64 as the JSON mapping writes it"
    );
    assert_eq!(
        ok(&server, &["list", "--json"]).await,
        json,
        "--json is -o json"
    );
    let yaml = ok(&server, &["list", "-o", "yaml"]).await;
    let parsed: Vec<serde_json::Value> = yaml_serde::from_str(&yaml).unwrap();
    assert_eq!(parsed, vec![first], "YAML holds the same mapping");

    // get
    let answer = ok(&server, &["get", slug, "-o", "yaml"]).await;
    let parsed: serde_json::Value = yaml_serde::from_str(&answer).unwrap();
    assert_eq!(
        (parsed["id"].as_str(), parsed["version"].as_str()),
        (Some(id.as_str()), Some("2"))
    );

    // history
    let table = ok(&server, &["history", slug, "-o", "table"]).await;
    assert_eq!(
        header(&table),
        ["VERSION", "POSITION", "RECORDED", "ACTOR", "EVENTS", "REASON"]
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("QuestionEdited"), "{table}");
    let yaml = ok(&server, &["history", slug, "-o", "yaml"]).await;
    let parsed: serde_json::Value = yaml_serde::from_str(&yaml).unwrap();
    assert_eq!(parsed["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(parsed["articleId"], id);

    // suggestions and commits
    let table = ok(&server, &["suggestions", "list", "-o", "wide"]).await;
    assert!(
        header(&table).starts_with(&["ID", "STATUS", "SUGGESTED", "BY"]),
        "{table}"
    );
    assert!(
        table.contains("Is it rare?") && table.contains("open"),
        "{table}"
    );
    let commits = ok(&server, &["audit", "commits", "-o", "yaml"]).await;
    let parsed: Vec<serde_json::Value> = yaml_serde::from_str(&commits).unwrap();
    assert_eq!(parsed.len(), 2);
    let table = ok(&server, &["audit", "commits", "-o", "table"]).await;
    assert_eq!(table.lines().count(), 3, "{table}");
    // -o and --json together are refused, naming both.
    let both = server.cli(&["list", "-o", "table", "--json"]).await;
    assert!(!both.success);
    assert!(
        both.stderr.contains("--json") && both.stderr.contains("--output"),
        "{}",
        both.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn no_color_turns_the_diffs_colours_off() {
    let server = TestServer::start(Backend::Sled).await;
    server.import_example().await;
    ok(
        &server,
        &[
            "edit-question",
            "what-causes-jmt",
            "What causes JMT?",
            "--reason",
            "r",
        ],
    )
    .await;
    let args = |url: &str| -> Vec<String> {
        ["diff", "what-causes-jmt", "1", "2", "--server", url]
            .map(str::to_owned)
            .to_vec()
    };
    let green = "\x1b[32m";
    let coloured = on_a_terminal(&args(&server.url), None).await;
    assert!(coloured.contains(green), "{coloured:?}");
    let plain = on_a_terminal(&args(&server.url), Some("1")).await;
    assert!(!plain.contains(green) && plain.contains("+"), "{plain:?}");
    // An empty NO_COLOR does not count (no-color.org).
    let empty = on_a_terminal(&args(&server.url), Some("")).await;
    assert!(empty.contains(green), "{empty:?}");
    server.stop().await;
}
