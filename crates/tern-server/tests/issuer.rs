//! The issuer endpoints over real HTTP(S) on an ephemeral port: headers, bodies, conditional
//! requests, path-prefixed issuers, document replacement and TLS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tern_identity::{ClaimPolicy, IssuerDocuments, KeyRing, SigningKey};
use tern_server::{CachePolicy, IssuerState, ServeOptions, TlsError, app, load_tls, serve};
use tern_types::IssuerUrl;
use tokio::sync::oneshot;

fn documents(issuer: &str, keys: &[&str]) -> IssuerDocuments {
    let key = |f: &str| SigningKey::from_pem(&tern_testkit::read_key_fixture(f)).unwrap();
    let ring =
        KeyRing::new(key(keys[0]), keys[1..].iter().map(|f| key(f).public_jwk().clone()).collect()).unwrap();
    IssuerDocuments::build(&IssuerUrl::parse(issuer).unwrap(), &ring, &ClaimPolicy::default())
}

struct Running {
    base: String,
    state: Arc<IssuerState>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap();
    }
}

async fn start(docs: &IssuerDocuments, path: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let host = if tls.is_some() { "localhost" } else { "127.0.0.1" };
    let state = Arc::new(IssuerState::new(docs, CachePolicy::default()));
    let (tx, rx) = oneshot::channel::<()>();
    let router = app(state.clone(), path);
    let task = tokio::spawn(async move {
        let options = ServeOptions { header_read_timeout: Duration::from_secs(1), ..ServeOptions::default() };
        serve(listener, tls, router, options, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { base: format!("{scheme}://{host}:{port}"), state, stop: Some(tx), task }
}

#[tokio::test]
async fn discovery_and_jwks_are_served_with_cache_headers() {
    let docs = documents("https://tern.example.com", &["rsa-2048.pem"]);
    let server = start(&docs, "", None).await;
    let client = reqwest::Client::new();
    for (path, body, etag, max_age) in [
        ("/.well-known/openid-configuration", docs.discovery(), docs.discovery_etag(), 3600),
        ("/.well-known/jwks", docs.jwks(), docs.jwks_etag(), 300),
    ] {
        let resp = client.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "application/json", "{path}");
        assert_eq!(h["cache-control"], format!("public, max-age={max_age}").as_str(), "{path}");
        assert_eq!(h["etag"], etag, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), body, "{path}: the pre-serialised bytes");

        // Conditional requests: 304 without a body, headers kept.
        for (inm, status) in [(etag.to_owned(), 304), (format!("W/{etag}"), 304), ("\"other\"".into(), 200)] {
            let resp = client
                .get(format!("{}{path}", server.base))
                .header("if-none-match", inm.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), status, "{path} If-None-Match {inm}");
            assert_eq!(resp.headers()["etag"], etag);
            if status == 304 {
                assert!(resp.bytes().await.unwrap().is_empty());
            }
        }
        // HEAD works and carries the same headers.
        let resp = client.head(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["etag"], etag);
        // Writing is not a thing here.
        let resp = client.post(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    server.stop().await;
}

#[tokio::test]
async fn health_and_not_found() {
    let docs = documents("https://tern.example.com", &["rsa-2048.pem"]);
    let server = start(&docs, "", None).await;
    let resp = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "{\"status\":\"ok\"}\n");

    let resp = reqwest::get(format!("{}/.well-known/jwks.json", server.base)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["content-type"], "application/vnd.api+json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "404");
    assert_eq!(body["errors"][0]["detail"], "no resource at /.well-known/jwks.json");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let docs = documents("https://tern.example.com", &["rsa-2048.pem"]);
    let server = start(&docs, "", None).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /.well-known/jwks HTTP/1.1\r\nHost: x\r\n").unwrap(); // never ends
        let started = Instant::now();
        let mut buf = [0u8; 512];
        let _ = stream.read(&mut buf); // EOF (or an error response) when the server gives up
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after < Duration::from_secs(5), "slow client held the connection for {closed_after:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_issuer_with_a_path_is_served_under_it() {
    let docs = documents("https://tern.example.com/tern", &["rsa-2048.pem"]);
    let server = start(&docs, "/tern", None).await;
    for path in ["/tern/.well-known/openid-configuration", "/tern/.well-known/jwks", "/.well-known/jwks"] {
        let resp = reqwest::get(format!("{}{path}", server.base)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let discovery: serde_json::Value =
        reqwest::get(format!("{}/tern/.well-known/openid-configuration", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["jwks_uri"], "https://tern.example.com/tern/.well-known/jwks");
    server.stop().await;
}

#[tokio::test]
async fn replaced_documents_are_served_at_once() {
    let before = documents("https://tern.example.com", &["rsa-2048.pem"]);
    let after = documents("https://tern.example.com", &["rsa-2048.pem", "rsa-2048-second.pem"]);
    let server = start(&before, "", None).await;
    let url = format!("{}/.well-known/jwks", server.base);
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag(&reqwest::get(&url).await.unwrap()), before.jwks_etag());
    server.state.replace(&after);
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(etag(&resp), after.jwks_etag());
    let jwks: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tern_testkit::tls::TestCa::generate(dir.path());
    let docs = documents("https://localhost", &["ec-p256.pem"]);
    let server = start(&docs, "", Some(load_tls(&ca.server_cert, &ca.server_key).unwrap())).await;
    assert!(server.base.starts_with("https://localhost:"));
    let ca_pem = std::fs::read(&ca.ca_cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).unwrap()])
        .build()
        .unwrap();
    let resp = client.get(format!("{}/.well-known/jwks", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), docs.jwks());
    // A client that does not trust the CA is refused.
    let untrusting = reqwest::Client::builder().tls_certs_only([]).build().unwrap();
    assert!(untrusting.get(format!("{}/healthz", server.base)).send().await.is_err());
    server.stop().await;
}

#[test]
fn tls_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tern_testkit::tls::TestCa::generate(dir.path());
    let missing = dir.path().join("missing.pem");
    let other = tern_testkit::key_fixture("rsa-2048.pem");
    type Case<'a> = (&'a std::path::Path, &'a std::path::Path, fn(&TlsError) -> bool);
    let cases: Vec<Case> = vec![
        (&missing, &ca.server_key, |e| matches!(e, TlsError::Read { what: "certificate", .. })),
        (&ca.server_cert, &missing, |e| matches!(e, TlsError::Read { what: "key", .. })),
        (&ca.server_key, &ca.server_key, |e| matches!(e, TlsError::NoCertificate { .. })),
        (&ca.server_cert, &ca.server_cert, |e| matches!(e, TlsError::NoKey { .. })),
        (&ca.server_cert, &other, |e| matches!(e, TlsError::Rejected { .. })),
    ];
    for (cert, key, check) in cases {
        let err = load_tls(cert, key).unwrap_err();
        assert!(check(&err), "{cert:?} {key:?}: {err:?}");
        assert!(err.to_string().contains(".pem"), "{err}");
    }
}
