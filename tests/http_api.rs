//! The JSON API (issue 17) through the real server's HTTP listener: the
//! same services, rules, roles and statuses as gRPC, its bodies the
//! protobuf JSON mapping, its refusals the gRPC status's code, message and
//! field violations under one table of HTTP statuses, and its OpenAPI
//! document generated from the descriptors.

use answerlog::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::support::{cid, http, Backend, TestServer};

backend_tests!(
    the_json_api_writes_and_reads_as_grpc_does,
    the_json_api_refuses_as_grpc_does_naming_the_field,
    the_json_api_checks_the_same_roles,
    a_kept_alive_connection_is_closed_by_the_stop,
);

/// One call: the status and the body as JSON.
async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, text) = http(&server.http_url, method, path, &headers, body.as_bytes()).await;
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: {status} {text:?} is not JSON: {e}"));
    (status, value)
}

/// A GET by `token` that must succeed: its body.
async fn get(server: &TestServer, path: &str, token: Option<&str>) -> Value {
    let (status, body) = call(server, "GET", path, token, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn draft(question: &str) -> Value {
    json!({
        "question": question,
        "quickAnswer": "First.",
        "lastUpdated": "2026-01-02",
        "sections": [{"heading": "Body", "body": "Text."}],
    })
}

async fn the_json_api_writes_and_reads_as_grpc_does(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, created) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/CreateArticle",
        None,
        Some(json!({"commandId": cid(), "reason": "new", "article": draft("What is a JSON API")})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["articleId"].as_str().unwrap().to_owned();
    assert_eq!(created["version"], "1", "uint64 is a string: {created}");

    // Read your write, by slug and by id.
    let answer = get(&server, "/api/v1/answers/what-is-a-json-api", None).await;
    assert_eq!(answer["answer"]["question"], "What is a JSON API");
    assert_eq!(answer["answer"]["id"], id.as_str());
    let (status, by_id) = call(&server, "GET", &format!("/api/v1/answers/{id}"), None, None).await;
    assert_eq!((status, &by_id["answer"]), (200, &answer["answer"]));

    // A write with its expected version; then the first version, as of it.
    let command = cid();
    let edit = json!({
        "articleId": id, "expectedVersion": "1", "commandId": command,
        "reason": "shorter", "quickAnswer": "Second.",
    });
    let (status, edited) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/EditQuickAnswer",
        None,
        Some(edit.clone()),
    )
    .await;
    assert_eq!(
        (status, edited["version"].as_str()),
        (200, Some("2")),
        "{edited}"
    );
    // The same command again is a retry: the original's answer.
    let (status, again) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/EditQuickAnswer",
        None,
        Some(edit),
    )
    .await;
    assert_eq!(
        (status, &again["version"]),
        (200, &edited["version"]),
        "{again}"
    );
    let first = get(
        &server,
        "/api/v1/answers/what-is-a-json-api?version=1",
        None,
    )
    .await;
    assert_eq!(first["answer"]["quickAnswer"], "First.");
    let now = get(&server, "/api/v1/answers/what-is-a-json-api", None).await;
    assert_eq!(now["answer"]["quickAnswer"], "Second.");

    // History, diff, blame, the list, the checkpoint and a proof.
    let revisions = get(&server, &format!("/api/v1/articles/{id}/revisions"), None).await;
    let reasons: Vec<&str> = revisions["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["new", "shorter"]);
    let (status, revision) = call(
        &server,
        "GET",
        &format!("/api/v1/articles/{id}/revisions/2"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, revision["events"][0]["kind"].as_str()),
        (200, Some("QuickAnswerEdited")),
        "{revision}"
    );
    let diff = get(
        &server,
        &format!("/api/v1/articles/{id}/diff?from_version=1&to_version=2"),
        None,
    )
    .await;
    assert!(diff.to_string().contains("Second."), "{diff}");
    let blame = get(&server, &format!("/api/v1/articles/{id}/attribution"), None).await;
    let quick = blame["attributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["element"] == "quick_answer")
        .expect("the quick answer's line");
    assert_eq!(quick["lastChanged"]["version"], "2", "{blame}");
    assert_eq!(quick["lastChanged"]["reason"], "shorter", "{blame}");
    let (status, list) = call(&server, "GET", "/api/v1/answers?page_size=10", None, None).await;
    assert_eq!(
        (status, list["answers"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{list}"
    );
    let checkpoint = get(&server, "/api/v1/checkpoint", None).await;
    assert_eq!(checkpoint["treeSize"], "2", "{checkpoint}");
    let proof = get(&server, "/api/v1/consistency?old_size=1&new_size=2", None).await;
    // One hash for a tree of 2 over its first leaf: base64 of 32 bytes.
    assert_eq!(proof["hashes"].as_array().map(Vec::len), Some(1), "{proof}");
    assert_eq!(
        proof["hashes"][0].as_str().map(str::len),
        Some(44),
        "{proof}"
    );
    let (status, commits) = call(
        &server,
        "GET",
        "/api/v1/commits?event_kinds=QuickAnswerEdited",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, commits["commits"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{commits}"
    );

    // The OpenAPI document is served, and names what was just called.
    let (status, openapi) = call(&server, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!((status, openapi["openapi"].as_str()), (200, Some("3.1.0")));
    for path in [
        "/api/v1/answers/{ref}",
        "/api/v1/ArticleService/EditQuickAnswer",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path}");
    }
    server.stop().await;
}

async fn the_json_api_refuses_as_grpc_does_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A field the service refuses: 400 with gRPC's field violations.
    let mut bad = draft("What is refused");
    bad["slug"] = json!("Not A Slug");
    let (status, refused) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/CreateArticle",
        None,
        Some(json!({"commandId": cid(), "reason": "x", "article": bad})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("INVALID_ARGUMENT")),
        "{refused}"
    );
    assert_eq!(
        refused["fieldViolations"][0]["field"], "article.slug",
        "{refused}"
    );

    // A stale expected version: 409, and the version it stands at.
    let (_, created) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/CreateArticle",
        None,
        Some(json!({"commandId": cid(), "reason": "x", "article": draft("What is stale")})),
    )
    .await;
    let id = created["articleId"].as_str().unwrap();
    let (status, stale) = call(
        &server,
        "POST",
        "/api/v1/ArticleService/EditQuickAnswer",
        None,
        Some(json!({"articleId": id, "expectedVersion": "7", "commandId": cid(), "reason": "x", "quickAnswer": "No."})),
    )
    .await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (409, Some("ABORTED")),
        "{stale}"
    );
    assert_eq!(
        stale["errorInfo"]["metadata"]["current_version"], "1",
        "{stale}"
    );

    // Not found, by slug.
    let (status, missing) = call(
        &server,
        "GET",
        "/api/v1/answers/no-such-article",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{missing}"
    );

    // What the edge itself refuses, each named.
    for (method, path, body, expected, field) in [
        (
            "POST",
            "/api/v1/ArticleService/CreateArticle",
            "{not json",
            400,
            Some("body"),
        ),
        (
            "POST",
            "/api/v1/ArticleService/CreateArticle",
            r#"{"colour": "red"}"#,
            400,
            Some("body"),
        ),
        (
            "GET",
            "/api/v1/answers/x?colour=red",
            "",
            400,
            Some("colour"),
        ),
        (
            "GET",
            "/api/v1/answers/x?version=three",
            "",
            400,
            Some("version"),
        ),
        (
            "GET",
            "/api/v1/answers/x?receipt=maybe",
            "",
            400,
            Some("receipt"),
        ),
        (
            "GET",
            "/api/v1/answers?page_size=3000000000",
            "",
            400,
            Some("page_size"),
        ),
        ("POST", "/api/v1/AuditService/StreamEvents", "{}", 404, None),
        ("POST", "/api/v1/NoService/Nothing", "{}", 404, None),
        ("GET", "/api/v1/ArticleService/CreateArticle", "", 405, None),
        ("POST", "/api/v1/answers/x", "", 405, None),
        ("GET", "/api/elsewhere", "", 404, None),
    ] {
        let json = [("Content-Type", "application/json")];
        let (status, text) = http(&server.http_url, method, path, &json, body.as_bytes()).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        let refused: Value = serde_json::from_str(&text).unwrap();
        assert!(refused["code"].is_string(), "{method} {path}: {text}");
        if let Some(field) = field {
            assert_eq!(
                refused["fieldViolations"][0]["field"], field,
                "{method} {path}: {text}"
            );
        }
    }
    // A body over twice the request limit (1 MiB by default: JSON spells
    // more than the message it makes).
    let big = format!(r#"{{"question": "{}"}}"#, "x".repeat(2_200_000));
    let json = [("Content-Type", "application/json")];
    let edit = "/api/v1/ArticleService/EditQuestion";
    let (status, text) = http(&server.http_url, "POST", edit, &json, big.as_bytes()).await;
    assert_eq!(status, 413, "{text}");
    // A bounded wait ends within the caller's Grpc-Timeout: 504.
    let soon = [("Grpc-Timeout", "300m")];
    let started = std::time::Instant::now();
    let (status, text) = http(
        &server.http_url,
        "GET",
        "/api/v1/answers?min_position=999",
        &soon,
        b"",
    )
    .await;
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("DEADLINE_EXCEEDED"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // A POST that is not JSON, which a web page could send unasked; a
    // request to another name than localhost (DNS rebinding).
    let form = [("Content-Type", "text/plain")];
    let (status, text) = http(&server.http_url, "POST", edit, &form, b"{}").await;
    assert_eq!(status, 415, "{text}");
    let elsewhere = [("Host", "attacker.example:8080")];
    let (status, text) = http(&server.http_url, "GET", "/api/v1/answers", &elsewhere, b"").await;
    assert_eq!(status, 421, "{text}");
    server.stop().await;
}

async fn the_json_api_checks_the_same_roles(backend: Backend) {
    let (server, tokens) =
        TestServer::start_with_tokens(backend, &[("rita", Role::Reader), ("wanda", Role::Writer)])
            .await;
    let (reader, writer) = (tokens[0].as_str(), tokens[1].as_str());
    let create = || json!({"commandId": cid(), "reason": "x", "article": draft("What is a role")});
    let path = "/api/v1/ArticleService/CreateArticle";
    let (status, body) = call(&server, "POST", path, None, Some(create())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{body}"
    );
    let (status, body) = call(&server, "POST", path, Some("not-a-token"), Some(create())).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = call(&server, "POST", path, Some(reader), Some(create())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("PERMISSION_DENIED")),
        "{body}"
    );
    let (status, created) = call(&server, "POST", path, Some(writer), Some(create())).await;
    assert_eq!(status, 200, "{created}");
    let id = created["articleId"].as_str().unwrap();
    // The actor is the token's principal, as over gRPC.
    let (_, revisions) = call(
        &server,
        "GET",
        &format!("/api/v1/articles/{id}/revisions"),
        Some(writer),
        None,
    )
    .await;
    assert_eq!(revisions["revisions"][0]["actor"], "wanda", "{revisions}");
    // A reader reads answers, not history.
    let (status, _) = call(
        &server,
        "GET",
        "/api/v1/answers/what-is-a-role",
        Some(reader),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &server,
        "GET",
        &format!("/api/v1/articles/{id}/revisions"),
        Some(reader),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // The OpenAPI document needs no token.
    let (status, _) = call(&server, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// A client that keeps its connection open between requests does not
/// hold the server's stop, and its connection is closed by it: no call
/// reaches the app once the drain began.
async fn a_kept_alive_connection_is_closed_by_the_stop(backend: Backend) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = TestServer::start(backend).await;
    let addr = server.http_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /api/v1/checkpoint HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The whole first answer, its length from its header.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = |answer: &[u8]| {
        let text = String::from_utf8_lossy(answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap();
        body.len() >= length
    };
    while !complete(&answer) {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed before its answer");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // The connection stays open; the stop completes all the same.
    server.stop().await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}
