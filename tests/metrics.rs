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
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
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
    metrics_count_calls_by_method_and_code_and_time_appends,
    a_request_id_is_returned_or_generated
);
