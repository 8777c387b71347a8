//! `/metrics` after some calls: per-method counters by status code, the
//! latency histograms, the writer's figures; and request ids.

use std::sync::Arc;

use answerlog::pb::{
    get_answer_request, ArticleDraft, CreateArticleRequest, EditQuickAnswerRequest,
    GetAnswerRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::backend_tests;
use crate::support::{cid, create_article, Backend, TestServer};

/// One plain HTTP/1.1 GET: the status line and the body.
pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The value of the sample on the line that starts with `series `.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

fn handled(service: &str, method: &str, code: &str) -> String {
    format!(
        "grpc_server_handled_total{{grpc_service=\"answerlog.v1.{service}\",grpc_method=\"{method}\",grpc_type=\"unary\",grpc_code=\"{code}\"}}"
    )
}

async fn metrics_count_calls_by_method_and_code_and_time_appends(backend: Backend) {
    let server = TestServer::start(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_at = listener.local_addr().unwrap();
    let scraper = tokio::spawn(answerlog::serve_metrics(
        listener,
        Arc::clone(&server.app),
        std::future::pending(),
    ));

    // Three articles, one refused creation, two edits, one unknown read.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(create_article(&server, n).await);
    }
    let mut articles = server.articles().await;
    let refused = articles
        .create_article(CreateArticleRequest {
            command_id: cid(),
            reason: "test".into(),
            article: Some(ArticleDraft::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    for version in 1..=2 {
        articles
            .edit_quick_answer(EditQuickAnswerRequest {
                article_id: ids[0].clone(),
                expected_version: version,
                command_id: cid(),
                reason: "test".into(),
                quick_answer: format!("Answer {version}."),
            })
            .await
            .unwrap();
    }
    let missing = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("no-such-article".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // A checkpoint of the five commits: the tree holds them.
    assert_eq!(server.checkpoint().await.tree_size, 5);
    let (status, text) = http_get(metrics_at, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    for (series, want) in [
        (handled("ArticleService", "CreateArticle", "OK"), 3.0),
        (handled("ArticleService", "CreateArticle", "INVALID_ARGUMENT"), 1.0),
        (handled("ArticleService", "EditQuickAnswer", "OK"), 2.0),
        (handled("AnswerService", "GetAnswer", "NOT_FOUND"), 1.0),
        (
            "grpc_server_handling_seconds_count{grpc_service=\"answerlog.v1.ArticleService\",grpc_method=\"CreateArticle\",grpc_type=\"unary\"}".to_owned(),
            4.0,
        ),
        (
            "grpc_server_started_total{grpc_service=\"answerlog.v1.ArticleService\",grpc_method=\"EditQuickAnswer\",grpc_type=\"unary\"}".to_owned(),
            2.0,
        ),
        // Five commits made durable, each timed from the writer's queue.
        ("answerlog_append_duration_seconds_count".to_owned(), 5.0),
        ("answerlog_append_batch_commits_sum".to_owned(), 5.0),
        ("answerlog_commits".to_owned(), 5.0),
        ("answerlog_articles".to_owned(), 3.0),
        ("answerlog_stream_subscribers".to_owned(), 0.0),
        ("answerlog_merkle_tree_leaves".to_owned(), 5.0),
        ("answerlog_checkpoint_tree_size".to_owned(), 5.0),
        ("answerlog_checkpoint_refused".to_owned(), 0.0),
        // Every wait for the read models ended with its call.
        ("answerlog_reads_waiting".to_owned(), 0.0),
    ] {
        assert_eq!(sample(&text, &series), want, "{series}");
    }
    // Each batch is flushed on sled; a replica defers its flushes (the
    // stream is the durable copy).
    if backend == Backend::Sled {
        assert!(sample(&text, "answerlog_flush_duration_seconds_count") >= 5.0);
    }
    assert!(sample(&text, "answerlog_store_disk_bytes") > 0.0);
    // The append-latency histogram has its buckets.
    assert!(
        text.lines()
            .any(|l| l.starts_with("answerlog_append_duration_seconds_bucket{le=\"+Inf\"} 5")),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    let (status, _) = http_get(metrics_at, "/other").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    scraper.abort();
    let _ = scraper.await;
    server.stop().await;
}

/// The series names a scrape can hold: each family's (`# TYPE` lines,
/// even with no sample yet) with its kind's suffixes.
fn series_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        for suffix in suffixes {
            names.insert(format!("{name}{suffix}"));
        }
    }
    names
}

/// deploy/grafana/answerlog.json: every panel's query names only metrics
/// the server exports (with build_info and the process's figures).
async fn the_dashboard_queries_metrics_the_server_exports(backend: Backend) {
    let server = TestServer::start(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_at = listener.local_addr().unwrap();
    let scraper = tokio::spawn(answerlog::serve_metrics(
        listener,
        Arc::clone(&server.app),
        std::future::pending(),
    ));
    // One call: a family with labels shows once it has a sample.
    create_article(&server, 1).await;
    let (status, text) = http_get(metrics_at, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let exported = series_names(&text);
    // What the binary is, and the process's own figures.
    let build = text
        .lines()
        .find(|l| l.starts_with("answerlog_build_info{"))
        .unwrap_or_else(|| panic!("answerlog_build_info in {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("api=\"answerlog.v1\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    assert!(sample(&text, "process_resident_memory_bytes") > 0.0);
    assert!(sample(&text, "process_open_fds") > 0.0);

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/answerlog.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Metric names: identifiers of our three families, not label
            // names or functions.
            let mut word = String::new();
            for c in expr.chars().chain(std::iter::once(' ')) {
                if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                    word.push(c);
                    continue;
                }
                if ["answerlog_", "grpc_server_", "process_"]
                    .iter()
                    .any(|p| word.starts_with(p))
                {
                    queried.insert(std::mem::take(&mut word));
                }
                word.clear();
            }
        }
    }
    assert!(queried.len() >= 20, "{queried:?}");
    // The witnesses' families show once a witness is configured
    // (tests/witness.rs scrapes them); the rest shows here.
    const WITH_WITNESSES: [&str; 1] = ["answerlog_witness_failures_total"];
    let missing: Vec<&String> = queried
        .iter()
        .filter(|q| !exported.contains(*q) && !WITH_WITNESSES.contains(&q.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which the server does not export"
    );
    scraper.abort();
    server.stop().await;
}

async fn a_request_id_is_returned_or_generated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut answers = server.answers().await;
    let read = |id: Option<&str>| {
        let mut request = tonic::Request::new(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Slug("nothing-here".into())),
            ..Default::default()
        });
        if let Some(id) = id {
            request
                .metadata_mut()
                .insert("x-request-id", id.parse().unwrap());
        }
        request
    };
    let given = answers
        .get_answer(read(Some("trace-42")))
        .await
        .unwrap_err();
    assert_eq!(
        given
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        "trace-42"
    );
    let generated = answers.get_answer(read(None)).await.unwrap_err();
    let id = generated
        .metadata()
        .get("x-request-id")
        .expect("a generated request id")
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    server.stop().await;
}

backend_tests!(
    the_dashboard_queries_metrics_the_server_exports,
    metrics_count_calls_by_method_and_code_and_time_appends,
    a_request_id_is_returned_or_generated
);
