//! TLS and mTLS through the real server: certificates made for the test
//! (rcgen), a server that speaks only TLS, client certificates verified
//! against a CA with the subject as principal, and the CLI over TLS.

use std::path::Path;
use std::sync::Arc;

use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::*;
use answerlog::{AppOptions, Principals, Role, ServerOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::Code;

use crate::backend_tests;
use crate::metrics::http_get;
use crate::support::{cid, cli, Backend, TestServer};

backend_tests!(
    probes_answer_plain_http_while_grpc_speaks_only_tls,
    a_tls_server_refuses_plaintext_and_serves_its_clients,
    mtls_admits_certificates_of_its_ca_and_names_their_subject,
    the_json_api_speaks_tls_with_the_servers_certificate,
);

/// A certificate authority that signs certificates for the test.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, PEM.
struct Pair {
    cert: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    fn server(&self) -> Pair {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    fn client(&self, common_name: &str) -> Pair {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn server_tls(ca: &Authority, client_ca: Option<&Authority>) -> ServerTlsConfig {
    let pair = ca.server();
    let config = ServerTlsConfig::new().identity(Identity::from_pem(pair.cert, pair.key));
    match client_ca {
        Some(client_ca) => config.client_ca_root(Certificate::from_pem(&client_ca.pem)),
        None => config,
    }
}

async fn start(backend: Backend, tls: ServerTlsConfig, principals: Option<&Path>) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let options = ServerOptions {
        tls: Some(tls),
        principals: Arc::new(match principals {
            Some(file) => Principals::load(file).unwrap(),
            None => Principals::development(),
        }),
        ..ServerOptions::default()
    };
    TestServer::start_full(backend, dir, AppOptions::default(), options).await
}

/// A TLS channel that trusts `ca`, presenting `identity` if given.
async fn tls_channel(
    server: &TestServer,
    ca: &Authority,
    identity: Option<&Pair>,
) -> Result<Channel, tonic::transport::Error> {
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.pem))
        .domain_name("localhost");
    if let Some(pair) = identity {
        config = config.identity(Identity::from_pem(&pair.cert, &pair.key));
    }
    Channel::from_shared(format!("https://127.0.0.1:{}", server.addr.port()))
        .unwrap()
        .tls_config(config)?
        .connect()
        .await
}

fn draft(question: &str) -> CreateArticleRequest {
    CreateArticleRequest {
        command_id: cid(),
        reason: "test".into(),
        article: Some(ArticleDraft {
            question: question.into(),
            quick_answer: "A.".into(),
            last_updated: "2026-01-01".into(),
            ..Default::default()
        }),
    }
}

/// A call on `channel` fails, at the handshake or as the first call.
async fn refused(channel: Result<Channel, tonic::transport::Error>) -> String {
    match channel {
        Err(e) => format!("connect: {e}"),
        Ok(channel) => {
            let status = AnswerServiceClient::new(channel)
                .get_answer(GetAnswerRequest {
                    r#ref: Some(get_answer_request::Ref::Slug("x".into())),
                    ..Default::default()
                })
                .await
                .expect_err("the call must fail");
            assert_ne!(status.code(), Code::NotFound, "{status:?}");
            format!("call: {status:?}")
        }
    }
}

/// Kubernetes' gRPC probe speaks no TLS: the metrics listener answers
/// probes in plain HTTP (`/livez`, `/readyz`) whatever gRPC speaks, and
/// `/readyz` says 503 once the server drains.
async fn probes_answer_plain_http_while_grpc_speaks_only_tls(backend: Backend) {
    let ca = Authority::new("answerlog test CA");
    let server = start(backend, server_tls(&ca, None), None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let probes = listener.local_addr().unwrap();
    let listening = tokio::spawn(answerlog::serve_metrics(
        listener,
        Arc::clone(&server.app),
        std::future::pending(),
    ));
    let plain = Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await;
    println!("plaintext gRPC: {}", refused(plain).await);
    assert_eq!(
        http_get(probes, "/livez").await,
        ("HTTP/1.1 200 OK".to_owned(), "ok\n".to_owned())
    );
    assert_eq!(
        http_get(probes, "/readyz").await,
        ("HTTP/1.1 200 OK".to_owned(), "serving\n".to_owned())
    );
    let (status, _) = http_get(probes, "/nothing").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    // Draining: not ready, still alive.
    server.app.stop_streams();
    assert_eq!(
        http_get(probes, "/readyz").await,
        (
            "HTTP/1.1 503 Service Unavailable".to_owned(),
            "draining\n".to_owned()
        )
    );
    assert_eq!(http_get(probes, "/livez").await.0, "HTTP/1.1 200 OK");
    listening.abort();
    server.stop().await;
}

async fn a_tls_server_refuses_plaintext_and_serves_its_clients(backend: Backend) {
    let ca = Authority::new("answerlog test CA");
    let server = start(backend, server_tls(&ca, None), None).await;

    let channel = tls_channel(&server, &ca, None)
        .await
        .expect("a TLS channel");
    let written = ArticleServiceClient::new(channel.clone())
        .create_article(draft("Why is TLS on"))
        .await
        .expect("a write over TLS")
        .into_inner();
    assert_eq!(written.version, 1);

    // Plaintext HTTP/2 to a TLS port gets nowhere.
    let plain = Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await;
    println!("plaintext: {}", refused(plain).await);
    // A client that trusts another CA does not accept the server.
    let stranger = Authority::new("another CA");
    println!(
        "untrusted server: {}",
        refused(tls_channel(&server, &stranger, None).await).await
    );

    // The CLI speaks TLS with --ca and an https:// URL.
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let out = cli(vec![
        "get".into(),
        written.article_id.clone(),
        "--server".into(),
        url.clone(),
        "--ca".into(),
        ca_file.display().to_string(),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("Why is TLS on"), "{}", out.stdout);
    // Without --ca the system's trusted CAs are used, which do not know
    // the test CA: refused, saying so.
    let out = cli(vec![
        "get".into(),
        written.article_id,
        "--server".into(),
        url,
    ])
    .await;
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("the system's trusted CAs, as no --ca was given"),
        "{}",
        out.stderr
    );
    server.stop().await;
}

async fn mtls_admits_certificates_of_its_ca_and_names_their_subject(backend: Backend) {
    let ca = Authority::new("answerlog test CA");
    let clients = Authority::new("answerlog client CA");
    let dir = tempfile::tempdir().unwrap();
    let (auditor_token, auditor_entry) = answerlog::new_token("auditor", Role::Auditor).unwrap();
    let principals = dir.path().join("principals.toml");
    std::fs::write(
        &principals,
        format!(
            "[[principal]]\nname = \"ingest\"\nrole = \"writer\"\nsubject = \"CN=ingest, O=Example\"\n\n{auditor_entry}"
        ),
    )
    .unwrap();
    let server = start(backend, server_tls(&ca, Some(&clients)), Some(&principals)).await;

    // A certificate of the client CA whose subject is a principal's: its
    // writes are recorded under that principal's name.
    let ingest = clients.client("ingest");
    let channel = tls_channel(&server, &ca, Some(&ingest))
        .await
        .expect("an mTLS channel");
    let written = ArticleServiceClient::new(channel.clone())
        .create_article(draft("Who wrote this"))
        .await
        .expect("a write by certificate")
        .into_inner();
    // The writer may not run the log-wide audit queries; a bearer token on
    // the same connection speaks for its own principal.
    let denied = AuditServiceClient::new(channel.clone())
        .list_commits(ListCommitsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let mut request = tonic::Request::new(ListCommitsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {auditor_token}").parse().unwrap(),
    );
    let commits = AuditServiceClient::new(channel)
        .list_commits(request)
        .await
        .expect("the auditor's token")
        .into_inner()
        .commits;
    assert_eq!(commits[0].revision.as_ref().unwrap().actor, "ingest");
    assert_eq!(commits[0].article_id, written.article_id);

    // A certificate of the right CA whose subject is nobody's.
    let stranger = clients.client("stranger");
    let channel = tls_channel(&server, &ca, Some(&stranger))
        .await
        .expect("the handshake succeeds");
    let status = ArticleServiceClient::new(channel)
        .create_article(draft("Who is this"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("CN=stranger, O=Example"),
        "{status:?}"
    );

    // No certificate, or one from another CA: no connection.
    println!(
        "no certificate: {}",
        refused(tls_channel(&server, &ca, None).await).await
    );
    let rogue = Authority::new("rogue CA").client("ingest");
    println!(
        "rogue certificate: {}",
        refused(tls_channel(&server, &ca, Some(&rogue)).await).await
    );

    // The CLI presents its certificate with --cert and --key.
    let files = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("ca.pem", &ca.pem),
        ("ingest.pem", &ingest.cert),
        ("ingest.key", &ingest.key),
    ] {
        std::fs::write(files.path().join(name), text).unwrap();
    }
    let path = |name: &str| files.path().join(name).display().to_string();
    let out = cli(vec![
        "redate".into(),
        written.article_id.clone(),
        "2026-01-02".into(),
        "--reason".into(),
        "Checked over mTLS".into(),
        "--expected-version".into(),
        "1".into(),
        "--server".into(),
        format!("https://127.0.0.1:{}", server.addr.port()),
        "--ca".into(),
        path("ca.pem"),
        "--cert".into(),
        path("ingest.pem"),
        "--key".into(),
        path("ingest.key"),
    ])
    .await;
    assert!(out.success, "{}", out.stderr);
    server.stop().await;
}

/// One HTTPS request over a fresh connection that trusts `ca`: the whole
/// answer as text (status line, headers, body).
async fn https_get(url: &str, ca: &Authority, path: &str) -> String {
    use rustls::pki_types::pem::PemObject as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server may close without a close_notify once it has answered.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The JSON API's listener speaks TLS with the gRPC listener's certificate
/// (so a non-loopback `http_listen` is allowed only with TLS), and a plain
/// HTTP request to it gets no HTTP answer.
async fn the_json_api_speaks_tls_with_the_servers_certificate(backend: Backend) {
    let ca = Authority::new("Test CA");
    let pair = ca.server();
    let options = ServerOptions {
        tls: Some(ServerTlsConfig::new().identity(Identity::from_pem(&pair.cert, &pair.key))),
        http_tls: Some(answerlog::http_config(pair.cert.as_bytes(), pair.key.as_bytes()).unwrap()),
        ..ServerOptions::default()
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_full(backend, dir, AppOptions::default(), options).await;
    let answer = https_get(&server.http_url, &ca, "/api/v1/openapi.json").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert!(answer.contains("\"openapi\":\"3.1.0\""), "{answer:.200}");
    // Plain HTTP on the TLS port: no HTTP answer comes back.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut plain = tokio::net::TcpStream::connect(server.http_url.trim_start_matches("http://"))
        .await
        .unwrap();
    plain
        .write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    server.stop().await;
}
