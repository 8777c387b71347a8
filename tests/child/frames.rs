//! Malformed gRPC frames are the client's fault (issue 14, item 19): sent
//! as raw HTTP/2 to the real binary, each gets the status gRPC's documents
//! give (UNIMPLEMENTED for a unary call with zero or two messages,
//! INVALID_ARGUMENT where they leave the choice, HTTP 415 for a content
//! type that is not gRPC's), and the server logs it as a refusal at INFO,
//! never as a server error at WARN.

use std::time::Duration;

use bytes::Bytes;
use tonic::codegen::http;

use crate::served::Served;

/// A name, a content type, a body, the HTTP status and grpc-status
/// expected, and what the message must say.
type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, i32, &'a str);

/// One 5-byte-prefixed gRPC message.
fn message(flag: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![flag];
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Sends `body` as the request of GetAnswer with `content_type`; the HTTP
/// status and the `grpc-status` (from the headers of a trailers-only
/// answer, or the trailers).
async fn send(addr: &str, content_type: &str, body: Vec<u8>) -> (u16, Option<i32>, String) {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("a connection");
    let (client, connection) = h2::client::handshake(tcp).await.expect("an h2 handshake");
    tokio::spawn(connection);
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::post(format!(
        "http://{addr}/answerlog.v1.AnswerService/GetAnswer"
    ))
    .header("content-type", content_type)
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut stream) = client
        .send_request(request, body.is_empty())
        .expect("a request");
    if !body.is_empty() {
        // The server may answer (and reset the stream) on the headers
        // alone, before the body is sent: the answer is what is checked.
        let _ = stream.send_data(Bytes::from(body), true);
    }
    let response = response.await.expect("a response");
    let http_status = response.status().as_u16();
    let grpc = |headers: &http::HeaderMap| {
        let code = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let message = headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (code, message)
    };
    let (mut code, mut said) = grpc(response.headers());
    if code.is_none() {
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            chunk.expect("a data frame");
        }
        if let Some(trailers) = body.trailers().await.expect("trailers") {
            (code, said) = grpc(&trailers);
        }
    }
    (http_status, code, said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_the_documented_status_and_are_logged_as_refusals() {
    let scratch = tempfile::tempdir().unwrap();
    let (server, log) = Served::spawn_recording(Served::command(&scratch.path().join("data")));
    let addr = server.url.trim_start_matches("http://").to_owned();
    let grpc = "application/grpc";
    let mut announced_100_sent_10 = message(0, &[1; 100]);
    announced_100_sent_10.truncate(15);
    let mut two = message(0, b"");
    two.extend(message(0, b""));
    // A GetAnswer request for a slug: field 2, "x".
    let request = [0x12, 0x01, b'x'];
    let cases: Vec<Case<'_>> = vec![
        (
            "a message cut short",
            grpc,
            announced_100_sent_10,
            200,
            3,
            "10 bytes into a message of 100",
        ),
        (
            "a prefix cut short",
            grpc,
            vec![0, 0, 0],
            200,
            3,
            "5-byte prefix",
        ),
        ("no message at all", grpc, Vec::new(), 200, 12, "held 0"),
        (
            "Compressed-Flag 2",
            grpc,
            message(2, &request),
            200,
            3,
            "Compressed-Flag is 2",
        ),
        ("two messages in a unary call", grpc, two, 200, 12, "held 2"),
        (
            "text/plain",
            "text/plain",
            message(0, &request),
            415,
            3,
            "must begin with application/grpc",
        ),
    ];
    for (name, content_type, body, http_status, code, says) in cases {
        let (got_http, got_code, said) = send(&addr, content_type, body).await;
        assert_eq!(got_http, http_status, "{name}: HTTP status");
        assert_eq!(got_code, Some(code), "{name}: grpc-status ({said})");
        let said = percent_decoded(&said);
        assert!(said.contains(says), "{name}: {said}");
    }
    // A well-formed call still works on the same server: NOT_FOUND (5).
    let (_, code, _) = send(&addr, grpc, message(0, &request)).await;
    assert_eq!(code, Some(5), "a well-formed GetAnswer of an unknown slug");

    // The server logged each as a refusal (INFO), none as a fault (WARN):
    // its log lines are waited for, up to a deadline.
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    let mut ended = Vec::new();
    while ended.len() < 7 {
        let left = give_up.saturating_duration_since(std::time::Instant::now());
        let line = log
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the calls were not all logged: {ended:#?}"));
        if line.contains("rpc ended") && line.contains("GetAnswer") {
            ended.push(line);
        }
    }
    for line in &ended {
        assert!(
            !line.contains("WARN"),
            "a client's fault logged as a server's: {line}"
        );
        assert!(!line.contains("INTERNAL"), "{line}");
    }
    // Six refusals, and the well-formed call's NOT_FOUND: all at INFO.
    let refusals = ended.iter().filter(|l| l.contains(" INFO ")).count();
    assert!(refusals >= 6, "refusals at INFO: {ended:#?}");
    server.kill();
}

/// `grpc-message` is percent-encoded.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 14, item 20: the server raises its soft limit of open files to
/// the hard limit (the default soft limit, 1,024, is a few hundred idle
/// connections away from refusing everyone).
#[test]
fn the_server_raises_its_open_files_limit_to_the_hard_limit() {
    let scratch = tempfile::tempdir().unwrap();
    // Started with a soft limit of 512, below any hard limit here.
    let serve = Served::command(&scratch.path().join("data"));
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -Sn 512 && exec \"$0\" \"$@\"")
        .arg(serve.get_program())
        .args(serve.get_args())
        .env("RUST_LOG", "info")
        .env_remove("ANSWERLOG_CONFIG");
    let server = Served::spawn(command);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open-files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_ne!(numbers[0], "512", "the soft limit was not raised: {line}");
    assert_eq!(numbers[0], numbers[1], "soft limit = hard limit: {line}");
    server.kill();
}
